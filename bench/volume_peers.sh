#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 6's peer benchmark, berth against docker (Debian's docker.io) and
# podman (Debian's) in one run, the same commands for each tool:
#  - lifecycle: `volume create`, `run --rm -v VOL:/v busybox sh -c 'echo hello
#    > /v/first'`, `volume rm` (median of BENCH_RUNS rounds, per step and total);
#  - copy-up: `run --rm -v NEWVOL:/data IMG true` where IMG's /data holds
#    10,000 files that the engine copies into the empty volume at first
#    mount, against `run --rm IMG true` without the volume (median of 5).
# All runs use --network none, so no network setup is measured.
#
# Nothing of the host is touched: everything runs inside `unshare --mount
# --net`; dockerd and podman keep their state under one temp dir; the dockerd
# started here is stopped by PID.
#
# Usage: bench/volume_peers.sh [BUILD_DIR]   (root)
#   BENCH_RUNS=20   lifecycle rounds per tool
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
berth=$build/berth
[ -x "$berth" ] || { echo "berth binary not found: $berth" >&2; exit 1; }

# shellcheck source=bench/peers_lib.sh
. "$(dirname "$0")/peers_lib.sh"
peers_enter docker.io podman bc

runs=${BENCH_RUNS:-20}
ip link set lo up
work=$(mktemp -d /tmp/berth-vpeers-XXXXXX)
mkdir -p "$work/run" "$work/res" "$work/ctx"
export BERTH_ROOT=$work/berth-root BERTH_RUN=$work/run/berth BERTH_PREFIX=bvp$$
dockerd_pid=""
cleanup() {
    set +e
    peers_stop
    rm -rf "$work"
}
trap cleanup EXIT
peers_start

# The copy-up image: busybox with 10,000 small files in /data, built by berth
# and loaded into the peers, so every tool copies the same tree.
cat >"$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
RUN mkdir /data && cd /data && i=0 && while [ $i -lt 10000 ]; do echo "file $i" > f$i; i=$((i+1)); done
DOCKERFILE
"$berth" build -q --network none -t bench/copyup:1 "$work/ctx" >/dev/null
"$berth" save -o "$work/copyup.tar" bench/copyup:1
docker_cli load -i "$work/copyup.tar" >/dev/null
podman load -q -i "$work/copyup.tar" >/dev/null

tool() {  # tool NAME ARGS... runs the named tool
    local t=$1
    shift
    case $t in
    berth) "$berth" "$@" ;;
    docker) docker_cli "$@" ;;
    podman) podman "$@" ;;
    esac
}
now_ns() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Warm-up: one of each command per tool.
for t in berth docker podman; do
    tool "$t" volume create warm >/dev/null
    tool "$t" run --rm --network none -v warm:/v busybox true
    tool "$t" volume rm warm >/dev/null
done

for i in $(seq 1 "$runs"); do
    for t in berth docker podman; do
        t0=$(now_ns)
        tool "$t" volume create "lc$i" >/dev/null
        t1=$(now_ns)
        tool "$t" run --rm --network none -v "lc$i:/v" busybox sh -c 'echo hello > /v/first'
        t2=$(now_ns)
        tool "$t" volume rm "lc$i" >/dev/null
        t3=$(now_ns)
        echo "$(ms "$t0" "$t1")" >>"$work/res/$t.create"
        echo "$(ms "$t1" "$t2")" >>"$work/res/$t.run"
        echo "$(ms "$t2" "$t3")" >>"$work/res/$t.rm"
        echo "$(ms "$t0" "$t3")" >>"$work/res/$t.total"
    done
done
for i in 1 2 3 4 5; do
    for t in berth docker podman; do
        t0=$(now_ns)
        tool "$t" run --rm --network none bench/copyup:1 true
        t1=$(now_ns)
        tool "$t" run --rm --network none -v "cu$i:/data" bench/copyup:1 true
        t2=$(now_ns)
        n=$(tool "$t" run --rm --network none -v "cu$i:/data" busybox sh -c 'ls /data | wc -l')
        [ "$n" = 10000 ] || { echo "$t: the volume holds $n files, not 10000" >&2; exit 1; }
        tool "$t" volume rm "cu$i" >/dev/null
        echo "$(ms "$t0" "$t1")" >>"$work/res/$t.plain"
        echo "$(ms "$t1" "$t2")" >>"$work/res/$t.copyup"
    done
done

m() { median <"$work/res/$1"; }
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "versions: $("$berth" version 2>/dev/null | head -1), docker $(docker_cli version -f '{{.Server.Version}}'), podman $(podman version -f '{{.Version}}')"
echo "medians in ms; lifecycle over $runs rounds, copy-up over 5; all runs --network none"
echo
echo "| step | berth | docker | podman |"
echo "| --- | --- | --- | --- |"
for s in create run rm total; do
    echo "| lifecycle: $s | $(m berth.$s) | $(m docker.$s) | $(m podman.$s) |"
done
echo "| run --rm IMG true (no volume) | $(m berth.plain) | $(m docker.plain) | $(m podman.plain) |"
echo "| run --rm -v NEW:/data IMG true (10,000-file copy-up) | $(m berth.copyup) | $(m docker.copyup) | $(m podman.copyup) |"
for t in berth docker podman; do
    echo "$t copy-up cost over a plain run: $(echo "$(m $t.copyup) - $(m $t.plain)" | bc) ms" >&2
done
