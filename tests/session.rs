//! End to end over real sockets on 127.0.0.1: a token sealed to a fresh
//! keypair is opened, a session obtained from the simulator with the HTTP
//! client, `/account` fetched; a tampered signature, an expired token and an
//! account that has not accepted the terms each give their typed error.
#![cfg(all(feature = "simulator", feature = "http"))]

use mdmlink::{
    keypair::{CertificateParams, KeySize, ServerKeypair},
    session::{
        self, Observation, SessionError,
        client::{self, Client},
        simulator::{SimulatedAccount, Simulator, SimulatorOptions},
    },
    token::{self, SealOptions, ServerToken},
};
use time::{Duration, OffsetDateTime};

/// Issues a token the way the portal does (sealed to the server's
/// certificate) and opens it with the server's key, as a vendor would.
fn issue_and_open(keypair: &ServerKeypair, ck: &str, expiry: OffsetDateTime) -> ServerToken {
    let mut rng = mdmlink::SystemRng::default();
    let issued = ServerToken::new(
        ck,
        format!("CS_{ck}+/="),
        format!("AT_{ck}"),
        format!("AS_{ck}&%"),
        expiry,
    )
    .unwrap();
    let file = token::seal(
        &issued,
        keypair.certificate().unwrap(),
        SealOptions::default(),
        &mut rng,
    )
    .unwrap();
    let opened = token::open(&file, keypair).unwrap();
    assert_eq!(opened, issued);
    opened
}

#[test]
fn session_and_account_against_the_simulator() {
    let mut rng = mdmlink::SystemRng::default();
    let now = OffsetDateTime::now_utc();
    let keypair = ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Lab MDM", now),
    )
    .unwrap();

    let good = issue_and_open(&keypair, "CK_good", now + Duration::days(365));
    // Expired one day ago (the portal issued it a year ago).
    let expired = issue_and_open(&keypair, "CK_expired", now - Duration::days(1));
    let unsigned_terms = issue_and_open(&keypair, "CK_terms", now + Duration::days(365));

    let mut terms = SimulatedAccount::new(unsigned_terms.clone(), "Terms Pending Inc.");
    terms.terms_accepted = false;
    let sim = Simulator::start_with(
        vec![
            SimulatedAccount::new(good.clone(), "Example School"),
            SimulatedAccount::new(expired.clone(), "Lapsed Ltd."),
            terms,
        ],
        SimulatorOptions::default(),
    )
    .unwrap();
    let base = sim.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    // The working link: a session, then the account details.
    let http = Client::new();
    let nonce = session::new_nonce(&mut rng).unwrap();
    let mut s = http.obtain_session(&good, &base, now, &nonce).unwrap();
    let first_token = s.auth_session_token().to_owned();
    let account = http.fetch_account(&mut s).unwrap();
    assert_eq!(account.org_name.as_deref(), Some("Example School"));
    assert_eq!(account.server_name.as_deref(), Some("MDM Server"));
    // The simulator rotates the session; the client kept the new token and
    // it works for the next call.
    assert_ne!(s.auth_session_token(), first_token);
    assert_eq!(
        client::fetch_account(&mut s).unwrap().org_name.as_deref(),
        Some("Example School")
    );

    // A tampered signature: flip one base64 character of oauth_signature.
    let mut request = session::session_request(&good, &base, now, "tamper-1").unwrap();
    let header = request.headers()[http::header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned();
    let at = header.find("oauth_signature=\"").unwrap() + "oauth_signature=\"".len();
    let mut bytes = header.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_bytes(&bytes).unwrap(),
    );
    let reply = http.send(request).unwrap();
    assert_eq!(
        session::parse_session_response(&reply, &base).unwrap_err(),
        SessionError::Unauthorized {
            problem: Some("signature_invalid".into())
        }
    );
    // Signed with the wrong secret (a token whose secrets differ from the
    // portal's copy) fails the same way.
    let forged = ServerToken::new(
        "CK_good",
        "CS_guess",
        good.access_token(),
        good.access_secret(),
        good.access_token_expiry(),
    )
    .unwrap();
    assert_eq!(
        http.obtain_session(&forged, &base, now, "forged-1")
            .unwrap_err(),
        SessionError::Unauthorized {
            problem: Some("signature_invalid".into())
        }
    );

    // The expired token.
    assert_eq!(
        client::obtain_session(&expired, &base, now, "expired-1").unwrap_err(),
        SessionError::ExpiredToken
    );

    // Terms and conditions not accepted, then accepted in the portal.
    assert_eq!(
        http.obtain_session(&unsigned_terms, &base, now, "terms-1")
            .unwrap_err(),
        SessionError::TermsNotAccepted
    );
    assert!(sim.set_terms_accepted("CK_terms", true));
    let mut t = http
        .obtain_session(&unsigned_terms, &base, now, "terms-2")
        .unwrap();
    assert_eq!(
        http.fetch_account(&mut t).unwrap().org_name.as_deref(),
        Some("Terms Pending Inc.")
    );
    // ...and withdrawn again: the open session now gets T_C_NOT_SIGNED too.
    assert!(sim.set_terms_accepted("CK_terms", false));
    assert_eq!(
        http.fetch_account(&mut t).unwrap_err(),
        SessionError::TermsNotAccepted
    );

    // The service forgets sessions: the call says to re-authenticate, and a
    // new session works.
    sim.expire_sessions();
    let request = s.account_request().unwrap();
    let reply = http.send(request).unwrap();
    assert_eq!(s.observe(&reply), Observation::Reauthenticate);
    assert_eq!(
        http.fetch_account(&mut s).unwrap_err(),
        SessionError::SessionExpired
    );
    let mut s = http.obtain_session(&good, &base, now, "again-1").unwrap();
    assert!(http.fetch_account(&mut s).is_ok());

    // Replaying a nonce is refused.
    assert_eq!(
        http.obtain_session(&good, &base, now, "again-1")
            .unwrap_err(),
        SessionError::Unauthorized {
            problem: Some("nonce_used".into())
        }
    );

    sim.shutdown();
    // Nothing listens any more.
    assert!(matches!(
        http.obtain_session(&good, &base, now, "after-1"),
        Err(SessionError::Transport { .. })
    ));
}
