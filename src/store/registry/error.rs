//! [`RegistryError`]: why a registry operation failed.

use crate::{
    keypair::KeyError,
    organization::OrganizationError,
    portal::Portal,
    portal_api::ApiAccountError,
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
    /// No organization, server or API account has this name (the one
    /// "not found" of every layer).
    #[error(transparent)]
    NotFound(#[from] crate::not_found::NotFound),
    /// The store holds no organization.
    #[error("the store has no organization yet; add one first")]
    NoOrganization,
    /// Several organizations, and none was named.
    #[error("the store holds {} organizations ({}); name the one to use", .0.len(), .0.join(", "))]
    OrganizationRequired(Vec<String>),
    /// The organization still has servers.
    #[error(
        "organization \"{name}\" still has {servers} server(s); remove them first, or remove the organization with its servers"
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
    /// A server was imported without its certificate.
    #[error(
        "server \"{server}\": give its certificate (the one uploaded to the portal) along with the key; every server has one, it names the server in the tokens the portal issues and counts toward the portal's limit"
    )]
    CertificateRequired {
        /// The server.
        server: String,
    },
    /// The token is already installed for another server of the
    /// organization (the same consumer key).
    #[error(
        "server \"{server}\": this token is already installed for server \"{other}\"; two servers cannot share one token (download the token of this server's own MDM server in the portal, or force it)"
    )]
    TokenShared {
        /// The server the token was given for.
        server: String,
        /// The server that holds it.
        other: String,
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
        "this store's secrets are not encrypted yet; rekey the store with the new master key to encrypt them"
    )]
    NotEncrypted,
    /// A 0.1.0 store's private keys are encrypted and the passphrase is
    /// missing or wrong.
    #[error(
        "the 0.1.0 store's private key of server \"{server}\" is encrypted; {}",
        if *.wrong { "the passphrase given does not decrypt it" } else { "give the passphrase it was saved with" }
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
    /// Another run syncing the same server's devices stored a page while
    /// this one was fetching; this one stopped without storing its page.
    #[error(
        "server \"{server}\": another device sync of this server stored a page meanwhile; this one stopped without storing its page (the other goes on; sync again once it is done)"
    )]
    DeviceSyncRace {
        /// The server.
        server: String,
    },
    /// An API account's credentials were refused: a client ID or key ID not
    /// in Apple's form, a key that is not P-256, or an account of the other
    /// API for the organization's portal ([`ApiAccountError::WrongPortal`]).
    #[error(transparent)]
    ApiAccount(#[from] ApiAccountError),
    /// The organization already has an API account, and replacing it was
    /// not asked for.
    #[error(
        "organization \"{organization}\" already has an API account (client ID {client_id}); replace it explicitly, or remove it first"
    )]
    ApiAccountExists {
        /// The organization.
        organization: String,
        /// The client ID of the account it has.
        client_id: String,
    },
    /// A stored API account does not restore.
    #[error("the stored API account of organization \"{organization}\" is invalid: {reason}")]
    CorruptApiAccount {
        /// The organization.
        organization: String,
        /// Why.
        reason: String,
    },
    /// A portal server id is empty, too long, or holds characters other
    /// than printable ASCII.
    #[error(
        "server \"{server}\": a portal server id is 1 to 256 printable ASCII characters without spaces, as the School and Business Manager API gives it"
    )]
    InvalidPortalServerId {
        /// The server.
        server: String,
    },
    /// A new server was asked for in an organization of another portal.
    #[error("organization \"{organization}\" uses {portal}, not {asked}")]
    PortalMismatch {
        /// The organization.
        organization: String,
        /// Its portal.
        portal: Portal,
        /// The portal asked for.
        asked: Portal,
    },
}

impl RegistryError {
    pub(super) fn unknown_server(organization: &OrganizationRow, name: &str) -> Self {
        RegistryError::NotFound(
            crate::not_found::NotFound::server(name).in_organization(organization.name.clone()),
        )
    }
}
