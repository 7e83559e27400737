//! C API call overhead: a trivial getter (`mdmlink_token_consumer_key`)
//! through the FFI layer (null check, panic boundary, C ABI, called through a
//! function pointer as a C caller of the shared library would) against the
//! Rust call (`ServerToken::consumer_key`).

mod common;

use std::{ffi::c_char, hint::black_box};

use criterion::{Criterion, criterion_group, criterion_main};
use mdmlink_capi::token::{mdmlink_token, mdmlink_token_consumer_key, mdmlink_token_free};

type Getter = unsafe extern "C" fn(*const mdmlink_token) -> *const c_char;

fn ffi(c: &mut Criterion) {
    let (rust_token, handle) = common::ffi_token();
    let getter: Getter = black_box(mdmlink_token_consumer_key);

    let mut group = c.benchmark_group("ffi");
    group.bench_function("rust/consumer_key", |b| {
        b.iter(|| black_box(black_box(&rust_token).consumer_key().as_ptr()))
    });
    group.bench_function("c/mdmlink_token_consumer_key", |b| {
        // SAFETY: `handle` is a live token until freed below.
        b.iter(|| black_box(unsafe { getter(black_box(handle)) }))
    });
    group.finish();
    // SAFETY: `handle` came from mdmlink_token_new and is freed once.
    unsafe { mdmlink_token_free(handle) };
}

criterion_group!(benches, ffi);
criterion_main!(benches);
