//! What the faces (the CLI and the C API) read from the API, in one
//! shape each: the servers as JSON objects ([`ServerListing`]), the devices
//! page by page with their serial number always set
//! ([`for_each_device`]), and device activities over any number of serial
//! numbers with a typed report ([`run_device_activities`],
//! [`DeviceActivitiesReport`]).
//!
//! `mdmlink api servers --json`, `api devices --json` and `api assign`
//! print these; the C functions `mdmlink_store_api_servers_json`,
//! `mdmlink_store_api_devices_json` and `mdmlink_store_api_assign` return
//! them: one schema for both.

use serde::Serialize;

use super::MAX_PAGE_LIMIT;
use super::PortalApiError;
use super::activities::{
    ActivityOutcome, ActivityRequest, ActivityType, FollowPolicy, MAX_DEVICES_PER_ACTIVITY,
};
use super::client::PortalApiClient;
use super::devices::{OrgDevice, OrgDeviceAttributes};
use super::document::{Linkage, ListQuery};
use super::servers::{MdmServer, MdmServerAttributes};

/// A portal server as listed: its `id` and Apple's attributes, keyed as
/// Apple names them (`serverName`, `serverType`, `createdDateTime`,
/// `updatedDateTime`, `status`, `deviceCount`, `enableMdmDisownFlag`,
/// `defaultProductFamilies`, `lastConnectedDateTime`, `lastConnectedIp`;
/// absent ones are left out).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ServerListing<'a> {
    /// The portal's id of the server.
    pub id: &'a str,
    /// Apple's attributes.
    #[serde(flatten)]
    pub attributes: &'a MdmServerAttributes,
}

impl<'a> ServerListing<'a> {
    /// The listing of `server`.
    pub fn of(server: &'a MdmServer) -> Self {
        Self {
            id: &server.id,
            attributes: &server.attributes,
        }
    }
}

/// Calls `visit` with each device, one page in memory at a time: every
/// device of the organization (`server_id` `None`), or those assigned to
/// the portal's server `server_id`. Apple lists a server's devices by
/// serial number only; with `full` each one is read (one request per
/// device), otherwise only `serialNumber` is set. `serialNumber` is always
/// set (from the resource's id when Apple leaves it out). Returns how many
/// devices were visited.
pub fn for_each_device<E: From<PortalApiError>>(
    client: &PortalApiClient,
    server_id: Option<&str>,
    full: bool,
    mut visit: impl FnMut(OrgDeviceAttributes) -> Result<(), E>,
) -> Result<u64, E> {
    let mut with_serial = |id: String, mut d: OrgDeviceAttributes| {
        if d.serial_number.is_none() {
            d.serial_number = Some(id);
        }
        visit(d)
    };
    match server_id {
        None => client
            .devices(&ListQuery::default().with_limit(MAX_PAGE_LIMIT))?
            .for_each(|d: OrgDevice| with_serial(d.id, d.attributes)),
        Some(id) => client
            .server_devices(id, Some(MAX_PAGE_LIMIT))?
            .for_each(|l: Linkage| {
                let attributes = if full {
                    client.device(&l.id, &[])?.attributes
                } else {
                    OrgDeviceAttributes::default()
                };
                with_serial(l.id, attributes)
            }),
    }
}

/// One activity of a [`DeviceActivitiesReport`], keyed as Apple names the
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ActivityReport {
    /// The activity's id.
    pub id: String,
    /// `status` as Apple spells it: `COMPLETED`, `FAILED`, `STOPPED` (or
    /// another value Apple adds).
    pub status: String,
    /// `subStatus` (`COMPLETED_WITH_SUCCESS`, `COMPLETED_WITH_ERROR`...).
    pub sub_status: Option<String>,
    /// `createdDateTime`.
    pub created_date_time: Option<String>,
    /// `completedDateTime`.
    pub completed_date_time: Option<String>,
    /// `downloadUrl`: the CSV log of each device's result.
    pub log_url: Option<String>,
    /// How many serial numbers it carried.
    pub devices: usize,
    /// How many times it was read while following it.
    pub polls: u32,
    /// `COMPLETED` without an error `subStatus`: every device was handled.
    pub succeeded: bool,
}

impl ActivityReport {
    /// The report of `outcome`, an activity of `devices` serial numbers.
    pub fn new(outcome: &ActivityOutcome, devices: usize) -> Self {
        Self {
            id: outcome.id.clone(),
            status: outcome.status.as_str().to_owned(),
            sub_status: outcome.sub_status.clone(),
            created_date_time: outcome.created.clone(),
            completed_date_time: outcome.completed.clone(),
            log_url: outcome.log_url.clone(),
            devices,
            polls: outcome.polls,
            succeeded: outcome.succeeded(),
        }
    }
}

/// What [`run_device_activities`] did: one activity per thousand serial
/// numbers, each followed to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceActivitiesReport {
    /// `activityType`: `ASSIGN_DEVICES` or `UNASSIGN_DEVICES`.
    pub activity_type: ActivityType,
    /// The portal's id of the server.
    pub server_id: String,
    /// How many serial numbers were sent, in all.
    pub devices: usize,
    /// `true` when every activity completed with every device handled.
    pub completed: bool,
    /// Each activity, in the order sent.
    pub activities: Vec<ActivityReport>,
}

/// Assigns (`assign`) or unassigns `serials` to or from the portal's
/// server `server_id`: one activity per [`MAX_DEVICES_PER_ACTIVITY`]
/// serial numbers, each created and followed to its end as `policy` says
/// before the next is sent; `each` sees every outcome as it comes (for a
/// caller printing progress). Every request is checked (at `now`) before
/// the first is sent.
pub fn run_device_activities<S: AsRef<str>>(
    client: &PortalApiClient,
    server_id: &str,
    serials: &[S],
    assign: bool,
    policy: &FollowPolicy,
    now: time::OffsetDateTime,
    each: &mut dyn FnMut(&ActivityRequest, &ActivityOutcome),
) -> Result<DeviceActivitiesReport, PortalApiError> {
    let activity_type = if assign {
        ActivityType::AssignDevices
    } else {
        ActivityType::UnassignDevices
    };
    if serials.is_empty() {
        return Err(PortalApiError::InvalidArgument {
            reason: "give at least one serial number".to_owned(),
        });
    }
    let requests: Vec<ActivityRequest> = serials
        .chunks(MAX_DEVICES_PER_ACTIVITY)
        .map(|chunk| ActivityRequest::new(activity_type, Some(server_id), chunk, None))
        .collect();
    for request in &requests {
        request.check(client.scope(), now)?;
    }
    let mut report = DeviceActivitiesReport {
        activity_type,
        server_id: server_id.to_owned(),
        devices: serials.len(),
        completed: true,
        activities: Vec::with_capacity(requests.len()),
    };
    for request in &requests {
        let outcome = client.run_activity(request, policy)?;
        each(request, &outcome);
        let one = ActivityReport::new(&outcome, request.serials.len());
        report.completed &= one.succeeded;
        report.activities.push(one);
    }
    Ok(report)
}
