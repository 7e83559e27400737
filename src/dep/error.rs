//! What the device assignment service can answer instead of a result, typed
//! by its codes (Apple: *Interpreting Automated Device Enrollment error
//! codes*), with messages that tell the administrator what to do.

use crate::session::{SessionError, body_code};

/// An error code the service puts in the body of a 4xx/5xx reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceCode {
    /// `EXHAUSTED_CURSOR`: the fetch cursor has returned every device; sync
    /// from it instead.
    ExhaustedCursor,
    /// `EXPIRED_CURSOR`: the cursor is older than the service keeps them
    /// (7 days); fetch everything again.
    ExpiredCursor,
    /// `INVALID_CURSOR`: the service does not know the cursor; fetch
    /// everything again.
    InvalidCursor,
    /// `CURSOR_REQUIRED`: sync needs a cursor from a fetch.
    CursorRequired,
    /// `T_C_NOT_SIGNED`: the organization has not accepted the latest terms.
    TermsNotSigned,
    /// `ACCESS_DENIED`: the token may not make this request.
    AccessDenied,
    /// `FORBIDDEN`: the session is unknown (the service restarted or forgot
    /// it) or the request is not allowed.
    Forbidden,
    /// `UNAUTHORIZED`: the session is missing or expired.
    Unauthorized,
    /// `token_rejected`: the server token was revoked or replaced.
    TokenRejected,
    /// `token_expired`: the server token has expired.
    TokenExpired,
    /// `signature_invalid`: the OAuth signature did not verify.
    SignatureInvalid,
    /// `nonce_used`: an OAuth nonce was reused.
    NonceUsed,
    /// `timestamp_refused`: the OAuth timestamp is too far from the service's clock.
    TimestampRefused,
    /// `consumer_key_unknown`: the consumer key is not known.
    ConsumerKeyUnknown,
    /// `USER_AGENT_INVALID`: the request's `User-Agent` was refused.
    UserAgentInvalid,
    /// `MALFORMED_REQUEST_BODY`: the request body is not what the endpoint takes.
    MalformedRequestBody,
    /// `DEVICE_ID_REQUIRED`: the request named no serial number.
    DeviceIdRequired,
    /// `PROFILE_NOT_FOUND`: no profile has that UUID.
    ProfileNotFound,
    /// `INVALID_PROFILE` / `CONFIG_NAME_REQUIRED` / `CONFIG_URL_REQUIRED`...: the
    /// profile definition was refused (the code is kept).
    InvalidProfile(String),
    /// `SERVICE_UNAVAILABLE` / `INTERNAL_ERROR`: the service is failing (5xx).
    ServiceUnavailable,
}

impl ServiceCode {
    /// Recognizes a code (case-sensitive where Apple's codes differ only by
    /// case, otherwise as sent). `None` for codes this version does not know.
    pub fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "EXHAUSTED_CURSOR" => Self::ExhaustedCursor,
            "EXPIRED_CURSOR" => Self::ExpiredCursor,
            "INVALID_CURSOR" => Self::InvalidCursor,
            "CURSOR_REQUIRED" => Self::CursorRequired,
            "T_C_NOT_SIGNED" => Self::TermsNotSigned,
            "ACCESS_DENIED" => Self::AccessDenied,
            "FORBIDDEN" => Self::Forbidden,
            "UNAUTHORIZED" => Self::Unauthorized,
            "token_rejected" | "TOKEN_REJECTED" => Self::TokenRejected,
            "token_expired" | "TOKEN_EXPIRED" => Self::TokenExpired,
            "signature_invalid" | "SIGNATURE_INVALID" => Self::SignatureInvalid,
            "nonce_used" => Self::NonceUsed,
            "timestamp_refused" => Self::TimestampRefused,
            "consumer_key_unknown" => Self::ConsumerKeyUnknown,
            "USER_AGENT_INVALID" => Self::UserAgentInvalid,
            "MALFORMED_REQUEST_BODY" => Self::MalformedRequestBody,
            "DEVICE_ID_REQUIRED" => Self::DeviceIdRequired,
            "PROFILE_NOT_FOUND" => Self::ProfileNotFound,
            "INVALID_PROFILE"
            | "CONFIG_NAME_REQUIRED"
            | "CONFIG_URL_REQUIRED"
            | "INVALID_CONFIG"
            | "FLAGS_INVALID" => Self::InvalidProfile(code.to_owned()),
            "SERVICE_UNAVAILABLE" | "INTERNAL_ERROR" => Self::ServiceUnavailable,
            _ => return None,
        })
    }

    /// The code as the service spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ExhaustedCursor => "EXHAUSTED_CURSOR",
            Self::ExpiredCursor => "EXPIRED_CURSOR",
            Self::InvalidCursor => "INVALID_CURSOR",
            Self::CursorRequired => "CURSOR_REQUIRED",
            Self::TermsNotSigned => "T_C_NOT_SIGNED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::Forbidden => "FORBIDDEN",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::TokenRejected => "token_rejected",
            Self::TokenExpired => "token_expired",
            Self::SignatureInvalid => "signature_invalid",
            Self::NonceUsed => "nonce_used",
            Self::TimestampRefused => "timestamp_refused",
            Self::ConsumerKeyUnknown => "consumer_key_unknown",
            Self::UserAgentInvalid => "USER_AGENT_INVALID",
            Self::MalformedRequestBody => "MALFORMED_REQUEST_BODY",
            Self::DeviceIdRequired => "DEVICE_ID_REQUIRED",
            Self::ProfileNotFound => "PROFILE_NOT_FOUND",
            Self::InvalidProfile(code) => code,
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// What the administrator (or the calling program) should do.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::ExhaustedCursor => "every device was fetched with this cursor; sync from it",
            Self::ExpiredCursor => {
                "the cursor is older than the service keeps cursors (7 days); fetch every device again"
            }
            Self::InvalidCursor => {
                "the service does not know this cursor; fetch every device again"
            }
            Self::CursorRequired => "sync needs the cursor of a completed fetch; fetch first",
            Self::TermsNotSigned => {
                "the organization has not accepted the latest terms and conditions; an administrator must sign in to the portal and accept the new terms"
            }
            Self::AccessDenied => {
                "this server token may not make this request; check the MDM server's assignment in the portal"
            }
            Self::Forbidden => "the service refused the session; obtain a new session and retry",
            Self::Unauthorized => {
                "the session was refused even after re-authenticating; check the clock, or download a new token"
            }
            Self::TokenRejected => {
                "the server token was rejected (revoked or replaced); download a new token from the portal and install it"
            }
            Self::TokenExpired => {
                "the server token has expired; download a new token from the portal and install it"
            }
            Self::SignatureInvalid => {
                "the OAuth signature did not verify; the installed token does not match the portal's, download a new token"
            }
            Self::NonceUsed => {
                "an OAuth nonce was reused; retry (each request needs a fresh nonce)"
            }
            Self::TimestampRefused => "the clock is off; set the system clock (NTP) and retry",
            Self::ConsumerKeyUnknown => {
                "the service does not know this token's consumer key; download a new token from the portal"
            }
            Self::UserAgentInvalid => {
                "the service refused the User-Agent; report it to the mdmlink maintainers"
            }
            Self::MalformedRequestBody => {
                "the service could not read the request (bad JSON, or more than 1,000 serial numbers)"
            }
            Self::DeviceIdRequired => "give at least one serial number",
            Self::ProfileNotFound => {
                "no profile has this UUID; define the profile again and use the UUID it returns"
            }
            Self::InvalidProfile(_) => {
                "the profile definition was refused; check its required fields (profile_name, url)"
            }
            Self::ServiceUnavailable => "the service is failing; retry later",
        }
    }

    /// `true` for codes that mean the session should be renewed.
    pub fn needs_new_session(&self) -> bool {
        matches!(self, Self::Forbidden | Self::Unauthorized)
    }
}

/// Why a device assignment service call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DepError {
    /// The service answered with a code it documents.
    #[error("the device assignment service answered HTTP {status} {}: {}{}", code.as_str(), code.advice(), retry_suffix(*retry_after))]
    Service {
        /// The HTTP status.
        status: u16,
        /// The code.
        code: ServiceCode,
        /// `retry_after_seconds` or `Retry-After`, if the reply had one.
        retry_after: Option<u64>,
    },
    /// An unsuccessful reply this version cannot classify: status and body
    /// kept (body reduced to at most 512 printable characters).
    #[error("the device assignment service answered HTTP {status}: {body}")]
    Unknown {
        /// The HTTP status.
        status: u16,
        /// The body, printable characters only.
        body: String,
    },
    /// Obtaining or using the session failed (token refused, terms, network).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A successful reply whose body is not what Apple documents.
    #[error("unexpected reply from the device assignment service: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// An argument cannot be sent (an empty serial list, a bad page size...).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
}

fn retry_suffix(retry_after: Option<u64>) -> String {
    match retry_after {
        Some(s) => format!(" (retry after {s} s)"),
        None => String::new(),
    }
}

impl DepError {
    /// The service code, if the service sent one this version knows.
    pub fn code(&self) -> Option<&ServiceCode> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the service is rate limiting (HTTP 429, from the session or a
    /// device call alike: [`SessionError::RateLimited`]).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::Session(SessionError::RateLimited { .. }))
    }

    /// Seconds to wait before retrying, when the service said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Service { retry_after, .. }
            | Self::Session(SessionError::RateLimited { retry_after }) => *retry_after,
            _ => None,
        }
    }
}

/// At most 512 printable characters of `body`.
pub(crate) fn printable_body(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(512)
        .collect()
}

/// `retry_after_seconds` from a JSON body, if any.
pub(crate) fn body_retry_after(body: &[u8]) -> Option<u64> {
    if body.len() > 64 * 1024 || !body.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("retry_after_seconds")?.as_u64()
}

/// The typed error for an unsuccessful reply (`status` is not 2xx).
/// `retry_after_header` is the parsed `Retry-After` header, if any.
pub fn classify(status: u16, retry_after_header: Option<u64>, body: &[u8]) -> DepError {
    let retry_after = body_retry_after(body).or(retry_after_header);
    if status == 429 {
        // One rate limit for the whole service: a device call's 429 is the
        // session's (the limit is per server token).
        return DepError::Session(SessionError::RateLimited { retry_after });
    }
    match body_code(body).as_deref().and_then(ServiceCode::parse) {
        Some(code) => DepError::Service {
            status,
            code,
            retry_after,
        },
        None if (500..600).contains(&status) && body.is_empty() => DepError::Service {
            status,
            code: ServiceCode::ServiceUnavailable,
            retry_after,
        },
        None => DepError::Unknown {
            status,
            body: printable_body(body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_with_advice() {
        let e = classify(403, None, b"T_C_NOT_SIGNED");
        assert_eq!(e.code(), Some(&ServiceCode::TermsNotSigned));
        assert!(e.to_string().contains("accept the new terms"), "{e}");
        let e = classify(401, None, b"oauth_problem=token_rejected");
        assert!(e.to_string().contains("download a new token"), "{e}");
        let e = classify(400, None, br#"{"code":"EXPIRED_CURSOR"}"#);
        assert_eq!(e.code(), Some(&ServiceCode::ExpiredCursor));
        let e = classify(429, Some(7), b"");
        assert_eq!(e.retry_after(), Some(7));
        assert!(e.is_rate_limited());
        assert!(matches!(
            e,
            DepError::Session(SessionError::RateLimited {
                retry_after: Some(7)
            })
        ));
        assert!(e.to_string().contains("retry after 7 s"), "{e}");
        assert!(!classify(400, None, b"EXPIRED_CURSOR").is_rate_limited());
        let e = classify(
            503,
            Some(3),
            br#"{"code":"SERVICE_UNAVAILABLE","retry_after_seconds":30}"#,
        );
        assert_eq!(e.retry_after(), Some(30));
        // Unknown codes keep status and body.
        let e = classify(418, None, b"I_AM_A_TEAPOT\x00\x01");
        assert_eq!(
            e,
            DepError::Unknown {
                status: 418,
                body: "I_AM_A_TEAPOT".into()
            }
        );
        for code in [
            "EXHAUSTED_CURSOR",
            "INVALID_CURSOR",
            "CURSOR_REQUIRED",
            "ACCESS_DENIED",
            "FORBIDDEN",
            "signature_invalid",
            "USER_AGENT_INVALID",
            "MALFORMED_REQUEST_BODY",
            "DEVICE_ID_REQUIRED",
            "PROFILE_NOT_FOUND",
        ] {
            assert_eq!(
                ServiceCode::parse(code).map(|c| c.as_str().to_owned()),
                Some(code.to_owned())
            );
        }
    }
}
