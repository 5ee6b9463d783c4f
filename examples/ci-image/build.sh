#!/usr/bin/env bash
# Builds the CI image `strata-ci` with strata itself: the release binary goes into this
# context, the Debian base comes from a registry (`BASE=…` picks another, e.g. one made with
# `strata import rootfs.tar debian:bookworm-slim` where no registry is reachable).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
(cd "$repo" && cargo build --release --quiet)
cp "$repo/target/release/strata" "$here/strata"
trap 'rm -f "$here/strata"' EXIT
"$repo/target/release/strata" build -t "${TAG:-strata-ci}" \
  --build-arg "BASE=${BASE:-debian:bookworm-slim}" "$here"
