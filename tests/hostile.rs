//! Hostile inputs to the token opener: truncations, bit flips, bad armor,
//! deep BER, huge length fields, many recipients, unknown algorithms, huge
//! files. Every input must give an error (or, where a flip lands in bytes the
//! opener does not interpret or in the CBC ciphertext, a token that passed the
//! strict payload checks: counted as "opened_same"/"opened_different"), never
//! a panic, never a stack overflow, and never more heap than the bound below.
//! A decrypted payload that fails validation is `TokenError::Decrypt`, like a
//! bad CBC padding (see tests/no_oracle.rs).
//!
//! # Allocation bound
//! A counting global allocator tracks, per thread, the peak of live heap bytes
//! during one `open`. The bound asserted for every input here is
//!
//! ```text
//! peak heap during token::open(input) <= 16 x input.len() + 64 KiB
//! ```
//!
//! (inputs over the 1 MiB file limit are refused before any copy, so their
//! peak is asserted to stay under the constant term alone).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo, RecipientInfos};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use mdmlink::hazmat::smime;
use mdmlink::keypair::{CertificateParams, KeySize, ServerCertificate, ServerKeypair};
use mdmlink::token::{self, SealOptions, ServerToken, TokenError};
use x509_cert::serial_number::SerialNumber;

mod common;
use common::apple_fixture;

// ---------------------------------------------------------------------------
// Counting allocator (per thread, so parallel tests do not disturb each other)

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now)
            }
        });
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts sizes in
// thread-local `Cell`s with const initializers (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The constant part of the bound: RSA working memory, error strings.
const ALLOC_SLACK: usize = 64 * 1024;
/// The multiple of the input allowed (copies: unarmor, BER decode, plaintext).
const ALLOC_FACTOR: usize = 16;

/// Runs `f` and returns its result with the peak heap bytes it held above
/// what was live when it started.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

/// Opens `input` with `keypair`, asserting the allocation bound.
fn open_bounded(
    input: &[u8],
    keypair: &ServerKeypair,
    what: &str,
) -> Result<ServerToken, TokenError> {
    let (result, peak) = peak_of(|| token::open(input, keypair));
    let bound = if input.len() > smime::MAX_TOKEN_FILE_BYTES {
        ALLOC_SLACK
    } else {
        ALLOC_FACTOR * input.len() + ALLOC_SLACK
    };
    assert!(
        peak <= bound,
        "{what}: peak heap {peak} bytes for a {}-byte input exceeds the bound {bound}",
        input.len()
    );
    MAX_PEAK.with(|m| m.set(m.get().max((peak, input.len()))));
    result
}

thread_local! {
    static MAX_PEAK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

// ---------------------------------------------------------------------------
// Fixtures

const APPLE_TOKEN: &str = "apple-mdm-client-tests-1-server-token.p7m";

struct Subject {
    name: &'static str,
    keypair: ServerKeypair,
    text: Vec<u8>,
    cms: Vec<u8>,
    original: ServerToken,
}

fn apple() -> Subject {
    let cert = ServerCertificate::from_pem(&apple_fixture("apple-mdm-client-tests-1.crt")).unwrap();
    let keypair = ServerKeypair::from_pem(&apple_fixture("apple-mdm-client-tests-1.pem"), None)
        .unwrap()
        .with_certificate(cert)
        .unwrap();
    let text = apple_fixture(APPLE_TOKEN);
    let cms = smime::unarmor(&text).unwrap();
    let original = token::open(&text, &keypair).unwrap();
    Subject {
        name: "apple",
        keypair,
        text,
        cms,
        original,
    }
}

fn sealed_keypair() -> ServerKeypair {
    let mut rng = mdmlink::SystemRng::default();
    let now = time::OffsetDateTime::now_utc();
    ServerKeypair::generate(
        &mut rng,
        KeySize::Rsa2048,
        &CertificateParams::new("Hostile", now),
    )
    .unwrap()
}

fn sealed_token() -> ServerToken {
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    ServerToken::new(
        "CK_hostile",
        "CS_hostile_secret",
        "AT_hostile",
        "AS_hostile_secret",
        expiry,
    )
    .unwrap()
}

fn sealed() -> Subject {
    let mut rng = mdmlink::SystemRng::default();
    let keypair = sealed_keypair();
    let original = sealed_token();
    let cert = keypair.certificate().unwrap();
    let text = token::seal(&original, cert, SealOptions::default(), &mut rng).unwrap();
    let cms = smime::unarmor(&text).unwrap();
    Subject {
        name: "sealed",
        keypair,
        text,
        cms,
        original,
    }
}

fn kind(e: &TokenError) -> String {
    let d = format!("{e:?}");
    let end = d.find([' ', '(', '{']).unwrap_or(d.len());
    d[..end].to_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The byte range of the RSA-encrypted content key inside `cms`.
fn enc_key_range(cms: &[u8]) -> std::ops::Range<usize> {
    let info = ContentInfo::from_ber(cms).unwrap();
    let env: EnvelopedData = info
        .content
        .decode_as_encoding(der::EncodingRules::Ber)
        .unwrap();
    let RecipientInfo::Ktri(k) = env.recip_infos.0.iter().next().unwrap() else {
        panic!("not ktri")
    };
    let key = k.enc_key.as_bytes();
    let at = find(cms, key).expect("the encrypted key is stored contiguously");
    at..at + key.len()
}

// ---------------------------------------------------------------------------
// Truncations and bit flips

#[test]
#[cfg_attr(miri, ignore)]
fn every_truncated_prefix_fails() {
    for s in [apple(), sealed()] {
        for len in 0..s.cms.len() {
            let r = open_bounded(&s.cms[..len], &s.keypair, "cms prefix");
            assert!(
                r.is_err(),
                "{}: a {len}-byte prefix of the CMS opened",
                s.name
            );
        }
        let mut opened = 0;
        for len in 0..s.text.len() {
            match open_bounded(&s.text[..len], &s.keypair, "text prefix") {
                Err(_) => {}
                Ok(t) => {
                    // Only trailing white space and base64 padding may be cut.
                    let cut = &s.text[len..];
                    assert!(
                        cut.iter().all(|b| b.is_ascii_whitespace() || *b == b'='),
                        "{}: a {len}-byte prefix opened after cutting {:?}",
                        s.name,
                        String::from_utf8_lossy(cut)
                    );
                    assert_eq!(t, s.original);
                    opened += 1;
                }
            }
        }
        println!(
            "{}: {} CMS prefixes and {} text prefixes, {opened} of those only cut padding/white space",
            s.name,
            s.cms.len(),
            s.text.len()
        );
    }
}

#[derive(Default, Debug)]
struct FlipStats {
    flips: usize,
    errors: BTreeMap<String, usize>,
    opened_same: usize,
    opened_different: usize,
}

fn flip_all(s: &Subject, bytes: &[u8], label: &str) -> FlipStats {
    let key_range = enc_key_range(&s.cms);
    let mut stats = FlipStats::default();
    let mut buf = bytes.to_vec();
    for i in 0..buf.len() {
        for bit in 0..8 {
            buf[i] ^= 1 << bit;
            let r = open_bounded(&buf, &s.keypair, label);
            stats.flips += 1;
            match r {
                Err(e) => *stats.errors.entry(kind(&e)).or_default() += 1,
                Ok(t) if t == s.original => {
                    // Harmless flips: bytes the opener ignores (S/MIME
                    // descriptions, algorithm NULL parameters, the case of a
                    // MIME header name...). Never the RSA-wrapped key.
                    if label == "cms" {
                        assert!(
                            !key_range.contains(&i),
                            "{}: flipping bit {bit} of byte {i} in the encrypted key still opened",
                            s.name
                        );
                    }
                    stats.opened_same += 1;
                }
                Ok(_) => stats.opened_different += 1,
            }
            buf[i] ^= 1 << bit;
        }
    }
    assert_eq!(buf, bytes);
    let (peak, len) = MAX_PEAK.with(Cell::get);
    println!(
        "{} {label}: {stats:?}; highest peak so far on this thread {peak} bytes (input {len} bytes)",
        s.name
    );
    stats
}

#[test]
#[cfg_attr(miri, ignore)]
fn every_bit_flip_of_the_cms_is_handled() {
    for s in [apple(), sealed()] {
        let stats = flip_all(&s, &s.cms, "cms");
        assert_eq!(stats.flips, s.cms.len() * 8);
        // Flips in the RSA-wrapped key (256 bytes of the CMS) all fail to decrypt.
        assert!(
            stats.errors.get("Decrypt").copied().unwrap_or(0) >= enc_key_range(&s.cms).len() * 8
        );
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn every_bit_flip_of_the_smime_text_is_handled() {
    for s in [apple(), sealed()] {
        let stats = flip_all(&s, &s.text, "smime");
        assert_eq!(stats.flips, s.text.len() * 8);
        assert!(stats.errors.contains_key("Format"), "{stats:?}");
    }
}

// ---------------------------------------------------------------------------
// Armor

#[test]
fn bad_base64_and_headers_without_body() {
    let kp = sealed_keypair();
    let headers = smime::APPLE_HEADERS;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bang body", format!("{headers}\n!!!!!!!!\n").into_bytes()),
        (
            "bad trailing bits",
            format!("{headers}\nMAMCAQB=\n").into_bytes(),
        ),
        (
            "base64url alphabet",
            format!("{headers}\nMIAG-_-_\n").into_bytes(),
        ),
        ("lone char", format!("{headers}\nM\n").into_bytes()),
        (
            "NUL in body",
            format!("{headers}\nMAMC\0AQA=\n").into_bytes(),
        ),
        (
            "non-UTF-8 body",
            [headers.as_bytes(), b"\n\xFF\xFE\xFD\n"].concat(),
        ),
        ("bare garbage", b"#### not base64 ####".to_vec()),
        ("bare percent", b"%%%%".to_vec()),
        (
            "PEM bad base64",
            b"-----BEGIN PKCS7-----\n!!!!\n-----END PKCS7-----\n".to_vec(),
        ),
        ("PEM no end", b"-----BEGIN PKCS7-----\nMAMCAQA=\n".to_vec()),
        (
            "headers, blank line, no body",
            format!("{headers}\n").into_bytes(),
        ),
        (
            "headers, blank line, white space",
            format!("{headers}\n \t\r\n\n").into_bytes(),
        ),
        ("headers only, no blank line", headers.as_bytes().to_vec()),
        (
            "one header, CRLF blank line",
            b"Content-Type: application/pkcs7-mime\r\n\r\n".to_vec(),
        ),
        (
            "continuation first",
            b" folded: x\nContent-Type: application/pkcs7-mime\n\nMAMCAQA=".to_vec(),
        ),
        (
            "non-UTF-8 header",
            b"Content-Type: \xFF\n\nMAMCAQA=".to_vec(),
        ),
        ("only white space", b" \r\n\t ".to_vec()),
        ("only BOM", b"\xEF\xBB\xBF".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, input) in cases {
        let e = open_bounded(&input, &kp, what).expect_err(what);
        assert!(
            matches!(e, TokenError::Format { .. } | TokenError::Malformed { .. }),
            "{what}: {e:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// BER depth and lengths

fn nested(open: &[u8], depth: usize, inner: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(depth * (open.len() + 2) + inner.len());
    for _ in 0..depth {
        v.extend_from_slice(open);
    }
    v.extend_from_slice(inner);
    for _ in 0..depth {
        v.extend_from_slice(&[0, 0]);
    }
    v
}

/// `ContentInfo { id-envelopedData, [0] <content> }`, indefinite lengths.
fn content_info_around(content: &[u8]) -> Vec<u8> {
    let mut v = vec![0x30, 0x80, 0x06, 0x09];
    v.extend_from_slice(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03]);
    v.extend_from_slice(&[0xA0, 0x80]);
    v.extend_from_slice(content);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v
}

#[test]
fn deeply_nested_indefinite_ber_on_a_small_stack() {
    const DEPTH: usize = 100_000;
    let handle = std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(256 * 1024)
        .spawn(|| {
            let kp = sealed_keypair();
            let cases: Vec<(&str, Vec<u8>)> = vec![
                ("SEQUENCE", nested(&[0x30, 0x80], DEPTH, &[])),
                ("SET", nested(&[0x31, 0x80], DEPTH, &[])),
                ("constructed [0]", nested(&[0xA0, 0x80], DEPTH, &[])),
                (
                    "SEQUENCE in ContentInfo",
                    content_info_around(&nested(&[0x30, 0x80], DEPTH, &[])),
                ),
                (
                    "constructed OCTET STRING in ContentInfo",
                    content_info_around(&nested(&[0x24, 0x80], DEPTH, &[0x04, 0x01, 0x00])),
                ),
                (
                    "EnvelopedData with deep recipient set",
                    content_info_around(
                        &[
                            &[0x30, 0x80, 0x02, 0x01, 0x00][..],
                            &nested(&[0x31, 0x80], DEPTH, &[]),
                            &[0, 0],
                        ]
                        .concat(),
                    ),
                ),
            ];
            for (what, input) in cases {
                assert!(input.len() < smime::MAX_TOKEN_FILE_BYTES, "{what}");
                let e = open_bounded(&input, &kp, what).expect_err(what);
                // Raw bytes not starting with SEQUENCE are taken for base64.
                assert!(
                    matches!(e, TokenError::Malformed { .. } | TokenError::Format { .. }),
                    "{what}: {e:?}"
                );
                // Same bytes through S/MIME armor.
                let text = smime::armor_smime(&input);
                let e = open_bounded(text.as_bytes(), &kp, what).expect_err(what);
                assert!(
                    matches!(e, TokenError::Malformed { .. }),
                    "{what} (S/MIME): {e:?}"
                );
            }
        })
        .unwrap();
    handle
        .join()
        .expect("the opener panicked or overflowed on deep BER");
}

#[test]
fn length_fields_claiming_4_gib() {
    let kp = sealed_keypair();
    let oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03,
    ];
    let s = sealed();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "outer 0xFFFFFFFF",
            [&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF][..], &oid].concat(),
        ),
        (
            "outer 0x100000000 (8-byte form)",
            [&[0x30, 0x88, 0, 0, 0, 1, 0, 0, 0, 0][..], &oid].concat(),
        ),
        (
            "outer 2^64-1",
            [
                &[0x30, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..],
                &oid,
            ]
            .concat(),
        ),
        (
            "outer 0x7F-byte length form",
            [&[0x30, 0xFF][..], &[0xFF; 127], &oid].concat(),
        ),
        (
            "content [0] 0xFFFFFFFF",
            [
                &[0x30, 0x80][..],
                &oid,
                &[0xA0, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x30, 0x80, 0, 0, 0, 0],
            ]
            .concat(),
        ),
        (
            "OCTET STRING 0xFFFFFFF0 in ContentInfo",
            content_info_around(&[0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xF0, 1, 2, 3]),
        ),
    ];
    // The sealed token with its encrypted-content length rewritten to 4 GiB - 1.
    let info = ContentInfo::from_der(&s.cms).unwrap();
    let env: EnvelopedData = info.content.decode_as().unwrap();
    let ct = env
        .encrypted_content
        .encrypted_content
        .as_ref()
        .unwrap()
        .as_bytes();
    let at = find(&s.cms, ct).unwrap();
    // The [0] IMPLICIT OCTET STRING header sits right before the content.
    let header_len = if ct.len() < 128 {
        2
    } else if ct.len() < 256 {
        3
    } else {
        4
    };
    let mut patched = s.cms[..at - header_len].to_vec();
    patched.extend_from_slice(&[0x80, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]);
    patched.extend_from_slice(ct);
    cases.push(("sealed token, content length 4 GiB", patched));
    for (what, input) in cases {
        let e = open_bounded(&input, &kp, what).expect_err(what);
        assert!(matches!(e, TokenError::Malformed { .. }), "{what}: {e:?}");
        let text = smime::armor_smime(&input);
        open_bounded(text.as_bytes(), &kp, what).expect_err(what);
    }
}

// ---------------------------------------------------------------------------
// Recipients and algorithms

fn with_recipients(cms: &[u8], count: usize, keep_ours: bool) -> Vec<u8> {
    let info = ContentInfo::from_der(cms).unwrap();
    let mut env: EnvelopedData = info.content.decode_as().unwrap();
    let RecipientInfo::Ktri(ours) = env.recip_infos.0.iter().next().unwrap().clone() else {
        panic!("not ktri")
    };
    let mut all = Vec::with_capacity(count);
    for i in 0..count - usize::from(keep_ours) {
        let mut other = ours.clone();
        let RecipientIdentifier::IssuerAndSerialNumber(ias) = &mut other.rid else {
            panic!("not issuer and serial")
        };
        let serial = (0x4000_0000u32 + i as u32).to_be_bytes();
        ias.serial_number = SerialNumber::new(&serial).unwrap();
        let mut key = ours.enc_key.as_bytes().to_vec();
        key[10] ^= (i as u8) | 1;
        other.enc_key = OctetString::new(key).unwrap();
        all.push(RecipientInfo::Ktri(other));
    }
    if keep_ours {
        all.push(RecipientInfo::Ktri(ours));
    }
    env.recip_infos = RecipientInfos(SetOfVec::try_from(all).unwrap());
    ContentInfo {
        content_type: info.content_type,
        content: Any::encode_from(&env).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_thousand_recipients() {
    let s = sealed();
    let bare =
        ServerKeypair::from_pem(s.keypair.private_key_pem().unwrap().as_bytes(), None).unwrap();
    assert!(bare.certificate().is_none());

    // Ours among 1000: found by issuer and serial, one RSA operation.
    let thousand = with_recipients(&s.cms, 1000, true);
    let t = open_bounded(&thousand, &s.keypair, "1000 recipients, ours last").unwrap();
    assert_eq!(t, s.original);

    // Not ours: named without decrypting, the message lists at most 8 of them.
    let others = with_recipients(&s.cms, 1000, false);
    let e = open_bounded(&others, &s.keypair, "1000 other recipients").unwrap_err();
    let TokenError::WrongRecipient {
        token_recipients, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(token_recipients.len() <= 8);
    assert!(
        e.to_string().len() < 4096,
        "message of {} bytes",
        e.to_string().len()
    );

    // Without a certificate: a bounded number of blind attempts, then Decrypt.
    let e = open_bounded(&others, &bare, "1000 recipients, no certificate").unwrap_err();
    assert_eq!(e, TokenError::Decrypt);

    // S/MIME armored as well.
    let text = smime::armor_smime(&others);
    open_bounded(text.as_bytes(), &s.keypair, "1000 recipients, S/MIME").unwrap_err();
}

fn replace_first(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = find(hay, needle).expect("pattern present");
    [&hay[..at], with, &hay[at + needle.len()..]].concat()
}

#[test]
#[cfg_attr(miri, ignore)]
fn unknown_cipher_and_key_transport_oids() {
    const AES128_CBC: [u8; 11] = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02,
    ];
    const RSA_ENC: [u8; 11] = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
    ];
    for s in [apple(), sealed()] {
        for (last, expect) in [
            (0x05u8, "2.16.840.1.101.3.4.1.5"),
            (0x2F, "2.16.840.1.101.3.4.1.47"),
        ] {
            let mut oid = AES128_CBC;
            oid[10] = last;
            let cms = replace_first(&s.cms, &AES128_CBC, &oid);
            let e = open_bounded(&cms, &s.keypair, "unknown cipher").unwrap_err();
            assert_eq!(
                e,
                TokenError::UnsupportedCipher { oid: expect.into() },
                "{}",
                s.name
            );
        }
        // Same-length OIDs: only the last arc changes, no lengths to re-encode.
        let mut oid = RSA_ENC;
        oid[10] = 0x07; // RSAES-OAEP
        let cms = replace_first(&s.cms, &RSA_ENC, &oid);
        let e = open_bounded(&cms, &s.keypair, "OAEP key transport").unwrap_err();
        assert_eq!(
            e,
            TokenError::UnsupportedKeyTransport {
                oid: "1.2.840.113549.1.1.7".into()
            },
            "{}",
            s.name
        );
        let e = open_bounded(
            &smime::armor_smime(&cms).into_bytes(),
            &s.keypair,
            "OAEP, S/MIME",
        )
        .unwrap_err();
        assert!(matches!(e, TokenError::UnsupportedKeyTransport { .. }));
    }
}

#[test]
fn sixteen_mib_inputs_are_refused_without_copying() {
    let kp = sealed_keypair();
    let s = sealed();
    let mut big_der = s.cms.clone();
    big_der.resize(16 << 20, 0);
    let mut big_text = s.text.clone();
    big_text.resize(16 << 20, b'A');
    for (what, input) in [
        ("16 MiB of zero bytes", vec![0u8; 16 << 20]),
        ("16 MiB of 'A'", vec![b'A'; 16 << 20]),
        ("16 MiB starting with a token (DER)", big_der),
        ("16 MiB starting with a token (S/MIME)", big_text),
        ("1 MiB + 1 of white space", vec![b' '; (1 << 20) + 1]),
    ] {
        let (r, peak) = peak_of(|| token::open(&input, &kp));
        let e = r.expect_err(what);
        assert!(matches!(e, TokenError::TooLarge { .. }), "{what}: {e:?}");
        assert!(peak < ALLOC_SLACK, "{what}: {peak} bytes allocated");
    }
    // Just under the limit: parsed, refused, within the bound.
    let mut under = s.cms.clone();
    under.resize(smime::MAX_TOKEN_FILE_BYTES, 0);
    assert!(open_bounded(&under, &kp, "1 MiB DER with trailing zeros").is_err());
    let under = vec![b'A'; smime::MAX_TOKEN_FILE_BYTES];
    assert!(open_bounded(&under, &kp, "1 MiB of base64 'A'").is_err());
}

#[test]
fn reports_peak() {
    // Documents the bound and that the counter works at all.
    let (v, peak) = peak_of(|| vec![0u8; 100_000]);
    assert!(peak >= 100_000);
    drop(v);
    let s = sealed();
    let _ = open_bounded(&s.text, &s.keypair, "sealed token");
    let (peak, len) = MAX_PEAK.with(Cell::get);
    println!("opening a {len}-byte token peaked at {peak} heap bytes");
    assert!(peak > 0);
}

// ---------------------------------------------------------------------------
// Fuzz seeds (a tool, not a check): `fuzz/make-seeds.sh` runs this with
// MDMLINK_FUZZ_SEEDS=<dir> to write tokens sealed by mdmlink to the Apple
// fixture certificate, so the fuzzer's fixed key opens them.

#[test]
#[ignore = "writes fuzz seeds; run by fuzz/make-seeds.sh"]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("MDMLINK_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cert = ServerCertificate::from_pem(&apple_fixture("apple-mdm-client-tests-1.crt")).unwrap();
    let keypair = apple().keypair;
    let mut rng = mdmlink::SystemRng::default();
    let token = sealed_token();
    for cipher in token::ContentCipher::ALL {
        for format in [
            token::SealFormat::Smime,
            token::SealFormat::Pem,
            token::SealFormat::Der,
        ] {
            let sealed = token::seal(
                &token,
                &cert,
                SealOptions::default()
                    .with_cipher(cipher)
                    .with_format(format),
                &mut rng,
            )
            .unwrap();
            assert_eq!(token::open(&sealed, &keypair).unwrap(), token);
            let name = format!("mdmlink-{}-{format:?}", cipher.name()).to_lowercase();
            std::fs::write(dir.join(name), sealed).unwrap();
        }
    }
    let payload = mdmlink::hazmat::payload::render(&token);
    std::fs::write(dir.join("payload.txt"), payload.as_slice()).unwrap();
}

// ---------------------------------------------------------------------------
// Regressions found by the fuzzers (fuzz/)

#[test]
fn payload_with_fractional_second_expiry_round_trips() {
    // payload_parse: "2025-01-17T11:02:01.1Z" parsed with its tenth of a
    // second, but rendered without it, so render -> parse gave another token.
    let json = r#"{"consumer_key":"CK_1","consumer_secret":"CS_2","access_token":"AT_3","access_secret":"AS_4","access_token_expiry":"2025-01-17T11:02:01.1Z"}"#;
    let token = mdmlink::hazmat::payload::parse(json.as_bytes()).unwrap();
    assert_eq!(token.access_token_expiry().nanosecond(), 0);
    let again = mdmlink::hazmat::payload::parse(&mdmlink::hazmat::payload::render(&token)).unwrap();
    assert_eq!(again, token);
    assert_eq!(ServerToken::from_json(&token.to_json()).unwrap(), token);
}

/// An encrypted PKCS #8 key from OpenSSL with its KDF's first INTEGER
/// (scrypt N, or the PBKDF2 iteration count; 2 bytes at offset 44) replaced by
/// a 4-byte one, lengths fixed up.
fn with_kdf_integer(der: &[u8], old: [u8; 2], new: [u8; 4]) -> Vec<u8> {
    assert_eq!(&der[..2], &[0x30, 0x82], "OpenSSL layout");
    assert_eq!(
        &der[44..48],
        &[0x02, 0x02, old[0], old[1]],
        "OpenSSL layout"
    );
    let mut out = der[..44].to_vec();
    out.extend_from_slice(&[0x02, 0x04]);
    out.extend_from_slice(&new);
    out.extend_from_slice(&der[48..]);
    let outer = u16::from_be_bytes([out[2], out[3]]) + 2;
    out[2..4].copy_from_slice(&outer.to_be_bytes());
    for at in [5, 18, 20, 33] {
        out[at] += 2; // the enclosing SEQUENCEs, short-form lengths
    }
    out
}

#[test]
#[cfg_attr(miri, ignore)]
fn encrypted_keys_cannot_demand_unbounded_password_hashing() {
    // Found while reviewing the key importers: an encrypted PKCS #8 key with
    // scrypt N = 2^30 made scrypt allocate 1 TiB and abort the process.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let pem = apple().keypair.private_key_pem().unwrap();
    std::fs::write(&key, pem.as_bytes()).unwrap();
    let key = key.to_str().unwrap();
    let scrypt = common::run_ok(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-scrypt",
            "-scrypt_N",
            "16384",
            "-scrypt_r",
            "8",
            "-scrypt_p",
            "1",
            "-passout",
            "pass:pw",
            "-outform",
            "DER",
            "-in",
            key,
        ],
    );
    let pbkdf2 = common::run_ok(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-iter",
            "1000",
            "-passout",
            "pass:pw",
            "-outform",
            "DER",
            "-in",
            key,
        ],
    );
    // Reasonable parameters still import.
    for der in [&scrypt, &pbkdf2] {
        ServerKeypair::from_der(der, Some(b"pw")).unwrap();
    }
    let cases = [
        (
            "scrypt N = 2^30 (1 TiB)",
            with_kdf_integer(&scrypt, [0x40, 0], [0x40, 0, 0, 0]),
        ),
        (
            "scrypt N = 2^22 (4 GiB)",
            with_kdf_integer(&scrypt, [0x40, 0], [0, 0x40, 0, 0]),
        ),
        (
            "scrypt N not a power of two",
            with_kdf_integer(&scrypt, [0x40, 0], [0, 0, 0x40, 1]),
        ),
        (
            "PBKDF2 99,999,999 iterations",
            with_kdf_integer(&pbkdf2, [0x03, 0xE8], [0x05, 0xF5, 0xE0, 0xFF]),
        ),
        (
            "PBKDF2 2^31-1 iterations",
            with_kdf_integer(&pbkdf2, [0x03, 0xE8], [0x7F, 0xFF, 0xFF, 0xFF]),
        ),
    ];
    for (what, der) in cases {
        let (r, peak) = peak_of(|| ServerKeypair::from_der(&der, Some(b"pw")));
        let e = r.expect_err(what);
        assert!(
            matches!(e, mdmlink::keypair::KeyError::Malformed { .. }),
            "{what}: {e:?}"
        );
        assert!(peak < ALLOC_SLACK, "{what}: {peak} bytes");
        let pem = der::pem::encode_string("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF, &der)
            .unwrap();
        assert!(
            ServerKeypair::from_pem(pem.as_bytes(), Some(b"pw")).is_err(),
            "{what} (PEM)"
        );
    }
}
