//! Hazardous materials: the building blocks under mdmlink's API, for test
//! suites (Wycheproof, interop with OpenSSL and Python), fuzzers and people
//! writing their own device assignment service. Everything here is a single
//! stage without the checks around it: using [`envelope::unwrap_content_key`]
//! or [`cipher::ContentCipher::decrypt`] directly and reporting their
//! failures separately builds the padding oracle [`crate::token::open`]
//! avoids. Prefer [`crate::token`], [`crate::session`] and [`crate::jwt`].
//!
//! The stages of opening a token, in order (RFC 5652, RFC 8551):
//! [`smime::unarmor`] -> [`envelope::open`] -> [`payload::parse`].

/// The token file's outer layers: S/MIME, PEM or base64 (RFC 8551, RFC 7468).
pub mod smime {
    pub use crate::token::smime::*;
}

/// CMS EnvelopedData: recipients, RSA key transport, content decryption
/// (RFC 5652 §6, RFC 3370 §4.2.1).
pub mod envelope {
    pub use crate::token::envelope::*;
}

/// The content ciphers a token may use (RFC 3565, RFC 3370 §5.1).
pub mod cipher {
    pub use crate::token::cipher::*;
}

/// The decrypted token text: parsing and rendering.
pub mod payload {
    pub use crate::token::payload::*;
}

/// OAuth 1.0a primitives (RFC 5849): percent-encoding, the signature base
/// string, HMAC-SHA1, and parsing an `Authorization` header.
pub mod oauth {
    pub use crate::session::oauth::{
        AuthorizationParseError, base_string_uri, hmac_sha1, hmac_sha1_raw, normalize_parameters,
        parse_authorization, percent_decode, percent_encode, query_parameters,
        signature_base_string,
    };
}

/// The JOSE header of every Access Management JWT mdmlink signs (RFC 7515 §4).
pub const JWT_HEADER_JSON: &str = crate::jwt::HEADER_JSON;
