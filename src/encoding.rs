//! Text encodings written once for the whole crate: hexadecimal (through
//! `base16ct`, constant-time), percent-decoding (RFC 3986), PEM block
//! splitting (RFC 7468) and MIME header parsing (RFC 5322 §2.2, RFC 2045). Private: the key import, the
//! token pipeline, the organization model and the simulator share them
//! instead of reaching into each other.

use zeroize::Zeroizing;

/// Upper-case hexadecimal (serial numbers, fingerprints, key identifiers).
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    base16ct::upper::encode_string(bytes)
}

/// Lower-case hexadecimal (nonces).
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Decodes `%XX` escapes (RFC 3986 §2.1): exactly two hexadecimal digits
/// after each `%` (no sign, no space). With `plus_is_space`, `+` means a
/// space, as in `application/x-www-form-urlencoded` query strings (RFC 5849
/// §3.4.1.3.1 decodes the query that way). Returns `None` for a broken escape
/// or a result that is not UTF-8.
pub(crate) fn percent_decode(value: &str, plus_is_space: bool) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| char::from(*c).to_digit(16))?;
                let lo = bytes.get(i + 2).and_then(|c| char::from(*c).to_digit(16))?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// One `-----BEGIN X-----` ... `-----END X-----` block of a PEM text.
pub(crate) struct PemBlock<'a> {
    pub(crate) label: &'a str,
    text: &'a [u8],
    pub(crate) encrypted_legacy: bool,
}

impl PemBlock<'_> {
    /// The block's binary content, in a buffer zeroized on drop.
    pub(crate) fn decode(&self) -> Result<Zeroizing<Vec<u8>>, der::pem::Error> {
        der::pem::decode_vec(self.text).map(|(_, der)| Zeroizing::new(der))
    }
}

/// Splits a text into its PEM blocks, skipping anything between them
/// (OpenSSL's "Bag Attributes" and comments).
pub(crate) fn pem_blocks(text: &[u8]) -> Vec<PemBlock<'_>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, BEGIN) {
        let from = &rest[start..];
        let Some(label_end) = find(&from[BEGIN.len()..], b"-----") else {
            break;
        };
        let label_bytes = &from[BEGIN.len()..BEGIN.len() + label_end];
        let Ok(label) = core::str::from_utf8(label_bytes) else {
            rest = &from[BEGIN.len()..];
            continue;
        };
        let mut end_marker = Vec::with_capacity(label.len() + 14);
        end_marker.extend_from_slice(b"-----END ");
        end_marker.extend_from_slice(label_bytes);
        end_marker.extend_from_slice(b"-----");
        let Some(end) = find(from, &end_marker) else {
            break;
        };
        let block_text = &from[..end + end_marker.len()];
        blocks.push(PemBlock {
            label,
            text: block_text,
            encrypted_legacy: find(block_text, b"Proc-Type: 4,ENCRYPTED").is_some(),
        });
        rest = &from[end + end_marker.len()..];
    }
    blocks
}

/// The first position of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What is wrong with a MIME header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MimeHeaderError {
    #[error("the MIME headers are not text")]
    NotText,
    #[error("the MIME headers start with a continuation line")]
    LeadingContinuation,
    #[error("a MIME header line has no colon")]
    NoColon,
    #[error("a MIME header name is invalid")]
    InvalidName,
}

/// A MIME header block's fields, in order, continuation lines unfolded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MimeHeaders {
    fields: Vec<(String, String)>,
}

impl MimeHeaders {
    /// Parses header lines (LF or CRLF; folded continuations joined with one
    /// space) into name/value pairs, values trimmed.
    pub(crate) fn parse(block: &[u8]) -> Result<Self, MimeHeaderError> {
        let text = core::str::from_utf8(block).map_err(|_| MimeHeaderError::NotText)?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with([' ', '\t']) {
                let Some(last) = fields.last_mut() else {
                    return Err(MimeHeaderError::LeadingContinuation);
                };
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(MimeHeaderError::NoColon)?;
            if !is_field_name(name.as_bytes()) {
                return Err(MimeHeaderError::InvalidName);
            }
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(Self { fields })
    }

    /// The first field named `name` (case-insensitive), if any.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every field, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A field name: printable ASCII except colon, at least one character
/// (RFC 5322 §2.2).
fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

/// Whether the text starts with a MIME header line: a field name followed
/// by a colon.
pub(crate) fn starts_with_mime_header(data: &[u8]) -> bool {
    let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = &data[..line_end];
    match line.iter().position(|&b| b == b':') {
        Some(colon) => is_field_name(&line[..colon]),
        None => false,
    }
}

/// Splits a MIME message at its first empty line written `\n\n` or
/// `\r\n\r\n`: the header block, and the body after the blank line.
pub(crate) fn split_mime_message(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let lf = find(data, b"\n\n").map(|i| (i, 2));
    let crlf = find(data, b"\r\n\r\n").map(|i| (i, 4));
    let (at, sep) = match (lf, crlf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (a, b) => a.or(b)?,
    };
    Some((&data[..at], &data[at + sep..]))
}

/// Splits a MIME message at its first empty line, whatever the line
/// endings (LF, CRLF, or a mix, e.g. LF header lines and a CRLF blank
/// line): the header block without its last line break, and the body.
pub(crate) fn split_mime_text(text: &str) -> Option<(&str, &str)> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        if content.is_empty() && line.ends_with('\n') {
            // The header block ends before this line (without its line break).
            let head = text[..start].strip_suffix('\n').unwrap_or(&text[..start]);
            let head = head.strip_suffix('\r').unwrap_or(head);
            return Some((head, &text[start + line.len()..]));
        }
        start += line.len();
    }
    None
}

/// A structured header value's parts (RFC 2045 §5.1), lower-cased and
/// trimmed: the value itself (`type/subtype`), then its `name=value`
/// parameters as written (quotes kept).
pub(crate) fn header_value_parts(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(';').map(|p| p.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_format_macro() {
        let bytes: Vec<u8> = (0..=255).collect();
        let upper: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex_upper(&bytes), upper);
        assert_eq!(hex_lower(&bytes), upper.to_ascii_lowercase());
        assert_eq!(hex_upper(&[]), "");
    }

    #[test]
    fn pem_blocks_skip_text_between_blocks() {
        let text = b"Bag Attributes\n-----BEGIN A-----\nAAAA\n-----END A-----\njunk\n-----BEGIN B-----\nProc-Type: 4,ENCRYPTED\n-----END B-----\n-----BEGIN C-----\nunterminated";
        let blocks = pem_blocks(text);
        assert_eq!(
            blocks.iter().map(|b| b.label).collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert!(!blocks[0].encrypted_legacy && blocks[1].encrypted_legacy);
        assert_eq!(find(b"abc", b"c"), Some(2));
        assert_eq!(find(b"abc", b""), None);
    }

    #[test]
    fn mime_headers_unfold_and_refuse_what_is_not_a_header() {
        let h =
            MimeHeaders::parse(b"Content-Type: text/plain;\r\n charset=utf-8\nX-A:  1 ").unwrap();
        assert_eq!(h.get("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(h.get("X-A"), Some("1"));
        assert_eq!(h.get("x-b"), None);
        assert_eq!(h.iter().count(), 2);
        assert_eq!(
            MimeHeaders::parse(b"\xff: x"),
            Err(MimeHeaderError::NotText)
        );
        assert_eq!(
            MimeHeaders::parse(b" folded: x"),
            Err(MimeHeaderError::LeadingContinuation)
        );
        assert_eq!(
            MimeHeaders::parse(b"A: 1\nno colon"),
            Err(MimeHeaderError::NoColon)
        );
        assert_eq!(
            MimeHeaders::parse(b"B d: 1"),
            Err(MimeHeaderError::InvalidName)
        );
        assert_eq!(
            MimeHeaders::parse(b": 1"),
            Err(MimeHeaderError::InvalidName)
        );
        assert!(starts_with_mime_header(b"Content-Type: x\n"));
        assert!(!starts_with_mime_header(b": x") && !starts_with_mime_header(b"MIIB"));
        assert!(!starts_with_mime_header(b"a b: x\nc: d"));
    }

    #[test]
    fn mime_messages_split_at_the_first_blank_line() {
        assert_eq!(
            split_mime_message(b"A: 1\r\n\r\nbody\n\nmore"),
            Some((&b"A: 1"[..], &b"body\n\nmore"[..]))
        );
        assert_eq!(split_mime_message(b"A: 1\nbody"), None);
        assert_eq!(
            split_mime_text("A: 1\nB: 2\r\n\r\nbody"),
            Some(("A: 1\nB: 2", "body"))
        );
        assert_eq!(split_mime_text("A: 1\n\r\nbody"), Some(("A: 1", "body")));
        assert_eq!(split_mime_text("A: 1\nbody"), None);
        assert_eq!(
            header_value_parts(" Text/Plain ; Charset=\"UTF-8\"").collect::<Vec<_>>(),
            ["text/plain", "charset=\"utf-8\""]
        );
    }
}
