//! # mdmlink
//!
//! Link an MDM server to Apple Business Manager, Apple School Manager and
//! Apple Business Essentials: server names and portal roles, RSA keypairs and
//! the certificate to upload, server tokens (open and seal), expiry policy,
//! and an organization model for one account or a whole MSP.
//!
//! The core is pure Rust with no global state: the caller passes in time,
//! randomness and keys. The C API is a separate crate, `mdmlink-capi` (in
//! `capi/`: `libmdmlink.a`, `libmdmlink.so`, `include/mdmlink.h`), built on
//! this crate's public API; depending on `mdmlink` compiles no C symbols.
//!
//! ```
//! use mdmlink::{expiry::ExpiryPolicy, keypair::*, organization::*, portal::Portal, token::*};
//! use time::{Duration, OffsetDateTime};
//!
//! let mut rng = mdmlink::SystemRng::default();
//! let now = OffsetDateTime::now_utc();
//!
//! // 1. Generate the keypair and the certificate the admin uploads.
//! let keypair = ServerKeypair::generate(&mut rng, KeySize::Rsa2048, &CertificateParams::new("Main MDM", now))?;
//! let certificate = keypair.certificate().unwrap().clone();
//! let mut org = Organization::new("Example School", Portal::SchoolManager);
//! org.add_server("Main MDM", keypair, ServerOptions::default(), now)?;
//! assert!(org.check_name("main mdm ").is_err()); // names are unique, ignoring case
//!
//! // 2. The portal issues a token (here `seal` stands in for the portal).
//! let issued = ServerToken::new("CK_1", "CS_2", "AT_3", "AS_4", now + Duration::days(365))?;
//! let file = seal(&issued, &certificate, SealOptions::default(), &mut rng)?;
//!
//! // 3. Open it with the server's key and watch its expiry.
//! org.install_token("Main MDM", &file, InstallOptions::default(), now)?;
//! let token = org.server("Main MDM").unwrap().token().unwrap();
//! assert_eq!(token.token.consumer_key(), "CK_1");
//! assert!(org.needs_action(&ExpiryPolicy::default(), now).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "http")]
mod apple_http;
pub mod dep;
mod encoding;
pub mod error;
pub mod expiry;
pub mod hazmat;
pub mod jwt;
pub mod keypair;
pub mod name;
pub mod not_found;
pub mod organization;
pub mod portal;
pub mod portal_api;
mod secret;
pub mod session;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod store;
pub mod token;

pub use error::{Error, Result};
pub use keypair::{KeySize, ServerCertificate, ServerKeypair};
pub use name::ServerName;
pub use not_found::NotFound;
pub use portal::{Portal, Role};
pub use rand_core;
pub use secret::SecretString;
pub use token::{ServerToken, open, seal};

/// The operating system's random number generator (`getrandom`), the usual
/// `rng` argument.
pub type SystemRng = getrandom::SysRng;

/// The crate's version, from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The library guide's Rust examples (`docs/library.md`), compiled and run as
/// doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/library.md")]
struct LibraryGuideDoctests;
