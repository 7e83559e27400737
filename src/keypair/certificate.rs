//! The certificate uploaded to the portal: parsing ([`ServerCertificate`])
//! and building a self-signed one (serial, subject, validity, extensions).

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
use rand_core::TryCryptoRng;
use rsa::PublicKey as RsaPublicKey;
use sha2::{Digest, Sha256};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
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

use super::{KeyError, ServerKeypair};
use crate::encoding::{hex_upper, pem_blocks};

/// How long a generated certificate is valid, by default: five years.
///
/// Tokens expire yearly whatever the certificate says; the certificate only has
/// to outlive the key. A new certificate means a new key, a new upload and a
/// new token, so a long validity avoids forced rotations, and
/// [`ServerCertificate::not_after`] is reported by the expiry policy so it never
/// lapses unnoticed.
pub const DEFAULT_CERTIFICATE_VALIDITY: Duration = Duration::days(5 * 365 + 1);

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

/// What to put in a generated certificate: `CertificateParams::new(name, now)`,
/// then `.with_validity(..)` to change how long it is valid.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

    /// How long the certificate is valid (from `not_before`).
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
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

pub(super) fn common_name(cn: &str) -> Result<Name, KeyError> {
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

impl ServerKeypair {
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
}
