//! [`RegistryError`]: why a registry operation failed.

use crate::{
    keypair::KeyError,
    organization::OrganizationError,
    store::{OrganizationRow, StoreError, master_key::MasterKeyError},
    token::TokenError,
};

/// Why a registry operation failed. Messages say what to do and never
/// carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key is missing, wrong, or a secret did not open.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The organization model refused the change.
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    /// No organization has this name.
    #[error("no organization named \"{0}\"; list them with `mdmlink org list`")]
    UnknownOrganization(String),
    /// The store holds no organization.
    #[error(
        "the store has no organization yet; add one with `mdmlink org add NAME --portal business-manager|school-manager|business-essentials`"
    )]
    NoOrganization,
    /// Several organizations, and none was named.
    #[error("the store holds {} organizations ({}); say which with --org", .0.len(), .0.join(", "))]
    OrganizationRequired(Vec<String>),
    /// No server has this name in the organization.
    #[error("no server named \"{name}\" in organization \"{organization}\"")]
    UnknownServer {
        /// The organization.
        organization: String,
        /// The name asked for.
        name: String,
    },
    /// The organization still has servers.
    #[error(
        "organization \"{name}\" still has {servers} server(s); remove them first, or remove the organization with its servers (--force)"
    )]
    OrganizationNotEmpty {
        /// The organization.
        name: String,
        /// How many servers it has.
        servers: usize,
    },
    /// A key could not be read, encoded or generated.
    #[error("server \"{server}\": {source}")]
    Key {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// A token given for import could not be opened with the key.
    #[error("server \"{server}\": the token does not open with the imported key: {source}")]
    ImportToken {
        /// The server.
        server: String,
        /// Why.
        source: TokenError,
    },
    /// A certificate given for import does not match the key.
    #[error("server \"{server}\": the certificate does not belong to the key: {source}")]
    ImportCertificate {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// The store holds servers whose secrets are not encrypted, and a master
    /// key was given: encrypting them is an explicit step.
    #[error(
        "this store's secrets are not encrypted yet; run `mdmlink store rekey` with the new master key to encrypt them"
    )]
    NotEncrypted,
    /// A 0.1.0 store's private keys are encrypted and the passphrase is
    /// missing or wrong.
    #[error(
        "the 0.1.0 store's private key of server \"{server}\" is encrypted; {}",
        if *.wrong { "the passphrase given does not decrypt it" } else { "set MDMLINK_PASSPHRASE to the passphrase it was saved with" }
    )]
    LegacyPassphrase {
        /// The server.
        server: String,
        /// A passphrase was given, and it is wrong.
        wrong: bool,
    },
    /// A stored row does not restore.
    #[error("stored server \"{server}\" is invalid: {reason}")]
    CorruptRow {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    pub(super) fn unknown_server(organization: &OrganizationRow, name: &str) -> Self {
        RegistryError::UnknownServer {
            organization: organization.name.clone(),
            name: name.to_owned(),
        }
    }
}
