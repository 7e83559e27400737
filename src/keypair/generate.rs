//! Key generation: a fresh RSA key and its self-signed certificate.

//! The server's RSA keypair and the public key certificate uploaded to the portal.
//!
//! The portal encrypts each server token to the certificate's public key
//! (RFC 5652 §6.2.1, key transport), and names the recipient by the
//! certificate's issuer and serial number. The same private key later signs
//! Access Management JWTs, so it must be kept, not regenerated.

use rand_core::TryCryptoRng;
use rsa::PrivateKey as RsaPrivateKey;

use super::{CertificateParams, KeyError, KeySize, ServerKeypair};

impl ServerKeypair {
    /// Generates a new key of `size` and its self-signed certificate.
    ///
    /// ```
    /// use mdmlink::keypair::{CertificateParams, KeySize, ServerKeypair};
    /// let mut rng = mdmlink::SystemRng::default();
    /// let now = time::OffsetDateTime::now_utc();
    /// let keypair = ServerKeypair::generate(&mut rng, KeySize::Rsa2048, &CertificateParams::new("Main MDM", now))?;
    /// let pem = keypair.certificate_pem()?;
    /// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok::<(), mdmlink::keypair::KeyError>(())
    /// ```
    pub fn generate<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        size: KeySize,
        params: &CertificateParams,
    ) -> Result<Self, KeyError> {
        let key = RsaPrivateKey::new(rng, size.bits()).map_err(|_| KeyError::Generate)?;
        let mut keypair = Self {
            key,
            certificate: None,
        };
        keypair.certificate = Some(keypair.self_signed_certificate(rng, params)?);
        Ok(keypair)
    }

    /// The keypair for a new server named `server` (or a new key for an
    /// existing one): a fresh RSA key of `size` bits and its self-signed
    /// certificate, with the server's name as common name (shortened by
    /// [`common_name_for`](super::certificate::common_name_for)), valid from
    /// `now`. What the command line, the C API and the organization model
    /// all call, so their certificates cannot differ.
    ///
    /// ```
    /// use mdmlink::keypair::{KeySize, ServerKeypair};
    /// let now = time::OffsetDateTime::now_utc();
    /// let kp = ServerKeypair::generate_for_server(&mut mdmlink::SystemRng::default(), KeySize::Rsa2048, "Main MDM", now)?;
    /// assert!(kp.certificate().is_some());
    /// # Ok::<(), mdmlink::keypair::KeyError>(())
    /// ```
    pub fn generate_for_server<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        size: KeySize,
        server: &str,
        now: time::OffsetDateTime,
    ) -> Result<Self, KeyError> {
        let params = CertificateParams::new(super::certificate::common_name_for(server), now);
        Self::generate(rng, size, &params)
    }
}
