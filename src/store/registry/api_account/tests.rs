use time::{OffsetDateTime, macros::datetime};

use super::*;
use crate::{
    ServerKeypair,
    expiry::ExpiryPolicy,
    keypair::{CertificateParams, KeySize},
    organization::ServerOptions,
    portal::Portal,
    portal_api::ApiAccountError,
    store::{
        MemoryStore,
        conformance::FirstAttemptFails,
        master_key::{KdfParams, MasterKey, MasterKeyError, MasterKeySource},
    },
};

const NOW: OffsetDateTime = datetime!(2026-01-17 11:02:21 UTC);
const FAST: KdfParams = KdfParams {
    log_n: 10,
    r: 8,
    p: 1,
};

type TestStore = FirstAttemptFails<MemoryStore>;

fn registry(retry: bool, key: Option<MasterKeySource>) -> Registry<TestStore> {
    Registry::new(FirstAttemptFails::new(MemoryStore::new(), retry), key).with_kdf_params(FAST)
}

fn master_key() -> MasterKeySource {
    MasterKeySource::Key(MasterKey::generate().unwrap())
}

fn account(client_id: &str, key_id: &str) -> ApiAccount {
    let key = ApiKey::generate(&mut crate::SystemRng::default()).unwrap();
    ApiAccount::new(client_id, key_id, key).unwrap()
}

/// The key's 32-byte private scalar: what must never be stored in clear.
fn scalar(account: &ApiAccount) -> Vec<u8> {
    use p256::pkcs8::DecodePrivateKey as _;
    let der = account.key().to_pkcs8_der().unwrap();
    p256::SecretKey::from_pkcs8_der(&der)
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn same_key(a: &ApiAccount, b: &ApiAccount) -> bool {
    a.key().verifying_key() == b.key().verifying_key()
}

fn an_account_is_sealed_and_replaced_only_when_asked(retry: bool) {
    let mut r = registry(retry, Some(master_key()));
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let first = account("BUSINESSAPI.2f4e8a0c", "KEY1");
    let listed = r.set_api_account(None, &first, false, NOW).unwrap();
    assert_eq!(
        (listed.organization.as_str(), listed.client_id.as_str()),
        ("Contoso", "BUSINESSAPI.2f4e8a0c")
    );
    let back = r.api_account(Some("contoso")).unwrap();
    assert!(same_key(&back, &first));
    assert_eq!(
        (back.client_id(), back.key_id(), back.scope()),
        ("BUSINESSAPI.2f4e8a0c", "KEY1", ApiScope::Business)
    );
    let store = r.store_mut().inner().clone();
    assert!(
        !store.holds_bytes(&scalar(&first)),
        "the key is stored in clear"
    );
    assert!(!store.holds_bytes(&first.key().to_pkcs8_der().unwrap()));

    // A second account is refused unless replacing is asked for.
    let second = account("BUSINESSAPI.99aa", "KEY2");
    let err = r.set_api_account(None, &second, false, NOW).unwrap_err();
    assert!(
        matches!(err, RegistryError::ApiAccountExists { ref organization, ref client_id }
            if organization == "Contoso" && client_id == "BUSINESSAPI.2f4e8a0c"),
        "{err}"
    );
    assert!(same_key(&r.api_account(None).unwrap(), &first));
    let later = NOW + time::Duration::days(1);
    r.set_api_account(None, &second, true, later).unwrap();
    let back = r.api_account(None).unwrap();
    assert!(same_key(&back, &second));
    assert_eq!(back.key_id(), "KEY2");
    assert!(!store.holds_bytes(&scalar(&second)));

    let listings = r.api_accounts().unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].created_at, later);
    let json = serde_json::to_value(&listings).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "organization": "Contoso",
            "client_id": "BUSINESSAPI.99aa",
            "key_id": "KEY2",
            "scope": "business.api",
            "created_at": "2026-01-18T11:02:21Z",
        }])
    );

    // Without the master key the key does not open; the listing needs none.
    let mut locked = Registry::new(store.clone(), None);
    assert!(matches!(
        locked.api_account(None),
        Err(RegistryError::MasterKey(MasterKeyError::Required))
    ));
    assert_eq!(locked.api_accounts().unwrap(), listings);
    let mut wrong = Registry::new(store, Some(master_key()));
    assert!(matches!(
        wrong.api_account(None),
        Err(RegistryError::MasterKey(MasterKeyError::Wrong))
    ));
}

fn the_scope_must_match_the_portal(retry: bool) {
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    r.add_organization("Fabrikam", Portal::SchoolManager, None, NOW)
        .unwrap();
    r.add_organization("Northwind", Portal::BusinessEssentials, None, NOW)
        .unwrap();
    let school = account("SCHOOLAPI.1234", "K");
    let business = account("BUSINESSAPI.1234", "K");
    for (org, account, portal) in [
        ("Contoso", &school, Portal::BusinessManager),
        ("Northwind", &school, Portal::BusinessEssentials),
        ("Fabrikam", &business, Portal::SchoolManager),
    ] {
        let err = r
            .set_api_account(Some(org), account, false, NOW)
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::ApiAccount(ApiAccountError::WrongPortal { portal: p, scope })
                if p == portal && scope == account.scope()),
            "{org}: {err}"
        );
        assert!(err.to_string().contains(account.scope().as_str()), "{err}");
    }
    assert!(r.api_accounts().unwrap().is_empty());
    r.set_api_account(Some("Fabrikam"), &school, false, NOW)
        .unwrap();
    r.set_api_account(Some("Northwind"), &business, false, NOW)
        .unwrap();
    r.set_api_account(Some("Contoso"), &business, false, NOW)
        .unwrap();
    let names: Vec<String> = r
        .api_accounts()
        .unwrap()
        .into_iter()
        .map(|l| format!("{} {}", l.organization, l.scope))
        .collect();
    assert_eq!(
        names,
        [
            "Contoso business.api",
            "Fabrikam school.api",
            "Northwind business.api"
        ]
    );
    // Several organizations and none named: the usual question.
    assert!(matches!(
        r.api_account(None),
        Err(RegistryError::OrganizationRequired(_))
    ));
}

fn removing_the_account_or_its_organization(retry: bool) {
    let mut r = registry(retry, Some(master_key()));
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    r.add_organization("Fabrikam", Portal::BusinessManager, None, NOW)
        .unwrap();
    let a = account("BUSINESSAPI.aa", "K");
    r.set_api_account(Some("Contoso"), &a, false, NOW).unwrap();
    r.set_api_account(
        Some("Fabrikam"),
        &account("BUSINESSAPI.bb", "K"),
        false,
        NOW,
    )
    .unwrap();
    let removed = r.remove_api_account(Some("Contoso")).unwrap();
    assert_eq!(removed.client_id, "BUSINESSAPI.aa");
    for err in [
        r.remove_api_account(Some("Contoso")).unwrap_err(),
        r.api_account(Some("Contoso")).unwrap_err(),
    ] {
        assert!(
            matches!(err, RegistryError::NotFound(ref n) if n.missing() == Missing::ApiAccount),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "organization \"Contoso\" has no API account"
        );
    }
    // Removing an organization (no servers) takes its API account along.
    let mut store = r.store_mut().inner().clone();
    let fabrikam_key = scalar(&r.api_account(Some("Fabrikam")).unwrap());
    r.remove_organization("Fabrikam", false).unwrap();
    assert!(r.api_accounts().unwrap().is_empty());
    assert!(store.read(|tx| tx.list_api_accounts()).unwrap().is_empty());
    assert!(!store.holds_bytes(&fabrikam_key));
    // And a new organization of that name starts without one.
    r.add_organization("Fabrikam", Portal::BusinessManager, None, NOW)
        .unwrap();
    assert!(matches!(
        r.api_account(Some("Fabrikam")),
        Err(RegistryError::NotFound(_))
    ));
}

fn rekey_and_copy_reseal_the_api_key(retry: bool) {
    // A store without a master key keeps the key in plaintext form...
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let a = account("BUSINESSAPI.aa", "K");
    r.set_api_account(None, &a, false, NOW).unwrap();
    let store = r.store_mut().inner().clone();
    assert!(store.holds_bytes(&a.key().to_pkcs8_der().unwrap()));
    // ...so a key given later asks for a rekey rather than enrolling.
    let key = master_key();
    let mut keyed = Registry::new(store.clone(), Some(key.clone()));
    assert!(matches!(
        keyed.api_account(None),
        Err(RegistryError::NotEncrypted)
    ));
    assert_eq!(r.rekey(Some(key.clone())).unwrap(), 0);
    assert!(!store.holds_bytes(&scalar(&a)));
    let mut keyed = Registry::new(store.clone(), Some(key.clone()));
    assert!(same_key(&keyed.api_account(None).unwrap(), &a));
    // Copied into another store: re-sealed for its ids, opens there.
    let mut target = MemoryStore::new();
    let mut source = store.clone();
    let report = crate::store::copy::copy(&mut source, &mut target, Some(&key)).unwrap();
    assert_eq!((report.api_accounts, report.secrets), (1, 1));
    assert!(!target.holds_bytes(&scalar(&a)));
    let mut copied = Registry::new(target, Some(key));
    assert!(same_key(&copied.api_account(Some("Contoso")).unwrap(), &a));
    // Back to plaintext with --decrypt's call.
    r.rekey(None).unwrap();
    let mut plain = Registry::new(store, None);
    assert!(same_key(&plain.api_account(None).unwrap(), &a));
}

fn the_portal_server_id_is_kept_with_the_server(retry: bool) {
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let kp = |name: &str| {
        ServerKeypair::generate(
            &mut crate::SystemRng::default(),
            KeySize::Rsa2048,
            &CertificateParams::new(name, NOW),
        )
        .unwrap()
    };
    r.add_server(
        None,
        "Main MDM",
        kp("Main MDM"),
        ServerOptions::default(),
        NOW,
    )
    .unwrap();
    let id_of = |r: &mut Registry<TestStore>| {
        r.servers(None, &ExpiryPolicy::default(), NOW).unwrap()[0]
            .summary
            .portal_server_id
            .clone()
    };
    assert_eq!(id_of(&mut r), None);
    r.set_portal_server_id(None, "main mdm", Some("1F97349736CF4614A94F624E705841AD"))
        .unwrap();
    // A change through the organization model keeps it.
    r.stage_keypair(None, "Main MDM", kp("Main MDM"), false, NOW)
        .unwrap();
    assert_eq!(
        id_of(&mut r).as_deref(),
        Some("1F97349736CF4614A94F624E705841AD")
    );
    let listed = r.servers(None, &ExpiryPolicy::default(), NOW).unwrap();
    assert_eq!(
        listed[0].to_json()["portal_server_id"],
        "1F97349736CF4614A94F624E705841AD"
    );
    for bad in ["", "has space", &"x".repeat(257)] {
        assert!(matches!(
            r.set_portal_server_id(None, "Main MDM", Some(bad)),
            Err(RegistryError::InvalidPortalServerId { .. })
        ));
    }
    r.set_portal_server_id(None, "Main MDM", None).unwrap();
    assert_eq!(id_of(&mut r), None);
    assert_eq!(r.portal_server_id(None, "main mdm").unwrap(), None);
}

fn a_server_created_through_the_api_is_added_with_its_portal_id(retry: bool) {
    let mut r = registry(retry, None);
    r.add_organization("Contoso", Portal::BusinessManager, None, NOW)
        .unwrap();
    let kp = |name: &str| {
        ServerKeypair::generate(
            &mut crate::SystemRng::default(),
            KeySize::Rsa2048,
            &CertificateParams::new(name, NOW),
        )
        .unwrap()
    };
    r.add_server_linked(
        None,
        "Main MDM",
        kp("Main MDM"),
        ServerOptions::default(),
        "2C4E6A8B0D1F3A5C7E9B1D3F5A7C9E0B",
        NOW,
    )
    .unwrap();
    assert_eq!(
        r.portal_server_id(None, "MAIN MDM").unwrap().as_deref(),
        Some("2C4E6A8B0D1F3A5C7E9B1D3F5A7C9E0B")
    );
    // A bad id is refused before anything is written.
    assert!(matches!(
        r.add_server_linked(
            None,
            "Lab",
            kp("Lab"),
            ServerOptions::default(),
            "not an id",
            NOW
        ),
        Err(RegistryError::InvalidPortalServerId { .. })
    ));
    assert!(r.portal_server_id(None, "Lab").is_err());
    // A duplicate name is refused as by `add_server`.
    assert!(
        r.add_server_linked(
            None,
            "main mdm",
            kp("main mdm"),
            ServerOptions::default(),
            "AA",
            NOW
        )
        .is_err()
    );
    assert_eq!(
        r.servers(None, &ExpiryPolicy::default(), NOW)
            .unwrap()
            .len(),
        1
    );
}

/// One `#[test]` per name on a memory store, and on one whose write
/// transactions all fail their first attempt (every write body runs twice).
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
    an_account_is_sealed_and_replaced_only_when_asked,
    the_scope_must_match_the_portal,
    removing_the_account_or_its_organization,
    rekey_and_copy_reseal_the_api_key,
    the_portal_server_id_is_kept_with_the_server,
    a_server_created_through_the_api_is_added_with_its_portal_id,
);
