#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test (unit,
# integration, interop with OpenSSL and Python `cryptography`, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# Independent peers for the interop tests (Python packages in tests/requirements.txt).
if ! python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt; then
  echo "warning: could not install tests/requirements.txt; interop tests will say what is missing" >&2
fi
cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
cargo test --all-features
