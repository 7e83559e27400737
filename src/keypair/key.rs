//! The key seam: the two private-key operations mdmlink needs, so the key
//! can live in an HSM (PKCS #11), a cloud KMS or a secure enclave.
//!
//! Opening a token needs RSA PKCS #1 v1.5 decryption of the content key
//! (RFC 5652 §6.2.1, RFC 8017 §7.2); signing an Access Management JWT needs
//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3, RFC 8017 §8.2).
//! [`ServerKeypair`] implements [`ServerKey`] with the key in memory; a
//! vendor implements it over its own key store and passes that to
//! [`crate::token::open_with_rng`] (or [`crate::token::open`]) and
//! [`crate::jwt::sign_maid_jwt`].

use rand_core::TryCryptoRng;
use rsa::PublicKey as RsaPublicKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{ServerCertificate, ServerKeypair};

/// A private-key operation failed (the device, the service or the key).
///
/// Deliberately without detail about padding or the plaintext: the token
/// opener reports every decryption failure the same way (no oracle).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("the private-key operation failed")]
pub struct KeyOperationError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl KeyOperationError {
    /// A failure with no further detail.
    pub fn new() -> Self {
        Self { source: None }
    }

    /// A failure caused by `source` (the HSM's or KMS's own error).
    pub fn with_source(
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            source: Some(source.into()),
        }
    }
}

impl Default for KeyOperationError {
    fn default() -> Self {
        Self::new()
    }
}

/// An MDM server's RSA private key, wherever it is kept.
///
/// Implement it for a key in an HSM or KMS; mdmlink never asks for the key
/// itself. `rng` is for implementations that blind in software (as
/// [`ServerKeypair`] does); others may ignore it.
pub trait ServerKey {
    /// The RSA public key (its size bounds the work the opener does).
    fn public_key(&self) -> &RsaPublicKey;

    /// The certificate uploaded for the key, when known. With one, the
    /// opener picks the token's recipient by issuer and serial and reports a
    /// token for another certificate as such, before any private-key
    /// operation.
    fn certificate(&self) -> Option<&ServerCertificate>;

    /// RSA PKCS #1 v1.5 decryption (RFC 8017 §7.2.2) of a token's encrypted
    /// content key. Implementations should use implicit rejection (a bad
    /// ciphertext gives a deterministic pseudo-random value, not an error),
    /// as [`ServerKeypair`] does; the opener treats the result as untrusted
    /// until the content decrypts and validates.
    fn decrypt_pkcs1v15<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError>;

    /// An RS256 signature (RSASSA-PKCS1-v1_5 over SHA-256, RFC 8017 §8.2.1)
    /// of `message`: the signing input of a JWT.
    fn sign_rs256<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError>;
}

/// The plain RSA operation behind [`ServerKey::decrypt_pkcs1v15`] for a key
/// held here: RSAES-PKCS1-v1_5 decryption (RFC 8017 §7.2.2) with blinding
/// from `rng` and implicit rejection (a bad ciphertext yields a
/// deterministic pseudo-random value, not an error). Knows nothing of CMS:
/// [`crate::token::envelope::unwrap_content_key`] builds on it.
pub fn rsa_decrypt_pkcs1v15<R: TryCryptoRng + ?Sized>(
    key: &rsa::PrivateKey,
    rng: &mut R,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
    key.pkcs1v15_decrypt_with_rng(rng, ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| KeyOperationError::new())
}

impl ServerKey for ServerKeypair {
    fn public_key(&self) -> &RsaPublicKey {
        ServerKeypair::public_key(self)
    }

    fn certificate(&self) -> Option<&ServerCertificate> {
        ServerKeypair::certificate(self)
    }

    fn decrypt_pkcs1v15<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
        // The exact function the Wycheproof suite checks (implicit rejection).
        rsa_decrypt_pkcs1v15(self.private_key(), rng, ciphertext)
    }

    fn sign_rs256<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding};
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.private_key().clone());
        signer
            .try_sign_with_rng(rng, message)
            .map(|s| s.to_vec())
            .map_err(KeyOperationError::with_source)
    }
}
