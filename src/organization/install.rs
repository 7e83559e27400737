//! Installing tokens (binding each to the server whose key opens it) and
//! staging keys for a rotation, with what each did.

use core::fmt;

use rand_core::TryCryptoRng;
use serde::Serialize;
use time::OffsetDateTime;

use super::{
    InstalledToken, Organization, OrganizationError, ServerNameArg, ServerOptions, StagedKeypair,
};
use crate::{
    expiry::ReplacementReason,
    keypair::{KeySize, ServerKeypair},
    token::{ServerToken, filename::TokenFileName},
};

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

/// What to record with an installed token. Start from `Default` and add
/// what you know: `InstallOptions::default().with_downloaded_by("a@example.com")`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct InstallOptions {
    /// Who downloaded the token from the portal.
    pub downloaded_by: Option<String>,
    /// Accept a token that would otherwise be refused: a changed consumer
    /// key, an expired token, one that does not expire later than the
    /// installed token, or the installed token itself. A replacement event is
    /// still cleared only by a token issued after it.
    pub force: bool,
}

impl InstallOptions {
    /// Records who downloaded the token from the portal.
    pub fn with_downloaded_by(mut self, user: impl Into<String>) -> Self {
        self.downloaded_by = Some(user.into());
        self
    }

    /// Accepts (`true`) a token that would otherwise be refused (see `force`).
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
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

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
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

impl InstallReport {
    /// The warnings, one per line (empty when there are none).
    pub fn warnings_text(&self) -> String {
        self.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Key generation outside a lock: an organization shared between threads
/// (behind a `Mutex`, as the C API keeps it) is locked to check, unlocked
/// while the (slow) key is generated, and locked again to add it, which
/// checks again. `lock` gives the organization, locked.
impl Organization {
    /// Adds a server named `name` with a new keypair of `size` whose
    /// certificate's common name is derived from the name, valid from `now`.
    /// The name and the certificate limit are checked before generation.
    /// Returns a copy of the keypair (its certificate is what the admin uploads).
    pub fn add_server_generated<G, E, R>(
        lock: impl Fn() -> Result<G, E>,
        name: &str,
        size: KeySize,
        options: ServerOptions,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<ServerKeypair, E>
    where
        G: core::ops::DerefMut<Target = Organization>,
        E: From<OrganizationError>,
        R: TryCryptoRng + ?Sized,
    {
        let checked = {
            let org = lock()?;
            let checked = org.check_name(name)?;
            org.check_certificate_room()?;
            checked
        };
        let keypair = generate_for(checked.as_str(), size, rng, now)?;
        let copy = keypair.clone();
        lock()?.add_server(name, keypair, options, now)?;
        Ok(copy)
    }

    /// Stages a new keypair of `size` for the server named `name` (the first
    /// step of a rotation), generated outside the lock. The server, its
    /// staging and the certificate limit are checked before generation.
    /// Returns a copy of the staged keypair.
    pub fn stage_generated<N: ServerNameArg + ?Sized, G, E, R>(
        lock: impl Fn() -> Result<G, E>,
        name: &N,
        size: KeySize,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<ServerKeypair, E>
    where
        G: core::ops::DerefMut<Target = Organization>,
        E: From<OrganizationError>,
        R: TryCryptoRng + ?Sized,
    {
        let server = {
            let org = lock()?;
            org.check_stage(name)?;
            org.servers[org.index_of(name)?].name.to_string()
        };
        let keypair = generate_for(&server, size, rng, now)?;
        let copy = keypair.clone();
        lock()?.stage_keypair(name, keypair, now)?;
        Ok(copy)
    }
}

/// A keypair whose certificate is named after `server`, valid from `now`.
fn generate_for<R: TryCryptoRng + ?Sized>(
    server: &str,
    size: KeySize,
    rng: &mut R,
    now: OffsetDateTime,
) -> Result<ServerKeypair, OrganizationError> {
    ServerKeypair::generate_for_server(rng, size, server, now).map_err(|source| {
        OrganizationError::Key {
            server: server.to_owned(),
            source,
        }
    })
}

impl Organization {
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
    ///
    /// The RSA decryption is blinded with the system's random number
    /// generator; [`Self::install_token_with_rng`] takes the caller's.
    pub fn install_token<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        self.install_token_with_rng(name, data, options, &mut crate::SystemRng::default(), now)
    }

    /// [`Self::install_token`] with the caller's randomness (`rng` blinds
    /// the RSA decryption of the content key).
    pub fn install_token_with_rng<N: ServerNameArg + ?Sized, R: TryCryptoRng + ?Sized>(
        &mut self,
        name: &N,
        data: &[u8],
        options: InstallOptions,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].install_token_with_rng(data, options, rng, now)
    }

    /// Like [`Self::install_token`], and also reads the file's name
    /// (`file_name`, a name or path, as downloaded: see
    /// [`crate::token::filename`]). A file name that names another server gives a
    /// warning, not an error: the key that opens the token decides the
    /// server. A file name not of Apple's form is ignored. Blinds with the
    /// system's random number generator, as [`Self::install_token`] does.
    pub fn install_token_file<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        file_name: &str,
        data: &[u8],
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallReport, OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].install_token_file(file_name, data, options, now)
    }

    /// Installs an already opened token on the server, as if it opened with
    /// the current keypair (use [`Self::install_token`] to have the file checked).
    pub fn install_opened_token<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        token: ServerToken,
        options: InstallOptions,
        now: OffsetDateTime,
    ) -> Result<InstallOutcome, OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].install_opened_token(token, options, now)
    }

    /// Stages a new keypair for a server. The current keypair and token keep
    /// working until a token that opens with the staged key is installed.
    ///
    /// A server that already has a staged keypair is refused
    /// ([`OrganizationError::AlreadyStaged`]): its certificate may already be
    /// uploaded, and its token on the way. Discard it first
    /// ([`Self::discard_staged`]) to replace it.
    pub fn stage_keypair<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        keypair: ServerKeypair,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        self.check_can_stage(i)?;
        self.servers[i].stage_keypair(keypair, now)
    }

    /// Generates a new keypair of `size` for the server and stages it (the
    /// first step of a key rotation: upload the staged certificate, then
    /// install the token the portal issues for it). The certificate's common
    /// name is derived from the server name, valid from `now`. The server and
    /// the certificate limit are checked before the (slow) key generation.
    /// A server with a staged keypair is refused, as by [`Self::stage_keypair`].
    pub fn stage_new_keypair<N: ServerNameArg + ?Sized, R: TryCryptoRng + ?Sized>(
        &mut self,
        name: &N,
        size: KeySize,
        rng: &mut R,
        now: OffsetDateTime,
    ) -> Result<&StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        self.check_can_stage(i)?;
        let keypair = generate_for(self.servers[i].name.as_str(), size, rng, now)?;
        self.stage_keypair(name, keypair, now)
    }

    /// Checks, before the (slow) key generation, that the server named `name`
    /// exists, has no staged keypair and that the portal's certificate limit
    /// leaves room for one more.
    pub fn check_stage<N: ServerNameArg + ?Sized>(
        &self,
        name: &N,
    ) -> Result<(), OrganizationError> {
        self.check_can_stage(self.index_of(name)?)
    }

    fn check_can_stage(&self, i: usize) -> Result<(), OrganizationError> {
        self.servers[i].check_not_staged()?;
        self.check_certificate_room()
    }

    /// The token installed on the server named `name`
    /// ([`OrganizationError::NoToken`] when there is none).
    pub fn token_of<N: ServerNameArg + ?Sized>(
        &self,
        name: &N,
    ) -> Result<&InstalledToken, OrganizationError> {
        let server = &self.servers[self.index_of(name)?];
        server
            .token
            .as_ref()
            .ok_or_else(|| OrganizationError::NoToken {
                server: server.name.to_string(),
            })
    }

    /// Discards a staged keypair (the rotation is abandoned).
    pub fn discard_staged<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
    ) -> Result<StagedKeypair, OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].discard_staged()
    }
}
