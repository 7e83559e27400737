//! [`MdmServer`]: one linked server, its keys, certificate and token.

use core::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    expiry::ReplacementReason,
    keypair::{ServerCertificate, ServerKeypair},
    name::ServerName,
    token::ServerToken,
};

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

use crate::encoding::hex_upper;

/// Optional labels and settings for a new server. Start from `Default`:
/// `ServerOptions::default().with_customer("Acme")`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Whether the server may release devices from the organization.
    pub release_devices: bool,
    /// For managed service providers: the customer this server belongs to.
    pub customer: Option<String>,
    /// For managed service providers: the customer's site.
    pub site: Option<String>,
}

impl ServerOptions {
    /// Whether the server may release devices from the organization.
    pub fn with_release_devices(mut self, release_devices: bool) -> Self {
        self.release_devices = release_devices;
        self
    }

    /// For managed service providers: the customer this server belongs to.
    pub fn with_customer(mut self, customer: impl Into<String>) -> Self {
        self.customer = Some(customer.into());
        self
    }

    /// For managed service providers: the customer's site.
    pub fn with_site(mut self, site: impl Into<String>) -> Self {
        self.site = Some(site.into());
        self
    }
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
    pub(super) name: ServerName,
    pub(super) key: ServerKey,
    pub(super) staged: Option<Box<StagedKeypair>>,
    pub(super) token: Option<InstalledToken>,
    pub(super) options: ServerOptions,
    pub(super) replacement: Option<(ReplacementReason, OffsetDateTime)>,
    pub(super) created_at: OffsetDateTime,
    pub(super) server_uuid: Option<String>,
}

/// Where a server's current key lives. The certificate is held once: inside
/// the keypair when the private key is held here, on its own otherwise.
#[derive(Debug, Clone)]
pub(super) enum ServerKey {
    /// The private key (and its certificate, if any) is held here.
    Held(Box<ServerKeypair>),
    /// The private key lives elsewhere (an HSM, the vendor's key store);
    /// only the certificate, if any, is held.
    Elsewhere(Option<Box<ServerCertificate>>),
}

impl MdmServer {
    /// The server's name.
    pub fn name(&self) -> &ServerName {
        &self.name
    }

    /// The current keypair, when the private key is held here.
    pub fn keypair(&self) -> Option<&ServerKeypair> {
        match &self.key {
            ServerKey::Held(k) => Some(k),
            ServerKey::Elsewhere(_) => None,
        }
    }

    /// The current certificate.
    pub fn certificate(&self) -> Option<&ServerCertificate> {
        match &self.key {
            ServerKey::Held(k) => k.certificate(),
            ServerKey::Elsewhere(c) => c.as_deref(),
        }
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
    /// with [`Organization::set_server_uuid`](super::Organization::set_server_uuid).
    pub fn server_uuid(&self) -> Option<&str> {
        self.server_uuid.as_deref()
    }

    /// The certificates a token for this server may be issued to, staged
    /// first (the order [`Organization::install_token`](super::Organization::install_token) tries them).
    pub fn certificate_descriptions(&self) -> Vec<CertificateDescription> {
        let mut out = Vec::with_capacity(2);
        if let Some(s) = &self.staged {
            out.push(CertificateDescription::of(&s.keypair, KeyRole::Staged));
        }
        match (self.keypair(), self.certificate()) {
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
}
