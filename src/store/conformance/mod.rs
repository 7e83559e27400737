//! The conformance suite every [`Store`] passes (feature `store-conformance`,
//! always on in this crate's own tests).
//!
//! A vendor's store runs it by implementing [`StoreFactory`] and expanding
//! [`crate::store_conformance_tests!`] in a test module:
//!
//! ```ignore
//! mod conformance {
//!     mdmlink::store_conformance_tests!(my_crate::MyFactory::new());
//! }
//! ```
//!
//! Each test gets a fresh, empty store from the expression. The tests panic
//! (they are tests) with a message that names what the store got wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Barrier};

use time::{OffsetDateTime, macros::datetime};

mod retry;

pub use retry::FirstAttemptFails;

use super::{
    DepCursor, DeviceRow, MAX_CERTIFICATES, OrganizationId, OrganizationRow, SealedSecret,
    ServerRow, ServerSummary, Store, StoreError, StoreExt,
};
use crate::{
    expiry::ReplacementReason, name::ServerName, organization::ServerOptions, portal::Portal,
};

mod api_accounts;
mod devices;
pub use api_accounts::{
    api_account_goes_with_its_organization, api_account_key_is_sealed_to_its_row,
    api_account_key_leaves_no_trace, api_account_round_trip, api_account_row,
};
pub use devices::{dep_lookup_by_serial, dep_snapshot};

/// Makes connections to one fresh store under test.
pub trait StoreFactory: Send + Sync {
    /// A new connection (handle) to the store under test; every call reaches
    /// the same data, as separate processes would.
    fn connect(&self) -> Box<dyn Store + Send>;

    /// `true` when `needle` occurs anywhere the store keeps data at rest
    /// (for a file, the database and its journal), so the suite can check
    /// that a deleted secret is gone.
    fn holds_bytes(&self, needle: &[u8]) -> bool;
}

/// Expands to one `#[test]` per conformance check, each calling
/// `$factory` for a fresh store.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@tests $factory;
            store_id_and_meta, organizations, server_round_trip, names_unique_per_organization,
            certificate_limit, failed_body_writes_nothing, read_transaction_refuses_writes,
            racing_same_name, concurrent_adds_lose_nothing, read_modify_write_loses_nothing,
            delete_leaves_no_secret, dep_state, dep_lookup_by_serial, dep_snapshot,
            servers_stream_in_order, api_account_round_trip,
            api_account_goes_with_its_organization, api_account_key_leaves_no_trace,
            api_account_key_is_sealed_to_its_row);
    };
    (@tests $factory:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let factory = $factory;
                $crate::store::conformance::$name(&factory);
            }
        )*
    };
}

const NOW: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);

fn org_row(name: &str) -> OrganizationRow {
    let mut row = OrganizationRow::new(name, Portal::BusinessManager, NOW).unwrap();
    row.customer = Some(format!("{name} customer"));
    row
}

fn add_org(store: &mut dyn Store, name: &str) -> OrganizationId {
    store
        .write(|tx| tx.insert_organization(&org_row(name)))
        .unwrap_or_else(|e| panic!("insert organization {name}: {e}"))
}

/// A server row with every column set; `certificates` of 0, 1 or 2
/// (current, then staged).
pub fn server_row(organization: OrganizationId, name: &str, certificates: usize) -> ServerRow {
    let name = ServerName::parse(name).unwrap();
    let marker = name.comparison_key().as_bytes().to_vec();
    let staged = certificates >= 2;
    ServerRow {
        summary: ServerSummary {
            id: 0,
            organization_id: organization,
            name: name.as_str().to_owned(),
            name_key: name.comparison_key().to_owned(),
            options: ServerOptions {
                release_devices: true,
                customer: Some("Fabrikam".into()),
                site: Some("Lyon".into()),
            },
            created_at: Some(NOW),
            certificate_serial: (certificates >= 1).then(|| "01AB".to_owned()),
            certificate_not_after: (certificates >= 1).then_some(datetime!(2027-01-17 0:00 UTC)),
            staged_certificate_serial: staged.then(|| "02CD".to_owned()),
            staged_certificate_not_after: staged.then_some(datetime!(2027-02-17 0:00 UTC)),
            staged_at: staged.then_some(datetime!(2026-02-01 8:30 UTC)),
            token_expires_at: Some(datetime!(2027-01-10 12:00 UTC)),
            token_installed_at: Some(datetime!(2026-01-18 9:15:02 UTC)),
            token_downloaded_by: Some("admin@example.com".into()),
            token_issued_at: Some(datetime!(2026-01-10 12:00 UTC)),
            token_certificate_serial: Some("01AB".into()),
            token_consumer_key_hint: Some("CK_48dd".into()),
            replacement: Some((
                ReplacementReason::DownloaderPasswordChanged,
                datetime!(2026-03-01 10:00 UTC),
            )),
            server_uuid: Some("6f1b8f4e-0000-4000-8000-000000000001".into()),
            portal_server_id: Some("F2E1D0C0B0A0".into()),
        },
        certificate_pem: (certificates >= 1).then(|| "-----BEGIN CERTIFICATE-----\nA\n".into()),
        staged_certificate_pem: staged.then(|| "-----BEGIN CERTIFICATE-----\nB\n".into()),
        private_key: Some(SealedSecret::from_bytes(
            [b"key:".as_slice(), &marker].concat(),
        )),
        staged_private_key: staged
            .then(|| SealedSecret::from_bytes([b"staged:".as_slice(), &marker].concat())),
        token: Some(SealedSecret::from_bytes(
            [b"token:".as_slice(), &marker].concat(),
        )),
    }
}

fn insert(store: &mut dyn Store, row: &ServerRow) -> Result<i64, StoreError> {
    store.write(|tx| tx.insert_server(row))
}

fn key(name: &str) -> String {
    ServerName::parse(name).unwrap().comparison_key().to_owned()
}

pub fn store_id_and_meta(f: &dyn StoreFactory) {
    let mut a = f.connect();
    let id = a.read(|tx| tx.store_id()).unwrap();
    assert_ne!(id, [0u8; 16], "the store id is random, not zero");
    let mut b = f.connect();
    assert_eq!(
        b.read(|tx| tx.store_id()).unwrap(),
        id,
        "the store id is stable"
    );
    assert_eq!(a.read(|tx| tx.meta("k")).unwrap(), None);
    a.write(|tx| tx.set_meta("k", Some(b"v1"))).unwrap();
    a.write(|tx| tx.set_meta("k", Some(b"v2"))).unwrap();
    assert_eq!(
        b.read(|tx| tx.meta("k")).unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    b.write(|tx| tx.set_meta("k", None)).unwrap();
    assert_eq!(a.read(|tx| tx.meta("k")).unwrap(), None);
}

pub fn organizations(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let contoso = add_org(&mut *s, "Contoso");
    let fabrikam = add_org(&mut *s, "Fabrikam");
    assert_ne!(contoso, fabrikam);
    let list = s.read(|tx| tx.list_organizations()).unwrap();
    let names: Vec<&str> = list.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Contoso", "Fabrikam"]);
    let mut expected = org_row("Contoso");
    expected.id = contoso;
    assert_eq!(list[0], expected, "every column round-trips");
    let found = s.read(|tx| tx.find_organization("contoso")).unwrap();
    assert_eq!(found.map(|o| o.id), Some(contoso));
    // Names are unique by key: case and Unicode form do not make a new one.
    let err = s
        .write(|tx| tx.insert_organization(&org_row("CONTOSO")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateName { ref existing, .. } if existing == "Contoso"),
        "{err}"
    );
    // Deleting an organization deletes its servers.
    insert(&mut *s, &server_row(contoso, "Main MDM", 1)).unwrap();
    insert(&mut *s, &server_row(fabrikam, "Main MDM", 1)).unwrap();
    s.write(|tx| tx.delete_organization(contoso)).unwrap();
    let servers = s.read(|tx| tx.list_servers(None)).unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].organization_id, fabrikam);
    let err = s.write(|tx| tx.delete_organization(contoso)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    // A server cannot join an organization that does not exist.
    let err = insert(&mut *s, &server_row(contoso, "Orphan", 0)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

pub fn server_round_trip(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let other = add_org(&mut *s, "Fabrikam");
    let row = server_row(org, "Main MDM", 2);
    let id = insert(&mut *s, &row).unwrap();
    let mut expected = row.clone();
    expected.summary.id = id;
    let mut c = f.connect();
    let back = c.read(|tx| tx.server(org, &key("main mdm"))).unwrap();
    assert_eq!(back.as_ref(), Some(&expected), "every column round-trips");
    assert_eq!(
        c.read(|tx| tx.server(other, &key("main mdm"))).unwrap(),
        None,
        "a server is found only in its organization"
    );
    let locked = c
        .write(|tx| tx.server_for_update(org, &key("Main MDM")))
        .unwrap();
    assert_eq!(locked.as_ref(), Some(&expected));

    // A row without optional columns round-trips too.
    let mut bare = ServerRow::default();
    bare.summary.organization_id = other;
    bare.summary.name = "Bare".into();
    bare.summary.name_key = key("Bare");
    let bare_id = insert(&mut *s, &bare).unwrap();
    bare.summary.id = bare_id;
    assert_eq!(
        c.read(|tx| tx.server(other, "bare")).unwrap().as_ref(),
        Some(&bare)
    );

    // Listing: summaries only, by organization then insertion, filtered.
    let second = insert(&mut *s, &server_row(org, "Lab", 0)).unwrap();
    let all = c.read(|tx| tx.list_servers(None)).unwrap();
    let ids: Vec<i64> = all.iter().map(|x| x.id).collect();
    assert_eq!(ids, [id, second, bare_id]);
    assert_eq!(all[0], expected.summary);
    let only = c.read(|tx| tx.list_servers(Some(other))).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].id, bare_id);

    // Update replaces every column, including clearing secrets.
    let mut changed = expected.clone();
    changed.summary.server_uuid = None;
    changed.summary.portal_server_id = Some("0F1E2D3C".into());
    changed.summary.replacement = None;
    changed.summary.staged_at = None;
    changed.summary.staged_certificate_serial = None;
    changed.summary.staged_certificate_not_after = None;
    changed.staged_certificate_pem = None;
    changed.staged_private_key = None;
    changed.summary.options.site = None;
    s.write(|tx| tx.update_server(&changed)).unwrap();
    assert_eq!(
        c.read(|tx| tx.server(org, "main mdm")).unwrap(),
        Some(changed.clone())
    );
    // Updating a row that was deleted is NotFound.
    s.write(|tx| tx.delete_server(id)).unwrap();
    assert_eq!(c.read(|tx| tx.server(org, "main mdm")).unwrap(), None);
    let err = s.write(|tx| tx.update_server(&changed)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let err = s.write(|tx| tx.delete_server(id)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

pub fn names_unique_per_organization(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let contoso = add_org(&mut *s, "Contoso");
    let fabrikam = add_org(&mut *s, "Fabrikam");
    // Two customers may each have a "Main MDM".
    insert(&mut *s, &server_row(contoso, "Main MDM", 1)).unwrap();
    insert(&mut *s, &server_row(fabrikam, "Main MDM", 1)).unwrap();
    // Within one organization the key decides: case, Unicode form, full
    // case folding and surrounding white space make no new name.
    insert(&mut *s, &server_row(contoso, "Caf\u{e9}", 0)).unwrap();
    insert(&mut *s, &server_row(contoso, "Stra\u{df}e", 0)).unwrap();
    for same in [
        "main mdm",
        "  MAIN MDM ",
        "Cafe\u{301}",
        "CAF\u{c9}",
        "STRASSE",
    ] {
        let err = insert(&mut *s, &server_row(contoso, same, 0)).unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateName { .. }),
            "{same:?}: {err}"
        );
    }
    // Invisible and direction-changing characters never reach the store.
    for hidden in ["Main\u{202E}MDM", "\u{feff}Main MDM", "Main\u{2066} MDM"] {
        assert!(ServerName::parse(hidden).is_err(), "{hidden:?}");
    }
    // Renaming onto a taken key is refused by the database too.
    let lab = insert(&mut *s, &server_row(contoso, "Lab", 0)).unwrap();
    let mut row = s.read(|tx| tx.server(contoso, "lab")).unwrap().unwrap();
    assert_eq!(row.summary.id, lab);
    row.summary.name = "MAIN mdm".into();
    row.summary.name_key = key("MAIN mdm");
    let err = s.write(|tx| tx.update_server(&row)).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateName { .. }), "{err}");
    assert_eq!(
        s.read(|tx| tx.list_servers(Some(contoso))).unwrap().len(),
        4
    );
}

pub fn certificate_limit(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let other = add_org(&mut *s, "Fabrikam");
    // 124 servers with a staged rotation (2 each) and one with a current
    // certificate: 249.
    s.write(|tx| -> Result<(), StoreError> {
        for i in 0..124 {
            tx.insert_server(&server_row(org, &format!("S{i}"), 2))?;
        }
        tx.insert_server(&server_row(org, "Last", 1))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(s.read(|tx| tx.count_certificates(org)).unwrap(), 249);
    // The 250th fits; a staged one on top of it does not.
    insert(&mut *s, &server_row(org, "Full", 1)).unwrap();
    let err = insert(&mut *s, &server_row(org, "One more", 1)).unwrap_err();
    assert!(
        matches!(err, StoreError::LimitReached { count: 250, max } if max == MAX_CERTIFICATES),
        "{err}"
    );
    let mut full = s.read(|tx| tx.server(org, "full")).unwrap().unwrap();
    full.summary.staged_at = Some(NOW);
    let err = s.write(|tx| tx.update_server(&full)).unwrap_err();
    assert!(matches!(err, StoreError::LimitReached { .. }), "{err}");
    // Changes that do not add a certificate still work at the limit.
    full.summary.staged_at = None;
    full.summary.server_uuid = Some("changed".into());
    s.write(|tx| tx.update_server(&full)).unwrap();
    insert(&mut *s, &server_row(org, "No certificate yet", 0)).unwrap();
    // The limit is per organization.
    insert(&mut *s, &server_row(other, "Main MDM", 2)).unwrap();
    // Deleting frees room.
    s.write(|tx| tx.delete_server(full.summary.id)).unwrap();
    insert(&mut *s, &server_row(org, "One more", 1)).unwrap();
    assert_eq!(s.read(|tx| tx.count_certificates(org)).unwrap(), 250);
}

pub fn failed_body_writes_nothing(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    #[derive(Debug, PartialEq)]
    enum Mine {
        Refused,
        Store,
    }
    impl From<StoreError> for Mine {
        fn from(_: StoreError) -> Self {
            Mine::Store
        }
    }
    let r: Result<(), Mine> = s.write(|tx| {
        tx.insert_server(&server_row(org, "Half done", 1))?;
        tx.set_meta("half", Some(b"done"))?;
        Err(Mine::Refused)
    });
    assert_eq!(r, Err(Mine::Refused), "the body's own error comes back");
    assert!(s.read(|tx| tx.list_servers(None)).unwrap().is_empty());
    assert_eq!(s.read(|tx| tx.meta("half")).unwrap(), None);
    // A store error inside the body rolls back what came before it.
    let err = s
        .write(|tx| -> Result<(), StoreError> {
            tx.insert_server(&server_row(org, "First", 1))?;
            tx.insert_server(&server_row(org, "FIRST", 1))?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateName { .. }), "{err}");
    assert!(s.read(|tx| tx.list_servers(None)).unwrap().is_empty());
}

pub fn read_transaction_refuses_writes(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let r = s.read(|tx| tx.insert_organization(&org_row("Contoso")));
    assert!(r.is_err(), "a read transaction wrote");
    assert!(s.read(|tx| tx.list_organizations()).unwrap().is_empty());
}

pub fn racing_same_name(f: &dyn StoreFactory) {
    let org = add_org(&mut *f.connect(), "Contoso");
    for round in 0..5 {
        let name = format!("Race {round}");
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<Result<i64, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let mut store = f.connect();
                    let barrier = Arc::clone(&barrier);
                    let name = name.clone();
                    scope.spawn(move || {
                        barrier.wait();
                        store.write(|tx| tx.insert_server(&server_row(org, &name, 1)))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "exactly one writer wins: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::DuplicateName { .. }))),
            "the other is told the name is taken: {results:?}"
        );
    }
    assert_eq!(
        f.connect()
            .read(|tx| tx.list_servers(Some(org)))
            .unwrap()
            .len(),
        5
    );
}

pub fn concurrent_adds_lose_nothing(f: &dyn StoreFactory) {
    let org = add_org(&mut *f.connect(), "Contoso");
    const THREADS: usize = 8;
    const EACH: usize = 5;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let mut store = f.connect();
            scope.spawn(move || {
                for i in 0..EACH {
                    store
                        .write(|tx| {
                            // Count, then insert: the count must not go stale.
                            let before = tx.count_certificates(org)?;
                            std::thread::yield_now();
                            tx.insert_server(&server_row(org, &format!("T{t} S{i}"), 1))?;
                            assert_eq!(tx.count_certificates(org)?, before + 1);
                            Ok::<_, StoreError>(())
                        })
                        .unwrap_or_else(|e| panic!("thread {t} server {i}: {e}"));
                }
            });
        }
    });
    let servers = f.connect().read(|tx| tx.list_servers(Some(org))).unwrap();
    assert_eq!(servers.len(), THREADS * EACH);
    for t in 0..THREADS {
        for i in 0..EACH {
            let name = format!("T{t} S{i}");
            assert!(servers.iter().any(|s| s.name == name), "{name} was lost");
        }
    }
}

pub fn read_modify_write_loses_nothing(f: &dyn StoreFactory) {
    let org = add_org(&mut *f.connect(), "Contoso");
    let mut row = server_row(org, "Counter", 1);
    row.summary.server_uuid = Some("0".into());
    insert(&mut *f.connect(), &row).unwrap();
    const THREADS: usize = 6;
    const EACH: usize = 5;
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let mut store = f.connect();
            scope.spawn(move || {
                for _ in 0..EACH {
                    store
                        .write(|tx| {
                            let mut row = tx.server_for_update(org, "counter")?.unwrap();
                            let n: u64 =
                                row.summary.server_uuid.as_deref().unwrap().parse().unwrap();
                            std::thread::yield_now();
                            row.summary.server_uuid = Some((n + 1).to_string());
                            tx.update_server(&row)
                        })
                        .unwrap();
                }
            });
        }
    });
    let row = f
        .connect()
        .read(|tx| tx.server(org, "counter"))
        .unwrap()
        .unwrap();
    assert_eq!(
        row.summary.server_uuid.as_deref(),
        Some((THREADS * EACH).to_string().as_str()),
        "an update was lost"
    );
}

pub fn delete_leaves_no_secret(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let mut marker = [0u8; 32];
    getrandom::fill(&mut marker).unwrap();
    let mut row = server_row(org, "Doomed", 2);
    row.private_key = Some(SealedSecret::from_bytes(marker.to_vec()));
    let id = insert(&mut *s, &row).unwrap();
    let keep = insert(&mut *s, &server_row(org, "Kept", 1)).unwrap();
    assert!(
        f.holds_bytes(&marker),
        "holds_bytes does not find a stored secret, so this test could not fail"
    );
    // A replaced secret is gone too.
    let mut replaced = [0u8; 32];
    getrandom::fill(&mut replaced).unwrap();
    let mut kept = s.read(|tx| tx.server(org, "kept")).unwrap().unwrap();
    kept.token = Some(SealedSecret::from_bytes(replaced.to_vec()));
    s.write(|tx| tx.update_server(&kept)).unwrap();
    assert!(f.holds_bytes(&replaced));
    kept.token = None;
    s.write(|tx| tx.update_server(&kept)).unwrap();
    s.write(|tx| tx.delete_server(id)).unwrap();
    drop(s);
    assert!(
        !f.holds_bytes(&marker),
        "a deleted server's secret is still in the store"
    );
    assert!(
        !f.holds_bytes(&replaced),
        "a replaced secret is still in the store"
    );
    assert_eq!(
        f.connect().read(|tx| tx.list_servers(None)).unwrap()[0].id,
        keep
    );
}

pub fn dep_state(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let a = insert(&mut *s, &server_row(org, "A", 1)).unwrap();
    let b = insert(&mut *s, &server_row(org, "B", 1)).unwrap();
    let device = |serial: &str, op: &str, deleted: bool| DeviceRow {
        serial: serial.into(),
        op_type: Some(op.into()),
        op_date: Some(datetime!(2026-01-20 10:00 UTC)),
        deleted,
        json: format!(r#"{{"serial_number":"{serial}","op_type":"{op}"}}"#),
    };
    let first = DepCursor {
        cursor: "MTIzNDU2Nzg5MA==".into(),
        issued_at: datetime!(2026-01-20 10:00:01 UTC),
    };
    assert_eq!(s.read(|tx| tx.dep_cursor(a)).unwrap(), None);
    let page = [
        device("C02B", "added", false),
        device("C02A", "added", false),
    ];
    s.write(|tx| tx.put_dep_page(a, &page, &first)).unwrap();
    assert_eq!(s.read(|tx| tx.dep_cursor(a)).unwrap(), Some(first.clone()));
    let devices = s.read(|tx| tx.dep_devices(a)).unwrap();
    assert_eq!(devices, [page[1].clone(), page[0].clone()], "by serial");
    assert!(s.read(|tx| tx.dep_devices(b)).unwrap().is_empty());
    // The next page replaces by serial and moves the cursor.
    let second = DepCursor {
        cursor: "second".into(),
        issued_at: datetime!(2026-01-20 11:00 UTC),
    };
    let tomb = device("C02A", "deleted", true);
    s.write(|tx| tx.put_dep_page(a, std::slice::from_ref(&tomb), &second))
        .unwrap();
    let devices = s.read(|tx| tx.dep_devices(a)).unwrap();
    assert_eq!(devices, [tomb.clone(), page[0].clone()]);
    // A page whose caller fails is not half written: the cursor stays.
    let r: Result<(), StoreError> = s.write(|tx| {
        tx.put_dep_page(a, &[device("C02Z", "added", false)], &first)?;
        Err(StoreError::Cancelled)
    });
    assert!(r.is_err());
    assert_eq!(s.read(|tx| tx.dep_cursor(a)).unwrap(), Some(second));
    assert_eq!(s.read(|tx| tx.dep_devices(a)).unwrap().len(), 2);
    // Unknown server.
    let err = s
        .write(|tx| tx.put_dep_page(9_999_999, &[], &first))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    // Clearing, and deleting the server, forget the state.
    s.write(|tx| tx.put_dep_page(b, &page, &first)).unwrap();
    s.write(|tx| tx.clear_dep_state(a)).unwrap();
    assert_eq!(s.read(|tx| tx.dep_cursor(a)).unwrap(), None);
    assert!(s.read(|tx| tx.dep_devices(a)).unwrap().is_empty());
    s.write(|tx| tx.delete_server(b)).unwrap();
    assert_eq!(s.read(|tx| tx.dep_cursor(b)).unwrap(), None);
    assert!(s.read(|tx| tx.dep_devices(b)).unwrap().is_empty());
}

pub fn servers_stream_in_order(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let a = add_org(&mut *s, "Contoso");
    let b = add_org(&mut *s, "Fabrikam");
    for (org, name) in [(b, "B1"), (a, "A1"), (b, "B2"), (a, "A2"), (a, "A3")] {
        insert(&mut *s, &server_row(org, name, 1)).unwrap();
    }
    let names = |s: &mut Box<dyn Store + Send>, org: Option<OrganizationId>| {
        let mut names = Vec::new();
        s.read(|tx| {
            tx.for_each_server(org, &mut |summary| {
                names.push(summary.name);
                Ok(())
            })
        })
        .unwrap();
        names
    };
    assert_eq!(
        names(&mut s, None),
        ["A1", "A2", "A3", "B1", "B2"],
        "ordered by organization id, then server id"
    );
    assert_eq!(names(&mut s, Some(b)), ["B1", "B2"]);
    assert_eq!(s.read(|tx| tx.count_servers(None)).unwrap(), 5);
    assert_eq!(s.read(|tx| tx.count_servers(Some(a))).unwrap(), 3);
    assert_eq!(
        s.read(|tx| tx.list_servers(Some(a))).unwrap().len(),
        3,
        "list_servers collects the same rows"
    );
    // The visitor's error ends the walk at once and comes back unchanged.
    let mut seen = 0;
    let err = s
        .read(|tx| {
            tx.for_each_server(None, &mut |_| {
                seen += 1;
                Err(StoreError::InvalidName("stop".into()))
            })
        })
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidName(ref m) if m == "stop"),
        "{err}"
    );
    assert_eq!(seen, 1);
}

#[cfg(test)]
mod memory {
    use super::*;
    use crate::store::MemoryStore;

    pub struct MemoryFactory(MemoryStore);

    impl MemoryFactory {
        pub fn new() -> Self {
            Self(MemoryStore::new())
        }
    }

    impl StoreFactory for MemoryFactory {
        fn connect(&self) -> Box<dyn Store + Send> {
            Box::new(self.0.clone())
        }
        fn holds_bytes(&self, needle: &[u8]) -> bool {
            self.0.holds_bytes(needle)
        }
    }

    crate::store_conformance_tests!(MemoryFactory::new());

    #[test]
    fn two_stores_have_different_ids() {
        let a = MemoryStore::new().read(|tx| tx.store_id()).unwrap();
        let b = MemoryStore::new().read(|tx| tx.store_id()).unwrap();
        assert_ne!(a, b);
    }
}
