//! What Apple's School and Business Manager API can answer instead of a
//! result, and what can go wrong before or around a request, typed with a
//! message that says what to do.
//!
//! Apple's errors are JSON:API error objects (`{"errors":[{"status",
//! "code","title","detail","source"}]}`); [`classify`] turns an unsuccessful
//! reply into one [`PortalApiError`].

use serde::Deserialize;

use super::account::ApiScope;

/// Longest text kept from a reply (a title, a detail, an unclassified body).
const MAX_TEXT: usize = 512;

/// One JSON:API error object as Apple sends it (unknown members ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ApiErrorObject {
    /// Apple's identifier of this occurrence.
    #[serde(default)]
    pub id: Option<String>,
    /// The HTTP status, as a string.
    #[serde(default)]
    pub status: Option<String>,
    /// A machine-readable code (`NOT_FOUND`, `ENTITY_ERROR.ATTRIBUTE.INVALID`...).
    #[serde(default)]
    pub code: Option<String>,
    /// A short summary.
    #[serde(default)]
    pub title: Option<String>,
    /// A longer explanation.
    #[serde(default)]
    pub detail: Option<String>,
    /// What in the request the error is about.
    #[serde(default)]
    pub source: Option<ApiErrorSource>,
}

/// `source` of a JSON:API error: a JSON pointer into the request body or
/// the name of a query parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ApiErrorSource {
    /// `/data/attributes/serverName`...
    #[serde(default)]
    pub pointer: Option<String>,
    /// `limit`, `fields[orgDevices]`...
    #[serde(default)]
    pub parameter: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(default)]
    errors: Vec<ApiErrorObject>,
}

/// Why a call to Apple's School and Business Manager API failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortalApiError {
    /// The API answered with JSON:API errors; the first is kept (with a
    /// count of the others), with advice for its status.
    #[error("Apple's API answered HTTP {status}{}: {}; {}", code_suffix(.code), describe(.title, .detail, .source_hint, *.others), advice_for(*.status))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's `code`, if any.
        code: Option<String>,
        /// The error's `title`, if any (printable, at most 512 characters).
        title: Option<String>,
        /// The error's `detail`, if any (printable, at most 512 characters).
        detail: Option<String>,
        /// `source.pointer` or `source.parameter`, if any.
        source_hint: Option<String>,
        /// How many more error objects the reply held.
        others: usize,
    },
    /// HTTP 429 after waiting `Retry-After` as long as the retry budget
    /// allowed.
    #[error("Apple's API is rate limiting this account (HTTP 429){}; wait and try again later (Apple does not publish its limits)", retry_hint(*.retry_after_seconds))]
    RateLimited {
        /// The last `Retry-After`, in seconds, if the reply had one.
        retry_after_seconds: Option<u64>,
    },
    /// The API failed (5xx) on every attempt allowed.
    #[error("Apple's API is failing (HTTP {status} after {attempts} attempts); try again later")]
    Unavailable {
        /// The last status.
        status: u16,
        /// How many requests were sent.
        attempts: u32,
    },
    /// The token endpoint refused the client assertion.
    #[error("Apple's token endpoint refused the API account (HTTP {status}{}){}; check the client ID, the key ID and that the private key is the one downloaded for this API account, and the system clock", code_suffix(.error), detail_suffix(.description))]
    TokenRefused {
        /// The HTTP status.
        status: u16,
        /// OAuth's `error` (`invalid_client`, `invalid_grant`...), if any.
        error: Option<String>,
        /// OAuth's `error_description`, if any (printable, at most 512 characters).
        description: Option<String>,
    },
    /// A change (POST, PATCH, DELETE) failed in a way that leaves unknown
    /// whether Apple applied it; it is not retried blindly.
    #[error("Apple's API failed while {operation}{}; the change may or may not have been applied: check (list the servers, read the activity) before trying again", status_hint(*.status))]
    Uncertain {
        /// What was being done (`creating a device management service`...).
        operation: String,
        /// The HTTP status, if a reply came (5xx); `None` after a transport failure.
        status: Option<u16>,
    },
    /// The request never got an answer (connection, TLS, timeout).
    #[error("cannot reach Apple's API: {reason}")]
    Transport {
        /// What failed.
        reason: String,
    },
    /// A reply that is not what Apple documents.
    #[error("unexpected reply from Apple's API: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// An argument cannot be sent.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// The endpoint exists only in Apple Business's API; nothing was sent.
    #[error(
        "{operation} is available only in Apple Business's API; this is an Apple School Manager API account ({scope}), so nothing was sent"
    )]
    BusinessOnly {
        /// What was asked (`creating a device management service`...).
        operation: &'static str,
        /// The account's scope.
        scope: ApiScope,
    },
    /// The API account's credentials were refused locally.
    #[error(transparent)]
    Account(#[from] super::account::ApiAccountError),
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// An activity did not finish before the deadline.
    #[error(
        "activity {activity_id} was still {status} after {waited_seconds} s; look it up later (Apple keeps activities 30 days)"
    )]
    ActivityTimedOut {
        /// The activity's id.
        activity_id: String,
        /// Its last status.
        status: String,
        /// How long it was followed.
        waited_seconds: u64,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

fn status_hint(status: Option<u16>) -> String {
    match status {
        Some(s) => format!(" (HTTP {s})"),
        None => " (no reply)".into(),
    }
}

fn retry_hint(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(", Retry-After {s} s"))
        .unwrap_or_default()
}

fn describe(
    title: &Option<String>,
    detail: &Option<String>,
    source: &Option<String>,
    others: usize,
) -> String {
    let mut out = match (title, detail) {
        (Some(t), Some(d)) if t != d => format!("{t} ({d})"),
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => "no description".into(),
    };
    if let Some(s) = source {
        out.push_str(&format!(" [at {s}]"));
    }
    if others > 0 {
        out.push_str(&format!(" (and {others} more)"));
    }
    out
}

/// What to do about an error status.
pub fn advice_for(status: u16) -> &'static str {
    match status {
        400 => "the request was refused as malformed; check the arguments",
        401 => {
            "the access token was refused even after a new one was fetched; check the API account in the portal (it may have been revoked)"
        }
        403 => {
            "the API account may not do this; check its permissions in the portal (Apple School Manager: Administrator or Site Manager; Apple Business: Organization Administrator)"
        }
        404 => "no such resource in this organization; check the identifier",
        409 => {
            "the request conflicts with the portal's state (a name taken or reserved, a server with devices, a deadline too far ahead); change it and try again"
        }
        422 => "the portal could not process the request; check the values sent",
        _ if (500..600).contains(&status) => "Apple's API is failing; try again later",
        _ => "see the error's detail",
    }
}

/// At most 512 printable characters of `text`.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect()
}

/// The JSON:API error objects of a reply, if the body is an error document.
pub fn parse_errors(body: &[u8]) -> Vec<ApiErrorObject> {
    if !body.trim_ascii_start().starts_with(b"{") {
        return Vec::new();
    }
    serde_json::from_slice::<ErrorDocument>(body)
        .map(|d| d.errors)
        .unwrap_or_default()
}

/// The typed error for an unsuccessful reply of the API (not the token
/// endpoint). 429 and 5xx are classified here too, for callers that do not
/// retry; the client retries them first.
pub fn classify(status: u16, body: &[u8]) -> PortalApiError {
    let mut errors = parse_errors(body).into_iter();
    match errors.next() {
        Some(first) => {
            let others = errors.count();
            PortalApiError::Api {
                status,
                code: first.code.as_deref().map(printable),
                title: first.title.as_deref().map(printable),
                detail: first.detail.as_deref().map(printable),
                source_hint: first
                    .source
                    .and_then(|s| s.pointer.or(s.parameter))
                    .as_deref()
                    .map(printable),
                others,
            }
        }
        None => PortalApiError::Api {
            status,
            code: None,
            title: None,
            detail: (!body.is_empty())
                .then(|| printable(&String::from_utf8_lossy(body)))
                .filter(|d| !d.is_empty()),
            source_hint: None,
            others: 0,
        },
    }
}

impl PortalApiError {
    /// The HTTP status Apple answered, for errors that come from a reply.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::Unavailable { status, .. }
            | Self::TokenRefused { status, .. } => Some(*status),
            Self::Uncertain { status, .. } => *status,
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// The JSON:API error `code`, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_api_errors_become_one_typed_error_with_advice() {
        let body = br#"{"errors":[{"id":"x","status":"409","code":"ENTITY_ERROR.ATTRIBUTE.INVALID","title":"A value is invalid","detail":"serverName is already in use","source":{"pointer":"/data/attributes/serverName"}},{"status":"409","code":"OTHER"}]}"#;
        let e = classify(409, body);
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.code(), Some("ENTITY_ERROR.ATTRIBUTE.INVALID"));
        let text = e.to_string();
        assert!(text.contains("serverName is already in use"), "{text}");
        assert!(text.contains("/data/attributes/serverName"), "{text}");
        assert!(text.contains("and 1 more"), "{text}");
        assert!(text.contains("name taken or reserved"), "{text}");
    }

    #[test]
    fn bodies_that_are_not_error_documents_are_kept_printable() {
        let e = classify(502, b"<html>bad\x00gateway</html>");
        let PortalApiError::Api { detail, code, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(detail.as_deref(), Some("<html>badgateway</html>"));
        assert!(code.is_none());
        assert!(e.to_string().contains("try again later"));
        let long = vec![b'a'; 10_000];
        let PortalApiError::Api { detail, .. } = classify(400, &long) else {
            panic!()
        };
        assert_eq!(detail.map(|d| d.len()), Some(512));
        assert!(matches!(
            classify(404, b""),
            PortalApiError::Api { detail: None, .. }
        ));
    }
}
