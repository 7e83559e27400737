//! CMS EnvelopedData (RFC 5652 §6): find our recipient, unwrap the content
//! key with RSA PKCS #1 v1.5 (RFC 8017 §7.2), decrypt the content with CBC.
//!
//! # No padding oracle
//! `rsa` 0.10 decrypts PKCS #1 v1.5 with implicit rejection
//! (draft-irtf-cfrg-rsa-guidance): a ciphertext with bad padding yields a
//! deterministic pseudo-random "key" instead of an error, so the RSA step
//! itself reveals nothing (the Marvin attack). The recipient is matched by
//! issuer and serial (or subject key identifier) *before* any private-key
//! operation, and every later failure (wrong key length for the cipher, bad
//! CBC padding) is the single [`TokenError::Decrypt`].

use cms::{
    content_info::{CmsVersion, ContentInfo},
    enveloped_data::{
        EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier,
        RecipientInfo, RecipientInfos,
    },
};
use der::{
    Decode, Encode, EncodingRules,
    asn1::{Any, ObjectIdentifier, OctetString, SetOfVec},
};
use rand_core::TryCryptoRng;
use rsa::PrivateKey as RsaPrivateKey;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{RecipientDescription, TokenError, cipher::ContentCipher};
use crate::encoding::hex_upper;
use crate::keypair::{ServerCertificate, ServerKey};

/// `id-envelopedData`, RFC 5652 §6.1.
pub const ID_ENVELOPED_DATA: ObjectIdentifier = const_oid::db::rfc5911::ID_ENVELOPED_DATA;
/// `id-data`, RFC 5652 §4.
pub const ID_DATA: ObjectIdentifier = const_oid::db::rfc5911::ID_DATA;
/// `rsaEncryption`, RFC 8017 Appendix A.1 (PKCS #1 v1.5 key transport, RFC 3370 §4.2.1).
pub const RSA_ENCRYPTION: ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;

/// How many key-transport recipients are tried when the keypair has no
/// certificate to match against. Apple issues tokens to exactly one.
pub const MAX_BLIND_RECIPIENTS: usize = 4;

fn malformed(reason: impl Into<String>) -> TokenError {
    TokenError::Malformed {
        reason: reason.into(),
    }
}

/// A parsed EnvelopedData, ready to decrypt.
struct Parsed {
    recipients: Vec<KeyTransRecipientInfo>,
    cipher: ContentCipher,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn parse(cms: &[u8]) -> Result<Parsed, TokenError> {
    // Apple's tokens are BER with indefinite lengths; BER rules accept DER too.
    let info = ContentInfo::from_ber(cms)
        .map_err(|e| malformed(format!("not a CMS ContentInfo ({})", e.kind())))?;
    if info.content_type != ID_ENVELOPED_DATA {
        return Err(malformed(format!(
            "the CMS content is {}, not EnvelopedData (1.2.840.113549.1.7.3)",
            info.content_type
        )));
    }
    let env: EnvelopedData = info
        .content
        .decode_as_encoding(EncodingRules::Ber)
        .map_err(|e: der::Error| malformed(format!("invalid EnvelopedData ({})", e.kind())))?;

    let eci = &env.encrypted_content;
    let cipher = ContentCipher::from_oid(&eci.content_enc_alg.oid).ok_or_else(|| {
        TokenError::UnsupportedCipher {
            oid: eci.content_enc_alg.oid.to_string(),
        }
    })?;
    let iv = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec())
        .filter(|iv| iv.len() == cipher.iv_len())
        .ok_or_else(|| {
            malformed(format!(
                "the {} parameters are not a {}-byte IV",
                cipher.name(),
                cipher.iv_len()
            ))
        })?;
    let ciphertext = eci
        .encrypted_content
        .as_ref()
        .map(|c| c.as_bytes().to_vec())
        .ok_or_else(|| {
            malformed(
                "the EnvelopedData has no encrypted content (detached content is not supported)",
            )
        })?;

    let mut recipients = Vec::new();
    let mut other_kinds = 0usize;
    for ri in env.recip_infos.0.into_vec() {
        match ri {
            RecipientInfo::Ktri(k) => recipients.push(k),
            _ => other_kinds += 1,
        }
    }
    if recipients.is_empty() {
        return Err(malformed(format!(
            "the token has no RSA key-transport recipient ({other_kinds} recipient(s) of other kinds)"
        )));
    }
    Ok(Parsed {
        recipients,
        cipher,
        iv,
        ciphertext,
    })
}

fn describe(rid: &RecipientIdentifier) -> RecipientDescription {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => RecipientDescription::IssuerAndSerial {
            issuer: ias.issuer.to_string(),
            serial: hex_upper(ias.serial_number.as_bytes()),
        },
        RecipientIdentifier::SubjectKeyIdentifier(ski) => RecipientDescription::SubjectKeyId {
            key_id: hex_upper(ski.0.as_bytes()),
        },
    }
}

fn matches(rid: &RecipientIdentifier, cert: &ServerCertificate) -> bool {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => {
            ias.serial_number.as_bytes() == cert.serial() && &ias.issuer == cert.issuer_name()
        }
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            cert.subject_key_id().as_deref() == Some(ski.0.as_bytes())
        }
    }
}

/// Unwraps a content-encryption key with RSA PKCS #1 v1.5 (RFC 8017 §7.2.2),
/// with blinding from `rng` and implicit rejection: a bad ciphertext yields a
/// deterministic pseudo-random value rather than an error. Callers must treat
/// the result as untrusted until the content decrypts and validates.
///
/// This is the exact path [`open`] uses; it is public so test suites
/// (Wycheproof) can exercise it.
pub fn unwrap_content_key<R: TryCryptoRng + ?Sized>(
    key: &RsaPrivateKey,
    rng: &mut R,
    encrypted_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    crate::keypair::rsa_decrypt_pkcs1v15(key, rng, encrypted_key).map_err(|_| TokenError::Decrypt)
}

fn try_recipient<K: ServerKey, R: TryCryptoRng + ?Sized>(
    parsed: &Parsed,
    ktri: &KeyTransRecipientInfo,
    key: &K,
    rng: &mut R,
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let cek = key
        .decrypt_pkcs1v15(rng, ktri.enc_key.as_bytes())
        .map_err(|_| TokenError::Decrypt)?;
    if cek.len() != parsed.cipher.key_len() {
        return Err(TokenError::Decrypt);
    }
    parsed
        .cipher
        .decrypt(&cek, &parsed.iv, &parsed.ciphertext)
        .map_err(|_| TokenError::Decrypt)
}

/// Decrypts a CMS EnvelopedData (DER or BER) addressed to `keypair` (a
/// [`ServerKey`]: a [`crate::ServerKeypair`] or a key held elsewhere) and
/// returns the plaintext content.
///
/// With a certificate, the recipient must name it (issuer and serial, or
/// subject key identifier), or the error is [`TokenError::WrongRecipient`],
/// decided before any private-key operation. Without one, up to
/// [`MAX_BLIND_RECIPIENTS`] RSA recipients are tried.
pub fn open<K: ServerKey, R: TryCryptoRng + ?Sized>(
    cms: &[u8],
    keypair: &K,
    rng: &mut R,
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let parsed = parse(cms)?;
    let key = keypair;
    let rsa_recipients = || {
        parsed
            .recipients
            .iter()
            .filter(|k| k.key_enc_alg.oid == RSA_ENCRYPTION)
    };
    match keypair.certificate() {
        Some(cert) => {
            let Some(ktri) = parsed.recipients.iter().find(|k| matches(&k.rid, cert)) else {
                return Err(TokenError::WrongRecipient {
                    token_recipients: parsed
                        .recipients
                        .iter()
                        .take(8)
                        .map(|k| describe(&k.rid))
                        .collect(),
                    our_certificates: vec![RecipientDescription::IssuerAndSerial {
                        issuer: cert.issuer(),
                        serial: cert.serial_hex(),
                    }],
                });
            };
            if ktri.key_enc_alg.oid != RSA_ENCRYPTION {
                return Err(TokenError::UnsupportedKeyTransport {
                    oid: ktri.key_enc_alg.oid.to_string(),
                });
            }
            try_recipient(&parsed, ktri, key, rng)
        }
        None => {
            if rsa_recipients().next().is_none() {
                let oid = parsed.recipients[0].key_enc_alg.oid.to_string();
                return Err(TokenError::UnsupportedKeyTransport { oid });
            }
            for ktri in rsa_recipients().take(MAX_BLIND_RECIPIENTS) {
                if let Ok(plain) = try_recipient(&parsed, ktri, key, rng) {
                    return Ok(plain);
                }
            }
            Err(TokenError::Decrypt)
        }
    }
}

/// The recipients a token is addressed to, without decrypting anything.
pub fn recipients(cms: &[u8]) -> Result<Vec<RecipientDescription>, TokenError> {
    Ok(parse(cms)?
        .recipients
        .iter()
        .map(|k| describe(&k.rid))
        .collect())
}

/// Encrypts `content` to `certificate` as a DER CMS EnvelopedData: one
/// KeyTransRecipientInfo naming the certificate by issuer and serial,
/// RSA PKCS #1 v1.5 key transport, `cipher` for the content, fresh key and IV
/// from `rng`.
pub fn seal<R: TryCryptoRng + ?Sized>(
    content: &[u8],
    certificate: &ServerCertificate,
    cipher: ContentCipher,
    rng: &mut R,
) -> Result<Vec<u8>, TokenError> {
    let encode = |_| TokenError::Seal {
        reason: "could not encode the EnvelopedData",
    };
    let mut cek = Zeroizing::new(vec![0u8; cipher.key_len()]);
    let mut iv = vec![0u8; cipher.iv_len()];
    rng.try_fill_bytes(&mut cek)
        .map_err(|_| TokenError::Random)?;
    rng.try_fill_bytes(&mut iv)
        .map_err(|_| TokenError::Random)?;
    let ciphertext = cipher
        .encrypt(&cek, &iv, content)
        .map_err(|_| TokenError::Seal {
            reason: "content encryption failed",
        })?;
    let public = certificate.public_key().map_err(|_| TokenError::Seal {
        reason: "the certificate's RSA key is unreadable",
    })?;
    let enc_key = public
        .pkcs1v15_encrypt_with_rng(rng, &cek)
        .map_err(|_| TokenError::Seal {
            reason: "RSA key transport failed",
        })?;

    let ktri = KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
            issuer: certificate.issuer_name().clone(),
            serial_number: certificate.serial_number().clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: OctetString::new(enc_key).map_err(encode)?,
    };
    let mut recip = SetOfVec::new();
    recip.insert(RecipientInfo::Ktri(ktri)).map_err(encode)?;
    let env = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(recip),
        encrypted_content: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(
                    Any::encode_from(&OctetString::new(iv).map_err(encode)?).map_err(encode)?,
                ),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(encode)?),
        },
        unprotected_attrs: None,
    };
    let info = ContentInfo {
        content_type: ID_ENVELOPED_DATA,
        content: Any::encode_from(&env).map_err(encode)?,
    };
    info.to_der().map_err(encode)
}
