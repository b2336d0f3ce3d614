#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 8's benchmark: `up -d` and `down -v` of N = 1, 10, 50 busybox services
# (one network, one named volume, depends_on chains of 5) for berth,
# docker-compose (Debian's, on a private dockerd) and podman-compose (Debian's,
# on a private podman store), same file and image, in one run; berth's no-op
# `up -d`; and `down` of 10 containers whose PID 1 ignores SIGTERM, in one
# depends_on chain and independent, with and without `init: true`.
#
# Nothing of the host is touched: peers are installed from Debian if missing,
# then everything runs inside `unshare --mount --net` (private links, firewall
# and mounts); dockerd, containerd and podman keep their data and runtime
# state under one temp dir, and the dockerd started here is stopped by PID.
#
# Usage: bench/compose_peers.sh [BUILD_DIR]   (root)
#   BENCH_FS=journal            journal (default): all tools' state on a journaled
#                               ext4 image and runtime state on tmpfs; host: on /tmp
#   BENCH_SIZES="1 10 50"       service counts
#   BENCH_PODMAN_MAX=10         skip podman-compose above this N (it takes minutes at 50)
#   BENCH_SIGTERM_PEERS=1       0: skip the SIGTERM-chain `down` of the peers (~100 s each)
#   BENCH_SIGTERM=1             0: skip every SIGTERM `down` (berth's chains take ~100 s each)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
berth=$build/berth
[ -x "$berth" ] || { echo "berth binary not found: $berth" >&2; exit 1; }

# shellcheck source=bench/peers_lib.sh
. "$(dirname "$0")/peers_lib.sh"
peers_enter docker.io docker-compose podman podman-compose bc iproute2

sizes=${BENCH_SIZES:-1 10 50}
podman_max=${BENCH_PODMAN_MAX:-10}
sigterm_peers=${BENCH_SIGTERM_PEERS:-1}
sigterm=${BENCH_SIGTERM:-1}
[ "$sigterm" = 1 ] || sigterm_peers=0

ip link set lo up
work=$(mktemp -d /tmp/berth-cpeers-XXXXXX)
# Storage as on a stock Debian host, for every tool alike: state on a
# journaled ext4 (this machine's root ext4 has no journal, and without one
# ext4 scans for recently deleted inodes at each inode allocation, which
# dominated all tools' create/remove cost), runtime state on tmpfs (/run).
# BENCH_FS=host keeps everything on the host's file system instead.
fs_image=""
if [ "${BENCH_FS:-journal}" = journal ]; then
    fs_image=$(mktemp /tmp/berth-cpeers-fs-XXXXXX.img)
    truncate -s 8G "$fs_image"
    mkfs.ext4 -q -F -O has_journal "$fs_image"
    mount -o loop "$fs_image" "$work"
    mkdir -p "$work/run"
    mount -t tmpfs tmpfs "$work/run"
fi
mkdir -p "$work/run"
export BERTH_ROOT=$work/berth-root BERTH_RUN=$work/run/berth BERTH_PREFIX=bcp$$
dockerd_pid=""

cleanup() {
    set +e
    for f in "$work"/files/*/compose.yaml; do
        [ -f "$f" ] || continue
        "$berth" down -v -t 0 -p "$(basename "$(dirname "$f")")" -f "$f" >/dev/null 2>&1
    done
    podman pod rm -af >/dev/null 2>&1
    peers_stop
    # peers_stop unmounted everything under $work, the ext4 image included.
    [ -n "$fs_image" ] && rm -f "$fs_image"
    rm -rf "$work"
}
trap cleanup EXIT

now_ns() { date +%s%N; }
secs() { echo "scale=3; ($2 - $1) / 1000000000" | bc | sed 's/^\./0./'; }
timed() {  # timed cmd... -> seconds on stdout; the command's output goes to $work/last.log
    local t0 t1
    t0=$(now_ns)
    if ! "$@" >"$work/last.log" 2>&1; then
        echo "failed: $*" >&2
        tail -5 "$work/last.log" >&2
        echo "fail"
        return 0
    fi
    t1=$(now_ns)
    secs "$t0" "$t1"
}
cpu_secs() {  # cpu_secs cmd... -> user+sys seconds of the command (not of daemons it starts)
    local TIMEFORMAT='%3U %3S' t
    t=$({ time "$@" >/dev/null 2>&1; } 2>&1)
    echo "$t" | awk '{printf "%.3f\n", $1 + $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- the peers -----------------------------------------------------------
# A private dockerd (no bridge or iptables of its own: compose makes the
# networks) and podman on a private store, both with berth's busybox image.
DOCKERD_ARGS="--bridge none --iptables=false --ip6tables=false" peers_start

# --- compose files ---------------------------------------------------------
# gen NAME N KIND: KIND is "mixed" (the N table), "chain" or "flat" (the
# SIGTERM tests, also "chain-init" and "flat-init", plus "sleep-init").
gen() {
    local name=$1 n=$2 kind=$3 dir=$work/files/$1
    mkdir -p "$dir"
    {
        echo "services:"
        for i in $(seq 1 "$n"); do
            echo "  s$i:"
            echo "    image: busybox"
            case $kind in
            mixed)
                echo "    command: [\"sleep\", \"3600\"]"
                echo "    stop_signal: SIGKILL"
                if [ $((i % 5)) -ne 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi
                if [ $((i % 5)) -eq 0 ]; then echo "    volumes: [\"data:/data\"]"; fi
                ;;
            sleep-init)
                # PID 1 ignores SIGTERM only because it is PID 1 (no handler).
                echo "    command: [\"sleep\", \"3600\"]"
                echo "    init: true"
                if [ "$i" -gt 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi
                ;;
            *)
                echo "    command: [\"sh\", \"-c\", \"trap '' TERM; sleep 3600\"]"
                case $kind in chain*) if [ "$i" -gt 1 ]; then echo "    depends_on: [s$((i - 1))]"; fi ;; esac
                case $kind in *-init) echo "    init: true" ;; esac
                ;;
            esac
            echo "    networks: [net]"
        done
        echo "networks:"
        echo "  net: {}"
        if [ "$kind" = mixed ]; then
            echo "volumes:"
            echo "  data: {}"
        fi
    } >"$dir/compose.yaml"
    echo "$dir/compose.yaml"
}

# Each tool as `TOOL ACTION PROJECT FILE`.
tool_berth() {
    case $1 in
    up) "$berth" compose up -d -p "$2" -f "$3" ;;
    down) "$berth" compose down -v -p "$2" -f "$3" ;;
    esac
}
tool_docker() {
    case $1 in
    up) DOCKER_HOST=unix://$work/docker.sock docker-compose -p "$2" -f "$3" up -d ;;
    # docker 20.10 may refuse to remove a network whose endpoints it is still
    # releasing ("has active endpoints"): a user runs down again, so does this.
    down) DOCKER_HOST=unix://$work/docker.sock docker-compose -p "$2" -f "$3" down -v ||
        DOCKER_HOST=unix://$work/docker.sock docker-compose -p "$2" -f "$3" down -v ;;
    esac
}
tool_podman() {
    case $1 in
    up) podman-compose -p "$2" -f "$3" up -d ;;
    down) podman-compose -p "$2" -f "$3" down -v ;;
    esac
}

# Warm-up (page cache, first network): one service, up and down, per tool.
f=$(gen warm 1 mixed)
for t in berth docker podman; do
    "tool_$t" up warm "$f" >/dev/null 2>&1 || true
    "tool_$t" down warm "$f" >/dev/null 2>&1 || true
done

declare -A R
for n in $sizes; do
    f=$(gen "n$n" "$n" mixed)
    for t in berth docker podman; do
        if [ "$t" = podman ] && [ "$n" -gt "$podman_max" ]; then
            R[$t,up,$n]="skip"
            R[$t,down,$n]="skip"
            continue
        fi
        R[$t,up,$n]=$(timed "tool_$t" up "n$n" "$f")
        if [ "$t" = berth ]; then
            for _ in 1 2 3 4 5; do timed tool_berth up "n$n" "$f"; done >"$work/noop"
            R[berth,noop,$n]=$(median <"$work/noop")
            R[berth,noopcpu,$n]=$(cpu_secs tool_berth up "n$n" "$f")
        fi
        R[$t,down,$n]=$(timed "tool_$t" down "n$n" "$f")
        echo "N=$n $t: up ${R[$t,up,$n]} s, down ${R[$t,down,$n]} s" >&2
    done
done

# SIGTERM-ignoring PID 1: `down` of 10 services (the default 10 s grace period).
sigterm_down() {  # sigterm_down TOOL KIND -> seconds of `down`
    local f
    f=$(gen "sig-$2" 10 "$2")
    "tool_$1" up "sig-$2" "$f" >/dev/null 2>&1 || { echo "fail"; return 0; }
    sleep 1  # let every shell install its trap before the signal comes
    timed "tool_$1" down "sig-$2" "$f"
}
for kind in chain flat chain-init sleep-init; do
    if [ "$sigterm" != 1 ]; then
        R[berth,sig,$kind]="skip"
        continue
    fi
    R[berth,sig,$kind]=$(sigterm_down berth "$kind")
    echo "SIGTERM $kind berth: ${R[berth,sig,$kind]} s" >&2
done
for t in docker podman; do
    if [ "$sigterm_peers" = 1 ]; then
        R[$t,sig,chain]=$(sigterm_down "$t" chain)
    else
        R[$t,sig,chain]="skip"
    fi
    echo "SIGTERM chain $t: ${R[$t,sig,chain]} s" >&2
done

# --- report ----------------------------------------------------------------
ratio() {  # ratio A B -> A/B with one decimal, or "-"
    case "$1$2" in *skip* | *fail* | "") echo "-"; return ;; esac
    echo "scale=1; $1 / $2" | bc | sed 's/^\./0./'
}
ms() { case $1 in skip | fail) echo "$1" ;; *) echo "scale=0; $1 * 1000 / 1" | bc ;; esac; }
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "versions: $("$berth" version 2>/dev/null | head -1), $(docker-compose version --short 2>/dev/null), podman-compose $(dpkg-query -W -f='${Version}' podman-compose)"
echo
echo "| N | berth up -d | docker-compose up -d | podman-compose up -d | berth down | docker-compose down | podman-compose down | berth no-op up (CPU) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $sizes; do
    echo "| $n | ${R[berth,up,$n]} s | ${R[docker,up,$n]} s | ${R[podman,up,$n]} s | ${R[berth,down,$n]} s | ${R[docker,down,$n]} s | ${R[podman,down,$n]} s | $(ms "${R[berth,noop,$n]}") ms ($(ms "${R[berth,noopcpu,$n]}") ms) |"
done
echo
echo "| down of 10 services, PID 1 ignores SIGTERM (10 s grace) | berth | docker-compose | podman-compose |"
echo "| --- | --- | --- | --- |"
echo "| one depends_on chain (10 levels) | ${R[berth,sig,chain]} s | ${R[docker,sig,chain]} s | ${R[podman,sig,chain]} s |"
echo "| independent | ${R[berth,sig,flat]} s | | |"
echo "| chain, \`init: true\`, \`trap '' TERM\` in the command | ${R[berth,sig,chain-init]} s | | |"
echo "| chain, \`init: true\`, \`sleep 3600\` | ${R[berth,sig,sleep-init]} s | | |"
echo
top=${sizes##* }
echo "ratios and targets:"
for n in $sizes; do
    echo "  N=$n up -d: docker-compose/berth $(ratio "${R[docker,up,$n]}" "${R[berth,up,$n]}")x, podman-compose/berth $(ratio "${R[podman,up,$n]}" "${R[berth,up,$n]}")x; down: docker-compose/berth $(ratio "${R[docker,down,$n]}" "${R[berth,down,$n]}")x"
done
echo "  up -d N=$top: docker-compose/berth $(ratio "${R[docker,up,$top]}" "${R[berth,up,$top]}")x (target >= 10x), berth ${R[berth,up,$top]} s (target < 0.9 s)"
echo "  no-op up N=$top: $(ms "${R[berth,noop,$top]}") ms wall, $(ms "${R[berth,noopcpu,$top]}") ms CPU (target < 50 ms)"
echo "  SIGTERM chain of 10: $(ratio "${R[berth,sig,chain]}" 10) grace periods (target <= 10, one per level); independent: $(ratio "${R[berth,sig,flat]}" 10) (target 1)"
echo "  init: true: ${R[berth,sig,sleep-init]} s with sleep as the child (target < 1 s); ${R[berth,sig,chain-init]} s when the command itself ignores TERM"
