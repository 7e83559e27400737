//! The crate-wide error type.
//!
//! Each module has its own error enum that says exactly which rule was broken
//! ([`NameError`](crate::name::NameError), [`RoleError`](crate::portal::RoleError),
//! [`KeyError`](crate::keypair::KeyError), [`TokenError`](crate::token::TokenError),
//! [`OrganizationError`](crate::organization::OrganizationError)). [`Error`] wraps
//! them for callers that want a single type. No variant ever carries key material,
//! content keys or token secrets.

use crate::{
    jwt::JwtError, keypair::KeyError, name::NameError, organization::OrganizationError,
    portal::RoleError, token::TokenError,
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
}

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
