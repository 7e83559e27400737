//! The organization's devices (`/v1/orgDevices`...).
//!
//! Devices are computed from (seed, position) when asked for, like the
//! device assignment side's inventory, so a million of them cost no memory:
//! only assignments, releases and migrations are stored. The first
//! `assigned` positions carry the serials the device assignment side seeds
//! for the same seed (`S` + 3 hex digits + 8 digits) and start on the
//! organization's first server; the next `unassigned` ones (`U...`) start
//! unassigned.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::Org;
use super::documents::{ApiError, Page, Query, encode_cursor, page, select, timestamp, typed_page};
use crate::simulator::inventory::{COLORS, FAMILIES, mix};

/// Every attribute of an org device, in Apple's order.
pub(crate) const DEVICE_ATTRIBUTES: [&str; 23] = [
    "serialNumber",
    "addedToOrgDateTime",
    "updatedDateTime",
    "deviceModel",
    "productFamily",
    "productType",
    "deviceCapacity",
    "partNumber",
    "orderNumber",
    "orderDateTime",
    "color",
    "status",
    "imei",
    "meid",
    "eid",
    "purchaseSourceId",
    "purchaseSourceType",
    "wifiMacAddress",
    "bluetoothMacAddress",
    "ethernetMacAddress",
    "isMdmMigrationCapable",
    "mdmMigrationStatus",
    "mdmMigrationDeadlineDateTime",
];

/// Per family (same order as the device assignment side): product type,
/// part number, capacity.
const DETAILS: [(&str, &str, &str); 5] = [
    ("iPad13,16", "MM9C3LL/A", "64GB"),
    ("iPhone15,4", "MTP03LL/A", "128GB"),
    ("Mac14,2", "MLY33LL/A", "256GB"),
    ("AppleTV14,1", "MN873LL/A", "64GB"),
    ("RealityDevice14,1", "MW8X3LL/A", "256GB"),
];

/// A scheduled management migration of one device.
#[derive(Debug, Clone)]
pub(crate) struct Migration {
    pub(crate) status: &'static str,
    pub(crate) deadline: OffsetDateTime,
}

pub(crate) struct Devices {
    seed: u64,
    prefix: String,
    assigned: u64,
    unassigned: u64,
    /// Where the first `assigned` devices start.
    pub(crate) default_server: Option<String>,
    /// Assignments changed since the start (serial → server id or none).
    assignment: HashMap<String, Option<String>>,
    released: HashSet<String>,
    pub(crate) migrations: HashMap<String, Migration>,
    updated: HashMap<String, OffsetDateTime>,
}

fn mac(h: u64, salt: u64) -> String {
    let b = mix(h ^ salt).to_be_bytes();
    format!(
        "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        b[0] & 0xFC,
        b[1],
        b[2],
        b[3],
        b[4],
        b[5]
    )
}

impl Devices {
    pub(crate) fn new(
        seed: u64,
        assigned: u32,
        unassigned: u32,
        default_server: Option<String>,
    ) -> Self {
        Self {
            seed,
            prefix: format!("{:03X}", seed & 0xFFF),
            assigned: u64::from(assigned),
            unassigned: u64::from(unassigned),
            default_server,
            assignment: HashMap::new(),
            released: HashSet::new(),
            migrations: HashMap::new(),
            updated: HashMap::new(),
        }
    }

    fn total(&self) -> u64 {
        self.assigned + self.unassigned
    }

    /// Devices still in the organization.
    pub(crate) fn count(&self) -> u64 {
        self.total() - self.released.len() as u64
    }

    pub(crate) fn serial_at(&self, position: u64) -> String {
        if position < self.assigned {
            format!("S{}{position:08}", self.prefix)
        } else {
            format!("U{}{:08}", self.prefix, position - self.assigned)
        }
    }

    /// The position of `serial` if it is (or was) one of this organization's.
    fn position_of(&self, serial: &str) -> Option<u64> {
        if serial.len() != 12 {
            return None;
        }
        let (kind, rest) = serial.split_at(1);
        let index: u64 = rest.strip_prefix(self.prefix.as_str())?.parse().ok()?;
        match kind {
            "S" if index < self.assigned => Some(index),
            "U" if index < self.unassigned => Some(self.assigned + index),
            _ => None,
        }
    }

    /// Whether `serial` is in the organization now.
    pub(crate) fn exists(&self, serial: &str) -> bool {
        self.position_of(serial).is_some() && !self.released.contains(serial)
    }

    /// The server id `serial` is assigned to (the server may be gone).
    fn raw_server(&self, serial: &str, position: u64) -> Option<&str> {
        match self.assignment.get(serial) {
            Some(changed) => changed.as_deref(),
            None if position < self.assigned => self.default_server.as_deref(),
            None => None,
        }
    }

    /// The existing server `serial` is assigned to.
    pub(crate) fn server_of<'a>(&'a self, org: &Org, serial: &str) -> Option<&'a str> {
        let position = self.position_of(serial)?;
        if self.released.contains(serial) {
            return None;
        }
        self.raw_server(serial, position)
            .filter(|id| org.servers.get(id).is_some())
    }

    pub(crate) fn assign(&mut self, serial: &str, server: Option<String>, now: OffsetDateTime) {
        self.assignment.insert(serial.to_owned(), server);
        self.updated.insert(serial.to_owned(), now);
    }

    pub(crate) fn release(&mut self, serial: &str, now: OffsetDateTime) {
        self.released.insert(serial.to_owned());
        self.assignment.remove(serial);
        self.migrations.remove(serial);
        self.updated.insert(serial.to_owned(), now);
    }

    pub(crate) fn touch(&mut self, serial: &str, now: OffsetDateTime) {
        self.updated.insert(serial.to_owned(), now);
    }

    /// How many present devices are assigned to `server` (cost: the stored
    /// changes, not the devices).
    pub(crate) fn count_for(&self, server: &str) -> u64 {
        let mut count = if self.default_server.as_deref() == Some(server) {
            self.assigned
        } else {
            0
        };
        for (serial, changed) in &self.assignment {
            let Some(position) = self.position_of(serial) else {
                continue;
            };
            let default = (position < self.assigned)
                .then_some(self.default_server.as_deref())
                .flatten();
            match (default == Some(server), changed.as_deref() == Some(server)) {
                (true, false) => count -= 1,
                (false, true) => count += 1,
                _ => {}
            }
        }
        for serial in &self.released {
            // Released devices have no stored assignment any more.
            if let Some(position) = self.position_of(serial)
                && position < self.assigned
                && self.default_server.as_deref() == Some(server)
            {
                count = count.saturating_sub(1);
            }
        }
        count
    }

    /// Whether any device may be on `server` (skips scanning a million
    /// devices for a server that has none).
    fn may_hold(&self, server: &str) -> bool {
        self.default_server.as_deref() == Some(server)
            || self
                .assignment
                .values()
                .any(|s| s.as_deref() == Some(server))
    }

    fn attributes(&self, org: &Org, position: u64, serial: &str) -> DeviceAttributes {
        let h = mix(self.seed ^ mix(position));
        let family_index = (h % FAMILIES.len() as u64) as usize;
        let (family, _, model) = FAMILIES[family_index];
        let (product_type, part, capacity) = DETAILS[family_index];
        let color = COLORS[((h >> 8) % COLORS.len() as u64) as usize];
        let added = OffsetDateTime::UNIX_EPOCH
            + Duration::days(20_000)
            + Duration::minutes((h >> 16 & 0xFFFF) as i64);
        let updated = self
            .updated
            .get(serial)
            .copied()
            .unwrap_or(added + Duration::days(1));
        let phone = family == "iPhone";
        let digits = |salt: u64, n: usize| -> String {
            let v = mix(h ^ salt);
            format!("{:020}", v)[20 - n.min(20)..].to_owned()
        };
        let migration = self.migrations.get(serial);
        let assigned = self.server_of(org, serial).is_some();
        DeviceAttributes {
            serial_number: serial.to_owned(),
            added_to_org_date_time: timestamp(added),
            updated_date_time: timestamp(updated),
            device_model: model,
            product_family: family,
            product_type,
            device_capacity: capacity,
            part_number: part,
            order_number: format!("ORD{}", digits(1, 10)),
            order_date_time: timestamp(added - Duration::days(3)),
            color,
            status: if assigned { "ASSIGNED" } else { "UNASSIGNED" },
            imei: if phone {
                vec![digits(2, 15), digits(3, 15)]
            } else {
                Vec::new()
            },
            meid: if phone {
                vec![digits(4, 14)]
            } else {
                Vec::new()
            },
            eid: if phone {
                format!("8904{}{}", digits(5, 14), digits(6, 14))
            } else {
                String::new()
            },
            purchase_source_id: format!("{:07}", h % 10_000_000),
            purchase_source_type: if (h >> 48).is_multiple_of(3) {
                "RESELLER"
            } else {
                "APPLE"
            },
            wifi_mac_address: mac(h, 7),
            bluetooth_mac_address: mac(h, 8),
            ethernet_mac_address: if family == "Mac" {
                vec![mac(h, 9)]
            } else {
                Vec::new()
            },
            is_mdm_migration_capable: family != "AppleTV",
            mdm_migration_status: migration.map(|mg| mg.status),
            mdm_migration_deadline_date_time: migration.map(|mg| timestamp(mg.deadline)),
        }
    }

    /// The full resource of the device at `position`: typed, so a page of a
    /// thousand is serialized without building a `Value` per device.
    fn resource(
        &self,
        org: &Org,
        base: &str,
        position: u64,
        serial: &str,
        fields: Option<&[&str]>,
    ) -> DeviceResource {
        let attributes = self.attributes(org, position, serial);
        let attributes = match fields {
            None => Attributes::All(Box::new(attributes)),
            Some(fields) => Attributes::Selected(match serde_json::to_value(attributes) {
                Ok(Value::Object(m)) => select(m, Some(fields)),
                _ => Value::Null,
            }),
        };
        let me = format!("{base}/v1/orgDevices/{serial}");
        DeviceResource {
            kind: "orgDevices",
            id: serial.to_owned(),
            attributes,
            relationships: DeviceRelationships {
                assigned_server: RelationshipLinks {
                    links: Links {
                        this: Some(format!("{me}/relationships/assignedServer")),
                        related: format!("{me}/assignedServer"),
                    },
                },
                apple_care_coverage: RelationshipLinks {
                    links: Links {
                        this: None,
                        related: format!("{me}/appleCareCoverage"),
                    },
                },
            },
            links: SelfLink { this: me },
        }
    }
}

/// An org device's attributes, in Apple's order ([`DEVICE_ATTRIBUTES`]).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceAttributes {
    serial_number: String,
    added_to_org_date_time: String,
    updated_date_time: String,
    device_model: &'static str,
    product_family: &'static str,
    product_type: &'static str,
    device_capacity: &'static str,
    part_number: &'static str,
    order_number: String,
    order_date_time: String,
    color: &'static str,
    status: &'static str,
    imei: Vec<String>,
    meid: Vec<String>,
    eid: String,
    purchase_source_id: String,
    purchase_source_type: &'static str,
    wifi_mac_address: String,
    bluetooth_mac_address: String,
    ethernet_mac_address: Vec<String>,
    is_mdm_migration_capable: bool,
    mdm_migration_status: Option<&'static str>,
    mdm_migration_deadline_date_time: Option<String>,
}

/// Every attribute, or the `fields[orgDevices]` asked for.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Attributes {
    All(Box<DeviceAttributes>),
    Selected(Value),
}

/// An org device resource as Apple sends it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct DeviceResource {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    attributes: Attributes,
    relationships: DeviceRelationships,
    links: SelfLink,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRelationships {
    assigned_server: RelationshipLinks,
    apple_care_coverage: RelationshipLinks,
}

#[derive(Debug, serde::Serialize)]
struct RelationshipLinks {
    links: Links,
}

#[derive(Debug, serde::Serialize)]
struct Links {
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    this: Option<String>,
    related: String,
}

#[derive(Debug, serde::Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    this: String,
}

fn self_link(base: &str, path_and_query: &str) -> String {
    format!("{base}{path_and_query}")
}

/// `GET /v1/orgDevices`.
pub(crate) fn list(
    org: &Org,
    base: &str,
    path_and_query: &str,
    query: Option<&str>,
) -> Result<Page<DeviceResource>, ApiError> {
    let q = Query::parse(query, &["limit", "cursor", "fields[orgDevices]"])?;
    let limit = q.limit()?;
    let start = q.cursor("orgDevices")?;
    let fields = q.fields("orgDevices", &DEVICE_ATTRIBUTES)?;
    let d = &org.devices;
    let mut data = Vec::with_capacity(limit.min(d.total()) as usize);
    let mut position = start;
    while position < d.total() && (data.len() as u64) < limit {
        let serial = d.serial_at(position);
        if !d.released.contains(&serial) {
            data.push(d.resource(org, base, position, &serial, fields.as_deref()));
        }
        position += 1;
    }
    let next = (position < d.total()).then(|| encode_cursor("orgDevices", position));
    Ok(typed_page(
        data,
        &self_link(base, path_and_query),
        limit,
        d.count(),
        next,
    ))
}

fn find(org: &Org, serial: &str) -> Result<u64, ApiError> {
    org.devices
        .position_of(serial)
        .filter(|_| !org.devices.released.contains(serial))
        .ok_or_else(|| {
            ApiError::not_found(
                "id",
                format!(
                    "There is no device with serial number '{}' in this organization.",
                    crate::session::oauth::printable(serial)
                ),
            )
        })
}

/// `GET /v1/orgDevices/{id}`.
pub(crate) fn one(
    org: &Org,
    base: &str,
    serial: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let q = Query::parse(query, &["fields[orgDevices]"])?;
    let fields = q.fields("orgDevices", &DEVICE_ATTRIBUTES)?;
    let position = find(org, serial)?;
    Ok(json!({
        "data": org.devices.resource(org, base, position, serial, fields.as_deref()),
        "links": { "self": format!("{base}/v1/orgDevices/{serial}") },
    }))
}

/// `GET /v1/orgDevices/{id}/relationships/assignedServer`.
pub(crate) fn assigned_server_linkage(
    org: &Org,
    base: &str,
    serial: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    Query::parse(query, &[])?;
    find(org, serial)?;
    let data = match org.devices.server_of(org, serial) {
        Some(id) => json!({ "type": "mdmServers", "id": id }),
        None => Value::Null,
    };
    let me = format!("{base}/v1/orgDevices/{serial}");
    Ok(json!({
        "data": data,
        "links": {
            "self": format!("{me}/relationships/assignedServer"),
            "related": format!("{me}/assignedServer"),
        },
    }))
}

/// `GET /v1/orgDevices/{id}/assignedServer`.
pub(crate) fn assigned_server(
    org: &Org,
    base: &str,
    serial: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let q = Query::parse(query, &["fields[mdmServers]"])?;
    let fields = q.fields("mdmServers", &super::servers::SERVER_ATTRIBUTES)?;
    find(org, serial)?;
    let data = match org
        .devices
        .server_of(org, serial)
        .and_then(|id| org.servers.get(id))
    {
        Some(server) => server.resource(org, base, fields.as_deref()),
        None => Value::Null,
    };
    Ok(json!({
        "data": data,
        "links": { "self": format!("{base}/v1/orgDevices/{serial}/assignedServer") },
    }))
}

/// `GET /v1/orgDevices/{id}/appleCareCoverage`: the limited warranty, and
/// AppleCare+ for some devices.
pub(crate) fn apple_care(
    org: &Org,
    base: &str,
    serial: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    const KNOWN: [&str; 9] = [
        "status",
        "paymentType",
        "description",
        "startDateTime",
        "endDateTime",
        "isRenewable",
        "isCanceled",
        "contractCancelDateTime",
        "agreementNumber",
    ];
    let q = Query::parse(query, &["limit", "fields[appleCareCoverage]"])?;
    let limit = q.limit()?;
    let fields = q.fields("appleCareCoverage", &KNOWN)?;
    let position = find(org, serial)?;
    let h = mix(org.devices.seed ^ mix(position));
    let start = OffsetDateTime::UNIX_EPOCH
        + Duration::days(20_000)
        + Duration::minutes((h >> 16 & 0xFFFF) as i64);
    let mut coverages = vec![(
        format!("{serial}-LW"),
        json!({
            "status": "INACTIVE",
            "paymentType": "NONE",
            "description": "Limited Warranty",
            "startDateTime": timestamp(start),
            "endDateTime": timestamp(start + Duration::days(365)),
            "isRenewable": false,
            "isCanceled": false,
            "contractCancelDateTime": null,
            "agreementNumber": null,
        }),
    )];
    if h.is_multiple_of(2) {
        coverages.push((
            format!("{serial}-AC"),
            json!({
                "status": "ACTIVE",
                "paymentType": "PAID_UP_FRONT",
                "description": "AppleCare+",
                "startDateTime": timestamp(start),
                "endDateTime": timestamp(start + Duration::days(3 * 365)),
                "isRenewable": false,
                "isCanceled": false,
                "contractCancelDateTime": null,
                "agreementNumber": format!("{:010}", h % 10_000_000_000),
            }),
        ));
    }
    let total = coverages.len() as u64;
    let data = coverages
        .into_iter()
        .take(limit as usize)
        .map(|(id, attributes)| {
            let attributes = match attributes {
                Value::Object(m) => select(m, fields.as_deref()),
                other => other,
            };
            json!({ "type": "appleCareCoverage", "id": id, "attributes": attributes })
        })
        .collect();
    Ok(page(
        data,
        &format!("{base}/v1/orgDevices/{serial}/appleCareCoverage"),
        limit,
        total,
        None,
    ))
}

/// `GET /v1/mdmServers/{id}/relationships/devices`: the serials on a server.
pub(crate) fn of_server(
    org: &Org,
    base: &str,
    server: &str,
    path_and_query: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let q = Query::parse(query, &["limit", "cursor"])?;
    let limit = q.limit()?;
    let scope = format!("servers/{server}");
    let start = q.cursor(&scope)?;
    let d = &org.devices;
    let mut data = Vec::new();
    let mut position = if d.may_hold(server) { start } else { d.total() };
    while position < d.total() && (data.len() as u64) < limit {
        let serial = d.serial_at(position);
        if !d.released.contains(&serial) && d.raw_server(&serial, position) == Some(server) {
            data.push(json!({ "type": "orgDevices", "id": serial }));
        }
        position += 1;
    }
    let next = (position < d.total()).then(|| encode_cursor(&scope, position));
    Ok(page(
        data,
        &self_link(base, path_and_query),
        limit,
        d.count_for(server),
        next,
    ))
}
