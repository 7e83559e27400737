//! The organization model: the portal's name rules, binding tokens to
//! servers, replacement events, and what needs action first.

mod common;

use mdmlink::{
    expiry::{ExpiryPolicy, Health, ReplacementReason},
    keypair::ServerKeypair,
    organization::*,
    portal::{Action, Portal, Role},
    token::ServerToken,
};
use time::{Duration, OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);

fn keypair(name: &str) -> ServerKeypair {
    common::test_keypair(name, NOW)
}

fn token_file(kp: &ServerKeypair, consumer_key: &str, expiry: OffsetDateTime) -> Vec<u8> {
    common::sealed_token(kp, consumer_key, expiry)
}

#[test]
fn names_are_unique_as_the_portal_compares_them() {
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_linked_server("Café Nord", None, ServerOptions::default(), NOW)
        .unwrap();
    org.add_linked_server("Building A", None, ServerOptions::default(), NOW)
        .unwrap();
    for dup in [
        "CAFE\u{301} NORD",
        "cafe\u{301} nord  ",
        "building a ",
        " BUILDING A",
    ] {
        match org.add_linked_server(dup, None, ServerOptions::default(), NOW) {
            Err(OrganizationError::DuplicateName { existing }) => {
                assert!(existing == "Café Nord" || existing == "Building A")
            }
            other => panic!("{dup:?}: {other:?}"),
        }
    }
    assert!(matches!(
        org.add_linked_server("unassigned", None, ServerOptions::default(), NOW),
        Err(OrganizationError::Name(_))
    ));
    assert_eq!(org.servers().len(), 2);
    assert_eq!(
        org.server("building a").unwrap().name().as_str(),
        "Building A"
    );
    // Another organization may reuse the name.
    let mut other = Organization::new("Other", Portal::SchoolManager);
    other
        .add_linked_server("Building A", None, ServerOptions::default(), NOW)
        .unwrap();
    // Removing frees the name and keeps lookups right.
    org.remove_server("CAFÉ NORD").unwrap();
    assert_eq!(
        org.server("Building A").unwrap().name().as_str(),
        "Building A"
    );
    org.add_linked_server("Café Nord", None, ServerOptions::default(), NOW)
        .unwrap();
}

#[test]
fn roles_checked_per_portal() {
    let asm = Organization::new("School", Portal::SchoolManager);
    assert!(
        asm.check_role(Role::SiteManager, Action::LinkServer)
            .is_ok()
    );
    let abm = Organization::new("Biz", Portal::BusinessManager);
    let e = abm
        .check_role(Role::SiteManager, Action::ReplaceToken)
        .unwrap_err();
    assert!(e.to_string().contains("Site Manager"), "{e}");
    assert!(
        abm.check_role(Role::DeviceEnrollmentManager, Action::ReplaceToken)
            .is_ok()
    );
}

#[test]
fn tokens_bind_to_the_server_whose_key_opens_them() {
    let mut org = Organization::new("Example", Portal::BusinessEssentials);
    let a = keypair("A");
    let b = keypair("B");
    let file_a = token_file(&a, "CK_a", NOW + Duration::days(365));
    let file_b = token_file(&b, "CK_b", NOW + Duration::days(365));
    org.add_server("A", a.clone(), ServerOptions::default(), NOW)
        .unwrap();
    org.add_server(
        "B",
        b,
        ServerOptions::default()
            .with_release_devices(true)
            .with_customer("Acme")
            .with_site("HQ"),
        NOW,
    )
    .unwrap();

    // B's token on A: refused, naming A's certificate.
    match org.install_token("A", &file_b, InstallOptions::default(), NOW) {
        Err(OrganizationError::TokenForOtherKey {
            server, checked, ..
        }) => {
            assert_eq!(server, "A");
            assert_eq!(checked.len(), 1);
            assert_eq!(
                checked[0].serial.as_deref(),
                Some(a.certificate().unwrap().serial_hex().as_str())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        org.install_token(
            "A",
            &file_a,
            InstallOptions::default().with_downloaded_by("admin@example.com"),
            NOW
        )
        .unwrap(),
        InstallOutcome::First
    );
    assert_eq!(
        org.install_token("B", &file_b, InstallOptions::default(), NOW)
            .unwrap(),
        InstallOutcome::First
    );

    // A renewal with the same consumer key is a renewal.
    let renewal = token_file(&a, "CK_a", NOW + Duration::days(400));
    assert_eq!(
        org.install_token("A", &renewal, InstallOptions::default(), NOW)
            .unwrap(),
        InstallOutcome::Renewed
    );
    // A changed consumer key is refused unless forced.
    let changed = token_file(&a, "CK_other", NOW + Duration::days(400));
    match org.install_token("A", &changed, InstallOptions::default(), NOW) {
        Err(OrganizationError::ConsumerKeyChanged { old, new, .. }) => {
            assert_eq!((old.as_str(), new.as_str()), ("CK_a", "CK_other"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        org.server("A")
            .unwrap()
            .token()
            .unwrap()
            .token
            .consumer_key(),
        "CK_a"
    );
    org.install_token(
        "A",
        &changed,
        InstallOptions::default().with_force(true),
        NOW,
    )
    .unwrap();
    assert_eq!(
        org.server("A")
            .unwrap()
            .token()
            .unwrap()
            .token
            .consumer_key(),
        "CK_other"
    );
    assert!(matches!(
        org.install_token("nope", &changed, InstallOptions::default(), NOW),
        Err(OrganizationError::NotFound { .. })
    ));
}

#[test]
fn needs_action_soonest_first() {
    let mut org = Organization::new("MSP", Portal::BusinessManager);
    let policy = ExpiryPolicy::default();
    let t = |ck: &str, days: i64| {
        ServerToken::new(ck, "CS", "AT", "AS", NOW + Duration::days(days)).unwrap()
    };
    for (name, days, user) in [
        ("fine", 200, "a"),
        ("soon-20", 20, "b"),
        ("soon-5", 5, "a"),
        ("expired", -3, "c"),
        ("left", 300, "d"),
    ] {
        org.add_linked_server(name, None, ServerOptions::default(), NOW)
            .unwrap();
        org.install_opened_token(
            name,
            t(name, days),
            InstallOptions::default().with_downloaded_by(user),
            NOW,
        )
        .unwrap();
    }
    org.add_linked_server("no-token", None, ServerOptions::default(), NOW)
        .unwrap();
    let affected = org.record_user_event(
        "D",
        ReplacementReason::DownloaderLeftOrganization,
        NOW - Duration::days(1),
    );
    assert_eq!(affected, vec!["left".to_string()]);

    let items = org.needs_action(&policy, NOW);
    let order: Vec<&str> = items.iter().map(|i| i.server.as_str()).collect();
    assert_eq!(order, ["no-token", "expired", "left", "soon-5", "soon-20"]);
    assert!(matches!(
        items[2].health,
        Health::MustReplace {
            reason: ReplacementReason::DownloaderLeftOrganization,
            ..
        }
    ));
    assert!(
        items[3].advice.contains("Device Management Service Token"),
        "{}",
        items[3].advice
    );

    // Installing a new token clears the event.
    org.install_opened_token("left", t("left", 365), InstallOptions::default(), NOW)
        .unwrap();
    assert!(
        org.needs_action(&policy, NOW)
            .iter()
            .all(|i| i.server != "left")
    );
    // Password change of user "a" hits both of their servers.
    let mut hit = org.record_user_event("a", ReplacementReason::DownloaderPasswordChanged, NOW);
    hit.sort();
    assert_eq!(hit, ["fine", "soon-5"]);
    org.record_event("soon-20", ReplacementReason::NewTokenGenerated, NOW)
        .unwrap();
    assert_eq!(
        org.server("soon-20")
            .unwrap()
            .status(&policy, NOW)
            .token
            .unwrap()
            .label(),
        "must-replace"
    );
}

#[test]
fn serializes_without_private_keys_unless_asked() {
    let mut org = Organization::new("Example", Portal::SchoolManager);
    let kp = keypair("Main");
    let file = token_file(&kp, "CK_main", NOW + Duration::days(365));
    org.add_server(
        "Main",
        kp.clone(),
        ServerOptions::default()
            .with_release_devices(true)
            .with_site("Campus"),
        NOW,
    )
    .unwrap();
    org.install_token("Main", &file, InstallOptions::default(), NOW)
        .unwrap();

    let public = serde_json::to_string(&org).unwrap();
    assert!(!public.contains("PRIVATE KEY"));
    assert!(public.contains("BEGIN CERTIFICATE"));
    let restored: Organization = serde_json::from_str(&public).unwrap();
    let s = restored.server("main").unwrap();
    assert!(s.keypair().is_none());
    assert_eq!(s.certificate(), kp.certificate());
    assert_eq!(s.token().unwrap().token.consumer_key(), "CK_main");
    assert!(s.options().release_devices);

    let full = serde_json::to_string(&org.to_record(true).unwrap()).unwrap();
    assert!(full.contains("BEGIN PRIVATE KEY"));
    let restored = Organization::from_record(serde_json::from_str(&full).unwrap()).unwrap();
    let s = restored.server("Main").unwrap();
    assert_eq!(s.keypair().unwrap().public_key(), kp.public_key());
    assert!(s.keypair().unwrap().certificate().is_some());

    // A record with a duplicate name is refused on load.
    let mut rec = org.to_record(false).unwrap();
    let mut twin = rec.servers[0].clone();
    twin.name = "MAIN".into();
    rec.servers.push(twin);
    assert!(matches!(
        Organization::from_record(rec),
        Err(OrganizationError::DuplicateName { .. })
    ));
}
