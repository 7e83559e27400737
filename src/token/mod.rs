//! Server tokens: the `*_smime.p7m` file the portal serves, and the five
//! OAuth 1.0a credentials inside it.
//!
//! Opening runs one stage per module:
//! [`smime::unarmor`] (file → CMS bytes) →
//! [`envelope::open`] (CMS → plaintext) →
//! [`payload::parse`] (plaintext → [`ServerToken`]).
//! Sealing runs the same stages backwards.

// The pipeline's stages: private, reachable through `crate::hazmat`.
pub(crate) mod cipher;
pub(crate) mod envelope;
pub mod filename;
pub(crate) mod payload;
pub(crate) mod smime;

use core::fmt;

use rand_core::TryCryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeStruct};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub use cipher::ContentCipher;
pub use payload::PayloadError;
pub use smime::MAX_TOKEN_FILE_BYTES;

use crate::{
    SystemRng,
    keypair::{ServerCertificate, ServerKey},
    secret::SecretString,
};

/// How a token names its recipient, or how we name our certificate, for
/// messages: never key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecipientDescription {
    /// Issuer distinguished name and serial number (hex).
    IssuerAndSerial {
        /// Issuer, RFC 4514.
        issuer: String,
        /// Serial number, upper-case hex.
        serial: String,
    },
    /// Subject key identifier (hex).
    SubjectKeyId {
        /// The key identifier, upper-case hex.
        key_id: String,
    },
}

impl fmt::Display for RecipientDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientDescription::IssuerAndSerial { issuer, serial } => {
                write!(f, "certificate serial {serial} (issuer {issuer})")
            }
            RecipientDescription::SubjectKeyId { key_id } => {
                write!(f, "certificate with subject key id {key_id}")
            }
        }
    }
}

fn list(items: &[RecipientDescription]) -> String {
    items
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a token could not be opened or sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The file is larger than any token.
    #[error("the token file is {len} bytes; a token is never larger than {max} bytes")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The outer layer (S/MIME, PEM, base64) is wrong.
    #[error("not a server token file: {reason}")]
    Format {
        /// What was wrong.
        reason: String,
    },
    /// The CMS structure is wrong.
    #[error("the token's CMS structure is invalid: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The content is encrypted with a cipher mdmlink does not support.
    #[error(
        "the token is encrypted with an unsupported cipher ({oid}); supported: AES-128/192/256-CBC, DES-EDE3-CBC"
    )]
    UnsupportedCipher {
        /// The content-encryption algorithm OID.
        oid: String,
    },
    /// The content key is wrapped with something other than RSA PKCS #1 v1.5.
    #[error("the token's key transport ({oid}) is not RSA PKCS #1 v1.5")]
    UnsupportedKeyTransport {
        /// The key-encryption algorithm OID.
        oid: String,
    },
    /// The token names a different certificate than ours.
    #[error("the token was issued to {}, not to this server's {}; upload this server's certificate to the portal and download a new token, or open it with the key it was issued to", list(.token_recipients), list(.our_certificates))]
    WrongRecipient {
        /// Who the token is for.
        token_recipients: Vec<RecipientDescription>,
        /// What it was checked against.
        our_certificates: Vec<RecipientDescription>,
    },
    /// The token could not be decrypted with this key. Deliberately one error
    /// for every cause (wrong key, bad RSA padding, wrong content-key length,
    /// bad CBC padding, and a decrypted payload that does not validate), so
    /// that it is no padding oracle. To diagnose a token you trust, call
    /// [`envelope::open`] and [`payload::parse`] yourself.
    #[error(
        "the token could not be decrypted with this private key (wrong key, or the file is damaged)"
    )]
    Decrypt,
    /// The content is not a valid token. [`open`] never returns it (a
    /// payload that does not validate after decryption is [`TokenError::Decrypt`]);
    /// it converts a [`PayloadError`] for callers that parse payloads themselves.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// A token could not be sealed.
    #[error("could not seal the token: {reason}")]
    Seal {
        /// What went wrong.
        reason: &'static str,
    },
}

/// The credentials in a server token (the JSON between the MESSAGE armor).
///
/// The secrets are zeroized on drop and `Debug` shows only the consumer key
/// and expiry. Serde uses Apple's field names, so
/// `serde_json::to_string(&token)` gives back the JSON Apple wrote.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerToken {
    pub(crate) consumer_key: SecretString,
    pub(crate) consumer_secret: SecretString,
    pub(crate) access_token: SecretString,
    pub(crate) access_secret: SecretString,
    pub(crate) access_token_expiry: OffsetDateTime,
}

impl ServerToken {
    /// Builds a token from its parts, applying the same rules as a parsed one
    /// (non-empty printable ASCII; the expiry is normalized to UTC, whole seconds).
    pub fn new(
        consumer_key: impl Into<SecretString>,
        consumer_secret: impl Into<SecretString>,
        access_token: impl Into<SecretString>,
        access_secret: impl Into<SecretString>,
        access_token_expiry: OffsetDateTime,
    ) -> Result<Self, PayloadError> {
        let fields = [
            consumer_key.into(),
            consumer_secret.into(),
            access_token.into(),
            access_secret.into(),
        ];
        for (i, v) in fields.iter().enumerate() {
            let field = payload::FIELDS[i];
            if v.is_empty() {
                return Err(PayloadError::EmptyField { field });
            }
            if !v.expose().bytes().all(|b| (0x21..=0x7E).contains(&b)) {
                return Err(PayloadError::InvalidCharacters { field });
            }
        }
        let [consumer_key, consumer_secret, access_token, access_secret] = fields;
        let access_token_expiry =
            payload::parse_expiry(&payload::format_expiry(access_token_expiry))?;
        Ok(Self {
            consumer_key,
            consumer_secret,
            access_token,
            access_secret,
            access_token_expiry,
        })
    }

    /// `consumer_key`: identifies the server's link (`CK_...`). Not secret by
    /// itself, but it changes when someone else renews the token.
    pub fn consumer_key(&self) -> &str {
        self.consumer_key.expose()
    }

    /// `consumer_secret` (secret).
    pub fn consumer_secret(&self) -> &str {
        self.consumer_secret.expose()
    }

    /// `access_token` (`AT_...`).
    pub fn access_token(&self) -> &str {
        self.access_token.expose()
    }

    /// `access_secret` (secret).
    pub fn access_secret(&self) -> &str {
        self.access_secret.expose()
    }

    /// When the token stops working (UTC).
    pub fn access_token_expiry(&self) -> OffsetDateTime {
        self.access_token_expiry
    }

    /// The token's JSON, exactly as Apple formats it (compact, Apple's field
    /// order: the [`Serialize`] impl, written by `serde_json`), in a buffer
    /// zeroized on drop.
    pub fn to_json(&self) -> Zeroizing<String> {
        // Room for the whole text up front, so the buffer never reallocates
        // and leaves a copy of a secret behind.
        let capacity = [
            self.consumer_key.expose(),
            self.consumer_secret.expose(),
            self.access_token.expose(),
            self.access_secret.expose(),
        ]
        .iter()
        .map(|f| 2 * f.len())
        .sum::<usize>()
            + 160;
        let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
        if serde_json::to_writer(&mut *bytes, self).is_err() {
            return Zeroizing::new(String::new());
        }
        // serde_json writes UTF-8; the fallback is never taken.
        Zeroizing::new(String::from_utf8(core::mem::take(&mut *bytes)).unwrap_or_default())
    }

    /// Parses the token JSON (Apple's five fields), as [`payload::parse`] does.
    pub fn from_json(json: &str) -> Result<Self, PayloadError> {
        payload::parse(json.as_bytes())
    }
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerToken")
            .field("consumer_key", &self.consumer_key.expose())
            .field("consumer_secret", &self.consumer_secret)
            .field("access_token", &self.access_token)
            .field("access_secret", &self.access_secret)
            .field(
                "access_token_expiry",
                &payload::format_expiry(self.access_token_expiry),
            )
            .finish()
    }
}

impl Serialize for ServerToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ServerToken", 5)?;
        st.serialize_field("consumer_key", self.consumer_key.expose())?;
        st.serialize_field("consumer_secret", self.consumer_secret.expose())?;
        st.serialize_field("access_token", self.access_token.expose())?;
        st.serialize_field("access_secret", self.access_secret.expose())?;
        st.serialize_field(
            "access_token_expiry",
            &payload::format_expiry(self.access_token_expiry),
        )?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for ServerToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            consumer_key: String,
            consumer_secret: String,
            access_token: String,
            access_secret: String,
            access_token_expiry: String,
        }
        let raw = Raw::deserialize(d)?;
        let expiry =
            payload::parse_expiry(&raw.access_token_expiry).map_err(serde::de::Error::custom)?;
        ServerToken::new(
            raw.consumer_key,
            raw.consumer_secret,
            raw.access_token,
            raw.access_secret,
            expiry,
        )
        .map_err(serde::de::Error::custom)
    }
}

/// Opens a token file with `keypair`, using the operating system's RNG for
/// RSA blinding. See [`open_with_rng`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mdmlink::{keypair::ServerKeypair, token};
/// let keypair = ServerKeypair::from_pem(&std::fs::read("server.pem")?, None)?;
/// let token = token::open(&std::fs::read("MDM_Token_2026-01-17T11-02-21Z_smime.p7m")?, &keypair)?;
/// println!("consumer key {}, expires {}", token.consumer_key(), token.access_token_expiry());
/// # Ok(()) }
/// ```
pub fn open<K: ServerKey>(data: &[u8], keypair: &K) -> Result<ServerToken, TokenError> {
    open_with_rng(data, keypair, &mut SystemRng::default())
}

/// Opens a token file: any of the forms [`smime::unarmor`] accepts, CMS
/// EnvelopedData addressed to `keypair` ([`envelope::open`]), and a valid
/// payload ([`payload::parse`]). `rng` blinds the RSA operation. `keypair`
/// is any [`ServerKey`]: a [`ServerKeypair`](crate::keypair::ServerKeypair) or a key in an HSM or KMS.
pub fn open_with_rng<K: ServerKey, R: TryCryptoRng + ?Sized>(
    data: &[u8],
    keypair: &K,
    rng: &mut R,
) -> Result<ServerToken, TokenError> {
    let cms = smime::unarmor(data)?;
    let plaintext = envelope::open(&cms, keypair, rng)?;
    // CBC has no integrity: telling "bad CBC padding" (Decrypt) from "good
    // padding, bad payload" would be a padding oracle (Vaudenay) that decrypts
    // a token through any service that reports why an upload failed. So a
    // plaintext that does not validate is the same single error.
    payload::parse(&plaintext).map_err(|_| TokenError::Decrypt)
}

/// The outer form of a sealed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SealFormat {
    /// S/MIME headers and base64, as Apple serves tokens.
    #[default]
    Smime,
    /// PEM, label `PKCS7`.
    Pem,
    /// Raw DER.
    Der,
}

/// Options for [`seal`]: `SealOptions::default()` seals as Apple does;
/// `.with_cipher(..)` and `.with_format(..)` change one choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SealOptions {
    /// Content cipher; Apple uses AES-128-CBC.
    pub cipher: ContentCipher,
    /// Outer form; Apple serves S/MIME.
    pub format: SealFormat,
}

impl SealOptions {
    /// The content cipher.
    pub fn with_cipher(mut self, cipher: ContentCipher) -> Self {
        self.cipher = cipher;
        self
    }

    /// The outer form.
    pub fn with_format(mut self, format: SealFormat) -> Self {
        self.format = format;
        self
    }
}

/// Seals `token` to `certificate` the way the portal does (the other side of
/// [`open`]), for tests, demos and simulators.
///
/// ```
/// use mdmlink::{keypair::*, token::{self, *}};
/// let mut rng = mdmlink::SystemRng::default();
/// let now = time::OffsetDateTime::now_utc();
/// let keypair = ServerKeypair::generate(&mut rng, KeySize::Rsa2048, &CertificateParams::new("Lab", now))?;
/// let original = ServerToken::new("CK_1", "CS_2", "AT_3", "AS_4", now + time::Duration::days(365))?;
/// let file = token::seal(&original, keypair.certificate().unwrap(), SealOptions::default(), &mut rng)?;
/// assert_eq!(token::open(&file, &keypair)?, original);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal<R: TryCryptoRng + ?Sized>(
    token: &ServerToken,
    certificate: &ServerCertificate,
    options: SealOptions,
    rng: &mut R,
) -> Result<Vec<u8>, TokenError> {
    let plaintext = payload::render(token);
    let der = envelope::seal(&plaintext, certificate, options.cipher, rng)?;
    Ok(match options.format {
        SealFormat::Smime => smime::armor_smime(&der).into_bytes(),
        SealFormat::Pem => smime::armor_pem(&der).into_bytes(),
        SealFormat::Der => der,
    })
}
