#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test (unit,
# integration, interop with OpenSSL and Python `cryptography`, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
cargo test --all-features
