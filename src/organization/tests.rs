//! Unit tests of the organization's internals: the name index, where a
//! server's key and certificate live, key generation outside a lock, records.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime, macros::datetime};

use super::*;
use crate::{
    SystemRng,
    keypair::{CertificateParams, KeySize},
    name::NameError,
    token::{self, SealOptions, ServerToken},
};

const NOW: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);

fn keypair(name: &str) -> ServerKeypair {
    ServerKeypair::generate(
        &mut SystemRng::default(),
        KeySize::Rsa2048,
        &CertificateParams::new(name, NOW),
    )
    .unwrap()
}

/// The index maps every server's comparison key to its position, and nothing else.
fn assert_index_consistent(org: &Organization) {
    assert_eq!(org.by_key.len(), org.servers.len());
    for (i, s) in org.servers.iter().enumerate() {
        assert_eq!(org.by_key.get(s.name.comparison_key()), Some(&i));
    }
}

#[test]
fn the_name_index_follows_adds_and_removes() {
    let mut org = Organization::new("Example", Portal::SchoolManager);
    for name in ["A", "b", "Café", "D", "E"] {
        org.add_linked_server(name, None, ServerOptions::default(), NOW)
            .unwrap();
    }
    assert_index_consistent(&org);
    org.remove_server("cafe\u{301}").unwrap();
    org.remove_server("A").unwrap();
    assert_index_consistent(&org);
    assert_eq!(org.server("B").unwrap().name().as_str(), "b");
    assert_eq!(org.server("e").unwrap().name().as_str(), "E");
    assert!(org.server("A").is_none());
    let parsed = ServerName::parse(" d ").unwrap();
    assert_eq!(org.server_named(&parsed).unwrap().name().as_str(), "D");
}

#[test]
fn an_invalid_name_is_reported_as_invalid_not_missing() {
    let mut org = Organization::new("Example", Portal::SchoolManager);
    org.add_linked_server("Main", None, ServerOptions::default(), NOW)
        .unwrap();
    assert!(matches!(
        org.remove_server("   "),
        Err(OrganizationError::Name(NameError::Empty))
    ));
    assert!(matches!(
        org.record_event("Unassigned", ReplacementReason::NewKeypair, NOW),
        Err(OrganizationError::Name(NameError::Reserved { .. }))
    ));
    assert!(matches!(
        org.remove_server("Other"),
        Err(OrganizationError::NotFound(e)) if e.key() == "Other"
    ));
    assert_index_consistent(&org);
    // A name parsed once at the edge is used as it is.
    let parsed = ServerName::parse("MAIN").unwrap();
    org.record_event(&parsed, ReplacementReason::NewKeypair, NOW)
        .unwrap();
    assert!(org.server(&parsed).unwrap().replacement().is_some());
    org.remove_server(&parsed).unwrap();
    assert!(matches!(
        org.remove_server(&parsed),
        Err(OrganizationError::NotFound(e)) if e.key() == "MAIN"
    ));
}

#[test]
fn the_certificate_is_held_once_and_follows_promotion() {
    let (old, new) = (keypair("old"), keypair("new"));
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_server("Held", old.clone(), ServerOptions::default(), NOW)
        .unwrap();
    org.add_linked_server(
        "Elsewhere",
        old.certificate().cloned(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    let held = org.server("Held").unwrap();
    assert!(matches!(held.key, server::ServerKey::Held(_)));
    assert_eq!(held.certificate(), old.certificate());
    let elsewhere = org.server("Elsewhere").unwrap();
    assert!(matches!(
        elsewhere.key,
        server::ServerKey::Elsewhere(Some(_))
    ));
    assert!(elsewhere.keypair().is_none());
    assert_eq!(elsewhere.certificate(), old.certificate());
    assert_eq!(org.certificate_count(), 2);

    org.stage_keypair("Held", new.clone(), NOW).unwrap();
    assert_eq!(org.certificate_count(), 3);
    let t = ServerToken::new("CK", "CS", "AT", "AS", NOW + Duration::days(365)).unwrap();
    let file = token::seal(
        &t,
        new.certificate().unwrap(),
        SealOptions::default(),
        &mut SystemRng::default(),
    )
    .unwrap();
    let outcome = org
        .install_token_with_rng(
            "Held",
            &file,
            InstallOptions::default(),
            &mut SystemRng::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(outcome, InstallOutcome::KeyPromoted);
    let held = org.server("Held").unwrap();
    assert_eq!(held.certificate(), new.certificate());
    assert_eq!(
        held.token().unwrap().certificate_serial,
        new.certificate().map(|c| c.serial_hex())
    );
    assert_eq!(org.certificate_count(), 2);

    // A record round trip keeps where each key lives.
    let back = Organization::from_record(org.to_record(true).unwrap()).unwrap();
    assert!(matches!(
        back.server("Held").unwrap().key,
        server::ServerKey::Held(_)
    ));
    assert!(matches!(
        back.server("Elsewhere").unwrap().key,
        server::ServerKey::Elsewhere(Some(_))
    ));
    assert_eq!(
        back.server("Held").unwrap().certificate(),
        new.certificate()
    );
    assert_index_consistent(&back);
}

#[test]
fn keys_are_generated_outside_the_lock_and_checked_on_both_sides() {
    let shared = Mutex::new(Organization::new("Example", Portal::BusinessManager));
    let lock = || {
        shared
            .lock()
            .map_err(|_| OrganizationError::NotFound(crate::NotFound::server("lock")))
    };
    let mut rng = SystemRng::default();
    let copy = Organization::add_server_generated(
        lock,
        "Main",
        KeySize::Rsa2048,
        ServerOptions::default(),
        &mut rng,
        NOW,
    )
    .unwrap();
    {
        let org = shared.lock().unwrap();
        let main = org.server("main").unwrap();
        assert_eq!(main.keypair().unwrap().public_key(), copy.public_key());
        assert_eq!(
            copy.certificate().unwrap().common_name().as_deref(),
            Some("Main")
        );
    }
    // A taken name is refused before any key is generated.
    assert!(matches!(
        Organization::add_server_generated(
            lock,
            " MAIN ",
            KeySize::Rsa2048,
            ServerOptions::default(),
            &mut rng,
            NOW,
        ),
        Err(OrganizationError::DuplicateName { .. })
    ));
    let staged =
        Organization::stage_generated(lock, "Main", KeySize::Rsa2048, &mut rng, NOW).unwrap();
    assert_eq!(
        shared
            .lock()
            .unwrap()
            .server("Main")
            .unwrap()
            .staged()
            .unwrap()
            .keypair
            .public_key(),
        staged.public_key()
    );
    assert!(matches!(
        Organization::stage_generated(lock, "Main", KeySize::Rsa2048, &mut rng, NOW),
        Err(OrganizationError::AlreadyStaged { .. })
    ));
    assert!(matches!(
        Organization::stage_generated(lock, "Nobody", KeySize::Rsa2048, &mut rng, NOW),
        Err(OrganizationError::NotFound(_))
    ));
}

#[test]
fn warnings_are_joined_one_per_line() {
    let report = InstallReport {
        outcome: InstallOutcome::Renewed,
        file_name: None,
        warnings: vec![
            InstallWarning::FileNamesOtherServer {
                file_server: "A".into(),
                server: "B".into(),
            },
            InstallWarning::ReplacementStillDue {
                reason: ReplacementReason::NewTokenGenerated,
                since: NOW,
                issued: NOW - Duration::days(1),
            },
        ],
    };
    let text = report.warnings_text();
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.contains("\"A\"") && text.contains("2026-11-25T09:00:00Z"),
        "{text}"
    );
    assert_eq!(
        InstallReport {
            warnings: Vec::new(),
            ..report
        }
        .warnings_text(),
        ""
    );
}
