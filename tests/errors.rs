//! Error conventions users rely on: a message does not repeat its
//! `source()`, `error::report` prints each cause once, `Error` takes the
//! errors the crate returns, and a header that cannot be built is not called
//! a malformed response.

use std::error::Error as _;

use mdmlink::organization::OrganizationError;
use mdmlink::session::{Session, SessionError};
use mdmlink::token::TokenError;

#[test]
fn messages_do_not_repeat_their_source() {
    let e = OrganizationError::Token {
        server: "Main MDM".into(),
        source: TokenError::Decrypt,
    };
    let cause = TokenError::Decrypt.to_string();
    assert!(!e.to_string().contains(&cause), "{e}");
    assert_eq!(e.source().map(ToString::to_string), Some(cause.clone()));
    let line = mdmlink::error::report(&e);
    assert_eq!(line.matches(&cause).count(), 1, "{line}");
    assert!(line.starts_with("server \"Main MDM\": "), "{line}");
}

#[test]
fn error_covers_sessions_and_parsing() {
    fn session() -> mdmlink::Result<Session> {
        Ok(Session::new("", "https://mdmenrollment.apple.com")?)
    }
    assert!(matches!(session(), Err(mdmlink::Error::Session(_))));
    fn portal() -> mdmlink::Result<mdmlink::Portal> {
        Ok("nope".parse::<mdmlink::Portal>()?)
    }
    assert!(matches!(portal(), Err(mdmlink::Error::Parse(_))));
}

#[test]
fn a_header_that_cannot_be_built_is_invalid_header() {
    let session = Session::new("token", "https://mdmenrollment.apple.com")
        .unwrap()
        .with_protocol_version("3\nX-Injected: 1");
    let mut request = http::Request::new(());
    assert!(matches!(
        session.authorize(&mut request),
        Err(SessionError::InvalidHeader { .. })
    ));
    assert!(request.headers().is_empty(), "nothing was added");
}

#[test]
fn parse_authorization_returns_a_typed_error() {
    let e: mdmlink::hazmat::oauth::AuthorizationParseError =
        mdmlink::hazmat::oauth::parse_authorization("Bearer x").unwrap_err();
    assert!(e.to_string().contains("OAuth"), "{e}");
}
