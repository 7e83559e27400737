//! The key seam (`keypair::ServerKey`): a key that mdmlink can only use
//! through the trait, as a PKCS #11 token or a cloud KMS would offer it, opens
//! the real Apple token and signs an Access Management JWT that verifies with
//! the certificate's public key.

mod common;

use std::cell::Cell;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mdmlink::keypair::{KeyOperationError, ServerCertificate, ServerKey};
use mdmlink::{jwt, token};
use rand_core::TryCryptoRng;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use sha2::Sha256;
use zeroize::Zeroizing;

use common::{apple_expected_json, apple_fixture};

/// Stands in for an HSM: the private key is private to this type, mdmlink
/// never sees it or a `ServerKeypair`, and every operation is counted.
struct Hsm {
    key: rsa::PrivateKey,
    certificate: ServerCertificate,
    decryptions: Cell<u32>,
    signatures: Cell<u32>,
    online: bool,
}

impl Hsm {
    fn apple() -> Self {
        let pem = String::from_utf8(apple_fixture("apple-mdm-client-tests-1.pem")).unwrap();
        let key = rsa::PrivateKey::from_pkcs1_pem(&pem).unwrap();
        let certificate =
            ServerCertificate::from_pem(&apple_fixture("apple-mdm-client-tests-1.crt")).unwrap();
        Self {
            key,
            certificate,
            decryptions: Cell::new(0),
            signatures: Cell::new(0),
            online: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the HSM is offline")]
struct Offline;

impl ServerKey for Hsm {
    fn public_key(&self) -> &rsa::PublicKey {
        self.key.as_public_key()
    }

    fn certificate(&self) -> Option<&ServerCertificate> {
        Some(&self.certificate)
    }

    fn decrypt_pkcs1v15<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
        if !self.online {
            return Err(KeyOperationError::with_source(Offline));
        }
        self.decryptions.set(self.decryptions.get() + 1);
        self.key
            .pkcs1v15_decrypt_with_rng(rng, ciphertext)
            .map(Zeroizing::new)
            .map_err(KeyOperationError::with_source)
    }

    fn sign_rs256<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError> {
        if !self.online {
            return Err(KeyOperationError::with_source(Offline));
        }
        self.signatures.set(self.signatures.get() + 1);
        rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone())
            .try_sign_with_rng(rng, message)
            .map(|s| s.to_vec())
            .map_err(KeyOperationError::with_source)
    }
}

#[test]
fn a_key_behind_the_trait_opens_the_apple_token() {
    let hsm = Hsm::apple();
    let file = apple_fixture("apple-mdm-client-tests-1-server-token.p7m");
    let opened = token::open(&file, &hsm).unwrap();
    assert_eq!(hsm.decryptions.get(), 1, "one RSA decryption, by the HSM");
    let expected: serde_json::Value = serde_json::from_str(&apple_expected_json()).unwrap();
    assert_eq!(
        opened.consumer_key(),
        expected["consumer_key"].as_str().unwrap()
    );
}

#[test]
fn a_key_behind_the_trait_signs_a_jwt_that_verifies() {
    let hsm = Hsm::apple();
    let mut rng = mdmlink::SystemRng::default();
    let claims = jwt::MaidClaims {
        issuer: "2A87349736CF4614A94F624E705841BE",
        issued_at: time::macros::datetime!(2026-11-25 12:00 UTC),
        jti: "5f0d2b5e-7f6c-4d7e-9a4b-0c1d2e3f4a5b",
    };
    let token = jwt::sign_maid_jwt(&hsm, &claims, &mut rng).unwrap();
    assert_eq!(hsm.signatures.get(), 1);
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature =
        rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice())
            .unwrap();
    let public = hsm.certificate.public_key().unwrap();
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
        .verify(input.as_bytes(), &signature)
        .expect("the RS256 signature verifies with the certificate's key");
}

#[test]
fn a_failing_key_is_a_typed_error_not_a_panic() {
    let mut hsm = Hsm::apple();
    hsm.online = false;
    let file = apple_fixture("apple-mdm-client-tests-1-server-token.p7m");
    assert!(matches!(
        token::open(&file, &hsm),
        Err(token::TokenError::Decrypt)
    ));
    let mut rng = mdmlink::SystemRng::default();
    let claims = jwt::MaidClaims {
        issuer: "2A87349736CF4614A94F624E705841BE",
        issued_at: time::macros::datetime!(2026-11-25 12:00 UTC),
        jti: "x",
    };
    assert!(matches!(
        jwt::sign_maid_jwt(&hsm, &claims, &mut rng),
        Err(jwt::JwtError::Sign)
    ));
}
