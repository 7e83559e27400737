#!/usr/bin/env bash
# Whole `mdmlink` processes against stores of 100, 1,000 and 10,000 servers
# (organizations of ten): server list, check, and one-server commands
# (set-uuid: no secret; jwt: one key decrypted, one RSA signature). Median of
# RUNS runs each, in milliseconds. Uses the release build.
#   benches/compare/store.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=9
sizes="100 1000 10000"
if [ "${1:-}" = "--quick" ]; then runs=3; fi
cargo build --quiet --release --features cli --bin mdmlink
cargo build --quiet --release --features sqlite,postgres --example fill_store
bin=target/release/mdmlink
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { # command... -> median wall time in ms
  python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs = int(sys.argv[1]); cmd = sys.argv[2:]
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"{times[len(times)//2]:.0f}")
PY
}
echo "| servers | server list | check | server set-uuid | jwt |"
echo "| --- | --- | --- | --- | --- |"
for n in $sizes; do
  store=$work/store-$n.sqlite
  target/release/examples/fill_store "$store" "$n" > /dev/null
  s=(--store "$store")
  one=(--org "Org 00000")
  list=$(median $bin "${s[@]}" server list)
  # check exits 2 (servers without... none here) or 0; either is fine for timing.
  check=$(median bash -c "$bin --store $store check >/dev/null; true")
  uuid=$(median $bin "${s[@]}" "${one[@]}" server set-uuid "Server 0000000" bench-uuid)
  jwt=$(median $bin "${s[@]}" "${one[@]}" jwt "Server 0000000")
  echo "| $n | $list ms | $check ms | $uuid ms | $jwt ms |"
done
