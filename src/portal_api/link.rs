//! Linking a store's servers through the API (Apple Business only: only
//! its API creates and re-keys device management services).
//!
//! - [`add_server`]: the name is checked locally first (naming rules,
//!   uniqueness in the organization, the 250-certificate limit), then the
//!   keypair is generated, the server is created in the portal with its
//!   certificate, and only then added to the store. A 409 is reported as
//!   the name being taken or reserved in the portal; if the store refuses
//!   the server after the portal created it, the portal's server is deleted
//!   again, so nothing is left half-done.
//! - [`rotate_key`]: stages a keypair and replaces the portal's certificate
//!   with the staged one (`PATCH`, only `serverCertificate`); the current
//!   token keeps working until the new token is installed, which promotes
//!   the staged key as usual. A PATCH Apple refused discards the staged
//!   key; one whose fate is unknown keeps it (the portal may hold its
//!   certificate, and only that key will open the next token).
//!
//! The portal's id for a server is kept with it in the store: [`add_server`]
//! stores the server and the id in one transaction
//! ([`Registry::add_server_linked`]); [`rotate_key`] uses the id given, else
//! the one kept, else finds the server in the portal by name and keeps its
//! id. [`portal_server_id`] resolves a name the same way for the device
//! commands. After either step the admin downloads the token from the
//! server's page in the portal and installs it as usual.

use rand_core::TryCryptoRng;
use time::OffsetDateTime;

use super::client::PortalApiClient;
use super::servers::{CreateServer, MdmServer, ServerCertificateUpload, UpdateServer};
use super::{ApiScope, PortalApiError};
use crate::expiry::ExpiryPolicy;
use crate::keypair::{CertificateParams, KeyError, KeySize, ServerKeypair};
use crate::name::ServerName;
use crate::not_found::Missing;
use crate::organization::{MAX_CERTIFICATES, ServerOptions};
use crate::store::registry::{Registry, RegistryError};
use crate::store::{OrganizationRow, Store};

/// Why linking through the API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The store refused or failed (nothing was sent to Apple when this
    /// comes from the local checks).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Apple's API failed or refused.
    #[error(transparent)]
    Api(#[from] PortalApiError),
    /// The keypair could not be generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Apple answered 409: the name is used by another server, or reserved.
    #[error("the name \"{name}\" is taken or reserved in the portal{}; choose another name (nothing was added)", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NameTakenInPortal {
        /// The name.
        name: String,
        /// Apple's detail, if any.
        detail: Option<String>,
    },
    /// The organization holds 250 certificates already.
    #[error(
        "organization \"{organization}\" holds {count} certificates; Apple accepts at most {MAX_CERTIFICATES}: remove a server or finish a pending rotation first"
    )]
    LimitReached {
        /// The organization.
        organization: String,
        /// Certificates it holds (current and staged).
        count: usize,
    },
    /// The API account belongs to the other portal.
    #[error(transparent)]
    Account(#[from] super::account::ApiAccountError),
    /// The server is not in the portal (by id or by name).
    #[error(
        "no device management service named \"{name}\" in the portal; reconcile the organization with the portal first"
    )]
    NotInPortal {
        /// The server's name.
        name: String,
    },
    /// Several portal servers have the server's name.
    #[error(
        "{count} device management services are named \"{name}\" in the portal; give the portal's server id"
    )]
    AmbiguousInPortal {
        /// The name.
        name: String,
        /// How many.
        count: usize,
    },
    /// The portal created the server but the store refused it.
    #[error("the portal created \"{name}\" (id {portal_server_id}) but the store refused it; {}", if *.rolled_back { "the portal's server was deleted again, nothing is left half-done" } else { "deleting it from the portal failed too: delete it in the portal by hand" })]
    StoreRefusedAfterCreate {
        /// The name.
        name: String,
        /// The portal's id of the server it created.
        portal_server_id: String,
        /// Why the store refused.
        source: Box<RegistryError>,
        /// Whether the portal's server was deleted again.
        rolled_back: bool,
    },
    /// The certificate upload's fate is unknown; the staged key is kept.
    #[error(
        "server \"{name}\": the new certificate may or may not have reached the portal; the staged keypair is kept (the portal may hold its certificate): check the server's page in the portal, then install the next token or discard the staged keypair"
    )]
    RotationUncertain {
        /// The server.
        name: String,
        /// What failed.
        source: Box<PortalApiError>,
    },
}

/// What [`add_server`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AddedByApi {
    /// The organization.
    pub organization: OrganizationRow,
    /// The server's name as stored.
    pub name: String,
    /// The server as the portal created it (its `id` is the portal's id).
    pub portal_server: MdmServer,
    /// The certificate uploaded, PEM.
    pub certificate_pem: String,
    /// The same certificate, DER.
    pub certificate_der: Vec<u8>,
}

/// What [`rotate_key`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RotatedByApi {
    /// The server's name as stored.
    pub name: String,
    /// The portal's id of the server.
    pub portal_server_id: String,
    /// The staged certificate now in the portal, PEM.
    pub staged_certificate_pem: String,
    /// The same certificate, DER.
    pub staged_certificate_der: Vec<u8>,
}

fn certificate_upload(
    name: &str,
    keypair: &ServerKeypair,
) -> Result<ServerCertificateUpload, LinkError> {
    Ok(ServerCertificateUpload::from_der(
        &format!("{}.cer", name.replace(['/', '\\'], "_")),
        &keypair.certificate_der()?,
    )?)
}

fn check_account<S: Store>(
    registry: &mut Registry<S>,
    client: &PortalApiClient,
    organization: Option<&str>,
) -> Result<OrganizationRow, LinkError> {
    let org = registry.organization(organization)?;
    client.account().check_portal(org.portal)?;
    if client.scope() != ApiScope::Business {
        return Err(PortalApiError::BusinessOnly {
            operation: "linking a server through the API",
            scope: client.scope(),
        }
        .into());
    }
    Ok(org)
}

fn certificate_count<S: Store>(
    registry: &mut Registry<S>,
    org: &OrganizationRow,
    now: OffsetDateTime,
) -> Result<usize, LinkError> {
    Ok(registry
        .servers(Some(&org.name), &ExpiryPolicy::default(), now)?
        .iter()
        .map(|s| s.summary.certificate_count())
        .sum())
}

/// Adds `name` to the organization through the API: checks, generates a
/// keypair of `key_size`, creates the server in the portal, stores it.
#[allow(clippy::too_many_arguments)]
pub fn add_server<S: Store, R: TryCryptoRng + ?Sized>(
    registry: &mut Registry<S>,
    client: &PortalApiClient,
    organization: Option<&str>,
    name: &str,
    options: ServerOptions,
    key_size: KeySize,
    rng: &mut R,
    now: OffsetDateTime,
) -> Result<AddedByApi, LinkError> {
    let org = check_account(registry, client, organization)?;
    let (org, parsed) = registry.check_new_server(Some(&org.name), name)?;
    let count = certificate_count(registry, &org, now)?;
    if count >= MAX_CERTIFICATES {
        return Err(LinkError::LimitReached {
            organization: org.name.clone(),
            count,
        });
    }
    let name = parsed.as_str().to_owned();
    let keypair =
        ServerKeypair::generate(rng, key_size, &CertificateParams::new(name.clone(), now))?;
    let certificate_pem = keypair.certificate_pem()?;
    let certificate_der = keypair.certificate_der()?;
    let create = CreateServer::new(
        &name,
        certificate_upload(&name, &keypair)?,
        options.release_devices,
    );
    let portal_server = match client.create_server(&create) {
        Ok(s) => s,
        Err(PortalApiError::Api {
            status: 409,
            detail,
            title,
            ..
        }) => {
            return Err(LinkError::NameTakenInPortal {
                name,
                detail: detail.or(title),
            });
        }
        Err(e) => return Err(e.into()),
    };
    // The server and the portal's id for it: one transaction.
    match registry.add_server_linked(
        Some(&org.name),
        &name,
        keypair,
        options,
        &portal_server.id,
        now,
    ) {
        Ok(org) => Ok(AddedByApi {
            organization: org,
            name,
            portal_server,
            certificate_pem,
            certificate_der,
        }),
        Err(source) => {
            let rolled_back = client.delete_server(&portal_server.id).is_ok();
            Err(LinkError::StoreRefusedAfterCreate {
                name,
                portal_server_id: portal_server.id,
                source: Box::new(source),
                rolled_back,
            })
        }
    }
}

/// The portal's server named like `name` (names compare as the portal
/// compares them: trimmed, case-insensitive, NFC).
pub fn find_portal_server(client: &PortalApiClient, name: &str) -> Result<MdmServer, LinkError> {
    let key = ServerName::parse(name)
        .map(|n| n.comparison_key().to_owned())
        .unwrap_or_else(|_| name.trim().to_lowercase());
    let mut found: Vec<MdmServer> = client
        .all_servers()?
        .into_iter()
        .filter(|s| {
            s.attributes.server_name.as_deref().is_some_and(|n| {
                ServerName::parse(n)
                    .map(|p| p.comparison_key() == key)
                    .unwrap_or(false)
            })
        })
        .collect();
    match found.len() {
        0 => Err(LinkError::NotInPortal {
            name: name.to_owned(),
        }),
        1 => Ok(found.remove(0)),
        count => Err(LinkError::AmbiguousInPortal {
            name: name.to_owned(),
            count,
        }),
    }
}

/// The portal's id for the server `name`: the one kept with the store's
/// server of that name when there is one, otherwise that of the portal's
/// server named `name` ([`find_portal_server`]).
pub fn portal_server_id<S: Store>(
    registry: &mut Registry<S>,
    client: &PortalApiClient,
    organization: Option<&str>,
    name: &str,
) -> Result<String, LinkError> {
    let org = registry.organization(organization)?;
    client.account().check_portal(org.portal)?;
    match registry.portal_server_id(Some(&org.name), name) {
        Ok(Some(id)) => return Ok(id),
        Ok(None) => {}
        Err(RegistryError::NotFound(n)) if n.missing() == Missing::Server => {}
        Err(e) => return Err(e.into()),
    }
    Ok(find_portal_server(client, name)?.id)
}

/// Rotates `name`'s key through the API: stages a new keypair of
/// `key_size` and uploads its certificate to the portal's server
/// `portal_server_id` (when `None`: the id kept with the server, else the
/// portal's server of that name, whose id is then kept).
#[allow(clippy::too_many_arguments)]
pub fn rotate_key<S: Store, R: TryCryptoRng + ?Sized>(
    registry: &mut Registry<S>,
    client: &PortalApiClient,
    organization: Option<&str>,
    name: &str,
    portal_server_id: Option<&str>,
    key_size: KeySize,
    rng: &mut R,
    now: OffsetDateTime,
) -> Result<RotatedByApi, LinkError> {
    let org = check_account(registry, client, organization)?;
    let stored = registry.check_stage(Some(&org.name), name)?;
    let count = certificate_count(registry, &org, now)?;
    if count >= MAX_CERTIFICATES {
        return Err(LinkError::LimitReached {
            organization: org.name.clone(),
            count,
        });
    }
    let kept = registry.portal_server_id(Some(&org.name), &stored)?;
    let (portal_id, keep) = match (portal_server_id, kept) {
        (Some(id), _) => (id.to_owned(), false),
        (None, Some(id)) => (id, false),
        (None, None) => (find_portal_server(client, &stored)?.id, true),
    };
    let keypair =
        ServerKeypair::generate(rng, key_size, &CertificateParams::new(stored.clone(), now))?;
    let upload = certificate_upload(&stored, &keypair)?;
    let staged_certificate_pem = keypair.certificate_pem()?;
    let staged_certificate_der = keypair.certificate_der()?;
    registry.stage_keypair(Some(&org.name), &stored, keypair, false, now)?;
    match client.update_server(&portal_id, &UpdateServer::certificate(upload)) {
        Ok(_) => {
            if keep {
                // Found by name: keep the id so the next call needs no
                // search. The rotation is done either way; should this
                // write fail, the next call searches by name again.
                let _ = registry.set_portal_server_id(Some(&org.name), &stored, Some(&portal_id));
            }
            Ok(RotatedByApi {
                name: stored,
                portal_server_id: portal_id,
                staged_certificate_pem,
                staged_certificate_der,
            })
        }
        Err(e @ (PortalApiError::Uncertain { .. } | PortalApiError::Transport { .. })) => {
            Err(LinkError::RotationUncertain {
                name: stored,
                source: Box::new(e),
            })
        }
        Err(e) => {
            // Apple refused: the portal keeps the current certificate, so
            // the staged key would never be used.
            registry.discard_staged(Some(&org.name), &stored)?;
            Err(e.into())
        }
    }
}
