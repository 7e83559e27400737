#!/usr/bin/env bash
# Installs the C library: scripts/install.sh PREFIX
#
#   PREFIX/lib/libmdmlink.so.X.Y.Z, the SONAME -> it (libmdmlink.so.0.Y for
#   0.x, libmdmlink.so.X from 1.0: see capi/build.rs), libmdmlink.so -> the
#   SONAME (for -lmdmlink), libmdmlink.a,
#   PREFIX/lib/pkgconfig/mdmlink.pc (its Cflags define the header's feature
#   macros the build has: -DMDMLINK_STORE with sqlite or postgres),
#   PREFIX/include/mdmlink.h and PREFIX/include/module.modulemap (Swift).
#
# The C library is the workspace's `mdmlink-capi` crate (capi/). It builds
# with `cargo build --release -p mdmlink-capi --lib --features sqlite,http`
# (the C API with its store and the device assignment service client; set
# MDMLINK_FEATURES to choose others, e.g. sqlite,http,postgres) unless
# MDMLINK_PROFILE=debug (then the debug build, which CI uses to avoid a second
# full build). Cargo names the artifacts libmdmlink_capi.{a,so} (the Rust
# library crate owns the name `mdmlink`); they are installed as libmdmlink.
# Set CARGO_TARGET_DIR if your target directory is elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: scripts/install.sh PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
profile=${MDMLINK_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
features=${MDMLINK_FEATURES:-sqlite,http}
# `capi` was the library's feature before the C API became its own crate:
# accept it in old command lines, it means nothing now.
features=$(printf '%s' "$features" | tr ',' '\n' | grep -vx 'capi' | paste -sd, -)
if [ "$profile" = release ]; then
  cargo build --quiet --release -p mdmlink-capi --lib --features "$features"
else
  cargo build --quiet -p mdmlink-capi --lib --features "$features"
fi
libdir="$target_dir/$profile"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' capi/Cargo.toml | head -n1)
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
if [ "$major" = 0 ]; then soname=libmdmlink.so.0.$minor; else soname=libmdmlink.so.$major; fi

# The header's feature guards this build answers: a C program compiled with
# `pkg-config --cflags mdmlink` sees exactly the functions the library exports.
cflags='-I${includedir}'
case ",$features," in
  *,sqlite,* | *,postgres,*) cflags="$cflags -DMDMLINK_STORE" ;;
esac
case ",$features," in
  *,ffi-test-hooks,*) cflags="$cflags -DMDMLINK_FFI_TEST_HOOKS" ;;
esac

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir/libmdmlink_capi.so" "$prefix/lib/libmdmlink.so.$version"
ln -sfn "libmdmlink.so.$version" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libmdmlink.so"
install -m 0644 "$libdir/libmdmlink_capi.a" "$prefix/lib/libmdmlink.a"
install -m 0644 capi/include/mdmlink.h capi/include/module.modulemap "$prefix/include/"
cat > "$prefix/lib/pkgconfig/mdmlink.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: mdmlink
Description: Link an MDM server to Apple Business Manager, School Manager and Business Essentials
Version: $version
Cflags: $cflags
Libs: -L\${libdir} -lmdmlink
Libs.private: -lpthread -ldl -lm
PC
echo "installed mdmlink $version into $prefix"
