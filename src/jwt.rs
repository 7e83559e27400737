//! Access Management JWTs: the token an MDM server hands the Apple Identity
//! Service so a Managed Apple Account may sign in on a device it enrolled.
//!
//! Apple documents the token in *Device Management → Get Token*
//! (<https://developer.apple.com/documentation/devicemanagement/get-token>,
//! section "Support access management for Managed Apple Accounts"): when a
//! device sends a `GetToken` check-in request with `TokenServiceType`
//! `com.apple.maid`, the server answers with a JSON Web Token (RFC 7519)
//! whose claims are
//!
//! * `iss`: the system-generated server identifier (`server_uuid`) that the
//!   device assignment service's *Account Detail* (`GET /account`) returns
//!   (see [`crate::session::Account::server_uuid`]), RFC 7519 §4.1.1;
//! * `iat`: when the server generated the token (a NumericDate, RFC 7519
//!   §4.1.6); Apple uses it to limit how long the token is valid;
//! * `jti`: a unique identifier, "a random UUID" (RFC 7519 §4.1.7); Apple
//!   uses it to accept each token only once;
//! * `service_type`: the request's `TokenServiceType`, `com.apple.maid`.
//!
//! It is signed "using the server's private key that corresponds to the
//! public key certificate that's registered with Apple Business or School
//! Manager": the server token's keypair. Apple names no signature algorithm
//! or header; since the key is RSA, mdmlink signs with RS256 (RSASSA-PKCS1-v1_5
//! with SHA-256, RFC 7518 §3.3) and writes the header `{"alg":"RS256","typ":"JWT"}`
//! (no `kid`, no `exp`: Apple lists neither). The compact serialization
//! (RFC 7515 §7.1) uses base64url without padding.
//!
//! Rotation matters here: Apple checks the signature against the certificate
//! it holds for the server, so the JWT is signed with the server's *current*
//! keypair (see [`crate::organization::Organization::access_management_jwt`]).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand_core::TryCryptoRng;
use serde::Serialize;
use time::OffsetDateTime;

use crate::keypair::ServerKey;

/// The `service_type` claim (and the `TokenServiceType` Apple sends).
pub const MAID_SERVICE_TYPE: &str = "com.apple.maid";

/// The JOSE header mdmlink writes.
pub(crate) const HEADER_JSON: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

/// The longest `iss` or `jti` accepted (Apple's are 32 to 36 characters).
pub const MAX_CLAIM_LEN: usize = 256;

/// Why a JWT could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// A string claim is empty, too long, or not printable ASCII.
    #[error(
        "the JWT's \"{claim}\" claim must be 1 to {max} printable ASCII characters without spaces",
        max = MAX_CLAIM_LEN
    )]
    InvalidClaim {
        /// `iss` or `jti`.
        claim: &'static str,
    },
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// RSA signing failed.
    #[error("the JWT could not be signed with the server's private key")]
    Sign,
}

/// The claims of an Access Management (`com.apple.maid`) JWT, with time and
/// `jti` chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaidClaims<'a> {
    /// `iss`: the server's `server_uuid` from Apple's *Account Detail*.
    pub issuer: &'a str,
    /// `iat`: when the token is made (whole seconds are used).
    pub issued_at: OffsetDateTime,
    /// `jti`: a fresh random UUID for every token ([`random_jti`]).
    pub jti: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    jti: &'a str,
    service_type: &'a str,
}

fn check_claim(value: &str, claim: &'static str) -> Result<(), JwtError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_CLAIM_LEN
        && value.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(JwtError::InvalidClaim { claim })
    }
}

/// The claims as the JSON that is signed (compact, fixed order:
/// `iss`, `iat`, `jti`, `service_type`).
pub fn claims_json(claims: &MaidClaims<'_>) -> Result<String, JwtError> {
    check_claim(claims.issuer, "iss")?;
    check_claim(claims.jti, "jti")?;
    serde_json::to_string(&Claims {
        iss: claims.issuer,
        iat: claims.issued_at.unix_timestamp(),
        jti: claims.jti,
        service_type: MAID_SERVICE_TYPE,
    })
    .map_err(|_| JwtError::InvalidClaim { claim: "iss" })
}

/// Signs an Access Management JWT with `keypair` (RS256) and returns its
/// compact form `header.claims.signature`. `rng` blinds the RSA operation;
/// the result depends only on the key and the claims (PKCS #1 v1.5
/// signatures are deterministic).
///
/// ```
/// use mdmlink::{jwt::{self, MaidClaims}, keypair::*};
/// let mut rng = mdmlink::SystemRng::default();
/// let now = time::OffsetDateTime::now_utc();
/// let keypair = ServerKeypair::generate(&mut rng, KeySize::Rsa2048, &CertificateParams::new("Main MDM", now))?;
/// let jti = jwt::random_jti(&mut rng)?;
/// let token = jwt::sign_maid_jwt(&keypair, &MaidClaims { issuer: "2A87349736CF4614A94F624E705841BE", issued_at: now, jti: &jti }, &mut rng)?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sign_maid_jwt<K: ServerKey, R: TryCryptoRng + ?Sized>(
    keypair: &K,
    claims: &MaidClaims<'_>,
    rng: &mut R,
) -> Result<String, JwtError> {
    let claims = claims_json(claims)?;
    let bits = rsa::traits::PublicKeyParts::n(keypair.public_key()).bit_width() as usize;
    let mut out = String::with_capacity(64 + claims.len() * 4 / 3 + bits / 6 * 4 / 3);
    URL_SAFE_NO_PAD.encode_string(HEADER_JSON, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut out);
    let signature = keypair
        .sign_rs256(rng, out.as_bytes())
        .map_err(|_| JwtError::Sign)?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    Ok(out)
}

/// A random (version 4) UUID in lower-case hyphenated form, for `jti`.
pub fn random_jti<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<String, JwtError> {
    let mut b = [0u8; 16];
    rng.try_fill_bytes(&mut b).map_err(|_| JwtError::Random)?;
    b[6] = (b[6] & 0x0F) | 0x40; // version 4
    b[8] = (b[8] & 0x3F) | 0x80; // RFC 9562 variant
    Ok(hyphenated(&b))
}

/// 16 bytes in the 8-4-4-4-12 hexadecimal form of a UUID (lower case).
pub(crate) fn hyphenated(b: &[u8; 16]) -> String {
    let hex = crate::encoding::hex_lower(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair::{CertificateParams, KeySize, ServerKeypair};
    use rsa::signature::Verifier;
    use sha2::Sha256;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 10:00:00 UTC);

    fn part(jwt: &str, i: usize) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap()
    }

    #[test]
    fn signs_what_apple_documents() {
        let mut rng = crate::SystemRng::default();
        let kp = ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &CertificateParams::new("JWT", NOW),
        )
        .unwrap();
        let claims = MaidClaims {
            issuer: "SERVER-UUID-1",
            issued_at: NOW,
            jti: "2b6c8b3e-0f44-4d1a-9a51-6f1f6d0e6c11",
        };
        let jwt = sign_maid_jwt(&kp, &claims, &mut rng).unwrap();
        assert!(!jwt.contains('=') && !jwt.contains('+') && !jwt.contains('/'));
        let header: serde_json::Value = serde_json::from_slice(&part(&jwt, 0)).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let body: serde_json::Value = serde_json::from_slice(&part(&jwt, 1)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "iss": "SERVER-UUID-1",
                "iat": NOW.unix_timestamp(),
                "jti": "2b6c8b3e-0f44-4d1a-9a51-6f1f6d0e6c11",
                "service_type": "com.apple.maid",
            })
        );
        // The signature verifies with the certificate's public key, over
        // exactly `header.claims`.
        let public = kp.certificate().unwrap().public_key().unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let (input, _) = jwt.rsplit_once('.').unwrap();
        let sig = rsa::pkcs1v15::Signature::try_from(part(&jwt, 2).as_slice()).unwrap();
        verifier.verify(input.as_bytes(), &sig).unwrap();
        assert!(verifier.verify(b"other", &sig).is_err());
        // Deterministic given key and claims.
        assert_eq!(sign_maid_jwt(&kp, &claims, &mut rng).unwrap(), jwt);
    }

    #[test]
    fn bad_claims_are_refused() {
        let claims = |iss, jti| MaidClaims {
            issuer: iss,
            issued_at: NOW,
            jti,
        };
        for (iss, jti, bad) in [
            ("", "j", "iss"),
            ("a b", "j", "iss"),
            ("i", "", "jti"),
            ("i", "\"quote\u{7f}", "jti"),
        ] {
            assert_eq!(
                claims_json(&claims(iss, jti)),
                Err(JwtError::InvalidClaim { claim: bad })
            );
        }
        let long = "x".repeat(MAX_CLAIM_LEN + 1);
        assert!(claims_json(&claims(&long, "j")).is_err());
        // JSON specials are escaped, not injected.
        let json = claims_json(&claims(r#"a","x":"y"#, "j")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["iss"], r#"a","x":"y"#);
        assert!(v.get("x").is_none());
    }

    #[test]
    fn jti_is_a_v4_uuid() {
        let mut rng = crate::SystemRng::default();
        let a = random_jti(&mut rng).unwrap();
        let b = random_jti(&mut rng).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(a.matches('-').count(), 4);
    }
}
