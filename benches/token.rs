//! Opening and sealing tokens, against the bare RSA operation of the same key.
//!
//! `rsa_pkcs1v15_decrypt` is the RSA private operation alone (with blinding,
//! as `open` does it) on the very encrypted key bytes of the Apple token;
//! `open/*` is everything: S/MIME, BER, recipient match, RSA, AES-CBC, MIME,
//! JSON. Their ratio is mdmlink's overhead.

mod common;

use std::hint::black_box;

use common::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mdmlink::token::{self, ContentCipher, SealOptions};
use mdmlink::{ServerToken, SystemRng};
use time::{Duration, OffsetDateTime};

fn token_benches(c: &mut Criterion) {
    let keypair = apple_keypair();
    let rsa_key = apple_rsa_key();
    let apple = apple_fixture(TOKEN);
    let enc_key = encrypted_key(&apple);
    let mut rng = SystemRng::default();
    let cert = keypair.certificate().expect("certificate").clone();
    let issued = ServerToken::new(
        "CK_bench",
        "CS_bench",
        "AT_bench",
        "AS_bench",
        OffsetDateTime::now_utc() + Duration::days(365),
    )
    .expect("token");
    let seal_with = |cipher| SealOptions::default().with_cipher(cipher);
    let aes256 = token::seal(
        &issued,
        &cert,
        seal_with(ContentCipher::Aes256Cbc),
        &mut rng,
    )
    .expect("seal");

    let mut group = c.benchmark_group("token");
    group.bench_function("rsa_pkcs1v15_decrypt/apple", |b| {
        b.iter(|| {
            black_box(
                rsa_key
                    .pkcs1v15_decrypt_with_rng(&mut rng, black_box(&enc_key))
                    .expect("decrypt"),
            )
        })
    });
    group.bench_function(BenchmarkId::new("open", "apple-aes128-ber"), |b| {
        b.iter(|| {
            black_box(token::open_with_rng(black_box(&apple), &keypair, &mut rng).expect("open"))
        })
    });
    group.bench_function(BenchmarkId::new("open", "sealed-aes256-smime"), |b| {
        b.iter(|| {
            black_box(token::open_with_rng(black_box(&aes256), &keypair, &mut rng).expect("open"))
        })
    });
    for (label, cipher) in [
        ("aes128", ContentCipher::Aes128Cbc),
        ("aes256", ContentCipher::Aes256Cbc),
    ] {
        group.bench_function(BenchmarkId::new("seal", label), |b| {
            b.iter(|| {
                black_box(token::seal(&issued, &cert, seal_with(cipher), &mut rng).expect("seal"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, token_benches);
criterion_main!(benches);
