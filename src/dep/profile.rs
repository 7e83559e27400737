//! Enrollment profiles (*Define Profile*, *Get Profile*) and the results of
//! assigning them (*Assign Profile*, *Remove Profile*).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DepError, DeviceStatus};

/// Largest profile definition accepted (64 KiB; real ones are a few hundred bytes).
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// A profile as the service takes it: a JSON object with at least
/// `profile_name` (a non-empty string). Every other field Apple documents
/// (`url`, `is_supervised`, `skip_setup_items`, `devices`...) passes through
/// as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileDefinition(serde_json::Map<String, serde_json::Value>);

impl ProfileDefinition {
    /// A profile named `name` served from `url` (the MDM's enrollment URL).
    pub fn new(name: &str, url: &str) -> Self {
        let mut map = serde_json::Map::new();
        map.insert("profile_name".into(), name.into());
        map.insert("url".into(), url.into());
        Self(map)
    }

    /// Reads a profile from JSON, checking that it is an object with a
    /// non-empty `profile_name` and at most [`MAX_PROFILE_BYTES`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, DepError> {
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(DepError::InvalidArgument {
                reason: format!(
                    "the profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted",
                    bytes.len()
                ),
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DepError::InvalidArgument {
                reason: format!("the profile is not JSON ({e})"),
            })?;
        let serde_json::Value::Object(map) = value else {
            return Err(DepError::InvalidArgument {
                reason: "the profile must be a JSON object".into(),
            });
        };
        let profile = Self(map);
        profile.check()?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), DepError> {
        match self.0.get("profile_name").and_then(|v| v.as_str()) {
            Some(name) if !name.trim().is_empty() => Ok(()),
            _ => Err(DepError::InvalidArgument {
                reason: "the profile needs a non-empty \"profile_name\" string".into(),
            }),
        }
    }

    /// `profile_name`.
    pub fn name(&self) -> &str {
        self.0
            .get("profile_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    /// The fields, as JSON.
    pub fn fields(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    /// Sets a field (`is_supervised`, `devices`...).
    pub fn set(&mut self, field: &str, value: serde_json::Value) {
        self.0.insert(field.to_owned(), value);
    }
}

/// The reply of *Define Profile*: the new profile's UUID and, when the
/// definition listed `devices`, each one's status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileDefined {
    /// The profile's UUID (give it to *Assign Profile*).
    pub profile_uuid: String,
    /// Per serial number: the assignment's status.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
}

/// The result of assigning (or removing) a profile to serial numbers: each
/// serial's status, merged over the requests the list was split into.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssignmentResult {
    /// The profile's UUID (empty for a removal when the service omits it).
    #[serde(default)]
    pub profile_uuid: String,
    /// Per serial number: its status.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// How many requests were sent (a list is split every 1,000 serials).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AssignmentResult {
    /// The serials whose status is `THROTTLED` (retry them later).
    pub fn throttled(&self) -> impl Iterator<Item = &str> {
        self.with_status(DeviceStatus::Throttled)
    }

    /// The serials with `status`.
    pub fn with_status(&self, status: DeviceStatus) -> impl Iterator<Item = &str> {
        self.devices
            .iter()
            .filter(move |(_, s)| **s == status)
            .map(|(serial, _)| serial.as_str())
    }

    /// `true` when every serial succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.devices.values().all(DeviceStatus::is_success)
    }
}

/// A *Disable Activation Lock* request (`POST /device/activationlock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActivationLockRequest {
    /// The device's serial number.
    pub device: String,
    /// The escrow key (a bypass code), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_key: Option<String>,
    /// The lost message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_message: Option<String>,
}

impl ActivationLockRequest {
    /// A request for `serial` without escrow key or message.
    pub fn new(serial: &str) -> Self {
        Self {
            device: serial.to_owned(),
            escrow_key: None,
            lost_message: None,
        }
    }
}

/// The reply of *Disable Activation Lock*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActivationLockResult {
    /// The serial number.
    pub serial_number: String,
    /// The result.
    pub response_status: DeviceStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_needs_a_name() {
        assert!(
            ProfileDefinition::from_json(br#"{"profile_name":"Lab","url":"https://m/e"}"#).is_ok()
        );
        for bad in [
            &br#"{"url":"x"}"#[..],
            br#"{"profile_name":"  "}"#,
            b"[]",
            b"{",
            b"",
        ] {
            assert!(matches!(
                ProfileDefinition::from_json(bad),
                Err(DepError::InvalidArgument { .. })
            ));
        }
        let big = vec![b' '; MAX_PROFILE_BYTES + 1];
        assert!(ProfileDefinition::from_json(&big).is_err());
    }
}
