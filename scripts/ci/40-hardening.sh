#!/usr/bin/env bash
# Hardening checks (issue #5): fuzzing, supply chain, Miri.
#
#   scripts/ci/40-hardening.sh [all|fuzz|deny|miri]     (default: all)
#
# 1. fuzz: installs cargo-fuzz if missing, generates the seed corpora
#    (fuzz/make-seeds.sh), builds the four targets on the stable toolchain with
#    `--sanitizer none` and runs each for $FUZZ_SECONDS (default 30) seconds;
#    fails on any crash, timeout or leak, prints the total executions.
# 2. deny: installs cargo-deny if missing, copies the offline RustSec snapshot
#    ($MDMLINK_ADVISORY_DB_SRC, which .ci/run sets, else ../shared/advisory-db) into a
#    temporary git repository where cargo-deny looks for it, and runs
#    `cargo deny --offline check` (advisories, licenses, bans, sources).
# 3. miri: installs nightly with Miri if missing (once), then runs the C API
#    crate's own unit tests (`mdmlink-capi`'s `tests`, its unsafe code) and the
#    library's fast parser tests under `cargo +nightly miri test`; when no nightly with Miri
#    can be installed it prints "Miri: NOT RUN" and why, without failing.
#    (The C tests under valgrind belong to the C API script.)
#
# Expected time on 2 cores, fresh machine: about 12 minutes: building the fuzz
# targets (~3 min) while cargo-deny compiles in the background (~4 min CPU),
# fuzzing (2 min), installing nightly and running Miri (~5 min); with the tools
# already installed: about 9 minutes.
set -euo pipefail

cd "$(dirname "$0")/../.."
root="$(pwd)"
what="${1:-all}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
TARGETS=(open_token payload_parse server_name key_import)
logdir="$(mktemp -d "${TMPDIR:-/tmp}/mdmlink-hardening.XXXXXX")"
deny_pid=""
cleanup() {
    if [ -n "$deny_pid" ]; then kill "$deny_pid" 2>/dev/null || true; fi
    rm -rf "$logdir"
}
trap cleanup EXIT

say() { printf '\n==> %s\n' "$*"; }

start_deny_install() {
    if ! cargo deny --version >/dev/null 2>&1; then
        say "installing cargo-deny in the background (log: $logdir/deny-install.log)"
        cargo install --locked cargo-deny >"$logdir/deny-install.log" 2>&1 &
        deny_pid=$!
    fi
}

run_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        say "installing cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
    say "generating fuzz seeds"
    # In an `||` list `set -e` does not apply: failures are returned.
    fuzz/make-seeds.sh || { echo "fuzz seeds could not be generated"; return 1; }
    say "building fuzz targets (stable, --sanitizer none)"
    local boot=()
    if ! (cd fuzz && cargo fuzz build -O --sanitizer none); then
        # Older cargo-fuzz releases pass -Z flags even without a sanitizer.
        say "stable build failed; retrying with RUSTC_BOOTSTRAP=1"
        boot=(env RUSTC_BOOTSTRAP=1)
        (cd fuzz && "${boot[@]}" cargo fuzz build -O --sanitizer none) ||
            { echo "the fuzz targets do not build"; return 1; }
    fi
    local total=0 failed=0
    for t in "${TARGETS[@]}"; do
        say "fuzzing $t for ${FUZZ_SECONDS}s"
        local log="$logdir/fuzz-$t.log" rc=0
        (cd fuzz && ${boot[@]+"${boot[@]}"} cargo fuzz run -O --sanitizer none "$t" "corpus/$t" -- \
            -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1) >"$log" 2>&1 || rc=$?
        local n
        n="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1 || true)"
        if [ -z "$n" ]; then
            n="$(grep -o '^#[0-9]*[[:space:]]*DONE' "$log" | grep -o '[0-9]*' | tail -n1 || true)"
        fi
        n="${n:-0}"
        if [ "$rc" -ne 0 ] || grep -qE '^(==[0-9]+== ?)?ERROR: libFuzzer|panicked at|deadly signal' "$log"; then
            echo "FUZZ FAILURE in $t (exit $rc); last lines of the log:"
            tail -n 40 "$log"
            ls -1 "fuzz/artifacts/$t" 2>/dev/null | sed 's/^/  artifact: /' || true
            failed=1
        fi
        echo "$t: $n executions"
        total=$((total + n))
    done
    echo "fuzzing: $total executions in total over ${#TARGETS[@]} targets"
    return "$failed"
}

run_deny() {
    if [ -n "$deny_pid" ]; then
        say "waiting for the cargo-deny install"
        if ! wait "$deny_pid"; then
            deny_pid=""
            tail -n 30 "$logdir/deny-install.log"
            echo "cargo-deny install failed"
            return 1
        fi
        deny_pid=""
    elif ! cargo deny --version >/dev/null 2>&1; then
        say "installing cargo-deny"
        cargo install --locked cargo-deny
    fi
    # cargo-deny reads `cargo metadata` offline: fetch every crate of the lock
    # file first (all platforms), from crates.io.
    cargo fetch --locked --quiet || { echo "cargo fetch failed"; return 1; }
    local src="${MDMLINK_ADVISORY_DB_SRC:-../shared/advisory-db}"
    if [ ! -d "$src" ]; then
        echo "no RustSec snapshot at $src: set MDMLINK_ADVISORY_DB_SRC to an advisory-db checkout"
        return 1
    fi
    say "cargo deny --offline check (RustSec snapshot: $(head -c 200 "$src/SNAPSHOT" 2>/dev/null | head -n1))"
    # cargo-deny keeps each database in <db-path>/<name>-<hash of its URL>, as
    # a git repository; this is the directory for the default RustSec URL.
    local dbs="$logdir/advisory-dbs" db
    db="$dbs/advisory-db-3157b0e258782691"
    mkdir -p "$dbs"
    cp -R "$src" "$db"
    chmod -R u+w "$db"
    (
        cd "$db"
        git init -q
        git add -A
        # Date the commit as the snapshot, so cargo-deny sees its real age.
        GIT_AUTHOR_DATE="2026-08-21T00:00:00Z" GIT_COMMITTER_DATE="2026-08-21T00:00:00Z" \
            git -c user.name=mdmlink-ci -c user.email=ci@localhost -c commit.gpgsign=false \
            commit -q -m "RustSec advisory-db snapshot"
    )
    MDMLINK_ADVISORY_DBS="$dbs" cargo deny --offline check --hide-inclusion-graph
}

run_miri() {
    # Installs nightly with Miri once if it is missing; when that is impossible
    # here (no network to the toolchain server, no nightly for this host) the
    # step says so plainly and does not fail: Miri is a bonus, not a gate.
    if ! cargo +nightly miri --version >/dev/null 2>&1; then
        say "Miri: installing nightly with miri and rust-src (once)"
        if ! rustup toolchain install nightly --profile minimal --component miri --component rust-src >"$logdir/miri-install.log" 2>&1 ||
            ! cargo +nightly miri --version >/dev/null 2>&1; then
            tail -n 5 "$logdir/miri-install.log" || true
            say "Miri: NOT RUN - no nightly toolchain with Miri could be installed on this machine (see above)"
            return 0
        fi
    fi
    say "Miri: the C API's unit tests (its unsafe code) and the library's fast unit tests"
    # Unit tests of the parsers and small types; crypto-heavy tests are
    # #[cfg_attr(miri, ignore)] or filtered out here. The C API's `tests` avoid RSA.
    # A build directory of its own per checkout: cargo-miri records the
    # checkout's path in what it builds, and a shared build directory reused
    # from another (deleted) clone fails with "No such file or directory".
    local miri_target
    miri_target="${CARGO_TARGET_DIR:-$root/target}/miri-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
    # A test too slow for Miri (RSA key generation takes hours there) must not
    # stall CI: each run has a deadline, and missing it fails the step. This
    # function runs in an `||` list, where `set -e` does not apply: every
    # command's failure is returned explicitly.
    MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" \
        timeout 900 cargo +nightly miri test --target-dir "$miri_target" -p mdmlink-capi --lib -- tests:: ||
        { say "Miri: the C API's tests FAILED"; return 1; }
    MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" \
        timeout 900 cargo +nightly miri test --target-dir "$miri_target" -p mdmlink --lib -- \
        name:: portal:: secret:: token::smime:: token::payload:: --skip token::filename:: ||
        { say "Miri: the library's tests FAILED"; return 1; }
    say "Miri: passed"
}

status=0
case "$what" in
all)
    start_deny_install
    run_fuzz || status=1
    run_deny || status=1
    run_miri || status=1
    ;;
fuzz) run_fuzz || status=1 ;;
deny) run_deny || status=1 ;;
miri) run_miri || status=1 ;;
*)
    echo "usage: $0 [all|fuzz|deny|miri]" >&2
    exit 2
    ;;
esac
if [ "$status" -ne 0 ]; then
    echo "hardening checks FAILED"
else
    echo "hardening checks passed"
fi
exit "$status"
