//! The store-backed API (`mdmlink::store::registry::Registry` over an SQLite
//! file, or a PostgreSQL database with feature `postgres`): organizations
//! and servers that persist, secrets under a master key. Feature `sqlite`;
//! declared in the header under `MDMLINK_STORE`.
//!
//! Lists come back as JSON (`mdmlink_bytes`, freed with
//! `mdmlink_bytes_free`) with the schemas documented on each function.

use core::ffi::c_char;
use std::sync::{Mutex, MutexGuard};

use super::bytes::mdmlink_bytes;
use super::error::{FfiError, mdmlink_error};
use super::expiry::reason_arg;
use super::macros::ffi;
use super::organization::{mdmlink_install_outcome, portal_arg};
use super::status::mdmlink_status;
use super::token::mdmlink_token;
use super::{bytes_arg, free_handle, handle, opt_str_arg, str_arg, time_arg, write, write_handle};
use mdmlink::SecretString;
use mdmlink::expiry::ExpiryPolicy;
use mdmlink::keypair::{KeySize, ServerKeypair};
use mdmlink::organization::{InstallOptions, InstallOutcome, ServerOptions};
use mdmlink::store::master_key::{MasterKey, MasterKeySource};
use mdmlink::store::registry::Registry;
use mdmlink::store::{AnyStore, OpenMode, StoreError, StoreLocation, open_registry};

/// An open store: a SQLite file (or a PostgreSQL database) of organizations
/// and servers. Every call
/// locks a mutex inside the handle, so it may be shared across threads
/// (calls on one handle run one at a time; several handles, or processes,
/// on one file are safe too). Free it with `mdmlink_store_free`.
#[allow(non_camel_case_types)]
pub struct mdmlink_store {
    inner: Mutex<Registry<AnyStore>>,
}

impl mdmlink_store {
    /// Locks the store. The same policy as `mdmlink_organization`: a call
    /// that panicked while holding the lock returned `MDMLINK_STATUS_PANIC`
    /// and poisoned it; the next call takes the lock back, so the handle stays
    /// usable. Every change is one transaction, which the panic rolled back.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Registry<AnyStore>>, FfiError> {
        Ok(self.inner.lock().unwrap_or_else(|poisoned| {
            self.inner.clear_poison();
            poisoned.into_inner()
        }))
    }
}

/// The arguments of every call on one stored server, converted once: the
/// store, the organization (NULL: the store's only one) and the server's
/// name.
///
/// # Safety
/// `store` is a live handle (the calling `ffi!` checked it is not NULL);
/// `org` is NULL or NUL-terminated; `name` is NUL-terminated (checked not
/// NULL by the caller).
pub(crate) unsafe fn server_args<'a>(
    store: *const mdmlink_store,
    org: *const c_char,
    name: *const c_char,
) -> Result<(&'a mdmlink_store, Option<&'a str>, &'a str), FfiError> {
    // SAFETY: per the contract.
    unsafe {
        Ok((
            handle(store),
            opt_str_arg(org, "org")?,
            str_arg(name, "name")?,
        ))
    }
}

/// The master key from the arguments: `key` (32 bytes) or `passphrase`.
///
/// # Safety
/// As for `mdmlink_store_open`'s `key`, `key_len` and `passphrase`.
unsafe fn key_source(
    key: *const u8,
    key_len: usize,
    passphrase: *const c_char,
) -> Result<Option<MasterKeySource>, FfiError> {
    // A NULL key with a length (a key loader that failed) is a NULL
    // argument, never a store without a key.
    if key.is_null() && key_len != 0 {
        return Err(FfiError::null("key"));
    }
    // SAFETY: per the contract.
    let pass = unsafe { opt_str_arg(passphrase, "passphrase") }?;
    match (key.is_null(), pass) {
        (false, Some(_)) => Err(FfiError::invalid(
            "give either a master key or a passphrase, not both",
        )),
        (false, None) => {
            if key_len != 32 {
                return Err(FfiError::invalid(format!(
                    "a master key is 32 bytes, not {key_len}"
                )));
            }
            // SAFETY: non-NULL, `key_len` readable bytes.
            let bytes = unsafe { bytes_arg(key, key_len, "key") }?;
            let mut k = zeroize::Zeroizing::new([0u8; 32]);
            k.copy_from_slice(bytes);
            Ok(Some(MasterKeySource::Key(MasterKey::from_bytes(*k))))
        }
        (true, Some(p)) => Ok(Some(MasterKeySource::Passphrase(SecretString::new(
            p.to_owned(),
        )))),
        (true, None) => Ok(None),
    }
}

/// Opens (creating it, mode 0600) the store at `path` (a file path or
/// `sqlite:PATH`; with feature `postgres`, also a
/// `postgres://USER:PASSWORD@HOST/DB?sslmode=require` URL shared by several
/// processes, which needs a master key to store secrets), with its master key:
/// either `key` (`key_len` = 32 random bytes) or `passphrase` (a UTF-8
/// string, stretched with scrypt once per handle), or neither (secrets are
/// then kept unencrypted in the owner-only file). A store of mdmlink 0.1.0
/// is converted on open (its keys decrypted with `passphrase`). On success
/// `*out` receives the handle: free it with `mdmlink_store_free`. Takes no
/// ownership of its arguments.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `key` is NULL or readable for `key_len`
/// bytes; `passphrase` is NULL or NUL-terminated; `out` is NULL or writable;
/// `err` is NULL or a valid `mdmlink_error **`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_open(
    path: *const c_char,
    key: *const u8,
    key_len: usize,
    passphrase: *const c_char,
    out: *mut *mut mdmlink_store,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [path, out]; {
        // SAFETY: per the contract.
        let path = unsafe { str_arg(path, "path") }?;
        // SAFETY: per the contract.
        let source = unsafe { key_source(key, key_len, passphrase) }?;
        let legacy = match &source {
            Some(MasterKeySource::Passphrase(p)) => Some(p.clone()),
            _ => None,
        };
        let location = StoreLocation::parse_str(path).map_err(StoreError::from)?;
        let opened = open_registry(
            &location,
            OpenMode::ReadWrite,
            source,
            legacy.as_ref(),
            time::OffsetDateTime::now_utc(),
        )?
        .ok_or_else(|| FfiError::new(mdmlink_status::StoreIo, "the store could not be opened"))?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_store { inner: Mutex::new(opened.registry) }) };
        Ok(())
    })
}

/// Frees a store handle (NULL is a no-op).
///
/// # Safety
/// `store` is NULL or a handle from `mdmlink_store_open`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_free(store: *mut mdmlink_store) {
    // SAFETY: per the contract.
    ffi!(free store; { unsafe { free_handle(store) } })
}

/// Adds an organization named `name` in `portal` (a `mdmlink_portal`), with
/// an optional `customer` label (NULL for none). Takes no ownership.
///
/// # Safety
/// `store` is NULL or live; strings NULL or NUL-terminated; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_organization_add(
    store: *mut mdmlink_store,
    name: *const c_char,
    portal: u32,
    customer: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, name, customer) = unsafe {
            (handle(store), str_arg(name, "name")?, opt_str_arg(customer, "customer")?)
        };
        store.lock()?.add_organization(name, portal_arg(portal)?, customer, time::OffsetDateTime::now_utc())?;
        Ok(())
    })
}

/// Removes the organization `name`; one that still has servers only when
/// `with_servers` (then their keys and tokens are deleted too).
///
/// # Safety
/// As for `mdmlink_store_organization_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_organization_remove(
    store: *mut mdmlink_store,
    name: *const c_char,
    with_servers: bool,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, name) = unsafe { (handle(store), str_arg(name, "name")?) };
        store.lock()?.remove_organization(name, with_servers)?;
        Ok(())
    })
}

/// The organizations as a JSON array of `{"name": string, "portal": string,
/// "customer": string|null, "servers": integer}`, by name. On success
/// `*out` receives the UTF-8 bytes: free them with `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `out` is NULL or writable; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_organizations_json(
    store: *const mdmlink_store,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let store = unsafe { handle(store) };
        let json = mdmlink_bytes::json(&store.lock()?.organization_listings()?)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The servers of organization `org` (NULL: of every organization) as a
/// JSON array, health evaluated at `now_unix` warning `warn_days` before
/// expiry; each object as documented for `ServerListing::to_json`
/// (`organization`, `name`, `portal`, `customer`, `site`,
/// `release_devices`, `consumer_key` (a 12-character hint), `expires`,
/// `days_left`, `health`, `certificate_serial`, `certificate_expires`,
/// `staged_certificate_serial`, `staging_pending_since`,
/// `token_installed_at`, `downloaded_by`, `replacement`, `server_uuid`;
/// times are RFC 3339). Reads no secret. Free `*out` with
/// `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org` is NULL or NUL-terminated; `out` is NULL
/// or writable; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_servers_json(
    store: *const mdmlink_store,
    org: *const c_char,
    warn_days: u32,
    now_unix: i64,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let (store, org) = unsafe { (handle(store), opt_str_arg(org, "org")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let listed = store.lock()?.servers(org, &policy(warn_days)?, now)?;
        let json = serde_json::Value::Array(listed.iter().map(|l| l.to_json()).collect()).to_string();
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(json.into_bytes())) };
        Ok(())
    })
}

/// What needs action in `org` (NULL: every organization) at `now_unix`,
/// most urgent first, as a JSON array of `{"organization", "server",
/// "health": {"state": ..., ...}, "advice", "staging_pending_since"}`.
/// Reads no secret. Free `*out` with `mdmlink_bytes_free`.
///
/// # Safety
/// As for `mdmlink_store_servers_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_needs_action_json(
    store: *const mdmlink_store,
    org: *const c_char,
    warn_days: u32,
    now_unix: i64,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let (store, org) = unsafe { (handle(store), opt_str_arg(org, "org")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let items = store.lock()?.needs_action(org, &policy(warn_days)?, now)?;
        let json = mdmlink_bytes::json(&items)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

fn policy(warn_days: u32) -> Result<ExpiryPolicy, FfiError> {
    ExpiryPolicy::warn_days(warn_days).map_err(|e| FfiError::invalid(e.to_string()))
}

fn generate(name: &str, bits: u32, now: time::OffsetDateTime) -> Result<ServerKeypair, FfiError> {
    let size = KeySize::from_bits(bits)?;
    Ok(ServerKeypair::generate_for_server(
        &mut mdmlink::SystemRng::default(),
        size,
        name,
        now,
    )?)
}

/// Adds server `name` to `org` (NULL when the store holds one organization)
/// with a newly generated `bits`-bit keypair, made at `now_unix`. On success
/// `*cert_pem` receives the certificate to upload (PEM): free it with
/// `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org` NULL or NUL-terminated; `name` NULL or
/// NUL-terminated; `cert_pem` NULL or writable; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_add_generated(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    cert_pem: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, cert_pem]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        let now = time_arg(now_unix, "now_unix")?;
        // The name is checked before the slow key generation, outside the lock.
        store.lock()?.check_new_server(org, name)?;
        let keypair = generate(name, bits, now)?;
        let pem = keypair.certificate_pem()?;
        store.lock()?.add_server(org, name, keypair, ServerOptions::default(), now)?;
        // SAFETY: `cert_pem` is non-NULL and writable.
        unsafe { write(cert_pem, mdmlink_bytes::from_vec(pem.into_bytes())) };
        Ok(())
    })
}

/// Adds server `name` as `mdmlink_store_server_add_generated` does, with the
/// library's policy for where a new server goes (`mdmlink server add
/// --portal` follows it too): when the store has no organization, or none
/// named `org`, one is made first in `portal` (a `mdmlink_portal`), named
/// `org`, or "My organization" when `org` is NULL, with `customer` (NULL:
/// none). The server's organization must be in `portal`
/// (`MDMLINK_STATUS_PORTAL_MISMATCH` otherwise). On success `*cert_pem`
/// receives the certificate to upload (PEM): free it with
/// `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org`, `customer` NULL or NUL-terminated;
/// `name` NULL or NUL-terminated; `cert_pem` NULL or writable; `err` as
/// usual.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_server_add_generated_with_portal(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    portal: u32,
    customer: *const c_char,
    bits: u32,
    now_unix: i64,
    cert_pem: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, cert_pem]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let customer = unsafe { opt_str_arg(customer, "customer")? };
        let portal = portal_arg(portal)?;
        let now = time_arg(now_unix, "now_unix")?;
        // The library's policy picks (or makes) the organization and checks
        // the name, before the slow key generation, outside the lock.
        let (organization, _) = store
            .lock()?
            .organization_for_new_server(org, name, Some(portal), customer, now)?;
        let keypair = generate(name, bits, now)?;
        let pem = keypair.certificate_pem()?;
        store.lock()?.add_server(
            Some(&organization.name),
            name,
            keypair,
            ServerOptions::default(),
            now,
        )?;
        // SAFETY: `cert_pem` is non-NULL and writable.
        unsafe { write(cert_pem, mdmlink_bytes::from_vec(pem.into_bytes())) };
        Ok(())
    })
}

/// Imports server `name` into `org` (NULL: the only one): its private key
/// (`key`, PKCS#1 or PKCS#8, PEM or DER, decrypted with `key_password` when
/// encrypted; NULL otherwise), its certificate (`cert`, PEM or DER: every
/// server has one; NULL with `cert_len` 0 is refused with
/// `MDMLINK_STATUS_INVALID_ARGUMENT`) and optionally its current token file
/// (`token`; NULL with `token_len` 0 for none), which must open with the key
/// and must not be installed for another server of the organization. A NULL
/// pointer with a non-zero length is `MDMLINK_STATUS_NULL_ARGUMENT`. Takes no
/// ownership.
///
/// # Safety
/// Pointers NULL or valid for their lengths; strings NUL-terminated.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_server_import(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    key: *const u8,
    key_len: usize,
    key_password: *const c_char,
    cert: *const u8,
    cert_len: usize,
    token: *const u8,
    token_len: usize,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let (key, password) =
            unsafe { (bytes_arg(key, key_len, "key")?, opt_str_arg(key_password, "key_password")?) };
        // SAFETY: per the contract.
        let cert = if cert.is_null() && cert_len == 0 { None } else { Some(unsafe { bytes_arg(cert, cert_len, "cert") }?) };
        // SAFETY: per the contract.
        let token = if token.is_null() && token_len == 0 { None } else { Some(unsafe { bytes_arg(token, token_len, "token") }?) };
        let now = time_arg(now_unix, "now_unix")?;
        store.lock()?.import_server(
            org,
            name,
            key,
            password.map(str::as_bytes),
            cert,
            token.map(|t| ("", t)),
            ServerOptions::default(),
            None,
            now,
        )?;
        Ok(())
    })
}

/// Opens `data` (`len` bytes: a token file as the portal served it) with
/// server `name`'s staged or current key and installs it at `now_unix`,
/// with the policy checks (a changed consumer key only with `force`).
/// `file_name` (NULL allowed) is the downloaded file's name, for the
/// warning when it names another server. `*outcome` receives a
/// `mdmlink_install_outcome`.
///
/// # Safety
/// Pointers NULL or valid; strings NUL-terminated; `data` NULL (only with
/// `len` 0: the empty input, which is no token) or readable for `len`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_server_install_token(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    file_name: *const c_char,
    data: *const u8,
    len: usize,
    force: bool,
    now_unix: i64,
    outcome: *mut mdmlink_install_outcome,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, outcome]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let (file_name, data) =
            unsafe { (opt_str_arg(file_name, "file_name")?, bytes_arg(data, len, "data")?) };
        let now = time_arg(now_unix, "now_unix")?;
        let installed = store.lock()?.install_token(
            org,
            name,
            file_name.unwrap_or(""),
            data,
            InstallOptions::default().with_force(force),
            now,
        )?;
        let o = match installed.report.outcome {
            InstallOutcome::First => mdmlink_install_outcome::First,
            InstallOutcome::KeyPromoted => mdmlink_install_outcome::KeyPromoted,
            _ => mdmlink_install_outcome::Renewed,
        };
        // SAFETY: `outcome` is non-NULL and writable.
        unsafe { write(outcome, o) };
        Ok(())
    })
}

/// Generates a `bits`-bit keypair and stages it for server `name` (a key
/// rotation's first step); `*cert_pem` receives the new certificate to
/// upload (free with `mdmlink_bytes_free`).
///
/// # Safety
/// As for `mdmlink_store_server_add_generated`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_stage_generated(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    cert_pem: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, cert_pem]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        let now = time_arg(now_unix, "now_unix")?;
        // The server must exist before the slow key generation.
        store.lock()?.certificate_pem(org, name, false)?;
        let keypair = generate(name, bits, now)?;
        let pem = keypair.certificate_pem()?;
        store.lock()?.stage_keypair(org, name, keypair, false, now)?;
        // SAFETY: `cert_pem` is non-NULL and writable.
        unsafe { write(cert_pem, mdmlink_bytes::from_vec(pem.into_bytes())) };
        Ok(())
    })
}

/// Discards server `name`'s staged keypair.
///
/// # Safety
/// As for `mdmlink_store_organization_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_discard_staging(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        store.lock()?.discard_staged(org, name)?;
        Ok(())
    })
}

/// Records an event (`reason`, a `mdmlink_replacement_reason`, at
/// `at_unix`) that invalidates server `name`'s token.
///
/// # Safety
/// As for `mdmlink_store_organization_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_record_event(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    reason: u32,
    at_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        store.lock()?.record_event(org, name, reason_arg(reason)?, time_arg(at_unix, "at_unix")?)?;
        Ok(())
    })
}

/// Records server `name`'s `server_uuid` (the JWT issuer).
///
/// # Safety
/// As for `mdmlink_store_organization_add`; `uuid` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_set_uuid(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    uuid: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, uuid]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let uuid = unsafe { str_arg(uuid, "uuid") }?;
        store.lock()?.set_server_uuid(org, name, uuid)?;
        Ok(())
    })
}

/// Signs an Access Management JWT with server `name`'s current key, issued
/// at `now_unix` with claim `jti`. `*out` receives the compact JWT (free with
/// `mdmlink_bytes_free`).
///
/// # Safety
/// As for `mdmlink_store_organization_add`; `jti` NULL or NUL-terminated; `out` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_jwt(
    store: *const mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    now_unix: i64,
    jti: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, jti, out]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let jti = unsafe { str_arg(jti, "jti") }?;
        let now = time_arg(now_unix, "now_unix")?;
        let jwt = store
            .lock()?
            .access_management_jwt(org, name, now, jti, &mut mdmlink::SystemRng::default())?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, mdmlink_bytes::from_vec(jwt.into_bytes())) };
        Ok(())
    })
}

/// A copy of server `name`'s installed token (`MDMLINK_STATUS_NO_TOKEN`
/// when none). Free `*out` with `mdmlink_token_free`.
///
/// # Safety
/// As for `mdmlink_store_organization_add`; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_token(
    store: *const mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    out: *mut *mut mdmlink_token,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, out]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        let token = store.lock()?.token(org, name)?.ok_or_else(|| {
            FfiError::new(mdmlink_status::NoToken, format!("server \"{name}\" has no token installed"))
        })?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write_handle(out, mdmlink_token::new(token)) };
        Ok(())
    })
}

/// Removes server `name` with its keys and token.
///
/// # Safety
/// As for `mdmlink_store_organization_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_server_remove(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name]; {
        // SAFETY: per the contract.
        let (store, org, name) =
            unsafe { server_args(store, org, name) }?;
        store.lock()?.remove_server(org, name)?;
        Ok(())
    })
}

/// Re-encrypts every secret under a new master key (`key`, 32 bytes, or
/// `passphrase`; both NULL stores them unencrypted), in one transaction.
///
/// # Safety
/// As for `mdmlink_store_open`'s key arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_rekey(
    store: *mut mdmlink_store,
    key: *const u8,
    key_len: usize,
    passphrase: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store]; {
        // SAFETY: per the contract.
        let (store, source) = unsafe { (handle(store), key_source(key, key_len, passphrase)?) };
        store.lock()?.rekey(source)?;
        Ok(())
    })
}

/// Panics while holding `store`'s lock, to prove the call returns
/// `MDMLINK_STATUS_PANIC` and the store stays usable. Test-only, like
/// `mdmlink_test_panic`.
///
/// # Safety
/// `store` is NULL or a live store; `err` is NULL or a valid
/// `mdmlink_error **`.
#[cfg(mdmlink_test_hooks)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_test_panic_holding_store(
    store: *mut mdmlink_store,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store]; {
        // SAFETY: per the contract.
        let store = unsafe { handle(store) };
        let _guard = store.lock()?;
        panic!("mdmlink_test_panic_holding_store: forced panic")
    })
}
