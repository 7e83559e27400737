//! [`ApiAccountRow`]: an organization's School and Business Manager API
//! account as a store keeps it.

use time::OffsetDateTime;

use super::{OrganizationId, SealedSecret};

/// An organization's School and Business Manager API account, as stored:
/// at most one per organization (the organization's id is the row's key),
/// removed with its organization. The private key is sealed for this row
/// ([`crate::store::master_key::Sealer::seal_api_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccountRow {
    /// The organization it belongs to (the key).
    pub organization_id: OrganizationId,
    /// The client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`).
    pub client_id: String,
    /// The key ID (the assertion's `kid`).
    pub key_id: String,
    /// The scope, which follows the client ID.
    pub scope: crate::portal_api::ApiScope,
    /// When it was added (or last replaced).
    pub created_at: OffsetDateTime,
    /// The P-256 private key (PKCS#8 DER), sealed.
    pub private_key: SealedSecret,
}
