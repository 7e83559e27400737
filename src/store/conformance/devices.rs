//! Conformance checks of the device assignment service's state beyond one
//! page write: lookups by serial, and a full fetch's pending marks.

use time::macros::datetime;

use super::{add_org, insert, server_row};
use crate::store::{DepCursor, DeviceRow, StoreError, StoreExt};

use super::StoreFactory;

fn device(serial: &str, deleted: bool) -> DeviceRow {
    DeviceRow {
        serial: serial.into(),
        op_type: Some(if deleted { "deleted" } else { "added" }.into()),
        op_date: Some(datetime!(2026-01-20 10:00 UTC)),
        deleted,
        json: format!(r#"{{"serial_number":"{serial}"}}"#),
    }
}

fn cursor(text: &str) -> DepCursor {
    DepCursor {
        cursor: text.into(),
        issued_at: datetime!(2026-01-20 10:00:01 UTC),
    }
}

pub fn dep_lookup_by_serial(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let a = insert(&mut *s, &server_row(org, "A", 1)).unwrap();
    let b = insert(&mut *s, &server_row(org, "B", 1)).unwrap();
    let page = [device("S1", false), device("S2", true), device("S3", false)];
    s.write(|tx| tx.put_dep_page(a, &page, &cursor("c1")))
        .unwrap();
    s.write(|tx| tx.put_dep_page(b, &[device("S4", false)], &cursor("c1")))
        .unwrap();
    let ask = ["S3".to_owned(), "S2".to_owned(), "NOPE".into(), "S4".into()];
    let mut found = s.read(|tx| tx.dep_devices_by_serial(a, &ask)).unwrap();
    found.sort_by(|x, y| x.serial.cmp(&y.serial));
    assert_eq!(
        found,
        [page[1].clone(), page[2].clone()],
        "only the asked serials of this server, tombstones included"
    );
    assert!(
        s.read(|tx| tx.dep_devices_by_serial(a, &[]))
            .unwrap()
            .is_empty()
    );
}

pub fn dep_snapshot(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let a = insert(&mut *s, &server_row(org, "A", 1)).unwrap();
    let b = insert(&mut *s, &server_row(org, "B", 1)).unwrap();
    let page = [
        device("KEEP", false),
        device("GONE1", false),
        device("GONE2", false),
        device("TOMB", true),
    ];
    s.write(|tx| tx.put_dep_page(a, &page, &cursor("c1")))
        .unwrap();
    s.write(|tx| tx.put_dep_page(b, &[device("OTHER", false)], &cursor("c1")))
        .unwrap();
    // Without a snapshot begun, finishing changes nothing.
    assert!(s.write(|tx| tx.finish_dep_snapshot(a)).unwrap().is_empty());
    // A snapshot whose first write fails leaves nothing pending.
    let r: Result<(), StoreError> = s.write(|tx| {
        tx.begin_dep_snapshot(a)?;
        Err(StoreError::Cancelled)
    });
    assert!(r.is_err());
    assert!(s.write(|tx| tx.finish_dep_snapshot(a)).unwrap().is_empty());
    // Begin, then a fetch returns KEEP and a new device over two pages
    // (two transactions: the marks persist between them).
    s.write(|tx| {
        tx.begin_dep_snapshot(a)?;
        tx.put_dep_page(a, &[device("KEEP", false)], &cursor("f1"))
    })
    .unwrap();
    s.write(|tx| tx.put_dep_page(a, &[device("NEW", false)], &cursor("f2")))
        .unwrap();
    let gone = s.write(|tx| tx.finish_dep_snapshot(a)).unwrap();
    assert_eq!(
        gone,
        ["GONE1", "GONE2"],
        "the devices the fetch did not return"
    );
    let rows = s.read(|tx| tx.dep_devices(a)).unwrap();
    let state: Vec<_> = rows
        .iter()
        .map(|d| (d.serial.as_str(), d.deleted, d.op_type.as_deref()))
        .collect();
    assert_eq!(
        state,
        [
            ("GONE1", true, Some("deleted")),
            ("GONE2", true, Some("deleted")),
            ("KEEP", false, Some("added")),
            ("NEW", false, Some("added")),
            ("TOMB", true, Some("deleted")),
        ]
    );
    let gone1 = rows.iter().find(|d| d.serial == "GONE1").unwrap();
    assert_eq!(
        gone1.op_date, page[1].op_date,
        "the tombstone keeps its op_date"
    );
    assert_eq!(gone1.json, page[1].json, "and its record");
    // Finished: a second finish finds nothing; the other server is untouched.
    assert!(s.write(|tx| tx.finish_dep_snapshot(a)).unwrap().is_empty());
    let other = s.read(|tx| tx.dep_devices(b)).unwrap();
    assert!(!other[0].deleted);
    // Clearing the state forgets pending marks too.
    s.write(|tx| tx.begin_dep_snapshot(a)).unwrap();
    s.write(|tx| tx.clear_dep_state(a)).unwrap();
    s.write(|tx| tx.put_dep_page(a, &[device("KEEP", false)], &cursor("c")))
        .unwrap();
    assert!(s.write(|tx| tx.finish_dep_snapshot(a)).unwrap().is_empty());
    // Read transactions refuse both; an unknown server is not found.
    assert!(s.read(|tx| tx.begin_dep_snapshot(a)).is_err());
    assert!(s.read(|tx| tx.finish_dep_snapshot(a)).is_err());
    let err = s.write(|tx| tx.begin_dep_snapshot(9_999_999)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}
