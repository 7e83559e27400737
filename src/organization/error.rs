//! [`OrganizationError`]: why the organization model refused a change.

use core::fmt;

use super::server::CertificateDescription;
use crate::{
    jwt::JwtError,
    keypair::KeyError,
    name::NameError,
    portal::RoleError,
    token::{RecipientDescription, TokenError},
};

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why the organization model refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrganizationError {
    /// The name breaks a naming rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Another server already has this name (compared case-insensitively after normalization).
    #[error("a server named \"{existing}\" already exists; names must be unique ignoring case")]
    DuplicateName {
        /// The existing server's name.
        existing: String,
    },
    /// No server has this name (the one "not found" of every layer).
    #[error(transparent)]
    NotFound(#[from] crate::not_found::NotFound),
    /// The user's role may not do this.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// The token could not be opened with the server's key(s).
    #[error("server \"{server}\": cannot install the token")]
    Token {
        /// The server.
        server: String,
        /// Why.
        source: TokenError,
    },
    /// The token was issued to none of the server's certificates (neither the
    /// staged nor the current one).
    #[error(
        "server \"{server}\": the token was issued to {}, not to any of this server's certificates; checked against: {}. Upload this server's certificate to the portal and download a new token for it, or install the token on the server it was issued to",
        join(.token_recipients),
        join(.checked)
    )]
    TokenForOtherKey {
        /// The server.
        server: String,
        /// Who the token says it is for.
        token_recipients: Vec<RecipientDescription>,
        /// Every certificate of the server it was checked against, staged first.
        checked: Vec<CertificateDescription>,
    },
    /// The server has no keypair that could open a token.
    #[error("server \"{server}\" has no private key to open tokens with")]
    NoKeypair {
        /// The server.
        server: String,
    },
    /// A renewal's consumer key differs from the installed token's.
    #[error(
        "server \"{server}\": the new token's consumer key {new} differs from the installed {old}; this usually means it was downloaded for another server or by another portal account; install with force to accept it"
    )]
    ConsumerKeyChanged {
        /// The server.
        server: String,
        /// Installed consumer key.
        old: String,
        /// New consumer key.
        new: String,
    },
    /// The token has already expired (install with force to accept it anyway).
    #[error(
        "server \"{server}\": the token expired on {expiry}; download a new token from the portal (or install with force to accept it anyway)"
    )]
    TokenExpired {
        /// The server.
        server: String,
        /// The token's expiry (RFC 3339).
        expiry: String,
    },
    /// The token is the one already installed.
    #[error(
        "server \"{server}\": this token is the one already installed (expires {expiry}); download a new token from the portal (or install with force to reinstall it)"
    )]
    SameToken {
        /// The server.
        server: String,
        /// Its expiry (RFC 3339).
        expiry: String,
    },
    /// The token does not expire later than the installed one, so it is not
    /// a renewal.
    #[error(
        "server \"{server}\": the token expires {new_expiry}, not later than the installed token (expires {installed_expiry}); it is older or the same age, so it is not a renewal: download a new token from the portal (or install with force to accept it anyway)"
    )]
    TokenNotNewer {
        /// The server.
        server: String,
        /// The new token's expiry (RFC 3339).
        new_expiry: String,
        /// The installed token's expiry (RFC 3339).
        installed_expiry: String,
    },
    /// A keypair is already staged and waits for its token.
    #[error(
        "server \"{server}\" already has a staged keypair (certificate serial {serial}, staged {since}); a token for it may be on its way: install that token, discard the staged keypair, or replace it with force"
    )]
    AlreadyStaged {
        /// The server.
        server: String,
        /// The staged certificate's serial (hex), or `-` without a certificate.
        serial: String,
        /// When it was staged (RFC 3339).
        since: String,
    },
    /// The server has no token installed.
    #[error(
        "server \"{server}\" has no token installed; upload its certificate to the portal and download a token for it"
    )]
    NoToken {
        /// The server.
        server: String,
    },
    /// The portal's certificate limit would be exceeded.
    #[error(
        "the organization already has {count} public key certificates; the portal accepts at most {max}"
    )]
    CertificateLimit {
        /// Certificates in use.
        count: usize,
        /// The limit ([`MAX_CERTIFICATES`](super::MAX_CERTIFICATES)).
        max: usize,
    },
    /// There is no staged keypair to discard.
    #[error("server \"{server}\" has no staged keypair")]
    NoStagedKeypair {
        /// The server.
        server: String,
    },
    /// The server's `server_uuid` (the JWT issuer) is not known yet.
    #[error(
        "server \"{server}\" has no server UUID; fetch it from Apple (Account Detail, `server_uuid`) and record it"
    )]
    NoServerUuid {
        /// The server.
        server: String,
    },
    /// A server UUID is not 32 hexadecimal digits (dashed 8-4-4-4-12 or not).
    #[error(
        "\"{value}\" is not a server UUID (32 hexadecimal digits, such as 2A873497-36CF-4614-A94F-624E705841BE, with the dashes or without)"
    )]
    InvalidServerUuid {
        /// The value given (printable characters only are echoed).
        value: String,
    },
    /// An Access Management JWT could not be made.
    #[error("server \"{server}\": cannot make the Access Management JWT")]
    Jwt {
        /// The server.
        server: String,
        /// Why.
        source: JwtError,
    },
    /// A keypair for the server could not be generated.
    #[error("server \"{server}\": cannot generate a keypair")]
    Key {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
    /// A stored record could not be restored.
    #[error("stored server \"{server}\" is invalid")]
    Record {
        /// The server.
        server: String,
        /// Why.
        source: KeyError,
    },
}
