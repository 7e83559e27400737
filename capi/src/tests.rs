//! Unit tests of the FFI layer's own `unsafe` code: the `*err` rule, error
//! objects, byte buffers, handles and the panic boundary. They avoid RSA, so
//! they are fast enough for Miri (`scripts/ci/40-hardening.sh miri`).

use core::ffi::CStr;

use super::bytes::{mdmlink_bytes, mdmlink_bytes_free};
use super::error::{
    mdmlink_error, mdmlink_error_free, mdmlink_error_message, mdmlink_error_status,
};
use super::expiry::{
    mdmlink_expiry_policy, mdmlink_expiry_policy_evaluate, mdmlink_expiry_policy_free,
    mdmlink_expiry_policy_new, mdmlink_health,
};
use super::name::mdmlink_server_name_check;
use super::status::{mdmlink_status, mdmlink_status_name};
use super::{bytes_arg, mdmlink_abi_version, mdmlink_version};

fn message(err: *const mdmlink_error) -> String {
    // SAFETY: a live error from this library; its message is NUL-terminated.
    unsafe { CStr::from_ptr(mdmlink_error_message(err)) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_failure_writes_an_error_the_caller_frees() {
    let mut err: *mut mdmlink_error = core::ptr::null_mut();
    // SAFETY: valid arguments.
    let status = unsafe { mdmlink_server_name_check(c"unassigned".as_ptr(), &mut err) };
    assert_eq!(status, mdmlink_status::InvalidName);
    assert!(!err.is_null());
    // SAFETY: `err` is ours.
    assert_eq!(
        unsafe { mdmlink_error_status(err) },
        mdmlink_status::InvalidName
    );
    assert!(message(err).contains("reserved"));
    // SAFETY: freed once.
    unsafe { mdmlink_error_free(err) };
}

#[test]
fn a_non_null_err_is_refused_and_left_alone() {
    let mut err: *mut mdmlink_error = core::ptr::null_mut();
    // SAFETY: valid arguments.
    unsafe { mdmlink_server_name_check(core::ptr::null(), &mut err) };
    let first = err;
    // SAFETY: valid arguments; `*err` is not NULL on purpose.
    let status = unsafe { mdmlink_server_name_check(c"Main MDM".as_ptr(), &mut err) };
    assert_eq!(status, mdmlink_status::ErrorNotNull);
    assert_eq!(err, first, "*err must be neither freed nor overwritten");
    // SAFETY: `first` is still live (Miri would report a use after free).
    assert_eq!(
        unsafe { mdmlink_error_status(first) },
        mdmlink_status::NullArgument
    );
    // SAFETY: freed once.
    unsafe { mdmlink_error_free(first) };
    // A pointer that is not ours is not touched either.
    let mut foreign = core::ptr::NonNull::<mdmlink_error>::dangling().as_ptr();
    // SAFETY: the library must not dereference `*err` when refusing.
    let status = unsafe { mdmlink_server_name_check(c"Main MDM".as_ptr(), &mut foreign) };
    assert_eq!(status, mdmlink_status::ErrorNotNull);
}

#[test]
fn byte_buffers_are_nul_terminated_and_free_twice_safely() {
    for data in [Vec::new(), b"PEM".to_vec(), Vec::with_capacity(64)] {
        let len = data.len();
        let mut b = mdmlink_bytes::from_vec(data);
        assert!(!b.ptr.is_null());
        assert_eq!(b.len, len);
        // SAFETY: `len + 1` bytes are allocated.
        assert_eq!(unsafe { *b.ptr.add(b.len) }, 0);
        // SAFETY: ours; the second free is a no-op.
        unsafe {
            mdmlink_bytes_free(&mut b);
            mdmlink_bytes_free(&mut b);
            mdmlink_bytes_free(core::ptr::null_mut());
        }
        assert!(b.ptr.is_null() && b.len == 0);
    }
}

#[test]
fn byte_inputs_follow_one_null_rule() {
    let one = [7u8];
    // SAFETY: NULL or a readable slice.
    unsafe {
        assert_eq!(bytes_arg(core::ptr::null(), 0, "x").ok(), Some(&[][..]));
        assert!(bytes_arg(core::ptr::null(), 1, "x").is_err());
        assert_eq!(bytes_arg(one.as_ptr(), 1, "x").ok(), Some(&one[..]));
    }
}

#[test]
fn handles_and_plain_structs_round_trip() {
    let mut policy: *mut mdmlink_expiry_policy = core::ptr::null_mut();
    let mut health = core::mem::MaybeUninit::<mdmlink_health>::uninit();
    // SAFETY: valid out-pointers; the policy is freed once.
    unsafe {
        assert_eq!(
            mdmlink_expiry_policy_new(30, &mut policy, core::ptr::null_mut()),
            mdmlink_status::Ok
        );
        assert_eq!(
            mdmlink_expiry_policy_evaluate(
                policy,
                86_400 * 100,
                0,
                health.as_mut_ptr(),
                core::ptr::null_mut()
            ),
            mdmlink_status::Ok
        );
        let health = health.assume_init();
        assert_eq!(health.days_left, 100);
        assert_eq!(health.reserved, [0; 4]);
        assert_eq!(CStr::from_ptr(health.label).to_str(), Ok("valid"));
        mdmlink_expiry_policy_free(policy);
        mdmlink_expiry_policy_free(core::ptr::null_mut());
    }
}

#[test]
fn static_strings_and_numbers() {
    // SAFETY: static NUL-terminated strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(mdmlink_version()).to_str(),
            Ok(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            CStr::from_ptr(mdmlink_status_name(4)).to_str(),
            Ok("MDMLINK_STATUS_ERROR_NOT_NULL")
        );
    }
    // SAFETY: a static NUL-terminated string.
    assert_eq!(
        unsafe { CStr::from_ptr(mdmlink_status_name(5)) }.to_str(),
        Ok("MDMLINK_STATUS_FEATURE_NOT_ENABLED")
    );
    assert!(mdmlink_status_name(6).is_null());
    assert_eq!(
        mdmlink_abi_version(),
        if env!("CARGO_PKG_VERSION_MAJOR") == "0" {
            env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap()
        } else {
            1000 * env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap()
        }
    );
}

#[cfg(mdmlink_test_hooks)]
#[test]
fn a_panic_becomes_a_status() {
    let mut err: *mut mdmlink_error = core::ptr::null_mut();
    // SAFETY: valid arguments.
    let status = unsafe { super::mdmlink_test_panic(&mut err) };
    assert_eq!(status, mdmlink_status::Panic);
    assert!(message(err).contains("panicked"));
    // SAFETY: freed once.
    unsafe { mdmlink_error_free(err) };
}

/// Every status's generated name is the enumerator cbindgen writes into the
/// committed header, with the same number.
#[test]
fn status_names_match_the_header() {
    let header = include_str!("../include/mdmlink.h");
    for status in mdmlink_status::ALL {
        let name = status.name().to_str().expect("ASCII name");
        let line = format!("{name} = {},", status as u32);
        assert!(header.contains(&line), "the header lacks `{line}`");
    }
    assert_eq!(
        header.matches("  MDMLINK_STATUS_").count(),
        mdmlink_status::ALL.len(),
        "the header and ALL list different statuses"
    );
}

/// Without `http` the device service client says which feature is missing.
#[cfg(not(feature = "http"))]
#[test]
fn a_function_of_a_missing_feature_says_so() {
    let mut client = core::ptr::null_mut();
    let mut err = core::ptr::null_mut();
    let mut token = core::ptr::null_mut();
    // SAFETY: NUL-terminated strings and a writable out pointer.
    let made = unsafe {
        crate::token::mdmlink_token_new(
            c"CK".as_ptr(),
            c"CS".as_ptr(),
            c"AT".as_ptr(),
            c"AS".as_ptr(),
            4_102_444_800,
            &mut token,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(made, mdmlink_status::Ok);
    // SAFETY: a live token, a NUL-terminated URL, writable out pointers.
    let status = unsafe {
        crate::dep::mdmlink_dep_client_new(
            token,
            c"http://127.0.0.1:1".as_ptr(),
            core::ptr::null(),
            &mut client,
            &mut err,
        )
    };
    assert_eq!(status, mdmlink_status::FeatureNotEnabled);
    assert!(message(err).contains("`http` feature"));
    // SAFETY: freed once each.
    unsafe {
        mdmlink_error_free(err);
        crate::token::mdmlink_token_free(token);
    }
}

/// A call that panics while holding a store's lock returns PANIC, and the
/// store stays usable (the same policy as an organization's).
#[cfg(all(mdmlink_test_hooks, feature = "sqlite"))]
#[test]
fn a_store_stays_usable_after_a_panic() {
    use super::store::{
        mdmlink_store_free, mdmlink_store_open, mdmlink_store_organizations_json,
        mdmlink_test_panic_holding_store,
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = std::ffi::CString::new(dir.path().join("s.db").to_str().expect("UTF-8").to_owned())
        .expect("no NUL");
    let key = [7u8; 32];
    let mut store = core::ptr::null_mut();
    // SAFETY: a NUL-terminated path, a 32-byte key, a writable out pointer.
    let status = unsafe {
        mdmlink_store_open(
            path.as_ptr(),
            key.as_ptr(),
            key.len(),
            core::ptr::null(),
            &mut store,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    let mut err = core::ptr::null_mut();
    // SAFETY: a live store.
    let status = unsafe { mdmlink_test_panic_holding_store(store, &mut err) };
    assert_eq!(status, mdmlink_status::Panic);
    // SAFETY: freed once.
    unsafe { mdmlink_error_free(err) };
    let mut out = mdmlink_bytes {
        ptr: core::ptr::null_mut(),
        len: 0,
    };
    // SAFETY: a live store and a writable buffer.
    let status =
        unsafe { mdmlink_store_organizations_json(store, &mut out, core::ptr::null_mut()) };
    assert_eq!(status, mdmlink_status::Ok, "the store is usable again");
    // SAFETY: each freed once.
    unsafe {
        mdmlink_bytes_free(&mut out);
        mdmlink_store_free(store);
    }
}

/// With the store but without `http`, the School and Business Manager API
/// calls say which feature is missing (the account calls, which send
/// nothing, still work).
#[cfg(all(feature = "sqlite", not(feature = "http")))]
#[test]
fn the_portal_api_without_http_says_so() {
    use super::portal_api::{mdmlink_store_api_accounts_json, mdmlink_store_api_servers_json};
    use super::store::{mdmlink_store_free, mdmlink_store_open};
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = std::ffi::CString::new(dir.path().join("s.db").to_str().expect("UTF-8").to_owned())
        .expect("no NUL");
    let mut store = core::ptr::null_mut();
    // SAFETY: a NUL-terminated path, no key, a writable out pointer.
    let status = unsafe {
        mdmlink_store_open(
            path.as_ptr(),
            core::ptr::null(),
            0,
            core::ptr::null(),
            &mut store,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    let mut out = mdmlink_bytes {
        ptr: core::ptr::null_mut(),
        len: 0,
    };
    let mut err = core::ptr::null_mut();
    // SAFETY: a live store, NULL optional strings, a writable buffer.
    let status = unsafe {
        mdmlink_store_api_servers_json(
            store,
            core::ptr::null(),
            core::ptr::null(),
            core::ptr::null(),
            &mut out,
            &mut err,
        )
    };
    assert_eq!(status, mdmlink_status::FeatureNotEnabled);
    assert!(message(err).contains("`http` feature"));
    assert!(out.ptr.is_null(), "no output on failure");
    // SAFETY: a live store and a writable buffer.
    let status = unsafe { mdmlink_store_api_accounts_json(store, &mut out, core::ptr::null_mut()) };
    assert_eq!(status, mdmlink_status::Ok);
    // SAFETY: the library's bytes, NUL-terminated.
    assert_eq!(unsafe { CStr::from_ptr(out.ptr.cast()) }.to_bytes(), b"[]");
    // SAFETY: each freed once.
    unsafe {
        mdmlink_error_free(err);
        mdmlink_bytes_free(&mut out);
        mdmlink_store_free(store);
    }
}
