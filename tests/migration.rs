//! A store written by mdmlink 0.1.0 (tests/fixtures/store-v2, made by the
//! 0.1.0 binary) opens in this version with nothing lost.
#![cfg(feature = "sqlite")]

use mdmlink::{
    SecretString, ServerCertificate, ServerToken,
    expiry::{ExpiryPolicy, ReplacementReason},
    organization::{InstallOptions, InstallOutcome},
    store::{
        SCHEMA_VERSION, SqliteStore,
        master_key::MasterKeySource,
        registry::{Registry, RegistryError},
    },
    token::{self, SealOptions},
};
use time::macros::datetime;

fn fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v2");
    for f in ["store.sqlite", "main.pem", "main-new.pem", "lab.pem"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir.join("store.sqlite")
}

fn pass() -> SecretString {
    SecretString::new("fixture passphrase".into())
}

#[test]
fn a_0_1_0_store_converts_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.has_legacy().unwrap());

    // Without the passphrase its keys cannot be read: a clear error, nothing changed.
    let mut keyless = Registry::new(store, None);
    let err = keyless
        .migrate_legacy(None, datetime!(2026-03-02 0:00 UTC))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::LegacyPassphrase { wrong: false, .. }),
        "{err}"
    );
    let wrong = SecretString::new("not it".into());
    let err = keyless
        .migrate_legacy(Some(&wrong), datetime!(2026-03-02 0:00 UTC))
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::LegacyPassphrase { wrong: true, .. }),
        "{err}"
    );
    let mut store = keyless.into_store();
    assert!(store.has_legacy().unwrap());

    // With it: the same passphrase becomes the master key.
    store = {
        let mut r = Registry::new(store, Some(MasterKeySource::Passphrase(pass())));
        let name = r
            .migrate_legacy(Some(&pass()), datetime!(2026-03-02 0:00 UTC))
            .unwrap();
        assert_eq!(name.as_deref(), Some("Northwind"));
        assert!(r.is_encrypted().unwrap());
        r.into_store()
    };
    assert!(!store.has_legacy().unwrap());
    let mut r = Registry::new(store, Some(MasterKeySource::Passphrase(pass())));
    let orgs = r.organizations().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].name, "Northwind");
    assert_eq!(orgs[0].portal, mdmlink::Portal::BusinessManager);

    let now = datetime!(2026-03-02 0:00 UTC);
    let listed = r.servers(None, &ExpiryPolicy::default(), now).unwrap();
    let names: Vec<&str> = listed.iter().map(|l| l.summary.name.as_str()).collect();
    assert_eq!(names, ["Main MDM", "Lab"]);
    let main = &listed[0].summary;
    let cert =
        |f: &str| ServerCertificate::from_pem(&std::fs::read(dir.path().join(f)).unwrap()).unwrap();
    assert_eq!(main.certificate_serial, Some(cert("main.pem").serial_hex()));
    assert_eq!(
        main.staged_certificate_serial,
        Some(cert("main-new.pem").serial_hex())
    );
    assert_eq!(main.staged_at, Some(datetime!(2026-02-01 8:30 UTC)));
    assert_eq!(main.token_expires_at, Some(datetime!(2027-01-05 10:00 UTC)));
    assert_eq!(
        main.token_installed_at,
        Some(datetime!(2026-01-12 9:00 UTC))
    );
    assert_eq!(
        main.token_downloaded_by.as_deref(),
        Some("admin@example.com")
    );
    assert_eq!(
        main.server_uuid.as_deref(),
        Some("6f1b8f4e-1d1e-4c8a-9a0e-3f5c2b7d8e90")
    );
    assert_eq!(main.created_at, Some(datetime!(2026-01-10 9:00 UTC)));
    assert_eq!(main.options.customer.as_deref(), Some("Contoso"));
    assert_eq!(main.options.site.as_deref(), Some("Lyon"));
    assert!(main.options.release_devices);
    assert_eq!(main.replacement, None);
    let lab = &listed[1].summary;
    assert_eq!(
        lab.replacement,
        Some((
            ReplacementReason::DownloaderPasswordChanged,
            datetime!(2026-03-01 10:00 UTC)
        ))
    );
    assert_eq!(listed[1].status.token.unwrap().label(), "must-replace");

    // The token's credentials and the current key came across.
    let token: ServerToken = r.token(None, "Main MDM").unwrap().unwrap();
    assert_eq!(token.consumer_key(), "CK_main");
    assert_eq!(token.consumer_secret(), "CS_main_secret");
    let jwt = r
        .access_management_jwt(
            None,
            "Main MDM",
            now,
            "jti-1",
            &mut mdmlink::SystemRng::default(),
        )
        .unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    // So did the staged key: a token for its certificate promotes it.
    let next = ServerToken::new(
        "CK_main",
        "CS_2",
        "AT_2",
        "AS_2",
        datetime!(2027-03-01 0:00 UTC),
    )
    .unwrap();
    let file = token::seal(
        &next,
        &cert("main-new.pem"),
        SealOptions::default(),
        &mut mdmlink::SystemRng::default(),
    )
    .unwrap();
    let installed = r
        .install_token(
            None,
            "Main MDM",
            "t.p7m",
            &file,
            InstallOptions::default(),
            now,
        )
        .unwrap();
    assert_eq!(installed.report.outcome, InstallOutcome::KeyPromoted);
    // A second open converts nothing.
    assert_eq!(r.migrate_legacy(Some(&pass()), now).unwrap(), None);
}
