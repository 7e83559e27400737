use time::{Duration, OffsetDateTime, macros::datetime};

use super::*;
use crate::{
    SecretString, ServerKeypair,
    expiry::{ExpiryPolicy, ReplacementReason},
    keypair::{CertificateParams, KeySize},
    organization::{InstallOptions, Organization, ServerOptions},
    portal::Portal,
    store::{
        MemoryStore, SecretField, StoreExt,
        conformance::FirstAttemptFails,
        master_key::{MasterKey, MasterKeyError},
    },
    token::{self, SealOptions, ServerToken},
};

const NOW: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);
const FAST: KdfParams = KdfParams {
    log_n: 10,
    r: 8,
    p: 1,
};

fn keypair(name: &str) -> ServerKeypair {
    ServerKeypair::generate(
        &mut crate::SystemRng::default(),
        KeySize::Rsa2048,
        &CertificateParams::new(name, NOW),
    )
    .unwrap()
}

fn token_file(kp: &ServerKeypair, ck: &str, expiry: OffsetDateTime) -> Vec<u8> {
    let t = ServerToken::new(ck, "CS_secret_marker", "AT_x", "AS_secret_marker", expiry).unwrap();
    token::seal(
        &t,
        kp.certificate().unwrap(),
        SealOptions::default(),
        &mut crate::SystemRng::default(),
    )
    .unwrap()
}

/// Every test runs twice: on a memory store, and on one whose write
/// transactions all fail their first attempt (see [`FirstAttemptFails`]),
/// so every Registry write body is shown to be safe to run again.
type TestStore = FirstAttemptFails<MemoryStore>;

fn new_store(retry: bool) -> TestStore {
    FirstAttemptFails::new(MemoryStore::new(), retry)
}

fn registry(retry: bool, key: Option<MasterKeySource>) -> Registry<TestStore> {
    Registry::new(new_store(retry), key).with_kdf_params(FAST)
}

fn two_orgs(r: &mut Registry<impl Store>) {
    r.add_organization("Contoso", Portal::BusinessManager, Some("Contoso Ltd"), NOW)
        .unwrap();
    r.add_organization("Fabrikam", Portal::SchoolManager, None, NOW)
        .unwrap();
}

fn two_customers_may_each_have_a_main_mdm(retry: bool) {
    let mut r = registry(retry, None);
    two_orgs(&mut r);
    let kp = keypair("Main MDM");
    r.add_server(
        Some("contoso"),
        "Main MDM",
        kp.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    r.add_server(
        Some("FABRIKAM"),
        "Main MDM",
        kp.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    let err = r
        .add_server(
            Some("Contoso"),
            "main mdm",
            kp.clone(),
            ServerOptions::default(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Organization(OrganizationError::DuplicateName { .. })
        ),
        "{err}"
    );
    assert!(matches!(
        r.check_new_server(Some("Contoso"), "MAIN MDM"),
        Err(RegistryError::Organization(
            OrganizationError::DuplicateName { .. }
        ))
    ));
    // Without --org, two organizations are ambiguous.
    let err = r.check_new_server(None, "Other").unwrap_err();
    assert!(
        matches!(err, RegistryError::OrganizationRequired(ref n) if n.len() == 2),
        "{err}"
    );
    let listed = r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    let orgs: Vec<&str> = listed.iter().map(|l| l.organization.as_str()).collect();
    assert_eq!(orgs, ["Contoso", "Fabrikam"]);
    assert_eq!(
        r.servers(Some("fabrikam"), &ExpiryPolicy::default(), NOW)
            .unwrap()
            .len(),
        1
    );
    // An organization with servers is removed only on request.
    assert!(matches!(
        r.remove_organization("Contoso", false),
        Err(RegistryError::OrganizationNotEmpty { servers: 1, .. })
    ));
    assert_eq!(
        r.remove_organization("contoso", true).unwrap(),
        ("Contoso".to_owned(), 1)
    );
    // With one organization left, it is the default.
    assert_eq!(r.organization(None).unwrap().name, "Fabrikam");
}

fn install_list_and_needs_action_across_organizations(retry: bool) {
    let mut r = registry(retry, None);
    two_orgs(&mut r);
    let a = keypair("A");
    let b = keypair("B");
    r.add_server(
        Some("Contoso"),
        "A",
        a.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    r.add_server(
        Some("Fabrikam"),
        "B",
        b.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    let soon = NOW + Duration::days(10);
    let later = NOW + Duration::days(300);
    let installed = r
        .install_token(
            Some("Contoso"),
            "a",
            "A_Token_2026-01-17T11-02-21Z_smime.p7m",
            &token_file(&a, "CK_a", later),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(
        installed.report.outcome,
        crate::organization::InstallOutcome::First
    );
    assert_eq!(installed.expires_at, later);
    r.install_token(
        Some("Fabrikam"),
        "B",
        "b.p7m",
        &token_file(&b, "CK_b", soon),
        InstallOptions::default(),
        NOW,
    )
    .unwrap();
    // A token for another server's key is refused, naming certificates.
    let err = r
        .install_token(
            Some("Contoso"),
            "A",
            "x.p7m",
            &token_file(&b, "CK_b", soon),
            InstallOptions::default(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Organization(OrganizationError::TokenForOtherKey { .. })
        ),
        "{err}"
    );
    let policy = ExpiryPolicy::default();
    let listed = r.servers(None, &policy, NOW).unwrap();
    assert_eq!(listed[0].summary.token_expires_at, Some(later));
    assert_eq!(
        listed[0].summary.token_consumer_key_hint.as_deref(),
        Some("CK_a")
    );
    assert_eq!(listed[1].status.token.unwrap().label(), "renew-soon");
    // Events make A urgent: it sorts before B's renewal.
    r.record_event(
        Some("Contoso"),
        "A",
        ReplacementReason::NewTokenGenerated,
        NOW,
    )
    .unwrap();
    let items = r.needs_action(None, &policy, NOW).unwrap();
    let order: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.organization.as_str(), i.item.server.as_str()))
        .collect();
    assert_eq!(order, [("Contoso", "A"), ("Fabrikam", "B")]);
    assert!(
        items[1].item.advice.contains("Apple School Manager"),
        "{}",
        items[1].item.advice
    );
    // The same rules as the model: compare with Organization::needs_action.
    let mut model = Organization::new("Fabrikam", Portal::SchoolManager);
    model
        .add_server("B", b.clone(), ServerOptions::default(), NOW)
        .unwrap();
    model
        .install_token(
            "B",
            &token_file(&b, "CK_b", soon),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(model.needs_action(&policy, NOW)[0], items[1].item);
    // JWT, UUID, export, remove.
    assert!(matches!(
        r.access_management_jwt(
            Some("Contoso"),
            "A",
            NOW,
            "j",
            &mut crate::SystemRng::default()
        ),
        Err(RegistryError::Organization(
            OrganizationError::NoServerUuid { .. }
        ))
    ));
    r.set_server_uuid(Some("Contoso"), "A", "6F1B8F4E-AAAA-4AAA-8AAA-AAAAAAAAAAAA")
        .unwrap();
    assert!(
        r.set_server_uuid(Some("Contoso"), "A", "has space")
            .is_err()
    );
    let jwt = r
        .access_management_jwt(
            Some("Contoso"),
            "A",
            NOW,
            "j",
            &mut crate::SystemRng::default(),
        )
        .unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(
        r.certificate_pem(Some("Contoso"), "A", false).unwrap(),
        a.certificate().map(|c| c.to_pem())
    );
    assert_eq!(
        r.token(Some("Fabrikam"), "B")
            .unwrap()
            .unwrap()
            .consumer_key(),
        "CK_b"
    );
    assert_eq!(r.remove_server(Some("Contoso"), "a").unwrap(), "A");
    assert!(matches!(
        r.remove_server(Some("Contoso"), "A"),
        Err(RegistryError::NotFound(_))
    ));
}

fn rotation_stages_promotes_and_discards(retry: bool) {
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let old = keypair("Main");
    r.add_server(None, "Main", old.clone(), ServerOptions::default(), NOW)
        .unwrap();
    r.install_token(
        None,
        "Main",
        "t.p7m",
        &token_file(&old, "CK_1", NOW + Duration::days(100)),
        InstallOptions::default(),
        NOW,
    )
    .unwrap();
    let new = keypair("Main");
    r.stage_keypair(None, "Main", new.clone(), false, NOW)
        .unwrap();
    let listed = r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    assert_eq!(listed[0].summary.staged_at, Some(NOW));
    assert_eq!(
        r.store_mut().read(|tx| tx.count_certificates(1)).unwrap(),
        2
    );
    assert_eq!(
        r.discard_staged(None, "Main").unwrap(),
        new.certificate().map(|c| c.serial_hex())
    );
    assert!(r.discard_staged(None, "Main").is_err());
    r.stage_keypair(None, "Main", new.clone(), false, NOW)
        .unwrap();
    // A second staging is refused unless it replaces the first.
    assert!(matches!(
        r.stage_keypair(None, "Main", new.clone(), false, NOW),
        Err(RegistryError::Organization(
            OrganizationError::AlreadyStaged { .. }
        ))
    ));
    assert!(matches!(
        r.check_stage(None, "Main"),
        Err(RegistryError::Organization(
            OrganizationError::AlreadyStaged { .. }
        ))
    ));
    r.stage_keypair(None, "Main", new.clone(), true, NOW)
        .unwrap();
    let out = r
        .install_token(
            None,
            "Main",
            "t2.p7m",
            &token_file(&new, "CK_1", NOW + Duration::days(365)),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    assert_eq!(
        out.report.outcome,
        crate::organization::InstallOutcome::KeyPromoted
    );
    let listed = r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    assert_eq!(listed[0].summary.staged_at, None);
    assert_eq!(
        listed[0].summary.certificate_serial,
        new.certificate().map(|c| c.serial_hex())
    );
}

fn secrets_are_sealed_bound_to_their_row_and_need_the_key(retry: bool) {
    let key = MasterKey::generate().unwrap();
    let store = new_store(retry);
    let mut r = Registry::new(store.clone(), Some(MasterKeySource::Key(key.clone())));
    two_orgs(&mut r);
    let a = keypair("A");
    let b = keypair("B");
    r.add_server(
        Some("Contoso"),
        "A",
        a.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    r.add_server(
        Some("Contoso"),
        "B",
        b.clone(),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    r.install_token(
        Some("Contoso"),
        "A",
        "a.p7m",
        &token_file(&a, "CK_a", NOW + Duration::days(99)),
        InstallOptions::default(),
        NOW,
    )
    .unwrap();
    assert!(r.is_encrypted().unwrap());
    assert!(!store.inner().holds_bytes(b"PRIVATE KEY"));
    assert!(!store.inner().holds_bytes(b"CS_secret_marker"));
    // Without the key: listing works, secrets do not.
    let mut keyless = Registry::new(store.clone(), None);
    assert_eq!(
        keyless
            .servers(None, &ExpiryPolicy::default(), NOW)
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        keyless.token(Some("Contoso"), "A"),
        Err(RegistryError::MasterKey(MasterKeyError::Required))
    ));
    // A wrong key is told at once.
    let mut wrong = Registry::new(
        store.clone(),
        Some(MasterKeySource::Key(MasterKey::generate().unwrap())),
    );
    assert!(matches!(
        wrong.unlock(),
        Err(RegistryError::MasterKey(MasterKeyError::Wrong))
    ));
    // Swapping B's sealed key into A's row does not open.
    let mut raw = store.clone();
    raw.write(|tx| {
        let b_row = tx.server(1, "b")?.unwrap();
        let mut a_row = tx.server(1, "a")?.unwrap();
        a_row.private_key = b_row.private_key.clone();
        tx.update_server(&a_row)
    })
    .unwrap();
    let err = r
        .access_management_jwt(
            Some("Contoso"),
            "A",
            NOW,
            "j",
            &mut crate::SystemRng::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::MasterKey(MasterKeyError::Open {
                field: SecretField::PrivateKey,
                ..
            })
        ),
        "{err}"
    );
}

fn a_passphrase_is_derived_once_and_rekey_moves_every_secret(retry: bool) {
    crate::store::master_key::DERIVATIONS.with(|d| d.set(0));
    let pass = MasterKeySource::Passphrase(SecretString::new("correct horse".into()));
    let store = new_store(retry);
    let mut r = Registry::new(store.clone(), Some(pass.clone())).with_kdf_params(FAST);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    for name in ["A", "B", "C"] {
        let kp = keypair(name);
        r.add_server(None, name, kp.clone(), ServerOptions::default(), NOW)
            .unwrap();
        r.install_token(
            None,
            name,
            "t.p7m",
            &token_file(&kp, &format!("CK_{name}"), NOW + Duration::days(50)),
            InstallOptions::default(),
            NOW,
        )
        .unwrap();
    }
    r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    r.token(None, "B").unwrap();
    assert_eq!(crate::store::master_key::DERIVATIONS.with(|d| d.get()), 1);
    // A new registry (a new process) derives once more, only when it needs a secret.
    let mut again = Registry::new(store.clone(), Some(pass.clone()));
    again.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    assert_eq!(crate::store::master_key::DERIVATIONS.with(|d| d.get()), 1);
    again.token(None, "A").unwrap();
    assert_eq!(crate::store::master_key::DERIVATIONS.with(|d| d.get()), 2);
    // Rekey to a raw key: the passphrase no longer opens the store.
    let key = MasterKey::generate().unwrap();
    assert_eq!(r.rekey(Some(MasterKeySource::Key(key.clone()))).unwrap(), 3);
    let mut by_key = Registry::new(store.clone(), Some(MasterKeySource::Key(key)));
    assert_eq!(
        by_key.token(None, "C").unwrap().unwrap().consumer_key(),
        "CK_C"
    );
    let mut by_pass = Registry::new(store.clone(), Some(pass));
    assert!(by_pass.token(None, "C").is_err());
    // And to no key at all.
    by_key.rekey(None).unwrap();
    assert!(!by_key.is_encrypted().unwrap());
    assert!(
        Registry::new(store, None)
            .token(None, "A")
            .unwrap()
            .is_some()
    );
}

fn a_key_given_to_a_plaintext_store_with_servers_asks_for_rekey(retry: bool) {
    let store = new_store(retry);
    let mut r = Registry::new(store.clone(), None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    r.add_server(None, "A", keypair("A"), ServerOptions::default(), NOW)
        .unwrap();
    let mut keyed = Registry::new(
        store.clone(),
        Some(MasterKeySource::Key(MasterKey::generate().unwrap())),
    );
    assert!(matches!(
        keyed.token(None, "A"),
        Err(RegistryError::NotEncrypted)
    ));
    assert_eq!(
        keyed
            .rekey(Some(MasterKeySource::Key(MasterKey::generate().unwrap())))
            .unwrap(),
        1
    );
    assert!(keyed.is_encrypted().unwrap());
}

fn import_takes_a_pkcs1_key_its_certificate_and_its_token(retry: bool) {
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let kp = keypair("Old MDM");
    let pkcs8 = kp.private_key_pem().unwrap();
    // PKCS#1 as other products write it.
    let pkcs1 = {
        use pkcs1::EncodeRsaPrivateKey as _;
        use pkcs8::DecodePrivateKey as _;
        rsa::PrivateKey::from_pkcs8_pem(&pkcs8)
            .unwrap()
            .to_pkcs1_pem(pkcs1::LineEnding::LF)
            .unwrap()
    };
    let cert = kp.certificate().unwrap().to_pem();
    let file = token_file(&kp, "CK_old", NOW + Duration::days(200));
    let (_, installed) = r
        .import_server(
            None,
            "Old MDM",
            pkcs1.as_bytes(),
            None,
            Some(cert.as_bytes()),
            Some(("Old MDM_Token_2026-01-17T11-02-21Z_smime.p7m", &file)),
            ServerOptions::default(),
            Some("admin@example.com".into()),
            NOW,
        )
        .unwrap();
    assert_eq!(installed.unwrap().expires_at, NOW + Duration::days(200));
    let l = &r.servers(None, &ExpiryPolicy::default(), NOW).unwrap()[0];
    assert_eq!(
        l.summary.token_downloaded_by.as_deref(),
        Some("admin@example.com")
    );
    assert_eq!(
        l.summary.certificate_serial,
        kp.certificate().map(|c| c.serial_hex())
    );
    // A token for another key is refused, and nothing is stored.
    let other = keypair("Other");
    let err = r
        .import_server(
            None,
            "Second",
            pkcs1.as_bytes(),
            None,
            Some(cert.as_bytes()),
            Some(("t.p7m", &token_file(&other, "CK", NOW + Duration::days(9)))),
            ServerOptions::default(),
            None,
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Organization(_) | RegistryError::ImportToken { .. }
        ),
        "{err}"
    );
    // A certificate of another key is refused.
    let err = r
        .import_server(
            None,
            "Third",
            pkcs1.as_bytes(),
            None,
            Some(other.certificate().unwrap().to_pem().as_bytes()),
            None,
            ServerOptions::default(),
            None,
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ImportCertificate { .. }),
        "{err}"
    );
    assert_eq!(
        r.servers(None, &ExpiryPolicy::default(), NOW)
            .unwrap()
            .len(),
        1
    );
}

/// The registry's twin of `Organization::record_user_event` marks the same
/// servers as the model, with the same rule (the downloader's address,
/// ignoring case), and only in the organization named.
fn a_user_event_marks_what_the_model_marks(retry: bool) {
    let mut r = registry(retry, None);
    two_orgs(&mut r);
    let mut model = Organization::new("Contoso", Portal::BusinessManager);
    let downloads = [
        ("A", Some("Admin@Contoso.example")),
        ("B", Some("other@contoso.example")),
        ("C", None),
    ];
    for (name, by) in downloads {
        let kp = keypair(name);
        let file = token_file(&kp, &format!("CK_{name}"), NOW + Duration::days(300));
        let options = InstallOptions {
            downloaded_by: by.map(str::to_owned),
            ..InstallOptions::default()
        };
        r.add_server(
            Some("Contoso"),
            name,
            kp.clone(),
            ServerOptions::default(),
            NOW,
        )
        .unwrap();
        r.install_token(Some("Contoso"), name, "t.p7m", &file, options.clone(), NOW)
            .unwrap();
        model
            .add_server(name, kp, ServerOptions::default(), NOW)
            .unwrap();
        model.install_token(name, &file, options, NOW).unwrap();
    }
    // The same address downloads in another organization: not touched.
    let kp = keypair("F");
    let file = token_file(&kp, "CK_F", NOW + Duration::days(300));
    r.add_server(Some("Fabrikam"), "F", kp, ServerOptions::default(), NOW)
        .unwrap();
    r.install_token(
        Some("Fabrikam"),
        "F",
        "t.p7m",
        &file,
        InstallOptions::default().with_downloaded_by("admin@contoso.example"),
        NOW,
    )
    .unwrap();

    let at = NOW + Duration::days(1);
    let reason = ReplacementReason::DownloaderPasswordChanged;
    let expected = model.record_user_event("admin@contoso.example", reason, at);
    assert_eq!(expected, ["A"]);
    let affected = r
        .record_user_event(Some("Contoso"), "admin@contoso.example", reason, at)
        .unwrap();
    assert_eq!(affected, expected);
    let listed = r.servers(None, &ExpiryPolicy::default(), at).unwrap();
    let replacement = |org: &str, name: &str| {
        listed
            .iter()
            .find(|l| l.organization == org && l.summary.name == name)
            .unwrap()
            .summary
            .replacement
    };
    assert_eq!(replacement("Contoso", "A"), Some((reason, at)));
    assert_eq!(replacement("Contoso", "B"), None);
    assert_eq!(replacement("Contoso", "C"), None);
    assert_eq!(replacement("Fabrikam", "F"), None);
    assert!(matches!(
        r.record_user_event(Some("Nope"), "a@b", reason, at),
        Err(RegistryError::NotFound(_))
    ));
}

#[test]
fn every_write_runs_again_after_a_failed_commit() {
    // What the `retried` half of this suite relies on: the wrapper really
    // re-runs Registry write bodies, staging a keypair among them (which
    // once moved the keypair out and failed "retried after staging").
    let store = new_store(true);
    let mut r = Registry::new(store.clone(), None).with_kdf_params(FAST);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    r.add_server(None, "A", keypair("A"), ServerOptions::default(), NOW)
        .unwrap();
    let before = store.retried();
    r.stage_keypair(None, "A", keypair("A2"), false, NOW)
        .unwrap();
    assert_eq!(store.retried(), before + 1);
    let listed = r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    assert!(listed[0].summary.staged_at.is_some());
    assert_eq!(listed[0].summary.certificate_count(), 2);
}

/// One `#[test]` per name in `plain` (a memory store) and in `retried`
/// (every write's first attempt fails and runs again).
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {
        mod plain {
            $(#[test]
            fn $name() {
                super::$name(false);
            })*
        }
        mod retried {
            $(#[test]
            fn $name() {
                super::$name(true);
            })*
        }
    };
}

both_ways!(
    two_customers_may_each_have_a_main_mdm,
    install_list_and_needs_action_across_organizations,
    rotation_stages_promotes_and_discards,
    secrets_are_sealed_bound_to_their_row_and_need_the_key,
    a_passphrase_is_derived_once_and_rekey_moves_every_secret,
    a_key_given_to_a_plaintext_store_with_servers_asks_for_rekey,
    import_takes_a_pkcs1_key_its_certificate_and_its_token,
    a_user_event_marks_what_the_model_marks,
);
