#!/usr/bin/env bash
# Save and load of a ~700 MB image (several layers, random and compressible data) with strata
# and with docker, in one run on this machine; prints each time and strata's ratio to docker.
# `load again` loads the same tarball a second time, every layer already in the store (a CI
# runner loading yesterday's image): both tools only check what they already have.
# Goal: save ≤ 0.5× docker save, load ≤ 0.5× docker load, load again ≤ 0.5× docker's.
# Needs root, /bin/busybox, a running dockerd and a release build (`cargo build --release`;
# the binary is taken from $CARGO_TARGET_DIR when set, else from target/).
set -euo pipefail
# A command that fails inside $(...) must stop the run, not print a meaningless time.
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
strata="${CARGO_TARGET_DIR:-$repo/target}/release/strata"
[ -x "$strata" ] || { echo "build first: cargo build --release" >&2; exit 1; }
docker=/usr/bin/docker
work="$(mktemp -d "${TMPDIR:-/var/tmp}/strata-xchg.XXXXXX")"
trap 'rm -rf "$work"; $docker rmi -f strata-xchg-bench:1 >/dev/null 2>&1 || true' EXIT
export STRATA_ROOT="$work/root"

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
# Each timed operation starts from a quiet disk and a cold page cache, and pays for its own
# writeback (the `sync` is inside the timing): otherwise one tool's dirty pages slow the next.
settle() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; sleep 1; }

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/ctx"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh head yes cat dd; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$strata" import --change 'ENV PATH=/bin' "$work/rootfs.tar" bench-base:1 >/dev/null
cat > "$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM bench-base:1
RUN head -c 200000000 /dev/urandom > /random-1
RUN head -c 200000000 /dev/urandom > /random-2
RUN yes 'strata compressible line of text 0123456789' | head -c 150000000 > /text-1
RUN yes 'another compressible line, different content' | head -c 150000000 > /text-2
DOCKERFILE
echo "==> building the image (~700 MB, 5 layers)"
"$strata" build -q -t strata-xchg-bench:1 "$work/ctx" >/dev/null

settle; t=$(now); "$strata" save -o "$work/strata.tar" strata-xchg-bench:1; sync; strata_save=$(elapsed "$t")
size=$(stat -c %s "$work/strata.tar")
$docker rmi -f strata-xchg-bench:1 >/dev/null 2>&1 || true
settle; t=$(now); $docker load -i "$work/strata.tar" >/dev/null; sync; docker_load=$(elapsed "$t")
settle; t=$(now); $docker save -o "$work/docker.tar" strata-xchg-bench:1; sync; docker_save=$(elapsed "$t")
export STRATA_ROOT="$work/root2"
settle; t=$(now); "$strata" load -i "$work/docker.tar" >/dev/null; sync; strata_load=$(elapsed "$t")
settle; t=$(now); $docker load -i "$work/docker.tar" >/dev/null; sync; docker_reload=$(elapsed "$t")
settle; t=$(now); "$strata" load -i "$work/docker.tar" >/dev/null; sync; strata_reload=$(elapsed "$t")

printf '%-14s %10s %10s %8s\n' "image bytes" "$size" "" ""
printf '%-14s %10s %10s %8s\n' "operation" "strata s" "docker s" "ratio"
printf '%-14s %10.2f %10.2f %8.2f\n' save "$strata_save" "$docker_save" "$(echo "$strata_save / $docker_save" | bc -l)"
printf '%-14s %10.2f %10.2f %8.2f\n' load "$strata_load" "$docker_load" "$(echo "$strata_load / $docker_load" | bc -l)"
printf '%-14s %10.2f %10.2f %8.2f\n' "load again" "$strata_reload" "$docker_reload" "$(echo "$strata_reload / $docker_reload" | bc -l)"
