//! The crate-wide error type.
//!
//! Each module has its own error enum that says exactly which rule was broken
//! ([`NameError`], [`RoleError`], [`KeyError`], [`TokenError`],
//! [`OrganizationError`]). [`Error`] wraps
//! them for callers that want a single type. No variant ever carries key material,
//! content keys or token secrets.
//!
//! Messages follow the std convention: an error whose cause is another error
//! returns it from `source()` and does not repeat its text, so a chain prints
//! each cause once. [`report`] prints the whole chain on one line.
//!
//! [`Error`] covers every error a public mdmlink function returns (the
//! store-backed API's [`RegistryError`], the device service's [`DepError`],
//! the master key's [`MasterKeyError`] included), except these, which are
//! reported through a variant here when they reach the public API:
//! [`crate::dep::syncer::SyncError`] (generic over the caller's own error:
//! its `Service` case is a [`DepError`]),
//! [`crate::token::PayloadError`] (reported as a [`TokenError`]),
//! and three that belong to lower layers: [`crate::hazmat::cipher::CipherError`] (the
//! cipher primitive), [`crate::hazmat::oauth::AuthorizationParseError`] (the
//! OAuth header parser, for service implementations and tests) and
//! [`crate::keypair::KeyOperationError`] (returned by a [`crate::keypair::ServerKey`]
//! implementation to mdmlink, which reports it as a `TokenError` or `JwtError`).

use crate::{
    dep::DepError,
    expiry::ExpiryError,
    jwt::JwtError,
    keypair::KeyError,
    name::NameError,
    not_found::NotFound,
    organization::OrganizationError,
    portal::{ParseError, RoleError},
    session::SessionError,
    store::{StoreError, master_key::MasterKeyError, registry::RegistryError},
    token::{TokenError, filename::FileNameError},
};

/// Any error mdmlink reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server name broke a naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A portal user's role may not perform the action.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// A key or certificate could not be generated, read or written.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A server token could not be opened, parsed or sealed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The organization model refused a change.
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    /// An Access Management JWT could not be made.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// A token file name is not of the portal's form.
    #[error(transparent)]
    FileName(#[from] FileNameError),
    /// An unknown portal or role identifier.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The device assignment service or a session with it failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A store could not load or save.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Apple's School and Business Manager API failed or refused.
    #[error(transparent)]
    PortalApi(#[from] crate::portal_api::PortalApiError),
    /// An API account's credentials were refused.
    #[error(transparent)]
    ApiAccount(#[from] crate::portal_api::ApiAccountError),
    /// Linking a server through the API failed.
    #[error(transparent)]
    Link(#[from] crate::portal_api::link::LinkError),
    /// The device assignment service refused or failed a call.
    #[error(transparent)]
    Dep(#[from] DepError),
    /// The store-backed API (organizations and servers in a store) failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A store's master key is missing, wrong or malformed.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// An expiry policy is out of range.
    #[error(transparent)]
    Expiry(#[from] ExpiryError),
}

impl Error {
    /// The thing that was looked up and not found, whichever layer noticed
    /// (the organization model, the store or the registry); `None` for any
    /// other error.
    ///
    /// ```
    /// use mdmlink::{Error, NotFound, not_found::Missing};
    /// let e = Error::from(mdmlink::organization::OrganizationError::from(NotFound::server("Main MDM")));
    /// assert_eq!(e.not_found().map(NotFound::missing), Some(Missing::Server));
    /// ```
    pub fn not_found(&self) -> Option<&NotFound> {
        match self {
            Self::Organization(OrganizationError::NotFound(n))
            | Self::Store(StoreError::NotFound(n))
            | Self::Registry(RegistryError::NotFound(n))
            | Self::Registry(RegistryError::Store(StoreError::NotFound(n)))
            | Self::Registry(RegistryError::Organization(OrganizationError::NotFound(n))) => {
                Some(n)
            }
            _ => None,
        }
    }
}

/// `error` and its causes (`source()` chain) on one line, separated by
/// `": "`, each cause once, the way `anyhow` prints `{:#}`.
///
/// ```
/// let e = mdmlink::organization::OrganizationError::Token {
///     server: "Main MDM".into(),
///     source: mdmlink::token::TokenError::Decrypt,
/// };
/// let line = mdmlink::error::report(&e);
/// assert!(line.starts_with("server \"Main MDM\": cannot install the token: "));
/// assert!(line.ends_with(&mdmlink::token::TokenError::Decrypt.to_string()));
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        // A wrapper that still prints its cause (another crate's, say) must
        // not make the line say it twice.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
