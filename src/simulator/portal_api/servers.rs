//! Device management services (`/v1/mdmServers`): read on both platforms;
//! created, updated and deleted on Apple Business only.

use base64::Engine as _;
use const_oid::db::rfc5912::RSA_ENCRYPTION;
use der::Decode as _;
use http::StatusCode;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::documents::{ApiError, Query, Source, data_of, encode_cursor, page, select, timestamp};
use super::{ApiPlatform, Org};
use crate::name::{NameError, ServerName};

/// Every attribute of a server, in Apple's order.
pub(crate) const SERVER_ATTRIBUTES: [&str; 10] = [
    "serverName",
    "serverType",
    "createdDateTime",
    "updatedDateTime",
    "status",
    "deviceCount",
    "enableMdmDisownFlag",
    "defaultProductFamilies",
    "lastConnectedDateTime",
    "lastConnectedIp",
];

/// The product families a server can be the default for.
const PRODUCT_FAMILIES: [&str; 6] = ["IPHONE", "IPAD", "MAC", "APPLETV", "WATCH", "VISION"];

/// Most servers one organization may hold.
pub(crate) const MAX_SERVERS: usize = 1000;

/// One device management service.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created: OffsetDateTime,
    pub(crate) updated: OffsetDateTime,
    pub(crate) disown: bool,
    pub(crate) default_families: Vec<String>,
    /// The DER certificate it was created or last updated with.
    pub(crate) certificate: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
pub(crate) struct Servers {
    pub(crate) list: Vec<Server>,
    created: u64,
}

impl Servers {
    pub(crate) fn get(&self, id: &str) -> Option<&Server> {
        self.list.iter().find(|s| s.id == id)
    }

    /// A new id: 32 upper-case hex digits, stable for a client ID and count.
    pub(crate) fn new_id(&mut self, client_id: &str) -> String {
        use sha2::Digest as _;
        self.created += 1;
        let digest = sha2::Sha256::digest(format!("{client_id}/mdmServers/{}", self.created));
        crate::encoding::hex_upper(&digest[..16])
    }

    pub(crate) fn add(&mut self, client_id: &str, name: &str, now: OffsetDateTime) -> String {
        let id = self.new_id(client_id);
        self.list.push(Server {
            id: id.clone(),
            name: name.to_owned(),
            created: now,
            updated: now,
            disown: false,
            default_families: Vec::new(),
            certificate: None,
        });
        id
    }

    /// The server holding `name` (compared as the portal does), except `except`.
    fn named(&self, name: &ServerName, except: Option<&str>) -> Option<&Server> {
        self.list.iter().find(|s| {
            Some(s.id.as_str()) != except
                && ServerName::parse(&s.name).is_ok_and(|other| other.same_as(name))
        })
    }
}

impl Server {
    pub(crate) fn resource(&self, org: &Org, base: &str, fields: Option<&[&str]>) -> Value {
        let me = format!("{base}/v1/mdmServers/{}", self.id);
        let mut a = Map::new();
        a.insert("serverName".into(), json!(self.name));
        a.insert("serverType".into(), json!("MDM"));
        a.insert("createdDateTime".into(), json!(timestamp(self.created)));
        a.insert("updatedDateTime".into(), json!(timestamp(self.updated)));
        a.insert("status".into(), json!("ACTIVE"));
        a.insert("deviceCount".into(), json!(org.devices.count_for(&self.id)));
        a.insert("enableMdmDisownFlag".into(), json!(self.disown));
        a.insert(
            "defaultProductFamilies".into(),
            json!(self.default_families),
        );
        a.insert("lastConnectedDateTime".into(), Value::Null);
        a.insert("lastConnectedIp".into(), Value::Null);
        json!({
            "type": "mdmServers",
            "id": self.id,
            "attributes": select(a, fields),
            "relationships": {
                "devices": { "links": { "self": format!("{me}/relationships/devices") } },
            },
            "links": { "self": me },
        })
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "id",
        format!(
            "There is no device management service with id '{}'.",
            crate::session::oauth::printable(id)
        ),
    )
}

pub(crate) fn business_only(org: &Org, path: &str) -> Result<(), ApiError> {
    match org.account.platform() {
        ApiPlatform::Business => Ok(()),
        ApiPlatform::School => Err(ApiError::forbidden(
            path,
            "Apple School Manager's API reads device management services only; creating, updating, deleting and releasing need Apple Business.",
        )),
    }
}

/// `GET /v1/mdmServers`.
pub(crate) fn list(
    org: &Org,
    base: &str,
    path_and_query: &str,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let q = Query::parse(query, &["limit", "cursor", "fields[mdmServers]"])?;
    let limit = q.limit()?;
    let start = q.cursor("mdmServers")?;
    let fields = q.fields("mdmServers", &SERVER_ATTRIBUTES)?;
    let servers = &org.servers.list;
    let from = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(servers.len());
    let to = from.saturating_add(limit as usize).min(servers.len());
    let data = servers[from..to]
        .iter()
        .map(|s| s.resource(org, base, fields.as_deref()))
        .collect();
    let next = (to < servers.len()).then(|| encode_cursor("mdmServers", to as u64));
    Ok(page(
        data,
        &format!("{base}{path_and_query}"),
        limit,
        servers.len() as u64,
        next,
    ))
}

/// `GET /v1/mdmServers/{id}`.
pub(crate) fn one(org: &Org, base: &str, id: &str, query: Option<&str>) -> Result<Value, ApiError> {
    let q = Query::parse(query, &["fields[mdmServers]"])?;
    let fields = q.fields("mdmServers", &SERVER_ATTRIBUTES)?;
    let server = org.servers.get(id).ok_or_else(|| not_found(id))?;
    Ok(json!({
        "data": server.resource(org, base, fields.as_deref()),
        "links": { "self": format!("{base}/v1/mdmServers/{id}") },
    }))
}

/// A checked name: 422 for a malformed one, 409 for a reserved or taken one.
fn checked_name(
    org: &Org,
    value: Option<&Value>,
    except: Option<&str>,
) -> Result<String, ApiError> {
    const POINTER: &str = "/data/attributes/serverName";
    let Some(raw) = value.and_then(Value::as_str) else {
        return Err(ApiError::attribute(POINTER, "serverName must be a string."));
    };
    let name = match ServerName::parse(raw) {
        Ok(n) => n,
        Err(NameError::Reserved { .. }) => {
            return Err(ApiError::conflict(
                POINTER,
                "This name is reserved by the portal (Unassigned, Reassigned); choose another.",
            ));
        }
        Err(e) => return Err(ApiError::attribute(POINTER, e.to_string())),
    };
    if let Some(other) = org.servers.named(&name, except) {
        return Err(ApiError::conflict(
            POINTER,
            format!(
                "A device management service named '{}' already exists in this organization.",
                other.name
            ),
        ));
    }
    Ok(name.as_str().to_owned())
}

/// A checked `serverCertificate` {name, data}: base64 DER, X.509, RSA key.
fn checked_certificate(value: Option<&Value>) -> Result<Vec<u8>, ApiError> {
    const POINTER: &str = "/data/attributes/serverCertificate";
    let Some(cert) = value.and_then(Value::as_object) else {
        return Err(ApiError::attribute(
            POINTER,
            "serverCertificate must be an object with 'name' and 'data'.",
        ));
    };
    match cert.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && n.len() <= 255 => {}
        _ => {
            return Err(ApiError::attribute(
                "/data/attributes/serverCertificate/name",
                "serverCertificate.name must be a file name (1 to 255 characters).",
            ));
        }
    }
    const DATA: &str = "/data/attributes/serverCertificate/data";
    let Some(data) = cert.get("data").and_then(Value::as_str) else {
        return Err(ApiError::attribute(
            DATA,
            "serverCertificate.data is required.",
        ));
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| ApiError::attribute(DATA, "serverCertificate.data is not base64."))?;
    let parsed = x509_cert::Certificate::from_der(&der).map_err(|_| {
        ApiError::attribute(
            DATA,
            "serverCertificate.data is not a DER X.509 certificate.",
        )
    })?;
    if parsed
        .tbs_certificate()
        .subject_public_key_info()
        .algorithm
        .oid
        != RSA_ENCRYPTION
    {
        return Err(ApiError::attribute(
            DATA,
            "The certificate's key is not RSA: the service encrypts the server token to an RSA key.",
        ));
    }
    Ok(der)
}

fn checked_families(value: &Value) -> Result<Vec<String>, ApiError> {
    const POINTER: &str = "/data/attributes/defaultProductFamilies";
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::attribute(POINTER, "defaultProductFamilies must be an array."))?;
    let mut out: Vec<String> = Vec::new();
    for v in list {
        match v.as_str() {
            Some(f) if PRODUCT_FAMILIES.contains(&f) && !out.iter().any(|o| o == f) => {
                out.push(f.to_owned())
            }
            _ => {
                return Err(ApiError::attribute(
                    POINTER,
                    format!(
                        "Each product family must appear once and be one of {}.",
                        PRODUCT_FAMILIES.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn checked_flag(value: &Value) -> Result<bool, ApiError> {
    value.as_bool().ok_or_else(|| {
        ApiError::attribute(
            "/data/attributes/enableMdmDisownFlag",
            "enableMdmDisownFlag must be true or false.",
        )
    })
}

/// A product family is the default of one server at most: taking it moves it.
fn take_families(org: &mut Org, families: &[String], to: &str) {
    for server in org.servers.list.iter_mut().filter(|s| s.id != to) {
        server.default_families.retain(|f| !families.contains(f));
    }
}

fn attributes_of(data: &Map<String, Value>) -> Result<&Map<String, Value>, ApiError> {
    data.get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::body("/data/attributes", "The document needs 'data.attributes'."))
}

/// `POST /v1/mdmServers` (Apple Business).
pub(crate) fn create(
    org: &mut Org,
    base: &str,
    body: &Value,
    now: OffsetDateTime,
) -> Result<(String, Value), ApiError> {
    business_only(org, "/v1/mdmServers")?;
    let data = data_of(body, "mdmServers")?;
    if data.contains_key("id") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_ERROR.CLIENT_ID",
            "Client-generated ids are not allowed",
            "Leave out 'data.id': the service assigns it.",
            Source::Pointer("/data/id"),
        ));
    }
    let attributes = attributes_of(data)?;
    for key in attributes.keys() {
        if ![
            "serverName",
            "serverCertificate",
            "enableMdmDisownFlag",
            "defaultProductFamilies",
        ]
        .contains(&key.as_str())
        {
            return Err(ApiError::attribute(
                &format!("/data/attributes/{key}"),
                format!(
                    "'{}' cannot be set when creating a device management service.",
                    crate::session::oauth::printable(key)
                ),
            ));
        }
    }
    let certificate = checked_certificate(attributes.get("serverCertificate"))?;
    let name = checked_name(org, attributes.get("serverName"), None)?;
    let disown = attributes
        .get("enableMdmDisownFlag")
        .map(checked_flag)
        .transpose()?
        .unwrap_or(false);
    let families = attributes
        .get("defaultProductFamilies")
        .map(checked_families)
        .transpose()?;
    if org.servers.list.len() >= MAX_SERVERS {
        return Err(ApiError::conflict(
            "/data",
            format!("The organization already has {MAX_SERVERS} device management services."),
        ));
    }
    let client_id = org.account.client_id.clone();
    let id = org.servers.add(&client_id, &name, now);
    if let Some(families) = &families {
        take_families(org, families, &id);
    }
    if let Some(server) = org.servers.list.iter_mut().find(|s| s.id == id) {
        server.disown = disown;
        server.certificate = Some(certificate);
        server.default_families = families.unwrap_or_default();
    }
    one(org, base, &id, None).map(|doc| (id, doc))
}

/// `PATCH /v1/mdmServers/{id}` (Apple Business): only what is sent changes.
pub(crate) fn update(
    org: &mut Org,
    base: &str,
    id: &str,
    body: &Value,
    now: OffsetDateTime,
) -> Result<Value, ApiError> {
    business_only(org, "/v1/mdmServers/{id}")?;
    org.servers.get(id).ok_or_else(|| not_found(id))?;
    let data = data_of(body, "mdmServers")?;
    if data.get("id").and_then(Value::as_str) != Some(id) {
        return Err(ApiError::conflict(
            "/data/id",
            "'data.id' must be the id in the request's path.",
        ));
    }
    let attributes = attributes_of(data)?;
    let mut name = None;
    let mut certificate = None;
    let mut disown = None;
    let mut families = None;
    for (key, value) in attributes {
        match key.as_str() {
            "serverName" => name = Some(checked_name(org, Some(value), Some(id))?),
            "serverCertificate" => certificate = Some(checked_certificate(Some(value))?),
            "enableMdmDisownFlag" => disown = Some(checked_flag(value)?),
            "defaultProductFamilies" => families = Some(checked_families(value)?),
            other => {
                return Err(ApiError::attribute(
                    &format!("/data/attributes/{other}"),
                    format!(
                        "'{}' cannot be updated.",
                        crate::session::oauth::printable(other)
                    ),
                ));
            }
        }
    }
    if let Some(families) = &families {
        take_families(org, families, id);
    }
    if let Some(server) = org.servers.list.iter_mut().find(|s| s.id == id) {
        if let Some(name) = name {
            server.name = name;
        }
        if let Some(certificate) = certificate {
            server.certificate = Some(certificate);
        }
        if let Some(disown) = disown {
            server.disown = disown;
        }
        if let Some(families) = families {
            server.default_families = families;
        }
        server.updated = now;
    }
    one(org, base, id, None)
}

/// `DELETE /v1/mdmServers/{id}` (Apple Business): its devices become unassigned.
pub(crate) fn delete(org: &mut Org, id: &str) -> Result<(), ApiError> {
    business_only(org, "/v1/mdmServers/{id}")?;
    let before = org.servers.list.len();
    org.servers.list.retain(|s| s.id != id);
    if org.servers.list.len() == before {
        return Err(not_found(id));
    }
    Ok(())
}
