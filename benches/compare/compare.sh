#!/usr/bin/env bash
# mdmlink against its peers, side by side, in one run: OpenSSL 3 (CLI), Python
# `cryptography` (in-process), Go's crypto/rsa (in-process, standard library).
# Prints one table with the ratio mdmlink/peer for each row and PASS/MISS for
# each target. A MISS never fails the script; a broken measurement does.
#
# usage: benches/compare/compare.sh [--quick]
#   RUNS=N      key generations and process runs per tool (default 10; --quick: 5)
#   SERVERS=N   organization size for the scale rows (default 1000000)
#
# Go: uses `go` if present; otherwise installs Debian's golang-go with apt when
# run as root, else leaves the Go rows out. Go builds in a temporary
# GOCACHE/GOPATH with GOPROXY=off (no module downloads).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-10}
if [[ "${1:-}" == "--quick" ]]; then
  RUNS=${RUNS_QUICK:-5}
fi
SERVERS=${SERVERS:-1000000}
FIX=tests/fixtures/apple-token-1
KEY=$FIX/apple-mdm-client-tests-1.pem
CERT=$FIX/apple-mdm-client-tests-1.crt
TOKEN=$FIX/apple-mdm-client-tests-1-server-token.p7m
for f in "$KEY" "$CERT" "$TOKEN"; do
  [[ -r "$f" ]] || { echo "compare.sh: missing fixture $f" >&2; exit 1; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if ! command -v go >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "compare.sh: installing golang-go (Debian) for the Go peer" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go) >&2 ||
    echo "compare.sh: could not install golang-go; the Go rows are left out" >&2
fi

cargo build --quiet --release --workspace --all-features --example bench_peer
PEER=${CARGO_TARGET_DIR:-target}/release/examples/bench_peer

# The same inputs for everyone: the encrypted content key of the Apple token,
# and the token re-encoded as DER (Python's PKCS#7 reader refuses BER).
"$PEER" --dump-enc-key "$TMP/enc_key.bin"
openssl cms -cmsout -in "$TOKEN" -inform SMIME -outform DER -out "$TMP/token.der"

echo "compare.sh: mdmlink (RUNS=$RUNS, SERVERS=$SERVERS)" >&2
"$PEER" --runs "$RUNS" --servers "$SERVERS" --der-token "$TMP/token.der" >"$TMP/mdmlink.txt"

echo "compare.sh: Python cryptography" >&2
if python3 -c 'import cryptography' 2>/dev/null; then
  python3 benches/compare/py_peer.py "$KEY" "$CERT" "$TOKEN" "$TMP/token.der" "$TMP/enc_key.bin" "$RUNS" >"$TMP/python.txt"
else
  echo "compare.sh: Python cryptography is not installed; its rows are left out" >&2
  : >"$TMP/python.txt"
fi

echo "compare.sh: Go crypto/rsa" >&2
if command -v go >/dev/null 2>&1; then
  export GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" GOPROXY=off GOFLAGS= GO111MODULE=off GOTOOLCHAIN=local
  go build -o "$TMP/go_peer" benches/compare/go/main.go
  "$TMP/go_peer" "$KEY" "$TMP/enc_key.bin" "$RUNS" >"$TMP/go.txt"
  echo "version $(go env GOVERSION) text" >>"$TMP/go.txt"
else
  : >"$TMP/go.txt"
fi

echo "compare.sh: OpenSSL" >&2
python3 benches/compare/openssl_peer.py "$KEY" "$CERT" "$TOKEN" "$RUNS" >"$TMP/openssl.txt"

python3 benches/compare/table.py "$TMP"
