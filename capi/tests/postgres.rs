//! The C store on PostgreSQL: `mdmlink_store_open` takes a `postgres://` URL,
//! and what it writes is there for any other instance. Needs
//! `MDMLINK_TEST_POSTGRES_URL` (scripts/with-postgres.sh starts a throwaway
//! server and sets it); the test works in a schema of its own.

use std::ffi::CString;
use std::ptr::{null, null_mut};

use mdmlink::store::{PostgresStore, StoreExt, StoreTx};
use mdmlink_capi::{
    bytes::{mdmlink_bytes, mdmlink_bytes_free},
    error::{mdmlink_error, mdmlink_error_free},
    organization::mdmlink_portal,
    status::mdmlink_status,
    store::{
        mdmlink_store, mdmlink_store_free, mdmlink_store_open, mdmlink_store_organization_add,
        mdmlink_store_organizations_json,
    },
};

/// The test server's URL in a schema of its own, or `None` after saying how
/// to run this test (a failure under CI=true).
fn database() -> Option<String> {
    let server = match std::env::var("MDMLINK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but MDMLINK_TEST_POSTGRES_URL is not set: run the tests through scripts/with-postgres.sh"
            );
            // Straight to stderr: the test harness captures eprintln!.
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(
                b"PostgreSQL C store test not run: run `bash scripts/with-postgres.sh` (starts a throwaway server) or set MDMLINK_TEST_POSTGRES_URL=postgres://...\n",
            );
            return None;
        }
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).expect("the system's random numbers");
    let schema: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let sep = if server.contains('?') { '&' } else { '?' };
    Some(format!("{server}{sep}schema=capi_{schema}"))
}

#[test]
fn the_c_store_open_takes_a_postgres_url() {
    let Some(url) = database() else { return };
    let key = [0x5au8; 32];
    let c_url = CString::new(url.clone()).expect("URL without NUL");
    let mut store: *mut mdmlink_store = null_mut();
    let mut err: *mut mdmlink_error = null_mut();
    // SAFETY: valid pointers, as the header documents.
    let status = unsafe {
        mdmlink_store_open(
            c_url.as_ptr(),
            key.as_ptr(),
            key.len(),
            null(),
            &mut store,
            &mut err,
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    let name = c"Contoso";
    // SAFETY: a live handle and valid strings.
    let status = unsafe {
        mdmlink_store_organization_add(
            store,
            name.as_ptr(),
            mdmlink_portal::BusinessManager as u32,
            null(),
            &mut err,
        )
    };
    assert_eq!(status, mdmlink_status::Ok);
    let mut out = mdmlink_bytes {
        ptr: null_mut(),
        len: 0,
    };
    // SAFETY: a live handle; `out` is writable.
    let status = unsafe { mdmlink_store_organizations_json(store, &mut out, &mut err) };
    assert_eq!(status, mdmlink_status::Ok);
    // SAFETY: the library wrote `len` bytes at `ptr`.
    let json = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
    assert!(String::from_utf8(json).expect("UTF-8").contains("Contoso"));
    // SAFETY: each freed once.
    unsafe {
        mdmlink_bytes_free(&mut out);
        mdmlink_store_free(store);
        mdmlink_error_free(err);
    }
    // Another instance (a separate connection through the Rust library) sees it.
    let mut other = PostgresStore::open(&url).expect("open the same database");
    let names = other
        .read(|tx: &mut dyn StoreTx| tx.list_organizations())
        .expect("list the organizations");
    assert_eq!(
        names.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["Contoso"]
    );
}
