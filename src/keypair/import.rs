//! Import and export of private keys: PEM or DER, PKCS#1 or PKCS#8,
//! encrypted PKCS#8 (PBES2, RFC 8018) with limits on the password-hashing
//! work a file may ask for.

//! The server's RSA keypair and the public key certificate uploaded to the portal.
//!
//! The portal encrypts each server token to the certificate's public key
//! (RFC 5652 §6.2.1, key transport), and names the recipient by the
//! certificate's issuer and serial number. The same private key later signs
//! Access Management JWTs, so it must be kept, not regenerated.

use der::{Decode, pem::LineEnding};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rand_core::TryCryptoRng;
use rsa::{PrivateKey as RsaPrivateKey, pkcs1::DecodeRsaPrivateKey, traits::PublicKeyParts};
use zeroize::Zeroizing;

use super::{KeyError, ServerCertificate, ServerKeypair};
use crate::encoding::pem_blocks;

/// Smallest RSA modulus accepted on import, in bits.
pub const MIN_IMPORT_BITS: usize = 2048;
/// Largest RSA modulus accepted on import, in bits (bounds the cost of opening a token).
pub const MAX_IMPORT_BITS: usize = 8192;

/// The most PBKDF2 iterations an encrypted key file may ask for (mdmlink
/// writes 600,000; OpenSSL 2,048). More would only let a hostile file burn CPU.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// The most memory scrypt may be asked to use (128 x r x N bytes) when
/// decrypting a key file. A hostile file can otherwise demand terabytes and
/// abort the process.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// The largest scrypt parallelization parameter accepted (time grows with it).
pub const MAX_SCRYPT_PARALLELIZATION: u16 = 16;

/// Refuses password-hashing parameters that would cost more than the limits
/// above, before any key derivation runs.
fn check_kdf_cost(scheme: &pkcs5::EncryptionScheme) -> Result<(), KeyError> {
    let too_costly = KeyError::Malformed {
        reason: "the encrypted key asks for more password-hashing work than mdmlink allows (PBKDF2 up to 10,000,000 iterations; scrypt up to 256 MiB, p up to 16)",
    };
    if let pkcs5::EncryptionScheme::Pbes2(params) = scheme {
        match &params.kdf {
            pkcs5::pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
                return Err(too_costly);
            }
            pkcs5::pbes2::Kdf::Scrypt(p) => {
                let n = p.cost_parameter;
                let memory = 128u64
                    .saturating_mul(u64::from(p.block_size))
                    .saturating_mul(n);
                if n < 2
                    || !n.is_power_of_two()
                    || p.block_size == 0
                    || p.parallelization == 0
                    || p.parallelization > MAX_SCRYPT_PARALLELIZATION
                    || memory > MAX_SCRYPT_MEMORY_BYTES
                {
                    return Err(too_costly);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl ServerKeypair {
    /// Wraps an existing key without a certificate. Such a keypair still opens
    /// tokens; it just cannot tell a token for another certificate from a
    /// damaged one.
    pub fn from_private_key(key: RsaPrivateKey) -> Result<Self, KeyError> {
        let bits = key.n().bit_width() as usize;
        if !(MIN_IMPORT_BITS..=MAX_IMPORT_BITS).contains(&bits) {
            return Err(KeyError::UnsupportedSize { bits });
        }
        key.validate().map_err(|_| KeyError::Malformed {
            reason: "the RSA key's components are inconsistent",
        })?;
        Ok(Self {
            key,
            certificate: None,
        })
    }

    /// Reads a private key from PEM text: `PRIVATE KEY` (PKCS#8),
    /// `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2, needs `password`) or
    /// `RSA PRIVATE KEY` (PKCS#1). A `CERTIFICATE` block in the same text is
    /// attached after checking it matches the key.
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<Self, KeyError> {
        let blocks = pem_blocks(pem);
        let mut keypair = None;
        for block in &blocks {
            if block.encrypted_legacy {
                return Err(KeyError::LegacyEncryptedPem);
            }
            let key = match block.label {
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
                    let der = block.decode().map_err(|_| KeyError::Malformed {
                        reason: "the PEM block is not valid base64",
                    })?;
                    match block.label {
                        "PRIVATE KEY" => Self::from_pkcs8_der(&der)?,
                        "RSA PRIVATE KEY" => Self::from_pkcs1_der(&der)?,
                        _ => Self::from_encrypted_pkcs8_der(&der, password)?,
                    }
                }
                _ => continue,
            };
            if keypair.is_some() {
                return Err(KeyError::Malformed {
                    reason: "the PEM holds more than one private key",
                });
            }
            keypair = Some(key);
        }
        // Name what was given instead, when it is something else we know.
        let mut keypair = keypair.ok_or_else(|| {
            let has = |label: &str| blocks.iter().any(|b| b.label == label);
            KeyError::Malformed {
                reason: if has("EC PRIVATE KEY") {
                    "this is an elliptic-curve (EC) private key; the portals use RSA keys: give the RSA private key"
                } else if has("CERTIFICATE") {
                    "this is a certificate, not a private key; give the private key file"
                } else if has("PUBLIC KEY") || has("RSA PUBLIC KEY") {
                    "this is a public key, not a private key; give the private key file"
                } else if has("OPENSSH PRIVATE KEY") {
                    "this is an OpenSSH key, not a PEM private key; give the RSA private key (PKCS#8 or PKCS#1 PEM)"
                } else {
                    "no PRIVATE KEY, RSA PRIVATE KEY or ENCRYPTED PRIVATE KEY block found"
                },
            }
        })?;
        if blocks.iter().any(|b| b.label == "CERTIFICATE") {
            keypair.attach_certificate(ServerCertificate::from_pem(pem)?)?;
        }
        Ok(keypair)
    }

    /// Reads a DER private key: PKCS#8, encrypted PKCS#8 (needs `password`) or PKCS#1.
    pub fn from_der(der: &[u8], password: Option<&[u8]>) -> Result<Self, KeyError> {
        if PrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_pkcs8_der(der);
        }
        if EncryptedPrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_encrypted_pkcs8_der(der, password);
        }
        Self::from_pkcs1_der(der).map_err(|_| KeyError::Malformed {
            reason: "the DER is neither PKCS#8, encrypted PKCS#8 nor a PKCS#1 RSA private key",
        })
    }

    /// Reads PEM or DER, whichever `bytes` holds.
    pub fn from_pem_or_der(bytes: &[u8], password: Option<&[u8]>) -> Result<Self, KeyError> {
        if bytes.first() == Some(&0x30) {
            Self::from_der(bytes, password)
        } else {
            Self::from_pem(bytes, password)
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed {
            reason: "the PKCS#8 structure is invalid",
        })?;
        if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(KeyError::NotRsa {
                algorithm: info.algorithm.oid.to_string(),
            });
        }
        let key = RsaPrivateKey::from_pkcs8_der(der).map_err(|_| KeyError::Malformed {
            reason: "the PKCS#8 RSA key is invalid",
        })?;
        Self::from_private_key(key)
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = RsaPrivateKey::from_pkcs1_der(der).map_err(|_| KeyError::Malformed {
            reason: "the PKCS#1 RSA key is invalid",
        })?;
        Self::from_private_key(key)
    }

    fn from_encrypted_pkcs8_der(der: &[u8], password: Option<&[u8]>) -> Result<Self, KeyError> {
        let password = password.ok_or(KeyError::PasswordRequired)?;
        let info = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|_| KeyError::Malformed {
            reason: "the encrypted PKCS#8 structure is invalid",
        })?;
        check_kdf_cost(&info.encryption_algorithm)?;
        let plain = info
            .decrypt(password)
            .map_err(|_| KeyError::WrongPassword)?;
        // A wrong password decrypts to garbage with valid padding once in 256 tries.
        Self::from_pkcs8_der(plain.as_bytes()).map_err(|e| match e {
            KeyError::Malformed { .. } => KeyError::WrongPassword,
            other => other,
        })
    }

    /// The private key as unencrypted PKCS#8 DER.
    pub fn private_key_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = self.key.to_pkcs8_der().map_err(|_| KeyError::Encode {
            what: "private key",
        })?;
        Ok(doc.to_bytes())
    }

    /// The private key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn private_key_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode {
                what: "private key",
            })
    }

    /// The private key as encrypted PKCS#8 DER: PBES2 with PBKDF2-HMAC-SHA256
    /// (600,000 iterations, OWASP 2023) and AES-256-CBC (RFC 8018), which
    /// OpenSSL, Python `cryptography`, Java and Go all read.
    pub fn private_key_encrypted_der<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        password: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let plain = self.private_key_der()?;
        let info = PrivateKeyInfoRef::from_der(&plain).map_err(|_| KeyError::Encode {
            what: "private key",
        })?;
        let params = pkcs5::pbes2::Parameters::generate_pbkdf2(&mut &mut *rng)
            .map_err(|_| KeyError::Random)?;
        let doc = info
            .encrypt_with_params(params, password)
            .map_err(|_| KeyError::Encode {
                what: "private key",
            })?;
        Ok(doc.to_bytes())
    }

    /// The private key as encrypted PKCS#8 PEM (`BEGIN ENCRYPTED PRIVATE KEY`);
    /// see [`Self::private_key_encrypted_der`].
    pub fn private_key_encrypted_pem<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        password: &[u8],
    ) -> Result<Zeroizing<String>, KeyError> {
        let der = self.private_key_encrypted_der(rng, password)?;
        der::pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, &der)
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Encode {
                what: "private key",
            })
    }
}
