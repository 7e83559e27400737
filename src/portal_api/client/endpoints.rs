//! The endpoints of the [`PortalApiClient`]: devices, servers (writes in
//! Apple Business only), activities; and [`Pages`], a list read one page at
//! a time.

use core::fmt;
use std::time::Duration as StdDuration;

use http::Method;
use serde::de::DeserializeOwned;

use super::PortalApiClient;
use crate::portal_api::activities::{
    ActivityAttributes, ActivityOutcome, ActivityRequest, FollowPolicy, activity_path,
};
use crate::portal_api::devices::{self, AppleCareCoverage, OrgDevice};
use crate::portal_api::document::{
    Linkage, LinkageDocument, ListDocument, ListQuery, Pager, SingleDocument, parse,
};
use crate::portal_api::servers::{self, CreateServer, MdmServer, UpdateServer};
use crate::portal_api::{ApiScope, PortalApiError};

impl PortalApiClient {
    /// Pages of the list at `path` (`/v1/orgDevices`...), read one at a time.
    pub fn pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Pages<'_, T>, PortalApiError> {
        Ok(Pages {
            client: self,
            pager: Pager::new(&self.base_url, path, query)?,
            failed: false,
            _item: core::marker::PhantomData,
        })
    }

    fn require_business(&self, operation: &'static str) -> Result<(), PortalApiError> {
        match self.scope() {
            ApiScope::Business => Ok(()),
            scope => Err(PortalApiError::BusinessOnly { operation, scope }),
        }
    }

    // --- orgDevices -----------------------------------------------------

    /// *Get Organization Devices*, page by page.
    pub fn devices(&self, query: &ListQuery) -> Result<Pages<'_, OrgDevice>, PortalApiError> {
        self.pages(devices::PATH, query)
    }

    /// *Get Device Information* for `serial` (`fields` narrows the
    /// attributes).
    pub fn device(&self, serial: &str, fields: &[&str]) -> Result<OrgDevice, PortalApiError> {
        let mut target = devices::device_path(serial)?;
        let query = ListQuery::default().with_fields(devices::TYPE, fields);
        if !fields.is_empty() {
            target.push('?');
            target.push_str(&query.to_query()?);
        }
        Ok(self.get::<SingleDocument<_>>(&target, "the device")?.data)
    }

    /// *Get the Assigned Device Management Service ID for a Device*: the
    /// server's id, `None` when unassigned.
    pub fn device_assigned_server_id(
        &self,
        serial: &str,
    ) -> Result<Option<String>, PortalApiError> {
        let doc: LinkageDocument = self.get(
            &devices::assigned_server_linkage_path(serial)?,
            "the device's assigned server",
        )?;
        Ok(doc.data.map(|l| l.id))
    }

    /// *Get the Assigned Device Management Service Information for a
    /// Device*: `None` when unassigned.
    pub fn device_assigned_server(
        &self,
        serial: &str,
    ) -> Result<Option<MdmServer>, PortalApiError> {
        #[derive(serde::Deserialize)]
        struct Maybe {
            data: Option<MdmServer>,
        }
        let doc: Maybe = self.get(
            &devices::assigned_server_path(serial)?,
            "the device's assigned server",
        )?;
        Ok(doc.data)
    }

    /// *Get AppleCare Coverage Information for a Device*, page by page.
    pub fn apple_care_coverage(
        &self,
        serial: &str,
    ) -> Result<Pages<'_, AppleCareCoverage>, PortalApiError> {
        self.pages(&devices::apple_care_path(serial)?, &ListQuery::default())
    }

    // --- mdmServers -----------------------------------------------------

    /// *Get Device Management Services*, page by page.
    pub fn servers(&self, query: &ListQuery) -> Result<Pages<'_, MdmServer>, PortalApiError> {
        self.pages(servers::PATH, query)
    }

    /// Every server (an organization has few: at most a few hundred).
    pub fn all_servers(&self) -> Result<Vec<MdmServer>, PortalApiError> {
        let mut out = Vec::new();
        for page in
            self.servers(&ListQuery::default().with_limit(crate::portal_api::MAX_PAGE_LIMIT))?
        {
            out.extend(page?.data);
        }
        Ok(out)
    }

    /// *Get Device Management Service Information*.
    pub fn server(&self, id: &str) -> Result<MdmServer, PortalApiError> {
        Ok(self
            .get::<SingleDocument<_>>(&servers::server_path(id)?, "the server")?
            .data)
    }

    /// *Get the Device Serial Numbers for a Device Management Service*,
    /// page by page (linkages: `type` `orgDevices`, `id` the serial).
    pub fn server_devices(
        &self,
        id: &str,
        limit: Option<u32>,
    ) -> Result<Pages<'_, Linkage>, PortalApiError> {
        let query = ListQuery {
            limit,
            ..ListQuery::default()
        };
        self.pages(&servers::devices_linkage_path(id)?, &query)
    }

    /// *Create a Device Management Service* (Apple Business only). A 409
    /// means the name is taken or reserved in the portal.
    pub fn create_server(&self, create: &CreateServer) -> Result<MdmServer, PortalApiError> {
        self.require_business("creating a device management service")?;
        let body = servers::create_body(create)?;
        let response = self.execute(
            Method::POST,
            servers::PATH,
            Some(body),
            "creating a device management service",
        )?;
        Ok(parse::<SingleDocument<_>>(response.body(), "the created server")?.data)
    }

    /// *Update a Device Management Service* (Apple Business only): only
    /// the attributes set in `update` are sent.
    pub fn update_server(
        &self,
        id: &str,
        update: &UpdateServer,
    ) -> Result<MdmServer, PortalApiError> {
        self.require_business("updating a device management service")?;
        let body = servers::update_body(id, update)?;
        let response = self.execute(
            Method::PATCH,
            &servers::server_path(id)?,
            Some(body),
            "updating a device management service",
        )?;
        Ok(parse::<SingleDocument<_>>(response.body(), "the updated server")?.data)
    }

    /// *Delete a Device Management Service* (Apple Business only; refused
    /// by Apple while devices are assigned to it).
    pub fn delete_server(&self, id: &str) -> Result<(), PortalApiError> {
        self.require_business("deleting a device management service")?;
        self.execute(
            Method::DELETE,
            &servers::server_path(id)?,
            None,
            "deleting a device management service",
        )?;
        Ok(())
    }

    // --- orgDeviceActivities ------------------------------------------------

    /// Creates an activity (checked first: `RELEASE_DEVICES` is refused on a
    /// School account before any request).
    pub fn create_activity(
        &self,
        request: &ActivityRequest,
    ) -> Result<ActivityOutcome, PortalApiError> {
        let body = request.body(self.scope(), self.environment.now())?;
        let operation = format!("creating a {} activity", request.activity_type);
        let response = self.execute(
            Method::POST,
            crate::portal_api::activities::PATH,
            Some(body),
            &operation,
        )?;
        let doc: SingleDocument<ActivityAttributes> =
            parse(response.body(), "the created activity")?;
        ActivityOutcome::from_resource(&doc.data)
    }

    /// *Get Organization Device Activity Information*.
    pub fn activity(&self, id: &str) -> Result<ActivityOutcome, PortalApiError> {
        let doc: SingleDocument<ActivityAttributes> =
            self.get(&activity_path(id)?, "the activity")?;
        ActivityOutcome::from_resource(&doc.data)
    }

    /// Reads the activity until it is `COMPLETED`, `FAILED` or `STOPPED`,
    /// waiting as `policy` says; [`PortalApiError::ActivityTimedOut`] past
    /// its deadline.
    pub fn follow_activity(
        &self,
        id: &str,
        policy: &FollowPolicy,
    ) -> Result<ActivityOutcome, PortalApiError> {
        let start = self.environment.now();
        let mut polls = 0u32;
        loop {
            let wait = policy.interval(polls);
            let elapsed = self.environment.now() - start;
            let elapsed = StdDuration::from_secs_f64(elapsed.as_seconds_f64().max(0.0));
            if elapsed + wait > policy.deadline {
                let last = self.activity(id)?;
                if last.status.is_final() {
                    return Ok(ActivityOutcome {
                        polls: polls + 1,
                        ..last
                    });
                }
                return Err(PortalApiError::ActivityTimedOut {
                    activity_id: crate::portal_api::error::printable(id),
                    status: last.status.as_str().to_owned(),
                    waited_seconds: elapsed.as_secs(),
                });
            }
            self.environment.sleep(wait);
            polls += 1;
            let outcome = self.activity(id)?;
            if outcome.status.is_final() {
                return Ok(ActivityOutcome { polls, ..outcome });
            }
        }
    }

    /// Creates the activity and follows it to its end.
    pub fn run_activity(
        &self,
        request: &ActivityRequest,
        policy: &FollowPolicy,
    ) -> Result<ActivityOutcome, PortalApiError> {
        let created = self.create_activity(request)?;
        if created.status.is_final() {
            return Ok(created);
        }
        self.follow_activity(&created.id, policy)
    }

    /// Assigns `serials` to the server `server_id` and waits for the result.
    pub fn assign_devices<S: AsRef<str>>(
        &self,
        server_id: &str,
        serials: &[S],
        policy: &FollowPolicy,
    ) -> Result<ActivityOutcome, PortalApiError> {
        self.run_activity(&ActivityRequest::assign(server_id, serials), policy)
    }

    /// Unassigns `serials` from the server `server_id` and waits for the result.
    pub fn unassign_devices<S: AsRef<str>>(
        &self,
        server_id: &str,
        serials: &[S],
        policy: &FollowPolicy,
    ) -> Result<ActivityOutcome, PortalApiError> {
        self.run_activity(&ActivityRequest::unassign(server_id, serials), policy)
    }
}

/// The pages of a list, fetched one at a time as the iterator advances;
/// after an error it ends.
pub struct Pages<'a, T> {
    client: &'a PortalApiClient,
    pager: Pager,
    failed: bool,
    _item: core::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Pages<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").field("pager", &self.pager).finish()
    }
}

impl<T: DeserializeOwned> Pages<'_, T> {
    /// Calls `visit` with each resource, one page in memory at a time;
    /// returns how many were visited.
    pub fn for_each<E: From<PortalApiError>>(
        self,
        mut visit: impl FnMut(T) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut count = 0u64;
        for page in self {
            for item in page?.data {
                visit(item)?;
                count += 1;
            }
        }
        Ok(count)
    }
}

impl<T: DeserializeOwned> Iterator for Pages<'_, T> {
    type Item = Result<ListDocument<T>, PortalApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let target = self.pager.next_request()?.to_owned();
        let result = self
            .client
            .get::<ListDocument<T>>(&target, "a list page")
            .and_then(|page| {
                self.pager.advance(&page)?;
                Ok(page)
            });
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}
