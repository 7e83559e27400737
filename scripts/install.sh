#!/usr/bin/env bash
# Installs the C library: scripts/install.sh PREFIX
#
#   PREFIX/lib/libmdmlink.so.X.Y.Z, the SONAME -> it (libmdmlink.so.0.Y for
#   0.x, libmdmlink.so.X from 1.0: see build.rs), libmdmlink.so -> the SONAME
#   (for -lmdmlink), libmdmlink.a,
#   PREFIX/lib/pkgconfig/mdmlink.pc, PREFIX/include/mdmlink.h and
#   PREFIX/include/module.modulemap (Swift).
#
# Builds with `cargo build --release --lib --features capi,sqlite,http` (the C API
# with its store and the device assignment service client; set
# MDMLINK_FEATURES to choose others, e.g. capi,sqlite,http,postgres) unless
# MDMLINK_PROFILE=debug (then
# the debug build, which CI uses to avoid a second full build). Set
# CARGO_TARGET_DIR if your target directory is elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: scripts/install.sh PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
profile=${MDMLINK_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
features=${MDMLINK_FEATURES:-capi,sqlite,http}
if [ "$profile" = release ]; then
  cargo build --quiet --release --lib --features "$features"
else
  cargo build --quiet --lib --features "$features"
fi
libdir="$target_dir/$profile"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
if [ "$major" = 0 ]; then soname=libmdmlink.so.0.$minor; else soname=libmdmlink.so.$major; fi

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir/libmdmlink.so" "$prefix/lib/libmdmlink.so.$version"
ln -sfn "libmdmlink.so.$version" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/libmdmlink.so"
install -m 0644 "$libdir/libmdmlink.a" "$prefix/lib/libmdmlink.a"
install -m 0644 include/mdmlink.h include/module.modulemap "$prefix/include/"
cat > "$prefix/lib/pkgconfig/mdmlink.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: mdmlink
Description: Link an MDM server to Apple Business Manager, School Manager and Business Essentials
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lmdmlink
Libs.private: -lpthread -ldl -lm
PC
echo "installed mdmlink $version into $prefix"
