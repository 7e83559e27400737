#!/usr/bin/env bash
# The store table of docs/performance.md: whole `mdmlink` processes against
# stores of organizations of 100 servers, each command timed by
# /usr/bin/time -v (wall clock and peak resident memory, the median wall of
# RUNS runs and the largest peak).
#
#   scripts/perf-table.sh                  # quick (CI): 1,000 and 10,000 servers, SQLite
#   scripts/perf-table.sh --full           # 10,000 and 1,000,000 servers
#   bash scripts/with-postgres.sh scripts/perf-table.sh [--full] --postgres
#                                          # SQLite and PostgreSQL (needs MDMLINK_TEST_POSTGRES_URL)
#   bash scripts/with-postgres.sh scripts/perf-table.sh [--full] --postgres-only
#
# Targets (printed as PASS/MISS; only a broken command fails the script):
# at the largest size `server list --json` and `check` peak at most 64 MiB,
# `check` takes at most 10 s, and each one-server command (set-uuid: one
# row, no secret; jwt: one row, one key opened, one RSA signature) costs at
# most 1.5x what it costs at the smallest size.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="1000 10000"
runs=3
postgres=0
for arg in "$@"; do
  case "$arg" in
    --full) sizes="10000 1000000" ;;
    --postgres) postgres=1 ;;
    --postgres-only) postgres=2 ;;
    *) echo "usage: $0 [--full] [--postgres | --postgres-only]" >&2; exit 2 ;;
  esac
done
runs=${RUNS:-$runs}
target=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release --workspace --all-features --bin mdmlink --example fill_store
bin=$target/release/mdmlink
fill=$target/release/examples/fill_store
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A master key, so the PostgreSQL store (which never holds plaintext
# secrets) and the SQLite one are filled and read alike.
MDMLINK_MASTER_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export MDMLINK_MASTER_KEY

# measure NAME COMMAND... -> "wall_seconds peak_kib" (median wall, max peak)
measure() {
  local walls=() peak=0 out
  for _ in $(seq "$runs"); do
    out=$work/time.txt
    # The wall clock to the nanosecond around the run (/usr/bin/time's own
    # is in hundredths: a one-server command would read 0 ms).
    local t0 t1
    t0=$(date +%s.%N)
    if ! /usr/bin/time -v -o "$out" "$@" > /dev/null 2> "$work/stderr.txt"; then
      # check exits 1 or 2 when servers need action: a result, not a failure.
      if ! grep -q 'Exit status: [12]$' "$out"; then
        echo "error: $* failed:" >&2; cat "$work/stderr.txt" >&2; exit 1
      fi
    fi
    t1=$(date +%s.%N)
    walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
    local kib
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
    [ "$kib" -gt "$peak" ] && peak=$kib
  done
  printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")" "$peak"
}

fmt_time() { awk -v s="$1" 'BEGIN { if (s < 0.1) printf "%.1f ms", s * 1000; else if (s < 1) printf "%.0f ms", s * 1000; else printf "%.2f s", s }'; }
fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

backends="sqlite"
if [ "$postgres" != 0 ]; then
  if [ -z "${MDMLINK_TEST_POSTGRES_URL:-}" ]; then
    echo "error: --postgres needs MDMLINK_TEST_POSTGRES_URL (run under scripts/with-postgres.sh)" >&2
    exit 1
  fi
  backends="sqlite postgres"
  [ "$postgres" = 2 ] && backends="postgres"
fi

results=$work/results.txt
: > "$results"
echo "mdmlink store, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, runs=$runs, organizations of 100 servers"
echo
echo "| store | servers | organizations | fill | \`server list --json\` | \`check\` | \`server set-uuid\` | \`jwt\` |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for backend in $backends; do
  for n in $sizes; do
    orgs=$(( (n + 99) / 100 ))
    case "$backend" in
      sqlite) store=$work/store-$n.sqlite ;;
      postgres)
        sep='?'; case "$MDMLINK_TEST_POSTGRES_URL" in *\?*) sep='&' ;; esac
        store="$MDMLINK_TEST_POSTGRES_URL${sep}schema=perf_${n}_$$" ;;
    esac
    start=$(date +%s.%N)
    "$fill" "$store" "$n" "$orgs" > /dev/null
    filled=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    s=(--store "$store")
    read -r list_t list_m < <(measure "$bin" "${s[@]}" server list --json)
    read -r check_t check_m < <(measure "$bin" "${s[@]}" check)
    # A server in the middle of the store.
    mid=$(printf 'Server %07d' $(( n / 2 )))
    mid_org=$(printf 'Org %05d' $(( n / 2 / 100 )))
    read -r uuid_t uuid_m < <(measure "$bin" "${s[@]}" --org "$mid_org" server set-uuid "$mid" 2A873497-36CF-4614-A94F-624E705841BE)
    read -r jwt_t jwt_m < <(measure "$bin" "${s[@]}" --org "Org 00000" jwt "Server 0000000")
    echo "$backend $n $list_t $list_m $check_t $check_m $uuid_t $jwt_t" >> "$results"
    echo "| $backend | $(printf "%'d" "$n") | $(printf "%'d" "$orgs") | $(fmt_time "$filled") | $(fmt_time "$list_t"), $(fmt_mib "$list_m") | $(fmt_time "$check_t"), $(fmt_mib "$check_m") | $(fmt_time "$uuid_t"), $(fmt_mib "$uuid_m") | $(fmt_time "$jwt_t"), $(fmt_mib "$jwt_m") |"
    if [ "$backend" = sqlite ]; then rm -f "$store" "$store-wal" "$store-shm"; fi
  done
done

echo
echo "targets:"
python3 - "$results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for b, n, lt, lm, ct, cm, ut, jt in rows:
    by.setdefault(b, []).append((int(n), float(lt), int(lm), float(ct), int(cm), float(ut), float(jt)))
for b, r in by.items():
    r.sort()
    small, big = r[0], r[-1]
    def say(ok, what, value):
        print(f"  {'PASS' if ok else 'MISS'}  {b}: {what:<52} {value}")
    say(big[2] <= 64 * 1024, f"server list --json at {big[0]:,} <= 64 MiB", f"{big[2] / 1024:.1f} MiB")
    say(big[4] <= 64 * 1024, f"check at {big[0]:,} <= 64 MiB", f"{big[4] / 1024:.1f} MiB")
    say(big[3] <= 10, f"check at {big[0]:,} <= 10 s", f"{big[3]:.2f} s")
    if len(r) > 1:
        for name, i in (("set-uuid", 5), ("jwt", 6)):
            ratio = big[i] / max(small[i], 1e-3)
            say(ratio <= 1.5, f"{name} at {big[0]:,} <= 1.5x at {small[0]:,}", f"{ratio:.2f}x")
PY
