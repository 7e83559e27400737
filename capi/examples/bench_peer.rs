//! mdmlink's side of the peer comparison (`benches/compare/compare.sh`):
//! the same measurements the peers make, in-process, printed one per line as
//! `name value unit` so the script can read them.
//!
//! ```sh
//! cargo run --release --example bench_peer -- [--runs N] [--servers N] [--der-token PATH] [--dump-enc-key PATH]
//! ```
//!
//! * `keygen_2048` / `rsa_keygen_2048`: median of `--runs` generations (keypair
//!   plus self-signed certificate, and the bare `rsa` key alone).
//! * `rsa_decrypt_2048`: `rsa` PKCS #1 v1.5 private operation on the Apple
//!   token's encrypted key; `token_open_apple`: the whole `token::open`;
//!   `token_open_der`: the same token re-encoded as DER (`--der-token`, made
//!   by `openssl cms -cmsout`), for peers that refuse Apple's BER.
//! * `check_name_free` / `check_name_taken`: `Organization::check_name` with
//!   `--servers` servers; `expiry_evaluate`, `statuses`: one pass over
//!   `--servers` tokens.
//! * `mem_per_server` / `mem_per_server_token`: bytes allocated per server
//!   (counting allocator), without and with an installed token.
//! * `ffi_getter` / `rust_getter` / `ffi_overhead`: `mdmlink_token_consumer_key`
//!   through the C API (called through a function pointer) against
//!   `ServerToken::consumer_key`, per call.
//!
//! `--dump-enc-key PATH` writes the RSA-encrypted content key of the Apple
//! token to PATH, so the peers decrypt the very same bytes.

#[path = "../benches/common/mod.rs"]
mod common;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    ffi::c_char,
    hint::black_box,
    sync::atomic::{AtomicIsize, Ordering},
    time::Instant,
};

use common::*;
use mdmlink::{
    ServerToken, SystemRng,
    expiry::ExpiryPolicy,
    keypair::{CertificateParams, KeySize, ServerKeypair},
    organization::{InstallOptions, Organization, ServerOptions},
    portal::Portal,
    token,
};
use time::OffsetDateTime;

/// Counts the bytes currently allocated, to measure memory per server.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged and only
// adds bookkeeping on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median over `batches` of the mean time of `per_batch` calls, in seconds.
fn per_op(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    median(
        (0..batches)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..per_batch {
                    f();
                }
                start.elapsed().as_secs_f64() / per_batch as f64
            })
            .collect(),
    )
}

fn report(name: &str, value: f64, unit: &str) {
    println!("{name} {value:.3} {unit}");
}

fn server_name(i: usize) -> String {
    format!("MDM Server {i:07}")
}

/// Seconds per call of the C getter and of the Rust one.
fn ffi_getter() -> Result<(f64, f64), Box<dyn std::error::Error>> {
    use mdmlink_capi::token::{mdmlink_token, mdmlink_token_consumer_key, mdmlink_token_free};
    type Getter = unsafe extern "C" fn(*const mdmlink_token) -> *const c_char;
    let (token, handle) = ffi_token();
    let getter: Getter = black_box(mdmlink_token_consumer_key);
    let (mut c, mut r) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        c.push(per_op(1, 1_000_000, || {
            // SAFETY: `handle` is a live token until freed below.
            black_box(unsafe { getter(black_box(handle)) });
        }));
        r.push(per_op(1, 1_000_000, || {
            black_box(black_box(&token).consumer_key().as_ptr());
        }));
    }
    // SAFETY: `handle` came from mdmlink_token_new and is freed once.
    unsafe { mdmlink_token_free(handle) };
    Ok((median(c), median(r)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runs = 10usize;
    let mut servers = 1_000_000usize;
    let mut der_token: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--servers" => servers = args.next().ok_or("--servers N")?.parse()?,
            "--der-token" => der_token = Some(args.next().ok_or("--der-token PATH")?),
            "--dump-enc-key" => {
                let path = args.next().ok_or("--dump-enc-key PATH")?;
                std::fs::write(path, encrypted_key(&apple_fixture(TOKEN)))?;
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let runs = runs.max(1);
    let mut rng = SystemRng::default();
    let now = OffsetDateTime::now_utc();

    // Key generation: median of `runs`.
    let params = CertificateParams::new("Bench MDM", now);
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        black_box(ServerKeypair::generate(
            &mut rng,
            KeySize::Rsa2048,
            &params,
        )?);
        times.push(start.elapsed().as_secs_f64());
    }
    report("keygen_2048", median(times) * 1e3, "ms");
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        black_box(rsa::PrivateKey::new(&mut rng, 2048)?);
        times.push(start.elapsed().as_secs_f64());
    }
    report("rsa_keygen_2048", median(times) * 1e3, "ms");

    // The ES256 client assertion of Apple's School and Business Manager API
    // (claims, a random `jti`, the P-256 signature, base64url): beside
    // PyJWT's `encode` of the same claims.
    {
        use mdmlink::portal_api::assertion::{AssertionOptions, client_assertion};
        use mdmlink::portal_api::{ApiAccount, ApiKey};
        let account = ApiAccount::new(
            "BUSINESSAPI.9703f56c-10ce-4876-8f59-e78e5e23a152",
            "d136aa66-0c3b-4bd4",
            ApiKey::generate(&mut rng)?,
        )?;
        let options = AssertionOptions::default();
        let t = per_op(15, 200, || {
            black_box(client_assertion(&account, now, &options, &mut rng).ok());
        });
        report("client_assertion_es256", t * 1e6, "us");
    }

    // The bare RSA operation and the whole open, on the same key and bytes.
    let keypair = apple_keypair();
    let rsa_key = apple_rsa_key();
    let apple = apple_fixture(TOKEN);
    let enc_key = encrypted_key(&apple);
    // Interleaved, so both see the same machine load.
    let (mut rsa_t, mut open_t) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        rsa_t.push(per_op(1, 40, || {
            black_box(
                rsa_key
                    .pkcs1v15_decrypt_with_rng(&mut rng, black_box(&enc_key))
                    .ok(),
            );
        }));
        open_t.push(per_op(1, 40, || {
            black_box(token::open_with_rng(black_box(&apple), &keypair, &mut rng).ok());
        }));
    }
    report("rsa_decrypt_2048", median(rsa_t) * 1e6, "us");
    report("token_open_apple", median(open_t) * 1e6, "us");
    if let Some(path) = der_token {
        let der = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        report(
            "token_open_der",
            per_op(15, 40, || {
                black_box(token::open_with_rng(black_box(&der), &keypair, &mut rng).ok());
            }) * 1e6,
            "us",
        );
    }

    // Organization scale and memory per server.
    let before = LIVE.load(Ordering::Relaxed);
    let mut org = Organization::new("Bench MSP", Portal::BusinessManager);
    let start = Instant::now();
    for i in 0..servers {
        org.add_linked_server(&server_name(i), None, ServerOptions::default(), now)?;
    }
    let build = start.elapsed().as_secs_f64();
    let without = LIVE.load(Ordering::Relaxed);
    report("add_linked_server", build / servers as f64 * 1e9, "ns");
    report(
        "mem_per_server",
        (without - before) as f64 / servers as f64,
        "B",
    );
    let free = "Brand New Server";
    let taken = server_name(servers / 2).to_uppercase();
    report(
        "check_name_free",
        per_op(15, 2000, || {
            black_box(org.check_name(black_box(free)).is_ok());
        }) * 1e9,
        "ns",
    );
    report(
        "check_name_taken",
        per_op(15, 2000, || {
            black_box(org.check_name(black_box(&taken)).is_err());
        }) * 1e9,
        "ns",
    );
    let expiries: Vec<OffsetDateTime> = (0..servers)
        .map(|i| now + time::Duration::minutes(((i * 7919) % 1_051_200) as i64 - 525_600))
        .collect();
    // Credentials as long as Apple's (the fixture's), with varied expiries.
    let apple_token =
        ServerToken::from_json(std::str::from_utf8(&apple_fixture("expected.json"))?.trim())?;
    let tokens_before = LIVE.load(Ordering::Relaxed);
    for (i, &expires) in expiries.iter().enumerate() {
        let token = ServerToken::new(
            apple_token.consumer_key(),
            apple_token.consumer_secret(),
            apple_token.access_token(),
            apple_token.access_secret(),
            expires,
        )?;
        // Some are expired on purpose, which the install policy refuses unless forced.
        let forced = InstallOptions::default().with_force(true);
        org.install_opened_token(&server_name(i), token, forced, now)?;
    }
    let with = LIVE.load(Ordering::Relaxed);
    report(
        "mem_per_server_token",
        (without - before + with - tokens_before) as f64 / servers as f64,
        "B",
    );
    let policy = ExpiryPolicy::default();
    report(
        "expiry_evaluate",
        per_op(7, 1, || {
            black_box(
                expiries
                    .iter()
                    .filter(|&&e| policy.evaluate(e, now).needs_action())
                    .count(),
            );
        }) * 1e3,
        "ms",
    );
    report(
        "statuses",
        per_op(5, 1, || {
            black_box(org.statuses(&policy, now));
        }) * 1e3,
        "ms",
    );
    let (ffi, rust) = ffi_getter()?;
    report("ffi_getter", ffi * 1e9, "ns");
    report("rust_getter", rust * 1e9, "ns");
    report("ffi_overhead", (ffi - rust).max(0.0) * 1e9, "ns");
    report("servers", servers as f64, "count");
    report("runs", runs as f64, "count");
    Ok(())
}
