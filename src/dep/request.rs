//! Every endpoint as a plain value ([`ApiCall`]: method, path, JSON body) and
//! the parser of its reply. No I/O: any HTTP stack can carry them, and the
//! rules are tested without a network.

use std::collections::BTreeMap;

use http::{HeaderValue, Method, Request, Response, header};
use serde::{Deserialize, Serialize};

use super::profile::{
    ActivationLockRequest, ActivationLockResult, AssignmentResult, ProfileDefined,
    ProfileDefinition,
};
use super::{
    CONTENT_TYPE, DepError, Device, DevicePage, DeviceStatus, MAX_PAGE_LIMIT, MAX_REPLY_BODY,
    MAX_SERIALS_PER_REQUEST, error::classify,
};
use crate::session::Session;

/// `GET /account`.
pub const ACCOUNT_PATH: &str = "/account";
/// `POST /server/devices` (*Fetch Devices*).
pub const FETCH_PATH: &str = "/server/devices";
/// `POST /devices/sync` (*Sync Devices*).
pub const SYNC_PATH: &str = "/devices/sync";
/// `POST /devices` (*Get Device Details*).
pub const DETAILS_PATH: &str = "/devices";
/// `POST /devices/disown` (*Disown Devices*).
pub const DISOWN_PATH: &str = "/devices/disown";
/// `POST /profile` (*Define Profile*) and `GET /profile?profile_uuid=` (*Get Profile*).
pub const PROFILE_PATH: &str = "/profile";
/// `POST /profile/devices` (*Assign Profile*) and `DELETE` (*Remove Profile*).
pub const PROFILE_DEVICES_PATH: &str = "/profile/devices";
/// `POST /device/activationlock` (*Disable Activation Lock*).
pub const ACTIVATION_LOCK_PATH: &str = "/device/activationlock";

/// Longest serial number accepted (Apple's are 10 to 12 characters).
pub const MAX_SERIAL_LEN: usize = 64;

/// One request to the service, before the session headers are added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiCall {
    /// The HTTP method.
    pub method: Method,
    /// The path, with its query if any (`/profile?profile_uuid=...`).
    pub path: String,
    /// The JSON body (empty for `GET`).
    pub body: Vec<u8>,
}

impl ApiCall {
    fn json(method: Method, path: &str, body: &impl Serialize) -> Result<Self, DepError> {
        let body = serde_json::to_vec(body).map_err(|e| DepError::InvalidArgument {
            reason: format!("cannot encode the request ({e})"),
        })?;
        Ok(Self {
            method,
            path: path.to_owned(),
            body,
        })
    }

    /// The full request for `session`: `X-ADM-Auth-Session`,
    /// `X-Server-Protocol-Version`, `User-Agent: user_agent`, `Accept`, and
    /// for a body `Content-Type: application/json;charset=UTF8`.
    pub fn to_request(
        &self,
        session: &Session,
        user_agent: &str,
    ) -> Result<Request<Vec<u8>>, DepError> {
        let mut request = Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = match self.path.split_once('?') {
            None => session.url(&self.path)?,
            // The query was built from checked values (see `get_profile`).
            Some((path, query)) => {
                format!("{}?{query}", session.url(path)?)
                    .parse()
                    .map_err(|_| DepError::InvalidArgument {
                        reason: "the request's query is not valid in a URL".into(),
                    })?
            }
        };
        let agent = HeaderValue::from_str(user_agent).map_err(|_| DepError::InvalidArgument {
            reason: "the User-Agent is not a header value".into(),
        })?;
        let headers = request.headers_mut();
        headers.insert(header::USER_AGENT, agent);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if !self.body.is_empty() {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        }
        session.authorize(&mut request)?;
        Ok(request)
    }
}

#[derive(Serialize)]
struct PageBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
    limit: u32,
}

#[derive(Serialize)]
struct SerialsBody<'a, S: AsRef<str>> {
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_uuid: Option<&'a str>,
    #[serde(serialize_with = "serialize_serials")]
    devices: &'a [S],
}

fn serialize_serials<S: AsRef<str>, Z: serde::Serializer>(
    serials: &&[S],
    z: Z,
) -> Result<Z::Ok, Z::Error> {
    z.collect_seq(serials.iter().map(AsRef::as_ref))
}

fn check_limit(limit: u32) -> Result<u32, DepError> {
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(DepError::InvalidArgument {
            reason: format!("the page limit must be 1 to {MAX_PAGE_LIMIT}, not {limit}"),
        });
    }
    Ok(limit)
}

fn check_cursor(cursor: &str) -> Result<(), DepError> {
    if cursor.is_empty() || cursor.len() > 4096 || cursor.chars().any(|c| c.is_control()) {
        return Err(DepError::InvalidArgument {
            reason: "a cursor is 1 to 4096 characters without control characters".into(),
        });
    }
    Ok(())
}

/// Checks a list of serial numbers: 1 to [`MAX_SERIALS_PER_REQUEST`], each
/// 1 to [`MAX_SERIAL_LEN`] printable ASCII characters.
pub fn check_serials<S: AsRef<str>>(serials: &[S]) -> Result<(), DepError> {
    if serials.is_empty() {
        return Err(DepError::InvalidArgument {
            reason: "give at least one serial number".into(),
        });
    }
    if serials.len() > MAX_SERIALS_PER_REQUEST {
        return Err(DepError::InvalidArgument {
            reason: format!(
                "{} serial numbers in one request; the service takes at most {MAX_SERIALS_PER_REQUEST} (split the list with request::chunks)",
                serials.len()
            ),
        });
    }
    for s in serials {
        let s = s.as_ref();
        if s.is_empty() || s.len() > MAX_SERIAL_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DepError::InvalidArgument {
                reason: format!(
                    "{:?} is not a serial number (1 to {MAX_SERIAL_LEN} printable ASCII characters)",
                    crate::dep::error::printable_body(s.as_bytes())
                ),
            });
        }
    }
    Ok(())
}

/// Splits a list into requests of at most [`MAX_SERIALS_PER_REQUEST`].
pub fn chunks<S>(serials: &[S]) -> core::slice::Chunks<'_, S> {
    serials.chunks(MAX_SERIALS_PER_REQUEST)
}

/// `GET /account`.
pub fn account() -> ApiCall {
    ApiCall {
        method: Method::GET,
        path: ACCOUNT_PATH.to_owned(),
        body: Vec::new(),
    }
}

/// *Fetch Devices*: `POST /server/devices` with `{"cursor", "limit"}`
/// (`limit` 1 to 1000; no cursor starts from the beginning).
pub fn fetch_devices(cursor: Option<&str>, limit: u32) -> Result<ApiCall, DepError> {
    if let Some(c) = cursor {
        check_cursor(c)?;
    }
    ApiCall::json(
        Method::POST,
        FETCH_PATH,
        &PageBody {
            cursor,
            limit: check_limit(limit)?,
        },
    )
}

/// *Sync Devices*: `POST /devices/sync` with `{"cursor", "limit"}`.
pub fn sync_devices(cursor: &str, limit: u32) -> Result<ApiCall, DepError> {
    check_cursor(cursor)?;
    ApiCall::json(
        Method::POST,
        SYNC_PATH,
        &PageBody {
            cursor: Some(cursor),
            limit: check_limit(limit)?,
        },
    )
}

/// *Get Device Details*: `POST /devices` with `{"devices": [...]}`.
pub fn device_details<S: AsRef<str>>(serials: &[S]) -> Result<ApiCall, DepError> {
    check_serials(serials)?;
    ApiCall::json(
        Method::POST,
        DETAILS_PATH,
        &SerialsBody {
            profile_uuid: None,
            devices: serials,
        },
    )
}

/// *Disown Devices*: `POST /devices/disown` with `{"devices": [...]}`.
pub fn disown_devices<S: AsRef<str>>(serials: &[S]) -> Result<ApiCall, DepError> {
    check_serials(serials)?;
    ApiCall::json(
        Method::POST,
        DISOWN_PATH,
        &SerialsBody {
            profile_uuid: None,
            devices: serials,
        },
    )
}

/// *Define Profile*: `POST /profile` with the profile.
pub fn define_profile(profile: &ProfileDefinition) -> Result<ApiCall, DepError> {
    ApiCall::json(Method::POST, PROFILE_PATH, profile)
}

fn check_uuid(uuid: &str) -> Result<(), DepError> {
    if uuid.is_empty()
        || uuid.len() > 128
        || !uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(DepError::InvalidArgument {
            reason: "a profile UUID is 1 to 128 letters, digits and hyphens".into(),
        });
    }
    Ok(())
}

/// *Get Profile*: `GET /profile?profile_uuid=UUID`.
pub fn get_profile(profile_uuid: &str) -> Result<ApiCall, DepError> {
    check_uuid(profile_uuid)?;
    Ok(ApiCall {
        method: Method::GET,
        path: format!("{PROFILE_PATH}?profile_uuid={profile_uuid}"),
        body: Vec::new(),
    })
}

/// *Assign Profile*: `POST /profile/devices` with `{"profile_uuid", "devices"}`
/// for at most 1,000 serials (split longer lists with [`chunks`]).
pub fn assign_profile<S: AsRef<str>>(
    profile_uuid: &str,
    serials: &[S],
) -> Result<ApiCall, DepError> {
    check_uuid(profile_uuid)?;
    check_serials(serials)?;
    ApiCall::json(
        Method::POST,
        PROFILE_DEVICES_PATH,
        &SerialsBody {
            profile_uuid: Some(profile_uuid),
            devices: serials,
        },
    )
}

/// *Remove Profile*: `DELETE /profile/devices` with `{"devices": [...]}`.
pub fn remove_profile<S: AsRef<str>>(serials: &[S]) -> Result<ApiCall, DepError> {
    check_serials(serials)?;
    ApiCall::json(
        Method::DELETE,
        PROFILE_DEVICES_PATH,
        &SerialsBody {
            profile_uuid: None,
            devices: serials,
        },
    )
}

/// *Disable Activation Lock*: `POST /device/activationlock`.
pub fn activation_lock(request: &ActivationLockRequest) -> Result<ApiCall, DepError> {
    check_serials(core::slice::from_ref(&request.device))?;
    ApiCall::json(Method::POST, ACTIVATION_LOCK_PATH, request)
}

/// Success, or the typed error the reply's status and body say.
pub fn check(response: &Response<Vec<u8>>) -> Result<(), DepError> {
    if response.status().is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Err(classify(
        response.status().as_u16(),
        retry_after,
        response.body(),
    ))
}

fn parse_json<'a, T: Deserialize<'a>>(
    response: &'a Response<Vec<u8>>,
    what: &str,
) -> Result<T, DepError> {
    check(response)?;
    if response.body().len() > MAX_REPLY_BODY {
        return Err(DepError::Malformed {
            reason: format!("the {what} reply is {} bytes", response.body().len()),
        });
    }
    serde_json::from_slice(response.body()).map_err(|e| DepError::Malformed {
        reason: format!("the {what} reply is not the documented JSON ({e})"),
    })
}

/// Parses a *Fetch Devices* or *Sync Devices* reply. A reply without a
/// cursor is malformed (the next call would have nothing to start from).
pub fn parse_page(response: &Response<Vec<u8>>) -> Result<DevicePage, DepError> {
    let page: DevicePage = parse_json(response, "devices")?;
    match page.cursor.as_deref() {
        Some(c) if check_cursor(c).is_ok() => Ok(page),
        _ => Err(DepError::Malformed {
            reason: "the devices reply has no usable cursor".into(),
        }),
    }
}

#[derive(Deserialize)]
struct DevicesMap<T> {
    #[serde(default)]
    profile_uuid: Option<String>,
    #[serde(default = "BTreeMap::new")]
    devices: BTreeMap<String, T>,
}

/// Parses an *Assign Profile*, *Remove Profile* or *Disown Devices* reply:
/// each serial's status.
pub fn parse_assignment(response: &Response<Vec<u8>>) -> Result<AssignmentResult, DepError> {
    let parsed: DevicesMap<DeviceStatus> = parse_json(response, "assignment")?;
    Ok(AssignmentResult {
        profile_uuid: parsed.profile_uuid.unwrap_or_default(),
        devices: parsed.devices,
        requests: 1,
    })
}

/// Parses a *Get Device Details* reply: each serial's record (with its
/// `response_status`).
pub fn parse_details(response: &Response<Vec<u8>>) -> Result<BTreeMap<String, Device>, DepError> {
    #[derive(Deserialize)]
    struct Partial {
        #[serde(flatten)]
        fields: serde_json::Map<String, serde_json::Value>,
    }
    let parsed: DevicesMap<Partial> = parse_json(response, "device details")?;
    let mut out = BTreeMap::new();
    for (serial, mut p) in parsed.devices {
        p.fields
            .entry("serial_number")
            .or_insert_with(|| serial.clone().into());
        let device: Device =
            serde_json::from_value(serde_json::Value::Object(p.fields)).map_err(|e| {
                DepError::Malformed {
                    reason: format!("the details of {serial} are not a device record ({e})"),
                }
            })?;
        out.insert(serial, device);
    }
    Ok(out)
}

/// Parses a *Define Profile* reply.
pub fn parse_profile_defined(response: &Response<Vec<u8>>) -> Result<ProfileDefined, DepError> {
    let defined: ProfileDefined = parse_json(response, "define profile")?;
    check_uuid(&defined.profile_uuid).map_err(|_| DepError::Malformed {
        reason: "the define profile reply has no usable profile_uuid".into(),
    })?;
    Ok(defined)
}

/// Parses a *Get Profile* reply.
pub fn parse_profile(response: &Response<Vec<u8>>) -> Result<ProfileDefinition, DepError> {
    parse_json(response, "profile")
}

/// Parses a *Disable Activation Lock* reply.
pub fn parse_activation_lock(
    response: &Response<Vec<u8>>,
) -> Result<ActivationLockResult, DepError> {
    parse_json(response, "activation lock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dep::{ServiceCode, USER_AGENT};

    fn reply(status: u16, body: &str) -> Response<Vec<u8>> {
        let mut r = Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn requests_carry_the_documented_headers_and_bodies() {
        let session = Session::new("S1", "https://mdmenrollment.apple.com").unwrap();
        let req = fetch_devices(Some("C1"), 1000)
            .unwrap()
            .to_request(&session, USER_AGENT)
            .unwrap();
        assert_eq!(req.uri(), "https://mdmenrollment.apple.com/server/devices");
        assert_eq!(req.method(), Method::POST);
        let h = req.headers();
        assert_eq!(h["x-adm-auth-session"], "S1");
        assert_eq!(h["x-server-protocol-version"], "10");
        assert_eq!(h["content-type"], "application/json;charset=UTF8");
        assert!(h["user-agent"].to_str().unwrap().starts_with("mdmlink/"));
        assert_eq!(req.body(), br#"{"cursor":"C1","limit":1000}"#);
        assert!(fetch_devices(None, 1001).is_err());
        assert!(fetch_devices(None, 0).is_err());
        assert!(sync_devices("", 10).is_err());
        let get = get_profile("ABC-123")
            .unwrap()
            .to_request(&session, USER_AGENT)
            .unwrap();
        assert_eq!(get.uri().query(), Some("profile_uuid=ABC-123"));
        assert!(!get.headers().contains_key("content-type"));
        assert!(get_profile("a&b=c").is_err());
    }

    #[test]
    fn serial_lists_are_checked_and_split() {
        let serials: Vec<String> = (0..2500).map(|i| format!("S{i:08}")).collect();
        assert!(assign_profile("P", &serials).is_err());
        let parts: Vec<usize> = chunks(&serials).map(<[String]>::len).collect();
        assert_eq!(parts, [1000, 1000, 500]);
        let call = assign_profile("P", &serials[..2]).unwrap();
        assert_eq!(
            call.body,
            br#"{"profile_uuid":"P","devices":["S00000000","S00000001"]}"#
        );
        assert!(remove_profile::<&str>(&[]).is_err());
        assert!(device_details(&["bad serial"]).is_err());
        assert_eq!(remove_profile(&["A"]).unwrap().method, Method::DELETE);
    }

    #[test]
    fn replies_parse_or_give_typed_errors() {
        let page = parse_page(&reply(
            200,
            r#"{"devices":[{"serial_number":"A","op_type":"added","op_date":"2026-01-01T00:00:00Z"}],"cursor":"C2","more_to_follow":true}"#,
        ))
        .unwrap();
        assert_eq!(page.cursor.as_deref(), Some("C2"));
        assert!(page.more_to_follow);
        assert!(matches!(
            parse_page(&reply(200, r#"{"devices":[]}"#)),
            Err(DepError::Malformed { .. })
        ));
        assert_eq!(
            parse_page(&reply(400, "EXHAUSTED_CURSOR"))
                .unwrap_err()
                .code(),
            Some(&ServiceCode::ExhaustedCursor)
        );
        let a = parse_assignment(&reply(
            200,
            r#"{"profile_uuid":"P","devices":{"A":"SUCCESS","B":"THROTTLED","C":"NOT_ACCESSIBLE"}}"#,
        ))
        .unwrap();
        assert_eq!(a.throttled().collect::<Vec<_>>(), ["B"]);
        assert!(!a.all_succeeded());
        let d = parse_details(&reply(
            200,
            r#"{"devices":{"A":{"model":"iPad","response_status":"SUCCESS"}}}"#,
        ))
        .unwrap();
        assert_eq!(d["A"].serial_number, "A");
        assert_eq!(d["A"].response_status, Some(DeviceStatus::Success));
        assert!(parse_profile_defined(&reply(200, r#"{"profile_uuid":""}"#)).is_err());
        assert!(matches!(
            parse_page(&reply(200, "{")),
            Err(DepError::Malformed { .. })
        ));
    }
}
