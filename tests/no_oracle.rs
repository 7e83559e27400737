//! No oracle, no leak.
//!
//! Every way the private-key side of opening can fail (a wrong key, a token
//! for another certificate when we hold no certificate, bad PKCS #1 padding,
//! a content key of the wrong length, a wrong content key, a damaged CBC
//! ciphertext) gives one and the same `TokenError::Decrypt`, with the same
//! message: an attacker who can submit modified tokens and read the error
//! learns nothing about the RSA padding (Bleichenbacher/Marvin) or the CBC
//! padding (Vaudenay).
//!
//! A token sealed with sentinel secrets never shows them in any error,
//! `Debug` or `Display`, including errors from damaged copies of it.

use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use der::Decode;
use mdmlink::keypair::{CertificateParams, KeySize, ServerKeypair};
use mdmlink::organization::{InstallOptions, Organization, ServerOptions};
use mdmlink::portal::Portal;
use mdmlink::token::{self, ContentCipher, SealFormat, SealOptions, ServerToken, TokenError};
use rsa::BoxedUint;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;

mod common;
use common::apple_fixture;

const APPLE_TOKEN: &str = "apple-mdm-client-tests-1-server-token.p7m";
const SENTINEL_CS: &str = "CS_SENTINEL_q8Zx3vK1pW";
const SENTINEL_AS: &str = "AS_SENTINEL_m4Ty7nR2eJ";

fn keypair(cn: &str) -> ServerKeypair {
    let mut rng = mdmlink::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    ServerKeypair::generate(&mut rng, KeySize::Rsa2048, &CertificateParams::new(cn, now)).unwrap()
}

/// The same key without its certificate.
fn bare(k: &ServerKeypair) -> ServerKeypair {
    ServerKeypair::from_pem(k.private_key_pem().unwrap().as_bytes(), None).unwrap()
}

fn sentinel_token() -> ServerToken {
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    ServerToken::new("CK_visible", SENTINEL_CS, "AT_visible", SENTINEL_AS, expiry).unwrap()
}

fn seal_der(token: &ServerToken, to: &ServerKeypair) -> Vec<u8> {
    let options = SealOptions::default().with_format(SealFormat::Der);
    token::seal(
        token,
        to.certificate().unwrap(),
        options,
        &mut mdmlink::SystemRng::default(),
    )
    .unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present")
}

struct Layout {
    enc_key: std::ops::Range<usize>,
    ciphertext: std::ops::Range<usize>,
}

fn layout(der: &[u8]) -> Layout {
    let info = ContentInfo::from_der(der).unwrap();
    let env: EnvelopedData = info.content.decode_as().unwrap();
    let RecipientInfo::Ktri(k) = env.recip_infos.0.iter().next().unwrap() else {
        panic!("not ktri")
    };
    let key = k.enc_key.as_bytes();
    let ct = env
        .encrypted_content
        .encrypted_content
        .as_ref()
        .unwrap()
        .as_bytes();
    let (k0, c0) = (find(der, key), find(der, ct));
    Layout {
        enc_key: k0..k0 + key.len(),
        ciphertext: c0..c0 + ct.len(),
    }
}

/// `der` with its RSA-wrapped key replaced by `enc_key` (same length).
fn with_enc_key(der: &[u8], enc_key: &[u8]) -> Vec<u8> {
    let r = layout(der).enc_key;
    assert_eq!(r.len(), enc_key.len());
    let mut out = der.to_vec();
    out[r].copy_from_slice(enc_key);
    out
}

/// Raw RSA encryption of the encoded block `em` (RFC 8017 §5.1.1, no padding).
fn raw_rsa(kp: &ServerKeypair, em: &[u8]) -> Vec<u8> {
    let public = kp.public_key();
    let m = BoxedUint::from_be_slice(em, public.n_bits_precision()).unwrap();
    let c = rsa::hazmat::rsa_encrypt(public, &m).unwrap();
    let bytes = c.to_be_bytes();
    let k = public.size();
    bytes[bytes.len() - k..].to_vec()
}

fn block(k: usize, f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    // A well-formed EM = 00 02 PS 00 M with a 16-byte M, then `f` breaks it.
    let mut em = vec![0u8; k];
    em[1] = 2;
    for (i, b) in em[2..k - 17].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) | 1;
    }
    em[k - 17] = 0;
    for (i, b) in em[k - 16..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f(&mut em);
    em
}

fn the_one_error() -> String {
    TokenError::Decrypt.to_string()
}

fn assert_decrypt(what: &str, r: Result<ServerToken, TokenError>) {
    let e = r.expect_err(what);
    assert_eq!(e, TokenError::Decrypt, "{what}");
    assert_eq!(e.to_string(), the_one_error(), "{what}");
    assert_eq!(format!("{e:?}"), "Decrypt", "{what}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn every_private_key_failure_is_the_same_error() {
    let ours = keypair("Ours");
    let theirs = keypair("Theirs");
    let token = sentinel_token();
    let der = seal_der(&token, &ours);
    let k = ours.public_key().size();
    let mut results: Vec<(String, Result<ServerToken, TokenError>)> = Vec::new();

    // Control: the untouched token opens, and the raw RSA helper is right
    // (a correctly padded random key re-wrapped by hand still reaches CBC).
    assert_eq!(token::open(&der, &ours).unwrap(), token);
    let em = block(k, |_| {});
    let rewrapped = with_enc_key(&der, &raw_rsa(&ours, &em));
    let private = rsa::PrivateKey::from_pkcs8_der(&ours.private_key_der().unwrap()).unwrap();
    let unwrapped = mdmlink::hazmat::envelope::unwrap_content_key(
        &private,
        &mut mdmlink::SystemRng::default(),
        &raw_rsa(&ours, &em),
    )
    .unwrap();
    assert_eq!(unwrapped.as_slice(), &em[k - 16..], "raw RSA helper");
    results.push((
        "well-padded wrong 16-byte key".into(),
        token::open(&rewrapped, &ours),
    ));

    // 1. Wrong key: the real Apple token, opened with a key of ours that has no certificate.
    results.push((
        "Apple token, wrong key".into(),
        token::open(&apple_fixture(APPLE_TOKEN), &bare(&ours)),
    ));
    // 2. A token for another certificate, and we lack the certificate.
    let for_them = seal_der(&token, &theirs);
    results.push((
        "token for another certificate, no certificate here".into(),
        token::open(&for_them, &bare(&ours)),
    ));

    // 3. Bad PKCS #1 v1.5 padding, addressed to our certificate (recipient matches).
    let bad_paddings: Vec<(&str, Vec<u8>)> = vec![
        ("block type 01", block(k, |em| em[1] = 1)),
        ("block type 00", block(k, |em| em[1] = 0)),
        ("leading byte 01", block(k, |em| em[0] = 1)),
        ("no zero separator", block(k, |em| em[k - 17] = 0xAA)),
        (
            "separator too early (PS of 7 bytes)",
            block(k, |em| em[9] = 0),
        ),
        ("separator right after 00 02", block(k, |em| em[2] = 0)),
        ("all 0xFF after 00 02", block(k, |em| em[2..].fill(0xFF))),
        (
            "zero message, separator last",
            block(k, |em| {
                em[k - 17] = 1;
                em[k - 1] = 0;
                em[k - 16..k - 1].fill(0x55);
            }),
        ),
    ];
    for (what, em) in bad_paddings {
        let cms = with_enc_key(&der, &raw_rsa(&ours, &em));
        results.push((format!("bad padding: {what}"), token::open(&cms, &ours)));
    }
    // A key-transport block that is not even below the modulus.
    let cms = with_enc_key(&der, &vec![0xFF; k]);
    results.push(("ciphertext >= modulus".into(), token::open(&cms, &ours)));

    // 4. A correctly padded content key of the wrong length for AES-128.
    let mut rng = mdmlink::SystemRng::default();
    for len in [0usize, 1, 8, 15, 17, 24, 32, 64] {
        let cek = vec![0x42u8; len];
        let enc = ours
            .public_key()
            .pkcs1v15_encrypt_with_rng(&mut rng, &cek)
            .unwrap();
        let cms = with_enc_key(&der, &enc);
        results.push((format!("{len}-byte content key"), token::open(&cms, &ours)));
    }

    // 5. Right length, wrong content key: CBC padding or payload fails, both the same error.
    for i in 0..64u8 {
        let enc = ours
            .public_key()
            .pkcs1v15_encrypt_with_rng(&mut rng, &[i; 16])
            .unwrap();
        results.push((
            format!("wrong 16-byte content key {i}"),
            token::open(&with_enc_key(&der, &enc), &ours),
        ));
    }

    for (what, r) in results {
        assert_decrypt(&what, r);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn no_cbc_padding_oracle() {
    // Flipping bits of the last two ciphertext blocks changes the CBC padding
    // (good or bad) and the end of the payload. Whatever happens inside, the
    // caller sees either the original token (a flip in text the parser
    // ignores) or the one Decrypt error: never "padding bad" vs "padding good,
    // payload bad".
    let ours = keypair("Ours");
    let token = sentinel_token();
    let der = seal_der(&token, &ours);
    let ct = layout(&der).ciphertext;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in ct.end - 32..ct.end {
        for bit in 0..8 {
            let mut d = der.clone();
            d[i] ^= 1 << bit;
            match token::open(&d, &ours) {
                Ok(t) => {
                    assert_eq!(t, token, "byte {i} bit {bit}");
                    *seen.entry("same token".into()).or_default() += 1;
                }
                Err(e) => {
                    assert_decrypt(&format!("byte {i} bit {bit}"), Err(e));
                    *seen.entry("Decrypt".into()).or_default() += 1;
                }
            }
        }
    }
    println!("last-two-block flips: {seen:?}");
    assert!(seen["Decrypt"] > 200, "{seen:?}");
}

fn assert_no_sentinel(what: &str, text: &str) {
    for s in [SENTINEL_CS, SENTINEL_AS, "SENTINEL"] {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

fn check_error(what: &str, e: &dyn std::error::Error) {
    assert_no_sentinel(what, &e.to_string());
    assert_no_sentinel(what, &format!("{e:?}"));
    let mut source = e.source();
    while let Some(s) = source {
        assert_no_sentinel(what, &s.to_string());
        assert_no_sentinel(what, &format!("{s:?}"));
        source = s.source();
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn sentinel_secrets_never_shown() {
    let ours = keypair("Ours");
    let token = sentinel_token();
    let mut rng = mdmlink::SystemRng::default();
    let file = token::seal(
        &token,
        ours.certificate().unwrap(),
        SealOptions::default(),
        &mut rng,
    )
    .unwrap();
    let der = seal_der(&token, &ours);

    // The token and keypair themselves.
    let opened = token::open(&file, &ours).unwrap();
    assert_eq!(
        opened.consumer_secret(),
        SENTINEL_CS,
        "the sentinel is really inside"
    );
    assert_no_sentinel("ServerToken Debug", &format!("{opened:?} {opened:#?}"));
    assert_no_sentinel("ServerKeypair Debug", &format!("{ours:?} {ours:#?}"));

    // The organization model and its records hold it too.
    let now = time::OffsetDateTime::now_utc();
    let mut org = Organization::new("Sentinel Org", Portal::BusinessManager);
    org.add_server("Sentinel MDM", ours.clone(), ServerOptions::default(), now)
        .unwrap();
    org.install_token("Sentinel MDM", &file, InstallOptions::default(), now)
        .unwrap();
    assert_no_sentinel("Organization Debug", &format!("{org:?}"));
    let server = org.server("Sentinel MDM").unwrap();
    assert_no_sentinel("MdmServer Debug", &format!("{server:?}"));
    let record = server.to_record(true).unwrap();
    let pem = ours.private_key_pem().unwrap();
    let key_body: &str = pem.lines().nth(3).unwrap();
    let shown = format!("{record:?} {:?}", org.to_record(true).unwrap());
    assert_no_sentinel("ServerRecord Debug", &shown);
    assert!(
        !shown.contains(key_body),
        "ServerRecord Debug shows the private key"
    );

    // Damaged copies: every truncation and every bit flip of the ciphertext
    // and of the last 64 bytes, plus payload-level damage parsed directly.
    let mut errors = 0usize;
    let mut check = |what: String, r: Result<ServerToken, TokenError>| match r {
        Ok(t) => assert_no_sentinel(&what, &format!("{t:?}")),
        Err(e) => {
            check_error(&what, &e);
            errors += 1;
        }
    };
    for len in 0..der.len() {
        check(format!("prefix {len}"), token::open(&der[..len], &ours));
    }
    let ct = layout(&der).ciphertext;
    for i in (ct.start..ct.end).chain(der.len() - 64..der.len()) {
        for bit in 0..8 {
            let mut d = der.clone();
            d[i] ^= 1 << bit;
            check(format!("flip {i}.{bit}"), token::open(&d, &ours));
        }
    }
    // Wrong keys and recipients.
    check(
        "wrong key".into(),
        token::open(&der, &bare(&keypair("Other"))),
    );
    check(
        "other certificate".into(),
        token::open(&der, &keypair("Other")),
    );
    assert!(errors > der.len());

    // Payload damage around the secrets, through the public parser.
    let json_buf = token.to_json();
    let json: &str = json_buf.as_str();
    let damaged = [
        json.replace(SENTINEL_CS, &format!("{SENTINEL_CS} with space")),
        json.replace(
            &format!("\"{SENTINEL_AS}\""),
            &format!("[\"{SENTINEL_AS}\"]"),
        ),
        json.replace(&format!("\"{SENTINEL_AS}\""), SENTINEL_AS),
        json.replace("\"access_secret\"", "\"consumer_secret\""),
        format!("{json}{json}"),
        json[..json.find(SENTINEL_AS).unwrap() + 5].to_string(),
        json.replace(SENTINEL_CS, &format!("{SENTINEL_CS}\u{e9}")),
        format!("[{json}]"),
        json.replace(
            "access_token_expiry\":\"",
            &format!("access_token_expiry\":\"{SENTINEL_CS}"),
        ),
    ];
    for (i, d) in damaged.iter().enumerate() {
        let e = mdmlink::hazmat::payload::parse(d.as_bytes()).expect_err("damaged payload refused");
        check_error(&format!("payload damage {i}"), &e);
        check_error(
            &format!("payload damage {i} as TokenError"),
            &TokenError::from(e),
        );
        if let Err(e) = ServerToken::from_json(d) {
            check_error(&format!("from_json damage {i}"), &e);
        }
        if let Err(e) = serde_json::from_str::<ServerToken>(d) {
            check_error(&format!("serde damage {i}"), &e);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn content_cipher_failures_carry_no_detail() {
    // The CBC layer's error is a unit: wrong key length, wrong IV length and
    // bad padding are indistinguishable.
    let c = ContentCipher::Aes128Cbc;
    let ct = c.encrypt(&[1; 16], &[2; 16], b"hello").unwrap();
    let errors = [
        c.decrypt(&[1; 15], &[2; 16], &ct).unwrap_err(),
        c.decrypt(&[1; 16], &[2; 15], &ct).unwrap_err(),
        c.decrypt(&[9; 16], &[2; 16], &ct).unwrap_err(),
        c.decrypt(&[1; 16], &[2; 16], &ct[..8]).unwrap_err(),
    ];
    assert!(
        errors
            .iter()
            .all(|e| format!("{e:?}") == format!("{:?}", errors[0]))
    );
}
