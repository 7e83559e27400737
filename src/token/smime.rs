//! The outer layer of a token file: S/MIME (RFC 8551 §3.2), PEM (RFC 7468)
//! or bare base64 around the CMS bytes, or the CMS bytes themselves.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

use super::TokenError;
use crate::encoding::{
    MimeHeaders, header_value_parts, pem_blocks, split_mime_message, starts_with_mime_header,
};

/// The largest token file accepted. Apple's are about 1.5 KiB; the limit
/// bounds the memory and time any input can cost.
pub const MAX_TOKEN_FILE_BYTES: usize = 1024 * 1024;

const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

const ENCODE_B64: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new());

/// The headers Apple's portals put on a token file, in their order.
pub const APPLE_HEADERS: &str = "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\n\
Content-Transfer-Encoding: base64\n\
Content-Disposition: attachment; filename=\"smime.p7m\"\n\
Content-Description: S/MIME Encrypted Message\n";

fn format_error(reason: impl Into<String>) -> TokenError {
    TokenError::Format {
        reason: reason.into(),
    }
}

/// Returns the CMS bytes (DER or BER) inside a token file.
///
/// Accepts, after an optional UTF-8 byte-order mark and leading white space:
/// raw DER/BER (first byte `0x30`); PEM with label `PKCS7` or `CMS`; an S/MIME
/// message (headers, a blank line, base64 body; LF or CRLF); or bare base64.
pub fn unarmor(data: &[u8]) -> Result<Vec<u8>, TokenError> {
    if data.len() > MAX_TOKEN_FILE_BYTES {
        return Err(TokenError::TooLarge {
            len: data.len(),
            max: MAX_TOKEN_FILE_BYTES,
        });
    }
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| format_error("the file is empty"))?;
    let data = &data[start..];
    if data[0] == 0x30 {
        return Ok(data.to_vec());
    }
    if data.starts_with(b"-----BEGIN ") {
        return unarmor_pem(data);
    }
    if starts_with_mime_header(data) {
        return unarmor_mime(data);
    }
    decode_base64(data, "the file is neither CMS, PEM, S/MIME nor base64")
}

fn unarmor_pem(data: &[u8]) -> Result<Vec<u8>, TokenError> {
    let blocks = pem_blocks(data);
    let block = blocks
        .iter()
        .find(|b| matches!(b.label, "PKCS7" | "CMS" | "PKCS #7 SIGNED DATA"))
        .ok_or_else(|| {
            format_error("the PEM holds no PKCS7 or CMS block (BEGIN PKCS7 or BEGIN CMS)")
        })?;
    block
        .decode()
        .map(|der| der.to_vec())
        .map_err(|_| format_error(format!("the {} PEM block is not valid base64", block.label)))
}

fn unarmor_mime(data: &[u8]) -> Result<Vec<u8>, TokenError> {
    let (headers, body) = split_mime_message(data).ok_or_else(|| {
        format_error("the S/MIME headers are not followed by a blank line and a body")
    })?;
    let headers = MimeHeaders::parse(headers).map_err(|e| format_error(e.to_string()))?;
    let get = |name: &str| headers.get(name).map(str::to_ascii_lowercase);
    if let Some(ct) = headers.get("content-type") {
        let mut parts = header_value_parts(ct);
        let mime_type = parts.next().unwrap_or_default();
        if mime_type != "application/pkcs7-mime" && mime_type != "application/x-pkcs7-mime" {
            return Err(format_error(format!(
                "the S/MIME Content-Type is {mime_type}, not application/pkcs7-mime"
            )));
        }
        if let Some(st) = parts.find_map(|p| p.strip_prefix("smime-type=").map(str::to_owned))
            && st.trim_matches('"') != "enveloped-data"
        {
            return Err(format_error(format!(
                "the S/MIME smime-type is {}, not enveloped-data",
                st.trim_matches('"')
            )));
        }
    }
    let encoding = get("content-transfer-encoding").unwrap_or_else(|| "base64".into());
    let body_start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(body_start) = body_start else {
        return Err(format_error("the S/MIME message has headers but no body"));
    };
    match encoding.trim() {
        "base64" => decode_base64(&body[body_start..], "the S/MIME body is not valid base64"),
        "binary" => Ok(body.to_vec()),
        other => Err(format_error(format!(
            "the S/MIME Content-Transfer-Encoding {other} is not supported (expected base64)"
        ))),
    }
}

fn decode_base64(text: &[u8], what: &'static str) -> Result<Vec<u8>, TokenError> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return Err(format_error(what));
    }
    LENIENT_B64.decode(&compact).map_err(|_| format_error(what))
}

/// Wraps CMS bytes the way Apple serves a token: S/MIME headers, a blank
/// line, then base64 in 76-character lines, LF line endings.
pub fn armor_smime(cms: &[u8]) -> String {
    let b64 = ENCODE_B64.encode(cms);
    let mut out = String::with_capacity(APPLE_HEADERS.len() + b64.len() + b64.len() / 76 + 2);
    out.push_str(APPLE_HEADERS);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(76) {
        // base64 output is ASCII.
        out.push_str(core::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Wraps CMS bytes as PEM with label `PKCS7`, as `openssl smime -outform PEM`
/// writes it (RFC 7468 §8 lists the label for PKCS #7 and CMS).
pub fn armor_pem(cms: &[u8]) -> String {
    der::pem::encode_string("PKCS7", der::pem::LineEnding::LF, cms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let cms = [0x30u8, 0x03, 0x02, 0x01, 0x00];
        assert_eq!(unarmor(&cms).unwrap(), cms);
        assert_eq!(unarmor(armor_smime(&cms).as_bytes()).unwrap(), cms);
        assert_eq!(
            unarmor(armor_smime(&cms).replace('\n', "\r\n").as_bytes()).unwrap(),
            cms
        );
        assert_eq!(unarmor(armor_pem(&cms).as_bytes()).unwrap(), cms);
        assert_eq!(unarmor(b"MAMCAQA=\n").unwrap(), cms);
        assert_eq!(unarmor(b"\xEF\xBB\xBF  MAMCAQA").unwrap(), cms);
    }

    #[test]
    fn errors_say_what() {
        let e = |d: &[u8]| unarmor(d).unwrap_err().to_string();
        assert!(e(b"").contains("empty"));
        assert!(e(b"Content-Type: application/pkcs7-mime\n\n").contains("no body"));
        assert!(e(b"Content-Type: application/pkcs7-mime\n").contains("blank line"));
        assert!(e(b"Content-Type: text/plain\n\nMAMCAQA=").contains("text/plain"));
        assert!(
            e(b"Content-Type: application/pkcs7-mime; smime-type=signed-data\n\nMAMCAQA=")
                .contains("signed-data")
        );
        assert!(e(b"Content-Type: application/pkcs7-mime\n\n!!!!").contains("base64"));
        assert!(
            e(b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
                .contains("PKCS7")
        );
        assert!(matches!(
            unarmor(&vec![b'A'; MAX_TOKEN_FILE_BYTES + 1]),
            Err(TokenError::TooLarge { .. })
        ));
    }
}
