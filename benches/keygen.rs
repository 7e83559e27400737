//! Keypair + self-signed certificate generation at each key size.
//!
//! Key generation is random (the time to find primes varies a lot), so the
//! samples are few and the measurement time long; 4096-bit keys may take
//! seconds each.

use std::{hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mdmlink::keypair::{CertificateParams, KeySize, ServerKeypair};
use time::OffsetDateTime;

fn keygen(c: &mut Criterion) {
    let mut group = c.benchmark_group("keypair_generate");
    let params = CertificateParams::new("Bench MDM", OffsetDateTime::now_utc());
    let mut rng = mdmlink::SystemRng::default();
    for (size, secs) in [
        (KeySize::Rsa2048, 20),
        (KeySize::Rsa3072, 40),
        (KeySize::Rsa4096, 60),
    ] {
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(secs));
        group.bench_with_input(
            BenchmarkId::from_parameter(size.bits()),
            &size,
            |b, &size| {
                b.iter(|| {
                    black_box(ServerKeypair::generate(&mut rng, size, &params).expect("keygen"))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, keygen);
criterion_main!(benches);
