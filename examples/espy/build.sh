#!/usr/bin/env bash
# Builds the example image `espy-docker` from nothing but Debian packages (no registry needed):
# first a busybox base image (`strata-busybox:latest`, from Debian's busybox-static), then espy on it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
if [ ! -x /bin/busybox ]; then
  echo "==> installing busybox-static"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
echo "==> building strata"
cargo build --release --quiet
strata="$repo/target/release/strata"
cp /bin/busybox examples/base/busybox
echo "==> strata build -t strata-busybox:latest examples/base"
"$strata" build -t strata-busybox:latest examples/base
echo "==> strata build -t espy-docker examples/espy"
"$strata" build -t espy-docker examples/espy "$@"
