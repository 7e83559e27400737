//! The rules of one server, on [`MdmServer`]: which of its keys opens a
//! token, whether the token may replace the installed one and what it
//! clears, staging and discarding a keypair, its UUID and its Access
//! Management JWT, and the events that invalidate its token.
//!
//! [`Organization`](super::Organization) adds what needs the whole account
//! (unique names, the portal's certificate limit) and calls these; the
//! store-backed [`Registry`](crate::store::registry::Registry) calls them on
//! the one server it loaded from its row. One set of rules, so the two
//! domain APIs cannot drift.

use rand_core::TryCryptoRng;
use time::OffsetDateTime;

use super::{
    InstallOptions, InstallOutcome, InstallReport, InstallWarning, InstalledToken, MdmServer,
    OrganizationError, ServerOptions, StagedKeypair, canonical_server_uuid, install::rfc3339,
    server::ServerKey,
};
use crate::{
    expiry::ReplacementReason,
    jwt::{self, MaidClaims},
    keypair::{ServerCertificate, ServerKeypair},
    name::ServerName,
    token::{self, RecipientDescription, ServerToken, TokenError},
};

impl MdmServer {
    /// A server named `name` (checked against the naming rules; uniqueness
    /// is its account's business) holding `keypair`.
    pub fn new(
        name: &str,
        keypair: ServerKeypair,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<Self, OrganizationError> {
        Ok(Self::with_key(
            ServerName::parse(name)?,
            ServerKey::Held(Box::new(keypair)),
            options,
            now,
        ))
    }

    /// A server whose private key is kept elsewhere (an HSM, the vendor's
    /// own key store): only its certificate, if any, is held.
    pub fn new_linked(
        name: &str,
        certificate: Option<ServerCertificate>,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<Self, OrganizationError> {
        Ok(Self::with_key(
            ServerName::parse(name)?,
            ServerKey::Elsewhere(certificate.map(Box::new)),
            options,
            now,
        ))
    }

    pub(super) fn with_key(
        name: ServerName,
        key: ServerKey,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            name,
            key,
            staged: None,
            token: None,
            options,
            replacement: None,
            created_at: now,
            server_uuid: None,
        }
    }

    /// Opens `data` with the staged or current key and installs it: the
    /// rules of [`Organization::install_token`](super::Organization::install_token),
    /// for this server. `rng` blinds the RSA decryption.
    pub fn install_token_with_rng<R: TryCryptoRng + ?Sized>(
        &mut self,
        data: &[u8],
        options: InstallOptions,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        self.open_and_bind(data, options, None, rng, now)
            .map(|(outcome, _)| outcome)
    }

    /// [`Self::install_token_with_rng`], also reading the file's name as
    /// [`Organization::install_token_file`](super::Organization::install_token_file)
    /// does (its download time; a warning when it names another server).
    pub fn install_token_file(
        &mut self,
        file_name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallReport, OrganizationError> {
        let rng = &mut crate::SystemRng::default();
        let parsed = token::filename::parse(file_name).ok();
        let issued = parsed.as_ref().map(|f| f.downloaded_at);
        let (outcome, still_due) = self.open_and_bind(data, options, issued, rng, now)?;
        let mut warnings: Vec<InstallWarning> = still_due.into_iter().collect();
        if let Some(f) = &parsed
            && !f.names_server(self.name.as_str())
        {
            warnings.push(InstallWarning::FileNamesOtherServer {
                file_server: f.server_name.clone(),
                server: self.name.to_string(),
            });
        }
        Ok(InstallReport {
            outcome,
            file_name: parsed,
            warnings,
        })
    }

    /// Installs an already opened token, as if it opened with the current
    /// keypair.
    pub fn install_opened_token(
        &mut self,
        token: ServerToken,
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        self.bind(token, false, options, None, now)
            .map(|(outcome, _)| outcome)
    }

    pub(super) fn open_and_bind<R: TryCryptoRng + ?Sized>(
        &mut self,
        data: &[u8],
        options: InstallOptions,
        issued: Option<OffsetDateTime>,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<(InstallOutcome, Option<InstallWarning>), OrganizationError> {
        let server = &*self;
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
            .chain(server.keypair().map(|k| (k, false)));
        for (keypair, is_staged) in candidates {
            match token::open_with_rng(data, keypair, rng) {
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
        self.bind(token, is_staged, options, issued, now)
    }

    /// Refuses, unless forced, a token that cannot be a good replacement for
    /// the installed one.
    fn check_replacement(
        &self,
        token: &ServerToken,
        now: OffsetDateTime,
    ) -> Result<(), OrganizationError> {
        let name = || self.name.to_string();
        let expiry = token.access_token_expiry();
        if let Some(old) = &self.token {
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
        token: ServerToken,
        promote: bool,
        options: InstallOptions,
        issued: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(InstallOutcome, Option<InstallWarning>), OrganizationError> {
        if !options.force {
            self.check_replacement(&token, now)?;
        }
        let server = self;
        let issued = issued
            .unwrap_or_else(|| crate::expiry::issued_from_expiry(token.access_token_expiry()));
        let outcome = if promote {
            if let Some(staged) = server.staged.take() {
                server.key = ServerKey::Held(Box::new(staged.keypair));
            }
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
            certificate_serial: server.certificate().map(|c| c.serial_hex()),
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

    /// Stages `keypair` (a rotation's first step); refused when one is
    /// already staged ([`OrganizationError::AlreadyStaged`]). The portal's
    /// certificate limit is the account's to check.
    pub fn stage_keypair(
        &mut self,
        keypair: ServerKeypair,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        self.check_not_staged()?;
        Ok(self.staged.insert(Box::new(StagedKeypair {
            keypair,
            since: now,
        })))
    }

    /// [`OrganizationError::AlreadyStaged`] when a keypair is staged.
    pub fn check_not_staged(&self) -> Result<(), OrganizationError> {
        match &self.staged {
            Some(staged) => Err(OrganizationError::AlreadyStaged {
                server: self.name.to_string(),
                serial: staged
                    .keypair
                    .certificate()
                    .map(ServerCertificate::serial_hex)
                    .unwrap_or_else(|| "-".into()),
                since: rfc3339(staged.since),
            }),
            None => Ok(()),
        }
    }

    /// Discards the staged keypair (the rotation is abandoned).
    pub fn discard_staged(&mut self) -> Result<StagedKeypair, OrganizationError> {
        self.staged
            .take()
            .map(|s| *s)
            .ok_or_else(|| OrganizationError::NoStagedKeypair {
                server: self.name.to_string(),
            })
    }

    /// Records Apple's `server_uuid` in its one form ([`parse_server_uuid`]).
    pub fn set_server_uuid(&mut self, uuid: &str) -> Result<(), OrganizationError> {
        self.server_uuid = Some(parse_server_uuid(uuid)?);
        Ok(())
    }

    /// Signs an Access Management JWT with the *current* keypair: the rules
    /// of [`Organization::access_management_jwt`](super::Organization::access_management_jwt).
    pub fn access_management_jwt<R: TryCryptoRng + ?Sized>(
        &self,
        now: OffsetDateTime,
        jti: &str,
        rng: &mut R,
    ) -> Result<String, OrganizationError> {
        let server_name = || self.name.to_string();
        let keypair = self.keypair().ok_or_else(|| OrganizationError::NoKeypair {
            server: server_name(),
        })?;
        let issuer =
            self.server_uuid
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

    /// Records an event that invalidates the installed token.
    pub fn record_event(&mut self, reason: ReplacementReason, at: OffsetDateTime) {
        self.replacement = Some((reason, at));
    }

    /// Whether portal user `user` downloaded the installed token
    /// ([`downloaded_by_user`]).
    pub fn token_downloaded_by(&self, user: &str) -> bool {
        downloaded_by_user(
            self.token.as_ref().and_then(|t| t.downloaded_by.as_deref()),
            user,
        )
    }
}

/// Whether a token recorded as downloaded by `downloaded_by` was downloaded
/// by portal user `user` (a Managed Apple Account: compared ignoring ASCII
/// case). The rule behind `record_user_event` in the model and the registry.
pub fn downloaded_by_user(downloaded_by: Option<&str>, user: &str) -> bool {
    downloaded_by.is_some_and(|d| d.eq_ignore_ascii_case(user.trim()))
}

/// A server UUID in its one stored form ([`canonical_server_uuid`]), or
/// [`OrganizationError::InvalidServerUuid`] naming what was given.
pub fn parse_server_uuid(uuid: &str) -> Result<String, OrganizationError> {
    canonical_server_uuid(uuid).ok_or_else(|| OrganizationError::InvalidServerUuid {
        value: uuid
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect(),
    })
}
