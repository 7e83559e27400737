//! Secrets at rest under one master key (envelope encryption).
//!
//! Each secret column of a server ([`SecretField`]) is sealed with
//! AES-256-GCM (NIST SP 800-38D) under the store's 32-byte master key, with a
//! fresh random 96-bit nonce. The authenticated data binds the ciphertext to
//! its place: `"mdmlink secret v1" || store id (16 bytes) || organization id
//! (8 bytes, big endian) || server id (8 bytes, big endian) || field tag`, so
//! a ciphertext copied to another server, organization, column or store does
//! not open.
//!
//! The master key is either 32 random bytes (a key file or an environment
//! variable, as hex or base64), or derived from a passphrase with scrypt
//! (RFC 7914; N = 2^17, r = 8, p = 1 by default: 128 MiB, about half a second)
//! once per process. The store keeps the KDF's salt and parameters and a
//! check value (a sealed constant) in its meta table ([`META_MASTER_KEY`]),
//! so a wrong passphrase or key gets a clear error before any secret is read.
//!
//! An organization's API account key ([`Sealer::seal_api_key`]) is bound to
//! its own row: `"mdmlink api key v1" || store id || organization id || "api_private_key"`.
//! Its label differs from a server secret's from the ninth byte on, so no
//! server's authenticated data can equal it: an API key cannot be moved into
//! a server's column, nor into another organization's API account.
//!
//! Sealed blob layout: `"MK1" || nonce (12) || ciphertext || tag (16)`. A
//! store without a master key keeps `"PT1" || plaintext` (and says so), which
//! a store with a master key refuses to read.

use core::fmt;

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{META_MASTER_KEY, OrganizationId, SealedSecret, SecretField, ServerId};
use crate::SecretString;

const SEALED_PREFIX: &[u8; 3] = b"MK1";
const PLAIN_PREFIX: &[u8; 3] = b"PT1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"mdmlink secret v1";
const API_KEY_AAD_LABEL: &[u8] = b"mdmlink api key v1";
const CHECK_PLAINTEXT: &[u8] = b"mdmlink master key check v1";

/// Why a master key could not be made, checked or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// A key file or variable does not hold 32 bytes (raw, hex or base64).
    #[error(
        "{source_name}: a master key is 32 random bytes, given raw (a 32-byte file) or as 64 hex digits or base64"
    )]
    Format {
        /// Where it came from (a file or variable name).
        source_name: String,
    },
    /// The passphrase or key does not open the store's check value.
    #[error("the master key does not match this store (wrong passphrase or key file)")]
    Wrong,
    /// The store's secrets are encrypted and no master key was given.
    #[error("this store's secrets are encrypted; give its master key (the key, or the passphrase)")]
    Required,
    /// The stored KDF parameters are unknown or out of bounds.
    #[error("the store's master key parameters are invalid: {0}")]
    Params(String),
    /// A secret did not open (it was moved, altered, or sealed under another key).
    #[error(
        "the {field} of server {server} (organization {organization}) could not be decrypted: it was altered or moved from another row"
    )]
    Open {
        /// The column.
        field: SecretField,
        /// The organization's id.
        organization: OrganizationId,
        /// The server's id.
        server: ServerId,
    },
    /// An organization's API account key did not open (it was moved,
    /// altered, or sealed under another key).
    #[error(
        "the API account's private key of organization {organization} could not be decrypted: it was altered or moved from another row"
    )]
    ApiKeyOpen {
        /// The organization's id.
        organization: OrganizationId,
    },
    /// An organization's API account key is not in a format this store
    /// accepts.
    #[error(
        "the API account's private key of organization {organization} is not in a format this store accepts ({reason})"
    )]
    ApiKeyFormat {
        /// The organization's id.
        organization: OrganizationId,
        /// What was found.
        reason: &'static str,
    },
    /// A plaintext secret in a store that has a master key (or the reverse
    /// format is unknown).
    #[error("the {field} of server {server} is not in a format this store accepts ({reason})")]
    SecretFormat {
        /// The column.
        field: SecretField,
        /// The server's id.
        server: ServerId,
        /// What was found.
        reason: &'static str,
    },
    /// The store is keyed one way (a key, a passphrase) and the other was
    /// given. Nothing is wrong with the store.
    #[error("this store is locked with {store_uses}, but {given} was given; give that instead")]
    KindMismatch {
        /// What the store uses.
        store_uses: &'static str,
        /// What was given.
        given: &'static str,
    },
    /// A new passphrase is too short to protect the store's keys.
    #[error(
        "a new passphrase must have at least {min} characters (this one has {chars}); longer is better, or use a random master key"
    )]
    PassphraseTooShort {
        /// Its length in characters.
        chars: usize,
        /// The minimum.
        min: usize,
    },
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
}

/// A 32-byte AES-256 master key. Zeroized on drop; `Debug` redacts it.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// 32 fresh random bytes from the operating system.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut()).map_err(|_| MasterKeyError::Random)?;
        Ok(Self(k))
    }

    /// A key from a file's or variable's content: exactly 32 raw bytes, or
    /// text (surrounding white space ignored) of 64 hex digits or the base64
    /// of 32 bytes. `source_name` names it in errors.
    pub fn parse(content: &[u8], source_name: &str) -> Result<Self, MasterKeyError> {
        let err = || MasterKeyError::Format {
            source_name: source_name.to_owned(),
        };
        if content.len() == 32
            && std::str::from_utf8(content).map_or(true, |t| t.trim().len() != 32)
        {
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(content);
            return Ok(Self(k));
        }
        let text = std::str::from_utf8(content).map_err(|_| err())?.trim();
        let mut k = Zeroizing::new([0u8; 32]);
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, pair) in text.as_bytes().chunks(2).enumerate() {
                let hex = std::str::from_utf8(pair).map_err(|_| err())?;
                k[i] = u8::from_str_radix(hex, 16).map_err(|_| err())?;
            }
            return Ok(Self(k));
        }
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| err())?,
        );
        if decoded.len() != 32 {
            return Err(err());
        }
        k.copy_from_slice(&decoded);
        Ok(Self(k))
    }

    /// The key as 64 lower-case hex digits (what `mdmlink store keygen` prints).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::encoding::hex_lower(&self.0[..]))
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: &[u8; 32] = &self.0;
        Aes256Gcm::new(key.into())
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MasterKeySource {
    /// A passphrase, stretched with scrypt under the store's salt.
    Passphrase(SecretString),
    /// 32 random bytes.
    Key(MasterKey),
}

/// scrypt cost parameters (RFC 7914 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// The default: N = 2^17, r = 8, p = 1 (OWASP's scrypt recommendation;
    /// 128 MiB of memory).
    pub const DEFAULT: KdfParams = KdfParams {
        log_n: 17,
        r: 8,
        p: 1,
    };

    fn check(self) -> Result<scrypt::Params, MasterKeyError> {
        // Bounds keep a hostile store from asking for unbounded memory or time.
        if !(10..=20).contains(&self.log_n)
            || !(1..=16).contains(&self.r)
            || !(1..=4).contains(&self.p)
        {
            return Err(MasterKeyError::Params(format!(
                "scrypt log_n {} r {} p {} is outside log_n 10..=20, r 1..=16, p 1..=4",
                self.log_n, self.r, self.p
            )));
        }
        scrypt::Params::new(self.log_n, self.r, self.p)
            .map_err(|e| MasterKeyError::Params(e.to_string()))
    }
}

/// What the store's meta table keeps about its master key: never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyRecord {
    /// `scrypt` (from a passphrase) or `raw` (32 random bytes).
    pub kdf: String,
    /// scrypt parameters (for `scrypt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<KdfParams>,
    /// scrypt salt, base64 (for `scrypt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// A constant sealed under the key (base64), to tell a wrong key at once.
    pub check: String,
}

impl MasterKeyRecord {
    /// Parses the meta value.
    pub fn from_meta(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        serde_json::from_slice(bytes).map_err(|e| MasterKeyError::Params(e.to_string()))
    }

    /// The meta value.
    pub fn to_meta(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The meta key it lives under.
    pub const META_KEY: &'static str = META_MASTER_KEY;
}

/// Derives (for a passphrase) and checks the key against `record`.
pub fn unlock(
    source: &MasterKeySource,
    record: &MasterKeyRecord,
    store_id: &[u8; 16],
) -> Result<MasterKey, MasterKeyError> {
    let key = match (source, record.kdf.as_str()) {
        (MasterKeySource::Passphrase(pass), "scrypt") => {
            let params = record
                .params
                .ok_or_else(|| MasterKeyError::Params("no scrypt parameters".into()))?;
            let salt = base64::engine::general_purpose::STANDARD
                .decode(record.salt.as_deref().unwrap_or_default())
                .map_err(|e| MasterKeyError::Params(format!("salt: {e}")))?;
            derive(pass, &salt, params)?
        }
        (MasterKeySource::Key(k), "raw") => k.clone(),
        (MasterKeySource::Passphrase(_), "raw") => {
            return Err(MasterKeyError::KindMismatch {
                store_uses: "a 32-byte master key",
                given: "a passphrase",
            });
        }
        (MasterKeySource::Key(_), "scrypt") => {
            return Err(MasterKeyError::KindMismatch {
                store_uses: "a passphrase",
                given: "a 32-byte master key",
            });
        }
        (_, other) => return Err(MasterKeyError::Params(format!("unknown KDF {other:?}"))),
    };
    let check = base64::engine::general_purpose::STANDARD
        .decode(&record.check)
        .map_err(|e| MasterKeyError::Params(format!("check value: {e}")))?;
    let aad = [AAD_LABEL, b"check", store_id.as_slice()].concat();
    let opened = open_raw(&key, &check, &aad).ok_or(MasterKeyError::Wrong)?;
    if opened.as_slice() != CHECK_PLAINTEXT {
        return Err(MasterKeyError::Wrong);
    }
    Ok(key)
}

/// Makes a new record (fresh salt for a passphrase) and the key it checks.
pub fn enroll(
    source: &MasterKeySource,
    params: KdfParams,
    store_id: &[u8; 16],
) -> Result<(MasterKey, MasterKeyRecord), MasterKeyError> {
    let (key, kdf, params, salt) = match source {
        MasterKeySource::Passphrase(pass) => {
            let chars = pass.expose().chars().count();
            if chars < MIN_PASSPHRASE_CHARS {
                return Err(MasterKeyError::PassphraseTooShort {
                    chars,
                    min: MIN_PASSPHRASE_CHARS,
                });
            }
            let mut salt = [0u8; 16];
            getrandom::fill(&mut salt).map_err(|_| MasterKeyError::Random)?;
            let key = derive(pass, &salt, params)?;
            (
                key,
                "scrypt",
                Some(params),
                Some(base64::engine::general_purpose::STANDARD.encode(salt)),
            )
        }
        MasterKeySource::Key(k) => (k.clone(), "raw", None, None),
    };
    let aad = [AAD_LABEL, b"check", store_id.as_slice()].concat();
    let check = seal_raw(&key, CHECK_PLAINTEXT, &aad)?;
    Ok((
        key,
        MasterKeyRecord {
            kdf: kdf.into(),
            params,
            salt,
            check: base64::engine::general_purpose::STANDARD.encode(check),
        },
    ))
}

/// The fewest characters a new passphrase may have (an existing store
/// opens with whatever passphrase it was made with).
pub const MIN_PASSPHRASE_CHARS: usize = 12;

#[cfg(test)]
thread_local! {
    /// Passphrase derivations on this thread (tests count them).
    pub(crate) static DERIVATIONS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

fn derive(
    pass: &SecretString,
    salt: &[u8],
    params: KdfParams,
) -> Result<MasterKey, MasterKeyError> {
    #[cfg(test)]
    DERIVATIONS.with(|d| d.set(d.get() + 1));
    let p = params.check()?;
    let mut k = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(pass.expose().as_bytes(), salt, &p, k.as_mut())
        .map_err(|e| MasterKeyError::Params(e.to_string()))?;
    Ok(MasterKey(k))
}

fn seal_raw(key: &MasterKey, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| MasterKeyError::Random)?;
    let ct = key
        .cipher()
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| MasterKeyError::Random)?;
    Ok([nonce.as_slice(), &ct].concat())
}

fn open_raw(key: &MasterKey, blob: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    key.cipher()
        .decrypt((&nonce).into(), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Seals and opens one store's secrets: its id, and its master key when it
/// has one.
#[derive(Debug, Clone)]
pub struct Sealer {
    store_id: [u8; 16],
    key: Option<MasterKey>,
}

impl Sealer {
    /// A sealer for the store `store_id`; `None` keeps secrets in plaintext
    /// form (a store without a master key).
    pub fn new(store_id: [u8; 16], key: Option<MasterKey>) -> Self {
        Self { store_id, key }
    }

    /// `true` when secrets are encrypted.
    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    fn aad(&self, organization: OrganizationId, server: ServerId, field: SecretField) -> Vec<u8> {
        [
            AAD_LABEL,
            self.store_id.as_slice(),
            &organization.to_be_bytes(),
            &server.to_be_bytes(),
            field.tag().as_bytes(),
        ]
        .concat()
    }

    /// Seals `plaintext` for `field` of server `server` in `organization`.
    pub fn seal(
        &self,
        organization: OrganizationId,
        server: ServerId,
        field: SecretField,
        plaintext: &[u8],
    ) -> Result<SealedSecret, MasterKeyError> {
        match &self.key {
            Some(key) => {
                let blob = seal_raw(key, plaintext, &self.aad(organization, server, field))?;
                Ok(SealedSecret::from_bytes(
                    [SEALED_PREFIX.as_slice(), &blob].concat(),
                ))
            }
            None => Ok(SealedSecret::from_bytes(
                [PLAIN_PREFIX.as_slice(), plaintext].concat(),
            )),
        }
    }

    fn api_key_aad(&self, organization: OrganizationId) -> Vec<u8> {
        [
            API_KEY_AAD_LABEL,
            self.store_id.as_slice(),
            &organization.to_be_bytes(),
            SecretField::ApiPrivateKey.tag().as_bytes(),
        ]
        .concat()
    }

    /// Seals `plaintext` (a PKCS#8 DER key) as the API account key of
    /// `organization`.
    pub fn seal_api_key(
        &self,
        organization: OrganizationId,
        plaintext: &[u8],
    ) -> Result<SealedSecret, MasterKeyError> {
        match &self.key {
            Some(key) => {
                let blob = seal_raw(key, plaintext, &self.api_key_aad(organization))?;
                Ok(SealedSecret::from_bytes(
                    [SEALED_PREFIX.as_slice(), &blob].concat(),
                ))
            }
            None => Ok(SealedSecret::from_bytes(
                [PLAIN_PREFIX.as_slice(), plaintext].concat(),
            )),
        }
    }

    /// Opens what [`Self::seal_api_key`] sealed for the same organization.
    pub fn open_api_key(
        &self,
        organization: OrganizationId,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let bytes = sealed.as_bytes();
        let format = |reason| MasterKeyError::ApiKeyFormat {
            organization,
            reason,
        };
        match (bytes.get(..3), &self.key) {
            (Some(p), Some(key)) if p == SEALED_PREFIX => {
                open_raw(key, &bytes[3..], &self.api_key_aad(organization))
                    .ok_or(MasterKeyError::ApiKeyOpen { organization })
            }
            (Some(p), None) if p == SEALED_PREFIX => Err(MasterKeyError::Required),
            (Some(p), None) if p == PLAIN_PREFIX => Ok(Zeroizing::new(bytes[3..].to_vec())),
            (Some(p), Some(_)) if p == PLAIN_PREFIX => Err(format(
                "plaintext in a store with a master key; restore the store from a backup",
            )),
            _ => Err(format("unknown secret format")),
        }
    }

    /// Opens what [`Self::seal`] sealed for the same place.
    pub fn open(
        &self,
        organization: OrganizationId,
        server: ServerId,
        field: SecretField,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let bytes = sealed.as_bytes();
        let format = |reason| MasterKeyError::SecretFormat {
            field,
            server,
            reason,
        };
        match (bytes.get(..3), &self.key) {
            (Some(p), Some(key)) if p == SEALED_PREFIX => {
                open_raw(key, &bytes[3..], &self.aad(organization, server, field)).ok_or(
                    MasterKeyError::Open {
                        field,
                        organization,
                        server,
                    },
                )
            }
            (Some(p), None) if p == SEALED_PREFIX => Err(MasterKeyError::Required),
            (Some(p), None) if p == PLAIN_PREFIX => Ok(Zeroizing::new(bytes[3..].to_vec())),
            (Some(p), Some(_)) if p == PLAIN_PREFIX => Err(format(
                "plaintext in a store with a master key; restore the store from a backup",
            )),
            _ => Err(format("unknown secret format")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_PARAMS: KdfParams = KdfParams {
        log_n: 10,
        r: 8,
        p: 1,
    };

    #[test]
    fn seals_bound_to_store_org_server_and_field() {
        let key = MasterKey::generate().unwrap();
        let a = Sealer::new([1; 16], Some(key.clone()));
        let sealed = a.seal(3, 7, SecretField::PrivateKey, b"secret").unwrap();
        assert!(!sealed.as_bytes().windows(6).any(|w| w == b"secret"));
        assert_eq!(
            a.open(3, 7, SecretField::PrivateKey, &sealed)
                .unwrap()
                .as_slice(),
            b"secret"
        );
        for (org, server, field) in [
            (3, 8, SecretField::PrivateKey),
            (4, 7, SecretField::PrivateKey),
            (3, 7, SecretField::StagedPrivateKey),
        ] {
            assert!(matches!(
                a.open(org, server, field, &sealed),
                Err(MasterKeyError::Open { .. })
            ));
        }
        let other_store = Sealer::new([2; 16], Some(key));
        assert!(
            other_store
                .open(3, 7, SecretField::PrivateKey, &sealed)
                .is_err()
        );
        let other_key = Sealer::new([1; 16], Some(MasterKey::generate().unwrap()));
        assert!(
            other_key
                .open(3, 7, SecretField::PrivateKey, &sealed)
                .is_err()
        );
        // Without the key: a clear error; a plaintext blob is refused by a keyed store.
        let none = Sealer::new([1; 16], None);
        assert_eq!(
            none.open(3, 7, SecretField::PrivateKey, &sealed),
            Err(MasterKeyError::Required)
        );
        let plain = none.seal(3, 7, SecretField::PrivateKey, b"x").unwrap();
        assert!(a.open(3, 7, SecretField::PrivateKey, &plain).is_err());
        assert_eq!(
            none.open(3, 7, SecretField::PrivateKey, &plain)
                .unwrap()
                .as_slice(),
            b"x"
        );
        // A flipped bit anywhere fails.
        let mut bytes = sealed.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(
            a.open(
                3,
                7,
                SecretField::PrivateKey,
                &SealedSecret::from_bytes(bytes)
            )
            .is_err()
        );
    }

    #[test]
    fn an_api_key_is_bound_to_its_organization_and_its_row_kind() {
        let key = MasterKey::generate().unwrap();
        let a = Sealer::new([1; 16], Some(key.clone()));
        let sealed = a.seal_api_key(3, b"pkcs8 key bytes").unwrap();
        assert!(
            !sealed
                .as_bytes()
                .windows(15)
                .any(|w| w == b"pkcs8 key bytes")
        );
        assert_eq!(
            a.open_api_key(3, &sealed).unwrap().as_slice(),
            b"pkcs8 key bytes"
        );
        assert_eq!(
            a.open_api_key(4, &sealed),
            Err(MasterKeyError::ApiKeyOpen { organization: 4 })
        );
        // Not a server secret of the same organization, whatever the server.
        for server in [0, 3] {
            for field in SecretField::ALL
                .into_iter()
                .chain([SecretField::ApiPrivateKey])
            {
                assert!(a.open(3, server, field, &sealed).is_err());
            }
        }
        // And a server secret is not an API key.
        let server_key = a.seal(3, 0, SecretField::ApiPrivateKey, b"x").unwrap();
        assert!(a.open_api_key(3, &server_key).is_err());
        let other_store = Sealer::new([2; 16], Some(key));
        assert!(other_store.open_api_key(3, &sealed).is_err());
        let none = Sealer::new([1; 16], None);
        assert_eq!(none.open_api_key(3, &sealed), Err(MasterKeyError::Required));
        let plain = none.seal_api_key(3, b"x").unwrap();
        assert!(matches!(
            a.open_api_key(3, &plain),
            Err(MasterKeyError::ApiKeyFormat {
                organization: 3,
                ..
            })
        ));
        assert_eq!(none.open_api_key(3, &plain).unwrap().as_slice(), b"x");
    }

    #[test]
    fn passphrase_enroll_unlock_and_wrong_passphrase() {
        let id = [9u8; 16];
        let good = MasterKeySource::Passphrase(SecretString::new("correct horse".into()));
        let (key, record) = enroll(&good, TEST_PARAMS, &id).unwrap();
        let again = unlock(
            &good,
            &MasterKeyRecord::from_meta(&record.to_meta()).unwrap(),
            &id,
        )
        .unwrap();
        assert_eq!(key.to_hex(), again.to_hex());
        let bad = MasterKeySource::Passphrase(SecretString::new("wrong horse".into()));
        assert_eq!(
            unlock(&bad, &record, &id).unwrap_err(),
            MasterKeyError::Wrong
        );
        // The check is bound to the store id.
        assert_eq!(
            unlock(&good, &record, &[8; 16]).unwrap_err(),
            MasterKeyError::Wrong
        );
        // A hostile record cannot ask for unbounded work.
        let mut greedy = record.clone();
        greedy.params = Some(KdfParams {
            log_n: 40,
            r: 8,
            p: 1,
        });
        assert!(matches!(
            unlock(&good, &greedy, &id),
            Err(MasterKeyError::Params(_))
        ));
    }

    #[test]
    fn key_text_forms() {
        let key = MasterKey::generate().unwrap();
        let hex = key.to_hex();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0.as_ref());
        for text in [
            hex.as_bytes().to_vec(),
            format!("{}\n", b64).into_bytes(),
            key.0.to_vec(),
        ] {
            assert_eq!(MasterKey::parse(&text, "t").unwrap().to_hex(), hex);
        }
        for bad in [&b"short"[..], &[b'a'; 63][..], &[0u8; 31][..]] {
            assert!(matches!(
                MasterKey::parse(bad, "t"),
                Err(MasterKeyError::Format { .. })
            ));
        }
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}
