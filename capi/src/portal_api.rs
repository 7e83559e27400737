//! Apple's School and Business Manager API from C, with an organization's
//! API account kept in the store (`mdmlink::portal_api`): the account,
//! the portal's servers and devices as JSON, device assignment, servers
//! created and re-keyed through the API, reconciling the store with the
//! portal. Feature `sqlite` (declared under `MDMLINK_STORE`); the calls
//! that talk to Apple also need `http` and fail with
//! `MDMLINK_STATUS_FEATURE_NOT_ENABLED` without it.
//!
//! Each function is one library call: the CLI's `mdmlink api ...` and
//! `server add|rotate-key --via-api` make the same calls and print the
//! same JSON ([`mdmlink::portal_api::listing`],
//! [`mdmlink::portal_api::reconcile::ReconcileJson`]).
//!
//! `base_url` and `token_url` are NULL for Apple's URLs (the API base by
//! the account's scope, `https://api-business.apple.com` or
//! `https://api-school.apple.com`; the token endpoint
//! `https://account.apple.com/auth/oauth2/token`), or a simulator's. A call
//! that talks to Apple holds the store handle's lock while it does (other
//! calls on the same handle wait), except `mdmlink_store_api_assign`,
//! which lets go of it while it waits for the activities.

use core::ffi::c_char;

use super::bytes::mdmlink_bytes;
use super::error::{FfiError, mdmlink_error};
use super::macros::ffi;
use super::status::mdmlink_status;
use super::store::{mdmlink_store, server_args};
use super::{bytes_arg, handle, opt_str_arg, str_arg, time_arg, write};
use mdmlink::portal_api::ApiAccount;

/// The URLs of a call that talks to Apple: (`base_url`, `token_url`).
///
/// # Safety
/// Both NULL or NUL-terminated.
unsafe fn urls<'a>(
    base_url: *const c_char,
    token_url: *const c_char,
) -> Result<(Option<&'a str>, Option<&'a str>), FfiError> {
    // SAFETY: per the contract.
    unsafe {
        Ok((
            opt_str_arg(base_url, "base_url")?,
            opt_str_arg(token_url, "token_url")?,
        ))
    }
}

/// Keeps an API account for organization `org` (NULL: the store's only
/// one): its client ID (`BUSINESSAPI.…` or `SCHOOLAPI.…`; the scope follows
/// it, and must match the organization's portal:
/// `MDMLINK_STATUS_PORTAL_MISMATCH` otherwise), its key ID and its private
/// key (`key`, `key_len` bytes: the EC P-256 key the portal lets the admin
/// download, PEM or DER, PKCS#8 or SEC1, not encrypted). Any other key is
/// `MDMLINK_STATUS_API_ACCOUNT_INVALID`. An organization holds one account:
/// a second is `MDMLINK_STATUS_API_ACCOUNT_EXISTS` unless `replace`. The
/// key is sealed under the store's master key; `now_unix` is recorded as
/// when it was added. Sends nothing to Apple. Takes no ownership.
///
/// # Safety
/// `store` is NULL or live; the strings are NULL or NUL-terminated; `key`
/// is NULL or readable for `key_len` bytes; `err` as usual.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_api_account_add(
    store: *mut mdmlink_store,
    org: *const c_char,
    client_id: *const c_char,
    key_id: *const c_char,
    key: *const u8,
    key_len: usize,
    replace: bool,
    now_unix: i64,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, client_id, key_id, key]; {
        // SAFETY: per the contract.
        let (store, org, client_id, key_id, key) = unsafe {
            (
                handle(store),
                opt_str_arg(org, "org")?,
                str_arg(client_id, "client_id")?,
                str_arg(key_id, "key_id")?,
                bytes_arg(key, key_len, "key")?,
            )
        };
        let now = time_arg(now_unix, "now_unix")?;
        let account = ApiAccount::from_pem(client_id, key_id, key, None)?;
        store.lock()?.set_api_account(org, &account, replace, now)?;
        Ok(())
    })
}

/// Removes organization `org`'s API account (NULL: the store's only
/// organization), its key overwritten where the store allows;
/// `MDMLINK_STATUS_NOT_FOUND` when it has none.
///
/// # Safety
/// `store` is NULL or live; `org` is NULL or NUL-terminated; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_api_account_remove(
    store: *mut mdmlink_store,
    org: *const c_char,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store]; {
        // SAFETY: per the contract.
        let (store, org) = unsafe { (handle(store), opt_str_arg(org, "org")?) };
        store.lock()?.remove_api_account(org)?;
        Ok(())
    })
}

/// Every organization's API account as a JSON array, by organization, of
/// `{"organization": string, "client_id": string, "key_id": string,
/// "scope": "business.api"|"school.api", "created_at": RFC 3339}` (what
/// `mdmlink api list --json` prints). Never a key. On success `*out`
/// receives the UTF-8 bytes: free them with `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `out` is NULL or writable; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_api_accounts_json(
    store: *const mdmlink_store,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let store = unsafe { handle(store) };
        let accounts = store.lock()?.api_accounts()?;
        let json = mdmlink_bytes::json(&accounts)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The portal's servers (device management services) of `org`'s API
/// account, as a JSON array of objects: `id` (the portal's id) and Apple's
/// attributes keyed as Apple names them (`serverName`, `serverType`,
/// `createdDateTime`, `updatedDateTime`, and `status`, `deviceCount`,
/// `enableMdmDisownFlag`, `defaultProductFamilies`,
/// `lastConnectedDateTime`, `lastConnectedIp` when Apple sends them);
/// what `mdmlink api servers --json` prints. Free `*out` with
/// `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org`, `base_url`, `token_url` NULL or
/// NUL-terminated; `out` NULL or writable; `err` as usual.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_api_servers_json(
    store: *const mdmlink_store,
    org: *const c_char,
    base_url: *const c_char,
    token_url: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let (store, org, (base, token)) =
            unsafe { (handle(store), opt_str_arg(org, "org")?, urls(base_url, token_url)?) };
        let json = http::servers(store, org, base, token)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The devices of `org`'s organization in the portal, or with `server`
/// (not NULL) those assigned to that server (the portal's id kept with the
/// store's server of that name, else the portal's server of that name), as
/// one JSON array of objects keyed as Apple names the attributes
/// (`serialNumber`, always present, and when Apple sends them `status`
/// (`ASSIGNED`/`UNASSIGNED`), `productFamily`, `deviceModel`,
/// `productType`, `addedToOrgDateTime`, `updatedDateTime`, ...): what
/// `mdmlink api devices --json` prints. Apple lists a server's devices by
/// serial number only, so with `server` each object has `serialNumber`
/// alone. Every page is read (1,000 devices a request) into the one array.
/// Free `*out` with `mdmlink_bytes_free`.
///
/// # Safety
/// As for `mdmlink_store_api_servers_json`; `server` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_api_devices_json(
    store: *const mdmlink_store,
    org: *const c_char,
    server: *const c_char,
    base_url: *const c_char,
    token_url: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let (store, org, server, (base, token)) = unsafe {
            (
                handle(store),
                opt_str_arg(org, "org")?,
                opt_str_arg(server, "server")?,
                urls(base_url, token_url)?,
            )
        };
        let json = http::devices(store, org, server, base, token)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// Assigns (or with `unassign`, unassigns) `count` serial numbers
/// (`serials[i]`, NUL-terminated, 1 to 64 letters and digits) to (from)
/// the portal's server `server` (the portal's id kept with the store's
/// server of that name, else the portal's server of that name): one
/// activity per 1,000 serial numbers, each created and followed until it
/// is `COMPLETED`, `FAILED` or `STOPPED` (at most 10 minutes each:
/// `MDMLINK_STATUS_API_ACTIVITY_TIMED_OUT` after). The store's lock is
/// released while the activities run.
///
/// `MDMLINK_STATUS_OK` means the activities were created and followed to
/// their end; whether the devices moved is in `*out_outcome_json`:
/// `{"activityType": "ASSIGN_DEVICES"|"UNASSIGN_DEVICES", "serverId":
/// string, "devices": integer (serial numbers sent), "completed": bool
/// (every activity COMPLETED with every device handled), "activities":
/// [{"id": string, "status": "COMPLETED"|"FAILED"|"STOPPED"|...,
/// "subStatus": string|null, "createdDateTime": string|null,
/// "completedDateTime": string|null, "logUrl": string|null (the CSV log of
/// each device's result), "devices": integer, "polls": integer,
/// "succeeded": bool}]}`. Free it with `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org`, `server`, `base_url`, `token_url` NULL
/// or NUL-terminated; `serials` NULL or an array of `count` non-NULL
/// NUL-terminated strings; `out_outcome_json` NULL or writable; `err` as
/// usual.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_api_assign(
    store: *const mdmlink_store,
    org: *const c_char,
    server: *const c_char,
    serials: *const *const c_char,
    count: usize,
    unassign: bool,
    base_url: *const c_char,
    token_url: *const c_char,
    out_outcome_json: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, server, serials, out_outcome_json]; {
        // SAFETY: per the contract.
        let (store, org, server) = unsafe { server_args(store, org, server) }?;
        // SAFETY: per the contract.
        let (base, token) = unsafe { urls(base_url, token_url) }?;
        // SAFETY: `serials` is non-NULL and holds `count` pointers.
        let pointers = unsafe { core::slice::from_raw_parts(serials, count) };
        let mut list = Vec::with_capacity(count);
        for p in pointers {
            if p.is_null() {
                return Err(FfiError::null("serials[i]"));
            }
            // SAFETY: non-NULL and NUL-terminated per the contract.
            list.push(unsafe { str_arg(*p, "serials[i]")? });
        }
        let json = http::assign(store, org, server, &list, !unassign, base, token)?;
        // SAFETY: `out_outcome_json` is non-NULL and writable.
        unsafe { write(out_outcome_json, json) };
        Ok(())
    })
}

/// Adds server `name` to `org` (NULL: the store's only organization)
/// through the API (Apple Business only): the name is checked locally
/// first (naming rules, uniqueness, the 250-certificate limit), a
/// `bits`-bit keypair is generated at `now_unix`, the server is created in
/// the portal with its certificate (`release_devices`: the portal's
/// "allow this server to release devices"), and then stored with the
/// portal's id. `MDMLINK_STATUS_NAME_TAKEN_IN_PORTAL` when the portal has
/// the name (nothing is added); `MDMLINK_STATUS_API_BUSINESS_ONLY` on an
/// Apple School Manager account (nothing is sent: link it by hand with
/// `mdmlink_store_server_add_generated`). Next, the admin downloads the
/// token from the server's page in the portal and installs it
/// (`mdmlink_store_server_install_token`). On success `*cert_pem` receives
/// the certificate now in the portal (PEM): free it with
/// `mdmlink_bytes_free`.
///
/// # Safety
/// `store` is NULL or live; `org`, `name`, `base_url`, `token_url` NULL or
/// NUL-terminated; `cert_pem` NULL or writable; `err` as usual.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_server_add_via_api(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    bits: u32,
    release_devices: bool,
    now_unix: i64,
    base_url: *const c_char,
    token_url: *const c_char,
    cert_pem: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, cert_pem]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let (base, token) = unsafe { urls(base_url, token_url) }?;
        let now = time_arg(now_unix, "now_unix")?;
        let pem = http::add_server(store, org, name, bits, release_devices, now, base, token)?;
        // SAFETY: `cert_pem` is non-NULL and writable.
        unsafe { write(cert_pem, pem) };
        Ok(())
    })
}

/// Rotates server `name`'s key through the API (Apple Business only):
/// stages a new `bits`-bit keypair made at `now_unix` and replaces the
/// certificate of the server in the portal with it (the portal's id kept
/// with the server, else the portal's server of that name, whose id is
/// then kept). The current key and token keep working; the next token the
/// admin downloads opens with the staged key, and installing it promotes
/// the key. `MDMLINK_STATUS_API_UNCERTAIN` when the upload's fate is
/// unknown (the staged keypair is kept); a refused upload discards it.
/// On success `*cert_pem` receives the staged certificate now in the
/// portal (PEM): free it with `mdmlink_bytes_free`.
///
/// # Safety
/// As for `mdmlink_store_server_add_via_api`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mdmlink_store_server_rotate_key_via_api(
    store: *mut mdmlink_store,
    org: *const c_char,
    name: *const c_char,
    bits: u32,
    now_unix: i64,
    base_url: *const c_char,
    token_url: *const c_char,
    cert_pem: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, name, cert_pem]; {
        // SAFETY: per the contract.
        let (store, org, name) = unsafe { server_args(store, org, name) }?;
        // SAFETY: per the contract.
        let (base, token) = unsafe { urls(base_url, token_url) }?;
        let now = time_arg(now_unix, "now_unix")?;
        let pem = http::rotate_key(store, org, name, bits, now, base, token)?;
        // SAFETY: `cert_pem` is non-NULL and writable.
        unsafe { write(cert_pem, pem) };
        Ok(())
    })
}

/// Reconciles organization `org` (NULL: the only one) with the portal: a
/// store server is matched by the portal id kept with it, else by name as
/// the portal compares names. On success `*out` receives the report as
/// JSON (what `mdmlink api reconcile --json` prints): `{"agrees": bool,
/// "missingInPortal": [store name...], "unknownToStore": [{"id": string,
/// "serverName": string, "serverType": string|null}], "namesDiffer":
/// [{"storeName": string, "portalName": string, "portalServerId":
/// string}], "matched": [[store name, portal id]...]}` (lists sorted).
/// `MDMLINK_STATUS_OK` with `"agrees": false` is a difference, not a
/// failure. Free `*out` with `mdmlink_bytes_free`.
///
/// # Safety
/// As for `mdmlink_store_api_servers_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mdmlink_store_api_reconcile_json(
    store: *const mdmlink_store,
    org: *const c_char,
    base_url: *const c_char,
    token_url: *const c_char,
    out: *mut mdmlink_bytes,
    err: *mut *mut mdmlink_error,
) -> mdmlink_status {
    ffi!(status err; [store, out]; {
        // SAFETY: per the contract.
        let (store, org, (base, token)) =
            unsafe { (handle(store), opt_str_arg(org, "org")?, urls(base_url, token_url)?) };
        let json = http::reconcile(store, org, base, token)?;
        // SAFETY: `out` is non-NULL and writable.
        unsafe { write(out, json) };
        Ok(())
    })
}

/// The calls that talk to Apple (feature `http`).
#[cfg(feature = "http")]
mod http {
    use super::{FfiError, mdmlink_bytes, mdmlink_store};
    use mdmlink::keypair::KeySize;
    use mdmlink::organization::ServerOptions;
    use mdmlink::portal_api::activities::FollowPolicy;
    use mdmlink::portal_api::client::PortalApiClient;
    use mdmlink::portal_api::{link, listing, reconcile as rec};
    use mdmlink::store::AnyStore;
    use mdmlink::store::registry::Registry;
    use time::OffsetDateTime;

    /// The client of `org`'s stored API account at the URLs given (NULL:
    /// Apple's).
    fn client(
        registry: &mut Registry<AnyStore>,
        org: Option<&str>,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<PortalApiClient, FfiError> {
        let mut client = PortalApiClient::https(registry.api_account(org)?);
        if let Some(url) = base_url {
            client = client.with_base_url(url)?;
        }
        if let Some(url) = token_url {
            client = client.with_token_url(url)?;
        }
        Ok(client)
    }

    pub(super) fn servers(
        store: &mdmlink_store,
        org: Option<&str>,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let client = client(&mut *store.lock()?, org, base_url, token_url)?;
        let servers = client.all_servers()?;
        let list: Vec<_> = servers.iter().map(listing::ServerListing::of).collect();
        mdmlink_bytes::json(&list)
    }

    pub(super) fn devices(
        store: &mdmlink_store,
        org: Option<&str>,
        server: Option<&str>,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let mut registry = store.lock()?;
        let client = client(&mut registry, org, base_url, token_url)?;
        let server_id = match server {
            Some(name) => Some(link::portal_server_id(&mut registry, &client, org, name)?),
            None => None,
        };
        drop(registry);
        let mut out = vec![b'['];
        listing::for_each_device(&client, server_id.as_deref(), false, |d| {
            if out.len() > 1 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &d)
                .map_err(|e| FfiError::new(super::mdmlink_status::EncodeFailed, e.to_string()))
        })?;
        out.push(b']');
        Ok(mdmlink_bytes::from_vec(out))
    }

    pub(super) fn assign(
        store: &mdmlink_store,
        org: Option<&str>,
        server: &str,
        serials: &[&str],
        assign: bool,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let mut registry = store.lock()?;
        let client = client(&mut registry, org, base_url, token_url)?;
        let server_id = link::portal_server_id(&mut registry, &client, org, server)?;
        drop(registry);
        let report = listing::run_device_activities(
            &client,
            &server_id,
            serials,
            assign,
            &FollowPolicy::default(),
            OffsetDateTime::now_utc(),
            &mut |_, _| {},
        )?;
        mdmlink_bytes::json(&report)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_server(
        store: &mdmlink_store,
        org: Option<&str>,
        name: &str,
        bits: u32,
        release_devices: bool,
        now: OffsetDateTime,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let size = KeySize::from_bits(bits)?;
        let mut registry = store.lock()?;
        let client = client(&mut registry, org, base_url, token_url)?;
        let added = link::add_server(
            &mut registry,
            &client,
            org,
            name,
            ServerOptions::default().with_release_devices(release_devices),
            size,
            &mut mdmlink::SystemRng::default(),
            now,
        )?;
        Ok(mdmlink_bytes::from_vec(added.certificate_pem.into_bytes()))
    }

    pub(super) fn rotate_key(
        store: &mdmlink_store,
        org: Option<&str>,
        name: &str,
        bits: u32,
        now: OffsetDateTime,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let size = KeySize::from_bits(bits)?;
        let mut registry = store.lock()?;
        let client = client(&mut registry, org, base_url, token_url)?;
        let rotated = link::rotate_key(
            &mut registry,
            &client,
            org,
            name,
            None,
            size,
            &mut mdmlink::SystemRng::default(),
            now,
        )?;
        Ok(mdmlink_bytes::from_vec(
            rotated.staged_certificate_pem.into_bytes(),
        ))
    }

    pub(super) fn reconcile(
        store: &mdmlink_store,
        org: Option<&str>,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        let mut registry = store.lock()?;
        let client = client(&mut registry, org, base_url, token_url)?;
        let report = rec::reconcile(
            &mut registry,
            &client,
            org,
            &|_| None,
            OffsetDateTime::now_utc(),
        )?;
        mdmlink_bytes::json(&report.to_json())
    }
}

/// Without feature `http`: every call that talks to Apple says so.
#[cfg(not(feature = "http"))]
mod http {
    use super::{FfiError, mdmlink_bytes, mdmlink_store};
    use time::OffsetDateTime;

    fn missing() -> Result<mdmlink_bytes, FfiError> {
        Err(FfiError::feature_not_enabled("http"))
    }

    pub(super) fn servers(
        _: &mdmlink_store,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }

    pub(super) fn devices(
        _: &mdmlink_store,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }

    pub(super) fn assign(
        _: &mdmlink_store,
        _: Option<&str>,
        _: &str,
        _: &[&str],
        _: bool,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_server(
        _: &mdmlink_store,
        _: Option<&str>,
        _: &str,
        _: u32,
        _: bool,
        _: OffsetDateTime,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }

    pub(super) fn rotate_key(
        _: &mdmlink_store,
        _: Option<&str>,
        _: &str,
        _: u32,
        _: OffsetDateTime,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }

    pub(super) fn reconcile(
        _: &mdmlink_store,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<mdmlink_bytes, FfiError> {
        missing()
    }
}
