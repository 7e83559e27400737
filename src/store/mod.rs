//! Where organizations and their servers are kept between runs, row by row.
//!
//! [`Store`] is the seam a vendor implements for their own database; mdmlink
//! ships [`MemoryStore`] (tests, embedding without persistence),
//! `SqliteStore` (feature `sqlite`: one file), `PostgresStore` (feature
//! `postgres`: one database shared by several instances) and `AnyStore`
//! (either, chosen from a path or URL). Every implementation passes the same
//! conformance suite ([`conformance`], feature `store-conformance`); they
//! share one row codec (the columns, their decoding and encoding, the
//! certificate limit) and one migration runner.
//!
//! # Shape
//! - A store holds **organizations** (one portal account each:
//!   [`OrganizationRow`]) and their **servers** ([`ServerRow`]). A server's
//!   non-secret columns ([`ServerSummary`]: names, options, certificate and
//!   token dates, events) are enough to list servers and compute their health
//!   without any cryptography. Its secrets (private keys, token credentials)
//!   are opaque [`SealedSecret`] blobs: the store never interprets them; the
//!   store-backed API seals them under the store's master key
//!   (AES-256-GCM, bound to store, organization, server and [`SecretField`]).
//! - Per server, the device assignment service's state: a cursor
//!   ([`DepCursor`]) and devices by serial number ([`DeviceRow`]), written a
//!   page at a time with the cursor that follows it ([`StoreTx::put_dep_page`]).
//! - Per organization, at most one School and Business Manager **API
//!   account** ([`ApiAccountRow`]): client ID, key ID, scope, and the P-256
//!   key sealed like a server's secrets ([`SecretField::ApiPrivateKey`]);
//!   removed with its organization.
//! - Small values in a key-value **meta** table: the store's random id
//!   ([`StoreTx::store_id`]) and the master key's parameters ([`META_MASTER_KEY`]).
//!
//! # Transactions
//! Every operation runs in one transaction: [`Store::transaction`] hands the
//! body a [`StoreTx`] whose methods are the row operations, and commits when
//! the body returns `Ok`, or rolls back. [`StoreExt::read`] and
//! [`StoreExt::write`] are the typed wrappers to call. A write may be run
//! more than once when the database reports a serialization failure, so the
//! body is `FnMut` and must not keep state from a failed attempt.
//!
//! # Constraints the store enforces (not only the caller)
//! - Server names are unique per organization: a unique index on
//!   `(organization_id, name_key)` ([`StoreError::DuplicateName`]);
//!   organization names are unique by their key too.
//! - At most [`MAX_CERTIFICATES`] certificates (current plus staged) per
//!   organization, counted in the same transaction under a lock on the
//!   organization's row ([`StoreError::LimitReached`]).
//!
//! ```
//! use mdmlink::store::{MemoryStore, OrganizationRow, StoreExt, StoreError};
//! use mdmlink::portal::Portal;
//! let mut store = MemoryStore::new();
//! let now = time::macros::datetime!(2026-01-17 11:02:21 UTC);
//! let id = store.write(|tx| {
//!     tx.insert_organization(&OrganizationRow::new("Contoso", Portal::BusinessManager, now)?)
//! })?;
//! let orgs = store.read(|tx| tx.list_organizations())?;
//! assert_eq!((orgs[0].id, orgs[0].name.as_str()), (id, "Contoso"));
//! # Ok::<(), StoreError>(())
//! ```

use core::fmt;

use time::OffsetDateTime;
use zeroize::Zeroize;

use crate::{
    expiry::ReplacementReason,
    name::{NameError, ServerName},
    organization::ServerOptions,
    portal::Portal,
};

pub use crate::organization::MAX_CERTIFICATES;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod any;
mod api_account;
pub mod columns;
#[cfg(any(test, feature = "store-conformance"))]
pub mod conformance;
pub mod copy;
pub mod legacy;
pub mod master_key;
mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod open;
#[cfg(feature = "postgres")]
mod postgres;
pub mod registry;
mod rows;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use any::AnyStore;
pub use api_account::ApiAccountRow;
pub use memory::MemoryStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use open::{
    LocationError, OpenMode, OpenedRegistry, OpenedStore, StoreLocation, open_registry, open_store,
};
#[cfg(feature = "postgres")]
pub use postgres::{
    MAX_ATTEMPTS as POSTGRES_MAX_ATTEMPTS, MIGRATIONS as POSTGRES_MIGRATIONS,
    POSTGRES_SCHEMA_VERSION, PostgresStore, PostgresUrl, UrlError,
};
pub use registry::{DevicePageOutcome, StoredDevice};
#[cfg(feature = "sqlite")]
pub use sqlite::{MIGRATIONS, SCHEMA_VERSION, SqliteStore};

/// A store's key for an organization (assigned by the store on insert).
pub type OrganizationId = i64;

/// A store's key for a server (assigned by the store on insert).
pub type ServerId = i64;

/// The meta key under which the store-backed API keeps the master key's
/// public parameters (KDF, salt, check value) as JSON.
pub const META_MASTER_KEY: &str = "master_key";

/// One organization: one portal account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow {
    /// The store's id (ignored by [`StoreTx::insert_organization`]).
    pub id: OrganizationId,
    /// The name as shown (trimmed, NFC).
    pub name: String,
    /// The uniqueness key ([`ServerName::comparison_key`] of the name): two
    /// organizations may not share it.
    pub name_key: String,
    /// The portal the account lives in.
    pub portal: Portal,
    /// For managed service providers: the customer this account belongs to.
    pub customer: Option<String>,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

impl OrganizationRow {
    /// A row for a new organization, its name checked and keyed by the
    /// server naming rules (the portal's own).
    pub fn new(name: &str, portal: Portal, created_at: OffsetDateTime) -> Result<Self, StoreError> {
        // The naming rules are the portal's server-name rules; the message
        // names what is being named.
        let name = ServerName::parse(name).map_err(|e| {
            StoreError::InvalidName(
                e.to_string()
                    .replacen("server name", "organization name", 1),
            )
        })?;
        Ok(Self {
            id: 0,
            name: name.as_str().to_owned(),
            name_key: name.comparison_key().to_owned(),
            portal,
            customer: None,
            created_at,
        })
    }
}

/// A server's non-secret columns: what listing and health checks read.
///
/// Health comes from these alone: no private key is decrypted and no token
/// opened to list servers or to tell which need action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSummary {
    /// The store's id (ignored by [`StoreTx::insert_server`]).
    pub id: ServerId,
    /// The organization it belongs to.
    pub organization_id: OrganizationId,
    /// The name as shown (trimmed, NFC).
    pub name: String,
    /// [`ServerName::comparison_key`] of the name; unique per organization.
    pub name_key: String,
    /// Settings and labels (stored as JSON; `site` is the MSP site).
    pub options: ServerOptions,
    /// When the server was added.
    pub created_at: Option<OffsetDateTime>,
    /// The current certificate's serial (upper-case hex).
    pub certificate_serial: Option<String>,
    /// The current certificate's notAfter.
    pub certificate_not_after: Option<OffsetDateTime>,
    /// The staged certificate's serial, during a rotation.
    pub staged_certificate_serial: Option<String>,
    /// The staged certificate's notAfter.
    pub staged_certificate_not_after: Option<OffsetDateTime>,
    /// When the staged keypair was made; `Some` exactly while one is staged.
    pub staged_at: Option<OffsetDateTime>,
    /// When the installed token expires (`access_token_expiry`).
    pub token_expires_at: Option<OffsetDateTime>,
    /// When the token was installed here.
    pub token_installed_at: Option<OffsetDateTime>,
    /// The portal user who downloaded the token, if known.
    pub token_downloaded_by: Option<String>,
    /// When the portal issued the token, if known.
    pub token_issued_at: Option<OffsetDateTime>,
    /// The serial of the certificate the token was issued to.
    pub token_certificate_serial: Option<String>,
    /// A non-secret hint of the token's consumer key (its first characters),
    /// to tell tokens apart in listings.
    pub token_consumer_key_hint: Option<String>,
    /// A pending event that invalidates the token, and when it happened.
    pub replacement: Option<(ReplacementReason, OffsetDateTime)>,
    /// Apple's `server_uuid` (the JWT issuer), once known.
    pub server_uuid: Option<String>,
    /// The id the School and Business Manager API gave the server when it
    /// was created (or found) through the API; `None` for a server linked by
    /// hand in the portal.
    pub portal_server_id: Option<String>,
}

impl ServerSummary {
    /// Certificates this server holds at the portal: its current one (when
    /// it has a certificate serial) plus a staged one (while staged).
    pub fn certificate_count(&self) -> usize {
        usize::from(self.certificate_serial.is_some()) + usize::from(self.staged_at.is_some())
    }
}

/// Which secret a [`SealedSecret`] holds; part of the authenticated data
/// that binds a ciphertext to its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretField {
    /// The current private key (PKCS#8 DER).
    PrivateKey,
    /// The staged private key (PKCS#8 DER), during a rotation.
    StagedPrivateKey,
    /// The installed token's credentials (Apple's JSON).
    TokenCredentials,
    /// An organization's School and Business Manager API private key
    /// (PKCS#8 DER), in its API account's row ([`ApiAccountRow`]), not in a
    /// server's.
    ApiPrivateKey,
}

impl SecretField {
    /// Every field of a server's row, in column order (the API account's
    /// key, [`SecretField::ApiPrivateKey`], lives in its own row).
    pub const ALL: [SecretField; 3] = [
        SecretField::PrivateKey,
        SecretField::StagedPrivateKey,
        SecretField::TokenCredentials,
    ];

    /// The field's stable name (a column name, and the tag in the
    /// authenticated data).
    pub fn tag(self) -> &'static str {
        match self {
            SecretField::PrivateKey => "private_key",
            SecretField::StagedPrivateKey => "staged_private_key",
            SecretField::TokenCredentials => "token_credentials",
            SecretField::ApiPrivateKey => "api_private_key",
        }
    }
}

impl fmt::Display for SecretField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// An opaque secret as stored: a ciphertext under the master key (or, in a
/// store without one, the plaintext in a tagged form). The store keeps the
/// bytes and gives them back unchanged. Zeroized on drop; `Debug` shows
/// only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Wraps bytes read from the database.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to write to the database.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for SealedSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret([{} bytes])", self.0.len())
    }
}

/// A server's whole row: its summary, its certificates (PEM, not secret) and
/// its sealed secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerRow {
    /// The non-secret columns.
    pub summary: ServerSummary,
    /// The current certificate (PEM).
    pub certificate_pem: Option<String>,
    /// The staged certificate (PEM).
    pub staged_certificate_pem: Option<String>,
    /// The current private key, sealed.
    pub private_key: Option<SealedSecret>,
    /// The staged private key, sealed.
    pub staged_private_key: Option<SealedSecret>,
    /// The token's credentials, sealed.
    pub token: Option<SealedSecret>,
}

impl ServerRow {
    /// The sealed secret in `field` (`None` for a field a server does not
    /// have, [`SecretField::ApiPrivateKey`]).
    pub fn secret(&self, field: SecretField) -> Option<&SealedSecret> {
        match field {
            SecretField::PrivateKey => self.private_key.as_ref(),
            SecretField::StagedPrivateKey => self.staged_private_key.as_ref(),
            SecretField::TokenCredentials => self.token.as_ref(),
            SecretField::ApiPrivateKey => None,
        }
    }

    /// The slot of `field`, to replace or clear it (`None` for a field a
    /// server does not have, [`SecretField::ApiPrivateKey`]).
    pub fn secret_mut(&mut self, field: SecretField) -> Option<&mut Option<SealedSecret>> {
        match field {
            SecretField::PrivateKey => Some(&mut self.private_key),
            SecretField::StagedPrivateKey => Some(&mut self.staged_private_key),
            SecretField::TokenCredentials => Some(&mut self.token),
            SecretField::ApiPrivateKey => None,
        }
    }
}

/// The device assignment service's cursor for one server, with when it was
/// issued (Apple's cursors expire; a stale one means a full fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepCursor {
    /// The cursor as Apple returned it.
    pub cursor: String,
    /// When Apple issued it.
    pub issued_at: OffsetDateTime,
}

/// One device as the device assignment service last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The serial number (the key, per server).
    pub serial: String,
    /// The last operation (`added`, `modified`, `deleted`), if any.
    pub op_type: Option<String>,
    /// When that operation happened.
    pub op_date: Option<OffsetDateTime>,
    /// A tombstone: the device left the server (kept so a later page cannot
    /// resurrect it with an older operation).
    pub deleted: bool,
    /// The device's JSON as Apple returned it.
    pub json: String,
}

/// Whether a transaction only reads or may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// A consistent snapshot; writes fail.
    Read,
    /// Exclusive against other writers for what it touches; may be retried.
    Write,
}

/// Why a store operation failed.
///
/// Every message names the store (its file, for file-backed stores) where
/// one is involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another server of the organization (or another organization) already
    /// has this name, compared by its key.
    #[error("{what} \"{existing}\" already exists; names must be unique ignoring case")]
    DuplicateName {
        /// `server` or `organization`.
        what: &'static str,
        /// The name already there (as shown).
        existing: String,
    },
    /// A name breaks the naming rules.
    #[error("{0}")]
    InvalidName(String),
    /// The organization already has an API account (at most one each).
    #[error(
        "organization {organization} already has an API account; an organization has at most one (replace it or remove it first)"
    )]
    ApiAccountExists {
        /// The organization's id.
        organization: OrganizationId,
    },
    /// The organization already holds [`MAX_CERTIFICATES`] certificates.
    #[error(
        "the organization already has {count} public key certificates; the portal accepts at most {max}"
    )]
    LimitReached {
        /// Certificates in use.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The row does not exist (any more): the one "not found" of every layer.
    #[error(transparent)]
    NotFound(#[from] crate::not_found::NotFound),
    /// A concurrent transaction changed the same rows, and retrying did not help.
    #[error(
        "store {store}: a concurrent change conflicted with this one {attempts} times; try again"
    )]
    Conflict {
        /// The store.
        store: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Another process held the store for longer than the busy timeout.
    #[error("store {store} is locked by another process; try again")]
    Busy {
        /// The store.
        store: String,
    },
    /// The database server did not answer in time (it accepted the
    /// connection and then said nothing, or is overloaded).
    #[error(
        "store {store}: the server did not answer within {} s; check that it is a PostgreSQL server and that it is up (connect_timeout=SECONDS in the URL sets the wait per host)",
        waited.as_secs()
    )]
    Timeout {
        /// The store.
        store: String,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// The store was written by an older mdmlink and must be upgraded, which
    /// only an open for writing does ([`OpenMode::ReadWrite`]).
    #[error(
        "store {store} has schema version {found} (an older mdmlink's); open it for writing once to upgrade it to version {current}"
    )]
    OlderSchema {
        /// The store.
        store: String,
        /// The version found.
        found: i64,
        /// The version this build writes.
        current: i64,
    },
    /// The store could not be created, opened, read or written.
    #[error("store {store}: {reason}")]
    Io {
        /// The store.
        store: String,
        /// What went wrong.
        reason: String,
    },
    /// The store is damaged, is not an mdmlink store, or holds a value this
    /// build cannot read.
    #[error(
        "store {store} is damaged or not an mdmlink store ({reason}); restore it from a backup"
    )]
    Corrupt {
        /// The store.
        store: String,
        /// What was found.
        reason: String,
    },
    /// The store was written by a newer mdmlink.
    #[error(
        "store {store} has schema version {found}; this mdmlink reads up to {supported}; upgrade mdmlink"
    )]
    NewerSchema {
        /// The store.
        store: String,
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database refused an operation for another reason.
    #[error("store {store}: database error: {reason}")]
    Database {
        /// The store.
        store: String,
        /// The database's message.
        reason: String,
    },
    /// A write was attempted in a read transaction.
    #[error("store {store}: write in a read-only transaction")]
    ReadOnly {
        /// The store.
        store: String,
    },
    /// A networked store (PostgreSQL) was asked to keep a secret in
    /// plaintext form: it holds secrets only sealed under a master key.
    #[error(
        "store {store} is a shared database and never holds a plaintext {field}: set a master key (a key or a passphrase) and try again"
    )]
    PlaintextSecret {
        /// The store.
        store: String,
        /// Which secret.
        field: SecretField,
    },
    /// The transaction's body failed with the caller's own error; nothing
    /// was written. [`StoreExt::read`] and [`StoreExt::write`] turn it back
    /// into that error; implementations return it unchanged and do not retry
    /// it (unless one of their own operations in the body failed with a
    /// serialization failure, which they remember and may retry).
    #[error("the transaction was cancelled by its caller")]
    Cancelled,
}

impl From<NameError> for StoreError {
    fn from(e: NameError) -> Self {
        StoreError::InvalidName(e.to_string())
    }
}

/// The row operations of one transaction.
///
/// Object safe: the store-backed API and the conformance suite call it as
/// `&mut dyn StoreTx`. Every method is one or a few statements of the
/// enclosing transaction; nothing is visible to others before the commit.
pub trait StoreTx {
    /// The store's random 16-byte id, made when the store was created and
    /// never changed (part of every secret's authenticated data).
    fn store_id(&mut self) -> Result<[u8; 16], StoreError>;

    /// A value from the meta table.
    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets (`Some`) or removes (`None`) a meta value.
    fn set_meta(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), StoreError>;

    /// Every organization, by name key.
    fn list_organizations(&mut self) -> Result<Vec<OrganizationRow>, StoreError>;

    /// The organization whose name key is `name_key`.
    fn find_organization(&mut self, name_key: &str) -> Result<Option<OrganizationRow>, StoreError>;

    /// Adds an organization (its `id` is ignored) and returns its new id;
    /// [`StoreError::DuplicateName`] when its name key is taken.
    fn insert_organization(&mut self, row: &OrganizationRow) -> Result<OrganizationId, StoreError>;

    /// Deletes an organization with its servers, their device state and its
    /// API account;
    /// [`StoreError::NotFound`] when it does not exist.
    fn delete_organization(&mut self, id: OrganizationId) -> Result<(), StoreError>;

    /// Hands `visit` servers' non-secret columns one at a time, of one
    /// organization or of all, ordered by organization id then server id
    /// (the order they were added). A store streams them from the database
    /// (its memory does not grow with the number of servers); the first
    /// error from `visit` ends the walk and is returned.
    fn for_each_server(
        &mut self,
        organization: Option<OrganizationId>,
        visit: &mut dyn FnMut(ServerSummary) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// [`Self::for_each_server`], collected.
    fn list_servers(
        &mut self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<ServerSummary>, StoreError> {
        let mut out = Vec::new();
        self.for_each_server(organization, &mut |s| {
            out.push(s);
            Ok(())
        })?;
        Ok(out)
    }

    /// How many servers there are (in one organization, or in all). A
    /// database counts them without reading their rows.
    fn count_servers(&mut self, organization: Option<OrganizationId>) -> Result<usize, StoreError> {
        let mut n = 0;
        self.for_each_server(organization, &mut |_| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// One server's whole row, without locking it.
    fn server(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError>;

    /// One server's whole row, locked against other writers until the end of
    /// the transaction (`SELECT ... FOR UPDATE`; SQLite's write transaction
    /// already excludes other writers).
    fn server_for_update(
        &mut self,
        organization: OrganizationId,
        name_key: &str,
    ) -> Result<Option<ServerRow>, StoreError>;

    /// Adds a server (its `summary.id` is ignored) and returns its new id.
    /// Under a lock on the organization's row: [`StoreError::NotFound`] when
    /// the organization is gone, [`StoreError::DuplicateName`] when the name
    /// key is taken in that organization, [`StoreError::LimitReached`] when
    /// its certificates would exceed [`MAX_CERTIFICATES`].
    fn insert_server(&mut self, row: &ServerRow) -> Result<ServerId, StoreError>;

    /// Replaces a server's row (found by `summary.id`; its organization does
    /// not change). Same checks as [`Self::insert_server`] (the limit only
    /// when the row's certificate count grows).
    fn update_server(&mut self, row: &ServerRow) -> Result<(), StoreError>;

    /// Deletes a server and its device state; its secrets are overwritten
    /// where the database allows (SQLite `secure_delete`).
    fn delete_server(&mut self, id: ServerId) -> Result<(), StoreError>;

    /// Certificates the organization holds: the sum of
    /// [`ServerSummary::certificate_count`] over its servers.
    fn count_certificates(&mut self, organization: OrganizationId) -> Result<usize, StoreError>;

    /// The server's device assignment cursor.
    fn dep_cursor(&mut self, server: ServerId) -> Result<Option<DepCursor>, StoreError>;

    /// Writes a page of devices (inserted or replaced by serial, no longer
    /// pending: see [`Self::begin_dep_snapshot`]) and the cursor that follows
    /// it, together: a crash keeps both or neither.
    fn put_dep_page(
        &mut self,
        server: ServerId,
        devices: &[DeviceRow],
        cursor: &DepCursor,
    ) -> Result<(), StoreError>;

    /// The server's devices by serial number (tombstones included).
    fn dep_devices(&mut self, server: ServerId) -> Result<Vec<DeviceRow>, StoreError>;

    /// The organization's API account, if it has one.
    fn api_account(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<ApiAccountRow>, StoreError>;

    /// Every API account, by organization id.
    fn list_api_accounts(&mut self) -> Result<Vec<ApiAccountRow>, StoreError>;

    /// Adds the organization's API account: [`StoreError::NotFound`] when
    /// the organization is gone, [`StoreError::ApiAccountExists`] when it
    /// has one already (the database's key enforces it).
    fn insert_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError>;

    /// Replaces the organization's API account (every column);
    /// [`StoreError::NotFound`] when it has none. The old key is
    /// overwritten where the database allows (SQLite `secure_delete`).
    fn update_api_account(&mut self, row: &ApiAccountRow) -> Result<(), StoreError>;

    /// Deletes the organization's API account, its key overwritten where
    /// the database allows; [`StoreError::NotFound`] when it has none.
    fn delete_api_account(&mut self, organization: OrganizationId) -> Result<(), StoreError>;

    /// Forgets the server's cursor and devices (the next sync starts over).
    fn clear_dep_state(&mut self, server: ServerId) -> Result<(), StoreError>;

    /// The stored devices among `serials` (tombstones included), in any
    /// order; serials not stored are left out. What one sync page reads: its
    /// cost follows the page's length, not the number of stored devices.
    fn dep_devices_by_serial(
        &mut self,
        server: ServerId,
        serials: &[String],
    ) -> Result<Vec<DeviceRow>, StoreError>;

    /// Starts a full fetch (a snapshot) of the server's devices: every stored
    /// device not deleted becomes *pending* until [`Self::put_dep_page`]
    /// writes it again. Pending marks are kept at rest, so a fetch resumed
    /// by another run still ends with [`Self::finish_dep_snapshot`].
    fn begin_dep_snapshot(&mut self, server: ServerId) -> Result<(), StoreError>;

    /// Ends a full fetch: every device still pending (the fetch did not
    /// return it) becomes a tombstone (`deleted`, `op_type` `deleted`, its
    /// `op_date` and JSON kept); returns their serials, sorted. Nothing is
    /// pending (and nothing changes) when no snapshot was begun.
    fn finish_dep_snapshot(&mut self, server: ServerId) -> Result<Vec<String>, StoreError>;
}

/// A place that keeps organizations and servers: the seam for a vendor's
/// database. Object safe; call it through [`StoreExt`].
pub trait Store {
    /// Runs `body` in one transaction and commits when it returns `Ok`, or
    /// rolls back and returns its error.
    ///
    /// A [`TxMode::Write`] transaction excludes other writers from what it
    /// touches (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: READ COMMITTED with
    /// explicit row locks, `SELECT ... FOR UPDATE` on the server and on its
    /// organization before a name or certificate is added). A
    /// [`TxMode::Read`] transaction is one snapshot (PostgreSQL: REPEATABLE
    /// READ, READ ONLY). When the database reports a serialization failure or
    /// a deadlock the implementation rolls back and runs `body` again, a
    /// bounded number of times, then returns [`StoreError::Conflict`]: a
    /// body must not keep state from an attempt
    /// (`conformance::FirstAttemptFails` tests that).
    fn transaction(
        &mut self,
        mode: TxMode,
        body: &mut dyn FnMut(&mut dyn StoreTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// A description of the store for messages (a file path, a database URL
    /// without credentials).
    fn describe(&self) -> String;
}

/// Typed transactions over any [`Store`] (including `dyn Store`).
pub trait StoreExt: Store {
    /// Runs `body` in a read transaction (a consistent snapshot).
    fn read<T, E: From<StoreError>>(
        &mut self,
        body: impl FnMut(&mut dyn StoreTx) -> Result<T, E>,
    ) -> Result<T, E> {
        run(self, TxMode::Read, body)
    }

    /// Runs `body` in a write transaction; it may run more than once (see
    /// [`Store::transaction`]).
    fn write<T, E: From<StoreError>>(
        &mut self,
        body: impl FnMut(&mut dyn StoreTx) -> Result<T, E>,
    ) -> Result<T, E> {
        run(self, TxMode::Write, body)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

fn run<S: Store + ?Sized, T, E: From<StoreError>>(
    store: &mut S,
    mode: TxMode,
    mut body: impl FnMut(&mut dyn StoreTx) -> Result<T, E>,
) -> Result<T, E> {
    let mut out: Option<Result<T, E>> = None;
    let result = store.transaction(mode, &mut |tx| {
        // A retried attempt starts afresh.
        out = None;
        match body(tx) {
            Ok(v) => {
                out = Some(Ok(v));
                Ok(())
            }
            Err(e) => {
                out = Some(Err(e));
                Err(StoreError::Cancelled)
            }
        }
    });
    match (result, out) {
        (Ok(()), Some(Ok(v))) => Ok(v),
        (Err(StoreError::Cancelled), Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        // The store committed without running the body, or reported success
        // after the body failed: a broken implementation.
        (Ok(()), _) => Err(StoreError::Database {
            store: store.describe(),
            reason: "the store committed a transaction whose body did not succeed".into(),
        }
        .into()),
    }
}

/// A fresh random store id (for implementations creating a store).
pub fn new_store_id() -> Result<[u8; 16], StoreError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| StoreError::Io {
        store: "new store".into(),
        reason: format!("the random number generator failed: {e}"),
    })?;
    Ok(id)
}
