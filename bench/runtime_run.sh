#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Median time of N container runs of /bin/true on a busybox bundle: the
# built-in runtime (bench/runtime_bench.cpp: run + wait + cgroup removal)
# against `crun run` on the same bundle. Needs root, busybox-static and crun.
# Usage: bench/runtime_run.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-50}
bench_bin=$build/bench/berth_runtime_bench
[ -x "$bench_bin" ] || { echo "build $bench_bin first (target berth_runtime_bench)" >&2; exit 2; }
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev" \
    "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
echo 'root:x:0:' > "$work/rootfs/etc/group"
"$bench_bin" --default-spec > "$work/default.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
s = json.load(open(w + "/default.json"))
s["process"]["args"] = ["/bin/true"]
s["root"] = {"path": "rootfs", "readonly": False}
s["hostname"] = "bench"
s["linux"]["cgroupsPath"] = "/berth-bench-" + str(__import__("os").getpid())
json.dump(s, open(w + "/config.json", "w"), indent=1)
PY
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours=$("$bench_bin" "$work" "$n" | grep -v median_ms | median)
# Same, but one bench process per run, so that process start-up counts as it
# does for crun.
ours_exec=$(for i in $(seq 1 "$n"); do
    t0=$(date +%s%N)
    "$bench_bin" "$work" 1 >/dev/null
    t1=$(date +%s%N)
    echo "scale=3; ($t1 - $t0) / 1000000" | bc
done | median)
theirs=$(for i in $(seq 1 "$n"); do
    t0=$(date +%s%N)
    crun run --bundle "$work" "berth-bench-$$-$i" >/dev/null
    t1=$(date +%s%N)
    echo "scale=3; ($t1 - $t0) / 1000000" | bc
done | median)
echo "runs: $n"
echo "berth built-in runtime median: ${ours} ms"
echo "berth, one process per run:    ${ours_exec} ms"
echo "crun run median:              ${theirs} ms"
echo "ratio berth/crun:             $(echo "scale=2; $ours / $theirs" | bc)"
echo "ratio (one process per run):  $(echo "scale=2; $ours_exec / $theirs" | bc)"
