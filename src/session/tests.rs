use super::*;
use time::macros::datetime;

/// Owned name/value pairs (shared with the `oauth` tests).
pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// RFC 5849 §3.4.1.1: the example request
/// `POST /request?b5=%3D%253D&a3=a&c%40=&a2=r%20b` with body `c2&a3=2+q`
/// gives exactly the documented signature base string.
#[test]
fn rfc5849_section_3_4_1_1_base_string() {
    let uri: Uri = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
        .parse()
        .unwrap();
    let mut params = oauth::query_parameters(&uri).unwrap();
    params.extend(pairs(&[
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        // The form-encoded body `c2&a3=2+q`.
        ("c2", ""),
        ("a3", "2 q"),
    ]));
    let base =
        oauth::signature_base_string("POST", &oauth::base_string_uri(&uri).unwrap(), &params);
    assert_eq!(
        base,
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
         %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
         key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
         ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
         9d7dh3k39sjv7"
    );
}

/// The photos.example.net request: RFC 5849 §1.2 (Example) signs
/// `GET http://photos.example.net/photos?file=vacation.jpg&size=original` with
/// client secret `kd94hf93k423kf44` and token secret `pfkkdhi9sl3r4s00`
/// (§3.1 shows the same request) and gets `MdpQcU8iPSUjWoN/UDMsK2sui9I=`.
#[test]
fn rfc5849_section_1_2_photos_signature() {
    let uri: Uri = "http://photos.example.net/photos?file=vacation.jpg&size=original"
        .parse()
        .unwrap();
    let mut params = oauth::query_parameters(&uri).unwrap();
    params.extend(pairs(&[
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131202"),
        ("oauth_nonce", "chapoH"),
    ]));
    let base = oauth::signature_base_string("GET", &oauth::base_string_uri(&uri).unwrap(), &params);
    assert_eq!(
        base,
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
         oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth\
         _signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_\
         token%3Dnnch734d00sl2jdk%26size%3Doriginal"
    );
    assert_eq!(
        oauth::hmac_sha1(&base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
        "MdpQcU8iPSUjWoN/UDMsK2sui9I="
    );
}

/// The same photos request as the OAuth Core 1.0 specification's Appendix
/// A.5 signs it (timestamp 1191242096, nonce kllo9940pd9333jh, with
/// `oauth_version=1.0`, as mdmlink sends): `tR3+Ty81lMeYAr/Fid0kMTYa/WM=`.
/// Built through the public [`authorization`] path, so the whole pipeline is
/// checked.
#[test]
fn oauth_core_1_0_appendix_a5_photos_signature() {
    let token = ServerToken::new(
        "dpf43f3p2l4k3l03",
        "kd94hf93k423kf44",
        "nnch734d00sl2jdk",
        "pfkkdhi9sl3r4s00",
        datetime!(2030-01-01 0:00 UTC),
    )
    .unwrap();
    let uri: Uri = "http://photos.example.net/photos?file=vacation.jpg&size=original"
        .parse()
        .unwrap();
    let now = OffsetDateTime::from_unix_timestamp(1_191_242_096).unwrap();
    let auth = authorization(&token, &Method::GET, &uri, now, "kllo9940pd9333jh").unwrap();
    assert_eq!(
        auth.base_string(),
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
         oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh\
         %26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%2\
         6oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal"
    );
    assert_eq!(auth.signature(), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    assert_eq!(
        auth.header_value().expose(),
        "OAuth realm=\"ADM\", oauth_consumer_key=\"dpf43f3p2l4k3l03\", \
         oauth_token=\"nnch734d00sl2jdk\", oauth_signature_method=\"HMAC-SHA1\", \
         oauth_timestamp=\"1191242096\", oauth_nonce=\"kllo9940pd9333jh\", \
         oauth_version=\"1.0\", oauth_signature=\"tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D\""
    );
}

fn token() -> ServerToken {
    ServerToken::new(
        "CK_3a1f",
        "CS_b2&c=d",
        "AT_0123",
        "AS_x%y+z",
        datetime!(2027-01-01 0:00 UTC),
    )
    .unwrap()
}

#[test]
fn session_request_shape() {
    let now = datetime!(2026-05-01 12:00:00 UTC);
    let req = session_request(&token(), "https://mdmenrollment.apple.com/", now, "abc").unwrap();
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri(), "https://mdmenrollment.apple.com/session");
    assert_eq!(req.headers()[PROTOCOL_VERSION_HEADER], "10");
    let auth = &req.headers()[header::AUTHORIZATION];
    assert!(auth.is_sensitive());
    let params = oauth::parse_authorization(auth.to_str().unwrap()).unwrap();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "realm",
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_version",
            "oauth_signature"
        ]
    );
    assert_eq!(params[4].1, now.unix_timestamp().to_string());
    // Recompute independently of `authorization`: secrets with reserved
    // characters are percent-encoded into the key.
    let base = format!(
        "GET&https%3A%2F%2Fmdmenrollment.apple.com%2Fsession&{}",
        oauth::percent_encode(&format!(
            "oauth_consumer_key=CK_3a1f&oauth_nonce=abc&oauth_signature_method=HMAC-SHA1&oauth_timestamp={}&oauth_token=AT_0123&oauth_version=1.0",
            now.unix_timestamp()
        ))
    );
    assert_eq!(
        params[7].1,
        oauth::hmac_sha1(&base, "CS_b2&c=d", "AS_x%y+z")
    );
    // A different nonce or time gives a different signature.
    let other = session_request(&token(), DEFAULT_BASE_URL, now, "abd").unwrap();
    assert_ne!(other.headers()[header::AUTHORIZATION], *auth);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let now = datetime!(2026-05-01 12:00 UTC);
    assert_eq!(
        session_request(&token(), DEFAULT_BASE_URL, now, "").unwrap_err(),
        SessionError::InvalidNonce
    );
    assert_eq!(
        session_request(
            &token(),
            DEFAULT_BASE_URL,
            datetime!(1969-12-31 0:00 UTC),
            "n"
        )
        .unwrap_err(),
        SessionError::InvalidTime
    );
    for url in [
        "mdmenrollment.apple.com",
        "ftp://x/",
        "https://",
        "https://a b/",
        "https://u@host/",
    ] {
        assert!(
            matches!(
                session_request(&token(), url, now, "n"),
                Err(SessionError::InvalidUrl { .. })
            ),
            "{url}"
        );
    }
}

fn response(status: u16, body: &str) -> Response<Vec<u8>> {
    let mut r = Response::new(body.as_bytes().to_vec());
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

#[test]
fn session_response_parsing() {
    let s = parse_session_response(
        &response(200, r#"{"auth_session_token": "1413150240722O1N1M3"}"#),
        DEFAULT_BASE_URL,
    )
    .unwrap();
    assert_eq!(s.auth_session_token(), "1413150240722O1N1M3");
    assert!(!format!("{s:?}").contains("1413150240722O1N1M3"));
    let cases: &[(u16, &str, SessionError)] = &[
        (
            400,
            "oauth_problem=parameter_absent",
            SessionError::BadRequest {
                problem: Some("parameter_absent".into()),
            },
        ),
        (
            401,
            "oauth_problem=signature_invalid",
            SessionError::Unauthorized {
                problem: Some("signature_invalid".into()),
            },
        ),
        (401, "", SessionError::Unauthorized { problem: None }),
        (
            401,
            "oauth_problem=token_expired&oauth_problem_advice=x",
            SessionError::ExpiredToken,
        ),
        (
            401,
            r#"{"code": "EXPIRED_TOKEN"}"#,
            SessionError::ExpiredToken,
        ),
        (403, "T_C_NOT_SIGNED", SessionError::TermsNotAccepted),
        (
            403,
            r#"{"code": "T_C_NOT_SIGNED"}"#,
            SessionError::TermsNotAccepted,
        ),
        (403, "ACCESS_DENIED", SessionError::AccessDenied),
        (
            403,
            "FORBIDDEN",
            SessionError::Forbidden {
                code: Some("FORBIDDEN".into()),
            },
        ),
        (
            500,
            "",
            SessionError::Status {
                status: 500,
                code: None,
            },
        ),
    ];
    for (status, body, want) in cases {
        assert_eq!(
            parse_session_response(&response(*status, body), DEFAULT_BASE_URL).unwrap_err(),
            *want,
            "{status} {body}"
        );
    }
    let mut limited = response(429, "");
    limited
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    assert_eq!(
        parse_session_response(&limited, DEFAULT_BASE_URL).unwrap_err(),
        SessionError::RateLimited {
            retry_after: Some(30)
        }
    );
    for body in [
        "",
        "{}",
        "[]",
        r#"{"auth_session_token": ""}"#,
        r#"{"auth_session_token": 5}"#,
    ] {
        assert!(matches!(
            parse_session_response(&response(200, body), DEFAULT_BASE_URL),
            Err(SessionError::Malformed { .. })
        ));
    }
}

#[test]
fn session_use_and_refresh() {
    let mut s = Session::new("S1", "http://127.0.0.1:8080/").unwrap();
    let req = s.account_request().unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:8080/account");
    assert_eq!(req.headers()[AUTH_SESSION_HEADER], "S1");
    assert!(req.headers()[AUTH_SESSION_HEADER].is_sensitive());
    assert_eq!(req.headers()[PROTOCOL_VERSION_HEADER], "10");

    assert_eq!(s.observe(&response(200, "{}")), Observation::Ok);
    let mut refreshed = response(200, "{}");
    refreshed
        .headers_mut()
        .insert(AUTH_SESSION_HEADER, HeaderValue::from_static("S2"));
    assert_eq!(s.observe(&refreshed), Observation::Refreshed);
    assert_eq!(s.auth_session_token(), "S2");
    assert_eq!(s.observe(&refreshed), Observation::Ok);
    assert_eq!(
        s.get("/devices").unwrap().headers()[AUTH_SESSION_HEADER],
        "S2"
    );

    assert_eq!(
        s.observe(&response(401, "UNAUTHORIZED")),
        Observation::Reauthenticate
    );
    assert_eq!(
        s.observe_with_body(&response(403, "FORBIDDEN")),
        Observation::Reauthenticate
    );
    assert_eq!(
        s.observe_with_body(&response(403, "T_C_NOT_SIGNED")),
        Observation::Ok
    );
    assert_eq!(
        check_response(&response(401, "")),
        Err(SessionError::SessionExpired)
    );
    assert_eq!(
        check_response(&response(403, "T_C_NOT_SIGNED")),
        Err(SessionError::TermsNotAccepted)
    );
    let s = s.with_protocol_version("2");
    assert_eq!(s.get("/x").unwrap().headers()[PROTOCOL_VERSION_HEADER], "2");
}

#[test]
fn account_parsing() {
    let account = parse_account_response(&response(
        200,
        r#"{"server_name":"Lab","server_uuid":"u","org_name":"Example","org_type":"edu","urls":[]}"#,
    ))
    .unwrap();
    assert_eq!(account.server_name.as_deref(), Some("Lab"));
    assert_eq!(account.org_type.as_deref(), Some("edu"));
    assert!(account.other.contains_key("urls"));
    assert!(matches!(
        parse_account_response(&response(200, "nope")),
        Err(SessionError::Malformed { .. })
    ));
}

#[test]
fn nonce_is_random_hex() {
    let mut rng = crate::SystemRng::default();
    let a = new_nonce(&mut rng).unwrap();
    let b = new_nonce(&mut rng).unwrap();
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn debug_hides_secrets() {
    let now = datetime!(2026-05-01 12:00 UTC);
    let auth = authorization(
        &token(),
        &Method::GET,
        &endpoint_url(DEFAULT_BASE_URL, SESSION_PATH).unwrap(),
        now,
        "n",
    )
    .unwrap();
    let debug = format!("{auth:?}");
    assert!(!debug.contains("AT_0123") && !debug.contains("CS_") && !debug.contains("AS_"));
}
