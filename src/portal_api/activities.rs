//! Device activities (`orgDeviceActivities`): Apple's *Assign or Unassign
//! Devices to a Device Management Service or Release Devices* (`POST`, 201
//! with the activity) and *Get Organization Device Activity Information*
//! (`GET`, readable for 30 days).
//!
//! An activity starts `IN_PROGRESS` (`subStatus` `SUBMITTED`, then
//! `PROCESSING`) and ends `COMPLETED`, `FAILED` or `STOPPED`; `downloadUrl`
//! is a CSV log of what happened to each device. [`FollowPolicy`] says how
//! to poll it: 1 s, then ×1.5, at most 30 s between polls, until a deadline.
//!
//! The migration variants (API 2.3) carry `activityTypeMetadata.
//! mdmMigrationDeadlineDateTime`, at most 90 days ahead (Apple answers 409
//! otherwise); `UPDATE_MDM_MIGRATION_DEADLINE`, `CANCEL_MDM_MIGRATION` and
//! `RELEASE_DEVICES` (Apple Business only, API 2.4) name no server.

use core::fmt;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use super::document::{Linkage, Resource, encode_segment};
use super::{ApiScope, PortalApiError, devices, servers};

/// `POST /v1/orgDeviceActivities`.
pub const PATH: &str = "/v1/orgDeviceActivities";

/// The resource type.
pub const TYPE: &str = "orgDeviceActivities";

/// Most devices in one activity mdmlink sends (longer lists are split by
/// the caller).
pub const MAX_DEVICES_PER_ACTIVITY: usize = 1000;

/// How far ahead a migration deadline may be.
pub const MAX_MIGRATION_DEADLINE: Duration = Duration::days(90);

/// `activityType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ActivityType {
    /// `ASSIGN_DEVICES` to a server.
    AssignDevices,
    /// `UNASSIGN_DEVICES` from a server.
    UnassignDevices,
    /// `ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE`: assign, and have the
    /// devices migrate (without erase) by the deadline.
    AssignDevicesWithMdmMigrationDeadline,
    /// `UPDATE_MDM_MIGRATION_DEADLINE` of a migration in progress.
    UpdateMdmMigrationDeadline,
    /// `CANCEL_MDM_MIGRATION` in progress.
    CancelMdmMigration,
    /// `RELEASE_DEVICES` from the organization (Apple Business only;
    /// irreversible).
    ReleaseDevices,
}

impl ActivityType {
    /// As Apple spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssignDevices => "ASSIGN_DEVICES",
            Self::UnassignDevices => "UNASSIGN_DEVICES",
            Self::AssignDevicesWithMdmMigrationDeadline => {
                "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE"
            }
            Self::UpdateMdmMigrationDeadline => "UPDATE_MDM_MIGRATION_DEADLINE",
            Self::CancelMdmMigration => "CANCEL_MDM_MIGRATION",
            Self::ReleaseDevices => "RELEASE_DEVICES",
        }
    }

    /// Whether the request names a server (`relationships.mdmServer`).
    pub fn needs_server(self) -> bool {
        matches!(
            self,
            Self::AssignDevices
                | Self::UnassignDevices
                | Self::AssignDevicesWithMdmMigrationDeadline
        )
    }

    /// Whether the request carries a migration deadline.
    pub fn needs_deadline(self) -> bool {
        matches!(
            self,
            Self::AssignDevicesWithMdmMigrationDeadline | Self::UpdateMdmMigrationDeadline
        )
    }
}

impl fmt::Display for ActivityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An activity to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivityRequest {
    /// `activityType`.
    pub activity_type: ActivityType,
    /// The server's id, for the types that name one.
    pub server_id: Option<String>,
    /// Serial numbers (1 to [`MAX_DEVICES_PER_ACTIVITY`]).
    pub serials: Vec<String>,
    /// The migration deadline, for the types that carry one.
    pub deadline: Option<OffsetDateTime>,
}

impl ActivityRequest {
    /// `ASSIGN_DEVICES` of `serials` to the server `server_id`.
    pub fn assign<S: AsRef<str>>(server_id: &str, serials: &[S]) -> Self {
        Self::new(ActivityType::AssignDevices, Some(server_id), serials, None)
    }

    /// `UNASSIGN_DEVICES` of `serials` from the server `server_id`.
    pub fn unassign<S: AsRef<str>>(server_id: &str, serials: &[S]) -> Self {
        Self::new(
            ActivityType::UnassignDevices,
            Some(server_id),
            serials,
            None,
        )
    }

    /// `RELEASE_DEVICES` (Apple Business only; the devices leave the
    /// organization for good).
    pub fn release<S: AsRef<str>>(serials: &[S]) -> Self {
        Self::new(ActivityType::ReleaseDevices, None, serials, None)
    }

    /// Any activity.
    pub fn new<S: AsRef<str>>(
        activity_type: ActivityType,
        server_id: Option<&str>,
        serials: &[S],
        deadline: Option<OffsetDateTime>,
    ) -> Self {
        Self {
            activity_type,
            server_id: server_id.map(str::to_owned),
            serials: serials.iter().map(|s| s.as_ref().to_owned()).collect(),
            deadline,
        }
    }

    /// Checks the request for `scope` at `now` (before anything is sent).
    pub fn check(&self, scope: ApiScope, now: OffsetDateTime) -> Result<(), PortalApiError> {
        let t = self.activity_type;
        if t == ActivityType::ReleaseDevices && scope != ApiScope::Business {
            return Err(PortalApiError::BusinessOnly {
                operation: "releasing devices (RELEASE_DEVICES)",
                scope,
            });
        }
        if t.needs_server() != self.server_id.is_some() {
            return Err(invalid(if t.needs_server() {
                format!("{t} needs a server")
            } else {
                format!("{t} names no server")
            }));
        }
        match (t.needs_deadline(), self.deadline) {
            (true, None) => return Err(invalid(format!("{t} needs a migration deadline"))),
            (false, Some(_)) => return Err(invalid(format!("{t} takes no deadline"))),
            (true, Some(d)) if d > now + MAX_MIGRATION_DEADLINE => {
                return Err(invalid(
                    "a migration deadline is at most 90 days ahead".to_owned(),
                ));
            }
            (true, Some(d))
                if t == ActivityType::AssignDevicesWithMdmMigrationDeadline && d <= now =>
            {
                return Err(invalid(
                    "a migration deadline must be in the future".to_owned(),
                ));
            }
            _ => {}
        }
        if self.serials.is_empty() || self.serials.len() > MAX_DEVICES_PER_ACTIVITY {
            return Err(invalid(format!(
                "an activity takes 1 to {MAX_DEVICES_PER_ACTIVITY} serial numbers, not {}",
                self.serials.len()
            )));
        }
        for s in &self.serials {
            if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid(format!(
                    "{:?} is not a serial number (1 to 64 letters and digits)",
                    super::error::printable(s)
                )));
            }
        }
        Ok(())
    }

    /// The request body.
    pub fn body(&self, scope: ApiScope, now: OffsetDateTime) -> Result<Vec<u8>, PortalApiError> {
        self.check(scope, now)?;
        let deadline = match self.deadline {
            Some(d) => Some(
                d.to_offset(time::UtcOffset::UTC)
                    .replace_nanosecond(0)
                    .map_err(|e| invalid(e.to_string()))?
                    .format(&Rfc3339)
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            None => None,
        };
        let body = CreateDocument {
            data: CreateData {
                kind: TYPE,
                attributes: CreateAttributes {
                    activity_type: self.activity_type,
                    activity_type_metadata: deadline.map(|d| Metadata {
                        mdm_migration_deadline_date_time: d,
                    }),
                },
                relationships: CreateRelationships {
                    mdm_server: self.server_id.as_deref().map(|id| ToOne {
                        data: Linkage::new(servers::TYPE, id),
                    }),
                    devices: ToMany {
                        data: self
                            .serials
                            .iter()
                            .map(|s| Linkage::new(devices::TYPE, s))
                            .collect(),
                    },
                },
            },
        };
        serde_json::to_vec(&body).map_err(|e| invalid(format!("cannot encode the request ({e})")))
    }
}

fn invalid(reason: String) -> PortalApiError {
    PortalApiError::InvalidArgument { reason }
}

#[derive(Serialize)]
struct CreateDocument {
    data: CreateData,
}

#[derive(Serialize)]
struct CreateData {
    #[serde(rename = "type")]
    kind: &'static str,
    attributes: CreateAttributes,
    relationships: CreateRelationships,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateAttributes {
    activity_type: ActivityType,
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_type_metadata: Option<Metadata>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    mdm_migration_deadline_date_time: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateRelationships {
    #[serde(skip_serializing_if = "Option::is_none")]
    mdm_server: Option<ToOne>,
    devices: ToMany,
}

#[derive(Serialize)]
struct ToOne {
    data: Linkage,
}

#[derive(Serialize)]
struct ToMany {
    data: Vec<Linkage>,
}

/// An activity (`orgDeviceActivities` resource).
pub type OrgDeviceActivity = Resource<ActivityAttributes>;

/// `OrgDeviceActivity.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ActivityAttributes {
    /// `status`: `IN_PROGRESS`, `COMPLETED`, `STOPPED`, `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `subStatus`: `SUBMITTED`, `PROCESSING`, `COMPLETED_WITH_SUCCESS`,
    /// `COMPLETED_WITH_ERROR`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status: Option<String>,
    /// `createdDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// `completedDateTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_date_time: Option<String>,
    /// `downloadUrl`: the CSV log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// Where an activity stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum ActivityStatus {
    /// `IN_PROGRESS`.
    InProgress,
    /// `COMPLETED`.
    Completed,
    /// `FAILED`: see the log.
    Failed,
    /// `STOPPED`.
    Stopped,
    /// A status this version does not know (kept; treated as not finished).
    Other(String),
}

impl ActivityStatus {
    /// From Apple's spelling.
    pub fn parse(s: &str) -> Self {
        match s {
            "IN_PROGRESS" => Self::InProgress,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            "STOPPED" => Self::Stopped,
            other => Self::Other(super::error::printable(other)),
        }
    }

    /// As Apple spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Stopped => "STOPPED",
            Self::Other(s) => s,
        }
    }

    /// `COMPLETED`, `FAILED` or `STOPPED`.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Stopped)
    }
}

/// What became of an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ActivityOutcome {
    /// The activity's id.
    pub id: String,
    /// Its status (final, when returned by following it).
    pub status: ActivityStatus,
    /// `subStatus`, as sent.
    pub sub_status: Option<String>,
    /// `createdDateTime`.
    pub created: Option<String>,
    /// `completedDateTime`.
    pub completed: Option<String>,
    /// `downloadUrl`: the CSV log of each device's result.
    pub log_url: Option<String>,
    /// How many times it was read while following it.
    pub polls: u32,
}

impl ActivityOutcome {
    /// From the resource Apple returned.
    pub fn from_resource(activity: &OrgDeviceActivity) -> Result<Self, PortalApiError> {
        let status =
            activity
                .attributes
                .status
                .as_deref()
                .ok_or_else(|| PortalApiError::Malformed {
                    reason: format!(
                        "activity {} has no status",
                        super::error::printable(&activity.id)
                    ),
                })?;
        Ok(Self {
            id: activity.id.clone(),
            status: ActivityStatus::parse(status),
            sub_status: activity
                .attributes
                .sub_status
                .as_deref()
                .map(super::error::printable),
            created: activity.attributes.created_date_time.clone(),
            completed: activity.attributes.completed_date_time.clone(),
            log_url: activity.attributes.download_url.clone(),
            polls: 0,
        })
    }

    /// `COMPLETED` with a `subStatus` that is not an error: every device
    /// was handled.
    pub fn succeeded(&self) -> bool {
        self.status == ActivityStatus::Completed
            && !self
                .sub_status
                .as_deref()
                .is_some_and(|s| s.contains("ERROR") || s.contains("FAIL"))
    }
}

/// How an activity is followed: the first poll after `initial`, each next
/// one `factor` times later, never more than `max_interval` apart, and not
/// after `deadline` from the start.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FollowPolicy {
    /// The first wait (1 s).
    pub initial: StdDuration,
    /// The growth of each wait (1.5).
    pub factor: f64,
    /// The longest wait (30 s).
    pub max_interval: StdDuration,
    /// How long to follow before giving up (10 minutes).
    pub deadline: StdDuration,
}

impl Default for FollowPolicy {
    fn default() -> Self {
        Self {
            initial: StdDuration::from_secs(1),
            factor: 1.5,
            max_interval: StdDuration::from_secs(30),
            deadline: StdDuration::from_secs(600),
        }
    }
}

impl FollowPolicy {
    /// With `deadline` instead of 10 minutes.
    pub fn with_deadline(mut self, deadline: StdDuration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The wait before poll number `n` (0 for the first).
    pub fn interval(&self, n: u32) -> StdDuration {
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let secs = self.initial.as_secs_f64() * factor.powi(n.min(64) as i32);
        let cap = self.max_interval.as_secs_f64();
        StdDuration::from_secs_f64(if secs.is_finite() { secs.min(cap) } else { cap })
    }
}

/// `/v1/orgDeviceActivities/{id}`.
pub fn activity_path(id: &str) -> Result<String, PortalApiError> {
    Ok(format!("{PATH}/{}", encode_segment(id)?))
}

#[cfg(test)]
mod tests;
