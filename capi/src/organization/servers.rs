//! Adding, removing, re-keying and naming one server of an organization, and
//! the Access Management JWT its key signs.

use super::*;

/// Adds a server named `name` with a copy of `keypair` (whose certificate the
/// admin uploads), created at `now_unix`. Takes no ownership of `keypair`
/// (free it as usual).
///
/// # Safety
/// `org` and `keypair` are NULL or live handles; `name` is NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_add(
    org: *mut mdmlink_organization,
    name: *const c_char,
    keypair: *const mdmlink_keypair,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, keypair]; {
        // SAFETY: per the contract.
        let (org, name, keypair) = unsafe { (handle(org), str_arg(name, "name")?, handle(keypair)) };
        let now = time_arg(now_unix, "now_unix")?;
        org.lock()?
            .add_server(name, keypair.inner.clone(), ServerOptions::default(), now)?;
        Ok(())
    })
}

/// Adds a server named `name` with a newly generated keypair of `bits` (2048,
/// 3072 or 4096) whose certificate's common name is derived from the name,
/// valid from `now_unix`. Uses the operating system's random number
/// generator. The name is checked before the (slow) key generation.
///
/// On success, when `keypair_out` is not NULL, `*keypair_out` receives a copy
/// of the new keypair (to write its certificate for upload): free it with
/// `mdmlink_keypair_free`. Takes no ownership of `name`.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `keypair_out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_add_generated(
    org: *mut mdmlink_organization,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    keypair_out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let size = KeySize::from_bits(bits)?;
        let keypair = Organization::add_server_generated(
            || org.lock(),
            name,
            size,
            ServerOptions::default(),
            &mut SystemRng::default(),
            now,
        )?;
        // SAFETY: `keypair_out` is NULL or writable.
        unsafe { write_copy(keypair_out, Some(keypair)) };
        Ok(())
    })
}

/// Hands `copy` to C through `out` when both are present.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn write_copy(out: *mut *mut mdmlink_keypair, copy: Option<ServerKeypair>) {
    if let Some(inner) = copy.filter(|_| !out.is_null()) {
        // SAFETY: `out` is non-NULL and writable per the contract.
        unsafe { write_handle(out, mdmlink_keypair { inner }) };
    }
}

/// Removes the server named `name`. Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_remove(
    org: *mut mdmlink_organization,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        org.lock()?.remove_server(name)?;
        Ok(())
    })
}

/// Stages a copy of `keypair` as the server's next keypair (a rotation): the
/// current keypair and token keep working until a token that opens with the
/// staged key is installed. A server that already has a staged keypair gives
/// `MDMLINK_STATUS_ALREADY_STAGED` (discard it first to replace it). Takes no
/// ownership of its arguments.
///
/// # Safety
/// `org` and `keypair` are NULL or live handles; `name` is NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_stage_keypair(
    org: *mut mdmlink_organization,
    name: *const c_char,
    keypair: *const mdmlink_keypair,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, keypair]; {
        // SAFETY: per the contract.
        let (org, name, keypair) = unsafe { (handle(org), str_arg(name, "name")?, handle(keypair)) };
        let now = time_arg(now_unix, "now_unix")?;
        org.lock()?.stage_keypair(name, keypair.inner.clone(), now)?;
        Ok(())
    })
}

/// Generates a keypair of `bits` (2048, 3072 or 4096) for the server named
/// `name` and stages it (the first step of a key rotation), as
/// `mdmlink_organization_server_add_generated` does for a new server: the
/// certificate's common name comes from the server name, valid from
/// `now_unix`; the server is looked up (and one already staging is refused
/// with `MDMLINK_STATUS_ALREADY_STAGED`) before the (slow) key generation,
/// which runs without holding the organization's lock.
///
/// On success, when `keypair_out` is not NULL, `*keypair_out` receives a copy
/// of the staged keypair (to write its certificate for upload): free it with
/// `mdmlink_keypair_free`. Takes no ownership of `name`.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `keypair_out` is NULL or writable; `err` is NULL or a valid
/// `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_stage_generated(
    org: *mut mdmlink_organization,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    keypair_out: *mut *mut mdmlink_keypair,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let size = KeySize::from_bits(bits)?;
        let keypair =
            Organization::stage_generated(|| org.lock(), name, size, &mut SystemRng::default(), now)?;
        // SAFETY: `keypair_out` is NULL or writable.
        unsafe { write_copy(keypair_out, Some(keypair)) };
        Ok(())
    })
}

/// Discards the staged keypair of the server named `name` (the rotation is
/// abandoned; the current keypair and token stay).
/// `MDMLINK_STATUS_NO_STAGED_KEYPAIR` when there is none. Takes no ownership
/// of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_discard_staging(
    org: *mut mdmlink_organization,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name]; {
        // SAFETY: per the contract.
        let (org, name) = unsafe { (handle(org), str_arg(name, "name")?) };
        org.lock()?.discard_staged(name)?;
        Ok(())
    })
}

/// Records Apple's identifier for the server named `name`: the
/// `server_uuid` that the device assignment service's Account Detail
/// (`GET /account`) returns. It is the issuer of the server's Access
/// Management JWTs. `MDMLINK_STATUS_INVALID_ARGUMENT` for an empty or
/// malformed value. Takes no ownership of its arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` and `uuid` are NULL or
/// NUL-terminated; `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_set_uuid(
    org: *mut mdmlink_organization,
    name: *const c_char,
    uuid: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, uuid]; {
        // SAFETY: per the contract.
        let (org, name, uuid) = unsafe { (handle(org), str_arg(name, "name")?, str_arg(uuid, "uuid")?) };
        org.lock()?.set_server_uuid(name, uuid)?;
        Ok(())
    })
}

/// Signs an Access Management JWT (the `com.apple.maid` token a `GetToken`
/// check-in request asks for) for the server named `name` with its current
/// private key, RS256: claims `iss` (the server UUID, see
/// `mdmlink_organization_server_set_uuid`; `MDMLINK_STATUS_NO_SERVER_UUID`
/// when unset), `iat` = `now_unix`, `jti` (NULL: a new random UUID) and
/// `service_type` = `com.apple.maid`. Uses the operating system's random
/// number generator (for `jti` and RSA blinding).
///
/// On success `*out` receives the compact JWT as ASCII (NUL-terminated, like
/// every `mdmlink_bytes`): free it with `mdmlink_bytes_free`. Takes no ownership of its
/// arguments.
///
/// # Safety
/// `org` is NULL or a live organization; `name` is NULL or NUL-terminated;
/// `jti` is NULL or NUL-terminated; `out` is NULL or writable; `err` is NULL
/// or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_organization_server_jwt(
    org: *const mdmlink_organization,
    name: *const c_char,
    now_unix: i64,
    jti: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [org, name, out]; {
        // SAFETY: per the contract.
        let (org, name, jti) = unsafe { (handle(org), str_arg(name, "name")?, opt_str_arg(jti, "jti")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let mut rng = SystemRng::default();
        let jti = match jti {
            Some(j) => j.to_owned(),
            None => mdmlink::jwt::random_jti(&mut rng)?,
        };
        let token = org.lock()?.access_management_jwt(name, now, &jti, &mut rng)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(token.into_bytes())) };
        Ok(())
    })
}
