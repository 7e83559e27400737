#!/usr/bin/env bash
# Benchmarks, quick mode, then mdmlink against its peers (one printed table),
# then the store table of docs/performance.md at small scale.
#
# Every release build here is `--workspace --all-features`, so the library and
# its dependencies are compiled once in release for the whole step.
#
# Expected time on 2 cores: about 8-10 minutes (the one release build ~3 min,
# quick benches ~3 min, the store benches on a throwaway PostgreSQL ~1 min,
# peer comparison ~30 s, store table ~1 min).
#
# It fails only when a bench or the comparison is broken (a panic, a missing
# number), never because this machine is slow: targets print PASS/MISS.
# Keygen runs only at 2048 bits here (3072/4096 take minutes under criterion);
# `cargo bench` runs all sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."

bench() { cargo bench --workspace --all-features --bench "$@"; }

echo "== benches (criterion --quick)"
bench token -- --quick
bench organization -- --quick
bench ffi -- --quick
bench dep_sync -- --quick
bench keygen -- --quick keypair_generate/2048

echo "== the stores side by side (SQLite and a throwaway PostgreSQL)"
bash scripts/with-postgres.sh cargo bench --workspace --all-features --bench store_backends -- --quick

echo "== mdmlink vs peers"
benches/compare/compare.sh --quick

echo "== the store table (docs/performance.md), small scale"
scripts/perf-table.sh
