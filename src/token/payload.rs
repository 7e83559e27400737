//! The plaintext inside a token: MIME headers, the MESSAGE armor, and the
//! JSON object with the five OAuth 1.0a credentials.
//!
//! CBC has no integrity, so this layer is where a damaged or forged
//! plaintext is caught: every part is checked, and JSON error messages never
//! echo values (they may be secrets).

use core::cell::RefCell;
use core::fmt;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use zeroize::Zeroizing;

use super::ServerToken;
use crate::encoding::{MimeHeaders, header_value_parts, split_mime_text};
use crate::secret::SecretString;

/// The line before the JSON.
pub const BEGIN_MESSAGE: &str = "-----BEGIN MESSAGE-----";
/// The line after the JSON.
pub const END_MESSAGE: &str = "-----END MESSAGE-----";
/// The MIME headers Apple puts before the armor (CRLF line endings).
pub const APPLE_INNER_HEADERS: &str =
    "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n";

/// The five JSON field names, in Apple's order.
pub const FIELDS: [&str; 5] = [
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_secret",
    "access_token_expiry",
];

/// Why a decrypted payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The plaintext is not UTF-8.
    #[error("the token's content is not UTF-8 text")]
    NotText,
    /// The inner MIME headers are invalid.
    #[error("the token's inner MIME headers are invalid: {reason}")]
    Headers {
        /// What was wrong.
        reason: String,
    },
    /// The `-----BEGIN MESSAGE-----` / `-----END MESSAGE-----` armor is missing.
    #[error("the token's content has no -----BEGIN MESSAGE----- / -----END MESSAGE----- armor")]
    MissingArmor,
    /// Something other than white space surrounds the armor.
    #[error("the token's content has unexpected text outside the MESSAGE armor")]
    TrailingData,
    /// The JSON is not well formed.
    #[error("the token's JSON is malformed at line {line}, column {column}")]
    Json {
        /// Line of the error, 1-based.
        line: usize,
        /// Column of the error, 1-based.
        column: usize,
    },
    /// The JSON is not an object.
    #[error("the token's JSON is not an object")]
    NotAnObject,
    /// A field is missing.
    #[error("the token's JSON has no \"{field}\" field")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A field appears twice.
    #[error("the token's JSON has the \"{field}\" field twice")]
    DuplicateField {
        /// The field name.
        field: &'static str,
    },
    /// A field is not a string.
    #[error("the token's \"{field}\" field is not a string")]
    NotAString {
        /// The field name.
        field: &'static str,
    },
    /// A field is the empty string.
    #[error("the token's \"{field}\" field is empty")]
    EmptyField {
        /// The field name.
        field: &'static str,
    },
    /// A credential has characters that cannot appear in an OAuth header.
    #[error("the token's \"{field}\" field contains characters other than printable ASCII")]
    InvalidCharacters {
        /// The field name.
        field: &'static str,
    },
    /// `access_token_expiry` is not an RFC 3339 UTC timestamp.
    #[error(
        "the token's access_token_expiry is not an RFC 3339 UTC timestamp (like 2026-01-17T11:02:21Z)"
    )]
    BadExpiry,
}

/// Parses a decrypted token payload.
///
/// Accepts Apple's form (CRLF MIME headers, blank line, armor, JSON, armor),
/// and, because users meet them: LF or CRLF anywhere, headers in any order
/// and extra headers, or bare JSON without headers and armor. Unknown JSON
/// fields are ignored (forward compatibility); the five known ones must each
/// appear once, as non-empty printable-ASCII strings.
pub fn parse(plaintext: &[u8]) -> Result<ServerToken, PayloadError> {
    let text = core::str::from_utf8(plaintext).map_err(|_| PayloadError::NotText)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') {
        trimmed
    } else {
        let body = if trimmed.starts_with(BEGIN_MESSAGE) {
            trimmed
        } else {
            strip_headers(text)?
        };
        unarmor(body)?
    };
    parse_json(json)
}

fn strip_headers(text: &str) -> Result<&str, PayloadError> {
    let bad = |reason: &str| PayloadError::Headers {
        reason: reason.to_owned(),
    };
    let (head, body) = split_mime_text(text).ok_or_else(|| {
        if text.contains(BEGIN_MESSAGE) {
            bad("no blank line between the headers and the message")
        } else {
            PayloadError::MissingArmor
        }
    })?;
    let headers = MimeHeaders::parse(head.as_bytes()).map_err(|e| PayloadError::Headers {
        reason: e.to_string(),
    })?;
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case("content-type") {
            let mut parts = header_value_parts(value);
            if parts.next().as_deref() != Some("text/plain") {
                return Err(bad("Content-Type is not text/plain"));
            }
            for p in parts {
                if let Some(cs) = p.strip_prefix("charset=")
                    && !matches!(cs.trim_matches('"'), "utf-8" | "us-ascii")
                {
                    return Err(bad("the charset is not UTF-8"));
                }
            }
        } else if name.eq_ignore_ascii_case("content-transfer-encoding")
            && !matches!(
                value.to_ascii_lowercase().as_str(),
                "7bit" | "8bit" | "binary"
            )
        {
            return Err(bad("Content-Transfer-Encoding is not 7bit, 8bit or binary"));
        }
    }
    if headers.get("content-type").is_none() {
        return Err(bad("there is no Content-Type header"));
    }
    // The body starts right after the blank line.
    Ok(body)
}

fn unarmor(body: &str) -> Result<&str, PayloadError> {
    let body = body.trim();
    let inner = body
        .strip_prefix(BEGIN_MESSAGE)
        .ok_or(PayloadError::MissingArmor)?;
    let end = inner.rfind(END_MESSAGE).ok_or(PayloadError::MissingArmor)?;
    if !inner[end + END_MESSAGE.len()..].trim().is_empty() {
        return Err(PayloadError::TrailingData);
    }
    Ok(inner[..end].trim())
}

#[derive(Default)]
struct Collected {
    values: [Option<SecretString>; 5],
}

struct TokenVisitor<'a> {
    problem: &'a RefCell<Option<PayloadError>>,
}

impl<'de> Visitor<'de> for TokenVisitor<'_> {
    type Value = Collected;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Collected, A::Error> {
        let mut out = Collected::default();
        let fail = |e: PayloadError| {
            self.problem.borrow_mut().get_or_insert(e);
            de::Error::custom("invalid token field")
        };
        while let Some(key) = map.next_key::<String>()? {
            let Some(i) = FIELDS.iter().position(|f| *f == key.as_str()) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = FIELDS[i];
            if out.values[i].is_some() {
                return Err(fail(PayloadError::DuplicateField { field }));
            }
            let value: String = map
                .next_value()
                .map_err(|_| fail(PayloadError::NotAString { field }))?;
            out.values[i] = Some(SecretString::new(value));
        }
        Ok(out)
    }
}

fn parse_json(json: &str) -> Result<ServerToken, PayloadError> {
    let problem = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(json);
    let result = de
        .deserialize_any(TokenVisitor { problem: &problem })
        .and_then(|c| de.end().map(|_| c));
    if let Some(p) = problem.into_inner() {
        return Err(p);
    }
    let collected = match result {
        Ok(c) => c,
        Err(e) if e.is_data() => return Err(PayloadError::NotAnObject),
        Err(e) => {
            return Err(PayloadError::Json {
                line: e.line(),
                column: e.column(),
            });
        }
    };
    let [ck, cs, at, asec, exp] = collected.values;
    let check = |v: Option<SecretString>, i: usize| -> Result<SecretString, PayloadError> {
        let field = FIELDS[i];
        let v = v.ok_or(PayloadError::MissingField { field })?;
        if v.is_empty() {
            return Err(PayloadError::EmptyField { field });
        }
        // The expiry is checked by its own parser below.
        if i < 4 && !v.expose().bytes().all(|b| (0x21..=0x7E).contains(&b)) {
            return Err(PayloadError::InvalidCharacters { field });
        }
        Ok(v)
    };
    let consumer_key = check(ck, 0)?;
    let consumer_secret = check(cs, 1)?;
    let access_token = check(at, 2)?;
    let access_secret = check(asec, 3)?;
    let expiry = check(exp, 4)?;
    let access_token_expiry = parse_expiry(expiry.expose())?;
    Ok(ServerToken {
        consumer_key,
        consumer_secret,
        access_token,
        access_secret,
        access_token_expiry,
    })
}

/// Parses an RFC 3339 timestamp with a zero UTC offset, truncated to whole
/// seconds (as [`ServerToken::new`] and [`format_expiry`] do), so that a parsed
/// token renders and parses back to an equal token.
pub(crate) fn parse_expiry(s: &str) -> Result<OffsetDateTime, PayloadError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| PayloadError::BadExpiry)?;
    if !t.offset().is_utc() {
        return Err(PayloadError::BadExpiry);
    }
    Ok(t.replace_nanosecond(0).unwrap_or(t))
}

/// Formats an expiry the way Apple does: `2026-01-17T11:02:21Z`.
pub(crate) fn format_expiry(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Serializes `token` exactly as Apple's portals do: inner MIME headers
/// (CRLF), a blank line, the armor lines (LF) and compact JSON in Apple's field
/// order. The buffer is zeroized on drop.
pub fn render(token: &ServerToken) -> Zeroizing<Vec<u8>> {
    let json = token.to_json();
    let mut out = Zeroizing::new(Vec::with_capacity(
        APPLE_INNER_HEADERS.len() + BEGIN_MESSAGE.len() + END_MESSAGE.len() + json.len() + 4,
    ));
    out.extend_from_slice(APPLE_INNER_HEADERS.as_bytes());
    out.extend_from_slice(BEGIN_MESSAGE.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(END_MESSAGE.as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const JSON: &str = r#"{"consumer_key":"CK_1","consumer_secret":"CS_2","access_token":"AT_3","access_secret":"AS_4","access_token_expiry":"2027-01-17T11:02:21Z"}"#;

    fn expected() -> ServerToken {
        ServerToken::new(
            "CK_1",
            "CS_2",
            "AT_3",
            "AS_4",
            datetime!(2027-01-17 11:02:21 UTC),
        )
        .unwrap()
    }

    fn armored(json: &str, eol: &str) -> String {
        format!("{BEGIN_MESSAGE}{eol}{json}{eol}{END_MESSAGE}{eol}")
    }

    #[test]
    fn apple_form_round_trips() {
        let t = expected();
        assert_eq!(parse(&render(&t)).unwrap(), t);
    }

    #[test]
    fn lenient_forms_users_meet_are_accepted() {
        let pretty_crlf = JSON.replace(',', ",\r\n  ").replace('{', "{\r\n  ");
        let cases: Vec<(&str, String)> = vec![
            ("bare JSON", JSON.to_owned()),
            (
                "bare JSON, BOM and blank lines",
                format!("\u{FEFF}\r\n\n {JSON}\n\r\n"),
            ),
            ("bare pretty JSON with CRLF", pretty_crlf.clone()),
            ("armor without headers", armored(JSON, "\n")),
            ("armor without headers, CRLF", armored(&pretty_crlf, "\r\n")),
            (
                "all LF",
                format!(
                    "Content-Type: text/plain;charset=UTF-8\nContent-Transfer-Encoding: 7bit\n\n{}",
                    armored(JSON, "\n")
                ),
            ),
            (
                "all CRLF",
                format!(
                    "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}",
                    armored(JSON, "\r\n")
                ),
            ),
            (
                "LF headers, CRLF blank line",
                format!(
                    "Content-Type: text/plain\nContent-Transfer-Encoding: 7bit\n\r\n{}",
                    armored(JSON, "\r\n")
                ),
            ),
            (
                "CRLF headers, LF blank line",
                format!(
                    "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\n{}",
                    armored(JSON, "\n")
                ),
            ),
            (
                "headers in the other order",
                format!(
                    "Content-Transfer-Encoding: 7bit\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n{}",
                    armored(JSON, "\n")
                ),
            ),
            (
                "extra and folded headers, any case, quoted charset",
                format!(
                    "MIME-Version: 1.0\r\nX-Apple-Thing: a\r\n  b\r\ncontent-type: Text/Plain; charset=\"utf-8\"\r\nContent-Disposition: inline\r\n\r\n{}",
                    armored(JSON, "\r\n")
                ),
            ),
            (
                "only Content-Type",
                format!("Content-Type: text/plain\n\n{}", armored(JSON, "\n")),
            ),
        ];
        for (what, text) in cases {
            assert_eq!(parse(text.as_bytes()), Ok(expected()), "{what}: {text:?}");
        }
    }

    #[test]
    fn everything_else_stays_strict() {
        let headers = "Content-Type: text/plain\r\n\r\n";
        let cases: Vec<(&str, String, PayloadError)> = vec![
            (
                "headers then bare JSON",
                format!("{headers}{JSON}"),
                PayloadError::MissingArmor,
            ),
            (
                "no armor, no JSON",
                "hello".into(),
                PayloadError::MissingArmor,
            ),
            ("empty", String::new(), PayloadError::MissingArmor),
            (
                "BEGIN without END",
                format!("{BEGIN_MESSAGE}\n{JSON}\n"),
                PayloadError::MissingArmor,
            ),
            (
                "text after END",
                format!("{}trailing", armored(JSON, "\n")),
                PayloadError::TrailingData,
            ),
            (
                "not text/plain",
                format!("Content-Type: text/html\n\n{}", armored(JSON, "\n")),
                PayloadError::Headers {
                    reason: "Content-Type is not text/plain".into(),
                },
            ),
            (
                "other charset",
                format!(
                    "Content-Type: text/plain; charset=latin1\n\n{}",
                    armored(JSON, "\n")
                ),
                PayloadError::Headers {
                    reason: "the charset is not UTF-8".into(),
                },
            ),
            (
                "base64 transfer encoding",
                format!(
                    "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{}",
                    armored(JSON, "\n")
                ),
                PayloadError::Headers {
                    reason: "Content-Transfer-Encoding is not 7bit, 8bit or binary".into(),
                },
            ),
            (
                "no Content-Type",
                format!("X-Other: 1\n\n{}", armored(JSON, "\n")),
                PayloadError::Headers {
                    reason: "there is no Content-Type header".into(),
                },
            ),
            (
                "no blank line",
                format!("Content-Type: text/plain\n{}", armored(JSON, "\n")),
                PayloadError::Headers {
                    reason: "no blank line between the headers and the message".into(),
                },
            ),
            (
                "bare JSON then garbage",
                format!("{JSON} garbage"),
                PayloadError::Json {
                    line: 1,
                    column: JSON.len() + 2,
                },
            ),
            (
                "bare JSON missing a field",
                JSON.replace(r#""consumer_key":"CK_1","#, ""),
                PayloadError::MissingField {
                    field: "consumer_key",
                },
            ),
        ];
        for (what, text, expected) in cases {
            assert_eq!(parse(text.as_bytes()), Err(expected), "{what}: {text:?}");
        }
        // A header line without a colon.
        assert!(matches!(
            parse(
                format!(
                    "Content-Type: text/plain\nno colon here\n\n{}",
                    armored(JSON, "\n")
                )
                .as_bytes()
            ),
            Err(PayloadError::Headers { .. })
        ));
        assert_eq!(parse(b"\xff{}"), Err(PayloadError::NotText));
    }
}
