//! Organization devices (`orgDevices`): Apple's *Get Organization Devices*,
//! *Get Device Information*, *Get the Assigned Device Management Service ID
//! / Information for a Device*, *Get AppleCare Coverage Information for a
//! Device*. A device's id is its serial number.
//!
//! Attributes keep Apple's names when serialized, so a face can print them
//! as Apple does (`serialNumber`, `status`...). Every one is optional: a
//! `fields[orgDevices]` selection leaves the others out.

use serde::{Deserialize, Serialize};

use super::PortalApiError;
use super::document::{Resource, encode_segment};

/// `GET /v1/orgDevices`.
pub const PATH: &str = "/v1/orgDevices";

/// The resource type.
pub const TYPE: &str = "orgDevices";

/// An organization device (`orgDevices` resource).
pub type OrgDevice = Resource<OrgDeviceAttributes>;

/// `OrgDevice.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OrgDeviceAttributes {
    /// `serialNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// `addedToOrgDateTime` (ISO 8601, as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_to_org_date_time: Option<String>,
    /// `releasedFromOrgDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_from_org_date_time: Option<String>,
    /// `updatedDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_date_time: Option<String>,
    /// `deviceModel` (`iPad Air 11-inch (M2)`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    /// `productFamily` (`iPhone`, `iPad`, `Mac`, `AppleTV`, `Watch`, `Vision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_family: Option<String>,
    /// `productType` (`iPhone16,2`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// `deviceCapacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_capacity: Option<String>,
    /// `partNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_number: Option<String>,
    /// `orderNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    /// `color`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// `status`: `ASSIGNED` or `UNASSIGNED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `orderDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date_time: Option<String>,
    /// `imei`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<Vec<String>>,
    /// `meid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<Vec<String>>,
    /// `eid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// `purchaseSourceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_source_id: Option<String>,
    /// `purchaseSourceType` (`APPLE`, `RESELLER`, `MANUALLY_ADDED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_source_type: Option<String>,
    /// `wifiMacAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wifi_mac_address: Option<String>,
    /// `bluetoothMacAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bluetooth_mac_address: Option<String>,
    /// `ethernetMacAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethernet_mac_address: Option<Vec<String>>,
    /// `isMdmMigrationCapable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mdm_migration_capable: Option<bool>,
    /// `mdmMigrationStatus` (`REQUESTED`, `STARTED`, `SUCCESS`, `FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_migration_status: Option<String>,
    /// `mdmMigrationDeadlineDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_migration_deadline_date_time: Option<String>,
}

/// An AppleCare coverage (`appleCareCoverage` resource).
pub type AppleCareCoverage = Resource<AppleCareCoverageAttributes>;

/// `AppleCareCoverage.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppleCareCoverageAttributes {
    /// `status` (`ACTIVE`, `INACTIVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `paymentType` (`ABE_SUBSCRIPTION`, `PAID_UP_FRONT`, `SUBSCRIPTION`, `NONE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_type: Option<String>,
    /// `description` (`Limited Warranty`, `AppleCare+`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `startDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    /// `endDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<String>,
    /// `isRenewable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_renewable: Option<bool>,
    /// `isCanceled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_canceled: Option<bool>,
    /// `contractCancelDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_cancel_date_time: Option<String>,
    /// `agreementNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_number: Option<String>,
}

/// `/v1/orgDevices/{serial}`.
pub fn device_path(serial: &str) -> Result<String, PortalApiError> {
    Ok(format!("{PATH}/{}", encode_segment(serial)?))
}

/// `/v1/orgDevices/{serial}/relationships/assignedServer`.
pub fn assigned_server_linkage_path(serial: &str) -> Result<String, PortalApiError> {
    Ok(format!(
        "{}/relationships/assignedServer",
        device_path(serial)?
    ))
}

/// `/v1/orgDevices/{serial}/assignedServer`.
pub fn assigned_server_path(serial: &str) -> Result<String, PortalApiError> {
    Ok(format!("{}/assignedServer", device_path(serial)?))
}

/// `/v1/orgDevices/{serial}/appleCareCoverage`.
pub fn apple_care_path(serial: &str) -> Result<String, PortalApiError> {
    Ok(format!("{}/appleCareCoverage", device_path(serial)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal_api::document::{ListDocument, parse};

    #[test]
    fn apples_example_parses_and_prints_with_apples_names() {
        let body = br#"{"data":[{"type":"orgDevices","id":"XABC123X0ABC123X0","attributes":{"serialNumber":"XABC123X0ABC123X0","addedToOrgDateTime":"2025-04-30T22:05:14.192Z","releasedFromOrgDateTime":null,"updatedDateTime":"2025-05-01T15:33:54.164Z","deviceModel":"iMac 21.5\"","productFamily":"Mac","productType":"iMac16,2","deviceCapacity":"750GB","partNumber":"FD311LL/A","orderNumber":"1234567890","color":"SILVER","status":"UNASSIGNED","orderDateTime":"2011-08-15T07:00:00Z","imei":["123456789012345","123456789012346"],"meid":["123456789012345"],"eid":"","purchaseSourceId":"1","purchaseSourceType":"APPLE","somethingNew":true},"relationships":{"assignedServer":{"links":{"self":"https://api-school.apple.com/v1/orgDevices/XABC123X0ABC123X0/relationships/assignedServer"}}},"links":{"self":"https://api-school.apple.com/v1/orgDevices/XABC123X0ABC123X0"}}],"links":{"self":"https://api-school.apple.com/v1/orgDevices"},"meta":{"paging":{"limit":100}}}"#;
        let page: ListDocument<OrgDevice> = parse(body, "devices").unwrap();
        let d = &page.data[0];
        assert_eq!(d.attributes.status.as_deref(), Some("UNASSIGNED"));
        assert_eq!(d.attributes.imei.as_ref().map(Vec::len), Some(2));
        assert_eq!(d.attributes.released_from_org_date_time, None);
        let json = serde_json::to_value(&d.attributes).unwrap();
        assert_eq!(json["serialNumber"], "XABC123X0ABC123X0");
        assert_eq!(json["productFamily"], "Mac");
        assert!(json.get("somethingNew").is_none());
        assert_eq!(page.next_cursor(), None);
        assert_eq!(
            assigned_server_linkage_path("A B").unwrap(),
            "/v1/orgDevices/A%20B/relationships/assignedServer"
        );
        assert!(device_path("").is_err());
    }
}
