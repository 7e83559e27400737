//! Our OAuth 1.0a signatures against an independent implementation: Python's
//! `oauthlib` (`pip install oauthlib`) signs the same requests with the same
//! secrets, time and nonce, and must produce the same `Authorization`
//! parameters and signature.

mod common;

use mdmlink::{ServerToken, session};
use std::io::Write as _;
use std::process::{Command, Stdio};

const PEER: &str = r#"
import json, sys
from oauthlib import oauth1
from urllib.parse import unquote
out = []
for c in json.load(sys.stdin):
    client = oauth1.Client(c["ck"], client_secret=c["cs"], resource_owner_key=c["at"],
        resource_owner_secret=c["as"], signature_method=oauth1.SIGNATURE_HMAC_SHA1,
        timestamp=str(c["ts"]), nonce=c["nonce"], realm="ADM")
    _, headers, _ = client.sign(c["url"], http_method="GET")
    params = {}
    for part in headers["Authorization"][len("OAuth "):].split(","):
        k, v = part.strip().split("=", 1)
        params[unquote(k)] = unquote(v.strip('"'))
    out.append(params)
print(json.dumps(out))
"#;

fn require_oauthlib() {
    let out = common::run("python3", &["-c", "import oauthlib"]);
    assert!(
        out.status.success(),
        "Python's `oauthlib` package is missing: install it with `pip install oauthlib` \
         (or `pip install -r tests/requirements.txt`)"
    );
}

#[test]
fn signatures_match_python_oauthlib() {
    require_oauthlib();
    // (consumer key, consumer secret, access token, access secret, url, unix time, nonce)
    let cases: &[(&str, &str, &str, &str, &str, i64, &str)] = &[
        (
            "CK_48dd68d198350f51258e885ce9a5c37ab7f98543c4a697323d75682a6c10a32501cb247e3db08105db868f73f2c972bdb6ae77112aea803b9219eb52689d42e6",
            "CS_34c7b2b531a600d99a0e4edcf4a78ded79b86ef318118c2f5bcfee1b011108c32d5302df801adbe29d446eb78f02b13144e323eb9aad51c79f01e50cb45c3a68",
            "AT_927696831c59ba510cfe4ec1a69e5267c19881257d4bca2906a99d0785b785a6f6fdeb09774954fdd5e2d0ad952e3af52c6d8d2f21c924ba0caf4a031c158b89",
            "AS_c31afd7a09691d83548489336e8ff1cb11b82b6bca13f793344496a556b1f4972eaff4dde6deb5ac9cf076fdfa97ec97699c34d515947b9cf9ed31079f5f25c0",
            "https://mdmenrollment.apple.com/session",
            1_777_636_800,
            "0f3c2a9b8d7e6f5a4b3c2d1e0f9a8b7c",
        ),
        (
            "CK_1",
            "CS_with&amp=and%percent+plus",
            "AT_~tilde.dot-dash_",
            "AS_/slash=eq?q",
            "https://mdmenrollment.apple.com/session",
            1_700_000_000,
            "nonce-with.safe_chars~",
        ),
        (
            "CK_key",
            "CS_s",
            "AT_t",
            "AS_a",
            "http://127.0.0.1:8443/session?b=2&a=1&a=0",
            1_600_000_000,
            "abc",
        ),
        (
            "CK_x",
            "CS_!*'()",
            "AT_y",
            "AS_[]@:",
            "https://example.com:8443/some/path",
            2_000_000_000,
            "N",
        ),
    ];
    let mut json = String::from("[");
    let mut ours = Vec::new();
    for (i, (ck, cs, at, asec, url, ts, nonce)) in cases.iter().enumerate() {
        let expiry = time::macros::datetime!(2040-01-01 0:00 UTC);
        let token = ServerToken::new(*ck, *cs, *at, *asec, expiry).unwrap();
        let now = time::OffsetDateTime::from_unix_timestamp(*ts).unwrap();
        let uri: http::Uri = url.parse().unwrap();
        let auth = session::authorization(&token, &http::Method::GET, &uri, now, nonce).unwrap();
        ours.push(
            mdmlink::hazmat::oauth::parse_authorization(auth.header_value().expose()).unwrap(),
        );
        if i > 0 {
            json.push(',');
        }
        json.push_str(
            &serde_json::json!({"ck": ck, "cs": cs, "at": at, "as": asec, "url": url, "ts": ts, "nonce": nonce})
                .to_string(),
        );
    }
    json.push(']');

    let mut child = Command::new("python3")
        .args(["-c", PEER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oauthlib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<std::collections::BTreeMap<String, String>> =
        serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(theirs.len(), cases.len());
    for (case, (mine, peer)) in ours.iter().zip(&theirs).enumerate() {
        let mine: std::collections::BTreeMap<String, String> = mine.iter().cloned().collect();
        assert_eq!(
            &mine, peer,
            "case {case}: parameters or signature differ from oauthlib"
        );
    }
}
