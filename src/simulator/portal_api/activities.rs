//! Organization device activities (`/v1/orgDeviceActivities`): assign,
//! unassign, the management-migration variants, release. An activity stays
//! `IN_PROGRESS` for a few reads, then completes: its changes are applied
//! then, and its log (one CSV line per device) is served at `downloadUrl`.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use super::documents::{ApiError, Query, data_of, timestamp};
use super::{ApiPlatform, Org};
use crate::simulator::portal_api::devices::Migration;

/// Most devices one activity may name.
pub(crate) const MAX_ACTIVITY_DEVICES: usize = 1000;
/// How far ahead a migration deadline may be.
pub(crate) const MAX_MIGRATION_DEADLINE: Duration = Duration::days(90);
/// How long an activity stays readable (Apple: 30 days).
const ACTIVITY_RETENTION: Duration = Duration::days(30);
/// Activities remembered per organization (oldest forgotten first).
const ACTIVITY_MEMORY: usize = 10_000;

const TYPES: [&str; 6] = [
    "ASSIGN_DEVICES",
    "UNASSIGN_DEVICES",
    "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE",
    "UPDATE_MDM_MIGRATION_DEADLINE",
    "CANCEL_MDM_MIGRATION",
    "RELEASE_DEVICES",
];

#[derive(Debug, Clone)]
struct Outcome {
    status: &'static str,
    sub_status: &'static str,
    completed: OffsetDateTime,
    log: Vec<(String, &'static str)>,
}

#[derive(Debug, Clone)]
struct Activity {
    kind: &'static str,
    created: OffsetDateTime,
    reads: u32,
    serials: Vec<String>,
    server: Option<String>,
    deadline: Option<OffsetDateTime>,
    outcome: Option<Outcome>,
}

#[derive(Debug, Default)]
pub(crate) struct Activities {
    map: HashMap<String, Activity>,
    order: VecDeque<String>,
    created: u64,
}

impl Activities {
    fn new_id(&mut self, client_id: &str) -> String {
        use sha2::Digest as _;
        self.created += 1;
        let digest = sha2::Sha256::digest(format!("{client_id}/activities/{}", self.created));
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        crate::jwt::hyphenated(&b)
    }

    /// The CSV log of a completed activity.
    pub(crate) fn log(&self, id: &str) -> Option<String> {
        let outcome = self.map.get(id)?.outcome.as_ref()?;
        let mut csv = String::from("serialNumber,result\n");
        for (serial, result) in &outcome.log {
            csv.push_str(serial);
            csv.push(',');
            csv.push_str(result);
            csv.push('\n');
        }
        Some(csv)
    }
}

fn resource(base: &str, id: &str, a: &Activity) -> Value {
    let mut attributes = Map::new();
    attributes.insert("activityType".into(), json!(a.kind));
    attributes.insert("createdDateTime".into(), json!(timestamp(a.created)));
    match &a.outcome {
        None => {
            attributes.insert("status".into(), json!("IN_PROGRESS"));
            let sub = if a.reads == 0 {
                "SUBMITTED"
            } else {
                "PROCESSING"
            };
            attributes.insert("subStatus".into(), json!(sub));
        }
        Some(o) => {
            attributes.insert("status".into(), json!(o.status));
            attributes.insert("subStatus".into(), json!(o.sub_status));
            attributes.insert("completedDateTime".into(), json!(timestamp(o.completed)));
            attributes.insert(
                "downloadUrl".into(),
                json!(format!("{base}/activityLogs/{id}.csv")),
            );
        }
    }
    json!({
        "type": "orgDeviceActivities",
        "id": id,
        "attributes": attributes,
        "links": { "self": format!("{base}/v1/orgDeviceActivities/{id}") },
    })
}

fn needs_server(kind: &str) -> bool {
    matches!(
        kind,
        "ASSIGN_DEVICES" | "UNASSIGN_DEVICES" | "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE"
    )
}

/// `POST /v1/orgDeviceActivities`.
pub(crate) fn create(
    org: &mut Org,
    base: &str,
    body: &Value,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    let data = data_of(body, "orgDeviceActivities")?;
    let attributes = data
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::body("/data/attributes", "The document needs 'data.attributes'.")
        })?;
    let Some(kind) = attributes
        .get("activityType")
        .and_then(Value::as_str)
        .and_then(|t| TYPES.iter().find(|k| **k == t).copied())
    else {
        return Err(ApiError::attribute(
            "/data/attributes/activityType",
            format!("activityType must be one of {}.", TYPES.join(", ")),
        ));
    };
    if kind == "RELEASE_DEVICES" && org.account.platform() == ApiPlatform::School {
        return Err(ApiError::forbidden(
            "/v1/orgDeviceActivities",
            "RELEASE_DEVICES is available on Apple Business only.",
        ));
    }
    let relationships = data.get("relationships").and_then(Value::as_object);
    let devices = relationships
        .and_then(|r| r.get("devices"))
        .and_then(|d| d.get("data"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::body(
                "/data/relationships/devices/data",
                "The activity needs 'relationships.devices.data' (a list of orgDevices).",
            )
        })?;
    if devices.is_empty() || devices.len() > MAX_ACTIVITY_DEVICES {
        return Err(ApiError::attribute(
            "/data/relationships/devices/data",
            format!("An activity names 1 to {MAX_ACTIVITY_DEVICES} devices."),
        ));
    }
    let mut serials = Vec::with_capacity(devices.len());
    for (i, d) in devices.iter().enumerate() {
        match (
            d.get("type").and_then(Value::as_str),
            d.get("id").and_then(Value::as_str),
        ) {
            (Some("orgDevices"), Some(id)) if !id.is_empty() && id.len() <= 64 => {
                serials.push(id.to_owned())
            }
            _ => {
                return Err(ApiError::body(
                    &format!("/data/relationships/devices/data/{i}"),
                    "Each device is {\"type\": \"orgDevices\", \"id\": SERIAL}.",
                ));
            }
        }
    }
    let server = relationships
        .and_then(|r| r.get("mdmServer"))
        .and_then(|s| s.get("data"))
        .filter(|s| !s.is_null());
    let server = match server {
        Some(s) => match (
            s.get("type").and_then(Value::as_str),
            s.get("id").and_then(Value::as_str),
        ) {
            (Some("mdmServers"), Some(id)) => {
                if org.servers.get(id).is_none() {
                    return Err(ApiError::new(
                        http::StatusCode::NOT_FOUND,
                        "NOT_FOUND",
                        "The specified resource does not exist",
                        format!(
                            "There is no device management service with id '{}'.",
                            crate::session::oauth::printable(id)
                        ),
                        super::documents::Source::Pointer("/data/relationships/mdmServer/data/id"),
                    ));
                }
                Some(id.to_owned())
            }
            _ => {
                return Err(ApiError::body(
                    "/data/relationships/mdmServer/data",
                    "mdmServer is {\"type\": \"mdmServers\", \"id\": ID}.",
                ));
            }
        },
        None if needs_server(kind) => {
            return Err(ApiError::body(
                "/data/relationships/mdmServer",
                format!("{kind} needs 'relationships.mdmServer'."),
            ));
        }
        None => None,
    };
    let deadline = if matches!(
        kind,
        "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE" | "UPDATE_MDM_MIGRATION_DEADLINE"
    ) {
        const POINTER: &str = "/data/attributes/mdmMigrationDeadlineDateTime";
        let deadline = attributes
            .get("mdmMigrationDeadlineDateTime")
            .and_then(Value::as_str)
            .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
            .ok_or_else(|| {
                ApiError::attribute(
                    POINTER,
                    format!("{kind} needs mdmMigrationDeadlineDateTime (RFC 3339)."),
                )
            })?;
        if deadline > now + MAX_MIGRATION_DEADLINE {
            return Err(ApiError::conflict(
                POINTER,
                "The migration deadline is more than 90 days ahead.",
            ));
        }
        // Only an update may set a past deadline (it forces the migration now).
        if deadline <= now && kind == "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE" {
            return Err(ApiError::conflict(
                POINTER,
                "The migration deadline is in the past.",
            ));
        }
        Some(deadline)
    } else {
        None
    };
    let client_id = org.account.client_id.clone();
    let id = org.activities.new_id(&client_id);
    let activity = Activity {
        kind,
        created: now,
        reads: 0,
        serials,
        server,
        deadline,
        outcome: None,
    };
    let doc = json!({
        "data": resource(base, &id, &activity),
        "links": { "self": format!("{base}/v1/orgDeviceActivities/{id}") },
    });
    let acts = &mut org.activities;
    if acts.order.len() >= ACTIVITY_MEMORY
        && let Some(old) = acts.order.pop_front()
    {
        acts.map.remove(&old);
    }
    acts.order.push_back(id.clone());
    acts.map.insert(id, activity);
    Ok(doc)
}

/// Applies a finished activity to the devices; one log line per device.
fn complete(org: &mut Org, a: &Activity, now: OffsetDateTime) -> Outcome {
    let mut log = Vec::with_capacity(a.serials.len());
    for serial in &a.serials {
        let result = if !org.devices.exists(serial) {
            "NOT_FOUND"
        } else {
            match a.kind {
                "ASSIGN_DEVICES" | "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE" => {
                    match &a.server {
                        Some(s) if org.servers.get(s).is_some() => {
                            org.devices.assign(serial, Some(s.clone()), now);
                            if let Some(deadline) = a.deadline {
                                org.devices.migrations.insert(
                                    serial.clone(),
                                    Migration {
                                        status: "REQUESTED",
                                        deadline,
                                    },
                                );
                            }
                            "SUCCESS"
                        }
                        _ => "SERVER_NOT_FOUND",
                    }
                }
                "UNASSIGN_DEVICES" => {
                    let on = org.devices.server_of(org, serial).map(str::to_owned);
                    if on.is_some() && on == a.server {
                        org.devices.assign(serial, None, now);
                        org.devices.migrations.remove(serial);
                        "SUCCESS"
                    } else {
                        "NOT_ASSIGNED_TO_SERVER"
                    }
                }
                "UPDATE_MDM_MIGRATION_DEADLINE" => {
                    match (org.devices.migrations.get_mut(serial), a.deadline) {
                        (Some(m), Some(deadline)) => {
                            m.deadline = deadline;
                            org.devices.touch(serial, now);
                            "SUCCESS"
                        }
                        _ => "NO_MIGRATION_IN_PROGRESS",
                    }
                }
                "CANCEL_MDM_MIGRATION" => {
                    if org.devices.migrations.remove(serial).is_some() {
                        org.devices.touch(serial, now);
                        "SUCCESS"
                    } else {
                        "NO_MIGRATION_IN_PROGRESS"
                    }
                }
                _ => {
                    org.devices.release(serial, now);
                    "SUCCESS"
                }
            }
        };
        log.push((serial.clone(), result));
    }
    let ok = log.iter().filter(|(_, r)| *r == "SUCCESS").count();
    let (status, sub_status) = if ok == log.len() {
        ("COMPLETED", "COMPLETED_WITH_SUCCESS")
    } else if ok == 0 {
        ("FAILED", "COMPLETED_WITH_FAILURE")
    } else {
        ("COMPLETED", "COMPLETED_WITH_ERROR")
    };
    Outcome {
        status,
        sub_status,
        completed: now,
        log,
    }
}

/// `GET /v1/orgDeviceActivities/{id}`: each read moves it on; after
/// `reads_to_finish` reads it has completed.
pub(crate) fn get(
    org: &mut Org,
    base: &str,
    id: &str,
    query: Option<&str>,
    reads_to_finish: u32,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    Query::parse(query, &["fields[orgDeviceActivities]"])?;
    let not_found = || {
        ApiError::not_found(
            "id",
            format!(
                "There is no activity with id '{}' in the past 30 days.",
                crate::session::oauth::printable(id)
            ),
        )
    };
    let mut activity = match org.activities.map.get(id) {
        Some(a) if a.created + ACTIVITY_RETENTION > now => a.clone(),
        _ => return Err(not_found()),
    };
    activity.reads = activity.reads.saturating_add(1);
    if activity.outcome.is_none() && activity.reads >= reads_to_finish {
        activity.outcome = Some(complete(org, &activity, now));
    }
    let doc = json!({
        "data": resource(base, id, &activity),
        "links": { "self": format!("{base}/v1/orgDeviceActivities/{id}") },
    });
    org.activities.map.insert(id.to_owned(), activity);
    Ok(doc)
}
