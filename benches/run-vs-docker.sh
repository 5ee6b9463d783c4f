#!/usr/bin/env bash
# Start-up overhead of a container: `strata run --rm IMAGE true` vs `docker run --rm IMAGE true`
# (dockerd 20.10), same busybox image, same machine, one run. Prints the median of N runs of
# each and the ratio strata/docker (goal: ≤ 0.25), then the same for `--network none`.
# Needs root, /bin/busybox, a running dockerd, and `cargo build --release`.
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
strata="${STRATA:-${CARGO_TARGET_DIR:-$repo/target}/release/strata}"
[ -x "$strata" ] || { echo "build first: cargo build --release" >&2; exit 1; }
docker=/usr/bin/docker
runs=${RUNS:-15}
work="$(mktemp -d "${TMPDIR:-/var/tmp}/strata-bench-run.XXXXXX")"
image="strata-bench-run:$$"
trap '$docker rmi -f "$image" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export STRATA_ROOT="$work/root"

# One busybox image for both: strata builds it, docker loads strata's save.
mkdir -p "$work/base"
cp /bin/busybox "$work/base/busybox"
cat > "$work/base/Dockerfile" <<'D'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
D
"$strata" build -q -t "$image" "$work/base" >/dev/null
"$strata" save "$image" -o "$work/image.tar"
$docker load -q -i "$work/image.tar" >/dev/null

now() { date +%s.%N; }
# The median of $runs timings of "$@" (one warm-up run first, not counted).
median() {
  "$@" >/dev/null
  local times=() t
  for _ in $(seq 1 "$runs"); do
    t=$(now)
    "$@" >/dev/null
    times+=("$(echo "$(now) - $t" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

printf '%-34s %10s %10s %8s\n' "scenario" "strata s" "docker s" "ratio"
row() { # name, extra flags…
  local name=$1; shift
  local s d
  s=$(median "$strata" run --rm "$@" "$image" true)
  d=$(median "$docker" run --rm "$@" "$image" true)
  printf '%-34s %10.3f %10.3f %8.2f\n' "$name" "$s" "$d" "$(echo "$s / $d" | bc -l)"
}
row "run --rm IMAGE true" 
row "run --rm --network none IMAGE true" --network none
row "run --rm --network host IMAGE true" --network host
