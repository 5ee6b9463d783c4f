#!/usr/bin/env bash
# The shared build cache end to end: root A builds 40 RUN steps plus a ~100 MB layer cold and
# exports its cache (local dir, and a registry when Debian's docker-registry is installed);
# root B, with only the base image, builds the same Dockerfile from that cache. Prints each
# time: B's build is download + unpack only (no RUN), and a second export sends nothing.
# Needs root, /bin/busybox and a release build (`cargo build --release`; STRATA=path overrides).
set -euo pipefail
# A command that fails inside $(...) must stop the run, not print a meaningless time.
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
strata="${STRATA:-$repo/target/release/strata}"
[ -x "$strata" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/var/tmp}/strata-cachex.XXXXXX")"
registry_pid=""
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
a() { "$strata" --root "$work/a" "$@"; }
b() { "$strata" --root "$work/b-$1" "${@:2}"; }

mkdir -p "$work/rootfs/bin" "$work/ctx"
cp /bin/busybox "$work/rootfs/bin/busybox"
for x in sh head yes echo; do ln -s busybox "$work/rootfs/bin/$x"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
a import --change 'ENV PATH=/bin' "$work/rootfs.tar" bench-base:1 >/dev/null
a save -o "$work/base.tar" bench-base:1
{
  echo "FROM bench-base:1"
  echo "RUN yes 'a compressible line of text 0123456789' | head -c 100000000 > /big"
  for i in $(seq 1 40); do echo "RUN echo step-$i > /f$i"; done
} > "$work/ctx/Dockerfile"

t=$(now); a build -q --cache-to "type=local,dest=$work/cache" "$work/ctx" >/dev/null; cold=$(elapsed "$t")
t=$(now); a build -q --cache-to "type=local,dest=$work/cache" "$work/ctx" >/dev/null; again=$(elapsed "$t")
b local load -i "$work/base.tar" >/dev/null
t=$(now); b local build -q --cache-from "type=local,src=$work/cache" "$work/ctx" >/dev/null; imported=$(elapsed "$t")
printf 'local cache:    A cold + export %6.2fs   A cached + export again %6.2fs   B from cache %6.2fs (%.2f× A cold)\n' \
  "$cold" "$again" "$imported" "$(echo "$imported / $cold" | bc -l)"

if [ -x /usr/bin/docker-registry ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/registry" "$port" > "$work/registry.yml"
  /usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  ref="127.0.0.1:$port/bench/cache:latest"
  t=$(now); a build -q --cache-to "type=registry,ref=$ref" "$work/ctx" >/dev/null; push=$(elapsed "$t")
  b reg load -i "$work/base.tar" >/dev/null
  t=$(now); b reg build -q --cache-from "type=registry,ref=$ref" "$work/ctx" >/dev/null; pull=$(elapsed "$t")
  printf 'registry cache: A cached + export %6.2fs   B from cache %6.2fs (%.2f× A cold)\n' \
    "$push" "$pull" "$(echo "$pull / $cold" | bc -l)"
fi
