//! The client over a scripted transport and a fake clock: tokens, retries,
//! paging, activities, Business-only refusals.

use super::*;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::portal_api::activities::ActivityRequest;
use crate::portal_api::devices::OrgDevice;
use crate::portal_api::document::ListQuery;
use crate::portal_api::servers::{CreateServer, ServerCertificateUpload, UpdateServer};
use crate::portal_api::{ApiKey, activities::FollowPolicy};

type Reply = Result<Response<Vec<u8>>, PortalApiError>;

/// A request as the transport saw it: method, URL, `Authorization`, body.
type Seen = (Method, String, Option<String>, Vec<u8>);

/// Token requests get `tokN`; API requests get the next scripted reply.
#[derive(Default)]
struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    tokens: AtomicU32,
    token_delay_ms: u64,
}

fn reply(status: u16, body: &str) -> Reply {
    Ok(Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap())
}

fn reply_with(status: u16, header: (&str, &str), body: &str) -> Reply {
    Ok(Response::builder()
        .status(status)
        .header(header.0, header.1)
        .body(body.as_bytes().to_vec())
        .unwrap())
}

impl Scripted {
    fn with(replies: Vec<Reply>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            ..Self::default()
        })
    }

    fn api_requests(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.1.contains("/auth/oauth2/token"))
            .cloned()
            .collect()
    }
}

impl Transport for Scripted {
    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, PortalApiError> {
        let auth = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let uri = request.uri().to_string();
        self.seen.lock().unwrap().push((
            request.method().clone(),
            uri.clone(),
            auth,
            request.body().clone(),
        ));
        if uri.ends_with("/auth/oauth2/token") {
            std::thread::sleep(std::time::Duration::from_millis(self.token_delay_ms));
            let n = self.tokens.fetch_add(1, Ordering::SeqCst);
            return reply(
                200,
                &format!(
                    r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600,"scope":"business.api"}}"#
                ),
            );
        }
        self.replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted request {uri}"))
    }
}

/// A clock that advances only when the client sleeps.
struct FakeTime {
    now: Mutex<OffsetDateTime>,
    sleeps: Mutex<Vec<StdDuration>>,
}

impl FakeTime {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()),
            sleeps: Mutex::new(Vec::new()),
        })
    }

    fn sleeps(&self) -> Vec<f64> {
        self.sleeps
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_secs_f64())
            .collect()
    }
}

impl Environment for FakeTime {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap()
    }

    fn sleep(&self, duration: StdDuration) {
        self.sleeps.lock().unwrap().push(duration);
        let mut now = self.now.lock().unwrap();
        *now += duration;
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PortalApiError> {
        SystemEnvironment.fill_random(buf)
    }
}

const TOKEN_URL_TEST: &str = "http://127.0.0.1:9/auth/oauth2/token";
const BASE: &str = "http://127.0.0.1:9";

fn client(client_id: &str, transport: Arc<Scripted>, time: Arc<FakeTime>) -> PortalApiClient {
    let key = ApiKey::generate(&mut crate::SystemRng::default()).unwrap();
    let account = ApiAccount::new(client_id, "kid-1", key).unwrap();
    PortalApiClient::new(account, transport)
        .with_base_url(BASE)
        .unwrap()
        .with_token_url(TOKEN_URL_TEST)
        .unwrap()
        .with_environment(time)
}

const SERVER: &str = r#"{"data":{"type":"mdmServers","id":"1F97","attributes":{"serverName":"Main MDM","serverType":"MDM"}},"links":{"self":"x"}}"#;

#[test]
fn one_token_is_fetched_sent_as_bearer_and_reused() {
    let t = Scripted::with(vec![reply(200, SERVER), reply(200, SERVER)]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    assert_eq!(
        c.server("1F97").unwrap().attributes.server_name.as_deref(),
        Some("Main MDM")
    );
    c.server("1F97").unwrap();
    assert_eq!(t.tokens.load(Ordering::SeqCst), 1);
    let seen = t.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, Method::POST);
    let form = String::from_utf8(seen[0].3.clone()).unwrap();
    assert!(
        form.starts_with(
            "grant_type=client_credentials&client_id=BUSINESSAPI.1&client_assertion_type=urn%3Aietf"
        ),
        "{form}"
    );
    assert!(form.ends_with("&scope=business.api"), "{form}");
    assert_eq!(seen[1].1, "http://127.0.0.1:9/v1/mdmServers/1F97");
    assert_eq!(seen[1].2.as_deref(), Some("Bearer tok0"));
    assert_eq!(seen[2].2.as_deref(), Some("Bearer tok0"));
}

#[test]
fn a_401_fetches_one_new_token_and_replays_once() {
    let t = Scripted::with(vec![reply(401, ""), reply(200, SERVER)]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    c.server("1F97").unwrap();
    assert_eq!(t.tokens.load(Ordering::SeqCst), 2);
    let api = t.api_requests();
    assert_eq!(api.len(), 2);
    assert_eq!(api[1].2.as_deref(), Some("Bearer tok1"));
    // Refused twice: reported, not looped.
    let t = Scripted::with(vec![
        reply(401, ""),
        reply(
            401,
            r#"{"errors":[{"status":"401","code":"NOT_AUTHORIZED","title":"Authentication credentials are missing or invalid."}]}"#,
        ),
    ]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let e = c.server("1F97").unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(e.to_string().contains("revoked"), "{e}");
    assert_eq!(t.api_requests().len(), 2);
}

#[test]
fn n_threads_share_one_token_fetch() {
    let t = Arc::new(Scripted {
        replies: Mutex::new((0..8).map(|_| reply(200, SERVER)).collect()),
        token_delay_ms: 100,
        ..Scripted::default()
    });
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| c.server("1F97").unwrap());
        }
    });
    assert_eq!(t.tokens.load(Ordering::SeqCst), 1);
}

#[test]
fn rate_limits_wait_retry_after_within_a_budget() {
    let t = Scripted::with(vec![
        reply_with(429, ("Retry-After", "7"), ""),
        reply_with(429, ("Retry-After", "Thu, 28 May 2026 20:26:52 GMT"), ""),
        reply(200, SERVER),
    ]);
    let time = FakeTime::new();
    let c = client("BUSINESSAPI.1", t.clone(), time.clone());
    c.server("1F97").unwrap();
    // 7 s, then until the date: 1_780_000_012 - (1_780_000_000 + 7) = 5 s.
    assert_eq!(time.sleeps(), [7.0, 5.0]);
    // Over budget: a typed error, without sleeping the impossible wait.
    let t = Scripted::with(vec![
        reply_with(429, ("Retry-After", "100"), ""),
        reply_with(429, ("Retry-After", "250"), ""),
    ]);
    let time = FakeTime::new();
    let c = client("BUSINESSAPI.1", t.clone(), time.clone());
    let e = c.server("1F97").unwrap_err();
    assert_eq!(
        e,
        PortalApiError::RateLimited {
            retry_after_seconds: Some(250)
        }
    );
    assert_eq!(time.sleeps(), [100.0]);
    // A POST refused with 429 was not applied: retried.
    let t = Scripted::with(vec![
        reply_with(429, ("Retry-After", "2"), ""),
        reply(
            201,
            r#"{"data":{"type":"orgDeviceActivities","id":"a1","attributes":{"status":"COMPLETED","subStatus":"COMPLETED_WITH_SUCCESS"}}}"#,
        ),
    ]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let o = c
        .create_activity(&ActivityRequest::assign("1F97", &["A1"]))
        .unwrap();
    assert!(o.succeeded());
    assert_eq!(t.api_requests().len(), 2);
}

#[test]
fn server_errors_retry_gets_but_never_writes() {
    let t = Scripted::with(vec![reply(503, ""), reply(500, ""), reply(200, SERVER)]);
    let time = FakeTime::new();
    let c = client("BUSINESSAPI.1", t.clone(), time.clone());
    c.server("1F97").unwrap();
    let sleeps = time.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(
        (0.5..=1.0).contains(&sleeps[0]) && (1.0..=2.0).contains(&sleeps[1]),
        "{sleeps:?}"
    );
    let t = Scripted::with((0..4).map(|_| reply(502, "")).collect());
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    assert_eq!(
        c.server("1F97").unwrap_err(),
        PortalApiError::Unavailable {
            status: 502,
            attempts: 4
        }
    );
    let t = Scripted::with(vec![
        Err(PortalApiError::Transport {
            reason: "reset".into(),
        }),
        reply(200, SERVER),
    ]);
    client("BUSINESSAPI.1", t.clone(), FakeTime::new())
        .server("1F97")
        .unwrap();
    // A POST that failed with 5xx may have been applied: one request only.
    let t = Scripted::with(vec![reply(500, "")]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let e = c
        .create_activity(&ActivityRequest::assign("1F97", &["A1"]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            PortalApiError::Uncertain {
                status: Some(500),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("may or may not have been applied"));
    assert_eq!(t.api_requests().len(), 1);
    let t = Scripted::with(vec![Err(PortalApiError::Transport {
        reason: "timeout".into(),
    })]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    assert!(matches!(
        c.delete_server("1F97"),
        Err(PortalApiError::Uncertain { status: None, .. })
    ));
    assert_eq!(t.api_requests().len(), 1);
}

#[test]
fn json_api_errors_are_typed() {
    let t = Scripted::with(vec![reply(
        409,
        r#"{"errors":[{"status":"409","code":"ENTITY_ERROR","title":"The server name is already in use","detail":"An MDM server with this name already exists."}]}"#,
    )]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let kp = crate::ServerKeypair::generate(
        &mut crate::SystemRng::default(),
        crate::KeySize::Rsa2048,
        &crate::keypair::CertificateParams::new("Main MDM", OffsetDateTime::now_utc()),
    )
    .unwrap();
    let cert =
        ServerCertificateUpload::from_der("Main MDM.cer", &kp.certificate_der().unwrap()).unwrap();
    let e = c
        .create_server(&CreateServer::new("Main MDM", cert, false))
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.code(), Some("ENTITY_ERROR"));
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn business_only_endpoints_fail_on_a_school_account_before_any_request() {
    let t = Scripted::with(vec![]);
    let c = client("SCHOOLAPI.1", t.clone(), FakeTime::new());
    assert!(matches!(
        c.delete_server("1F97"),
        Err(PortalApiError::BusinessOnly { .. })
    ));
    assert!(matches!(
        c.update_server("1F97", &UpdateServer::rename("x")),
        Err(PortalApiError::BusinessOnly { .. })
    ));
    let e = c
        .create_activity(&ActivityRequest::release(&["A1"]))
        .unwrap_err();
    assert!(e.to_string().contains("only in Apple Business"), "{e}");
    assert!(t.seen.lock().unwrap().is_empty(), "no token, no request");
}

#[test]
fn lists_are_followed_page_by_page() {
    let page = |ids: &[&str], cursor: Option<&str>, next: Option<&str>| {
        let data: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"type":"orgDevices","id":"{id}","attributes":{{"serialNumber":"{id}","status":"ASSIGNED"}}}}"#))
            .collect();
        let paging = cursor
            .map(|c| format!(r#","nextCursor":"{c}""#))
            .unwrap_or_default();
        let next = next
            .map(|n| format!(r#","next":"{n}""#))
            .unwrap_or_default();
        reply(
            200,
            &format!(
                r#"{{"data":[{}],"links":{{"self":"x"{next}}},"meta":{{"paging":{{"limit":2{paging}}}}}}}"#,
                data.join(",")
            ),
        )
    };
    let t = Scripted::with(vec![
        page(&["A1", "A2"], Some("c2"), None),
        page(
            &["A3", "A4"],
            None,
            Some("http://127.0.0.1:9/v1/orgDevices?limit=2&cursor=c3"),
        ),
        page(&["A5"], None, None),
    ]);
    let c = client("SCHOOLAPI.1", t.clone(), FakeTime::new());
    let mut serials = Vec::new();
    let n = c
        .devices(
            &ListQuery::default()
                .with_limit(2)
                .with_fields("orgDevices", &["serialNumber", "status"]),
        )
        .unwrap()
        .for_each(|d: OrgDevice| {
            serials.push(d.attributes.serial_number.unwrap());
            Ok::<_, PortalApiError>(())
        })
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(serials, ["A1", "A2", "A3", "A4", "A5"]);
    let urls: Vec<_> = t.api_requests().into_iter().map(|r| r.1).collect();
    assert_eq!(
        urls,
        [
            "http://127.0.0.1:9/v1/orgDevices?fields%5BorgDevices%5D=serialNumber,status&limit=2",
            "http://127.0.0.1:9/v1/orgDevices?fields%5BorgDevices%5D=serialNumber,status&limit=2&cursor=c2",
            "http://127.0.0.1:9/v1/orgDevices?limit=2&cursor=c3",
        ]
    );
}

fn activity(status: &str, sub: &str) -> Reply {
    reply(
        200,
        &format!(
            r#"{{"data":{{"type":"orgDeviceActivities","id":"a1","attributes":{{"status":"{status}","subStatus":"{sub}","downloadUrl":"https://store.example/a1.csv"}}}}}}"#
        ),
    )
}

#[test]
fn activities_are_followed_with_backoff_until_final_or_deadline() {
    let t = Scripted::with(vec![
        reply(
            201,
            r#"{"data":{"type":"orgDeviceActivities","id":"a1","attributes":{"status":"IN_PROGRESS","subStatus":"SUBMITTED"}}}"#,
        ),
        activity("IN_PROGRESS", "PROCESSING"),
        activity("IN_PROGRESS", "PROCESSING"),
        activity("COMPLETED", "COMPLETED_WITH_SUCCESS"),
    ]);
    let time = FakeTime::new();
    let c = client("SCHOOLAPI.1", t.clone(), time.clone());
    let o = c
        .assign_devices("1F97", &["A1", "A2"], &FollowPolicy::default())
        .unwrap();
    assert!(o.succeeded());
    assert_eq!(o.polls, 3);
    assert_eq!(o.sub_status.as_deref(), Some("COMPLETED_WITH_SUCCESS"));
    assert_eq!(o.log_url.as_deref(), Some("https://store.example/a1.csv"));
    assert_eq!(time.sleeps(), [1.0, 1.5, 2.25]);
    // FAILED is final too, and reported as such.
    let t = Scripted::with(vec![activity("FAILED", "COMPLETED_WITH_ERROR")]);
    let o = client("SCHOOLAPI.1", t, FakeTime::new())
        .follow_activity("a1", &FollowPolicy::default())
        .unwrap();
    assert!(!o.succeeded());
    // Never finishing: a typed timeout at the deadline.
    let t = Scripted::with(
        (0..40)
            .map(|_| activity("IN_PROGRESS", "PROCESSING"))
            .collect(),
    );
    let time = FakeTime::new();
    let c = client("SCHOOLAPI.1", t, time.clone());
    let e = c
        .follow_activity(
            "a1",
            &FollowPolicy::default().with_deadline(StdDuration::from_secs(60)),
        )
        .unwrap_err();
    assert!(matches!(e, PortalApiError::ActivityTimedOut { .. }), "{e}");
    assert!(time.sleeps().iter().sum::<f64>() <= 60.0);
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    assert_eq!(
        parse_retry_after("120", now),
        Some(StdDuration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after("Thu, 28 May 2026 20:27:40 GMT", now),
        Some(StdDuration::from_secs(60))
    );
    assert_eq!(
        parse_retry_after("Thu, 28 May 2026 20:25:40 GMT", now),
        Some(StdDuration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-1", now), None);
}

#[test]
fn device_activities_are_split_by_a_thousand_and_reported() {
    use crate::portal_api::listing::run_device_activities;
    let created = |id: &str| {
        reply(
            201,
            &format!(
                r#"{{"data":{{"type":"orgDeviceActivities","id":"{id}","attributes":{{"status":"IN_PROGRESS","subStatus":"SUBMITTED"}}}}}}"#
            ),
        )
    };
    let done = |id: &str, status: &str, sub: &str| {
        reply(
            200,
            &format!(
                r#"{{"data":{{"type":"orgDeviceActivities","id":"{id}","attributes":{{"status":"{status}","subStatus":"{sub}","downloadUrl":"https://store.example/{id}.csv"}}}}}}"#
            ),
        )
    };
    let t = Scripted::with(vec![
        created("a1"),
        done("a1", "COMPLETED", "COMPLETED_WITH_SUCCESS"),
        created("a2"),
        done("a2", "COMPLETED", "COMPLETED_WITH_ERROR"),
    ]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let serials: Vec<String> = (0..1001).map(|i| format!("S{i:05}")).collect();
    let mut seen = Vec::new();
    let report = run_device_activities(
        &c,
        "1F97",
        &serials,
        true,
        &FollowPolicy::default(),
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
        &mut |request, outcome| seen.push((request.serials.len(), outcome.id.clone())),
    )
    .unwrap();
    assert_eq!(seen, [(1000, "a1".to_owned()), (1, "a2".to_owned())]);
    // One device of the second activity failed: not completed.
    assert!(!report.completed);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["activityType"], "ASSIGN_DEVICES");
    assert_eq!(json["serverId"], "1F97");
    assert_eq!(json["devices"], 1001);
    assert_eq!(json["activities"][0]["status"], "COMPLETED");
    assert_eq!(json["activities"][0]["succeeded"], true);
    assert_eq!(json["activities"][0]["devices"], 1000);
    assert_eq!(json["activities"][1]["subStatus"], "COMPLETED_WITH_ERROR");
    assert_eq!(
        json["activities"][1]["logUrl"],
        "https://store.example/a2.csv"
    );
    assert_eq!(json["activities"][1]["succeeded"], false);
    let bodies: Vec<serde_json::Value> = t
        .api_requests()
        .into_iter()
        .filter(|r| r.0 == Method::POST)
        .map(|r| serde_json::from_slice(&r.3).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[1]["data"]["relationships"]["devices"]["data"][0]["id"],
        "S01000"
    );
    // A bad serial anywhere is refused before the first request.
    let t = Scripted::with(vec![]);
    let c = client("BUSINESSAPI.1", t.clone(), FakeTime::new());
    let mut bad = serials.clone();
    bad[1000] = "not a serial".to_owned();
    let e = run_device_activities(
        &c,
        "1F97",
        &bad,
        false,
        &FollowPolicy::default(),
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(e, PortalApiError::InvalidArgument { .. }), "{e}");
    assert!(t.api_requests().is_empty());
}

#[test]
fn a_servers_devices_carry_their_serial_and_servers_list_with_their_id() {
    use crate::portal_api::listing::{ServerListing, for_each_device};
    let t = Scripted::with(vec![
        reply(
            200,
            r#"{"data":[{"type":"orgDevices","id":"XA1"},{"type":"orgDevices","id":"XA2"}],"links":{"self":"x"},"meta":{"paging":{"limit":1000}}}"#,
        ),
        reply(200, SERVER),
    ]);
    let c = client("SCHOOLAPI.1", t.clone(), FakeTime::new());
    let mut serials = Vec::new();
    let n = for_each_device(&c, Some("1F97"), false, |d| {
        serials.push(serde_json::to_string(&d).unwrap());
        Ok::<_, PortalApiError>(())
    })
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        serials,
        [r#"{"serialNumber":"XA1"}"#, r#"{"serialNumber":"XA2"}"#]
    );
    assert_eq!(
        t.api_requests()[0].1,
        "http://127.0.0.1:9/v1/mdmServers/1F97/relationships/devices?limit=1000"
    );
    let server = c.server("1F97").unwrap();
    assert_eq!(
        serde_json::to_value(ServerListing::of(&server)).unwrap(),
        serde_json::json!({"id": "1F97", "serverName": "Main MDM", "serverType": "MDM"})
    );
}
