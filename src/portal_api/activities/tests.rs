use super::*;
use crate::portal_api::document::{SingleDocument, parse};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
}

#[test]
fn bodies_are_apples() {
    let body = ActivityRequest::assign("1F97", &["XABC123X0ABC123X0"])
        .body(ApiScope::School, now())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"data":{"type":"orgDeviceActivities","attributes":{"activityType":"ASSIGN_DEVICES"},"relationships":{"mdmServer":{"data":{"type":"mdmServers","id":"1F97"}},"devices":{"data":[{"type":"orgDevices","id":"XABC123X0ABC123X0"}]}}}})
    );
    let deadline = now() + Duration::days(30);
    let r = ActivityRequest::new(
        ActivityType::AssignDevicesWithMdmMigrationDeadline,
        Some("1F97"),
        &["A1"],
        Some(deadline),
    );
    let v: serde_json::Value =
        serde_json::from_slice(&r.body(ApiScope::Business, now()).unwrap()).unwrap();
    assert_eq!(
        v["data"]["attributes"]["activityType"],
        "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE"
    );
    assert_eq!(
        v["data"]["attributes"]["activityTypeMetadata"]["mdmMigrationDeadlineDateTime"],
        "2026-06-27T20:26:40Z"
    );
    let r = ActivityRequest::new(ActivityType::CancelMdmMigration, None, &["A1"], None);
    let v: serde_json::Value =
        serde_json::from_slice(&r.body(ApiScope::School, now()).unwrap()).unwrap();
    assert!(v["data"]["relationships"].get("mdmServer").is_none());
}

#[test]
fn bad_requests_are_refused_before_sending() {
    let e = ActivityRequest::release(&["A1"])
        .check(ApiScope::School, now())
        .unwrap_err();
    assert!(matches!(e, PortalApiError::BusinessOnly { .. }), "{e}");
    assert!(
        ActivityRequest::release(&["A1"])
            .check(ApiScope::Business, now())
            .is_ok()
    );
    let far = now() + Duration::days(91);
    let r = ActivityRequest::new(
        ActivityType::AssignDevicesWithMdmMigrationDeadline,
        Some("1"),
        &["A1"],
        Some(far),
    );
    assert!(
        r.check(ApiScope::Business, now())
            .unwrap_err()
            .to_string()
            .contains("90 days")
    );
    let r = ActivityRequest::new(ActivityType::AssignDevices, None, &["A1"], None);
    assert!(r.check(ApiScope::Business, now()).is_err());
    let none: [&str; 0] = [];
    assert!(
        ActivityRequest::assign("1", &none)
            .check(ApiScope::Business, now())
            .is_err()
    );
    let many = vec!["A1"; 1001];
    assert!(
        ActivityRequest::assign("1", &many)
            .check(ApiScope::Business, now())
            .is_err()
    );
    assert!(
        ActivityRequest::assign("1", &["A 1"])
            .check(ApiScope::Business, now())
            .is_err()
    );
}

#[test]
fn outcome_and_backoff() {
    let body = br#"{"data":{"type":"orgDeviceActivities","id":"84d7f133","attributes":{"status":"COMPLETED","subStatus":"COMPLETED_WITH_SUCCESS","createdDateTime":"2025-05-01T18:22:27.106Z","completedDateTime":"2025-05-01T18:22:38.894Z","downloadUrl":"https://store.blobstore.apple.com/x.csv"},"links":{"self":"x"}},"links":{"self":"x"}}"#;
    let doc: SingleDocument<ActivityAttributes> = parse(body, "activity").unwrap();
    let o = ActivityOutcome::from_resource(&doc.data).unwrap();
    assert!(o.status.is_final() && o.succeeded());
    assert_eq!(
        o.log_url.as_deref(),
        Some("https://store.blobstore.apple.com/x.csv")
    );
    let p = FollowPolicy::default();
    let waits: Vec<f64> = (0..12).map(|n| p.interval(n).as_secs_f64()).collect();
    assert_eq!(&waits[..4], &[1.0, 1.5, 2.25, 3.375]);
    assert_eq!(waits[11], 30.0);
}
