#!/usr/bin/env bash
# C API checks (the mdmlink-capi crate, capi/) that need more than `cargo test`
# (which already checks header drift, compiles the header as C99 and C++, and
# runs the C tests):
#   1. the C tests under valgrind: 0 errors, 0 bytes definitely lost;
#   2. the header compiled as C99 and C++ with -Wall -Wextra -Werror;
#   3. scripts/install.sh + pkg-config, static and shared, with the SONAME;
#   4. examples/c with make, on the real Apple token;
#   5. examples/go with `go test` against the installed copy (pkg-config, as a
#      Go program outside this checkout links it), then once in-tree
#      (`-tags mdmlink_intree`); Debian's golang-go, standard library only.
#      The device service and School and Business Manager API tests run
#      against target/debug/mdmlink-simulator (the C ones too).
# Every build goes to the workspace's one target directory (CARGO_TARGET_DIR
# if set, else target/).
# Expected time after scripts/test.sh: about 1.5 minutes (valgrind ~30 s,
# installing golang-go ~30 s); everything reuses the debug build.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
fixtures=$root/tests/fixtures/apple-token-1
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
work=$target_dir/ci-capi
rm -rf "$work" && mkdir -p "$work"
unset RUST_BACKTRACE

need_apt=()
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v g++ >/dev/null || need_apt+=(g++)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v readelf >/dev/null || need_apt+=(binutils)
command -v go >/dev/null || need_apt+=(golang-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "-- installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "-- header is current (scripts/gen-header.sh --verify)"
bash scripts/gen-header.sh --verify

echo "-- C tests under valgrind (test_portal_api.c against mdmlink-simulator)"
cargo build --quiet --all-features --bin mdmlink-simulator
export MDMLINK_SIMULATOR=$target_dir/debug/mdmlink-simulator
MDMLINK_C_TEST_WRAPPER="valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite" \
  cargo test --quiet -p mdmlink-capi --all-features --test capi -- --test-threads=2

echo "-- a C function of a feature not compiled in says so (the C crate without http)"
# `cargo test --all-features` cannot reach this test; it must run, not be
# filtered to nothing.
cargo test -p mdmlink-capi --lib -- --exact tests::a_function_of_a_missing_feature_says_so 2>&1 |
  tee "$work/no-http.out"
grep -q '^test result: ok. 1 passed' "$work/no-http.out"
echo "-- the store's School and Business Manager API calls without http say so"
cargo test -p mdmlink-capi --features sqlite --lib -- --exact tests::the_portal_api_without_http_says_so 2>&1 |
  tee "$work/no-http-store.out"
grep -q '^test result: ok. 1 passed' "$work/no-http-store.out"

echo "-- header compiles as C99 and C++"
printf '#include "mdmlink.h"\n#include "mdmlink.h"\nint main(void) { return (int)MDMLINK_STATUS_OK; }\n' > "$work/h.c"
cp "$work/h.c" "$work/h.cpp"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -Icapi/include -c "$work/h.c" -o "$work/h_c.o"
g++ -std=c++11 -Wall -Wextra -Werror -pedantic -Icapi/include -c "$work/h.cpp" -o "$work/h_cpp.o"

echo "-- install + pkg-config (static and shared)"
MDMLINK_PROFILE=debug bash scripts/install.sh "$work/prefix" >/dev/null
export PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' capi/Cargo.toml | head -n1)
minor=${version#*.}; minor=${minor%%.*}
soname=libmdmlink.so.0.$minor   # 0.x: every minor release may break the ABI (capi/build.rs)
readelf -d "$work/prefix/lib/libmdmlink.so" | grep -qF "Library soname: [$soname]"
test -L "$work/prefix/lib/$soname"
# The store is built in (install.sh's default features): pkg-config's Cflags
# say so, and a store call compiles without the program defining MDMLINK_STORE.
pkg-config --cflags mdmlink | grep -qF -- '-DMDMLINK_STORE'
printf '#include <mdmlink.h>\nint main(void) { mdmlink_store_free(0); return 0; }\n' > "$work/store.c"
# shellcheck disable=SC2046
gcc -std=c99 -Wall -Wextra -Werror -o "$work/store" "$work/store.c" $(pkg-config --cflags --libs mdmlink) \
  -Wl,-rpath,"$work/prefix/lib"
# shellcheck disable=SC2046
gcc -std=c99 -Wall -Wextra -Werror -o "$work/shared" examples/c/link_server.c $(pkg-config --cflags --libs mdmlink) \
  -Wl,-rpath,"$work/prefix/lib"
readelf -d "$work/shared" | grep -qF "Shared library: [$soname]"
# shellcheck disable=SC2046
gcc -std=c99 -Wall -Wextra -Werror -o "$work/static" examples/c/link_server.c $(pkg-config --cflags mdmlink) \
  "$work/prefix/lib/libmdmlink.a" $(pkg-config --static --libs-only-l mdmlink | sed 's/-lmdmlink//')
for prog in shared static; do
  "$work/$prog" "$work/$prog.pem" "$fixtures/apple-mdm-client-tests-1-server-token.p7m" \
    "$fixtures/apple-mdm-client-tests-1.pem" > "$work/$prog.out"
  grep -q "consumer key: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consumer_key"])' "$fixtures/expected.json")" "$work/$prog.out"
done

echo "-- examples/c (make run)"
make -s -C examples/c clean
make -s -C examples/c run | tee "$work/example.out"
grep -q '^consumer key: CK_' "$work/example.out"
grep -q '^days to expiry: ' "$work/example.out"
openssl x509 -in examples/c/server-cert.pem -noout -subject | grep -q 'Main MDM'
make -s -C examples/c clean

echo "-- examples/go (go test against the installed copy, through pkg-config; the store; the device service against mdmlink-simulator)"
export CI=true
export GOPATH=$target_dir/go/path GOCACHE=$target_dir/go/cache GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on
(
  cd examples/go
  test -z "$(gofmt -l .)"
  go vet ./...
  # The test binary must need the installed library by its SONAME.
  go test -c -o "$work/go.test" .
  readelf -d "$work/go.test" | grep -qF "Shared library: [$soname]"
  LD_LIBRARY_PATH=$work/prefix/lib go test -count=1 ./...
  echo "-- examples/go (go test -tags mdmlink_intree: the in-tree static library)"
  # The archive link_intree.go documents; examples/c rebuilt it without features.
  # link_intree.go names target/debug: point it at this run's target directory.
  (cd "$root" && cargo build --quiet -p mdmlink-capi --lib --features sqlite,http)
  if [ "$target_dir" != "$root/target" ]; then
    export CGO_LDFLAGS="-L$target_dir/debug"
  fi
  go vet -tags mdmlink_intree ./...
  go test -count=1 -tags mdmlink_intree ./...
)
echo "-- C API checks passed"
