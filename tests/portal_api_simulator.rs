//! The simulated School and Business Manager API over real HTTP: the token
//! endpoint's checks of the client assertion (signed here with RustCrypto's
//! `p256`, and once with Python's PyJWT), access-token expiry on the
//! simulator's clock, cursor paging, full JSON:API resources, servers,
//! activities, the Business-only refusals on a School account, faults, and
//! garbage requests.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration as StdDuration;

use base64::Engine as _;
use mdmlink::simulator::portal_api::{
    ASSERTION_AUDIENCE, ASSERTION_TYPE, RetryAfter, SimulatedApiAccount,
};
use mdmlink::simulator::{Simulator, SimulatorOptions};
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, macros::datetime};

const NOW: OffsetDateTime = datetime!(2026-06-15 12:00 UTC);
const BUSINESS: &str = "BUSINESSAPI.3bb1c3b4-0d4e-4a2b-9c1f-5a6e7d8c9b0a";
const SCHOOL: &str = "SCHOOLAPI.7e0b1f2c-3d4e-4f50-8a61-b2c3d4e5f607";

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client (one request per connection, as the simulator
// serves), so every header and byte is under the test's control.

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(StdDuration::from_secs(20)))
        .unwrap();
    let _ = s.write_all(raw);
    // Nothing more follows: an incomplete request ends now, not at the
    // simulator's read timeout.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn request(
    sim: &Simulator,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    let out = exchange(sim.local_addr(), &bytes);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8(out[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

fn get(sim: &Simulator, token: &str, target: &str) -> Reply {
    request(
        sim,
        "GET",
        target,
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

fn send_json(sim: &Simulator, token: &str, method: &str, target: &str, body: &Value) -> Reply {
    request(
        sim,
        method,
        target,
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// Asserts a JSON:API error document with `status` and `code`.
fn assert_api_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let doc = reply.json();
    let e = &doc["errors"][0];
    for key in ["id", "status", "code", "title", "detail", "source"] {
        assert!(!e[key].is_null(), "error without {key}: {doc}");
    }
    assert_eq!(e["status"], status.to_string());
    assert_eq!(e["code"], code, "{doc}");
}

// ---------------------------------------------------------------------------
// Accounts and assertions, signed here with p256.

struct Account {
    client_id: &'static str,
    key_id: &'static str,
    key: SigningKey,
}

impl Account {
    fn new(client_id: &'static str, key_id: &'static str, seed: u8) -> Self {
        let key = SigningKey::from_slice(&[seed; 32]).unwrap();
        Self {
            client_id,
            key_id,
            key,
        }
    }
    fn simulated(&self) -> SimulatedApiAccount {
        SimulatedApiAccount::new(self.client_id, self.key_id, *self.key.verifying_key())
    }
    fn claims(&self, jti: &str) -> Value {
        json!({
            "sub": self.client_id,
            "iss": self.client_id,
            "aud": ASSERTION_AUDIENCE,
            "iat": NOW.unix_timestamp(),
            "exp": (NOW + Duration::minutes(10)).unix_timestamp(),
            "jti": jti,
        })
    }
    fn assertion(&self, jti: &str) -> String {
        sign(
            &self.key,
            &json!({"alg": "ES256", "kid": self.key_id}),
            &self.claims(jti),
        )
    }
    fn scope(&self) -> &'static str {
        if self.client_id.starts_with("SCHOOLAPI.") {
            "school.api"
        } else {
            "business.api"
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// `application/x-www-form-urlencoded` escaping (everything but unreserved).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn token_request(sim: &Simulator, client_id: &str, assertion: &str, scope: &str) -> Reply {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("scope", scope),
    ]);
    request(
        sim,
        "POST",
        "/auth/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

fn access_token(sim: &Simulator, account: &Account, jti: &str) -> String {
    let reply = token_request(
        sim,
        account.client_id,
        &account.assertion(jti),
        account.scope(),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn simulator(reads: u32) -> Simulator {
    let mut options = SimulatorOptions::default();
    options.now = Some(NOW);
    options.activity_reads = reads;
    Simulator::start_with(Vec::new(), options).unwrap()
}

fn business() -> Account {
    Account::new(BUSINESS, "d136aa66-0c3b-4bd4-9892-c20e8db024ab", 7)
}

fn school() -> Account {
    Account::new(SCHOOL, "5f2e8a1c-9b7d-4e3f-a6c0-1d2e3f4a5b6c", 9)
}

// ---------------------------------------------------------------------------

#[test]
fn token_endpoint_accepts_form_and_query_parameters() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated());

    let reply = token_request(
        &sim,
        acct.client_id,
        &acct.assertion("form-1"),
        "business.api",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    let doc = reply.json();
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["expires_in"], 3600);
    assert_eq!(doc["scope"], "business.api");
    assert!(doc["access_token"].as_str().unwrap().len() >= 32);

    // Apple's example: the parameters in the query, the form content type.
    let query = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", acct.client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &acct.assertion("query-1")),
        ("scope", "business.api"),
    ]);
    let reply = request(
        &sim,
        "POST",
        &format!("/auth/oauth2/token?{query}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"",
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sim, &token, "/v1/mdmServers").status, 200);
    // GET on the token endpoint is refused.
    assert_eq!(
        request(&sim, "GET", "/auth/oauth2/token", &[], b"").status,
        405
    );
}

#[test]
fn token_endpoint_refuses_every_bad_assertion() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated());
    let header = json!({"alg": "ES256", "kid": acct.key_id});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = acct.claims("x");
        f(&mut c);
        sign(&acct.key, &header, &c)
    };
    let other_key = SigningKey::from_slice(&[8; 32]).unwrap();
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "signed by another key",
            sign(&other_key, &header, &acct.claims("a1")),
            "signature",
        ),
        (
            "wrong kid",
            sign(
                &acct.key,
                &json!({"alg": "ES256", "kid": "other"}),
                &acct.claims("a2"),
            ),
            "kid",
        ),
        (
            "HS256",
            sign(
                &acct.key,
                &json!({"alg": "HS256", "kid": acct.key_id}),
                &acct.claims("a3"),
            ),
            "alg",
        ),
        (
            "wrong aud",
            with(&|c| c["aud"] = json!("https://appleid.apple.com")),
            "aud",
        ),
        (
            "wrong sub",
            with(&|c| c["sub"] = json!("BUSINESSAPI.other")),
            "sub",
        ),
        ("wrong iss", with(&|c| c["iss"] = json!("someone")), "iss"),
        (
            "exp more than 180 days after iat",
            with(&|c| {
                c["exp"] =
                    json!((NOW + Duration::days(180) + Duration::seconds(1)).unix_timestamp())
            }),
            "180 days",
        ),
        (
            "expired",
            with(&|c| {
                c["iat"] = json!((NOW - Duration::hours(2)).unix_timestamp());
                c["exp"] = json!((NOW - Duration::hours(1)).unix_timestamp());
            }),
            "expired",
        ),
        (
            "iat in the future",
            with(&|c| c["iat"] = json!((NOW + Duration::minutes(5)).unix_timestamp())),
            "future",
        ),
        (
            "no jti",
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            "jti",
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "exp",
        ),
        ("not a JWS", "abc.def".to_owned(), "compact JWS"),
    ];
    // A DER signature instead of JOSE's r||s.
    let good = acct.assertion("der");
    let (input, _) = good.rsplit_once('.').unwrap();
    let signature: Signature = acct.key.sign(input.as_bytes());
    let der = signature.to_der();
    cases.push((
        "DER signature",
        format!("{input}.{}", b64(der.as_bytes())),
        "64-byte",
    ));
    // A valid signature over other bytes (one claim changed after signing).
    let (h, rest) = good.split_once('.').unwrap();
    let (_, s) = rest.split_once('.').unwrap();
    let mut tampered = acct.claims("der");
    tampered["sub"] = json!(acct.client_id);
    tampered["exp"] = json!((NOW + Duration::minutes(11)).unix_timestamp());
    cases.push((
        "tampered claims",
        format!("{h}.{}.{s}", b64(tampered.to_string().as_bytes())),
        "signature",
    ));

    for (what, assertion, says) in &cases {
        let reply = token_request(&sim, acct.client_id, assertion, "business.api");
        assert_eq!(
            reply.status,
            401,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let doc = reply.json();
        assert_eq!(doc["error"], "invalid_client", "{what}");
        let description = doc["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{what}: {description}");
    }

    // Replay: the same assertion (same jti) works once.
    let once = acct.assertion("replayed");
    assert_eq!(
        token_request(&sim, acct.client_id, &once, "business.api").status,
        200
    );
    let again = token_request(&sim, acct.client_id, &once, "business.api");
    assert_eq!(again.status, 401);
    assert!(
        again.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("jti")
    );

    // Scope of the other platform, unknown client, wrong grant and type.
    let reply = token_request(&sim, acct.client_id, &acct.assertion("s1"), "school.api");
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("invalid_scope"))
    );
    let reply = token_request(
        &sim,
        "BUSINESSAPI.unknown",
        &acct.assertion("s2"),
        "business.api",
    );
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("client_id", acct.client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &acct.assertion("s3")),
        ("scope", "business.api"),
    ]);
    let reply = request(
        &sim,
        "POST",
        "/auth/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("unsupported_grant_type"))
    );
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", acct.client_id),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
        ("client_assertion", &acct.assertion("s4")),
        ("scope", "business.api"),
    ]);
    let reply = request(
        &sim,
        "POST",
        "/auth/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    // A JSON body is not a form.
    let reply = request(
        &sim,
        "POST",
        "/auth/oauth2/token",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    // Repeated parameter.
    let body = format!(
        "{}&scope=business.api",
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", acct.client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &acct.assertion("s5")),
            ("scope", "business.api"),
        ])
    );
    let reply = request(
        &sim,
        "POST",
        "/auth/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    // An assertion without iss (Apple's documented claims) is fine.
    let mut claims = acct.claims("no-iss");
    claims.as_object_mut().unwrap().remove("iss");
    let reply = token_request(
        &sim,
        acct.client_id,
        &sign(&acct.key, &header, &claims),
        "business.api",
    );
    assert_eq!(reply.status, 200);
    // Exactly 180 days is the limit, and accepted.
    let mut claims = acct.claims("180");
    claims["exp"] = json!((NOW + Duration::days(180)).unix_timestamp());
    let reply = token_request(
        &sim,
        acct.client_id,
        &sign(&acct.key, &header, &claims),
        "business.api",
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn access_tokens_expire_on_the_simulator_clock() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated());
    let token = access_token(&sim, &acct, "t1");
    assert_eq!(get(&sim, &token, "/v1/orgDevices").status, 200);

    let reply = request(&sim, "GET", "/v1/orgDevices", &[], b"");
    assert_api_error(&reply, 401, "NOT_AUTHORIZED");
    assert!(
        reply
            .header("WWW-Authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_api_error(
        &get(&sim, "not-a-token", "/v1/orgDevices"),
        401,
        "NOT_AUTHORIZED",
    );
    assert_api_error(
        &request(
            &sim,
            "GET",
            "/v1/orgDevices",
            &[("Authorization", &format!("Basic {token}"))],
            b"",
        ),
        401,
        "NOT_AUTHORIZED",
    );

    sim.advance_clock(Duration::seconds(3599));
    assert_eq!(get(&sim, &token, "/v1/orgDevices").status, 200);
    sim.advance_clock(Duration::seconds(1));
    let reply = get(&sim, &token, "/v1/orgDevices");
    assert_api_error(&reply, 401, "NOT_AUTHORIZED");
    assert!(
        reply.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // A new assertion (signed at the new time) gets a new token; then the
    // "expire tokens" control makes the next request fail.
    let later = NOW + Duration::seconds(3600);
    let mut claims = acct.claims("t2");
    claims["iat"] = json!(later.unix_timestamp());
    claims["exp"] = json!((later + Duration::minutes(5)).unix_timestamp());
    let assertion = sign(
        &acct.key,
        &json!({"alg": "ES256", "kid": acct.key_id}),
        &claims,
    );
    let reply = token_request(&sim, acct.client_id, &assertion, "business.api");
    let fresh = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sim, &fresh, "/v1/orgDevices").status, 200);
    sim.api_expire_access_tokens();
    assert_api_error(&get(&sim, &fresh, "/v1/orgDevices"), 401, "NOT_AUTHORIZED");
}

#[test]
fn org_devices_page_with_cursors() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated().with_devices(2000, 500, 42));
    let token = access_token(&sim, &acct, "p1");

    let mut serials = Vec::new();
    let mut target = "/v1/orgDevices?limit=1000".to_owned();
    let mut pages = 0;
    loop {
        let reply = get(&sim, &token, &target);
        assert_eq!(reply.status, 200);
        let doc = reply.json();
        pages += 1;
        assert_eq!(doc["meta"]["paging"]["limit"], 1000);
        assert_eq!(doc["meta"]["paging"]["total"], 2500);
        assert!(doc["links"]["self"].as_str().unwrap().ends_with(&target));
        for d in doc["data"].as_array().unwrap() {
            assert_eq!(d["type"], "orgDevices");
            serials.push(d["id"].as_str().unwrap().to_owned());
        }
        match doc["meta"]["paging"]["nextCursor"].as_str() {
            Some(cursor) => {
                let next = doc["links"]["next"].as_str().unwrap();
                assert!(next.contains(cursor), "links.next carries the cursor");
                target = format!("/v1/orgDevices?cursor={cursor}&limit=1000");
            }
            None => {
                assert!(doc["links"]["next"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(serials.len(), 2500);
    assert_eq!(serials, sim.api_serials(acct.client_id, 2500));
    let unique: std::collections::HashSet<_> = serials.iter().collect();
    assert_eq!(unique.len(), 2500);

    // Default page size, bounds, cursors, unknown parameters, fields.
    let doc = get(&sim, &token, "/v1/orgDevices").json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 100);
    for bad in [
        "limit=1001",
        "limit=0",
        "limit=-1",
        "limit=ten",
        "cursor=garbage",
        "cursor=",
        "sort=serialNumber",
        "limit=5&limit=6",
    ] {
        let reply = get(&sim, &token, &format!("/v1/orgDevices?{bad}"));
        assert_api_error(&reply, 400, "PARAMETER_ERROR.INVALID");
    }
    let reply = get(&sim, &token, "/v1/orgDevices?limit=1001");
    assert_eq!(reply.json()["errors"][0]["source"]["parameter"], "limit");
    // A cursor of another listing is refused.
    let server = &sim.api_servers(acct.client_id)[0].id;
    let doc = get(
        &sim,
        &token,
        &format!("/v1/mdmServers/{server}/relationships/devices?limit=10"),
    )
    .json();
    let foreign = doc["meta"]["paging"]["nextCursor"].as_str().unwrap();
    assert_api_error(
        &get(&sim, &token, &format!("/v1/orgDevices?cursor={foreign}")),
        400,
        "PARAMETER_ERROR.INVALID",
    );

    let doc = get(
        &sim,
        &token,
        "/v1/orgDevices?limit=3&fields%5BorgDevices%5D=serialNumber,status",
    )
    .json();
    let attributes = doc["data"][0]["attributes"].as_object().unwrap();
    assert_eq!(
        attributes.keys().collect::<Vec<_>>(),
        ["serialNumber", "status"]
    );
    assert!(doc["links"]["next"].as_str().unwrap().contains("fields"));
    assert_api_error(
        &get(
            &sim,
            &token,
            "/v1/orgDevices?fields[orgDevices]=serialNumber,nope",
        ),
        400,
        "PARAMETER_ERROR.INVALID",
    );
}

#[test]
fn org_device_resources_are_complete() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated().with_devices(3, 2, 1));
    let token = access_token(&sim, &acct, "r1");
    let serials = sim.api_serials(acct.client_id, 5);
    let server = sim.api_servers(acct.client_id)[0].id.clone();

    let doc = get(&sim, &token, &format!("/v1/orgDevices/{}", serials[0])).json();
    let device = &doc["data"];
    assert_eq!(device["id"], serials[0].as_str());
    for key in [
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
    ] {
        assert!(
            device["attributes"].as_object().unwrap().contains_key(key),
            "missing {key}"
        );
    }
    assert_eq!(device["attributes"]["status"], "ASSIGNED");
    assert!(
        device["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v1/orgDevices/{}", serials[0]))
    );
    assert!(doc["links"]["self"].is_string());
    assert!(device["relationships"]["assignedServer"]["links"]["related"].is_string());
    // Same serials as the device assignment side for the same seed.
    assert!(serials[0].starts_with("S001"));

    let linkage = get(
        &sim,
        &token,
        &format!("/v1/orgDevices/{}/relationships/assignedServer", serials[0]),
    )
    .json();
    assert_eq!(linkage["data"], json!({"type": "mdmServers", "id": server}));
    let related = get(
        &sim,
        &token,
        &format!("/v1/orgDevices/{}/assignedServer", serials[0]),
    )
    .json();
    assert_eq!(related["data"]["attributes"]["serverName"], "MDM Server");
    let unassigned = get(
        &sim,
        &token,
        &format!("/v1/orgDevices/{}/relationships/assignedServer", serials[4]),
    )
    .json();
    assert!(unassigned["data"].is_null());
    let unassigned = get(&sim, &token, &format!("/v1/orgDevices/{}", serials[4])).json();
    assert_eq!(unassigned["data"]["attributes"]["status"], "UNASSIGNED");

    let care = get(
        &sim,
        &token,
        &format!("/v1/orgDevices/{}/appleCareCoverage", serials[0]),
    )
    .json();
    assert!(!care["data"].as_array().unwrap().is_empty());
    assert_eq!(care["data"][0]["type"], "appleCareCoverage");
    assert!(care["meta"]["paging"]["total"].as_u64().unwrap() >= 1);

    assert_api_error(
        &get(&sim, &token, "/v1/orgDevices/NOPE00000000"),
        404,
        "NOT_FOUND",
    );
    assert_api_error(&get(&sim, &token, "/v1/nothing"), 404, "NOT_FOUND");
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/orgDevices", &json!({})),
        405,
        "METHOD_NOT_ALLOWED",
    );
}

/// A self-signed RSA certificate, DER (made by the library's key generator).
fn rsa_certificate_der() -> Vec<u8> {
    let kp = common::test_keypair("Created by API", NOW);
    kp.certificate().unwrap().to_der().to_vec()
}

fn create_body(name: &str, der: &[u8]) -> Value {
    json!({"data": {"type": "mdmServers", "attributes": {
        "serverName": name,
        "serverCertificate": {"name": "server.cer", "data": base64::engine::general_purpose::STANDARD.encode(der)},
        "enableMdmDisownFlag": true,
    }}})
}

#[test]
fn business_accounts_create_update_and_delete_servers() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(
        acct.simulated()
            .with_servers(&["Main MDM", "Lab"])
            .with_devices(5, 0, 3),
    );
    let token = access_token(&sim, &acct, "c1");
    let der = rsa_certificate_der();

    let listed = get(&sim, &token, "/v1/mdmServers").json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(listed["data"][0]["attributes"]["deviceCount"], 5);
    assert!(listed["links"]["self"].is_string());
    assert!(listed["meta"]["paging"].is_object());

    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/mdmServers",
        &create_body("Marketing MDM", &der),
    );
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let doc = reply.json();
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        reply
            .header("Location")
            .unwrap()
            .ends_with(&format!("/v1/mdmServers/{id}"))
    );
    let a = &doc["data"]["attributes"];
    assert_eq!(a["serverName"], "Marketing MDM");
    assert_eq!(a["serverType"], "MDM");
    assert_eq!(a["enableMdmDisownFlag"], true);
    assert_eq!(a["deviceCount"], 0);
    for key in [
        "createdDateTime",
        "updatedDateTime",
        "status",
        "defaultProductFamilies",
        "lastConnectedDateTime",
        "lastConnectedIp",
    ] {
        assert!(a.as_object().unwrap().contains_key(key), "missing {key}");
    }
    assert!(
        doc["data"]["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&id)
    );
    let stored = sim.api_servers(acct.client_id);
    assert_eq!(stored[2].certificate.as_deref(), Some(der.as_slice()));

    // Duplicates ignoring case, reserved names: 409.
    for name in ["marketing mdm", "  MAIN MDM ", "Unassigned", "reassigned"] {
        let reply = send_json(
            &sim,
            &token,
            "POST",
            "/v1/mdmServers",
            &create_body(name, &der),
        );
        assert_api_error(&reply, 409, "ENTITY_ERROR.CONFLICT");
    }
    // Missing certificate, bad base64, not a certificate, not RSA: 422.
    let mut no_cert = create_body("X", &der);
    no_cert["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("serverCertificate");
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/mdmServers", &no_cert),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    let mut no_name = create_body("X", &der);
    no_name["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("serverName");
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/mdmServers", &no_name),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    let mut bad = create_body("X", &der);
    bad["data"]["attributes"]["serverCertificate"]["data"] = json!("%%%not base64");
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/mdmServers", &bad),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/mdmServers",
            &create_body("X", b"not DER"),
        ),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    // The same certificate with its key algorithm changed from rsaEncryption
    // (1.2.840.113549.1.1.1) to RSASSA-PSS (...1.1.10): parses, not RSA.
    let rsa_oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
    ];
    let at = der
        .windows(rsa_oid.len())
        .position(|w| w == rsa_oid)
        .unwrap();
    let mut other_key = der.clone();
    other_key[at + rsa_oid.len() - 1] = 0x0A;
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/mdmServers",
        &create_body("X", &other_key),
    );
    assert_api_error(&reply, 422, "ENTITY_ERROR.ATTRIBUTE.INVALID");
    assert!(
        reply.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not RSA")
    );
    // Wrong type: 409; not JSON: 400.
    let mut wrong = create_body("X", &der);
    wrong["data"]["type"] = json!("orgDevices");
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/mdmServers", &wrong),
        409,
        "ENTITY_ERROR.TYPE_MISMATCH",
    );
    let reply = request(
        &sim,
        "POST",
        "/v1/mdmServers",
        &[("Authorization", &format!("Bearer {token}"))],
        b"{nope",
    );
    assert_api_error(&reply, 400, "ENTITY_ERROR.INVALID");
    assert_eq!(
        sim.api_servers(acct.client_id).len(),
        3,
        "no refused request created a server"
    );

    // PATCH: only what is sent changes.
    let patch = json!({"data": {"type": "mdmServers", "id": id, "attributes": {"serverName": "Marketing"}}});
    let doc = send_json(
        &sim,
        &token,
        "PATCH",
        &format!("/v1/mdmServers/{id}"),
        &patch,
    )
    .json();
    assert_eq!(doc["data"]["attributes"]["serverName"], "Marketing");
    assert_eq!(doc["data"]["attributes"]["enableMdmDisownFlag"], true);
    assert_eq!(
        sim.api_servers(acct.client_id)[2].certificate.as_deref(),
        Some(der.as_slice())
    );
    let new_der = rsa_certificate_der();
    let patch = json!({"data": {"type": "mdmServers", "id": id, "attributes": {
        "serverCertificate": {"name": "rotated.cer", "data": base64::engine::general_purpose::STANDARD.encode(&new_der)}}}});
    let reply = send_json(
        &sim,
        &token,
        "PATCH",
        &format!("/v1/mdmServers/{id}"),
        &patch,
    );
    assert_eq!(reply.status, 200);
    let after = &sim.api_servers(acct.client_id)[2];
    assert_eq!(
        (after.name.as_str(), after.certificate.as_deref()),
        ("Marketing", Some(new_der.as_slice()))
    );
    // Renaming onto another server's name, a mismatched id, a read-only attribute.
    let clash =
        json!({"data": {"type": "mdmServers", "id": id, "attributes": {"serverName": "lab"}}});
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "PATCH",
            &format!("/v1/mdmServers/{id}"),
            &clash,
        ),
        409,
        "ENTITY_ERROR.CONFLICT",
    );
    let mismatch = json!({"data": {"type": "mdmServers", "id": "0000", "attributes": {}}});
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "PATCH",
            &format!("/v1/mdmServers/{id}"),
            &mismatch,
        ),
        409,
        "ENTITY_ERROR.CONFLICT",
    );
    let read_only = json!({"data": {"type": "mdmServers", "id": id, "attributes": {"serverType": "APPLE_CONFIGURATOR"}}});
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "PATCH",
            &format!("/v1/mdmServers/{id}"),
            &read_only,
        ),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );

    // DELETE, then it is gone.
    let reply = request(
        &sim,
        "DELETE",
        &format!("/v1/mdmServers/{id}"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(reply.status, 204);
    assert_api_error(
        &get(&sim, &token, &format!("/v1/mdmServers/{id}")),
        404,
        "NOT_FOUND",
    );
    let reply = request(
        &sim,
        "DELETE",
        &format!("/v1/mdmServers/{id}"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_api_error(&reply, 404, "NOT_FOUND");
    // The name is free again.
    assert_eq!(
        send_json(
            &sim,
            &token,
            "POST",
            "/v1/mdmServers",
            &create_body("marketing", &der)
        )
        .status,
        201
    );
}

#[test]
fn school_accounts_refuse_business_only_endpoints() {
    let sim = simulator(2);
    let acct = school();
    sim.add_api_account(acct.simulated().with_devices(4, 0, 5));
    let token = access_token(&sim, &acct, "sc1");
    // business.api for a School account is refused at the token endpoint.
    let reply = token_request(&sim, acct.client_id, &acct.assertion("sc2"), "business.api");
    assert_eq!(reply.json()["error"], "invalid_scope");

    let servers = get(&sim, &token, "/v1/mdmServers").json();
    let id = servers["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&sim, &token, &format!("/v1/mdmServers/{id}")).status,
        200
    );
    let der = rsa_certificate_der();
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/mdmServers",
            &create_body("New", &der),
        ),
        403,
        "FORBIDDEN_ERROR",
    );
    let patch =
        json!({"data": {"type": "mdmServers", "id": id, "attributes": {"serverName": "Renamed"}}});
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "PATCH",
            &format!("/v1/mdmServers/{id}"),
            &patch,
        ),
        403,
        "FORBIDDEN_ERROR",
    );
    let reply = request(
        &sim,
        "DELETE",
        &format!("/v1/mdmServers/{id}"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_api_error(&reply, 403, "FORBIDDEN_ERROR");
    let serial = &sim.api_serials(acct.client_id, 1)[0];
    let release = json!({"data": {"type": "orgDeviceActivities", "attributes": {"activityType": "RELEASE_DEVICES"},
        "relationships": {"devices": {"data": [{"type": "orgDevices", "id": serial}]}}}});
    assert_api_error(
        &send_json(&sim, &token, "POST", "/v1/orgDeviceActivities", &release),
        403,
        "FORBIDDEN_ERROR",
    );
    assert_eq!(sim.api_servers(acct.client_id)[0].name, "MDM Server");
    assert!(sim.api_device_server(acct.client_id, serial).is_some());
}

fn activity(
    kind: &str,
    server: Option<&str>,
    serials: &[&str],
    deadline: Option<OffsetDateTime>,
) -> Value {
    let mut body = json!({"data": {"type": "orgDeviceActivities", "attributes": {"activityType": kind},
        "relationships": {"devices": {"data": serials.iter().map(|s| json!({"type": "orgDevices", "id": s})).collect::<Vec<_>>()}}}});
    if let Some(server) = server {
        body["data"]["relationships"]["mdmServer"] =
            json!({"data": {"type": "mdmServers", "id": server}});
    }
    if let Some(d) = deadline {
        body["data"]["attributes"]["mdmMigrationDeadlineDateTime"] = json!(
            d.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
    }
    body
}

/// Polls an activity until it leaves IN_PROGRESS; returns (reads, document).
fn follow(sim: &Simulator, token: &str, id: &str) -> (u32, Value) {
    for reads in 1..=10 {
        let doc = get(sim, token, &format!("/v1/orgDeviceActivities/{id}")).json();
        if doc["data"]["attributes"]["status"] != "IN_PROGRESS" {
            return (reads, doc);
        }
        assert!(doc["data"]["attributes"]["completedDateTime"].is_null());
    }
    panic!("activity {id} never finished");
}

#[test]
fn activities_assign_unassign_migrate_and_release() {
    let sim = simulator(3);
    let acct = business();
    sim.add_api_account(
        acct.simulated()
            .with_servers(&["Old", "New"])
            .with_devices(2, 3, 11),
    );
    let token = access_token(&sim, &acct, "a1");
    let servers = sim.api_servers(acct.client_id);
    let (old, new) = (servers[0].id.clone(), servers[1].id.clone());
    let serials = sim.api_serials(acct.client_id, 5);
    let s: Vec<&str> = serials.iter().map(String::as_str).collect();

    // Assign two unassigned devices to New.
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity("ASSIGN_DEVICES", Some(&new), &s[2..4], None),
    );
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let created = reply.json();
    assert_eq!(created["data"]["type"], "orgDeviceActivities");
    assert_eq!(created["data"]["attributes"]["status"], "IN_PROGRESS");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sim.api_device_server(acct.client_id, s[2]),
        None,
        "not applied before it completes"
    );
    let (reads, done) = follow(&sim, &token, &id);
    assert_eq!(reads, 3);
    let a = &done["data"]["attributes"];
    assert_eq!(
        (a["status"].as_str(), a["subStatus"].as_str()),
        (Some("COMPLETED"), Some("COMPLETED_WITH_SUCCESS"))
    );
    assert!(a["completedDateTime"].is_string());
    assert_eq!(
        sim.api_device_server(acct.client_id, s[2]),
        Some(new.clone())
    );
    let linkage = get(
        &sim,
        &token,
        &format!("/v1/orgDevices/{}/relationships/assignedServer", s[3]),
    )
    .json();
    assert_eq!(linkage["data"]["id"], new.as_str());
    // The log is served at downloadUrl.
    let url = a["downloadUrl"].as_str().unwrap();
    let path = &url[url.find("/activityLogs/").unwrap()..];
    let log = request(&sim, "GET", path, &[], b"");
    assert_eq!(log.status, 200);
    let csv = String::from_utf8(log.body).unwrap();
    assert!(csv.contains(&format!("{},SUCCESS", s[2])), "{csv}");
    // The relationship lists them; deviceCount follows.
    let devices = get(
        &sim,
        &token,
        &format!("/v1/mdmServers/{new}/relationships/devices"),
    )
    .json();
    let ids: Vec<&str> = devices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, &s[2..4]);
    assert_eq!(devices["meta"]["paging"]["total"], 2);
    assert_eq!(sim.api_servers(acct.client_id)[1].device_count, 2);

    // Unassign one from Old (where it is) and one from Old (where it is not).
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity("UNASSIGN_DEVICES", Some(&old), &[s[0], s[2]], None),
    );
    let (_, done) = follow(&sim, &token, reply.json()["data"]["id"].as_str().unwrap());
    assert_eq!(
        done["data"]["attributes"]["subStatus"],
        "COMPLETED_WITH_ERROR"
    );
    assert_eq!(sim.api_device_server(acct.client_id, s[0]), None);
    assert_eq!(
        sim.api_device_server(acct.client_id, s[2]),
        Some(new.clone())
    );

    // Unknown serials only: FAILED.
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity("ASSIGN_DEVICES", Some(&new), &["NOTMINE00001"], None),
    );
    let (_, done) = follow(&sim, &token, reply.json()["data"]["id"].as_str().unwrap());
    assert_eq!(done["data"]["attributes"]["status"], "FAILED");

    // Migration deadline: at most 90 days ahead (409), then a valid one.
    let too_far = NOW + Duration::days(91);
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity(
            "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE",
            Some(&old),
            &[s[1]],
            Some(too_far),
        ),
    );
    assert_api_error(&reply, 409, "ENTITY_ERROR.CONFLICT");
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity(
            "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE",
            Some(&new),
            &[s[1]],
            None,
        ),
    );
    assert_api_error(&reply, 422, "ENTITY_ERROR.ATTRIBUTE.INVALID");
    let deadline = NOW + Duration::days(30);
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity(
            "ASSIGN_DEVICES_WITH_MDM_MIGRATION_DEADLINE",
            Some(&new),
            &[s[1]],
            Some(deadline),
        ),
    );
    follow(&sim, &token, reply.json()["data"]["id"].as_str().unwrap());
    let device = get(&sim, &token, &format!("/v1/orgDevices/{}", s[1])).json();
    assert_eq!(
        device["data"]["attributes"]["mdmMigrationStatus"],
        "REQUESTED"
    );
    assert!(
        device["data"]["attributes"]["mdmMigrationDeadlineDateTime"]
            .as_str()
            .unwrap()
            .starts_with("2026-07-15")
    );
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity("CANCEL_MDM_MIGRATION", None, &[s[1]], None),
    );
    let (_, done) = follow(&sim, &token, reply.json()["data"]["id"].as_str().unwrap());
    assert_eq!(
        done["data"]["attributes"]["subStatus"],
        "COMPLETED_WITH_SUCCESS"
    );
    let device = get(&sim, &token, &format!("/v1/orgDevices/{}", s[1])).json();
    assert!(device["data"]["attributes"]["mdmMigrationStatus"].is_null());

    // Release (Apple Business): the device leaves the organization.
    let reply = send_json(
        &sim,
        &token,
        "POST",
        "/v1/orgDeviceActivities",
        &activity("RELEASE_DEVICES", None, &[s[4]], None),
    );
    follow(&sim, &token, reply.json()["data"]["id"].as_str().unwrap());
    assert_api_error(
        &get(&sim, &token, &format!("/v1/orgDevices/{}", s[4])),
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        get(&sim, &token, "/v1/orgDevices").json()["meta"]["paging"]["total"],
        4
    );

    // Refusals: unknown type, unknown server, no server, no devices, too many.
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/orgDeviceActivities",
            &activity("WIPE", Some(&new), &[s[0]], None),
        ),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/orgDeviceActivities",
            &activity("ASSIGN_DEVICES", Some("FFFF"), &[s[0]], None),
        ),
        404,
        "NOT_FOUND",
    );
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/orgDeviceActivities",
            &activity("ASSIGN_DEVICES", None, &[s[0]], None),
        ),
        400,
        "ENTITY_ERROR.INVALID",
    );
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/orgDeviceActivities",
            &activity("ASSIGN_DEVICES", Some(&new), &[], None),
        ),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    let many: Vec<String> = (0..1001).map(|i| format!("X{i:011}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_api_error(
        &send_json(
            &sim,
            &token,
            "POST",
            "/v1/orgDeviceActivities",
            &activity("ASSIGN_DEVICES", Some(&new), &many, None),
        ),
        422,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
    );
    assert_api_error(
        &get(
            &sim,
            &token,
            "/v1/orgDeviceActivities/00000000-0000-4000-8000-000000000000",
        ),
        404,
        "NOT_FOUND",
    );
    // Activities are readable for 30 days.
    sim.advance_clock(Duration::days(31));
    let token = {
        let later = NOW + Duration::days(31);
        let mut claims = acct.claims("a-late");
        claims["iat"] = json!(later.unix_timestamp());
        claims["exp"] = json!((later + Duration::minutes(5)).unix_timestamp());
        let assertion = sign(
            &acct.key,
            &json!({"alg": "ES256", "kid": acct.key_id}),
            &claims,
        );
        token_request(&sim, acct.client_id, &assertion, "business.api").json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_api_error(
        &get(&sim, &token, &format!("/v1/orgDeviceActivities/{id}")),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn injected_faults_rate_limits_and_server_errors() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated().with_devices(3, 0, 2));
    let token = access_token(&sim, &acct, "f1");

    sim.api_throttle(2, RetryAfter::Seconds(3));
    for _ in 0..2 {
        let reply = get(&sim, &token, "/v1/orgDevices");
        assert_api_error(&reply, 429, "RATE_LIMIT_EXCEEDED");
        assert_eq!(reply.header("Retry-After"), Some("3"));
    }
    assert_eq!(get(&sim, &token, "/v1/orgDevices").status, 200);

    sim.api_throttle(1, RetryAfter::DateIn(Duration::seconds(5)));
    let reply = get(&sim, &token, "/v1/mdmServers");
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.header("Retry-After"),
        Some("Mon, 15 Jun 2026 12:00:05 GMT")
    );

    sim.api_fail_requests(2);
    assert_api_error(&get(&sim, &token, "/v1/orgDevices"), 503, "INTERNAL_ERROR");
    assert_api_error(&get(&sim, &token, "/v1/orgDevices"), 503, "INTERNAL_ERROR");
    assert_eq!(get(&sim, &token, "/v1/orgDevices").status, 200);
    sim.api_fail_requests_with(1, 502);
    assert_api_error(&get(&sim, &token, "/v1/orgDevices"), 502, "INTERNAL_ERROR");

    // An unauthenticated request does not use up a fault.
    sim.api_fail_requests(1);
    assert_eq!(get(&sim, "bad", "/v1/orgDevices").status, 401);
    assert_eq!(get(&sim, &token, "/v1/orgDevices").status, 503);
    assert_eq!(sim.requests("/v1/orgDevices"), 9);
}

/// Garbage in every position of a request gets an error reply (never a
/// panic, never a hang), and the simulator keeps serving.
#[test]
fn garbage_requests_get_errors_and_the_simulator_keeps_serving() {
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated().with_devices(3, 1, 4));
    let token = access_token(&sim, &acct, "g1");
    let bearer = format!("Bearer {token}");
    // A fixed xorshift stream: reproducible garbage.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces = [
        "/v1/orgDevices",
        "/v1/mdmServers",
        "/v1/orgDeviceActivities",
        "/auth/oauth2/token",
        "/v1/orgDevices/%ZZ",
        "/v1/mdmServers/x/relationships/devices?cursor=%FF",
        "/v1//",
        "/v1/orgDevices?limit=99999999999999999999",
        "/v1/orgDevices?fields[orgDevices]=",
        "/activityLogs/x.csv",
        "/v1/orgDevices?&&&=&=",
    ];
    let methods = ["GET", "POST", "PATCH", "DELETE", "PUT"];
    for round in 0..300 {
        let path = pieces[(next() % pieces.len() as u64) as usize];
        let method = methods[(next() % methods.len() as u64) as usize];
        let len = (next() % 600) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 3 == 0 {
            // JSON-shaped garbage reaches the document checks.
            let kind = ["mdmServers", "orgDeviceActivities", "x"][(next() % 3) as usize];
            body = json!({"data": {"type": kind,
                "id": next().to_string(), "attributes": {"serverName": next(), "activityType": "ASSIGN_DEVICES"},
                "relationships": {"devices": {"data": [{"type": "orgDevices", "id": 5}]}, "mdmServer": {"data": 7}}}})
            .to_string()
            .into_bytes();
        }
        let reply = request(
            &sim,
            method,
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
        assert!((200..600).contains(&reply.status));
        if reply.status >= 400 && path.starts_with("/v1") {
            let doc = reply.json();
            assert!(
                doc["errors"][0]["code"].is_string() || doc["error"].is_string(),
                "{doc}"
            );
        }
    }
    // Raw bytes that are not HTTP at all, and an oversized body.
    for _ in 0..50 {
        let len = (next() % 300) as usize;
        let raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = exchange(sim.local_addr(), &raw);
    }
    let huge = format!(
        "POST /v1/orgDeviceActivities HTTP/1.1\r\nAuthorization: {bearer}\r\nContent-Length: {}\r\n\r\n",
        mdmlink::simulator::MAX_REQUEST_BODY + 1
    );
    assert!(
        String::from_utf8_lossy(&exchange(sim.local_addr(), huge.as_bytes()))
            .starts_with("HTTP/1.1 413")
    );
    // Still serving, state intact.
    let doc = get(&sim, &token, "/v1/orgDevices").json();
    assert_eq!(doc["meta"]["paging"]["total"], 4);
    assert_eq!(sim.api_servers(acct.client_id).len(), 1);
}

/// An assertion made by an independent implementation (Python's PyJWT with
/// `cryptography`) from the PEM key the portal hands out is accepted.
#[test]
fn pyjwt_assertion_is_accepted() {
    common::require_python_pyjwt();
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
    let sim = simulator(2);
    let acct = business();
    sim.add_api_account(acct.simulated());
    let pem = acct.key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("api_key.pem");
    std::fs::write(&key_path, pem.as_bytes()).unwrap();
    let script = format!(
        r#"
import jwt, sys
key = open(sys.argv[1]).read()
claims = {{"sub": sys.argv[2], "iss": sys.argv[2], "aud": "{ASSERTION_AUDIENCE}",
          "iat": int(sys.argv[4]), "exp": int(sys.argv[4]) + 600, "jti": "pyjwt-1"}}
print(jwt.encode(claims, key, algorithm="ES256", headers={{"kid": sys.argv[3]}}))
"#
    );
    let out = common::run_ok(
        "python3",
        &[
            "-c",
            &script,
            key_path.to_str().unwrap(),
            acct.client_id,
            acct.key_id,
            &NOW.unix_timestamp().to_string(),
        ],
    );
    let assertion = String::from_utf8(out).unwrap().trim().to_owned();
    let reply = token_request(&sim, acct.client_id, &assertion, "business.api");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sim, &token, "/v1/mdmServers").status, 200);
    // PyJWT with another key is refused.
    let other = SigningKey::from_slice(&[3; 32])
        .unwrap()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(&key_path, other.as_bytes()).unwrap();
    let out = common::run_ok(
        "python3",
        &[
            "-c",
            &script.replace("pyjwt-1", "pyjwt-2"),
            key_path.to_str().unwrap(),
            acct.client_id,
            acct.key_id,
            &NOW.unix_timestamp().to_string(),
        ],
    );
    let forged = String::from_utf8(out).unwrap().trim().to_owned();
    assert_eq!(
        token_request(&sim, acct.client_id, &forged, "business.api").status,
        401
    );
}
