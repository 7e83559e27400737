//! The client assertion (RFC 7523 §2.2, a JWT per RFC 7519) that
//! authenticates an API account at Apple's token endpoint.
//!
//! Apple's *Implementing OAuth for the Apple School Manager and Apple
//! Business API*: a JWS (RFC 7515) with header `{"alg":"ES256","kid":KEY_ID}`
//! and claims `sub` = client ID, `aud` =
//! `https://account.apple.com/auth/oauth2/v2/token`, `iat`, `exp` (at most
//! 180 days after `iat`) and a unique `jti`; Apple's sample also sets `iss`
//! = client ID, and so does mdmlink. ES256 is ECDSA P-256 with SHA-256
//! (RFC 7518 §3.4): the signature is the 64-byte `r || s`, not DER. The
//! compact serialization (RFC 7515 §7.1) uses base64url without padding.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand_core::TryCryptoRng;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::{ASSERTION_AUDIENCE, ApiAccount, PortalApiError};
use crate::SecretString;

/// The longest lifetime Apple accepts: `exp` at most 180 days after `iat`.
pub const MAX_LIFETIME: Duration = Duration::days(180);

/// The default lifetime: long enough for one token request, short enough
/// that a leaked assertion is soon worthless.
pub const DEFAULT_LIFETIME: Duration = Duration::minutes(10);

/// How an assertion is made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssertionOptions {
    /// `exp - iat`: more than zero, at most [`MAX_LIFETIME`].
    pub lifetime: Duration,
    /// The `aud` claim ([`ASSERTION_AUDIENCE`]; a simulator may want its own).
    pub audience: String,
}

impl Default for AssertionOptions {
    fn default() -> Self {
        Self {
            lifetime: DEFAULT_LIFETIME,
            audience: ASSERTION_AUDIENCE.to_owned(),
        }
    }
}

impl AssertionOptions {
    /// With `lifetime` instead of the default.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
}

/// The claims of a client assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AssertionClaims {
    /// `iss`: the client ID.
    pub iss: String,
    /// `sub`: the client ID.
    pub sub: String,
    /// `aud`: the token endpoint's audience.
    pub aud: String,
    /// `iat`: when it was made (Unix seconds).
    pub iat: i64,
    /// `exp`: when it stops being accepted (Unix seconds).
    pub exp: i64,
    /// `jti`: a random UUID, unique per assertion.
    pub jti: String,
}

/// The claims for `account` at `now`, with a fresh `jti` from `rng`.
pub fn claims<R: TryCryptoRng + ?Sized>(
    account: &ApiAccount,
    now: OffsetDateTime,
    options: &AssertionOptions,
    rng: &mut R,
) -> Result<AssertionClaims, PortalApiError> {
    if options.lifetime <= Duration::ZERO || options.lifetime > MAX_LIFETIME {
        return Err(PortalApiError::InvalidArgument {
            reason: format!(
                "the assertion's lifetime must be more than 0 s and at most 180 days, not {} s",
                options.lifetime.whole_seconds()
            ),
        });
    }
    if options.audience.is_empty() || options.audience.len() > 2048 {
        return Err(PortalApiError::InvalidArgument {
            reason: "the assertion's audience must be 1 to 2048 characters".into(),
        });
    }
    let iat = now.unix_timestamp();
    let jti = crate::jwt::random_jti(rng).map_err(|_| PortalApiError::Random)?;
    Ok(AssertionClaims {
        iss: account.client_id().to_owned(),
        sub: account.client_id().to_owned(),
        aud: options.audience.clone(),
        iat,
        exp: iat + options.lifetime.whole_seconds(),
        jti,
    })
}

/// Signs `claims` with the account's key: `header.claims.signature`.
pub fn sign(
    account: &ApiAccount,
    claims: &AssertionClaims,
) -> Result<SecretString, PortalApiError> {
    let header = serde_json::to_vec(&Header {
        alg: "ES256",
        kid: account.key_id(),
        typ: "JWT",
    })
    .map_err(|e| PortalApiError::InvalidArgument {
        reason: format!("cannot encode the assertion header ({e})"),
    })?;
    let body = serde_json::to_vec(claims).map_err(|e| PortalApiError::InvalidArgument {
        reason: format!("cannot encode the assertion claims ({e})"),
    })?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(body));
    let signature = account.key().sign_es256(out.as_bytes());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(SecretString::new(out))
}

/// A new client assertion for `account`, made at `now`: [`claims`] then
/// [`sign`]. It authenticates the account until it expires: treat it as a
/// secret.
pub fn client_assertion<R: TryCryptoRng + ?Sized>(
    account: &ApiAccount,
    now: OffsetDateTime,
    options: &AssertionOptions,
    rng: &mut R,
) -> Result<SecretString, PortalApiError> {
    sign(account, &claims(account, now, options, rng)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal_api::ApiKey;
    use p256::ecdsa::signature::Verifier as _;

    fn account() -> ApiAccount {
        let key = ApiKey::generate(&mut crate::SystemRng::default()).unwrap();
        ApiAccount::new(
            "BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152",
            "d136aa66-0c3b-4bd4",
            key,
        )
        .unwrap()
    }

    #[test]
    fn assertion_is_what_apple_documents() {
        let account = account();
        let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let mut rng = crate::SystemRng::default();
        let jws = client_assertion(&account, now, &AssertionOptions::default(), &mut rng).unwrap();
        let parts: Vec<_> = jws.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "d136aa66-0c3b-4bd4");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], account.client_id());
        assert_eq!(claims["iss"], account.client_id());
        assert_eq!(
            claims["aud"],
            "https://account.apple.com/auth/oauth2/v2/token"
        );
        assert_eq!(claims["iat"], 1_780_000_000);
        assert_eq!(claims["exp"], 1_780_000_600);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64, "JOSE r||s, not DER");
        let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        account
            .key()
            .verifying_key()
            .verify(signed.as_bytes(), &signature)
            .unwrap();
        // A fresh jti every time.
        let again =
            client_assertion(&account, now, &AssertionOptions::default(), &mut rng).unwrap();
        assert_ne!(again.expose(), jws.expose());
        assert_eq!(format!("{jws:?}"), "[redacted]");
    }

    #[test]
    fn lifetime_is_bounded_by_180_days() {
        let account = account();
        let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let mut rng = crate::SystemRng::default();
        let max = AssertionOptions::default().with_lifetime(MAX_LIFETIME);
        let c = claims(&account, now, &max, &mut rng).unwrap();
        assert_eq!(c.exp - c.iat, 180 * 86_400);
        for bad in [
            MAX_LIFETIME + Duration::SECOND,
            Duration::ZERO,
            Duration::seconds(-5),
        ] {
            let e = claims(
                &account,
                now,
                &AssertionOptions::default().with_lifetime(bad),
                &mut rng,
            )
            .unwrap_err();
            assert!(e.to_string().contains("180 days"), "{e}");
        }
    }
}
