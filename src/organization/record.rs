//! The serializable forms of servers and organizations (what a store saves).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    InstalledToken, MdmServer, Organization, OrganizationError, ServerOptions, StagedKeypair,
    server::ServerKey,
};
use crate::{
    expiry::ReplacementReason,
    keypair::{KeyError, ServerCertificate, ServerKeypair},
    name::ServerName,
    portal::Portal,
};

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

impl MdmServer {
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
            certificate_pem: self.certificate().map(|c| c.to_pem()),
            private_key_pem: self.keypair().map(key_pem).transpose()?.flatten(),
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
        let key = match record.private_key_pem.as_deref() {
            Some(pem) => {
                let mut kp = ServerKeypair::from_pem(pem.as_bytes(), None).map_err(err)?;
                if let Some(c) = certificate {
                    kp.attach_certificate(c).map_err(err)?;
                }
                ServerKey::Held(Box::new(kp))
            }
            None => ServerKey::Elsewhere(certificate.map(Box::new)),
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
            key,
            staged,
            token: record.token.take(),
            options: core::mem::take(&mut record.options),
            replacement: record.replacement,
            created_at: record.created_at,
            server_uuid: record.server_uuid.take(),
        })
    }
}

impl Organization {
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
