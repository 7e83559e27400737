//! OAuth 1.0a request signing (RFC 5849), as Apple's `/session` endpoint
//! expects it: `HMAC-SHA1` signatures sent in an `Authorization: OAuth` header.
//!
//! Each function is one step of RFC 5849 §3.4: [`percent_encode`] (§3.6),
//! [`base_string_uri`] (§3.4.1.2), [`normalize_parameters`] (§3.4.1.3.2),
//! [`signature_base_string`] (§3.4.1.1) and [`hmac_sha1`] (§3.4.2). They are
//! public so that a vendor (or a test) can check each step on its own.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use super::SessionError;

/// Percent-encodes `value` as RFC 5849 §3.6 requires: every byte except the
/// unreserved characters `A-Z a-z 0-9 - . _ ~` becomes `%XX` with upper-case hex.
pub fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// Decodes `%XX` escapes (RFC 3986 §2.1): exactly two hexadecimal digits
/// after each `%`. With `plus_is_space`, `+` means a space, as in
/// `application/x-www-form-urlencoded` query strings (RFC 5849 §3.4.1.3.1
/// decodes the query that way). Returns `None` for a broken escape or a
/// result that is not UTF-8. (The crate's one decoder, shared with the
/// PostgreSQL URL parser.)
pub fn percent_decode(value: &str, plus_is_space: bool) -> Option<String> {
    crate::encoding::percent_decode(value, plus_is_space)
}

/// The base string URI of RFC 5849 §3.4.1.2: scheme and host in lower case,
/// the port only when it is not the scheme's default (80 for `http`, 443 for
/// `https`), and the path (`/` when empty); no query, no fragment.
pub fn base_string_uri(uri: &http::Uri) -> Result<String, SessionError> {
    let scheme = uri
        .scheme_str()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| SessionError::InvalidUrl {
            reason: "the URL has no scheme (use https://...)".into(),
        })?;
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        other => {
            return Err(SessionError::InvalidUrl {
                reason: format!("unsupported scheme {other:?} (use https or http)"),
            });
        }
    };
    let authority = uri.authority().ok_or_else(|| SessionError::InvalidUrl {
        reason: "the URL has no host".into(),
    })?;
    if authority.as_str().contains('@') {
        return Err(SessionError::InvalidUrl {
            reason: "the URL must not carry user information".into(),
        });
    }
    let host = authority.host().to_ascii_lowercase();
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}{path}"),
        _ => format!("{scheme}://{host}{path}"),
    })
}

/// The parameters of a request's query string, decoded as RFC 5849
/// §3.4.1.3.1 says (form-urlencoded: `+` is a space, a name without `=` has
/// an empty value).
pub fn query_parameters(uri: &http::Uri) -> Result<Vec<(String, String)>, SessionError> {
    let Some(query) = uri.query() else {
        return Ok(Vec::new());
    };
    let bad = || SessionError::InvalidUrl {
        reason: "the URL's query string has a malformed percent escape".into(),
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((
                percent_decode(name, true).ok_or_else(bad)?,
                percent_decode(value, true).ok_or_else(bad)?,
            ))
        })
        .collect()
}

/// The normalized request parameters of RFC 5849 §3.4.1.3.2: every name and
/// value percent-encoded, pairs sorted by name then value (byte order of the
/// encoded forms), joined as `name=value` with `&`.
pub fn normalize_parameters(parameters: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = parameters
        .iter()
        .map(|(n, v)| (percent_encode(n), percent_encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature base string of RFC 5849 §3.4.1.1:
/// `METHOD&enc(base string URI)&enc(normalized parameters)`.
///
/// `parameters` are all the parameters that are signed: the query's
/// ([`query_parameters`]) and the `oauth_*` protocol parameters except
/// `oauth_signature` (and except `realm`, RFC 5849 §3.4.1.3.1).
pub fn signature_base_string(
    method: &str,
    base_string_uri: &str,
    parameters: &[(String, String)],
) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(base_string_uri),
        percent_encode(&normalize_parameters(parameters))
    )
}

/// The `HMAC-SHA1` signature of RFC 5849 §3.4.2, base64-encoded: the key is
/// `enc(consumer_secret)&enc(token_secret)`, the text the base string.
pub fn hmac_sha1(base_string: &str, consumer_secret: &str, token_secret: &str) -> String {
    let raw = hmac_sha1_raw(base_string, consumer_secret, token_secret);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The 20 raw bytes of [`hmac_sha1`] (before base64).
pub fn hmac_sha1_raw(base_string: &str, consumer_secret: &str, token_secret: &str) -> [u8; 20] {
    let key = Zeroizing::new(format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    ));
    // HMAC accepts keys of every length, so this cannot fail.
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return [0; 20],
    };
    mac.update(base_string.as_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Parses an `Authorization: OAuth ...` header (RFC 5849 §3.5.1): the
/// parameters after the scheme name, `name="value"` separated by commas,
/// values percent-decoded. `realm` is returned like any other parameter.
/// A duplicated parameter is an error (RFC 5849 §3.5: each parameter MUST
/// NOT appear more than once).
pub fn parse_authorization(header: &str) -> Result<Vec<(String, String)>, AuthorizationParseError> {
    parse_authorization_params(header).map_err(|reason| AuthorizationParseError { reason })
}

/// An `Authorization` header that is not a well-formed OAuth header
/// (RFC 5849 §3.5.1). The message names the problem, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{reason}")]
pub struct AuthorizationParseError {
    reason: String,
}

fn parse_authorization_params(header: &str) -> Result<Vec<(String, String)>, String> {
    let rest = header
        .strip_prefix("OAuth ")
        .or_else(|| header.strip_prefix("oauth "))
        .ok_or("the Authorization header does not use the OAuth scheme")?;
    let mut out: Vec<(String, String)> = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').ok_or_else(|| {
            format!(
                "parameter without a value in the Authorization header: {}",
                printable(part)
            )
        })?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or("Authorization header values must be quoted")?;
        let name = percent_decode(name.trim(), false).ok_or("malformed percent escape")?;
        let value = percent_decode(value, false).ok_or("malformed percent escape")?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("duplicated OAuth parameter {}", printable(&name)));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// At most 64 printable ASCII characters of `s`, for messages.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::pairs;

    /// RFC 5849 §3.6: unreserved characters pass, the rest is `%XX`, upper case.
    #[test]
    fn percent_encoding_rules() {
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
        assert_eq!(percent_encode("a b+c/=&%"), "a%20b%2Bc%2F%3D%26%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+c", false).as_deref(), Some("a+c"));
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%zz", false), None);
    }

    /// RFC 5849 §3.4.1.2's examples.
    #[test]
    fn base_string_uri_examples() {
        let u: http::Uri = "HTTP://EXAMPLE.COM:80/r%20v/X?id=123".parse().unwrap();
        assert_eq!(base_string_uri(&u).unwrap(), "http://example.com/r%20v/X");
        let u: http::Uri = "https://www.example.net:8080/?q=1".parse().unwrap();
        assert_eq!(
            base_string_uri(&u).unwrap(),
            "https://www.example.net:8080/"
        );
        let u: http::Uri = "https://mdmenrollment.apple.com:443/session"
            .parse()
            .unwrap();
        assert_eq!(
            base_string_uri(&u).unwrap(),
            "https://mdmenrollment.apple.com/session"
        );
        let u: http::Uri = "ftp://example.com/".parse().unwrap();
        assert!(base_string_uri(&u).is_err());
        let u: http::Uri = "/session".parse().unwrap();
        assert!(base_string_uri(&u).is_err());
    }

    /// RFC 5849 §3.4.1.3.2's example: the parameters of §3.4.1.3.1 normalize
    /// to the documented string.
    #[test]
    fn normalization_example() {
        let params = pairs(&[
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ]);
        assert_eq!(
            normalize_parameters(&params),
            "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9dj\
             dj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1\
             &oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 §3.4.1.3.1: query decoding (the example request's query).
    #[test]
    fn query_decoding() {
        let u: http::Uri = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
            .parse()
            .unwrap();
        assert_eq!(
            query_parameters(&u).unwrap(),
            pairs(&[("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b")])
        );
    }

    #[test]
    fn authorization_header_parsing() {
        let h = r#"OAuth realm="ADM", oauth_consumer_key="CK%2F1", oauth_nonce="n""#;
        assert_eq!(
            parse_authorization(h).unwrap(),
            pairs(&[
                ("realm", "ADM"),
                ("oauth_consumer_key", "CK/1"),
                ("oauth_nonce", "n")
            ])
        );
        assert!(parse_authorization("Bearer x").is_err());
        assert!(parse_authorization(r#"OAuth a="1", a="2""#).is_err());
        assert!(parse_authorization(r#"OAuth a=1"#).is_err());
        assert!(parse_authorization(r#"OAuth a"#).is_err());
    }

    /// RFC 2202 §3 test case 2 (HMAC-SHA1 with key "Jefe"): our key is
    /// `enc(cs)&enc(ts)`, so cs = "Jefe" without the `&` cannot be fed in;
    /// check instead that the key is built as specified by comparing with a
    /// direct HMAC.
    #[test]
    fn key_is_encoded_secrets_joined_by_ampersand() {
        let direct = {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"a%20b&c%26d").unwrap();
            mac.update(b"text");
            mac.finalize().into_bytes().to_vec()
        };
        assert_eq!(hmac_sha1_raw("text", "a b", "c&d").to_vec(), direct);
    }
}
