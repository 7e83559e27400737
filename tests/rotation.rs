//! Key rotation without downtime: staging, promotion, renewal, wrong tokens,
//! discarding; the staging reminder; the portal's 250-certificate limit; token
//! file names; Access Management JWTs checked by an independent verifier
//! (Python's PyJWT).

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::*;
use mdmlink::{
    expiry::{ExpiryPolicy, Health},
    jwt,
    keypair::{KeySize, ServerKeypair},
    organization::*,
    portal::Portal,
    token::ServerToken,
};
use time::{Duration, OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

fn keypair(name: &str) -> ServerKeypair {
    common::test_keypair(name, NOW)
}

fn token_file(kp: &ServerKeypair, consumer_key: &str, expiry: OffsetDateTime) -> Vec<u8> {
    common::sealed_token(kp, consumer_key, expiry)
}

fn year() -> OffsetDateTime {
    NOW + Duration::days(365)
}

fn serial(kp: &ServerKeypair) -> String {
    kp.certificate().unwrap().serial_hex()
}

fn fingerprint(kp: &ServerKeypair) -> String {
    kp.certificate().unwrap().sha256_fingerprint_hex()
}

/// An organization with server "Main" linked to `old` and its first token.
fn linked(old: &ServerKeypair) -> Organization {
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_server("Main", old.clone(), ServerOptions::default(), NOW)
        .unwrap();
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(old, "CK_main", year()),
            InstallOptions::default(),
            NOW
        )
        .unwrap(),
        InstallOutcome::First
    );
    org
}

#[test]
fn staging_is_promoted_by_its_token_and_the_old_pair_retires() {
    let (old, new) = (keypair("old"), keypair("new"));
    let mut org = linked(&old);
    let policy = ExpiryPolicy::default();

    org.stage_keypair("Main", new.clone(), NOW + Duration::days(1))
        .unwrap();
    assert_eq!(org.certificate_count(), 2);
    let s = org.server("Main").unwrap();
    assert_eq!(s.keypair().unwrap().public_key(), old.public_key());
    assert_eq!(s.staged().unwrap().keypair.public_key(), new.public_key());
    let status = s.status(&policy, NOW + Duration::days(2));
    assert_eq!(status.staging_pending_since, Some(NOW + Duration::days(1)));
    assert!(
        status
            .staging_message()
            .unwrap()
            .starts_with("staging pending since 2026-01-06"),
        "{:?}",
        status.staging_message()
    );

    // While staged, a token for the current key is a plain renewal and the
    // staging stays.
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(&old, "CK_main", year() + Duration::days(10)),
            InstallOptions::default(),
            NOW + Duration::days(2)
        )
        .unwrap(),
        InstallOutcome::Renewed
    );
    assert!(org.server("Main").unwrap().staged().is_some());

    // The staged key's token promotes it.
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(&new, "CK_main", year() + Duration::days(20)),
            InstallOptions::default(),
            NOW + Duration::days(3)
        )
        .unwrap(),
        InstallOutcome::KeyPromoted
    );
    let s = org.server("Main").unwrap();
    assert!(s.staged().is_none());
    assert_eq!(s.keypair().unwrap().public_key(), new.public_key());
    assert_eq!(s.certificate(), new.certificate());
    assert_eq!(
        s.token().unwrap().certificate_serial.as_deref(),
        Some(serial(&new).as_str())
    );
    assert_eq!(
        s.status(&policy, NOW + Duration::days(3))
            .staging_pending_since,
        None
    );
    assert_eq!(org.certificate_count(), 1);

    // The old pair is retired: its tokens no longer open here.
    match org.install_token(
        "Main",
        &token_file(&old, "CK_main", year()),
        InstallOptions::default(),
        NOW,
    ) {
        Err(OrganizationError::TokenForOtherKey { checked, .. }) => {
            assert_eq!(checked.len(), 1);
            assert_eq!(checked[0].role, KeyRole::Current);
            assert_eq!(checked[0].serial, Some(serial(&new)));
        }
        other => panic!("{other:?}"),
    }
    // A renewal with the new key is a renewal.
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(&new, "CK_main", year() + Duration::days(30)),
            InstallOptions::default(),
            NOW + Duration::days(4)
        )
        .unwrap(),
        InstallOutcome::Renewed
    );
}

#[test]
fn a_token_for_neither_key_names_every_certificate_checked() {
    let (old, new, other) = (keypair("old"), keypair("new"), keypair("other"));
    let mut org = linked(&old);
    org.stage_keypair("Main", new.clone(), NOW).unwrap();
    let before = org.server("Main").unwrap().token().cloned();

    let e = org
        .install_token(
            "Main",
            &token_file(&other, "CK_other", year()),
            InstallOptions::default(),
            NOW,
        )
        .unwrap_err();
    let OrganizationError::TokenForOtherKey {
        server,
        token_recipients,
        checked,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(server, "Main");
    assert!(token_recipients[0].to_string().contains(&serial(&other)));
    let roles: Vec<KeyRole> = checked.iter().map(|c| c.role).collect();
    assert_eq!(roles, [KeyRole::Staged, KeyRole::Current]);
    assert_eq!(checked[0].serial, Some(serial(&new)));
    assert_eq!(checked[0].sha256_fingerprint, Some(fingerprint(&new)));
    assert_eq!(checked[1].serial, Some(serial(&old)));
    assert_eq!(checked[1].sha256_fingerprint, Some(fingerprint(&old)));

    let message = e.to_string();
    for needle in [
        serial(&other),
        serial(&new),
        fingerprint(&new),
        serial(&old),
        fingerprint(&old),
    ] {
        assert!(message.contains(&needle), "{needle} missing from {message}");
    }
    // Never key material.
    for kp in [&old, &new] {
        let pem = kp.private_key_pem().unwrap();
        let body = pem.lines().nth(1).unwrap();
        assert!(!message.contains(body));
        assert!(!format!("{e:?}").contains(body));
    }
    // Nothing changed.
    let s = org.server("Main").unwrap();
    assert_eq!(s.token().cloned(), before);
    assert!(s.staged().is_some());
}

#[test]
fn discarding_the_staging_keeps_the_current_link() {
    let (old, new) = (keypair("old"), keypair("new"));
    let mut org = linked(&old);
    assert!(matches!(
        org.discard_staged("Main"),
        Err(OrganizationError::NoStagedKeypair { .. })
    ));
    org.stage_keypair("Main", new.clone(), NOW).unwrap();
    let discarded = org.discard_staged("main").unwrap();
    assert_eq!(discarded.keypair.public_key(), new.public_key());
    assert_eq!(discarded.since, NOW);
    assert_eq!(org.certificate_count(), 1);
    let s = org.server("Main").unwrap();
    assert!(s.staged().is_none());
    assert_eq!(s.keypair().unwrap().public_key(), old.public_key());
    assert_eq!(
        s.status(&ExpiryPolicy::default(), NOW)
            .staging_pending_since,
        None
    );
    // The discarded key's token no longer opens; the current key's still does.
    assert!(matches!(
        org.install_token(
            "Main",
            &token_file(&new, "CK_main", year()),
            InstallOptions::default(),
            NOW
        ),
        Err(OrganizationError::TokenForOtherKey { .. })
    ));
    // A renewal expires later than the installed token.
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(&old, "CK_main", year() + Duration::days(1)),
            InstallOptions::default(),
            NOW
        )
        .unwrap(),
        InstallOutcome::Renewed
    );
    assert!(matches!(
        org.discard_staged("Main"),
        Err(OrganizationError::NoStagedKeypair { .. })
    ));
    assert!(matches!(
        org.discard_staged("Nope"),
        Err(OrganizationError::NotFound(_))
    ));
}

#[test]
fn a_half_done_rotation_is_not_forgotten() {
    let policy = ExpiryPolicy::default();
    let mut org = Organization::new("Example", Portal::SchoolManager);
    let t =
        |days: i64| ServerToken::new("CK", "CS", "AT", "AS", NOW + Duration::days(days)).unwrap();
    for (name, days) in [
        ("healthy", 300),
        ("renew-soon", 10),
        ("staged-and-soon", 12),
    ] {
        org.add_linked_server(name, None, ServerOptions::default(), NOW)
            .unwrap();
        org.install_opened_token(name, t(days), InstallOptions::default(), NOW)
            .unwrap();
    }
    let staged = keypair("staged");
    org.stage_keypair("healthy", staged.clone(), NOW).unwrap();
    org.stage_keypair("staged-and-soon", staged, NOW).unwrap();

    // Fresh staging on a healthy server: not yet an action item, but the
    // server listed anyway says its staging is pending.
    let items = org.needs_action(&policy, NOW + Duration::days(1));
    let names: Vec<&str> = items.iter().map(|i| i.server.as_str()).collect();
    assert_eq!(names, ["renew-soon", "staged-and-soon"]);
    assert_eq!(items[0].staging_pending_since, None);
    assert!(!items[0].advice.contains("staging"));
    assert_eq!(items[1].staging_pending_since, Some(NOW));
    assert!(
        items[1].advice.contains("staging pending since 2026-01-05"),
        "{}",
        items[1].advice
    );

    // Once it has waited STAGING_REMINDER_AFTER, the healthy server is
    // listed too, last, with its valid health.
    let later = NOW + STAGING_REMINDER_AFTER;
    let items = org.needs_action(&policy, later);
    let names: Vec<&str> = items.iter().map(|i| i.server.as_str()).collect();
    assert_eq!(names, ["renew-soon", "staged-and-soon", "healthy"]);
    assert!(matches!(items[2].health, Health::Valid { .. }));
    assert!(
        items[2]
            .advice
            .starts_with("finish the key rotation: staging pending since 2026-01-05"),
        "{}",
        items[2].advice
    );
    assert!(
        org.needs_action(&policy, later - Duration::seconds(1))
            .iter()
            .all(|i| i.server != "healthy")
    );
    // Discarding ends the reminder.
    org.discard_staged("healthy").unwrap();
    assert!(
        org.needs_action(&policy, later)
            .iter()
            .all(|i| i.server != "healthy")
    );
}

#[test]
fn the_portal_takes_at_most_250_certificates() {
    // One certificate reused: the model counts certificate files held, and
    // the limit is what is tested, not key generation.
    let kp = keypair("limit");
    let cert = kp.certificate().unwrap().clone();
    let mut org = Organization::new("MSP", Portal::BusinessManager);
    for i in 0..MAX_CERTIFICATES {
        org.add_linked_server(
            &format!("server {i}"),
            Some(cert.clone()),
            ServerOptions::default(),
            NOW,
        )
        .unwrap();
    }
    assert_eq!(MAX_CERTIFICATES, 250);
    assert_eq!(org.certificate_count(), 250);

    let limit = |r: Result<(), OrganizationError>| match r {
        Err(
            e @ OrganizationError::CertificateLimit {
                count: 250,
                max: 250,
            },
        ) => {
            assert!(e.to_string().contains("at most 250"), "{e}")
        }
        other => panic!("{other:?}"),
    };
    limit(
        org.add_linked_server(
            "one more",
            Some(cert.clone()),
            ServerOptions::default(),
            NOW,
        )
        .map(|_| ()),
    );
    limit(
        org.add_server("one more", kp.clone(), ServerOptions::default(), NOW)
            .map(|_| ()),
    );
    limit(org.stage_keypair("server 0", kp.clone(), NOW).map(|_| ()));
    assert!(org.server("one more").is_none());
    assert_eq!(org.certificate_count(), 250);
    // A server without a certificate needs no room.
    org.add_linked_server("no cert", None, ServerOptions::default(), NOW)
        .unwrap();

    // Removing one server makes room for exactly one more.
    org.remove_server("server 7").unwrap();
    org.stage_keypair("server 0", kp.clone(), NOW).unwrap();
    assert_eq!(org.certificate_count(), 250);
    // Re-staging a server that already has a staged keypair is refused.
    assert!(matches!(
        org.stage_keypair("server 0", kp.clone(), NOW),
        Err(OrganizationError::AlreadyStaged { .. })
    ));
    limit(org.stage_keypair("server 1", kp.clone(), NOW).map(|_| ()));
    org.discard_staged("server 0").unwrap();
    org.add_server("server 250", kp, ServerOptions::default(), NOW)
        .unwrap();
    assert_eq!(org.certificate_count(), 250);
}

#[test]
fn file_names_suggest_the_server_and_warn_on_mismatch() {
    let kp = keypair("Café Nord");
    let mut org = Organization::new("Example", Portal::BusinessManager);
    org.add_server("Café Nord", kp.clone(), ServerOptions::default(), NOW)
        .unwrap();
    let file = token_file(&kp, "CK_cafe", year());

    // The file names this server (compared as the portal compares names).
    let report = org
        .install_token_file(
            "Café Nord",
            "/home/me/Downloads/CAFE\u{301} NORD_Token_2026-01-05T08-59-30Z_smime (1).p7m",
            &file,
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(report.outcome, InstallOutcome::First);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let parsed = report.file_name.unwrap();
    assert_eq!(parsed.downloaded_at, datetime!(2026-01-05 08:59:30 UTC));
    assert_eq!(parsed.duplicate, Some(1));

    // Another server's name: installed (the key decides), with a warning.
    let report = org
        .install_token_file(
            "Café Nord",
            "Café_Sud_Token_2026-01-05T08-59-30Z_smime.p7m",
            &token_file(&kp, "CK_cafe", year() + Duration::days(1)),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(report.outcome, InstallOutcome::Renewed);
    assert_eq!(
        report.warnings,
        [InstallWarning::FileNamesOtherServer {
            file_server: "Café_Sud".into(),
            server: "Café Nord".into()
        }]
    );
    assert!(report.warnings[0].to_string().contains("Café_Sud"));

    // A renamed file: no suggestion, no warning.
    let report = org
        .install_token_file(
            "Café Nord",
            "token.p7m",
            &token_file(&kp, "CK_cafe", year() + Duration::days(2)),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert!(report.file_name.is_none() && report.warnings.is_empty());

    // Errors stay errors whatever the name says.
    let other = keypair("other");
    assert!(matches!(
        org.install_token_file(
            "Café Nord",
            "Café Nord_Token_2026-01-05T08-59-30Z_smime.p7m",
            &token_file(&other, "CK_cafe", year()),
            InstallOptions::default(),
            NOW
        ),
        Err(OrganizationError::TokenForOtherKey { .. })
    ));
}

/// Verifies `jwt` with PyJWT against `cert_pem`; `Ok(json)` or `Err(error name)`.
fn pyjwt_verify(jwt: &str, cert_pem: &str, issuer: &str) -> Result<serde_json::Value, String> {
    require_python_pyjwt();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, cert_pem).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/jwt_peer.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&cert)
        .arg(issuer)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jwt.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[test]
fn access_management_jwt_verifies_with_pyjwt() {
    const UUID: &str = "2A873497-36CF-4614-A94F-624E705841BE";
    let mut rng = mdmlink::SystemRng::default();
    let (old, new) = (keypair("old"), keypair("new"));
    let mut org = linked(&old);
    org.add_linked_server("Elsewhere", None, ServerOptions::default(), NOW)
        .unwrap();
    let jti = jwt::random_jti(&mut rng).unwrap();

    // No UUID yet: a clear error, not a JWT with a made-up issuer.
    let e = org
        .access_management_jwt("Main", NOW, &jti, &mut rng)
        .unwrap_err();
    assert!(matches!(e, OrganizationError::NoServerUuid { .. }), "{e:?}");
    assert!(e.to_string().contains("server_uuid"));
    assert!(matches!(
        org.set_server_uuid("Main", "has space"),
        Err(OrganizationError::InvalidServerUuid { .. })
    ));
    org.set_server_uuid("Main", UUID).unwrap();
    assert_eq!(org.server("Main").unwrap().server_uuid(), Some(UUID));
    org.set_server_uuid("Elsewhere", "0E000000-0000-4000-8000-000000000001")
        .unwrap();
    assert!(matches!(
        org.access_management_jwt("Elsewhere", NOW, &jti, &mut rng),
        Err(OrganizationError::NoKeypair { .. })
    ));
    assert!(matches!(
        org.access_management_jwt("Main", NOW, "", &mut rng),
        Err(OrganizationError::Jwt { .. })
    ));

    let token = org
        .access_management_jwt("Main", NOW, &jti, &mut rng)
        .unwrap();
    let old_cert = old.certificate_pem().unwrap();
    let new_cert = new.certificate_pem().unwrap();
    let seen = pyjwt_verify(&token, &old_cert, UUID).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({
            "header": {"alg": "RS256", "typ": "JWT"},
            "claims": {
                "iss": UUID,
                "iat": NOW.unix_timestamp(),
                "jti": jti,
                "service_type": "com.apple.maid",
            }
        })
    );
    assert_eq!(
        pyjwt_verify(&token, &new_cert, UUID).unwrap_err(),
        "InvalidSignatureError"
    );
    assert_eq!(
        pyjwt_verify(&token, &old_cert, "another-uuid").unwrap_err(),
        "InvalidIssuerError"
    );

    // While staged the current key signs; after promotion the new key does.
    org.stage_keypair("Main", new.clone(), NOW).unwrap();
    let staged_time = org
        .access_management_jwt("Main", NOW, &jti, &mut rng)
        .unwrap();
    assert!(pyjwt_verify(&staged_time, &old_cert, UUID).is_ok());
    org.install_token(
        "Main",
        &token_file(&new, "CK_main", year() + Duration::days(1)),
        InstallOptions::default(),
        NOW,
    )
    .unwrap();
    let rotated = org
        .access_management_jwt("Main", NOW + Duration::hours(1), &jti, &mut rng)
        .unwrap();
    let seen = pyjwt_verify(&rotated, &new_cert, UUID).unwrap();
    assert_eq!(
        seen["claims"]["iat"],
        (NOW + Duration::hours(1)).unix_timestamp()
    );
    assert_eq!(
        pyjwt_verify(&rotated, &old_cert, UUID).unwrap_err(),
        "InvalidSignatureError"
    );
}

#[test]
fn server_uuid_survives_records_and_old_records_load() {
    let kp = keypair("Main");
    let mut org = linked(&kp);
    org.set_server_uuid("Main", "0E000000-0000-4000-8000-000000000002")
        .unwrap();
    let json = serde_json::to_string(&org.to_record(true).unwrap()).unwrap();
    assert!(json.contains(r#""server_uuid":"0E000000-0000-4000-8000-000000000002""#));
    let back = Organization::from_record(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(
        back.server("Main").unwrap().server_uuid(),
        Some("0E000000-0000-4000-8000-000000000002")
    );

    // A record written before server_uuid existed still loads, without one.
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["servers"][0]
        .as_object_mut()
        .unwrap()
        .remove("server_uuid");
    let old: Organization = serde_json::from_value(value).unwrap();
    assert_eq!(old.server("Main").unwrap().server_uuid(), None);
}

#[test]
fn stage_new_keypair_generates_and_stages() {
    let mut rng = mdmlink::SystemRng::default();
    let old = keypair("old");
    let mut org = linked(&old);
    assert!(matches!(
        org.stage_new_keypair("Nobody", KeySize::Rsa2048, &mut rng, NOW),
        Err(OrganizationError::NotFound(_))
    ));
    let staged = org
        .stage_new_keypair("main", KeySize::Rsa2048, &mut rng, NOW)
        .unwrap();
    assert_eq!(staged.since, NOW);
    let new = staged.keypair.clone();
    let cert = new.certificate().unwrap();
    assert_eq!(cert.common_name().as_deref(), Some("Main"));
    assert_ne!(new.public_key(), old.public_key());
    assert_eq!(
        org.install_token(
            "Main",
            &token_file(&new, "CK_main", year() + Duration::days(1)),
            InstallOptions::default(),
            NOW
        )
        .unwrap(),
        InstallOutcome::KeyPromoted
    );
}
