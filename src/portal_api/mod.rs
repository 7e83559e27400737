//! Apple's School and Business Manager API (`api-business.apple.com`,
//! `api-school.apple.com`): OAuth 2 client credentials with an ES256 client
//! assertion, JSON:API documents, devices, device management services
//! (created, re-keyed and deleted by API in Apple Business), device
//! activities (assign, unassign, migrate, release).
//!
//! Apple documents the API at
//! <https://developer.apple.com/documentation/applebusinessapi> and
//! <https://developer.apple.com/documentation/appleschoolmanagerapi>, and
//! the OAuth flow in *Implementing OAuth for the Apple School Manager and
//! Apple Business API*.
//!
//! One file per concept:
//! - [`account`]: the API account (client ID, key ID, P-256 key) and its scope;
//! - [`assertion`]: the client assertion (a compact JWS, ES256);
//! - [`token`]: the token request, the access token and the per-account cache;
//! - [`document`]: JSON:API documents, relationships, links and paging;
//! - [`devices`], [`servers`], [`activities`]: the resources and requests;
//! - [`error`]: [`PortalApiError`], from JSON:API `errors[]` and the rest;
//! - [`client`]: the blocking client over a [`client::Transport`] (the ureq
//!   one with feature `http`), with retries and token renewal;
//! - [`link`] and [`reconcile`]: a store's servers through the API;
//! - [`listing`]: servers, devices and activities in the shapes the CLI
//!   and the C API share.
//!
//! ```
//! use mdmlink::portal_api::{account::{ApiAccount, ApiKey, ApiScope}, assertion::AssertionOptions};
//! let mut rng = mdmlink::SystemRng::default();
//! let key = ApiKey::generate(&mut rng)?;
//! let account = ApiAccount::new("SCHOOLAPI.27f3c2d0-2a31-4b38-9a9f-6c1f7a5a1f00", "d136aa66-0c3b-4bd4-9892-c20e8db024ab", key)?;
//! assert_eq!(account.scope(), ApiScope::School);
//! let now = time::OffsetDateTime::now_utc();
//! let jws = mdmlink::portal_api::assertion::client_assertion(&account, now, &AssertionOptions::default(), &mut rng)?;
//! assert_eq!(jws.expose().split('.').count(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod account;
pub mod activities;
pub mod assertion;
pub mod client;
pub mod devices;
pub mod document;
pub mod error;
pub mod link;
pub mod listing;
pub mod reconcile;
pub mod servers;
pub mod token;
#[cfg(feature = "http")]
pub mod transport;

pub use account::{ApiAccount, ApiAccountError, ApiKey, ApiScope};
pub use error::PortalApiError;

/// Apple's token endpoint.
pub const TOKEN_URL: &str = "https://account.apple.com/auth/oauth2/token";

/// The client assertion's `aud`, as Apple's page sets it.
pub const ASSERTION_AUDIENCE: &str = "https://account.apple.com/auth/oauth2/v2/token";

/// Largest page a list request asks for (Apple's limit for devices).
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Largest reply body read (a page of 1,000 devices is well under 2 MiB).
pub const MAX_REPLY_BODY: usize = 16 << 20;

/// The `User-Agent` mdmlink sends.
pub const USER_AGENT: &str = concat!("mdmlink/", env!("CARGO_PKG_VERSION"));
