#!/usr/bin/env bash
# End-to-end build times: strata vs `docker build` (BuildKit, dockerd 20.10) vs `buildah bud`
# (when installed), same scenarios, same machine, one run. Prints seconds and ratios to docker.
# Scenarios (goals as × docker): 40 RUN steps cold (≤ 0.10) and cached (≤ 0.5); 4 independent
# stages joined by COPY --from (≤ 0.5); a ~700 MB / ~45k-file context cold (≤ 0.3), no-op
# (≤ 0.1) and after one file edit (≤ 0.3).
# Needs root, /bin/busybox, a running dockerd, and `cargo build --release`.
# STRATA_BIN picks another strata binary; STRATA_BASELINE=/path/to/older/strata adds a column for
# that binary (its own store) so a change is measured before and after in the same run;
# BENCH_SCENARIOS=runs measures only the 40-RUN scenarios (no big context).
# STRATA_ROOTLESS_USER=NAME adds a rootless column: the same scenarios built by that user (who
# needs ranges in /etc/subuid and /etc/subgid, and read access to the strata binary), with its
# own store, and the ratio rootless / root (goal: ≤ 1.15 on every scenario).
# BENCH_CHROOT=1 adds a column for chroot isolation measured where it is meant to run: strata
# inside an unprivileged container (docker's default capabilities and seccomp profile, an image
# of the strata binary, its libraries and busybox), its store on a bind mount of the same disk,
# each build a `docker exec`, timed inside the container (so without the exec's ~0.1 s).
# On ext4 without a journal, creating files next to directories where many files were deleted
# in the last minutes is slow (the inode allocator skips recently freed inodes), and this script
# deletes ~200k files when it ends: give each run a fresh TMPDIR (e.g. a new top-level dir) or
# later runs measure the file system more than the builders.
set -euo pipefail
# A build that fails inside $(...) must stop the run, not print a meaningless time.
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
strata="${STRATA_BIN:-$repo/target/release/strata}"
[ -x "$strata" ] || { echo "build first: cargo build --release" >&2; exit 1; }
docker=/usr/bin/docker
export DOCKER_BUILDKIT=1
work="$(mktemp -d "${TMPDIR:-/var/tmp}/strata-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export STRATA_ROOT="$work/root"
have_buildah=false
command -v buildah >/dev/null 2>&1 && have_buildah=true
buildah_before=""
$have_buildah && buildah_before=$(buildah images -q -a 2>/dev/null | sort -u)

now() { date +%s.%N; }
secs() { echo "$(now) - $1" | bc; }

# The same busybox base for everyone: strata builds it, docker and buildah load strata's save.
mkdir -p "$work/base"
cp /bin/busybox "$work/base/busybox"
cat > "$work/base/Dockerfile" <<'D'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
D
"$strata" build -q -t bench-base:1 "$work/base" >/dev/null
baseline="${STRATA_BASELINE:-}"
if [ -n "$baseline" ]; then
  STRATA_ROOT="$work/root-baseline" "$baseline" build -q -t bench-base:1 "$work/base" >/dev/null
fi
only="${BENCH_SCENARIOS:-all}"
chroot_box=""
if [ -n "${BENCH_CHROOT:-}" ]; then
  rootfs="$work/chroot-image"
  mkdir -p "$rootfs/bin" "$rootfs/usr/local/bin" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp "$strata" "$rootfs/usr/local/bin/strata"
  cp /bin/busybox "$rootfs/bin/busybox"
  ln -s busybox "$rootfs/bin/sh"
  for lib in $(ldd "$strata" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  tar -C "$rootfs" -cf "$work/chroot-image.tar" .
  $docker import "$work/chroot-image.tar" strata-bench-chroot:1 >/dev/null
  chroot_box="strata-bench-chroot-$$"
  mkdir -p "$work/root-chroot"
  $docker run -d --rm --name "$chroot_box" -v "$work:$work" -e STRATA_ROOT="$work/root-chroot" \
    strata-bench-chroot:1 /bin/busybox sleep 100000 >/dev/null
  trap '$docker rm -f "$chroot_box" >/dev/null 2>&1; $docker rmi strata-bench-chroot:1 >/dev/null 2>&1; rm -rf "$work"' EXIT
  $docker exec "$chroot_box" strata build -q -t bench-base:1 "$work/base" >/dev/null 2>&1
fi
"$strata" save bench-base:1 -o "$work/base.tar"
rootless_user="${STRATA_ROOTLESS_USER:-}"
if [ -n "$rootless_user" ]; then
  # The user reads the contexts and the base from $work and keeps its store and log in
  # $work/rootless.
  chmod 755 "$work"
  chmod 644 "$work/base.tar"
  mkdir -p "$work/rootless"
  chown "$rootless_user": "$work/rootless"
  rootless_home=$(getent passwd "$rootless_user" | cut -d: -f6)
  # `as_user SCRIPT ARGS…`: a bash script run as the user, with strata's path in $STRATA.
  as_user() {
    local script=$1
    shift
    setpriv --reuid="$rootless_user" --regid="$(id -g "$rootless_user")" --init-groups \
      env -i HOME="$rootless_home" USER="$rootless_user" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
      STRATA_ROOT="$work/rootless/store" STRATA="$strata" LOG="$work/rootless/log" \
      bash -c "$script" bash "$@"
  }
  as_user '"$STRATA" load -q -i "$1" >/dev/null' "$work/base.tar"
fi
$docker load -q -i "$work/base.tar" >/dev/null
$have_buildah && buildah pull -q "docker-archive:$work/base.tar" >/dev/null 2>&1 || have_buildah=false

mkdir -p "$work/runs" "$work/stages" "$work/big"
{ echo "FROM bench-base:1"; for i in $(seq 1 40); do echo "RUN echo step $i > /step-$i"; done; } > "$work/runs/Dockerfile"
cat > "$work/stages/Dockerfile" <<'D'
FROM bench-base:1 AS a
RUN i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo a > /a
FROM bench-base:1 AS b
RUN i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo b > /b
FROM bench-base:1 AS c
RUN i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo c > /c
FROM bench-base:1 AS d
RUN i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo d > /d
FROM bench-base:1
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=c /c /c
COPY --from=d /d /d
D
[ "$only" = runs ] || echo "==> making a ~700 MB / ~45k-file context"
[ "$only" = runs ] || python3 - "$work/big" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(450):
    os.makedirs(f"{root}/src/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/src/d{d}/f{f}.txt", "wb") as out:
            out.write(os.urandom(15000) if f % 2 else (b"line %d %d\n" % (d, f)) * 1500)
PY
cat > "$work/big/Dockerfile" <<'D'
FROM bench-base:1
COPY src /src
RUN ls /src | wc -l
D

declare -A T
run_strata() { local t; t=$(now); "$strata" build -q "$@" >/dev/null; secs "$t"; }
run_baseline() { local t; t=$(now); STRATA_ROOT="$work/root-baseline" "$baseline" build -q "$@" >/dev/null; secs "$t"; }
# Timed inside the user's shell (setpriv and env are not strata's cost); the build announces
# its mode on stderr, kept in a log that is shown if the build fails.
run_rootless() {
  as_user 't=$(date +%s.%N)
    "$STRATA" build -q "$@" >/dev/null 2>"$LOG" || { cat "$LOG" >&2; exit 1; }
    echo "$(date +%s.%N) - $t" | bc' "$@"
}
# Timed inside the container from /proc/uptime (10 ms steps), so `docker exec` is not counted.
run_chroot() {
  local times
  times=$($docker exec "$chroot_box" sh -c \
    'read a _ < /proc/uptime; strata build -q "$@" >/dev/null 2>&1 || exit 1; read b _ < /proc/uptime; echo "$b - $a"' \
    sh "$@")
  echo "$times" | bc
}
run_docker() { local t; t=$(now); $docker build -q "$@" >/dev/null; secs "$t"; }
run_buildah() { local t; t=$(now); buildah bud -q --layers "$@" >/dev/null 2>&1; secs "$t"; }

scenario() { # name, context, mode (cold|cached)
  local name=$1 ctx=$2 mode=$3
  if [ "$mode" = cold ]; then
    T[$name,strata]=$(run_strata --no-cache "$ctx")
    [ -n "$baseline" ] && T[$name,baseline]=$(run_baseline --no-cache "$ctx")
    [ -n "$rootless_user" ] && T[$name,rootless]=$(run_rootless --no-cache "$ctx")
    [ -n "$chroot_box" ] && T[$name,chroot]=$(run_chroot --no-cache "$ctx")
    T[$name,docker]=$(run_docker --no-cache "$ctx")
    $have_buildah && T[$name,buildah]=$(run_buildah --no-cache "$ctx")
  else
    T[$name,strata]=$(run_strata "$ctx")
    [ -n "$baseline" ] && T[$name,baseline]=$(run_baseline "$ctx")
    [ -n "$rootless_user" ] && T[$name,rootless]=$(run_rootless "$ctx")
    [ -n "$chroot_box" ] && T[$name,chroot]=$(run_chroot "$ctx")
    T[$name,docker]=$(run_docker "$ctx")
    $have_buildah && T[$name,buildah]=$(run_buildah "$ctx")
  fi
  return 0
}

echo "==> measuring"
scenario "40 RUN cold" "$work/runs" cold
scenario "40 RUN cached" "$work/runs" cached
names=("40 RUN cold" "40 RUN cached")
if [ "$only" != runs ]; then
  scenario "4 stages" "$work/stages" cold
  scenario "big ctx cold" "$work/big" cold
  scenario "big ctx no-op" "$work/big" cached
  echo "edited" >> "$work/big/src/d7/f3.txt"
  scenario "big ctx 1 edit" "$work/big" cached
  names+=("4 stages" "big ctx cold" "big ctx no-op" "big ctx 1 edit")
fi

printf '%-16s %9s %9s %9s %8s' scenario strata docker buildah ratio
[ -n "$baseline" ] && printf ' %9s %8s' baseline b-ratio
[ -n "$rootless_user" ] && printf ' %9s %8s' rootless rl/root
[ -n "$chroot_box" ] && printf ' %9s %8s' chroot c-ratio
printf '\n'
for name in "${names[@]}"; do
  s=${T[$name,strata]}; d=${T[$name,docker]}; b=${T[$name,buildah]:-}
  [ -n "$b" ] && b=$(printf '%.3f' "$b")
  printf '%-16s %9.3f %9.3f %9s %8.3f' "$name" "$s" "$d" "${b:--}" "$(echo "$s / $d" | bc -l)"
  if [ -n "$baseline" ]; then
    o=${T[$name,baseline]}
    printf ' %9.3f %8.3f' "$o" "$(echo "$o / $d" | bc -l)"
  fi
  if [ -n "$rootless_user" ]; then
    r=${T[$name,rootless]}
    printf ' %9.3f %8.3f' "$r" "$(echo "$r / $s" | bc -l)"
  fi
  if [ -n "$chroot_box" ]; then
    c=${T[$name,chroot]}
    printf ' %9.3f %8.3f' "$c" "$(echo "$c / $d" | bc -l)"
  fi
  printf '\n'
done

$docker rmi -f bench-base:1 >/dev/null 2>&1 || true
# buildah's images this run made (its builds leave untagged layer images), and only those.
if $have_buildah; then
  comm -13 <(echo "$buildah_before") <(buildah images -q -a 2>/dev/null | sort -u) |
    xargs -r buildah rmi -f >/dev/null 2>&1 || true
fi
