#!/usr/bin/env bash
# Regenerates include/mdmlink.h from src/ffi with the pinned cbindgen
# (a dev-dependency; the generator is tests/header.rs).
#   scripts/gen-header.sh           rewrite the header
#   scripts/gen-header.sh --verify  fail if the committed header is out of date
# `cargo test` runs the same check, so CI catches drift either way.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  --verify)
    cargo test --quiet --all-features --test header -- committed_header_is_current ;;
  "")
    MDMLINK_BLESS=1 cargo test --quiet --all-features --test header -- committed_header_is_current
    echo "wrote include/mdmlink.h" ;;
  *)
    echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac
