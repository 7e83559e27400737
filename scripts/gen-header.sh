#!/usr/bin/env bash
# Regenerates capi/include/mdmlink.h from capi/src with the pinned cbindgen
# (a dev-dependency of the mdmlink-capi crate; the generator is
# capi/tests/header.rs).
#   scripts/gen-header.sh           rewrite the header
#   scripts/gen-header.sh --verify  fail if the committed header is out of date
# `cargo test` runs the same check, so CI catches drift either way.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  --verify)
    cargo test --quiet -p mdmlink-capi --all-features --test header -- committed_header_is_current ;;
  "")
    MDMLINK_BLESS=1 cargo test --quiet -p mdmlink-capi --all-features --test header -- committed_header_is_current
    echo "wrote capi/include/mdmlink.h" ;;
  *)
    echo "usage: $0 [--verify]" >&2; exit 2 ;;
esac
