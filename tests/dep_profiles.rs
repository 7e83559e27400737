//! Profiles and the calls that act on serial numbers, against the simulator
//! over real HTTP on 127.0.0.1.
#![cfg(all(feature = "simulator", feature = "http"))]

use mdmlink::dep::{
    DeviceStatus, ServiceCode,
    client::DepClient,
    profile::{ActivationLockRequest, ProfileDefinition},
    syncer::Syncer,
};
use mdmlink::session::simulator::{SimulatedAccount, Simulator};
use mdmlink::token::ServerToken;
use time::{Duration, OffsetDateTime};

const CK: &str = "CK_prof";

fn start(devices: u32) -> (Simulator, DepClient) {
    let token = ServerToken::new(
        CK,
        "CS",
        "AT",
        "AS",
        OffsetDateTime::now_utc() + Duration::days(300),
    )
    .unwrap();
    let sim = Simulator::start(vec![
        SimulatedAccount::new(token.clone(), "Lab").with_devices(devices, 7),
    ])
    .unwrap();
    let client = DepClient::new(token, &sim.base_url()).unwrap();
    (sim, client)
}

#[test]
fn define_read_and_assign_2500_serials_in_three_requests() {
    let (sim, client) = start(3_000);
    let mut profile = ProfileDefinition::new("Lab iPads", "https://mdm.example.com/enroll");
    profile.set("is_supervised", true.into());
    let defined = client.define_profile(&profile).unwrap();
    assert!(!defined.profile_uuid.is_empty());
    let read = client.get_profile(&defined.profile_uuid).unwrap();
    assert_eq!(read.name(), "Lab iPads");
    assert_eq!(read.fields()["is_supervised"], true);

    let serials = sim.seeded_serials(CK, 2_500);
    let result = client
        .assign_profile(&defined.profile_uuid, &serials)
        .unwrap();
    assert_eq!(result.requests, 3);
    assert_eq!(sim.requests("/profile/devices"), 3);
    assert_eq!(result.devices.len(), 2_500);
    assert!(result.all_succeeded());
    assert_eq!(result.profile_uuid, defined.profile_uuid);

    // The assignment shows in the device records and in sync.
    let details = client.device_details(&serials[..2]).unwrap();
    assert_eq!(
        details[&serials[0]].profile_uuid.as_deref(),
        Some(defined.profile_uuid.as_str())
    );
    assert_eq!(
        details[&serials[0]].profile_status.as_deref(),
        Some("assigned")
    );
    let step = Syncer::new()
        .step(&client, None, OffsetDateTime::now_utc())
        .unwrap();
    assert!(
        step.page
            .devices
            .iter()
            .any(|d| d.profile_uuid.as_deref() == Some(defined.profile_uuid.as_str()))
    );

    let removed = client.remove_profile(&serials[..3]).unwrap();
    assert!(removed.all_succeeded());
    let details = client.device_details(&serials[..1]).unwrap();
    assert_eq!(
        details[&serials[0]].profile_status.as_deref(),
        Some("empty")
    );
}

#[test]
fn per_serial_statuses_throttled_and_not_accessible() {
    let (sim, client) = start(10);
    let defined = client
        .define_profile(&ProfileDefinition::new("P", "https://m/e"))
        .unwrap();
    let mut serials = sim.seeded_serials(CK, 4);
    sim.throttle_serials(CK, &serials[..2]);
    serials.push("NOTMINE00001".into());
    let result = client
        .assign_profile(&defined.profile_uuid, &serials)
        .unwrap();
    assert_eq!(result.throttled().count(), 2);
    assert_eq!(result.devices["NOTMINE00001"], DeviceStatus::NotAccessible);
    assert_eq!(result.devices[&serials[2]], DeviceStatus::Success);
    assert!(!result.all_succeeded());
    // A definition that lists devices answers per device too.
    let mut with_devices = ProfileDefinition::new("Q", "https://m/e");
    with_devices.set("devices", serde_json::json!([serials[3], "NOTMINE00002"]));
    let defined = client.define_profile(&with_devices).unwrap();
    assert_eq!(defined.devices[&serials[3]], DeviceStatus::Success);
    assert_eq!(defined.devices["NOTMINE00002"], DeviceStatus::NotAccessible);
}

#[test]
fn profile_and_serial_errors() {
    let (sim, client) = start(5);
    let err = client
        .assign_profile("0000-UNKNOWN", &["S00700000001"])
        .unwrap_err();
    assert_eq!(err.code(), Some(&ServiceCode::ProfileNotFound));
    assert!(
        err.to_string().contains("define the profile again"),
        "{err}"
    );
    let err = client.get_profile("0000-UNKNOWN").unwrap_err();
    assert_eq!(err.code(), Some(&ServiceCode::ProfileNotFound));
    // Refused before any request: no serials, a bad serial.
    let before = sim.requests("/profile/devices");
    assert!(client.assign_profile::<&str>("P", &[]).is_err());
    assert!(client.assign_profile("P", &["has space"]).is_err());
    assert_eq!(sim.requests("/profile/devices"), before);
}

#[test]
fn disown_and_activation_lock() {
    let (sim, client) = start(5);
    let serials = sim.seeded_serials(CK, 2);
    let lock = client
        .disable_activation_lock(&ActivationLockRequest::new(&serials[0]))
        .unwrap();
    assert_eq!(lock.response_status, DeviceStatus::Success);
    let disowned = client.disown_devices(&serials[..1]).unwrap();
    assert!(disowned.all_succeeded());
    assert_eq!(sim.device_count(CK), 4);
    let details = client.device_details(&serials).unwrap();
    assert_eq!(
        details[&serials[0]].response_status,
        Some(DeviceStatus::NotAccessible)
    );
    assert_eq!(
        details[&serials[1]].response_status,
        Some(DeviceStatus::Success)
    );
    assert!(details[&serials[1]].device_family.is_some());
}
