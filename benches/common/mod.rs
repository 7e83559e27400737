//! Fixtures shared by the benches: the real Apple token and its key, read from
//! `tests/fixtures/apple-token-1/` in the repository.
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
    // The workspace root: this crate's directory, or its parent for the C
    // API crate (capi/examples/bench_peer.rs includes this file too).
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures = manifest
        .ancestors()
        .map(|dir| dir.join("tests/fixtures/apple-token-1"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no tests/fixtures/apple-token-1 above {}",
                manifest.display()
            )
        });
    let path = fixtures.join(name);
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
