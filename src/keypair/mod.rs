//! The server's RSA keypair and the public key certificate uploaded to the portal.
//!
//! The portal encrypts each server token to the certificate's public key
//! (RFC 5652 §6.2.1, key transport), and names the recipient by the
//! certificate's issuer and serial number. The same private key later signs
//! Access Management JWTs, so it must be kept, not regenerated.

use core::fmt;

use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey, traits::PublicKeyParts};
use sha2::{Digest, Sha256};
use spki::EncodePublicKey;

mod certificate;
mod generate;
mod import;
mod key;

pub use certificate::{
    CertificateParams, DEFAULT_CERTIFICATE_VALIDITY, ServerCertificate, common_name_for,
};
pub use import::{
    MAX_IMPORT_BITS, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY_BYTES, MAX_SCRYPT_PARALLELIZATION,
    MIN_IMPORT_BITS,
};
pub use key::{KeyOperationError, ServerKey, rsa_decrypt_pkcs1v15};

/// RSA modulus sizes mdmlink generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeySize {
    /// 2048 bits: the default, what the portals and most MDM products use.
    #[default]
    Rsa2048,
    /// 3072 bits.
    Rsa3072,
    /// 4096 bits.
    Rsa4096,
}

impl KeySize {
    /// The modulus size in bits.
    pub fn bits(self) -> usize {
        match self {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            KeySize::Rsa4096 => 4096,
        }
    }

    /// The size with `bits` bits, if mdmlink generates it.
    pub fn from_bits(bits: u32) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(KeySize::Rsa2048),
            3072 => Ok(KeySize::Rsa3072),
            4096 => Ok(KeySize::Rsa4096),
            other => Err(KeyError::UnsupportedSize {
                bits: other as usize,
            }),
        }
    }
}

/// Why a key or certificate could not be generated, read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The RSA modulus size is not one mdmlink generates or accepts.
    #[error(
        "RSA key size {bits} bits is not supported (generate 2048, 3072 or 4096; import 2048 to 8192)"
    )]
    UnsupportedSize {
        /// The size asked for or found.
        bits: usize,
    },
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// RSA key generation failed.
    #[error("RSA key generation failed")]
    Generate,
    /// The input holds no private key mdmlink can read.
    #[error("not a private key: {reason}")]
    Malformed {
        /// What was wrong, without any key material.
        reason: &'static str,
    },
    /// The key is not an RSA key.
    #[error("the private key is not an RSA key (algorithm {algorithm}); the portals need RSA")]
    NotRsa {
        /// The algorithm OID found.
        algorithm: String,
    },
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted; a password is required")]
    PasswordRequired,
    /// The password did not decrypt the key.
    #[error("the password does not decrypt the private key")]
    WrongPassword,
    /// An OpenSSL "traditional" encrypted PEM (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "legacy OpenSSL-encrypted PEM (Proc-Type: 4,ENCRYPTED) is not supported; convert it with `openssl pkcs8 -topk8 -in old.pem -out new.pem`"
    )]
    LegacyEncryptedPem,
    /// A certificate could not be parsed or built.
    #[error("certificate: {reason}")]
    Certificate {
        /// What was wrong.
        reason: String,
    },
    /// The certificate's public key is not this private key's.
    #[error("certificate (serial {serial}) does not belong to this private key")]
    CertificateMismatch {
        /// The certificate's serial number, hex.
        serial: String,
    },
    /// The keypair was loaded without its certificate.
    #[error("this keypair has no certificate; load it with its certificate or generate a new one")]
    NoCertificate,
    /// Encoding a key or certificate failed.
    #[error("could not encode the {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
    },
}

/// An MDM server's RSA private key, with the certificate uploaded for it when known.
///
/// The private key is zeroized on drop (by `rsa`), never printed by `Debug`, and
/// leaves this type only through the explicit export methods.
#[derive(Clone)]
pub struct ServerKeypair {
    key: RsaPrivateKey,
    certificate: Option<ServerCertificate>,
}

impl fmt::Debug for ServerKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeypair")
            .field("bits", &self.bits())
            .field("private_key", &"[redacted]")
            .field("certificate", &self.certificate)
            .finish()
    }
}

impl ServerKeypair {
    /// Attaches `certificate` after checking that it carries this key's public key.
    pub fn attach_certificate(&mut self, certificate: ServerCertificate) -> Result<(), KeyError> {
        let matches = certificate
            .public_key()
            .map(|p| &p == self.key.as_public_key())
            .unwrap_or(false);
        if !matches {
            return Err(KeyError::CertificateMismatch {
                serial: certificate.serial_hex(),
            });
        }
        self.certificate = Some(certificate);
        Ok(())
    }

    /// Returns this keypair with `certificate` attached (see [`Self::attach_certificate`]).
    pub fn with_certificate(mut self, certificate: ServerCertificate) -> Result<Self, KeyError> {
        self.attach_certificate(certificate)?;
        Ok(self)
    }

    /// The certificate, when known.
    pub fn certificate(&self) -> Option<&ServerCertificate> {
        self.certificate.as_ref()
    }

    /// The certificate as PEM, to upload to the portal.
    pub fn certificate_pem(&self) -> Result<String, KeyError> {
        Ok(self
            .certificate
            .as_ref()
            .ok_or(KeyError::NoCertificate)?
            .to_pem())
    }

    /// The certificate as DER, to upload to the portal.
    pub fn certificate_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self
            .certificate
            .as_ref()
            .ok_or(KeyError::NoCertificate)?
            .to_der()
            .to_vec())
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }

    /// The public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        self.key.as_public_key()
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: identifies the key without revealing it.
    pub fn public_key_fingerprint(&self) -> [u8; 32] {
        self.key
            .as_public_key()
            .to_public_key_der()
            .map(|d| Sha256::digest(d.as_bytes()).into())
            .unwrap_or([0; 32])
    }

    /// SHA-256 of a public key's DER SubjectPublicKeyInfo.
    pub(crate) fn public_key_sha256(key: &RsaPublicKey) -> Option<[u8; 32]> {
        key.to_public_key_der()
            .ok()
            .map(|d| Sha256::digest(d.as_bytes()).into())
    }

    pub(crate) fn private_key(&self) -> &RsaPrivateKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::certificate::common_name;
    use super::*;
    use crate::SystemRng;
    use time::{Duration, OffsetDateTime};

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 12:00 UTC)
    }

    #[test]
    fn generated_certificate_fields() {
        let mut rng = SystemRng::default();
        let kp = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("Main MDM", now()),
        )
        .unwrap();
        let cert = kp.certificate().unwrap();
        assert_eq!(cert.common_name().as_deref(), Some("Main MDM"));
        assert_eq!(cert.issuer(), cert.subject());
        assert_eq!(cert.not_before(), now() - Duration::hours(1));
        assert_eq!(cert.not_after(), now() + DEFAULT_CERTIFICATE_VALIDITY);
        assert_eq!(cert.serial().len(), 16);
        assert_eq!(cert.subject_key_id().map(|k| k.len()), Some(20));
        assert_eq!(&cert.public_key().unwrap(), kp.public_key());
        assert_eq!(kp.bits(), 2048);
        // Two certificates never share a serial.
        let other = kp
            .self_signed_certificate(&mut rng, &CertificateParams::new("Main MDM", now()))
            .unwrap();
        assert_ne!(other.serial(), cert.serial());
    }

    #[test]
    fn round_trips() {
        let mut rng = SystemRng::default();
        let kp = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("x", now()),
        )
        .unwrap();
        let pem = kp.private_key_pem().unwrap();
        let back = ServerKeypair::from_pem(pem.as_bytes(), None).unwrap();
        assert_eq!(back.public_key(), kp.public_key());
        assert!(back.certificate().is_none());

        let der = kp.private_key_der().unwrap();
        assert_eq!(
            ServerKeypair::from_der(&der, None).unwrap().public_key(),
            kp.public_key()
        );

        let enc = kp
            .private_key_encrypted_pem(&mut rng, b"correct horse")
            .unwrap();
        assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert_eq!(
            ServerKeypair::from_pem(enc.as_bytes(), None).unwrap_err(),
            KeyError::PasswordRequired
        );
        assert_eq!(
            ServerKeypair::from_pem(enc.as_bytes(), Some(b"wrong")).unwrap_err(),
            KeyError::WrongPassword
        );
        let back = ServerKeypair::from_pem(enc.as_bytes(), Some(b"correct horse")).unwrap();
        assert_eq!(back.public_key(), kp.public_key());

        // Key and certificate in one PEM keep the certificate.
        let both = format!("{}{}", pem.as_str(), kp.certificate_pem().unwrap());
        let back = ServerKeypair::from_pem(both.as_bytes(), None).unwrap();
        assert_eq!(back.certificate(), kp.certificate());
    }

    #[test]
    fn mismatched_certificate_refused() {
        let mut rng = SystemRng::default();
        let a = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("a", now()),
        )
        .unwrap();
        let b = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("b", now()),
        )
        .unwrap();
        let err = a
            .clone()
            .with_certificate(b.certificate().unwrap().clone())
            .unwrap_err();
        assert!(matches!(err, KeyError::CertificateMismatch { .. }));
    }

    #[test]
    fn debug_redacts() {
        let mut rng = SystemRng::default();
        let kp = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("a", now()),
        )
        .unwrap();
        let dbg = format!("{kp:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains(&format!("{:?}", kp.private_key())));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            ServerKeypair::from_pem(b"hello", None),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            ServerKeypair::from_der(&[0x30, 0x03, 1, 2, 3], None),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            ServerKeypair::from_pem(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", None),
            Err(KeyError::LegacyEncryptedPem)
        ));
        assert!(KeySize::from_bits(1024).is_err());
        assert_eq!(KeySize::from_bits(3072).unwrap().bits(), 3072);
    }

    #[test]
    fn common_name_rules() {
        assert!(common_name("").is_err());
        assert!(common_name(&"a".repeat(65)).is_err());
        assert_eq!(common_name_for(&"é".repeat(100)).chars().count(), 64);
    }
}
