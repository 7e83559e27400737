//! One organization's portal account and the MDM servers linked to it.
//!
//! The model enforces the portal's rules (unique names, roles), binds each
//! token to the server whose key opens it, keeps a staged keypair beside the
//! current one during a rotation, and answers "which servers need action,
//! soonest first". It never touches ASN.1: it calls [`crate::token`] and
//! [`crate::expiry`].
//!
//! One file per concern: this one holds the [`Organization`] and its name
//! index; `server` the [`MdmServer`]; `install` installing tokens and staging
//! keys (and their outcomes); `advice` statuses and what needs action;
//! `record` the serializable records; `error` [`OrganizationError`].

mod advice;
mod error;
mod install;
mod record;
mod rules;
mod server;
#[cfg(test)]
mod tests;

use std::{borrow::Cow, collections::HashMap};

use server::ServerKey;

use rand_core::TryCryptoRng;
use time::{Duration, OffsetDateTime};

pub use advice::{ActionItem, ServerStatus};
pub use error::OrganizationError;
pub use install::{InstallOptions, InstallOutcome, InstallReport, InstallWarning};
pub use record::{OrganizationRecord, ServerRecord};
pub use rules::{downloaded_by_user, parse_server_uuid};
pub use server::{
    CertificateDescription, InstalledToken, KeyRole, MdmServer, ServerOptions, StagedKeypair,
};

use crate::{
    expiry::ReplacementReason,
    keypair::{ServerCertificate, ServerKeypair},
    name::{NameError, ServerName},
    portal::{Action, Portal, Role},
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

/// A server name as the organization's methods take it: a string, parsed
/// (and refused with [`OrganizationError::Name`] when it breaks a naming
/// rule), or a [`ServerName`] already parsed at the edge, used as it is.
pub trait ServerNameArg {
    /// The parsed name.
    fn server_name(&self) -> Result<Cow<'_, ServerName>, NameError>;
}

impl ServerNameArg for str {
    fn server_name(&self) -> Result<Cow<'_, ServerName>, NameError> {
        ServerName::parse(self).map(Cow::Owned)
    }
}

impl ServerNameArg for String {
    fn server_name(&self) -> Result<Cow<'_, ServerName>, NameError> {
        self.as_str().server_name()
    }
}

impl<T: ServerNameArg + ?Sized> ServerNameArg for &T {
    fn server_name(&self) -> Result<Cow<'_, ServerName>, NameError> {
        (**self).server_name()
    }
}

impl ServerNameArg for ServerName {
    fn server_name(&self) -> Result<Cow<'_, ServerName>, NameError> {
        Ok(Cow::Borrowed(self))
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

    /// The server with this name (compared as the portal compares names);
    /// `None` for a name that is not valid, or not in use.
    pub fn server<N: ServerNameArg + ?Sized>(&self, name: &N) -> Option<&MdmServer> {
        self.index_of(name).ok().map(|i| &self.servers[i])
    }

    /// The server named `name`, a name already parsed at the edge.
    pub fn server_named(&self, name: &ServerName) -> Option<&MdmServer> {
        self.by_key
            .get(name.comparison_key())
            .map(|&i| &self.servers[i])
    }

    /// Where the server named `name` is. A name that breaks a naming rule
    /// is reported as invalid ([`OrganizationError::Name`]), never as "not found".
    fn index_of<N: ServerNameArg + ?Sized>(&self, name: &N) -> Result<usize, OrganizationError> {
        let key = name.server_name()?;
        self.by_key
            .get(key.comparison_key())
            .copied()
            .ok_or_else(|| crate::not_found::NotFound::server(key.to_string()).into())
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
            .map(|s| usize::from(s.certificate().is_some()) + usize::from(s.staged.is_some()))
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
        self.push_server(name, ServerKey::Held(Box::new(keypair)), options, now)
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
        self.push_server(
            name,
            ServerKey::Elsewhere(certificate.map(Box::new)),
            options,
            now,
        )
    }

    fn push_server(
        &mut self,
        name: &str,
        server_key: ServerKey,
        options: ServerOptions,
        now: OffsetDateTime,
    ) -> Result<&MdmServer, OrganizationError> {
        let name = self.check_name(name)?;
        let has_certificate = match &server_key {
            ServerKey::Held(k) => k.certificate().is_some(),
            ServerKey::Elsewhere(c) => c.is_some(),
        };
        if has_certificate {
            self.check_certificate_room()?;
        }
        let key = name.comparison_key().to_owned();
        self.servers
            .push(MdmServer::with_key(name, server_key, options, now));
        let index = self.servers.len() - 1;
        self.by_key.insert(key, index);
        Ok(&self.servers[index])
    }

    /// Removes a server and returns it.
    pub fn remove_server<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
    ) -> Result<MdmServer, OrganizationError> {
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

    /// Records Apple's identifier for the server: the `server_uuid` that
    /// *Account Detail* (`GET /account`, [`crate::session::Account`])
    /// returns. It is the `iss` of the server's Access Management JWTs.
    pub fn set_server_uuid<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        uuid: &str,
    ) -> Result<(), OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].set_server_uuid(uuid)
    }

    /// Signs an Access Management (`com.apple.maid`) JWT for the server
    /// with its *current* keypair (see [`crate::jwt`] for what Apple
    /// documents): `iss` is the server's UUID ([`Self::set_server_uuid`]),
    /// `iat` is `now`, `jti` is the caller's (a fresh [`crate::jwt::random_jti`]
    /// for each token). `rng` blinds the RSA operation.
    ///
    /// During a rotation the current key keeps signing until a token for the
    /// staged key is installed: Apple verifies with the certificate it holds,
    /// so upload the staged certificate and install its token together.
    pub fn access_management_jwt<N: ServerNameArg + ?Sized, R: TryCryptoRng + ?Sized>(
        &self,
        name: &N,
        now: OffsetDateTime,
        jti: &str,
        rng: &mut R,
    ) -> Result<String, OrganizationError> {
        self.servers[self.index_of(name)?].access_management_jwt(now, jti, rng)
    }

    /// Records an event that invalidates a server's token.
    pub fn record_event<N: ServerNameArg + ?Sized>(
        &mut self,
        name: &N,
        reason: ReplacementReason,
        at: OffsetDateTime,
    ) -> Result<(), OrganizationError> {
        let i = self.index_of(name)?;
        self.servers[i].record_event(reason, at);
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
            if s.token_downloaded_by(user) {
                s.record_event(reason, at);
                affected.push(s.name.to_string());
            }
        }
        affected
    }
}

/// A server UUID in its one stored form (`2A873497-36CF-4614-A94F-624E705841BE`:
/// upper-case, dashed 8-4-4-4-12), from 32 hexadecimal digits written with
/// those dashes or without, in either case, surrounding spaces ignored;
/// `None` for anything else.
pub fn canonical_server_uuid(text: &str) -> Option<String> {
    let text = text.trim();
    let digits: Vec<u8> = match text.len() {
        32 => text.bytes().collect(),
        36 => {
            let groups: Vec<&str> = text.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            if lengths != [8, 4, 4, 4, 12] {
                return None;
            }
            groups.concat().into_bytes()
        }
        _ => return None,
    };
    if digits.len() != 32 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let upper: String = digits
        .iter()
        .map(|b| char::from(b.to_ascii_uppercase()))
        .collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &upper[..8],
        &upper[8..12],
        &upper[12..16],
        &upper[16..20],
        &upper[20..]
    ))
}

#[cfg(test)]
mod uuid_tests {
    use super::canonical_server_uuid as c;

    #[test]
    fn server_uuids_have_one_form() {
        let canonical = Some("2A873497-36CF-4614-A94F-624E705841BE".to_owned());
        assert_eq!(c("2A873497-36CF-4614-A94F-624E705841BE"), canonical);
        assert_eq!(c(" 2a87349736cf4614a94f624e705841be "), canonical);
        assert_eq!(c("2a873497-36cf-4614-a94f-624e705841be"), canonical);
        for bad in [
            "x",
            "",
            "U-1",
            "2A873497-36CF-4614-A94F-624E705841B",
            "2A873497-36CF-4614-A94F-624E705841BG",
            "2A87349-736CF-4614-A94F-624E705841BE",
            "2A873497+36CF+4614+A94F+624E705841BE",
        ] {
            assert_eq!(c(bad), None, "{bad}");
        }
    }
}
