//! The device records of *Fetch Devices*, *Sync Devices* and *Get Device
//! Details*, and the per-device statuses of the calls that act on serials.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// What happened to a device, in a sync reply (`op_type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpType {
    /// `added`: the device was assigned to this server.
    Added,
    /// `modified`: its record changed (profile, details).
    Modified,
    /// `deleted`: it is no longer assigned to this server.
    Deleted,
    /// A value this version does not know, as sent.
    Other(String),
}

impl OpType {
    /// The wire form (`added`, `modified`, `deleted`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "added" => Self::Added,
            "modified" => Self::Modified,
            "deleted" => Self::Deleted,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OpType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OpType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// A per-device result of assign, remove, disown, details or define
/// (`SUCCESS`, `NOT_ACCESSIBLE`, `FAILED`, `THROTTLED`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// `SUCCESS`: done.
    Success,
    /// `NOT_ACCESSIBLE`: the serial is unknown or not assigned to this server
    /// in the portal; assign it to this server there first.
    NotAccessible,
    /// `FAILED`: the service could not do it; try again later.
    Failed,
    /// `THROTTLED`: the service is limiting requests for this device; retry it
    /// later (after `retry_after_seconds` when the reply says).
    Throttled,
    /// A status this version does not know, as sent.
    Other(String),
}

impl DeviceStatus {
    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Success => "SUCCESS",
            Self::NotAccessible => "NOT_ACCESSIBLE",
            Self::Failed => "FAILED",
            Self::Throttled => "THROTTLED",
            Self::Other(s) => s,
        }
    }

    /// Parses the wire form (unknown values are kept as [`DeviceStatus::Other`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "SUCCESS" => Self::Success,
            "NOT_ACCESSIBLE" => Self::NotAccessible,
            "FAILED" => Self::Failed,
            "THROTTLED" => Self::Throttled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// `true` for [`DeviceStatus::Success`].
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DeviceStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeviceStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// One device record. The fields Apple documents are typed; anything else is
/// kept in `other`. In a sync reply `op_type` and `op_date` say what changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// The serial number (the device's identity for the service).
    pub serial_number: String,
    /// The model name (`iPad Pro 12.9-inch`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A description of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The color.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// The asset tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
    /// `empty`, `assigned`, `pushed` or `removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_status: Option<String>,
    /// The assigned profile's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// When the profile was assigned (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_assign_time: Option<String>,
    /// When the profile was pushed to the device (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_push_time: Option<String>,
    /// When the device was assigned to this server (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_date: Option<String>,
    /// Who assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_by: Option<String>,
    /// `iOS`, `OSX`, `tvOS`, `iPadOS`, `visionOS`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// `iPad`, `iPhone`, `iPod`, `Mac`, `AppleTV`, `Vision`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// In a sync reply: what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_type: Option<OpType>,
    /// In a sync reply: when it happened (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub op_date: Option<OffsetDateTime>,
    /// In a details reply: the per-device result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<DeviceStatus>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Device {
    /// A record with only a serial number.
    pub fn new(serial_number: impl Into<String>) -> Self {
        Self {
            serial_number: serial_number.into(),
            ..Self::default()
        }
    }

    /// `true` when the record says the device left this server
    /// (`op_type: deleted`).
    pub fn is_deleted(&self) -> bool {
        self.op_type == Some(OpType::Deleted)
    }

    /// Whether this record should replace a stored one whose `op_date` is
    /// `stored`: the latest `op_date` wins; a record without one (a fetch)
    /// wins over nothing and loses to nothing older it cannot compare with,
    /// so it replaces. Ties go to the newer arrival.
    pub fn supersedes(&self, stored: Option<OffsetDateTime>) -> bool {
        match (self.op_date, stored) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        }
    }
}

/// One page of *Fetch Devices* or *Sync Devices*.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DevicePage {
    /// The devices, in the order the service sent them.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// The cursor for the next call.
    #[serde(default)]
    pub cursor: Option<String>,
    /// `true` while more pages remain for this cursor.
    #[serde(default)]
    pub more_to_follow: bool,
    /// The time up to which the service looked (RFC 3339), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_until: Option<String>,
}

impl DevicePage {
    /// Collapses records of the same serial within the page: the record with
    /// the latest `op_date` wins (on a tie, the later one). Keeps the order of
    /// first appearance. Memory: the page itself.
    pub fn dedup_latest(&mut self) {
        let mut index: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(self.devices.len());
        let mut kept: Vec<Device> = Vec::with_capacity(self.devices.len());
        for device in self.devices.drain(..) {
            match index.get(&device.serial_number) {
                Some(&at) => {
                    if device.supersedes(kept[at].op_date) {
                        kept[at] = device;
                    }
                }
                None => {
                    index.insert(device.serial_number.clone(), kept.len());
                    kept.push(device);
                }
            }
        }
        self.devices = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn statuses_and_op_types_round_trip_and_keep_unknowns() {
        for s in [
            "SUCCESS",
            "NOT_ACCESSIBLE",
            "FAILED",
            "THROTTLED",
            "NEW_THING",
        ] {
            assert_eq!(DeviceStatus::parse(s).as_str(), s);
        }
        assert_eq!(DeviceStatus::parse("THROTTLED"), DeviceStatus::Throttled);
        let d: Device = serde_json::from_str(
            r#"{"serial_number":"X","op_type":"moved","op_date":"2026-01-02T03:04:05Z","extra":1}"#,
        )
        .unwrap();
        assert_eq!(d.op_type, Some(OpType::Other("moved".into())));
        assert_eq!(d.op_date, Some(datetime!(2026-01-02 03:04:05 UTC)));
        assert_eq!(d.other["extra"], 1);
    }

    #[test]
    fn latest_op_date_wins_within_a_page() {
        let rec = |serial: &str, op: OpType, at: OffsetDateTime| Device {
            op_type: Some(op),
            op_date: Some(at),
            ..Device::new(serial)
        };
        let t0 = datetime!(2026-01-01 0:00 UTC);
        let mut page = DevicePage {
            devices: vec![
                rec("A", OpType::Modified, t0 + time::Duration::hours(2)),
                rec("B", OpType::Added, t0),
                rec("A", OpType::Added, t0),
                rec("B", OpType::Deleted, t0 + time::Duration::hours(1)),
            ],
            ..DevicePage::default()
        };
        page.dedup_latest();
        assert_eq!(page.devices.len(), 2);
        assert_eq!(page.devices[0].op_type, Some(OpType::Modified));
        assert!(page.devices[1].is_deleted());
    }
}
