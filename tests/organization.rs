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
        Err(OrganizationError::NotFound(_))
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
            // Forced: some of these tokens are already expired on purpose.
            InstallOptions::default()
                .with_downloaded_by(user)
                .with_force(true),
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

// ---------------------------------------------------------------------------
// Issue 13: policy cases.

#[test]
fn invisible_characters_do_not_make_a_new_name() {
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_linked_server("Base", None, ServerOptions::default(), NOW)
        .unwrap();
    assert!(matches!(
        org.add_linked_server("Unassigned\u{200B}", None, ServerOptions::default(), NOW),
        Err(OrganizationError::Name(
            mdmlink::name::NameError::Reserved { .. }
        ))
    ));
    for dup in [
        "B\u{200D}ase",
        "Ba\u{00AD}se",
        "\u{2060}Base",
        "B\u{034F}ase",
        "Base\u{FE0F}",
    ] {
        assert!(
            matches!(
                org.add_linked_server(dup, None, ServerOptions::default(), NOW),
                Err(OrganizationError::DuplicateName { .. })
            ),
            "{dup:?}"
        );
        assert_eq!(org.server(dup).unwrap().name().as_str(), "Base");
    }
    // Nothing invisible is stored.
    let added = org
        .add_linked_server("Lab\u{200B} 2", None, ServerOptions::default(), NOW)
        .unwrap();
    assert_eq!(added.name().as_str(), "Lab 2");
    assert!(matches!(
        mdmlink::name::ServerName::parse("\u{200B}\u{2060}"),
        Err(mdmlink::name::NameError::Empty)
    ));
}

/// "Main" with its first token, expiring a year from NOW.
fn with_first_token() -> (Organization, ServerKeypair) {
    let kp = keypair("Main");
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_server("Main", kp.clone(), ServerOptions::default(), NOW)
        .unwrap();
    org.install_token(
        "Main",
        &token_file(&kp, "CK_1", NOW + Duration::days(365)),
        InstallOptions::default(),
        NOW,
    )
    .unwrap();
    (org, kp)
}

#[test]
fn a_token_that_cannot_be_right_is_refused_unless_forced() {
    let (mut org, kp) = with_first_token();
    let year = NOW + Duration::days(365);
    let same = org.server("Main").unwrap().token().unwrap().token.clone();
    match org.install_opened_token("Main", same.clone(), InstallOptions::default(), NOW) {
        Err(e @ OrganizationError::SameToken { .. }) => {
            assert!(e.to_string().contains("2027-11-25"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let older = token_file(&kp, "CK_1", year - Duration::days(10));
    match org.install_token("Main", &older, InstallOptions::default(), NOW) {
        Err(e @ OrganizationError::TokenNotNewer { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("2027-11-15") && text.contains("2027-11-25"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let expired = token_file(&kp, "CK_1", NOW - Duration::days(1));
    let mut fresh = Organization::new("Example", Portal::BusinessManager);
    fresh
        .add_server("Main", kp.clone(), ServerOptions::default(), NOW)
        .unwrap();
    assert!(matches!(
        fresh.install_token("Main", &expired, InstallOptions::default(), NOW),
        Err(OrganizationError::TokenExpired { .. })
    ));
    assert!(fresh.server("Main").unwrap().token().is_none());
    let force = InstallOptions::default().with_force(true);
    assert_eq!(
        org.install_token("Main", &older, force.clone(), NOW)
            .unwrap(),
        InstallOutcome::Renewed
    );
    assert_eq!(
        fresh.install_token("Main", &expired, force, NOW).unwrap(),
        InstallOutcome::First
    );
}

#[test]
fn an_event_is_cleared_only_by_a_token_issued_after_it() {
    let (mut org, kp) = with_first_token();
    let policy = ExpiryPolicy::default();
    let event = NOW + Duration::days(30);
    org.record_event("Main", ReplacementReason::DownloaderLeftOrganization, event)
        .unwrap();
    let force = InstallOptions::default().with_force(true);
    // The installed token again, forced: the event stays.
    let same = org.server("Main").unwrap().token().unwrap().token.clone();
    org.install_opened_token("Main", same, force.clone(), event + Duration::days(1))
        .unwrap();
    let health = |org: &Organization| {
        org.server("Main")
            .unwrap()
            .status(&policy, event + Duration::days(2))
            .worst()
    };
    assert_eq!(health(&org).label(), "must-replace");
    // Newer, but downloaded before the event (the file name says when).
    let report = org
        .install_token_file(
            "Main",
            "Main_Token_2026-12-01T10-00-00Z_smime.p7m",
            &token_file(&kp, "CK_1", NOW + Duration::days(370)),
            InstallOptions::default(),
            event + Duration::days(1),
        )
        .unwrap();
    assert!(matches!(
        report.warnings.as_slice(),
        [InstallWarning::ReplacementStillDue { since, .. }] if *since == event
    ));
    assert_eq!(health(&org).label(), "must-replace");
    // Without Apple's file name, issued = expiry - 1 year: after the event.
    let report = org
        .install_token_file(
            "Main",
            "renamed.p7m",
            &token_file(&kp, "CK_1", event + Duration::days(366)),
            InstallOptions::default(),
            event + Duration::days(1),
        )
        .unwrap();
    assert!(report.warnings.is_empty());
    assert_eq!(health(&org).label(), "valid");
    assert_eq!(org.server("Main").unwrap().replacement(), None);
}

#[test]
fn a_server_without_a_token_is_no_token_everywhere() {
    let mut org = Organization::new("Example", Portal::SchoolManager);
    org.add_server("Main", keypair("Main"), ServerOptions::default(), NOW)
        .unwrap();
    let policy = ExpiryPolicy::default();
    let status = &org.statuses(&policy, NOW + Duration::days(1))[0];
    assert_eq!(status.token, None);
    assert_eq!(status.worst(), Health::NoToken { since: NOW });
    assert_eq!(status.worst().exit_code(), 2);
    assert_eq!(status.worst().to_string(), "no token installed");
    let items = org.needs_action(&policy, NOW + Duration::days(1));
    assert_eq!(items[0].health, Health::NoToken { since: NOW });
    assert!(
        items[0].advice.starts_with("upload the certificate"),
        "{}",
        items[0].advice
    );
    assert!(matches!(
        org.token_of("Main"),
        Err(OrganizationError::NoToken { .. })
    ));
}

#[test]
fn an_expired_certificate_advises_a_key_rotation() {
    let (org, _) = with_first_token();
    let policy = ExpiryPolicy::default();
    let cert_end = org
        .server("Main")
        .unwrap()
        .certificate()
        .unwrap()
        .not_after();
    // The token (one year) is renewed past the certificate in this test's
    // world: evaluate after the certificate, with a token still valid.
    let mut org = org;
    let kp = org.server("Main").unwrap().keypair().unwrap().clone();
    org.install_token(
        "Main",
        &token_file(&kp, "CK_1", cert_end + Duration::days(200)),
        InstallOptions::default(),
        cert_end - Duration::days(100),
    )
    .unwrap();
    let now = cert_end + Duration::days(1);
    let status = org.server("Main").unwrap().status(&policy, now);
    assert_eq!(status.token_health().label(), "valid");
    assert_eq!(status.worst().label(), "expired");
    let items = org.needs_action(&policy, now);
    assert!(
        items[0].advice.contains("rotate the key"),
        "{}",
        items[0].advice
    );
    assert!(
        !items[0].advice.starts_with("download"),
        "{}",
        items[0].advice
    );
}

#[test]
fn staging_twice_is_refused_naming_the_staged_certificate() {
    let (mut org, _) = with_first_token();
    let first = keypair("first");
    org.stage_keypair("Main", first.clone(), NOW + Duration::days(1))
        .unwrap();
    match org.stage_keypair("Main", keypair("second"), NOW + Duration::days(2)) {
        Err(e @ OrganizationError::AlreadyStaged { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&first.certificate().unwrap().serial_hex()),
                "{text}"
            );
            assert!(text.contains("2026-11-26"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(org.check_stage("Main").is_err());
    let staged = org.server("Main").unwrap().staged().unwrap();
    assert_eq!(staged.keypair.public_key(), first.public_key());
    org.discard_staged("Main").unwrap();
    org.check_stage("Main").unwrap();
}

#[test]
fn warning_windows_are_checked() {
    assert!(ExpiryPolicy::warn_days(u32::MAX).is_err());
    assert!(ExpiryPolicy::new(Duration::days(3651)).is_err());
    let p = ExpiryPolicy::warn_days(3650).unwrap();
    let h = p.evaluate(
        datetime!(0001-01-02 00:00 UTC),
        datetime!(0001-01-01 00:00 UTC),
    );
    assert_eq!(h.label(), "renew-soon");
}
