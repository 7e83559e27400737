//! The name checker: `ServerName::parse` and the organization's duplicate
//! check. Input: names separated by newlines (the first line may itself be
//! rejected). Invariants: parsing is idempotent, `same_as` matches the
//! comparison keys, and the organization refuses exactly the names that are
//! `same_as` one it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdmlink::name::ServerName;
use mdmlink::organization::{Organization, OrganizationError, ServerOptions};
use mdmlink::portal::Portal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut org = Organization::new("Fuzz", Portal::BusinessManager);
    let mut held: Vec<ServerName> = Vec::new();
    for raw in text.split('\n').take(16) {
        let parsed = ServerName::parse(raw);
        let checked = org.check_name(raw);
        match &parsed {
            Err(e) => {
                let _ = e.to_string();
                assert!(checked.is_err(), "org accepted a name ServerName refused");
            }
            Ok(name) => {
                let again = ServerName::parse(name.as_str()).expect("a parsed name parses again");
                assert_eq!(&again, name);
                let dup = held.iter().find(|h| h.same_as(name));
                for h in &held {
                    assert_eq!(h.same_as(name), h.comparison_key() == name.comparison_key());
                    assert_eq!(h.same_as(name), name.same_as(h));
                }
                match (&checked, dup) {
                    (Ok(c), None) => {
                        assert_eq!(c, name);
                        org.add_linked_server(raw, None, ServerOptions::default(), now)
                            .expect("a free name is added");
                        assert!(org.server(raw).is_some());
                        held.push(name.clone());
                    }
                    (Err(OrganizationError::DuplicateName { .. }), Some(_)) => {}
                    (c, d) => panic!("check_name {c:?} but duplicate of {d:?}"),
                }
            }
        }
    }
});
