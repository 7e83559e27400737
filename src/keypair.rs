//! The server's RSA keypair and the public key certificate uploaded to the portal.
//!
//! The portal encrypts each server token to the certificate's public key
//! (RFC 5652 §6.2.1, key transport), and names the recipient by the
//! certificate's issuer and serial number. The same private key later signs
//! Access Management JWTs, so it must be kept, not regenerated.

use core::fmt;

use der::{
    Decode, Encode,
    asn1::{Any, ObjectIdentifier, OctetString},
    pem::LineEnding,
};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rand_core::TryCryptoRng;
use rsa::{
    PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey, pkcs1::DecodeRsaPrivateKey,
    traits::PublicKeyParts,
};
use sha2::{Digest, Sha256};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use time::{Duration, OffsetDateTime};
use x509_cert::{
    Certificate,
    builder::{Builder, CertificateBuilder, profile::BuilderProfile},
    certificate::TbsCertificate,
    ext::{
        Extension,
        pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier},
    },
    name::{Name, RdnSequence, RelativeDistinguishedName},
    serial_number::SerialNumber,
    time::{Time, Validity},
};
use zeroize::Zeroizing;

/// How long a generated certificate is valid, by default: five years.
///
/// Tokens expire yearly whatever the certificate says; the certificate only has
/// to outlive the key. A new certificate means a new key, a new upload and a
/// new token, so a long validity avoids forced rotations, and
/// [`ServerCertificate::not_after`] is reported by the expiry policy so it never
/// lapses unnoticed.
pub const DEFAULT_CERTIFICATE_VALIDITY: Duration = Duration::days(5 * 365 + 1);

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

/// The public key certificate of a server: what the admin uploads to the portal.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    cert: Certificate,
    der: Vec<u8>,
}

impl ServerCertificate {
    /// Parses a DER-encoded X.509 certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = Certificate::from_der(der).map_err(|e| KeyError::Certificate {
            reason: format!("not a DER X.509 certificate ({e})"),
        })?;
        Self::from_parsed(cert)
    }

    /// Parses the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let blocks = pem_blocks(pem);
        let Some(block) = blocks.iter().find(|b| b.label == "CERTIFICATE") else {
            return Err(KeyError::Certificate {
                reason: "no BEGIN CERTIFICATE block found".into(),
            });
        };
        let der = block.decode().map_err(|_| KeyError::Certificate {
            reason: "the CERTIFICATE block is not valid base64".into(),
        })?;
        Self::from_der(&der)
    }

    /// Parses PEM or DER, whichever `bytes` holds.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.first() == Some(&0x30) {
            Self::from_der(bytes)
        } else {
            Self::from_pem(bytes)
        }
    }

    fn from_parsed(cert: Certificate) -> Result<Self, KeyError> {
        let spki = cert.tbs_certificate().subject_public_key_info();
        if spki.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
            return Err(KeyError::Certificate {
                reason: format!(
                    "the certificate's key is not RSA (algorithm {})",
                    spki.algorithm.oid
                ),
            });
        }
        let der = cert.to_der().map_err(|_| KeyError::Encode {
            what: "certificate",
        })?;
        Ok(Self { cert, der })
    }

    /// The DER encoding.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`BEGIN CERTIFICATE`, LF line endings).
    pub fn to_pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &self.der).unwrap_or_default()
    }

    /// The serial number's bytes, big-endian, as encoded.
    pub fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// The serial number in upper-case hex, as OpenSSL prints it.
    pub fn serial_hex(&self) -> String {
        hex_upper(self.serial())
    }

    /// The issuer's distinguished name (RFC 4514).
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    /// The subject's distinguished name (RFC 4514).
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// The subject's common name, if any.
    pub fn common_name(&self) -> Option<String> {
        self.cert
            .tbs_certificate()
            .subject()
            .common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned())
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        x509_time(&self.cert.tbs_certificate().validity().not_before)
    }

    /// End of validity: after this the certificate must be replaced, and with it the key.
    pub fn not_after(&self) -> OffsetDateTime {
        x509_time(&self.cert.tbs_certificate().validity().not_after)
    }

    /// The subject key identifier extension, if present (RFC 5280 §4.2.1.2).
    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        self.cert
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|(_, ski)| ski.0.as_bytes().to_vec())
    }

    /// SHA-256 of the DER certificate, as shown by `openssl x509 -fingerprint -sha256`.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// The fingerprint as colon-separated upper-case hex.
    pub fn sha256_fingerprint_hex(&self) -> String {
        self.sha256_fingerprint()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    pub(crate) fn issuer_name(&self) -> &Name {
        self.cert.tbs_certificate().issuer()
    }

    pub(crate) fn serial_number(&self) -> &SerialNumber {
        self.cert.tbs_certificate().serial_number()
    }

    fn spki_der(&self) -> Option<Vec<u8>> {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()
    }

    /// The certificate's RSA public key.
    pub fn public_key(&self) -> Result<RsaPublicKey, KeyError> {
        let der = self
            .spki_der()
            .ok_or(KeyError::Encode { what: "public key" })?;
        let spki = SubjectPublicKeyInfoRef::from_der(&der).map_err(|e| KeyError::Certificate {
            reason: format!("unreadable public key ({e})"),
        })?;
        RsaPublicKey::try_from(spki).map_err(|e| KeyError::Certificate {
            reason: format!("unreadable RSA public key ({e})"),
        })
    }
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .field("not_after", &self.not_after())
            .finish()
    }
}

fn x509_time(t: &Time) -> OffsetDateTime {
    let secs = t.to_unix_duration().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// What to put in a generated certificate.
#[derive(Debug, Clone)]
pub struct CertificateParams {
    /// Subject and issuer common name; usually the server's name.
    pub common_name: String,
    /// Start of validity. Pass the current time; it is moved back one hour to
    /// tolerate clock skew between this machine and the portal.
    pub not_before: OffsetDateTime,
    /// How long the certificate is valid.
    pub validity: Duration,
}

impl CertificateParams {
    /// Parameters for `common_name`, valid from `now` for [`DEFAULT_CERTIFICATE_VALIDITY`].
    pub fn new(common_name: impl Into<String>, now: OffsetDateTime) -> Self {
        Self {
            common_name: common_name.into(),
            not_before: now,
            validity: DEFAULT_CERTIFICATE_VALIDITY,
        }
    }
}

/// A self-signed end-entity certificate for key transport and signing.
struct SelfSigned {
    name: Name,
}

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.name.clone()
    }

    fn get_subject(&self) -> Name {
        self.name.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
        let ski = sha1::Sha1::digest(spk.subject_public_key.raw_bytes());
        // keyEncipherment: the portal wraps the token's content key with it;
        // digitalSignature: the same key signs Access Management JWTs.
        let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
        let basic = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        };
        let ext =
            |oid: ObjectIdentifier, critical: bool, value: Vec<u8>| -> der::Result<Extension> {
                Ok(Extension {
                    extn_id: oid,
                    critical,
                    extn_value: OctetString::new(value)?,
                })
            };
        Ok(vec![
            ext(
                const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                true,
                basic.to_der()?,
            )?,
            ext(
                const_oid::db::rfc5280::ID_CE_KEY_USAGE,
                true,
                usage.to_der()?,
            )?,
            ext(
                const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                SubjectKeyIdentifier(OctetString::new(ski.to_vec())?).to_der()?,
            )?,
        ])
    }
}

fn common_name(cn: &str) -> Result<Name, KeyError> {
    let bad = |reason: &str| KeyError::Certificate {
        reason: reason.to_owned(),
    };
    let cn = cn.trim();
    if cn.is_empty() {
        return Err(bad("the common name is empty"));
    }
    // RFC 5280 upper bound ub-common-name.
    if cn.chars().count() > 64 {
        return Err(bad(
            "the common name is longer than 64 characters (RFC 5280 ub-common-name)",
        ));
    }
    let value = Any::new(der::Tag::Utf8String, cn.as_bytes())
        .map_err(|_| bad("the common name cannot be encoded"))?;
    let mut rdn = RelativeDistinguishedName::default();
    rdn.insert(x509_cert::attr::AttributeTypeAndValue {
        oid: const_oid::db::rfc4519::CN,
        value,
    })
    .map_err(|_| bad("the common name cannot be encoded"))?;
    let mut seq = RdnSequence::default();
    seq.push(rdn);
    // `Name` has no public constructor from an RdnSequence; they share one encoding.
    seq.to_der()
        .ok()
        .and_then(|der| Name::from_der(&der).ok())
        .ok_or_else(|| bad("the common name cannot be encoded"))
}

/// Shortens a server name to a valid certificate common name (64 characters).
pub fn common_name_for(server_name: &str) -> String {
    server_name.trim().chars().take(64).collect()
}

fn random_serial<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<SerialNumber, KeyError> {
    // 16 random bytes, positive and without a leading zero byte: 127 bits of
    // entropy, more than the 64 the CA/B Forum asks for (RFC 5280 §4.1.2.2 allows 20 bytes).
    let mut bytes = [0u8; 16];
    rng.try_fill_bytes(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    bytes[0] = (bytes[0] & 0x7F) | 0x40;
    SerialNumber::new(&bytes).map_err(|_| KeyError::Encode {
        what: "serial number",
    })
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

    /// Builds a new self-signed certificate for this key (a fresh random
    /// serial), without attaching it. Use it to re-issue an expiring
    /// certificate for the same key.
    pub fn self_signed_certificate<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        params: &CertificateParams,
    ) -> Result<ServerCertificate, KeyError> {
        let name = common_name(&params.common_name)?;
        // Dates near the ends of the calendar are refused, never a panic.
        let out_of_range = || KeyError::Certificate {
            reason: "validity out of range (an X.509 time is from 1970 to 9999)".into(),
        };
        let not_before = params
            .not_before
            .checked_sub(Duration::hours(1))
            .ok_or_else(out_of_range)?;
        let not_after = params
            .not_before
            .checked_add(params.validity)
            .ok_or_else(out_of_range)?;
        let to_time = |t: OffsetDateTime| -> Result<Time, KeyError> {
            let secs = u64::try_from(t.unix_timestamp()).map_err(|_| KeyError::Certificate {
                reason: "validity before 1970".into(),
            })?;
            let dt = der::DateTime::from_unix_duration(core::time::Duration::from_secs(secs))
                .map_err(|_| KeyError::Certificate {
                    reason: "validity out of range".into(),
                })?;
            Ok(Time::from(dt))
        };
        let validity = Validity::new(to_time(not_before)?, to_time(not_after)?);
        let spki = SubjectPublicKeyInfoOwned::from_key(self.key.as_public_key())
            .map_err(|_| KeyError::Encode { what: "public key" })?;
        let serial = random_serial(rng)?;
        let builder = CertificateBuilder::new(SelfSigned { name }, serial, validity, spki)
            .map_err(|e| KeyError::Certificate {
                reason: e.to_string(),
            })?;
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone());
        let cert = builder
            .build::<_, rsa::pkcs1v15::Signature>(&signer)
            .map_err(|e| KeyError::Certificate {
                reason: e.to_string(),
            })?;
        ServerCertificate::from_parsed(cert)
    }

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
        let mut keypair = keypair.ok_or(KeyError::Malformed {
            reason: "no PRIVATE KEY, RSA PRIVATE KEY or ENCRYPTED PRIVATE KEY block found",
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

/// One `-----BEGIN X-----` ... `-----END X-----` block of a PEM text.
pub(crate) struct PemBlock<'a> {
    pub(crate) label: &'a str,
    text: &'a [u8],
    encrypted_legacy: bool,
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

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

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
