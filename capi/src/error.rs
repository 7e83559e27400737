//! `mdmlink_error`: the detailed error beside a status.
//!
//! Every fallible function takes `mdmlink_error **err` last. `err` may be
//! NULL (no details wanted); otherwise `*err` must be NULL on entry, or the
//! call does nothing and returns `MDMLINK_STATUS_ERROR_NOT_NULL` (`*err` is
//! never freed or overwritten implicitly). When the call fails, `*err`
//! receives a new error object, which the caller frees with
//! `mdmlink_error_free` and sets back to NULL before reusing the variable.
//! On success `*err` stays NULL. There is no thread-local "last error".

use core::ffi::c_char;
use std::ffi::CString;

use super::macros::ffi;
use super::status::mdmlink_status;
use mdmlink::{
    Error, jwt::JwtError, keypair::KeyError, name::NameError, organization::OrganizationError,
    portal::RoleError, session::SessionError, token::TokenError,
};

/// A failed call's status and message. Immutable; safe to read from any
/// thread. Free it with `mdmlink_error_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_error {
    status: mdmlink_status,
    message: CString,
}

/// An error on its way to C.
#[derive(Debug)]
pub(crate) struct FfiError {
    status: mdmlink_status,
    message: String,
}

impl FfiError {
    pub(crate) fn new(status: mdmlink_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(argument: &str) -> Self {
        Self::new(
            mdmlink_status::NullArgument,
            format!("the argument `{argument}` is NULL"),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(mdmlink_status::InvalidArgument, message)
    }

    /// A function of a cargo feature this build was compiled without.
    #[cfg_attr(feature = "http", allow(dead_code))]
    pub(crate) fn feature_not_enabled(feature: &str) -> Self {
        Self::new(
            mdmlink_status::FeatureNotEnabled,
            format!(
                "this build of mdmlink was compiled without the `{feature}` feature; rebuild the C library with it (e.g. scripts/install.sh with MDMLINK_FEATURES=sqlite,http)"
            ),
        )
    }

    pub(crate) fn panic() -> Self {
        Self::new(
            mdmlink_status::Panic,
            "mdmlink panicked (a bug, please report it); no output was written, and a change the call was making to an organization may be incomplete",
        )
    }

    pub(crate) fn status(&self) -> mdmlink_status {
        self.status
    }
}

macro_rules! from_core {
    ($($ty:ty => $f:ident),* $(,)?) => {$(
        impl From<$ty> for FfiError {
            fn from(e: $ty) -> Self {
                // The whole cause chain: C callers see one message.
                Self::new(mdmlink_status::$f(&e), mdmlink::error::report(&e))
            }
        }
    )*};
}

from_core! {
    NameError => of_name,
    RoleError => of_role,
    KeyError => of_key,
    TokenError => of_token,
    OrganizationError => of_organization,
    SessionError => of_session,
    JwtError => of_jwt,
    mdmlink::dep::DepError => of_dep,
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Name(e) => e.into(),
            Error::Role(e) => e.into(),
            Error::Key(e) => e.into(),
            Error::Token(e) => e.into(),
            Error::Organization(e) => e.into(),
            Error::Jwt(e) => e.into(),
            Error::Session(e) => e.into(),
            Error::FileName(e) => Self::new(mdmlink_status::TokenFileName, e.to_string()),
            Error::Parse(e) => Self::invalid(e.to_string()),
            // No C function reaches a store yet.
            Error::Store(e) => Self::new(mdmlink_status::InvalidRecord, mdmlink::error::report(&e)),
            Error::PortalApi(e) => e.into(),
            Error::ApiAccount(e) => e.into(),
            Error::Link(e) => e.into(),
            Error::Dep(e) => e.into(),
            Error::Registry(e) => e.into(),
            Error::MasterKey(e) => mdmlink::store::registry::RegistryError::from(e).into(),
            Error::Expiry(e) => Self::invalid(e.to_string()),
            // `Error` is `#[non_exhaustive]` and this is another crate: a
            // variant the library adds before this mapping learns it still
            // fails with its own message.
            e => Self::invalid(mdmlink::error::report(&e)),
        }
    }
}

impl FfiError {
    fn of_portal_api(e: &mdmlink::portal_api::PortalApiError) -> Self {
        Self::new(mdmlink_status::of_portal_api(e), mdmlink::error::report(e))
    }
}

impl From<mdmlink::portal_api::PortalApiError> for FfiError {
    fn from(e: mdmlink::portal_api::PortalApiError) -> Self {
        Self::of_portal_api(&e)
    }
}

impl From<mdmlink::portal_api::ApiAccountError> for FfiError {
    fn from(e: mdmlink::portal_api::ApiAccountError) -> Self {
        Self::new(
            mdmlink_status::of_api_account(&e),
            mdmlink::error::report(&e),
        )
    }
}

impl From<mdmlink::portal_api::link::LinkError> for FfiError {
    fn from(e: mdmlink::portal_api::link::LinkError) -> Self {
        use mdmlink::portal_api::link::LinkError as L;
        let message = mdmlink::error::report(&e);
        let status = match e {
            L::Registry(e) => return e.into(),
            L::Api(e) => return e.into(),
            L::Key(e) => return e.into(),
            L::Account(e) => return e.into(),
            L::NameTakenInPortal { .. } => mdmlink_status::NameTakenInPortal,
            L::LimitReached { .. } => mdmlink_status::CertificateLimit,
            L::NotInPortal { .. } => mdmlink_status::NotInPortal,
            L::AmbiguousInPortal { .. } => mdmlink_status::AmbiguousInPortal,
            // Rolled back: the store's reason; otherwise the portal still
            // holds a server the store does not.
            L::StoreRefusedAfterCreate {
                rolled_back: true,
                source,
                ..
            } => FfiError::from(*source).status,
            L::StoreRefusedAfterCreate { .. } => mdmlink_status::LinkIncomplete,
            L::RotationUncertain { .. } => mdmlink_status::ApiUncertain,
            _ => mdmlink_status::ApiRefused,
        };
        Self::new(status, message)
    }
}

impl From<mdmlink::hazmat::payload::PayloadError> for FfiError {
    fn from(e: mdmlink::hazmat::payload::PayloadError) -> Self {
        TokenError::from(e).into()
    }
}

/// Stores `e` through `err` (which [`super::macros::run_status`] has checked
/// holds NULL).
///
/// # Safety
/// `err` is NULL or points to a writable `mdmlink_error *`.
pub(crate) unsafe fn set_error(err: *mut *mut mdmlink_error, e: FfiError) {
    if err.is_null() {
        return;
    }
    let message = CString::new(e.message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    let boxed = Box::into_raw(Box::new(mdmlink_error {
        status: e.status,
        message,
    }));
    // SAFETY: the caller guarantees `err` is valid and writable.
    unsafe { err.write(boxed) }
}

/// The error's message: UTF-8, NUL-terminated, never containing key material
/// or token secrets. Valid until `mdmlink_error_free(err)`; do not free it.
/// Returns NULL when `err` is NULL. Takes no ownership of `err`.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_error_message(err: *const mdmlink_error) -> *const c_char {
    ffi!(value core::ptr::null(); [err]; {
        // SAFETY: non-NULL, and the caller guarantees it is a live error.
        unsafe { (*err).message.as_ptr() }
    })
}

/// The error's status; `MDMLINK_STATUS_NULL_ARGUMENT` when `err` is NULL.
/// Takes no ownership of `err`.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_error_status(err: *const mdmlink_error) -> mdmlink_status {
    ffi!(value mdmlink_status::NullArgument; [err]; {
        // SAFETY: non-NULL, and the caller guarantees it is a live error.
        unsafe { (*err).status }
    })
}

/// Frees an error. NULL is a no-op.
///
/// # Safety
/// `err` is NULL or an error returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_error_free(err: *mut mdmlink_error) {
    ffi!(free err; {
        // SAFETY: the caller hands back an error this library allocated.
        drop(unsafe { Box::from_raw(err) });
    })
}

// The store's errors: here, not in `store.rs`, because `mdmlink::Error`
// carries them whether or not this build has the store functions.
impl From<mdmlink::store::StoreError> for FfiError {
    fn from(e: mdmlink::store::StoreError) -> Self {
        use mdmlink_status as S;
        let status = match &e {
            mdmlink::store::StoreError::DuplicateName { .. } => S::DuplicateName,
            mdmlink::store::StoreError::InvalidName(_) => S::InvalidName,
            mdmlink::store::StoreError::LimitReached { .. } => S::CertificateLimit,
            mdmlink::store::StoreError::NotFound(n) => S::of_not_found(n),
            mdmlink::store::StoreError::Conflict { .. } => S::StoreConflict,
            mdmlink::store::StoreError::Busy { .. } => S::StoreBusy,
            mdmlink::store::StoreError::Corrupt { .. } => S::StoreCorrupt,
            mdmlink::store::StoreError::NewerSchema { .. } => S::StoreNewerSchema,
            _ => S::StoreIo,
        };
        FfiError::new(status, e.to_string())
    }
}

impl From<mdmlink::store::registry::RegistryError> for FfiError {
    fn from(e: mdmlink::store::registry::RegistryError) -> Self {
        use mdmlink_status as S;
        let status = match e {
            mdmlink::store::registry::RegistryError::Store(e) => return e.into(),
            mdmlink::store::registry::RegistryError::Organization(e) => return e.into(),
            mdmlink::store::registry::RegistryError::Key { source, .. } => return source.into(),
            mdmlink::store::registry::RegistryError::MasterKey(
                mdmlink::store::master_key::MasterKeyError::Required,
            ) => S::MasterKeyRequired,
            mdmlink::store::registry::RegistryError::MasterKey(
                mdmlink::store::master_key::MasterKeyError::Wrong
                | mdmlink::store::master_key::MasterKeyError::KindMismatch { .. },
            ) => S::MasterKeyWrong,
            mdmlink::store::registry::RegistryError::MasterKey(
                mdmlink::store::master_key::MasterKeyError::PassphraseTooShort { .. },
            ) => S::InvalidArgument,
            mdmlink::store::registry::RegistryError::MasterKey(ref m) => match m {
                mdmlink::store::master_key::MasterKeyError::Format { .. } => S::InvalidArgument,
                mdmlink::store::master_key::MasterKeyError::Random => S::RandomFailed,
                _ => S::SecretUnreadable,
            },
            mdmlink::store::registry::RegistryError::NotFound(ref n) => S::of_not_found(n),
            mdmlink::store::registry::RegistryError::NoOrganization => S::UnknownOrganization,
            mdmlink::store::registry::RegistryError::OrganizationRequired(_) => {
                S::OrganizationRequired
            }
            mdmlink::store::registry::RegistryError::OrganizationNotEmpty { .. } => {
                S::OrganizationNotEmpty
            }
            mdmlink::store::registry::RegistryError::ImportToken { ref source, .. } => {
                S::of_token(source)
            }
            mdmlink::store::registry::RegistryError::ImportCertificate { .. } => {
                S::CertificateMismatch
            }
            mdmlink::store::registry::RegistryError::NotEncrypted => S::NotEncrypted,
            mdmlink::store::registry::RegistryError::LegacyPassphrase { .. } => S::MasterKeyWrong,
            mdmlink::store::registry::RegistryError::CertificateRequired { .. } => {
                S::InvalidArgument
            }
            mdmlink::store::registry::RegistryError::TokenShared { .. } => S::InvalidArgument,
            mdmlink::store::registry::RegistryError::PortalMismatch { .. }
            | mdmlink::store::registry::RegistryError::ApiAccount(
                mdmlink::portal_api::ApiAccountError::WrongPortal { .. },
            ) => S::PortalMismatch,
            mdmlink::store::registry::RegistryError::ApiAccount(ref a) => S::of_api_account(a),
            mdmlink::store::registry::RegistryError::ApiAccountExists { .. } => S::ApiAccountExists,
            _ => S::InvalidRecord,
        };
        FfiError::new(status, e.to_string())
    }
}
