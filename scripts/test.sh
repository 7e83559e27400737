#!/usr/bin/env bash
# The README's test command: formatting, lints, and every test (unit,
# integration, interop with OpenSSL and Python `cryptography`, doc tests) of
# both crates of the workspace: the library and its C API (capi/).
set -euo pipefail
cd "$(dirname "$0")/.."
# Independent peers for the interop tests (Python packages in tests/requirements.txt).
if ! python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt; then
  echo "warning: could not install tests/requirements.txt; interop tests will say what is missing" >&2
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The library as a Rust dependent builds it by default: no feature, no warning.
cargo clippy -p mdmlink --lib -- -D warnings
# Every doc link resolves (docs on every public item are the API's reference).
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --workspace --all-features
# The PostgreSQL store's tests need a server: scripts/with-postgres.sh starts
# a throwaway one where PostgreSQL is installed (or must be: CI). Elsewhere
# they say how to run them and pass.
if [ -z "${MDMLINK_TEST_POSTGRES_URL:-}" ] &&
  { [ "${CI:-}" = true ] || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }; then
  bash scripts/with-postgres.sh cargo test --workspace --all-features
else
  cargo test --workspace --all-features
fi
