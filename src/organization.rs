//! One organization's portal account and the MDM servers linked to it.
//!
//! The model enforces the portal's rules (unique names, roles), binds each
//! token to the server whose key opens it, keeps a staged keypair beside the
//! current one during a rotation, and answers "which servers need action,
//! soonest first". It never touches ASN.1: it calls [`crate::token`] and
//! [`crate::expiry`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    expiry::{ExpiryPolicy, Health, ReplacementReason},
    keypair::{KeyError, ServerCertificate, ServerKeypair},
    name::{NameError, ServerName},
    portal::{Action, Portal, Role, RoleError},
    token::{self, RecipientDescription, ServerToken, TokenError},
};

/// Apple's limit on public key certificate files per organization.
pub const MAX_CERTIFICATES: usize = 250;

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
    /// Accept a changed consumer key.
    pub force: bool,
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
}

impl ServerStatus {
    /// The most urgent of the token's and certificate's health; a server
    /// without a token needs one (reported as expired at creation).
    pub fn worst(&self) -> Health {
        let mut worst = self.token.unwrap_or(Health::Expired {
            since: OffsetDateTime::UNIX_EPOCH,
        });
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
        })
    }

    /// Restores a server from its record.
    pub fn from_record(record: ServerRecord) -> Result<Self, OrganizationError> {
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
            token: record.token,
            options: record.options,
            replacement: record.replacement,
            created_at: record.created_at,
        })
    }
}

/// The serializable form of an [`MdmServer`] (what a store saves).
///
/// `Debug` shows whether private keys are present, never the keys.
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
    pub fn install_token(
        &mut self,
        name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        let i = self.index_of(name)?;
        let server = &self.servers[i];
        let server_name = server.name.to_string();
        let token_err = |source: TokenError| OrganizationError::Token {
            server: server_name.clone(),
            source,
        };
        let mut opened: Option<(ServerToken, bool)> = None;
        let mut checked: Vec<RecipientDescription> = Vec::new();
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
                    token_recipients,
                    our_certificates,
                }) => {
                    checked.extend(our_certificates);
                    last_err = Some(TokenError::WrongRecipient {
                        token_recipients,
                        our_certificates: checked.clone(),
                    });
                }
                Err(e) => {
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
                Some(e) => token_err(e),
                None => OrganizationError::NoKeypair {
                    server: server_name,
                },
            });
        };
        self.bind(i, token, is_staged, options, now)
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
        self.bind(i, token, false, options, now)
    }

    fn bind(
        &mut self,
        i: usize,
        token: ServerToken,
        promote: bool,
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        let server = &mut self.servers[i];
        if let Some(old) = &server.token
            && old.token.consumer_key() != token.consumer_key()
            && !options.force
        {
            return Err(OrganizationError::ConsumerKeyChanged {
                server: server.name.to_string(),
                old: old.token.consumer_key().to_owned(),
                new: token.consumer_key().to_owned(),
            });
        }
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
        server.replacement = None;
        Ok(outcome)
    }

    /// Stages a new keypair for a server. The current keypair and token keep
    /// working until a token that opens with the staged key is installed.
    pub fn stage_keypair(
        &mut self,
        name: &str,
        keypair: ServerKeypair,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        if self.servers[i].staged.is_none() {
            self.check_certificate_room()?;
        }
        let server = &mut self.servers[i];
        Ok(server.staged.insert(Box::new(StagedKeypair {
            keypair,
            since: now,
        })))
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
    pub fn needs_action(&self, policy: &ExpiryPolicy, now: OffsetDateTime) -> Vec<ActionItem> {
        let portal = self.portal;
        let mut items: Vec<ActionItem> = Vec::new();
        for s in &self.servers {
            let status = s.status(policy, now);
            let worst = status.worst();
            if !worst.needs_action() {
                continue;
            }
            let advice = match (&worst, status.token) {
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
            items.push(ActionItem {
                server: s.name.to_string(),
                health: worst,
                advice,
            });
        }
        items.sort_by_key(|i| (2 - i.health.exit_code(), i.health.deadline()));
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
