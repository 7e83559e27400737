//! The device assignment service (Apple's Automated Device Enrollment API,
//! "DEP"): after a server is linked, list the devices assigned to it and give
//! them an enrollment profile.
//!
//! One file per concern:
//! - [`device`]: the records the service returns ([`Device`], [`DevicePage`],
//!   [`OpType`], per-device [`DeviceStatus`]);
//! - [`error`]: [`DepError`], the service's error codes ([`ServiceCode`]) with
//!   messages that say what to do;
//! - [`request`]: every endpoint as a plain request value ([`request::ApiCall`]) and
//!   its reply parser, testable without HTTP;
//! - [`profile`]: enrollment profiles and assignment results;
//! - [`cache`]: per-server sessions shared by several callers, one
//!   re-authentication at a time;
//! - [`syncer`]: fetch, then sync, with cursors that advance only when the
//!   caller has accepted a page;
//! - `client` (feature `http`): the blocking client that ties them together.
//!
//! ```
//! use mdmlink::dep::{request, syncer::SyncCursor};
//! // A fetch request body (the core builds it; any HTTP stack can send it).
//! let call = request::fetch_devices(None, 1000)?;
//! assert_eq!(call.path, "/server/devices");
//! assert_eq!(call.body, br#"{"limit":1000}"#);
//! # let _ = SyncCursor::parse("v1:sync:1764000000:MTA");
//! # Ok::<(), mdmlink::dep::DepError>(())
//! ```

pub mod cache;
#[cfg(feature = "http")]
pub mod client;
pub mod device;
pub mod error;
pub mod profile;
pub mod request;
pub mod syncer;

pub use device::{Device, DevicePage, DeviceStatus, OpType};
pub use error::{DepError, ServiceCode};
pub use profile::{AssignmentResult, ProfileDefinition};
pub use syncer::{SyncCursor, SyncPhase, Syncer};

pub use crate::session::DEFAULT_PROTOCOL_VERSION;

/// Default page size for fetch and sync (Apple's default).
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// Largest page size the service accepts.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Most serial numbers in one assign, remove, details or disown request;
/// longer lists are split (see [`request::chunks`]).
pub const MAX_SERIALS_PER_REQUEST: usize = 1000;

/// Largest reply body the parsers accept (16 MiB: a page of 1,000 devices is
/// about 400 KiB).
pub const MAX_REPLY_BODY: usize = 16 << 20;

/// The `User-Agent` mdmlink sends (`mdmlink/VERSION`).
pub const USER_AGENT: &str = concat!("mdmlink/", env!("CARGO_PKG_VERSION"));

/// The `Content-Type` of request bodies, spelled as Apple's documentation
/// spells it.
pub const CONTENT_TYPE: &str = "application/json;charset=UTF8";
