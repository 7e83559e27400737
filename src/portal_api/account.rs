//! The API account: the credentials an administrator creates in the portal
//! (Apple Business: Settings > API; Apple School Manager: Preferences > API)
//! and downloads once: a client ID, a key ID and an EC P-256 private key.
//!
//! The key arrives as PEM, PKCS#8 (`PRIVATE KEY`, RFC 5208/5958) or SEC1
//! (`EC PRIVATE KEY`, RFC 5915, as `openssl ecparam -genkey` writes it,
//! possibly after an `EC PARAMETERS` block). Anything else is refused with a
//! message naming what it is: an RSA key, a key on another curve, a
//! certificate, a public key, an encrypted key without its password.

use core::fmt;

use const_oid::{
    ObjectIdentifier,
    db::{rfc5912, rfc8410},
};
use der::Decode as _;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::portal::Portal;

/// The prefix of an Apple Business API client ID.
pub const BUSINESS_CLIENT_ID_PREFIX: &str = "BUSINESSAPI.";
/// The prefix of an Apple School Manager API client ID.
pub const SCHOOL_CLIENT_ID_PREFIX: &str = "SCHOOLAPI.";
/// Longest client ID or key ID accepted (Apple's are about 50 characters).
pub const MAX_ID_LEN: usize = 256;
/// Largest key file read (a P-256 key in PEM is about 250 bytes).
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// Which of Apple's two APIs an account belongs to; the OAuth scope it asks
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ApiScope {
    /// Apple Business (Manager, and Essentials): scope `business.api`.
    Business,
    /// Apple School Manager: scope `school.api`.
    School,
}

impl ApiScope {
    /// The OAuth `scope` value: `business.api` or `school.api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "business.api",
            Self::School => "school.api",
        }
    }

    /// The scope named by its OAuth value (`business.api`, `school.api`).
    pub fn from_oauth(value: &str) -> Option<Self> {
        match value {
            "business.api" => Some(Self::Business),
            "school.api" => Some(Self::School),
            _ => None,
        }
    }

    /// The API's base URL: `https://api-business.apple.com` or
    /// `https://api-school.apple.com`.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Business => "https://api-business.apple.com",
            Self::School => "https://api-school.apple.com",
        }
    }

    /// The scope of a client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`).
    pub fn of_client_id(client_id: &str) -> Result<Self, ApiAccountError> {
        if client_id.starts_with(BUSINESS_CLIENT_ID_PREFIX) {
            Ok(Self::Business)
        } else if client_id.starts_with(SCHOOL_CLIENT_ID_PREFIX) {
            Ok(Self::School)
        } else {
            Err(ApiAccountError::ClientId {
                reason: "it must start with BUSINESSAPI. (Apple Business) or SCHOOLAPI. (Apple School Manager)",
            })
        }
    }

    /// The scope a portal's organizations use: Apple Business Manager and
    /// Apple Business Essentials use `business.api`, Apple School Manager
    /// `school.api`.
    pub fn of_portal(portal: Portal) -> Self {
        match portal {
            Portal::SchoolManager => Self::School,
            Portal::BusinessManager | Portal::BusinessEssentials => Self::Business,
        }
    }

    /// The product the scope belongs to, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Self::Business => "Apple Business",
            Self::School => "Apple School Manager",
        }
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an API account's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiAccountError {
    /// The client ID is not Apple's form.
    #[error(
        "the API client ID is not valid: {reason}; copy it from the API account's page in the portal"
    )]
    ClientId {
        /// What is wrong.
        reason: &'static str,
    },
    /// The key ID is not Apple's form.
    #[error(
        "the API key ID must be 1 to {MAX_ID_LEN} printable ASCII characters without spaces; copy it from the API account's page in the portal"
    )]
    KeyId,
    /// The key file holds something other than a P-256 private key.
    #[error(
        "the key file holds {found}, not the EC P-256 private key the portal lets you download for an API account"
    )]
    NotP256Key {
        /// What it holds (`an RSA private key`, `an EC private key on curve secp384r1`,
        /// `a certificate`...).
        found: String,
    },
    /// The key is encrypted and no password was given.
    #[error("the key file holds an encrypted private key; give its password")]
    PasswordRequired,
    /// The password does not decrypt the key, or its encryption is not supported.
    #[error(
        "the private key could not be decrypted: wrong password, or an encryption scheme other than PBES2 (convert it with `openssl pkcs8 -topk8`)"
    )]
    Decrypt,
    /// The key file is not PEM or DER this version can read.
    #[error("the key file is not a PEM or DER private key ({reason})")]
    Unreadable {
        /// What failed.
        reason: String,
    },
    /// A School Manager account on a Business organization, or the reverse.
    #[error("this is an {} API account ({scope}) but the organization is in {portal}; create the API account in {portal}", scope.product())]
    WrongPortal {
        /// The account's scope.
        scope: ApiScope,
        /// The organization's portal.
        portal: Portal,
    },
}

/// The API account's private key (EC P-256). Zeroized on drop; `Debug`
/// prints only that it is redacted.
#[derive(Clone)]
pub struct ApiKey {
    signing: SigningKey,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

fn oid_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        rfc5912::SECP_384_R_1 => "secp384r1 (P-384)".into(),
        rfc5912::SECP_521_R_1 => "secp521r1 (P-521)".into(),
        rfc5912::SECP_224_R_1 => "secp224r1 (P-224)".into(),
        o if o.to_string() == "1.3.132.0.10" => "secp256k1".into(),
        o => o.to_string(),
    }
}

fn not_p256(found: impl Into<String>) -> ApiAccountError {
    ApiAccountError::NotP256Key {
        found: found.into(),
    }
}

/// One PEM block: its label and its base64 body decoded.
struct PemBlock {
    label: String,
    encrypted_headers: bool,
    der: Zeroizing<Vec<u8>>,
}

/// Every `-----BEGIN X-----` … `-----END X-----` block of `text`.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, ApiAccountError> {
    use base64::Engine as _;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| ApiAccountError::Unreadable {
                reason: "a PEM header is not closed".into(),
            })?;
        let label = after[..label_end].trim().to_owned();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start
            .find(&end_marker)
            .ok_or_else(|| ApiAccountError::Unreadable {
                reason: format!("no \"{end_marker}\" line"),
            })?;
        let body = &body_start[..end];
        let encrypted_headers = body.contains("Proc-Type:") || body.contains("DEK-Info:");
        let b64: Zeroizing<String> = Zeroizing::new(
            body.lines()
                .filter(|l| !l.contains(':'))
                .flat_map(|l| l.chars())
                .filter(|c| !c.is_ascii_whitespace())
                .collect(),
        );
        let der = if encrypted_headers {
            Zeroizing::new(Vec::new())
        } else {
            Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| ApiAccountError::Unreadable {
                        reason: format!("the {label} block is not base64"),
                    })?,
            )
        };
        blocks.push(PemBlock {
            label,
            encrypted_headers,
            der,
        });
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(blocks)
}

impl ApiKey {
    /// Reads the key the portal lets the admin download: PEM (or DER),
    /// PKCS#8 or SEC1; `password` decrypts an `ENCRYPTED PRIVATE KEY`
    /// (PKCS#8 PBES2). Names what the file holds when it is not a P-256
    /// private key.
    pub fn from_pem(bytes: &[u8], password: Option<&[u8]>) -> Result<Self, ApiAccountError> {
        if bytes.len() > MAX_KEY_FILE {
            return Err(ApiAccountError::Unreadable {
                reason: format!(
                    "{} bytes; a key file is at most {MAX_KEY_FILE}",
                    bytes.len()
                ),
            });
        }
        if bytes.first() == Some(&0x30) {
            return Self::from_der(bytes, password);
        }
        let text = core::str::from_utf8(bytes).map_err(|_| ApiAccountError::Unreadable {
            reason: "neither PEM text nor DER".into(),
        })?;
        let blocks = pem_blocks(text)?;
        if blocks.is_empty() {
            return Err(ApiAccountError::Unreadable {
                reason: "no \"-----BEGIN PRIVATE KEY-----\" block".into(),
            });
        }
        // `openssl ecparam -genkey` writes the curve first; it is not a key.
        let mut found = Vec::new();
        for block in &blocks {
            match block.label.as_str() {
                "EC PARAMETERS" => continue,
                "PRIVATE KEY" => return Self::from_pkcs8(&block.der),
                "EC PRIVATE KEY" if block.encrypted_headers => {
                    return Err(ApiAccountError::Unreadable {
                        reason: "an EC private key encrypted the legacy OpenSSL way (Proc-Type header); convert it with `openssl pkcs8 -topk8` first".into(),
                    });
                }
                "EC PRIVATE KEY" => return Self::from_sec1(&block.der),
                "ENCRYPTED PRIVATE KEY" => return Self::from_encrypted(&block.der, password),
                "RSA PRIVATE KEY" => found.push("an RSA private key".to_owned()),
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    found.push("a certificate (no private key)".to_owned())
                }
                "PUBLIC KEY" | "EC PUBLIC KEY" | "RSA PUBLIC KEY" => {
                    found.push("a public key (the private key is needed)".to_owned())
                }
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                    found.push("a certificate signing request".to_owned())
                }
                "OPENSSH PRIVATE KEY" => found.push(
                    "an OpenSSH private key (not the PEM file the portal downloads)".to_owned(),
                ),
                other => found.push(format!(
                    "a PEM block labelled \"{}\"",
                    printable_label(other)
                )),
            }
        }
        Err(not_p256(found.join(" and ")))
    }

    fn from_der(der: &[u8], password: Option<&[u8]>) -> Result<Self, ApiAccountError> {
        if pkcs8::PrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_pkcs8(der);
        }
        if pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_encrypted(der, password);
        }
        if x509_cert::Certificate::from_der(der).is_ok() {
            return Err(not_p256("a certificate (no private key)"));
        }
        Self::from_sec1(der)
    }

    fn from_encrypted(der: &[u8], password: Option<&[u8]>) -> Result<Self, ApiAccountError> {
        let password = password.ok_or(ApiAccountError::PasswordRequired)?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).map_err(|e| {
            ApiAccountError::Unreadable {
                reason: format!("ENCRYPTED PRIVATE KEY: {e}"),
            }
        })?;
        let clear = info
            .decrypt(password)
            .map_err(|_| ApiAccountError::Decrypt)?;
        Self::from_pkcs8(clear.as_bytes())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, ApiAccountError> {
        let info =
            pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| ApiAccountError::Unreadable {
                reason: format!("PKCS#8: {e}"),
            })?;
        let algorithm = info.algorithm.oid;
        if algorithm == rfc5912::RSA_ENCRYPTION || algorithm == rfc5912::ID_RSASSA_PSS {
            return Err(not_p256("an RSA private key"));
        }
        if algorithm == rfc8410::ID_ED_25519 || algorithm == rfc8410::ID_ED_448 {
            return Err(not_p256("an Edwards-curve (Ed25519/Ed448) private key"));
        }
        if algorithm == rfc8410::ID_X_25519 || algorithm == rfc8410::ID_X_448 {
            return Err(not_p256("an X25519/X448 key-agreement key"));
        }
        if algorithm != rfc5912::ID_EC_PUBLIC_KEY {
            return Err(not_p256(format!("a private key of algorithm {algorithm}")));
        }
        match info.algorithm.parameters_oid() {
            Ok(rfc5912::SECP_256_R_1) => {}
            Ok(curve) => {
                return Err(not_p256(format!(
                    "an EC private key on curve {}",
                    oid_name(&curve)
                )));
            }
            Err(_) => return Err(not_p256("an EC private key without a named curve")),
        }
        let secret =
            p256::SecretKey::from_pkcs8_der(der).map_err(|e| ApiAccountError::Unreadable {
                reason: format!("P-256 PKCS#8: {e}"),
            })?;
        Ok(Self {
            signing: SigningKey::from(&secret),
        })
    }

    fn from_sec1(der: &[u8]) -> Result<Self, ApiAccountError> {
        let key = sec1::EcPrivateKey::from_der(der).map_err(|e| ApiAccountError::Unreadable {
            reason: format!("SEC1 EC private key: {e}"),
        })?;
        match key.parameters.and_then(|p| p.named_curve()) {
            Some(rfc5912::SECP_256_R_1) => {}
            Some(curve) => {
                return Err(not_p256(format!(
                    "an EC private key on curve {}",
                    oid_name(&curve)
                )));
            }
            // RFC 5915 makes the parameters optional; the length tells.
            None if key.private_key.len() == 32 => {}
            None => return Err(not_p256("an EC private key that is not 32 bytes long")),
        }
        let secret =
            p256::SecretKey::from_sec1_der(der).map_err(|e| ApiAccountError::Unreadable {
                reason: format!("P-256 SEC1: {e}"),
            })?;
        Ok(Self {
            signing: SigningKey::from(&secret),
        })
    }

    /// A new random key (tests, the simulator's accounts).
    pub fn generate<R: rand_core::TryCryptoRng + ?Sized>(
        rng: &mut R,
    ) -> Result<Self, ApiAccountError> {
        // Rejection sampling: a 32-byte string is a valid scalar unless it is
        // zero or at least the group order (probability about 2^-32).
        for _ in 0..64 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.try_fill_bytes(bytes.as_mut())
                .map_err(|_| ApiAccountError::Unreadable {
                    reason: "the random number generator failed".into(),
                })?;
            if let Ok(signing) = SigningKey::from_slice(bytes.as_ref()) {
                return Ok(Self { signing });
            }
        }
        Err(ApiAccountError::Unreadable {
            reason: "the random number generator returned no valid P-256 scalar".into(),
        })
    }

    /// The key as PKCS#8 DER (RFC 5958), what the store seals under its
    /// master key. Zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, ApiAccountError> {
        let document = p256::SecretKey::from(&self.signing)
            .to_pkcs8_der()
            .map_err(|e| ApiAccountError::Unreadable {
                reason: format!("encoding: {e}"),
            })?;
        Ok(document.to_bytes())
    }

    /// A key from PKCS#8 DER ([`Self::to_pkcs8_der`]'s form); anything but
    /// a P-256 private key is refused as [`Self::from_pem`] refuses it.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, ApiAccountError> {
        Self::from_pkcs8(der)
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, ApiAccountError> {
        p256::SecretKey::from(&self.signing)
            .to_pkcs8_pem(pkcs8::LineEnding::LF)
            .map_err(|e| ApiAccountError::Unreadable {
                reason: format!("encoding: {e}"),
            })
    }

    /// The public key as SubjectPublicKeyInfo PEM (`PUBLIC KEY`): what the
    /// portal keeps to verify assertions.
    pub fn public_key_pem(&self) -> Result<String, ApiAccountError> {
        self.signing
            .verifying_key()
            .to_public_key_pem(pkcs8::LineEnding::LF)
            .map_err(|e| ApiAccountError::Unreadable {
                reason: format!("encoding: {e}"),
            })
    }

    /// The public key (to verify this key's assertions).
    pub fn verifying_key(&self) -> p256::ecdsa::VerifyingKey {
        *self.signing.verifying_key()
    }

    /// ES256 (RFC 7518 §3.4): ECDSA P-256 with SHA-256, deterministic
    /// (RFC 6979), the 64-byte `r || s` JOSE uses.
    pub fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        use p256::ecdsa::signature::Signer as _;
        let signature: p256::ecdsa::Signature = self.signing.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(&signature.to_bytes());
        out
    }
}

fn printable_label(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect()
}

fn check_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// An API account: client ID, key ID and private key. `Debug` never prints
/// the key.
#[derive(Clone)]
pub struct ApiAccount {
    client_id: String,
    key_id: String,
    scope: ApiScope,
    key: ApiKey,
}

impl fmt::Debug for ApiAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiAccount")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .field("key", &self.key)
            .finish()
    }
}

impl ApiAccount {
    /// An account from its client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`,
    /// which sets the scope), key ID and key.
    pub fn new(client_id: &str, key_id: &str, key: ApiKey) -> Result<Self, ApiAccountError> {
        let client_id = client_id.trim();
        let key_id = key_id.trim();
        let scope = ApiScope::of_client_id(client_id)?;
        if !check_id(client_id) {
            return Err(ApiAccountError::ClientId {
                reason: "it must be at most 256 printable ASCII characters without spaces",
            });
        }
        if client_id.len()
            == match scope {
                ApiScope::Business => BUSINESS_CLIENT_ID_PREFIX.len(),
                ApiScope::School => SCHOOL_CLIENT_ID_PREFIX.len(),
            }
        {
            return Err(ApiAccountError::ClientId {
                reason: "nothing follows the prefix",
            });
        }
        if !check_id(key_id) {
            return Err(ApiAccountError::KeyId);
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            key_id: key_id.to_owned(),
            scope,
            key,
        })
    }

    /// [`ApiAccount::new`] with the key read by [`ApiKey::from_pem`].
    pub fn from_pem(
        client_id: &str,
        key_id: &str,
        key_pem: &[u8],
        password: Option<&[u8]>,
    ) -> Result<Self, ApiAccountError> {
        // The IDs are checked first: they are cheaper and their errors clearer.
        ApiScope::of_client_id(client_id.trim())?;
        Self::new(client_id, key_id, ApiKey::from_pem(key_pem, password)?)
    }

    /// The client ID.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The key ID (the assertion's `kid`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The scope, from the client ID.
    pub fn scope(&self) -> ApiScope {
        self.scope
    }

    /// The private key.
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// Refuses the account for an organization of another portal (a School
    /// Manager account on a Business organization, or the reverse).
    pub fn check_portal(&self, portal: Portal) -> Result<(), ApiAccountError> {
        if ApiScope::of_portal(portal) == self.scope {
            Ok(())
        } else {
            Err(ApiAccountError::WrongPortal {
                scope: self.scope,
                portal,
            })
        }
    }
}

#[cfg(test)]
mod tests;
