//! Text encodings written once for the whole crate: hexadecimal (through
//! `base16ct`, constant-time) and PEM block splitting (RFC 7468). Private:
//! the key import, the token pipeline and the organization model share them
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
}
