#!/usr/bin/env bash
# The repository stands on its own: clone the committed HEAD into an empty
# temporary directory with nothing beside it (no ../shared), then run the
# README's test command and the C example there.
#
# The clone reuses this checkout's target directory (CARGO_TARGET_DIR), so only
# mdmlink itself is compiled again: about 2-3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
parent=$(mktemp -d)
trap 'rm -rf "$parent"' EXIT
git clone --quiet --no-hardlinks "$root" "$parent/mdmlink"
cd "$parent/mdmlink"
if [ -e ../shared ]; then
  echo "fresh clone: ../shared exists beside the clone; the check would prove nothing" >&2
  exit 1
fi
echo "-- fresh clone of $(git rev-parse --short HEAD) in $parent/mdmlink"
export CARGO_TARGET_DIR="$root/target"
bash scripts/test.sh
make -C examples/c run ROOT="$PWD" LIBDIR="$CARGO_TARGET_DIR/debug"
