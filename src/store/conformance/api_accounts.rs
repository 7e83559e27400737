//! The conformance checks of an organization's API account rows: one per
//! organization, removed with it, the key kept as the sealed bytes given and
//! gone once removed or replaced.

use super::{NOW, StoreFactory, add_org, insert, server_row};
use crate::portal_api::ApiScope;
use crate::store::{
    ApiAccountRow, OrganizationId, SealedSecret, StoreError, StoreExt,
    master_key::{MasterKey, MasterKeyError, Sealer},
};

/// An API account row for `organization` whose key is `sealed` (opaque bytes).
pub fn api_account_row(organization: OrganizationId, sealed: &[u8]) -> ApiAccountRow {
    ApiAccountRow {
        organization_id: organization,
        client_id: "BUSINESSAPI.2f4e8a0c-3b1d-4c6e-9a7f-5d8b0e1c2a3f".into(),
        key_id: "d4c3b2a1-0f9e-8d7c-6b5a-493827161504".into(),
        scope: ApiScope::Business,
        created_at: NOW,
        private_key: SealedSecret::from_bytes(sealed.to_vec()),
    }
}

fn random_marker() -> [u8; 32] {
    let mut marker = [0u8; 32];
    getrandom::fill(&mut marker).unwrap();
    marker
}

pub fn api_account_round_trip(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let mut c = f.connect();
    let contoso = add_org(&mut *s, "Contoso");
    let fabrikam = add_org(&mut *s, "Fabrikam");
    assert_eq!(s.read(|tx| tx.api_account(contoso)).unwrap(), None);
    assert!(s.read(|tx| tx.list_api_accounts()).unwrap().is_empty());

    let row = api_account_row(contoso, b"MK1 sealed key of contoso");
    s.write(|tx| tx.insert_api_account(&row)).unwrap();
    assert_eq!(
        c.read(|tx| tx.api_account(contoso)).unwrap().as_ref(),
        Some(&row),
        "every column round-trips"
    );
    assert_eq!(c.read(|tx| tx.api_account(fabrikam)).unwrap(), None);

    // One per organization, whoever asks.
    let err = c
        .write(|tx| tx.insert_api_account(&api_account_row(contoso, b"MK1 another")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ApiAccountExists { organization } if organization == contoso),
        "{err}"
    );
    assert_eq!(
        s.read(|tx| tx.api_account(contoso)).unwrap(),
        Some(row.clone())
    );

    // A School Manager account elsewhere; listed by organization.
    let mut school = api_account_row(fabrikam, b"MK1 sealed key of fabrikam");
    school.client_id = "SCHOOLAPI.6a1f0c2e-0000-4000-8000-000000000002".into();
    school.scope = ApiScope::School;
    s.write(|tx| tx.insert_api_account(&school)).unwrap();
    let listed = c.read(|tx| tx.list_api_accounts()).unwrap();
    assert_eq!(listed, [row.clone(), school.clone()]);

    // Update replaces every column.
    let mut replaced = api_account_row(contoso, b"MK1 the replacement");
    replaced.key_id = "KEY2".into();
    replaced.created_at = NOW + time::Duration::days(3);
    s.write(|tx| tx.update_api_account(&replaced)).unwrap();
    assert_eq!(
        c.read(|tx| tx.api_account(contoso)).unwrap(),
        Some(replaced.clone())
    );

    // A failed body writes nothing; a read transaction writes nothing.
    let err = s
        .write(|tx| {
            tx.delete_api_account(contoso)?;
            Err::<(), _>(StoreError::InvalidName("stop".into()))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidName(_)), "{err}");
    assert!(c.read(|tx| tx.api_account(contoso)).unwrap().is_some());
    let err = s.read(|tx| tx.delete_api_account(contoso)).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");

    // Delete; then deleting or updating again is NotFound.
    s.write(|tx| tx.delete_api_account(contoso)).unwrap();
    assert_eq!(c.read(|tx| tx.api_account(contoso)).unwrap(), None);
    for err in [
        s.write(|tx| tx.delete_api_account(contoso)).unwrap_err(),
        s.write(|tx| tx.update_api_account(&replaced)).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::NotFound(ref n) if n.missing() == crate::not_found::Missing::ApiAccount),
            "{err}"
        );
    }
    assert_eq!(c.read(|tx| tx.list_api_accounts()).unwrap(), [school]);
    // An organization that does not exist has no account to add.
    let err = s
        .write(|tx| tx.insert_api_account(&api_account_row(fabrikam + 1000, b"MK1 x")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(ref n) if n.missing() == crate::not_found::Missing::Organization),
        "{err}"
    );
}

pub fn api_account_goes_with_its_organization(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let contoso = add_org(&mut *s, "Contoso");
    let fabrikam = add_org(&mut *s, "Fabrikam");
    let marker = random_marker();
    s.write(|tx| tx.insert_api_account(&api_account_row(contoso, &marker)))
        .unwrap();
    let kept = api_account_row(fabrikam, b"MK1 kept");
    s.write(|tx| tx.insert_api_account(&kept)).unwrap();
    assert!(
        f.holds_bytes(&marker),
        "holds_bytes does not find a stored API key, so this test could not fail"
    );
    s.write(|tx| tx.delete_organization(contoso)).unwrap();
    assert_eq!(s.read(|tx| tx.api_account(contoso)).unwrap(), None);
    assert_eq!(s.read(|tx| tx.list_api_accounts()).unwrap(), [kept]);
    drop(s);
    assert!(
        !f.holds_bytes(&marker),
        "a removed organization's API key is still in the store"
    );
}

pub fn api_account_key_leaves_no_trace(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let org = add_org(&mut *s, "Contoso");
    let first = random_marker();
    s.write(|tx| tx.insert_api_account(&api_account_row(org, &first)))
        .unwrap();
    assert!(f.holds_bytes(&first));
    let second = random_marker();
    s.write(|tx| tx.update_api_account(&api_account_row(org, &second)))
        .unwrap();
    assert!(f.holds_bytes(&second));
    s.write(|tx| tx.delete_api_account(org)).unwrap();
    drop(s);
    assert!(
        !f.holds_bytes(&first),
        "a replaced API key is still in the store"
    );
    assert!(
        !f.holds_bytes(&second),
        "a removed API key is still in the store"
    );
}

pub fn api_account_key_is_sealed_to_its_row(f: &dyn StoreFactory) {
    let mut s = f.connect();
    let contoso = add_org(&mut *s, "Contoso");
    let fabrikam = add_org(&mut *s, "Fabrikam");
    let store_id = s.read(|tx| tx.store_id()).unwrap();
    let sealer = Sealer::new(store_id, Some(MasterKey::generate().unwrap()));
    let key = random_marker();
    let sealed = sealer.seal_api_key(contoso, &key).unwrap();
    let mut row = api_account_row(contoso, b"");
    row.private_key = sealed.clone();
    s.write(|tx| tx.insert_api_account(&row)).unwrap();
    assert!(
        f.holds_bytes(&sealed.as_bytes()[3..35]),
        "holds_bytes does not find the sealed key, so this test could not fail"
    );
    assert!(!f.holds_bytes(&key), "the key is stored in clear");
    let stored = s.read(|tx| tx.api_account(contoso)).unwrap().unwrap();
    assert_eq!(
        sealer
            .open_api_key(contoso, &stored.private_key)
            .unwrap()
            .as_slice(),
        key
    );
    // Moved to another organization's account: it does not open there.
    let mut moved = stored.clone();
    moved.organization_id = fabrikam;
    s.write(|tx| tx.insert_api_account(&moved)).unwrap();
    let there = s.read(|tx| tx.api_account(fabrikam)).unwrap().unwrap();
    assert_eq!(
        sealer.open_api_key(fabrikam, &there.private_key),
        Err(MasterKeyError::ApiKeyOpen {
            organization: fabrikam
        })
    );
    // Moved into a server's key column: it does not open there either.
    let mut server = server_row(contoso, "Main MDM", 1);
    server.private_key = Some(stored.private_key.clone());
    let id = insert(&mut *s, &server).unwrap();
    let back = s
        .read(|tx| tx.server(contoso, "main mdm"))
        .unwrap()
        .unwrap();
    for field in crate::store::SecretField::ALL {
        assert!(
            sealer
                .open(contoso, id, field, back.private_key.as_ref().unwrap())
                .is_err()
        );
    }
}
