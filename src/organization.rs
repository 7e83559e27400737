//! One organization's portal account and the MDM servers linked to it.
//!
//! The model enforces the portal's rules (unique names, roles), binds each
//! token to the server whose key opens it, keeps a staged keypair beside the
//! current one during a rotation, and answers "which servers need action,
//! soonest first". It never touches ASN.1: it calls [`crate::token`] and
//! [`crate::expiry`].

use core::fmt;
use std::collections::HashMap;

use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{
    expiry::{ExpiryPolicy, Health, ReplacementReason},
    jwt::{self, JwtError, MaidClaims},
    keypair::{
        CertificateParams, KeyError, KeySize, ServerCertificate, ServerKeypair, common_name_for,
    },
    name::{NameError, ServerName},
    portal::{Action, Portal, Role, RoleError},
    token::{self, RecipientDescription, ServerToken, TokenError, filename::TokenFileName},
};

/// Apple's limit on public key certificate files per organization: "You
/// can't upload more than 250 public key certificate files" (Apple Business
/// Manager User Guide, *Link to an external device management service*,
/// <https://support.apple.com/guide/business/axm1c1be359d/web>). The model
/// counts every certificate it holds, current and staged
/// ([`Organization::certificate_count`]).
pub const MAX_CERTIFICATES: usize = 250;

/// How long a staged keypair may wait for its token before
/// [`Organization::needs_action`] lists the server on that account alone.
/// (A server that needs action anyway always mentions the pending staging.)
pub const STAGING_REMINDER_AFTER: Duration = Duration::days(3);

/// Which of a server's keypairs a certificate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyRole {
    /// The keypair in use (it opens the installed token and signs JWTs).
    Current,
    /// The keypair staged during a rotation, waiting for its token.
    Staged,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Current => "current",
            KeyRole::Staged => "staged",
        })
    }
}

/// One of a server's certificates, as named in messages: serial and SHA-256
/// fingerprints, never key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDescription {
    /// Current or staged.
    pub role: KeyRole,
    /// The certificate's serial number (upper-case hex), when there is a certificate.
    pub serial: Option<String>,
    /// SHA-256 of the DER certificate (colon-separated upper-case hex, as
    /// `openssl x509 -fingerprint -sha256` prints it), when there is a certificate.
    pub sha256_fingerprint: Option<String>,
    /// SHA-256 of the public key (DER SubjectPublicKeyInfo), upper-case hex.
    pub public_key_sha256: String,
}

impl CertificateDescription {
    /// Describes `keypair` in `role`.
    pub fn of(keypair: &ServerKeypair, role: KeyRole) -> Self {
        let cert = keypair.certificate();
        Self {
            role,
            serial: cert.map(ServerCertificate::serial_hex),
            sha256_fingerprint: cert.map(ServerCertificate::sha256_fingerprint_hex),
            public_key_sha256: hex_upper(&keypair.public_key_fingerprint()),
        }
    }
}

impl fmt::Display for CertificateDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.serial, &self.sha256_fingerprint) {
            (Some(serial), Some(fp)) => {
                write!(
                    f,
                    "{} certificate serial {serial} (SHA-256 {fp})",
                    self.role
                )
            }
            _ => write!(
                f,
                "{} key without a certificate (public key SHA-256 {})",
                self.role, self.public_key_sha256
            ),
        }
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why the organization model refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrganizationError {
    /// The name breaks a naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Another server already has this name (compared case-insensitively after normalization).
    #[error("a server named \"{existing}\" already exists; names must be unique ignoring case")]
    DuplicateName {
        /// The existing server's name.
        existing: String,
    },
    /// No server has this name.
    #[error("no server named \"{name}\"")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The user's role may not do this.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// The token could not be opened with the server's key(s).
    #[error("server \"{server}\": {source}")]
    Token {
        /// The server.
        server: String,
        /// Why.
        source: TokenError,
    },
    /// The token was issued to none of the server's certificates (neither the
    /// staged nor the current one).
    #[error(
        "server \"{server}\": the token was issued to {}, not to any of this server's certificates; checked against: {}. Upload this server's certificate to the portal and download a new token for it, or install the token on the server it was issued to",
        join(.token_recipients),
        join(.checked)
    )]
    TokenForOtherKey {
        /// The server.
        server: String,
        /// Who the token says it is for.
        token_recipients: Vec<RecipientDescription>,
        /// Every certificate of the server it was checked against, staged first.
        checked: Vec<CertificateDescription>,
    },
    /// The server has no keypair that could open a token.
    #[error("server \"{server}\" has no private key to open tokens with")]
    NoKeypair {
        /// The server.
        server: String,
    },
    /// A renewal's consumer key differs from the installed token's.
    #[error(
        "server \"{server}\": the new token's consumer key {new} differs from the installed {old}; this usually means it was downloaded for another server or by another portal account; install with force to accept it"
    )]
    ConsumerKeyChanged {
        /// The server.
        server: String,
        /// Installed consumer key.
        old: String,
        /// New consumer key.
        new: String,
    },
    /// The token has already expired (install with force to accept it anyway).
    #[error(
        "server \"{server}\": the token expired on {expiry}; download a new token from the portal (or install with force to accept it anyway)"
    )]
    TokenExpired {
        /// The server.
        server: String,
        /// The token's expiry (RFC 3339).
        expiry: String,
    },
    /// The token is the one already installed.
    #[error(
        "server \"{server}\": this token is the one already installed (expires {expiry}); download a new token from the portal (or install with force to reinstall it)"
    )]
    SameToken {
        /// The server.
        server: String,
        /// Its expiry (RFC 3339).
        expiry: String,
    },
    /// The token does not expire later than the installed one, so it is not
    /// a renewal.
    #[error(
        "server \"{server}\": the token expires {new_expiry}, not later than the installed token (expires {installed_expiry}); it is older or the same age, so it is not a renewal: download a new token from the portal (or install with force to accept it anyway)"
    )]
    TokenNotNewer {
        /// The server.
        server: String,
        /// The new token's expiry (RFC 3339).
        new_expiry: String,
        /// The installed token's expiry (RFC 3339).
        installed_expiry: String,
    },
    /// A keypair is already staged and waits for its token.
    #[error(
        "server \"{server}\" already has a staged keypair (certificate serial {serial}, staged {since}); a token for it may be on its way: install that token, discard the staged keypair, or replace it with force"
    )]
    AlreadyStaged {
        /// The server.
        server: String,
        /// The staged certificate's serial (hex), or `-` without a certificate.
        serial: String,
        /// When it was staged (RFC 3339).
        since: String,
    },
    /// The server has no token installed.
    #[error(
        "server \"{server}\" has no token installed; upload its certificate to the portal and download a token for it"
    )]
    NoToken {
        /// The server.
        server: String,
    },
    /// The portal's certificate limit would be exceeded.
    #[error(
        "the organization already has {count} public key certificates; the portal accepts at most {max}"
    )]
    CertificateLimit {
        /// Certificates in use.
        count: usize,
        /// The limit ([`MAX_CERTIFICATES`]).
        max: usize,
    },
    /// There is no staged keypair to discard.
    #[error("server \"{server}\" has no staged keypair")]
    NoStagedKeypair {
        /// The server.
        server: String,
    },
    /// The server's `server_uuid` (the JWT issuer) is not known yet.
    #[error(
        "server \"{server}\" has no server UUID; fetch it from Apple (Account Detail, `server_uuid`) and record it"
    )]
    NoServerUuid {
        /// The server.
        server: String,
    },
    /// A server UUID is empty, too long, or not printable ASCII.
    #[error("\"{value}\" is not a server UUID (1 to 64 printable ASCII characters without spaces)")]
    InvalidServerUuid {
        /// The value given (printable characters only are echoed).
        value: String,
    },
    /// An Access Management JWT could not be made.
    #[error("server \"{server}\": {source}")]
    Jwt {
        /// The server.
        server: String,
        /// Why.
        source: JwtError,
    },
    /// A keypair for the server could not be generated.
    #[error("server \"{server}\": {source}")]
    Key {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// A stored record could not be restored.
    #[error("stored server \"{server}\" is invalid: {source}")]
    Record {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
}

/// Optional labels and settings for a new server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerOptions {
    /// Whether the server may release devices from the organization.
    pub release_devices: bool,
    /// For managed service providers: the customer this server belongs to.
    pub customer: Option<String>,
    /// For managed service providers: the customer's site.
    pub site: Option<String>,
}

/// A token bound to a server, with who downloaded it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledToken {
    /// The credentials.
    pub token: ServerToken,
    /// When it was installed here.
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    /// The portal user (Managed Apple Account) who downloaded it, if known.
    pub downloaded_by: Option<String>,
    /// The serial of the certificate the token was issued to (hex), if known.
    pub certificate_serial: Option<String>,
}

/// A keypair waiting for its first token.
#[derive(Debug, Clone)]
pub struct StagedKeypair {
    /// The new keypair; its certificate is what the admin uploads.
    pub keypair: ServerKeypair,
    /// When it was staged.
    pub since: OffsetDateTime,
}

/// One linked MDM server.
///
/// The key material is boxed: a parsed key and certificate take about 2 KB
/// inline, which every server would otherwise carry in the organization's
/// vector even when its key lives elsewhere (measured by `benches/`).
#[derive(Debug, Clone)]
pub struct MdmServer {
    name: ServerName,
    keypair: Option<Box<ServerKeypair>>,
    certificate: Option<Box<ServerCertificate>>,
    staged: Option<Box<StagedKeypair>>,
    token: Option<InstalledToken>,
    options: ServerOptions,
    replacement: Option<(ReplacementReason, OffsetDateTime)>,
    created_at: OffsetDateTime,
    server_uuid: Option<String>,
}

/// How [`Organization::install_token`] bound a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallOutcome {
    /// The server's first token.
    First,
    /// A renewal opened with the current keypair.
    Renewed,
    /// The token opened with the staged keypair, which is now current; the
    /// old keypair is retired.
    KeyPromoted,
}

/// What to record with an installed token.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Who downloaded the token from the portal.
    pub downloaded_by: Option<String>,
    /// Accept a token that would otherwise be refused: a changed consumer
    /// key, an expired token, one that does not expire later than the
    /// installed token, or the installed token itself. A replacement event is
    /// still cleared only by a token issued after it.
    pub force: bool,
}

/// Something about an installed token worth telling the user, though the
/// token was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InstallWarning {
    /// The token's file name names another server (Apple names the file
    /// `<server name>_Token_<date>_smime.p7m`). The token opened with this
    /// server's key, so it was installed; the file may have been renamed, or
    /// the server renamed in the portal.
    FileNamesOtherServer {
        /// The server the file name names.
        file_server: String,
        /// The server the token was installed on.
        server: String,
    },
    /// The token was installed, but it was issued before the pending
    /// replacement event, so the event still stands.
    ReplacementStillDue {
        /// The event.
        reason: ReplacementReason,
        /// When it happened.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        /// When the token was issued: the file name's download time, or its
        /// expiry less one year.
        #[serde(with = "time::serde::rfc3339")]
        issued: OffsetDateTime,
    },
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl fmt::Display for InstallWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallWarning::ReplacementStillDue {
                reason,
                since,
                issued,
            } => write!(
                f,
                "the token was issued {} (as far as can be told), not after the event of {} ({reason}); the server still needs a token downloaded after that event",
                rfc3339(*issued),
                rfc3339(*since)
            ),
            InstallWarning::FileNamesOtherServer {
                file_server,
                server,
            } => write!(
                f,
                "the file name names server \"{file_server}\", but the token was installed on \"{server}\" (whose key opens it); check that this is the server you meant"
            ),
        }
    }
}

/// What [`Organization::install_token_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// How the token was bound.
    pub outcome: InstallOutcome,
    /// What the file name says, when it has Apple's form.
    pub file_name: Option<TokenFileName>,
    /// Things worth telling the user.
    pub warnings: Vec<InstallWarning>,
}

/// A server's full status at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// The server.
    pub name: String,
    /// The token's health; `None` before the first token is installed.
    pub token: Option<Health>,
    /// The certificate's health (its notAfter against the same policy).
    pub certificate: Option<Health>,
    /// When a staged keypair was made and is still waiting for its token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub staging_pending_since: Option<OffsetDateTime>,
    /// When the server was added (the start of [`Health::NoToken`]).
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

impl ServerStatus {
    /// "staging pending since <date>" with what to do, while a staged
    /// keypair waits for its token; `None` otherwise.
    pub fn staging_message(&self) -> Option<String> {
        self.staging_pending_since.map(|since| {
            format!(
                "staging pending since {}: upload the staged certificate and install the token the portal issues for it, or discard the staged keypair",
                since.date()
            )
        })
    }

    /// The token's health, or [`Health::NoToken`] when none is installed.
    pub fn token_health(&self) -> Health {
        self.token.unwrap_or(Health::NoToken {
            since: self.added_at,
        })
    }

    /// The certificate's health when it needs action at least as urgently as
    /// the token: then the key must be rotated (a new token for the same
    /// certificate does not help).
    pub fn certificate_needs_rotation(&self) -> Option<Health> {
        self.certificate
            .filter(|c| c.needs_action() && c.exit_code() >= self.token_health().exit_code())
    }

    /// The most urgent of the token's and certificate's health; a server
    /// without a token is [`Health::NoToken`].
    pub fn worst(&self) -> Health {
        let mut worst = self.token_health();
        if let Some(c) = self.certificate
            && c.exit_code() > worst.exit_code()
        {
            worst = c;
        }
        worst
    }
}

/// A server that needs action, from [`Organization::needs_action`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    /// The server.
    pub server: String,
    /// What is wrong.
    pub health: Health,
    /// What to do, in the portal's words.
    pub advice: String,
    /// When a staged keypair was made that still waits for its token.
    #[serde(with = "time::serde::rfc3339::option")]
    pub staging_pending_since: Option<OffsetDateTime>,
}

impl MdmServer {
    /// The server's name.
    pub fn name(&self) -> &ServerName {
        &self.name
    }

    /// The current keypair, when the private key is held here.
    pub fn keypair(&self) -> Option<&ServerKeypair> {
        self.keypair.as_deref()
    }

    /// The current certificate.
    pub fn certificate(&self) -> Option<&ServerCertificate> {
        self.certificate.as_deref()
    }

    /// The staged keypair, during a rotation.
    pub fn staged(&self) -> Option<&StagedKeypair> {
        self.staged.as_deref()
    }

    /// The installed token.
    pub fn token(&self) -> Option<&InstalledToken> {
        self.token.as_ref()
    }

    /// Settings and MSP labels.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// A pending replacement event.
    pub fn replacement(&self) -> Option<(ReplacementReason, OffsetDateTime)> {
        self.replacement
    }

    /// When the server was added.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// Apple's identifier for the server (`server_uuid` from *Account
    /// Detail*), the `iss` of its Access Management JWTs; `None` until set
    /// with [`Organization::set_server_uuid`].
    pub fn server_uuid(&self) -> Option<&str> {
        self.server_uuid.as_deref()
    }

    /// The certificates a token for this server may be issued to, staged
    /// first (the order [`Organization::install_token`] tries them).
    pub fn certificate_descriptions(&self) -> Vec<CertificateDescription> {
        let mut out = Vec::with_capacity(2);
        if let Some(s) = &self.staged {
            out.push(CertificateDescription::of(&s.keypair, KeyRole::Staged));
        }
        match (&self.keypair, &self.certificate) {
            (Some(k), _) => out.push(CertificateDescription::of(k, KeyRole::Current)),
            (None, Some(c)) => out.push(CertificateDescription {
                role: KeyRole::Current,
                serial: Some(c.serial_hex()),
                sha256_fingerprint: Some(c.sha256_fingerprint_hex()),
                public_key_sha256: c
                    .public_key()
                    .ok()
                    .and_then(|k| ServerKeypair::public_key_sha256(&k))
                    .map(|d| hex_upper(&d))
                    .unwrap_or_default(),
            }),
            (None, None) => {}
        }
        out
    }

    /// The server's status at `now`.
    pub fn status(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> ServerStatus {
        let token = self.token.as_ref().map(|t| {
            policy.evaluate_with_event(t.token.access_token_expiry(), self.replacement, now)
        });
        ServerStatus {
            name: self.name.to_string(),
            token,
            certificate: self
                .certificate
                .as_ref()
                .map(|c| policy.evaluate(c.not_after(), now)),
            staging_pending_since: self.staged.as_ref().map(|s| s.since),
            added_at: self.created_at,
        }
    }

    /// Serializable form; the private keys only when `include_private_keys`.
    pub fn to_record(&self, include_private_keys: bool) -> Result<ServerRecord, KeyError> {
        let key_pem = |k: &ServerKeypair| -> Result<Option<String>, KeyError> {
            if include_private_keys {
                Ok(Some(k.private_key_pem()?.to_string()))
            } else {
                Ok(None)
            }
        };
        Ok(ServerRecord {
            name: self.name.to_string(),
            certificate_pem: self.certificate.as_ref().map(|c| c.to_pem()),
            private_key_pem: self.keypair.as_deref().map(key_pem).transpose()?.flatten(),
            staged_certificate_pem: self
                .staged
                .as_ref()
                .and_then(|s| s.keypair.certificate().map(|c| c.to_pem())),
            staged_private_key_pem: self
                .staged
                .as_ref()
                .map(|s| key_pem(&s.keypair))
                .transpose()?
                .flatten(),
            staged_since: self.staged.as_ref().map(|s| s.since),
            token: self.token.clone(),
            options: self.options.clone(),
            replacement: self.replacement,
            created_at: self.created_at,
            server_uuid: self.server_uuid.clone(),
        })
    }

    /// Restores a server from its record.
    pub fn from_record(mut record: ServerRecord) -> Result<Self, OrganizationError> {
        let name = ServerName::parse(&record.name)?;
        let server = record.name.clone();
        let err = |source: KeyError| OrganizationError::Record {
            server: server.clone(),
            source,
        };
        let certificate = record
            .certificate_pem
            .as_deref()
            .map(|p| ServerCertificate::from_pem(p.as_bytes()))
            .transpose()
            .map_err(err)?;
        let keypair = match record.private_key_pem.as_deref() {
            Some(pem) => {
                let mut kp = ServerKeypair::from_pem(pem.as_bytes(), None).map_err(err)?;
                if let Some(c) = &certificate {
                    kp.attach_certificate(c.clone()).map_err(err)?;
                }
                Some(Box::new(kp))
            }
            None => None,
        };
        let staged = match (
            record.staged_private_key_pem.as_deref(),
            record.staged_since,
        ) {
            (Some(pem), Some(since)) => {
                let mut kp = ServerKeypair::from_pem(pem.as_bytes(), None).map_err(err)?;
                if let Some(c) = record.staged_certificate_pem.as_deref() {
                    kp.attach_certificate(ServerCertificate::from_pem(c.as_bytes()).map_err(err)?)
                        .map_err(err)?;
                }
                Some(Box::new(StagedKeypair { keypair: kp, since }))
            }
            _ => None,
        };
        Ok(Self {
            name,
            keypair,
            certificate: certificate.map(Box::new),
            staged,
            token: record.token.take(),
            options: core::mem::take(&mut record.options),
            replacement: record.replacement,
            created_at: record.created_at,
            server_uuid: record.server_uuid.take(),
        })
    }
}

/// The serializable form of an [`MdmServer`] (what a store saves).
///
/// `Debug` shows whether private keys are present, never the keys, and the
/// keys are zeroized on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// Name.
    pub name: String,
    /// Current certificate, PEM.
    pub certificate_pem: Option<String>,
    /// Current private key, PKCS#8 PEM; present only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
    /// Staged certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_certificate_pem: Option<String>,
    /// Staged private key, PKCS#8 PEM; present only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_private_key_pem: Option<String>,
    /// When the staged keypair was made.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub staged_since: Option<OffsetDateTime>,
    /// The installed token.
    pub token: Option<InstalledToken>,
    /// Settings and labels.
    pub options: ServerOptions,
    /// A pending replacement event.
    pub replacement: Option<(ReplacementReason, OffsetDateTime)>,
    /// When the server was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Apple's `server_uuid` (absent in records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
}

/// The private keys in a record are zeroized when it is dropped (the record
/// may travel through a vendor's store code as plain strings).
impl Drop for ServerRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.private_key_pem.zeroize();
        self.staged_private_key_pem.zeroize();
    }
}

impl core::fmt::Debug for ServerRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let redact = |k: &Option<String>| k.as_ref().map(|_| "[redacted]");
        f.debug_struct("ServerRecord")
            .field("name", &self.name)
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &redact(&self.private_key_pem))
            .field("staged_certificate_pem", &self.staged_certificate_pem)
            .field(
                "staged_private_key_pem",
                &redact(&self.staged_private_key_pem),
            )
            .field("staged_since", &self.staged_since)
            .field("token", &self.token)
            .field("options", &self.options)
            .field("replacement", &self.replacement)
            .field("created_at", &self.created_at)
            .field("server_uuid", &self.server_uuid)
            .finish()
    }
}

/// One organization's portal account.
#[derive(Debug, Clone)]
pub struct Organization {
    name: String,
    portal: Portal,
    servers: Vec<MdmServer>,
    by_key: HashMap<String, usize>,
}

/// The serializable form of an [`Organization`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationRecord {
    /// The organization's name.
    pub name: String,
    /// Its portal.
    pub portal: Portal,
    /// Its servers.
    pub servers: Vec<ServerRecord>,
}

impl Organization {
    /// An organization with no servers yet.
    pub fn new(name: impl Into<String>, portal: Portal) -> Self {
        Self {
            name: name.into(),
            portal,
            servers: Vec::new(),
            by_key: HashMap::new(),
        }
    }

    /// The organization's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its portal.
    pub fn portal(&self) -> Portal {
        self.portal
    }

    /// The servers, in the order they were added.
    pub fn servers(&self) -> impl ExactSizeIterator<Item = &MdmServer> {
        self.servers.iter()
    }

    /// The server with this name (compared as the portal compares names).
    pub fn server(&self, name: &str) -> Option<&MdmServer> {
        let key = ServerName::parse(name).ok()?;
        self.by_key
            .get(key.comparison_key())
            .map(|&i| &self.servers[i])
    }

    fn index_of(&self, name: &str) -> Result<usize, OrganizationError> {
        let not_found = || OrganizationError::NotFound {
            name: name.to_owned(),
        };
        let key = ServerName::parse(name).map_err(|_| not_found())?;
        self.by_key
            .get(key.comparison_key())
            .copied()
            .ok_or_else(not_found)
    }

    /// Checks that a name is free, as the portal would, without adding anything.
    pub fn check_name(&self, name: &str) -> Result<ServerName, OrganizationError> {
        let name = ServerName::parse(name)?;
        if let Some(&i) = self.by_key.get(name.comparison_key()) {
            return Err(OrganizationError::DuplicateName {
                existing: self.servers[i].name.to_string(),
            });
        }
        Ok(name)
    }

    /// Refuses `role` unless it may perform `action` in this organization's portal.
    pub fn check_role(&self, role: Role, action: Action) -> Result<(), OrganizationError> {
        Ok(self.portal.check_role(role, action)?)
    }

    /// Certificates the portal holds for this organization: current and staged.
    pub fn certificate_count(&self) -> usize {
        self.servers
            .iter()
            .map(|s| usize::from(s.certificate.is_some()) + usize::from(s.staged.is_some()))
            .sum()
    }

    fn check_certificate_room(&self) -> Result<(), OrganizationError> {
        let count = self.certificate_count();
        if count >= MAX_CERTIFICATES {
            return Err(OrganizationError::CertificateLimit {
                count,
                max: MAX_CERTIFICATES,
            });
        }
        Ok(())
    }

    /// Adds a server with its keypair (whose certificate the admin uploads).
    pub fn add_server(
        &mut self,
        name: &str,
        keypair: ServerKeypair,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<&MdmServer, OrganizationError> {
        let certificate = keypair.certificate().cloned();
        let index = self.servers.len();
        self.add_linked_server(name, certificate, options, now)?;
        self.servers[index].keypair = Some(Box::new(keypair));
        Ok(&self.servers[index])
    }

    /// Adds a server whose private key is kept elsewhere (an HSM, the
    /// vendor's own key store): only its certificate, if any, is held here.
    /// Tokens for it are opened outside the model and bound with
    /// [`Self::install_opened_token`].
    pub fn add_linked_server(
        &mut self,
        name: &str,
        certificate: Option<ServerCertificate>,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<&MdmServer, OrganizationError> {
        let name = self.check_name(name)?;
        if certificate.is_some() {
            self.check_certificate_room()?;
        }
        let key = name.comparison_key().to_owned();
        self.servers.push(MdmServer {
            name,
            certificate: certificate.map(Box::new),
            keypair: None,
            staged: None,
            token: None,
            options,
            replacement: None,
            created_at: now,
            server_uuid: None,
        });
        let index = self.servers.len() - 1;
        self.by_key.insert(key, index);
        Ok(&self.servers[index])
    }

    /// Removes a server and returns it.
    pub fn remove_server(&mut self, name: &str) -> Result<MdmServer, OrganizationError> {
        let i = self.index_of(name)?;
        let server = self.servers.remove(i);
        self.by_key.remove(server.name.comparison_key());
        for v in self.by_key.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Ok(server)
    }

    /// Opens `data` with the server's staged or current key and installs it.
    ///
    /// A token that opens with the staged keypair promotes it (and records
    /// that the old one is retired); one that opens with the current key is a
    /// renewal. A renewal whose consumer key differs from the installed one is
    /// refused unless `options.force`.
    ///
    /// Unless `options.force`, a token that cannot be right is refused: one
    /// already expired at `now`, the installed token itself, and one that
    /// does not expire later than the installed token. A pending replacement
    /// event is cleared only by a token issued after it (issued = its expiry
    /// less one year; [`Self::install_token_file`] uses the file name's
    /// download time when it has Apple's form).
    pub fn install_token(
        &mut self,
        name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        self.open_and_bind(name, data, options, None, now)
            .map(|(outcome, _)| outcome)
    }

    fn open_and_bind(
        &mut self,
        name: &str,
        data: &[u8],
        options: InstallOptions,
        issued: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(InstallOutcome, Option<InstallWarning>), OrganizationError> {
        let i = self.index_of(name)?;
        let server = &self.servers[i];
        let server_name = server.name.to_string();
        let token_err = |source: TokenError| OrganizationError::Token {
            server: server_name.clone(),
            source,
        };
        let mut opened: Option<(ServerToken, bool)> = None;
        let mut token_recipients: Vec<RecipientDescription> = Vec::new();
        let mut all_wrong_recipient = true;
        let mut last_err = None;
        let candidates = server
            .staged
            .as_ref()
            .map(|s| (&s.keypair, true))
            .into_iter()
            .chain(server.keypair.as_deref().map(|k| (k, false)));
        for (keypair, is_staged) in candidates {
            match token::open(data, keypair) {
                Ok(t) => {
                    opened = Some((t, is_staged));
                    break;
                }
                Err(TokenError::WrongRecipient {
                    token_recipients: theirs,
                    our_certificates,
                }) => {
                    token_recipients = theirs.clone();
                    last_err = Some(TokenError::WrongRecipient {
                        token_recipients: theirs,
                        our_certificates,
                    });
                }
                Err(e) => {
                    all_wrong_recipient = false;
                    last_err = Some(e);
                    // A format or payload error will not change with another key.
                    if !matches!(last_err, Some(TokenError::Decrypt)) {
                        break;
                    }
                }
            }
        }
        let Some((token, is_staged)) = opened else {
            return Err(match last_err {
                // Every keypair was asked and the token names none of them:
                // say which certificates it was checked against.
                Some(TokenError::WrongRecipient { .. }) if all_wrong_recipient => {
                    OrganizationError::TokenForOtherKey {
                        server: server_name,
                        token_recipients,
                        checked: server.certificate_descriptions(),
                    }
                }
                Some(e) => token_err(e),
                None => OrganizationError::NoKeypair {
                    server: server_name,
                },
            });
        };
        self.bind(i, token, is_staged, options, issued, now)
    }

    /// Like [`Self::install_token`], and also reads the file's name
    /// (`file_name`, a name or path, as downloaded: see
    /// [`token::filename`]). A file name that names another server gives a
    /// warning, not an error: the key that opens the token decides the
    /// server. A file name not of Apple's form is ignored.
    pub fn install_token_file(
        &mut self,
        name: &str,
        file_name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallReport, OrganizationError> {
        let parsed = token::filename::parse(file_name).ok();
        let issued = parsed.as_ref().map(|f| f.downloaded_at);
        let (outcome, still_due) = self.open_and_bind(name, data, options, issued, now)?;
        let mut warnings: Vec<InstallWarning> = still_due.into_iter().collect();
        if let Some(f) = &parsed
            && let Some(server) = self.server(name)
            && !f.names_server(server.name.as_str())
        {
            warnings.push(InstallWarning::FileNamesOtherServer {
                file_server: f.server_name.clone(),
                server: server.name.to_string(),
            });
        }
        Ok(InstallReport {
            outcome,
            file_name: parsed,
            warnings,
        })
    }

    /// Records Apple's identifier for the server: the `server_uuid` that
    /// *Account Detail* (`GET /account`, [`crate::session::Account`])
    /// returns. It is the `iss` of the server's Access Management JWTs.
    pub fn set_server_uuid(&mut self, name: &str, uuid: &str) -> Result<(), OrganizationError> {
        let i = self.index_of(name)?;
        let uuid = uuid.trim();
        if uuid.is_empty() || uuid.len() > 64 || !uuid.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
            return Err(OrganizationError::InvalidServerUuid {
                value: uuid.chars().filter(|c| !c.is_control()).take(80).collect(),
            });
        }
        self.servers[i].server_uuid = Some(uuid.to_owned());
        Ok(())
    }

    /// Signs an Access Management (`com.apple.maid`) JWT for the server
    /// with its *current* keypair (see [`crate::jwt`] for what Apple
    /// documents): `iss` is the server's UUID ([`Self::set_server_uuid`]),
    /// `iat` is `now`, `jti` is the caller's (a fresh [`jwt::random_jti`]
    /// for each token). `rng` blinds the RSA operation.
    ///
    /// During a rotation the current key keeps signing until a token for the
    /// staged key is installed: Apple verifies with the certificate it holds,
    /// so upload the staged certificate and install its token together.
    pub fn access_management_jwt<R: TryCryptoRng + ?Sized>(
        &self,
        name: &str,
        now: OffsetDateTime,
        jti: &str,
        rng: &mut R,
    ) -> Result<String, OrganizationError> {
        let server = &self.servers[self.index_of(name)?];
        let server_name = || server.name.to_string();
        let keypair = server
            .keypair
            .as_deref()
            .ok_or_else(|| OrganizationError::NoKeypair {
                server: server_name(),
            })?;
        let issuer =
            server
                .server_uuid
                .as_deref()
                .ok_or_else(|| OrganizationError::NoServerUuid {
                    server: server_name(),
                })?;
        let claims = MaidClaims {
            issuer,
            issued_at: now,
            jti,
        };
        jwt::sign_maid_jwt(keypair, &claims, rng).map_err(|source| OrganizationError::Jwt {
            server: server_name(),
            source,
        })
    }

    /// Installs an already opened token on the server, as if it opened with
    /// the current keypair (use [`Self::install_token`] to have the file checked).
    pub fn install_opened_token(
        &mut self,
        name: &str,
        token: ServerToken,
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        let i = self.index_of(name)?;
        self.bind(i, token, false, options, None, now)
            .map(|(outcome, _)| outcome)
    }

    /// Refuses, unless forced, a token that cannot be a good replacement for
    /// the installed one.
    fn check_replacement(
        server: &MdmServer,
        token: &ServerToken,
        now: OffsetDateTime,
    ) -> Result<(), OrganizationError> {
        let name = || server.name.to_string();
        let expiry = token.access_token_expiry();
        if let Some(old) = &server.token {
            if old.token == *token {
                return Err(OrganizationError::SameToken {
                    server: name(),
                    expiry: rfc3339(expiry),
                });
            }
            if old.token.consumer_key() != token.consumer_key() {
                return Err(OrganizationError::ConsumerKeyChanged {
                    server: name(),
                    old: old.token.consumer_key().to_owned(),
                    new: token.consumer_key().to_owned(),
                });
            }
            if expiry <= old.token.access_token_expiry() {
                return Err(OrganizationError::TokenNotNewer {
                    server: name(),
                    new_expiry: rfc3339(expiry),
                    installed_expiry: rfc3339(old.token.access_token_expiry()),
                });
            }
        }
        if expiry <= now {
            return Err(OrganizationError::TokenExpired {
                server: name(),
                expiry: rfc3339(expiry),
            });
        }
        Ok(())
    }

    fn bind(
        &mut self,
        i: usize,
        token: ServerToken,
        promote: bool,
        options: InstallOptions,
        issued: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(InstallOutcome, Option<InstallWarning>), OrganizationError> {
        let server = &mut self.servers[i];
        if !options.force {
            Self::check_replacement(server, &token, now)?;
        }
        let issued = issued
            .unwrap_or_else(|| crate::expiry::issued_from_expiry(token.access_token_expiry()));
        let outcome = if promote {
            let staged = server.staged.take().map(|s| s.keypair);
            server.certificate = staged
                .as_ref()
                .and_then(|k| k.certificate().cloned())
                .map(Box::new);
            server.keypair = staged.map(Box::new);
            InstallOutcome::KeyPromoted
        } else if server.token.is_none() {
            InstallOutcome::First
        } else {
            InstallOutcome::Renewed
        };
        server.token = Some(InstalledToken {
            token,
            installed_at: now,
            downloaded_by: options.downloaded_by,
            certificate_serial: server.certificate.as_ref().map(|c| c.serial_hex()),
        });
        // Only a token issued after the event replaces the one it invalidated.
        let still_due = match server.replacement {
            Some((reason, since)) if issued <= since => Some(InstallWarning::ReplacementStillDue {
                reason,
                since,
                issued,
            }),
            _ => {
                server.replacement = None;
                None
            }
        };
        Ok((outcome, still_due))
    }

    /// Stages a new keypair for a server. The current keypair and token keep
    /// working until a token that opens with the staged key is installed.
    ///
    /// A server that already has a staged keypair is refused
    /// ([`OrganizationError::AlreadyStaged`]): its certificate may already be
    /// uploaded, and its token on the way. Discard it first
    /// ([`Self::discard_staged`]) to replace it.
    pub fn stage_keypair(
        &mut self,
        name: &str,
        keypair: ServerKeypair,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        self.check_can_stage(i)?;
        let server = &mut self.servers[i];
        Ok(server.staged.insert(Box::new(StagedKeypair {
            keypair,
            since: now,
        })))
    }

    /// Generates a new keypair of `size` for the server and stages it (the
    /// first step of a key rotation: upload the staged certificate, then
    /// install the token the portal issues for it). The certificate's common
    /// name is derived from the server name, valid from `now`. The server and
    /// the certificate limit are checked before the (slow) key generation.
    /// A server with a staged keypair is refused, as by [`Self::stage_keypair`].
    pub fn stage_new_keypair<R: TryCryptoRng + ?Sized>(
        &mut self,
        name: &str,
        size: KeySize,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        self.check_can_stage(i)?;
        let server = self.servers[i].name.to_string();
        let params = CertificateParams::new(common_name_for(&server), now);
        let keypair = ServerKeypair::generate(rng, size, &params)
            .map_err(|source| OrganizationError::Key { server, source })?;
        self.stage_keypair(name, keypair, now)
    }

    /// Checks, before the (slow) key generation, that the server named `name`
    /// exists, has no staged keypair and that the portal's certificate limit
    /// leaves room for one more.
    pub fn check_stage(&self, name: &str) -> Result<(), OrganizationError> {
        self.check_can_stage(self.index_of(name)?)
    }

    fn check_can_stage(&self, i: usize) -> Result<(), OrganizationError> {
        let server = &self.servers[i];
        if let Some(staged) = &server.staged {
            return Err(OrganizationError::AlreadyStaged {
                server: server.name.to_string(),
                serial: staged
                    .keypair
                    .certificate()
                    .map(ServerCertificate::serial_hex)
                    .unwrap_or_else(|| "-".into()),
                since: rfc3339(staged.since),
            });
        }
        self.check_certificate_room()
    }

    /// The token installed on the server named `name`
    /// ([`OrganizationError::NoToken`] when there is none).
    pub fn token_of(&self, name: &str) -> Result<&InstalledToken, OrganizationError> {
        let server = &self.servers[self.index_of(name)?];
        server
            .token
            .as_ref()
            .ok_or_else(|| OrganizationError::NoToken {
                server: server.name.to_string(),
            })
    }

    /// Discards a staged keypair (the rotation is abandoned).
    pub fn discard_staged(&mut self, name: &str) -> Result<StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        let server = &mut self.servers[i];
        server
            .staged
            .take()
            .map(|s| *s)
            .ok_or_else(|| OrganizationError::NoStagedKeypair {
                server: server.name.to_string(),
            })
    }

    /// Records an event that invalidates a server's token.
    pub fn record_event(
        &mut self,
        name: &str,
        reason: ReplacementReason,
        at: OffsetDateTime,
    ) -> Result<(), OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].replacement = Some((reason, at));
        Ok(())
    }

    /// A portal user changed their Managed Apple Account password or left:
    /// every token they downloaded must be replaced. Returns the servers affected.
    pub fn record_user_event(
        &mut self,
        user: &str,
        reason: ReplacementReason,
        at: OffsetDateTime,
    ) -> Vec<String> {
        let mut affected = Vec::new();
        for s in &mut self.servers {
            let by_user = s
                .token
                .as_ref()
                .and_then(|t| t.downloaded_by.as_deref())
                .is_some_and(|d| d.eq_ignore_ascii_case(user));
            if by_user {
                s.replacement = Some((reason, at));
                affected.push(s.name.to_string());
            }
        }
        affected
    }

    /// Every server's status at `now`.
    pub fn statuses(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> Vec<ServerStatus> {
        self.servers.iter().map(|s| s.status(policy, now)).collect()
    }

    /// The servers that need action at `now`, most urgent first: replacement
    /// events and expired tokens (oldest first), then tokens and certificates
    /// inside the warning window (soonest first), then half-done rotations.
    ///
    /// A staged keypair still waiting for its token is never forgotten: the
    /// advice of a server listed anyway ends with "staging pending since
    /// <date>", and a server with a valid token is listed for it alone once
    /// the staging is [`STAGING_REMINDER_AFTER`] old (with its `Valid`
    /// health, after every other item).
    pub fn needs_action(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> Vec<ActionItem> {
        let portal = self.portal;
        let mut items: Vec<ActionItem> = Vec::new();
        for s in &self.servers {
            let status = s.status(policy, now);
            let worst = status.worst();
            let staging_note = status.staging_message();
            let stale_staging = status
                .staging_pending_since
                .is_some_and(|since| now - since >= STAGING_REMINDER_AFTER);
            if !worst.needs_action() {
                // A healthy server is listed only for a half-done rotation
                // that has waited a while; it sorts after every other item.
                if let (true, Some(note)) = (stale_staging, staging_note) {
                    items.push(ActionItem {
                        server: s.name.to_string(),
                        health: worst,
                        advice: format!("finish the key rotation: {note}"),
                        staging_pending_since: status.staging_pending_since,
                    });
                }
                continue;
            }
            let advice = match (&worst, status.token) {
                _ if status.certificate_needs_rotation().is_some() => {
                    let when = match status.certificate {
                        Some(Health::Expired { since }) => format!("expired on {}", since.date()),
                        Some(h) => format!("expires on {}", h.deadline().date()),
                        None => String::new(),
                    };
                    format!(
                        "the uploaded certificate {when}: rotate the key (stage a new keypair), upload the new certificate in {} ({}) and download a new {} for it",
                        portal.product_name(),
                        portal.settings_path(),
                        portal.token_noun()
                    )
                }
                (_, None) => format!(
                    "upload the certificate in {} ({}) and download the {}",
                    portal.product_name(),
                    portal.settings_path(),
                    portal.token_noun()
                ),
                (Health::MustReplace { .. } | Health::Expired { .. }, _) => format!(
                    "download a new {} for this {} in {} and install it",
                    portal.token_noun(),
                    portal.server_noun(),
                    portal.product_name()
                ),
                _ => format!(
                    "renew: download a new {} in {} before it expires",
                    portal.token_noun(),
                    portal.product_name()
                ),
            };
            let advice = match staging_note {
                Some(note) => format!("{advice}; {note}"),
                None => advice,
            };
            items.push(ActionItem {
                server: s.name.to_string(),
                health: worst,
                advice,
                staging_pending_since: status.staging_pending_since,
            });
        }
        // Most urgent first; among those that cannot work, a server that
        // never had a token comes first (it has never worked at all).
        items.sort_by_key(|i| {
            (
                2 - i.health.exit_code(),
                !matches!(i.health, Health::NoToken { .. }),
                i.health.deadline(),
            )
        });
        items
    }

    /// The serializable form; private keys only when `include_private_keys`.
    pub fn to_record(&self, include_private_keys: bool) -> Result<OrganizationRecord, KeyError> {
        Ok(OrganizationRecord {
            name: self.name.clone(),
            portal: self.portal,
            servers: self
                .servers
                .iter()
                .map(|s| s.to_record(include_private_keys))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Restores an organization, re-checking every name rule.
    pub fn from_record(record: OrganizationRecord) -> Result<Self, OrganizationError> {
        let mut org = Organization::new(record.name, record.portal);
        for r in record.servers {
            let server = MdmServer::from_record(r)?;
            org.check_name(server.name.as_str())?;
            org.by_key
                .insert(server.name.comparison_key().to_owned(), org.servers.len());
            org.servers.push(server);
        }
        Ok(org)
    }
}

impl Serialize for Organization {
    /// Serializes without private keys; use [`Organization::to_record`] with
    /// `true` to include them.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_record(false)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Organization {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Organization::from_record(OrganizationRecord::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}
