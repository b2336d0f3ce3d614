#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark of `berth up -d` / a no-op second `up -d` / `down -v` on a generated
# project of N busybox services (a chain of depends_on every 5th service, one
# named volume), run as root in a private network namespace and a scratch root
# so that the host's links, firewall and data root are never touched.
# Usage: bench/compose_up.sh [BERTH_BINARY] [SERVICES]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
berth=${1:-$here/build/berth}
n=${2:-20}
[ -x "$berth" ] || { echo "berth binary not found: $berth" >&2; exit 1; }
berth=$(cd "$(dirname "$berth")" && pwd)/$(basename "$berth")
if [ -z "${BERTH_BENCH_INNER:-}" ]; then
    exec env BERTH_BENCH_INNER=1 unshare --net -- "$0" "$berth" "$n"
fi
ip link set lo up
work=$(mktemp -d)
export BERTH_ROOT="$work/root" BERTH_RUN="$work/run" BERTH_PREFIX="bb$$"
cleanup() {
    "$berth" down -v -t 1 -f "$work/compose.yaml" >/dev/null 2>&1 || true
    for d in /sys/fs/cgroup/*/"$BERTH_PREFIX" /sys/fs/cgroup/"$BERTH_PREFIX"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
{
    echo "name: bench"
    echo "services:"
    i=1
    while [ "$i" -le "$n" ]; do
        echo "  s$i:"
        echo "    image: busybox"
        echo "    command: [\"sleep\", \"3600\"]"
        echo "    stop_signal: SIGKILL"
        if [ $((i % 5)) -eq 0 ]; then
            echo "    depends_on: [s$((i - 1))]"
            echo "    volumes: [\"data:/data\"]"
        fi
        i=$((i + 1))
    done
    echo "volumes:"
    echo "  data:"
} >"$work/compose.yaml"
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
t0=$(now); "$berth" up -d -f "$work/compose.yaml" 2>/dev/null; t1=$(now)
"$berth" up -d -f "$work/compose.yaml" 2>/dev/null; t2=$(now)
"$berth" down -v -f "$work/compose.yaml" 2>/dev/null; t3=$(now)
echo "services=$n up=$(elapsed "$t0" "$t1")s noop_up=$(elapsed "$t1" "$t2")s down=$(elapsed "$t2" "$t3")s"
