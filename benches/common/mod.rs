//! Fixtures shared by the benches: the real Apple token and its key, read from
//! `tests/fixtures/apple-token-1/` in the repository, and a token handle
//! for the C API.
#![allow(dead_code)]

use std::path::PathBuf;

use cms::{
    content_info::ContentInfo,
    enveloped_data::{EnvelopedData, RecipientInfo},
};
use der::{Decode, EncodingRules};
use mdmlink::{
    hazmat::smime,
    keypair::{ServerCertificate, ServerKeypair},
};

/// The Apple token file name.
pub const TOKEN: &str = "apple-mdm-client-tests-1-server-token.p7m";

/// Reads `tests/fixtures/apple-token-1/<name>`.
pub fn apple_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apple-token-1")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The Apple key with its certificate attached (so opening matches the
/// recipient first, as a real server does).
pub fn apple_keypair() -> ServerKeypair {
    let key = ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None)
        .expect("fixture key");
    let cert = ServerCertificate::from_pem(&apple_fixture("apple-mdm-client-tests-1.crt"))
        .expect("fixture certificate");
    key.with_certificate(cert).expect("certificate matches key")
}

/// The same key as a bare `rsa` private key.
pub fn apple_rsa_key() -> rsa::PrivateKey {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let pem = String::from_utf8(apple_fixture("apple-mdm-client-tests-1.pem")).expect("PEM text");
    rsa::PrivateKey::from_pkcs1_pem(&pem).expect("PKCS#1 key")
}

/// The RSA-encrypted content key inside a token file (its first key-transport recipient).
pub fn encrypted_key(token_file: &[u8]) -> Vec<u8> {
    let ber = smime::unarmor(token_file).expect("token armor");
    let info = ContentInfo::from_ber(&ber).expect("ContentInfo");
    let env: EnvelopedData = info
        .content
        .decode_as_encoding(EncodingRules::Ber)
        .expect("EnvelopedData");
    env.recip_infos
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k) => Some(k.enc_key.as_bytes().to_vec()),
            _ => None,
        })
        .expect("a key-transport recipient")
}

/// A C API token handle and the same token in Rust, expiring in a year, for
/// the FFI overhead measurements. Free the handle with `mdmlink_token_free`.
#[cfg(feature = "capi")]
pub fn ffi_token() -> (
    mdmlink::ServerToken,
    *mut mdmlink::ffi::token::mdmlink_token,
) {
    use mdmlink::ffi::{status::mdmlink_status, token::mdmlink_token_new};
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    let token = mdmlink::ServerToken::new("CK_bench", "CS_bench", "AT_bench", "AS_bench", expiry)
        .expect("token");
    let mut handle = core::ptr::null_mut();
    // SAFETY: NUL-terminated strings, a writable out pointer, no error object.
    let status = unsafe {
        mdmlink_token_new(
            c"CK_bench".as_ptr(),
            c"CS_bench".as_ptr(),
            c"AT_bench".as_ptr(),
            c"AS_bench".as_ptr(),
            expiry.unix_timestamp(),
            &mut handle,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok, "mdmlink_token_new");
    (token, handle)
}
