//! `mdmlink_status`: what every fallible function returns.
//!
//! The numbers are part of the ABI and fixed forever: a status is never
//! renumbered, and a retired status keeps its number reserved (listed as a
//! comment below). New statuses take unused numbers in their group.

use core::ffi::c_char;

use super::macros::ffi;

use mdmlink::{
    dep::{DepError, ServiceCode},
    jwt::JwtError,
    keypair::KeyError,
    name::NameError,
    organization::OrganizationError,
    portal::RoleError,
    session::SessionError,
    token::TokenError,
};

/// The outcome of a call. `MDMLINK_STATUS_OK` (0) is success; every other
/// value is a failure, and the `mdmlink_error` written through `err` (when
/// given) carries a readable message. Numbers never change.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mdmlink_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// mdmlink panicked (a bug); the call had no effect on its outputs.
    Panic = 2,
    /// An argument is out of range: not UTF-8, an unknown enum number, a time
    /// outside years 1..9999, an index past the end.
    InvalidArgument = 3,
    /// `*err` was not NULL on entry (an earlier error not freed and reset, or
    /// an uninitialised variable): the call did nothing and left `*err` alone.
    ErrorNotNull = 4,
    // 5..=9: reserved for general statuses.
    /// A server name breaks a naming rule.
    InvalidName = 10,
    /// A portal role may not perform the action.
    RoleNotAllowed = 11,
    /// The RSA key size is not supported.
    KeyUnsupportedSize = 20,
    /// The input holds no readable private key.
    KeyMalformed = 21,
    /// The private key is not RSA.
    KeyNotRsa = 22,
    /// The private key is encrypted and no password was given.
    KeyPasswordRequired = 23,
    /// The password does not decrypt the private key.
    KeyWrongPassword = 24,
    /// A legacy OpenSSL-encrypted PEM (`Proc-Type: 4,ENCRYPTED`).
    KeyLegacyEncryptedPem = 25,
    /// A certificate could not be parsed or built.
    CertificateInvalid = 26,
    /// The certificate does not belong to the private key.
    CertificateMismatch = 27,
    /// The keypair has no certificate.
    NoCertificate = 28,
    /// The operating system's random number generator failed.
    RandomFailed = 29,
    /// RSA key generation failed.
    KeyGenerationFailed = 30,
    /// A key or certificate could not be encoded.
    EncodeFailed = 31,
    /// Signing with the private key failed.
    SignFailed = 32,
    /// The token file is larger than any token.
    TokenTooLarge = 40,
    /// Not a server token file (S/MIME, PEM or base64 layer).
    TokenFormat = 41,
    /// The token's CMS structure is invalid.
    TokenMalformed = 42,
    /// The token uses an unsupported cipher or key transport.
    TokenUnsupportedAlgorithm = 43,
    /// The token was issued to another certificate.
    TokenWrongRecipient = 44,
    /// The token could not be decrypted with this key (wrong key or damaged file).
    TokenDecrypt = 45,
    /// The decrypted content is not a valid token.
    TokenPayload = 46,
    /// The token could not be sealed.
    TokenSeal = 47,
    /// A file name is not of the portal's token file name form.
    TokenFileName = 48,
    /// Another server already has this name.
    DuplicateName = 60,
    /// No server has this name.
    NotFound = 61,
    /// The server has no private key to open tokens with.
    NoKeypair = 62,
    /// A renewal's consumer key differs from the installed token's.
    ConsumerKeyChanged = 63,
    /// The portal's certificate limit would be exceeded.
    CertificateLimit = 64,
    /// The server has no staged keypair.
    NoStagedKeypair = 65,
    /// A stored record could not be restored.
    InvalidRecord = 66,
    /// The server has no token installed.
    NoToken = 67,
    /// The server's UUID (Apple's `server_uuid`, the JWT issuer) is not set.
    NoServerUuid = 68,
    /// The token was refused: already expired, the installed token itself,
    /// or not expiring later than the installed one (install with `force`
    /// to accept it anyway).
    TokenNotNewer = 69,
    /// The server already has a staged keypair (discard it first to replace it).
    AlreadyStaged = 70,
    // 71..=79: reserved for organization statuses.
    /// HTTP 400 from the device assignment service: a malformed request.
    SessionBadRequest = 80,
    /// HTTP 401 at `/session`: the consumer key, token, signature or nonce
    /// was refused (check the clock).
    SessionUnauthorized = 81,
    /// HTTP 401 at `/session`: the server token has expired; download a new one.
    SessionTokenExpired = 82,
    /// HTTP 401 from a service endpoint: obtain a new session and retry once.
    SessionExpired = 83,
    /// HTTP 403 `T_C_NOT_SIGNED`: an administrator must accept the new terms.
    SessionTermsNotAccepted = 84,
    /// HTTP 403 `ACCESS_DENIED`: this token may not make the request.
    SessionAccessDenied = 85,
    /// HTTP 403 with another code.
    SessionForbidden = 86,
    /// HTTP 429: the service is rate limiting.
    SessionRateLimited = 87,
    /// Another unsuccessful HTTP status.
    SessionHttpStatus = 88,
    /// A successful reply whose body is not what Apple documents.
    SessionMalformedResponse = 89,
    /// The service URL cannot be used.
    SessionInvalidUrl = 90,
    /// The HTTP exchange itself failed.
    SessionTransport = 91,
    /// The device assignment service refused a cursor (`EXPIRED_CURSOR`,
    /// `INVALID_CURSOR`, `EXHAUSTED_CURSOR`, `CURSOR_REQUIRED`) where the
    /// syncer could not recover by itself, or a saved cursor is unreadable.
    DepCursor = 92,
    /// The service returned the cursor it was given with `more_to_follow`
    /// (it would loop forever); keep the last good cursor and retry later.
    DepRepeatedCursor = 93,
    /// `PROFILE_NOT_FOUND`: no profile has that UUID.
    DepProfileNotFound = 94,
    /// The service refused the request (`MALFORMED_REQUEST_BODY`,
    /// `DEVICE_ID_REQUIRED`, `USER_AGENT_INVALID`, an invalid profile).
    DepBadRequest = 95,
    /// The service is failing (5xx); retry later.
    DepServiceUnavailable = 96,
    /// The caller's callback refused a page (its cursor was not committed).
    DepRejected = 97,
    // 98..=99: reserved for the device assignment service.
    /// The store could not be opened, read or written (a file or database error).
    StoreIo = 100,
    /// The store is damaged or not an mdmlink store.
    StoreCorrupt = 101,
    /// The store was written by a newer mdmlink.
    StoreNewerSchema = 102,
    /// Another process held the store for longer than the busy timeout.
    StoreBusy = 103,
    /// A concurrent change conflicted with this one, also after retries.
    StoreConflict = 104,
    /// The store's secrets are encrypted and no master key was given.
    MasterKeyRequired = 105,
    /// The master key (or passphrase) does not match the store.
    MasterKeyWrong = 106,
    /// A stored secret did not decrypt (altered, or moved from another row).
    SecretUnreadable = 107,
    /// The store holds several organizations and none was named.
    OrganizationRequired = 108,
    /// No organization has this name (or the store has none).
    UnknownOrganization = 109,
    /// The organization still has servers.
    OrganizationNotEmpty = 110,
    /// A master key was given to a store whose secrets are not encrypted yet: rekey it.
    NotEncrypted = 111,
}

impl mdmlink_status {
    /// The status's C name, e.g. `MDMLINK_STATUS_OK`.
    pub(crate) fn name(self) -> &'static core::ffi::CStr {
        use mdmlink_status as S;
        match self {
            S::Ok => c"MDMLINK_STATUS_OK",
            S::NullArgument => c"MDMLINK_STATUS_NULL_ARGUMENT",
            S::Panic => c"MDMLINK_STATUS_PANIC",
            S::InvalidArgument => c"MDMLINK_STATUS_INVALID_ARGUMENT",
            S::ErrorNotNull => c"MDMLINK_STATUS_ERROR_NOT_NULL",
            S::InvalidName => c"MDMLINK_STATUS_INVALID_NAME",
            S::RoleNotAllowed => c"MDMLINK_STATUS_ROLE_NOT_ALLOWED",
            S::KeyUnsupportedSize => c"MDMLINK_STATUS_KEY_UNSUPPORTED_SIZE",
            S::KeyMalformed => c"MDMLINK_STATUS_KEY_MALFORMED",
            S::KeyNotRsa => c"MDMLINK_STATUS_KEY_NOT_RSA",
            S::KeyPasswordRequired => c"MDMLINK_STATUS_KEY_PASSWORD_REQUIRED",
            S::KeyWrongPassword => c"MDMLINK_STATUS_KEY_WRONG_PASSWORD",
            S::KeyLegacyEncryptedPem => c"MDMLINK_STATUS_KEY_LEGACY_ENCRYPTED_PEM",
            S::CertificateInvalid => c"MDMLINK_STATUS_CERTIFICATE_INVALID",
            S::CertificateMismatch => c"MDMLINK_STATUS_CERTIFICATE_MISMATCH",
            S::NoCertificate => c"MDMLINK_STATUS_NO_CERTIFICATE",
            S::RandomFailed => c"MDMLINK_STATUS_RANDOM_FAILED",
            S::KeyGenerationFailed => c"MDMLINK_STATUS_KEY_GENERATION_FAILED",
            S::EncodeFailed => c"MDMLINK_STATUS_ENCODE_FAILED",
            S::SignFailed => c"MDMLINK_STATUS_SIGN_FAILED",
            S::TokenTooLarge => c"MDMLINK_STATUS_TOKEN_TOO_LARGE",
            S::TokenFormat => c"MDMLINK_STATUS_TOKEN_FORMAT",
            S::TokenMalformed => c"MDMLINK_STATUS_TOKEN_MALFORMED",
            S::TokenUnsupportedAlgorithm => c"MDMLINK_STATUS_TOKEN_UNSUPPORTED_ALGORITHM",
            S::TokenWrongRecipient => c"MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT",
            S::TokenDecrypt => c"MDMLINK_STATUS_TOKEN_DECRYPT",
            S::TokenPayload => c"MDMLINK_STATUS_TOKEN_PAYLOAD",
            S::TokenSeal => c"MDMLINK_STATUS_TOKEN_SEAL",
            S::TokenFileName => c"MDMLINK_STATUS_TOKEN_FILE_NAME",
            S::DuplicateName => c"MDMLINK_STATUS_DUPLICATE_NAME",
            S::NotFound => c"MDMLINK_STATUS_NOT_FOUND",
            S::NoKeypair => c"MDMLINK_STATUS_NO_KEYPAIR",
            S::ConsumerKeyChanged => c"MDMLINK_STATUS_CONSUMER_KEY_CHANGED",
            S::CertificateLimit => c"MDMLINK_STATUS_CERTIFICATE_LIMIT",
            S::NoStagedKeypair => c"MDMLINK_STATUS_NO_STAGED_KEYPAIR",
            S::InvalidRecord => c"MDMLINK_STATUS_INVALID_RECORD",
            S::NoToken => c"MDMLINK_STATUS_NO_TOKEN",
            S::NoServerUuid => c"MDMLINK_STATUS_NO_SERVER_UUID",
            S::TokenNotNewer => c"MDMLINK_STATUS_TOKEN_NOT_NEWER",
            S::AlreadyStaged => c"MDMLINK_STATUS_ALREADY_STAGED",
            S::SessionBadRequest => c"MDMLINK_STATUS_SESSION_BAD_REQUEST",
            S::SessionUnauthorized => c"MDMLINK_STATUS_SESSION_UNAUTHORIZED",
            S::SessionTokenExpired => c"MDMLINK_STATUS_SESSION_TOKEN_EXPIRED",
            S::SessionExpired => c"MDMLINK_STATUS_SESSION_EXPIRED",
            S::SessionTermsNotAccepted => c"MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED",
            S::SessionAccessDenied => c"MDMLINK_STATUS_SESSION_ACCESS_DENIED",
            S::SessionForbidden => c"MDMLINK_STATUS_SESSION_FORBIDDEN",
            S::SessionRateLimited => c"MDMLINK_STATUS_SESSION_RATE_LIMITED",
            S::SessionHttpStatus => c"MDMLINK_STATUS_SESSION_HTTP_STATUS",
            S::SessionMalformedResponse => c"MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE",
            S::SessionInvalidUrl => c"MDMLINK_STATUS_SESSION_INVALID_URL",
            S::SessionTransport => c"MDMLINK_STATUS_SESSION_TRANSPORT",
            S::DepCursor => c"MDMLINK_STATUS_DEP_CURSOR",
            S::DepRepeatedCursor => c"MDMLINK_STATUS_DEP_REPEATED_CURSOR",
            S::DepProfileNotFound => c"MDMLINK_STATUS_DEP_PROFILE_NOT_FOUND",
            S::DepBadRequest => c"MDMLINK_STATUS_DEP_BAD_REQUEST",
            S::DepServiceUnavailable => c"MDMLINK_STATUS_DEP_SERVICE_UNAVAILABLE",
            S::DepRejected => c"MDMLINK_STATUS_DEP_REJECTED",
            S::StoreIo => c"MDMLINK_STATUS_STORE_IO",
            S::StoreCorrupt => c"MDMLINK_STATUS_STORE_CORRUPT",
            S::StoreNewerSchema => c"MDMLINK_STATUS_STORE_NEWER_SCHEMA",
            S::StoreBusy => c"MDMLINK_STATUS_STORE_BUSY",
            S::StoreConflict => c"MDMLINK_STATUS_STORE_CONFLICT",
            S::MasterKeyRequired => c"MDMLINK_STATUS_MASTER_KEY_REQUIRED",
            S::MasterKeyWrong => c"MDMLINK_STATUS_MASTER_KEY_WRONG",
            S::SecretUnreadable => c"MDMLINK_STATUS_SECRET_UNREADABLE",
            S::OrganizationRequired => c"MDMLINK_STATUS_ORGANIZATION_REQUIRED",
            S::UnknownOrganization => c"MDMLINK_STATUS_UNKNOWN_ORGANIZATION",
            S::OrganizationNotEmpty => c"MDMLINK_STATUS_ORGANIZATION_NOT_EMPTY",
            S::NotEncrypted => c"MDMLINK_STATUS_NOT_ENCRYPTED",
        }
    }

    /// Every status, for [`mdmlink_status_name`].
    const ALL: [mdmlink_status; 70] = {
        use mdmlink_status as S;
        [
            S::Ok,
            S::NullArgument,
            S::Panic,
            S::InvalidArgument,
            S::ErrorNotNull,
            S::InvalidName,
            S::RoleNotAllowed,
            S::KeyUnsupportedSize,
            S::KeyMalformed,
            S::KeyNotRsa,
            S::KeyPasswordRequired,
            S::KeyWrongPassword,
            S::KeyLegacyEncryptedPem,
            S::CertificateInvalid,
            S::CertificateMismatch,
            S::NoCertificate,
            S::RandomFailed,
            S::KeyGenerationFailed,
            S::EncodeFailed,
            S::SignFailed,
            S::TokenTooLarge,
            S::TokenFormat,
            S::TokenMalformed,
            S::TokenUnsupportedAlgorithm,
            S::TokenWrongRecipient,
            S::TokenDecrypt,
            S::TokenPayload,
            S::TokenSeal,
            S::TokenFileName,
            S::DuplicateName,
            S::NotFound,
            S::NoKeypair,
            S::ConsumerKeyChanged,
            S::CertificateLimit,
            S::NoStagedKeypair,
            S::InvalidRecord,
            S::NoToken,
            S::NoServerUuid,
            S::TokenNotNewer,
            S::AlreadyStaged,
            S::SessionBadRequest,
            S::SessionUnauthorized,
            S::SessionTokenExpired,
            S::SessionExpired,
            S::SessionTermsNotAccepted,
            S::SessionAccessDenied,
            S::SessionForbidden,
            S::SessionRateLimited,
            S::SessionHttpStatus,
            S::SessionMalformedResponse,
            S::SessionInvalidUrl,
            S::SessionTransport,
            S::DepCursor,
            S::DepRepeatedCursor,
            S::DepProfileNotFound,
            S::DepBadRequest,
            S::DepServiceUnavailable,
            S::DepRejected,
            S::StoreIo,
            S::StoreCorrupt,
            S::StoreNewerSchema,
            S::StoreBusy,
            S::StoreConflict,
            S::MasterKeyRequired,
            S::MasterKeyWrong,
            S::SecretUnreadable,
            S::OrganizationRequired,
            S::UnknownOrganization,
            S::OrganizationNotEmpty,
            S::NotEncrypted,
        ]
    };

    // The library's error enums are `#[non_exhaustive]` and this is another
    // crate, so each mapping below ends in a `_` arm: a variant the library
    // adds before the C API maps it gets its group's most general status
    // (its message still says what went wrong). Map new variants here.

    pub(crate) fn of_name(e: &NameError) -> Self {
        match e {
            NameError::Empty
            | NameError::TooLong { .. }
            | NameError::ControlCharacter { .. }
            | NameError::Reserved { .. } => Self::InvalidName,
            _ => Self::InvalidName,
        }
    }

    pub(crate) fn of_role(_: &RoleError) -> Self {
        Self::RoleNotAllowed
    }

    pub(crate) fn of_key(e: &KeyError) -> Self {
        match e {
            KeyError::UnsupportedSize { .. } => Self::KeyUnsupportedSize,
            KeyError::Random => Self::RandomFailed,
            KeyError::Generate => Self::KeyGenerationFailed,
            KeyError::Malformed { .. } => Self::KeyMalformed,
            KeyError::NotRsa { .. } => Self::KeyNotRsa,
            KeyError::PasswordRequired => Self::KeyPasswordRequired,
            KeyError::WrongPassword => Self::KeyWrongPassword,
            KeyError::LegacyEncryptedPem => Self::KeyLegacyEncryptedPem,
            KeyError::Certificate { .. } => Self::CertificateInvalid,
            KeyError::CertificateMismatch { .. } => Self::CertificateMismatch,
            KeyError::NoCertificate => Self::NoCertificate,
            KeyError::Encode { .. } => Self::EncodeFailed,
            _ => Self::KeyMalformed,
        }
    }

    pub(crate) fn of_token(e: &TokenError) -> Self {
        match e {
            TokenError::TooLarge { .. } => Self::TokenTooLarge,
            TokenError::Format { .. } => Self::TokenFormat,
            TokenError::Malformed { .. } => Self::TokenMalformed,
            TokenError::UnsupportedCipher { .. } | TokenError::UnsupportedKeyTransport { .. } => {
                Self::TokenUnsupportedAlgorithm
            }
            TokenError::WrongRecipient { .. } => Self::TokenWrongRecipient,
            TokenError::Decrypt => Self::TokenDecrypt,
            TokenError::Payload(_) => Self::TokenPayload,
            TokenError::Random => Self::RandomFailed,
            TokenError::Seal { .. } => Self::TokenSeal,
            _ => Self::TokenMalformed,
        }
    }

    pub(crate) fn of_organization(e: &OrganizationError) -> Self {
        match e {
            OrganizationError::Name(n) => Self::of_name(n),
            OrganizationError::DuplicateName { .. } => Self::DuplicateName,
            OrganizationError::NotFound { .. } => Self::NotFound,
            OrganizationError::Role(r) => Self::of_role(r),
            OrganizationError::Token { source, .. } => Self::of_token(source),
            OrganizationError::NoKeypair { .. } => Self::NoKeypair,
            OrganizationError::ConsumerKeyChanged { .. } => Self::ConsumerKeyChanged,
            OrganizationError::CertificateLimit { .. } => Self::CertificateLimit,
            OrganizationError::NoStagedKeypair { .. } => Self::NoStagedKeypair,
            OrganizationError::Record { .. } => Self::InvalidRecord,
            OrganizationError::TokenForOtherKey { .. } => Self::TokenWrongRecipient,
            OrganizationError::Key { source, .. } => Self::of_key(source),
            OrganizationError::NoServerUuid { .. } => Self::NoServerUuid,
            OrganizationError::InvalidServerUuid { .. } => Self::InvalidArgument,
            OrganizationError::Jwt { source, .. } => Self::of_jwt(source),
            OrganizationError::TokenExpired { .. }
            | OrganizationError::SameToken { .. }
            | OrganizationError::TokenNotNewer { .. } => Self::TokenNotNewer,
            OrganizationError::AlreadyStaged { .. } => Self::AlreadyStaged,
            OrganizationError::NoToken { .. } => Self::NoToken,
            _ => Self::InvalidRecord,
        }
    }

    pub(crate) fn of_jwt(e: &JwtError) -> Self {
        match e {
            JwtError::InvalidClaim { .. } => Self::InvalidArgument,
            JwtError::Random => Self::RandomFailed,
            JwtError::Sign => Self::SignFailed,
            _ => Self::InvalidArgument,
        }
    }

    pub(crate) fn of_session(e: &SessionError) -> Self {
        match e {
            SessionError::InvalidUrl { .. } => Self::SessionInvalidUrl,
            SessionError::InvalidTime
            | SessionError::InvalidNonce
            | SessionError::InvalidHeader { .. } => Self::InvalidArgument,
            SessionError::Random => Self::RandomFailed,
            SessionError::BadRequest { .. } => Self::SessionBadRequest,
            SessionError::Unauthorized { .. } => Self::SessionUnauthorized,
            SessionError::ExpiredToken => Self::SessionTokenExpired,
            SessionError::SessionExpired => Self::SessionExpired,
            SessionError::TermsNotAccepted => Self::SessionTermsNotAccepted,
            SessionError::AccessDenied => Self::SessionAccessDenied,
            SessionError::Forbidden { .. } => Self::SessionForbidden,
            SessionError::TooManyRequests { .. } => Self::SessionRateLimited,
            SessionError::Status { .. } => Self::SessionHttpStatus,
            SessionError::Malformed { .. } => Self::SessionMalformedResponse,
            SessionError::Transport { .. } => Self::SessionTransport,
            _ => Self::SessionHttpStatus,
        }
    }

    pub(crate) fn of_dep(e: &DepError) -> Self {
        match e {
            DepError::Service { code, .. } => match code {
                ServiceCode::ExhaustedCursor
                | ServiceCode::ExpiredCursor
                | ServiceCode::InvalidCursor
                | ServiceCode::CursorRequired => Self::DepCursor,
                ServiceCode::TermsNotSigned => Self::SessionTermsNotAccepted,
                ServiceCode::AccessDenied => Self::SessionAccessDenied,
                ServiceCode::Forbidden => Self::SessionForbidden,
                ServiceCode::Unauthorized => Self::SessionExpired,
                ServiceCode::TokenExpired => Self::SessionTokenExpired,
                ServiceCode::TokenRejected
                | ServiceCode::SignatureInvalid
                | ServiceCode::NonceUsed
                | ServiceCode::TimestampRefused
                | ServiceCode::ConsumerKeyUnknown => Self::SessionUnauthorized,
                ServiceCode::ProfileNotFound => Self::DepProfileNotFound,
                ServiceCode::UserAgentInvalid
                | ServiceCode::MalformedRequestBody
                | ServiceCode::DeviceIdRequired
                | ServiceCode::InvalidProfile(_) => Self::DepBadRequest,
                ServiceCode::ServiceUnavailable => Self::DepServiceUnavailable,
                _ => Self::DepRejected,
            },
            DepError::RateLimited { .. } => Self::SessionRateLimited,
            DepError::Unknown { .. } => Self::SessionHttpStatus,
            DepError::Session(s) => Self::of_session(s),
            DepError::Malformed { .. } => Self::SessionMalformedResponse,
            DepError::InvalidArgument { .. } => Self::InvalidArgument,
            _ => Self::DepRejected,
        }
    }
}

/// The C name of `status` (e.g. `"MDMLINK_STATUS_TOKEN_DECRYPT"`), or NULL
/// for a number that is not a status. The string is static: never free it.
/// Safe to call from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn mdmlink_status_name(status: u32) -> *const c_char {
    ffi!(value core::ptr::null(); []; {
        mdmlink_status::ALL
            .iter()
            .find(|s| **s as u32 == status)
            .map_or(core::ptr::null(), |s| s.name().as_ptr())
    })
}
