//! One account's devices, cursors and profiles, with the semantics of
//! Apple's service: fetch pages and cursors, `EXHAUSTED_CURSOR` after a
//! completed fetch, `EXPIRED_CURSOR` after the cursor lifetime,
//! `INVALID_CURSOR` for unknown ones, a change log that sync pages through
//! (`added`, `modified`, `deleted` with `op_date`), profiles and assignment.
//!
//! Seeded devices are computed from (seed, index) when asked for, so a
//! million devices cost no memory; only changes are stored.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use http::{Response, StatusCode};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use super::service::{json as json_reply, text};
use crate::dep::{
    Device, DevicePage, DeviceStatus, MAX_PAGE_LIMIT, MAX_SERIALS_PER_REQUEST, OpType,
};

/// Cursors remembered per account (oldest forgotten first, then `INVALID_CURSOR`).
const CURSOR_MEMORY: usize = 65_536;

/// Faults an account injects on request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// Serials whose assignment answers `THROTTLED`.
    pub(crate) throttled: HashSet<String>,
    /// The next this many fetch/sync calls with a cursor hand that cursor
    /// back with `more_to_follow: true`.
    pub(crate) repeat_cursor: u32,
}

#[derive(Debug, Clone, Copy)]
enum CursorKind {
    Fetch {
        position: u64,
        log_at_start: usize,
        done: bool,
    },
    Sync {
        log_position: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct CursorState {
    kind: CursorKind,
    issued: OffsetDateTime,
}

pub(crate) struct Inventory {
    seed: u64,
    prefix: String,
    seeded: u64,
    added: Vec<String>,
    overlay: HashMap<String, Device>,
    deleted: HashSet<String>,
    log: Vec<Device>,
    cursors: HashMap<String, CursorState>,
    cursor_order: VecDeque<String>,
    next_id: u64,
    profiles: HashMap<String, Value>,
    pub(crate) faults: Faults,
}

pub(crate) fn mix(mut z: u64) -> u64 {
    // splitmix64: a fixed, well-spread function of the index.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn error(code: &str) -> Response<Vec<u8>> {
    text(StatusCode::BAD_REQUEST, code)
}

pub(crate) const FAMILIES: [(&str, &str, &str); 5] = [
    ("iPad", "iPadOS", "iPad Air (5th generation)"),
    ("iPhone", "iOS", "iPhone 15"),
    ("Mac", "OSX", "MacBook Air (M2, 2022)"),
    ("AppleTV", "tvOS", "Apple TV 4K"),
    ("Vision", "visionOS", "Apple Vision Pro"),
];
pub(crate) const COLORS: [&str; 4] = ["SPACE GRAY", "SILVER", "STARLIGHT", "MIDNIGHT"];

/// A 400 code (the reply is made by `error`).
type Refusal = &'static str;

fn serials_of(body: &Value) -> Result<Vec<String>, Refusal> {
    let Some(list) = body.get("devices").and_then(Value::as_array) else {
        return Err("DEVICE_ID_REQUIRED");
    };
    if list.is_empty() {
        return Err("DEVICE_ID_REQUIRED");
    }
    if list.len() > MAX_SERIALS_PER_REQUEST {
        return Err("MALFORMED_REQUEST_BODY");
    }
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or("MALFORMED_REQUEST_BODY")
        })
        .collect()
}

fn page_reply(page: &DevicePage) -> Response<Vec<u8>> {
    match serde_json::to_vec(page) {
        Ok(body) => super::service::reply(StatusCode::OK, "application/json;charset=UTF-8", body),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
    }
}

impl Inventory {
    pub(crate) fn new(seed: u64, seeded: u32) -> Self {
        Self {
            seed,
            prefix: format!("{:03X}", seed & 0xFFF),
            seeded: u64::from(seeded),
            added: Vec::new(),
            overlay: HashMap::new(),
            deleted: HashSet::new(),
            log: Vec::new(),
            cursors: HashMap::new(),
            cursor_order: VecDeque::new(),
            next_id: 0,
            profiles: HashMap::new(),
            faults: Faults::default(),
        }
    }

    /// The device generated for `index` with `serial`.
    fn generate(&self, index: u64, serial: String) -> Device {
        let h = mix(self.seed ^ mix(index));
        let (family, os, model) = FAMILIES[(h % FAMILIES.len() as u64) as usize];
        let color = COLORS[((h >> 8) % COLORS.len() as u64) as usize];
        let assigned = OffsetDateTime::UNIX_EPOCH
            + Duration::days(20_000)
            + Duration::minutes((h >> 16 & 0xFFFF) as i64);
        let (status, profile) = match (h >> 32) % 10 {
            0 => ("pushed", Some("SEEDED-PROFILE".to_owned())),
            1 => ("assigned", Some("SEEDED-PROFILE".to_owned())),
            _ => ("empty", None),
        };
        Device {
            model: Some(model.to_owned()),
            description: Some(format!("{model} {color}")),
            color: Some(color.to_owned()),
            profile_status: Some(status.to_owned()),
            profile_uuid: profile,
            device_assigned_date: Some(rfc3339(assigned)),
            device_assigned_by: Some("admin@example.com".to_owned()),
            os: Some(os.to_owned()),
            device_family: Some(family.to_owned()),
            ..Device::new(serial)
        }
    }

    fn seeded_serial(&self, index: u64) -> String {
        format!("S{}{index:08}", self.prefix)
    }

    /// The serial numbers of the seeded devices, in order (for tests).
    pub(crate) fn seeded_serials(&self, count: usize) -> Vec<String> {
        (0..self.seeded.min(count as u64))
            .map(|i| self.seeded_serial(i))
            .collect()
    }

    /// The device at fetch position `position`, unless deleted.
    fn at(&self, position: u64) -> Option<Device> {
        let serial = if position < self.seeded {
            self.seeded_serial(position)
        } else {
            self.added
                .get(usize::try_from(position - self.seeded).ok()?)?
                .clone()
        };
        if self.deleted.contains(&serial) {
            return None;
        }
        match self.overlay.get(&serial) {
            Some(d) => Some(d.clone()),
            None => Some(self.generate(position, serial)),
        }
    }

    /// The current record of `serial`, if this account has it.
    fn lookup(&self, serial: &str) -> Option<Device> {
        if self.deleted.contains(serial) {
            return None;
        }
        if let Some(d) = self.overlay.get(serial) {
            return Some(d.clone());
        }
        let index: u64 = serial
            .strip_prefix('S')?
            .strip_prefix(self.prefix.as_str())?
            .parse()
            .ok()?;
        (index < self.seeded && serial.len() == 12).then(|| self.generate(index, serial.to_owned()))
    }

    fn total(&self) -> u64 {
        self.seeded + self.added.len() as u64
    }

    /// Devices present now.
    pub(crate) fn count(&self) -> u64 {
        self.total() - self.deleted.len() as u64
    }

    fn record(&mut self, mut device: Device, op: OpType, now: OffsetDateTime) {
        if op == OpType::Deleted {
            self.overlay.remove(&device.serial_number);
            self.deleted.insert(device.serial_number.clone());
            device = Device::new(device.serial_number);
        } else {
            self.overlay
                .insert(device.serial_number.clone(), device.clone());
        }
        device.op_type = Some(op);
        device.op_date = Some(now);
        self.log.push(device);
    }

    /// Adds `n` devices (assigned to this server in the portal).
    pub(crate) fn add(&mut self, n: u32, now: OffsetDateTime) -> Vec<String> {
        (0..n)
            .map(|_| {
                let index = self.total();
                let serial = format!("A{}{:08}", self.prefix, self.added.len());
                let device = self.generate(index, serial.clone());
                self.added.push(serial.clone());
                self.record(device, OpType::Added, now);
                serial
            })
            .collect()
    }

    /// Changes the asset tag of each known serial; returns how many changed.
    pub(crate) fn modify(&mut self, serials: &[String], now: OffsetDateTime) -> usize {
        let mut n = 0;
        for serial in serials {
            if let Some(mut d) = self.lookup(serial) {
                d.asset_tag = Some(format!("TAG-{}", self.log.len()));
                self.record(d, OpType::Modified, now);
                n += 1;
            }
        }
        n
    }

    /// Removes each known serial from this server; returns how many.
    pub(crate) fn delete(&mut self, serials: &[String], now: OffsetDateTime) -> usize {
        let mut n = 0;
        for serial in serials {
            if let Some(d) = self.lookup(serial) {
                self.record(d, OpType::Deleted, now);
                n += 1;
            }
        }
        n
    }

    /// Makes every cursor issued so far expired.
    pub(crate) fn expire_cursors(&mut self) {
        for c in self.cursors.values_mut() {
            c.issued = OffsetDateTime::UNIX_EPOCH;
        }
    }

    /// Forgets every cursor (they become `INVALID_CURSOR`).
    pub(crate) fn forget_cursors(&mut self) {
        self.cursors.clear();
        self.cursor_order.clear();
    }

    fn issue(&mut self, kind: CursorKind, now: OffsetDateTime) -> String {
        self.next_id += 1;
        let id = format!(
            "MDA{:016X}{:08X}",
            mix(self.seed ^ self.next_id),
            self.next_id
        );
        if self.cursor_order.len() >= CURSOR_MEMORY
            && let Some(old) = self.cursor_order.pop_front()
        {
            self.cursors.remove(&old);
        }
        self.cursors
            .insert(id.clone(), CursorState { kind, issued: now });
        self.cursor_order.push_back(id.clone());
        id
    }

    fn cursor(
        &self,
        cursor: &str,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<CursorKind, Refusal> {
        match self.cursors.get(cursor) {
            None => Err("INVALID_CURSOR"),
            Some(c) if now - c.issued > lifetime => Err("EXPIRED_CURSOR"),
            Some(c) => Ok(c.kind),
        }
    }

    fn limit(body: &Value) -> Result<usize, Refusal> {
        match body.get("limit") {
            None | Some(Value::Null) => Ok(100),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Ok(n.min(u64::from(MAX_PAGE_LIMIT)) as usize),
                _ => Err("MALFORMED_REQUEST_BODY"),
            },
        }
    }

    fn cursor_arg(body: &Value) -> Result<Option<&str>, Refusal> {
        match body.get("cursor") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err("MALFORMED_REQUEST_BODY"),
        }
    }

    /// A repeated-cursor fault: the same cursor back, more to follow.
    fn repeated(&mut self, cursor: Option<&str>) -> Option<Response<Vec<u8>>> {
        let cursor = cursor?;
        if self.faults.repeat_cursor == 0 {
            return None;
        }
        self.faults.repeat_cursor -= 1;
        Some(page_reply(&DevicePage {
            devices: Vec::new(),
            cursor: Some(cursor.to_owned()),
            more_to_follow: true,
            fetched_until: None,
        }))
    }

    /// `POST /server/devices`.
    pub(crate) fn fetch(
        &mut self,
        body: &Value,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Response<Vec<u8>> {
        let (limit, cursor) = match (Self::limit(body), Self::cursor_arg(body)) {
            (Ok(l), Ok(c)) => (l, c),
            (Err(e), _) | (_, Err(e)) => return error(e),
        };
        let (mut position, log_at_start) = match cursor {
            None => (0, self.log.len()),
            Some(c) => match self.cursor(c, now, lifetime) {
                Err(e) => return error(e),
                Ok(CursorKind::Fetch { done: true, .. } | CursorKind::Sync { .. }) => {
                    return error("EXHAUSTED_CURSOR");
                }
                Ok(CursorKind::Fetch {
                    position,
                    log_at_start,
                    ..
                }) => (position, log_at_start),
            },
        };
        if let Some(r) = self.repeated(cursor) {
            return r;
        }
        let mut devices = Vec::with_capacity(limit.min(1024));
        let total = self.total();
        while devices.len() < limit && position < total {
            if let Some(d) = self.at(position) {
                devices.push(d);
            }
            position += 1;
        }
        let more = position < total;
        let next = self.issue(
            CursorKind::Fetch {
                position,
                log_at_start,
                done: !more,
            },
            now,
        );
        page_reply(&DevicePage {
            devices,
            cursor: Some(next),
            more_to_follow: more,
            fetched_until: Some(rfc3339(now)),
        })
    }

    /// `POST /devices/sync`.
    pub(crate) fn sync(
        &mut self,
        body: &Value,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Response<Vec<u8>> {
        let (limit, cursor) = match (Self::limit(body), Self::cursor_arg(body)) {
            (Ok(l), Ok(Some(c))) => (l, c),
            (Ok(_), Ok(None)) => return error("CURSOR_REQUIRED"),
            (Err(e), _) | (_, Err(e)) => return error(e),
        };
        let from = match self.cursor(cursor, now, lifetime) {
            Err(e) => return error(e),
            Ok(CursorKind::Fetch { log_at_start, .. }) => log_at_start,
            Ok(CursorKind::Sync { log_position }) => log_position,
        };
        if let Some(r) = self.repeated(Some(cursor)) {
            return r;
        }
        let end = (from + limit).min(self.log.len());
        let devices = self
            .log
            .get(from..end)
            .map(<[Device]>::to_vec)
            .unwrap_or_default();
        let more = end < self.log.len();
        let next = self.issue(CursorKind::Sync { log_position: end }, now);
        page_reply(&DevicePage {
            devices,
            cursor: Some(next),
            more_to_follow: more,
            fetched_until: Some(rfc3339(now)),
        })
    }

    /// `POST /devices`.
    pub(crate) fn details(&mut self, body: &Value) -> Response<Vec<u8>> {
        let serials = match serials_of(body) {
            Ok(s) => s,
            Err(e) => return error(e),
        };
        let mut out = serde_json::Map::new();
        for serial in serials {
            let value = match self.lookup(&serial) {
                Some(mut d) => {
                    d.response_status = Some(DeviceStatus::Success);
                    serde_json::to_value(d).unwrap_or(Value::Null)
                }
                None => json!({ "response_status": "NOT_ACCESSIBLE" }),
            };
            out.insert(serial, value);
        }
        json_reply(StatusCode::OK, &json!({ "devices": out }))
    }

    /// `POST /devices/disown`.
    pub(crate) fn disown(&mut self, body: &Value, now: OffsetDateTime) -> Response<Vec<u8>> {
        let serials = match serials_of(body) {
            Ok(s) => s,
            Err(e) => return error(e),
        };
        let mut out = BTreeMap::new();
        for serial in serials {
            let status = if self.delete(core::slice::from_ref(&serial), now) == 1 {
                DeviceStatus::Success
            } else {
                DeviceStatus::NotAccessible
            };
            out.insert(serial, status);
        }
        json_reply(StatusCode::OK, &json!({ "devices": out }))
    }

    /// `POST /profile`.
    pub(crate) fn define_profile(&mut self, body: Value, now: OffsetDateTime) -> Response<Vec<u8>> {
        let Value::Object(mut profile) = body else {
            return error("MALFORMED_REQUEST_BODY");
        };
        let named = profile
            .get("profile_name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.trim().is_empty());
        if !named {
            return error("CONFIG_NAME_REQUIRED");
        }
        self.next_id += 1;
        let h = mix(self.seed ^ mix(self.next_id) ^ 0x5052_4F46);
        let uuid = format!(
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            h >> 32,
            (h >> 16) & 0xFFFF,
            h & 0xFFFF,
            self.next_id & 0xFFFF,
            self.next_id
        );
        let devices = profile.remove("devices");
        profile.insert("profile_uuid".into(), uuid.clone().into());
        self.profiles.insert(uuid.clone(), Value::Object(profile));
        let mut statuses = BTreeMap::new();
        if let Some(list) = devices {
            match serials_of(&json!({ "devices": list })) {
                Ok(serials) => statuses = self.assign_all(&uuid, serials, now),
                Err(e) => return error(e),
            }
        }
        json_reply(
            StatusCode::OK,
            &json!({ "profile_uuid": uuid, "devices": statuses }),
        )
    }

    /// `GET /profile?profile_uuid=`.
    pub(crate) fn get_profile(&self, query: Option<&str>) -> Response<Vec<u8>> {
        let uuid = query
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("profile_uuid="));
        match uuid.and_then(|u| self.profiles.get(u)) {
            Some(p) => json_reply(StatusCode::OK, p),
            None => error("PROFILE_NOT_FOUND"),
        }
    }

    fn assign_all(
        &mut self,
        uuid: &str,
        serials: Vec<String>,
        now: OffsetDateTime,
    ) -> BTreeMap<String, DeviceStatus> {
        let mut out = BTreeMap::new();
        for serial in serials {
            let status = if self.faults.throttled.contains(&serial) {
                DeviceStatus::Throttled
            } else if let Some(mut d) = self.lookup(&serial) {
                d.profile_uuid = Some(uuid.to_owned());
                d.profile_status = Some("assigned".into());
                d.profile_assign_time = Some(rfc3339(now));
                self.record(d, OpType::Modified, now);
                DeviceStatus::Success
            } else {
                DeviceStatus::NotAccessible
            };
            out.insert(serial, status);
        }
        out
    }

    /// `POST /profile/devices`.
    pub(crate) fn assign(&mut self, body: &Value, now: OffsetDateTime) -> Response<Vec<u8>> {
        let Some(uuid) = body
            .get("profile_uuid")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return error("MALFORMED_REQUEST_BODY");
        };
        if !self.profiles.contains_key(&uuid) {
            return error("PROFILE_NOT_FOUND");
        }
        let serials = match serials_of(body) {
            Ok(s) => s,
            Err(e) => return error(e),
        };
        let statuses = self.assign_all(&uuid, serials, now);
        json_reply(
            StatusCode::OK,
            &json!({ "profile_uuid": uuid, "devices": statuses }),
        )
    }

    /// `DELETE /profile/devices`.
    pub(crate) fn remove(&mut self, body: &Value, now: OffsetDateTime) -> Response<Vec<u8>> {
        let serials = match serials_of(body) {
            Ok(s) => s,
            Err(e) => return error(e),
        };
        let mut out = BTreeMap::new();
        for serial in serials {
            let status = match self.lookup(&serial) {
                Some(mut d) => {
                    d.profile_uuid = None;
                    d.profile_status = Some("empty".into());
                    d.profile_assign_time = None;
                    self.record(d, OpType::Modified, now);
                    DeviceStatus::Success
                }
                None => DeviceStatus::NotAccessible,
            };
            out.insert(serial, status);
        }
        json_reply(StatusCode::OK, &json!({ "devices": out }))
    }

    /// `POST /device/activationlock`.
    pub(crate) fn activation_lock(&self, body: &Value) -> Response<Vec<u8>> {
        let Some(serial) = body.get("device").and_then(Value::as_str) else {
            return error("DEVICE_ID_REQUIRED");
        };
        let status = if self.lookup(serial).is_some() {
            "SUCCESS"
        } else {
            "NOT_ACCESSIBLE"
        };
        json_reply(
            StatusCode::OK,
            &json!({ "serial_number": serial, "response_status": status }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn body(r: &Response<Vec<u8>>) -> Value {
        serde_json::from_slice(r.body())
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(r.body()).into()))
    }

    #[test]
    fn pages_cursors_and_changes() {
        let mut inv = Inventory::new(7, 25);
        let life = Duration::days(7);
        let p1 = body(&inv.fetch(&json!({"limit": 10}), NOW, life));
        assert_eq!(p1["devices"].as_array().unwrap().len(), 10);
        assert_eq!(p1["more_to_follow"], true);
        let c1 = p1["cursor"].as_str().unwrap().to_owned();
        // The same cursor gives the same page again (a client that crashed
        // before storing it loses nothing).
        let again = body(&inv.fetch(&json!({"limit": 10, "cursor": c1}), NOW, life));
        let p2 = body(&inv.fetch(&json!({"limit": 10, "cursor": c1}), NOW, life));
        assert_eq!(again["devices"], p2["devices"]);
        let c2 = p2["cursor"].as_str().unwrap();
        let p3 = body(&inv.fetch(&json!({"limit": 10, "cursor": c2}), NOW, life));
        assert_eq!(p3["devices"].as_array().unwrap().len(), 5);
        assert_eq!(p3["more_to_follow"], false);
        let c3 = p3["cursor"].as_str().unwrap().to_owned();
        assert_eq!(
            inv.fetch(&json!({"cursor": c3}), NOW, life).body(),
            b"EXHAUSTED_CURSOR"
        );
        assert_eq!(
            inv.fetch(&json!({"cursor": "nope"}), NOW, life).body(),
            b"INVALID_CURSOR"
        );
        assert_eq!(inv.sync(&json!({}), NOW, life).body(), b"CURSOR_REQUIRED");
        assert_eq!(
            inv.sync(&json!({"cursor": c3}), NOW + Duration::days(8), life)
                .body(),
            b"EXPIRED_CURSOR"
        );

        let serials = inv.seeded_serials(3);
        inv.add(2, NOW);
        inv.modify(&serials[..1], NOW);
        inv.delete(&serials[1..2], NOW);
        let s = body(&inv.sync(&json!({"cursor": c3, "limit": 1000}), NOW, life));
        let ops: Vec<&str> = s["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["op_type"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["added", "added", "modified", "deleted"]);
        assert_eq!(inv.count(), 26);
        // Seeded devices are a function of the seed.
        assert_eq!(Inventory::new(7, 25).at(3), inv.at(3));
        assert_ne!(Inventory::new(8, 25).at(3), inv.at(3));
    }
}
