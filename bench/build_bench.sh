#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 7's benchmark: a 10-step Dockerfile on busybox, cold build (--no-cache)
# and no-op cached rebuild, for berth, `docker build` and `podman build` on the
# same context and the same busybox image (berth's built-in one, saved and
# loaded into each peer), in one run. RUN steps use --network none everywhere
# (the private dockerd has no bridge). Daemons started here are stopped by PID.
# Usage: bench/build_bench.sh [BUILD_DIR] [N]   (root; writes only under a temp dir)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-10}
berth=$build/berth
work=$(mktemp -d /tmp/berth-build-bench-XXXXXX)
export BERTH_ROOT=$work/berth-root BERTH_RUN=$work/berth-run BERTH_PREFIX=bbld
dockerd_pid=""
cleanup() {
    set +e
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null
    fi
    for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
    # berth's per-prefix parent cgroups (empty once every container is gone).
    for d in /sys/fs/cgroup/*/"$BERTH_PREFIX" /sys/fs/cgroup/"$BERTH_PREFIX"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

missing=()
for p in docker.io podman bc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# shellcheck source=bench/cgroup_lib.sh
. "$(dirname "$0")/cgroup_lib.sh"
cgroup_hybrid_fix

ms_since() { echo "scale=2; ($(date +%s%N) - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_cmd() {  # time_cmd N cmd... -> median ms
    local runs=$1; shift
    for _ in $(seq 1 "$runs"); do
        local t0; t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
        ms_since "$t0"
    done | median
}

ctx=$work/ctx
mkdir -p "$ctx/dir/sub"
echo one >"$ctx/f1.txt"
for i in $(seq 1 50); do echo "file $i" >"$ctx/dir/sub/f$i.txt"; done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV A=1
WORKDIR /app
COPY f1.txt /app/
RUN echo one > /app/one
COPY dir/ /app/dir/
RUN cat /app/f1.txt > /app/copy
LABEL x=y
RUN mkdir -p /app/data && echo data > /app/data/d
CMD ["cat", "/app/one"]
DOCKERFILE

"$berth" run --rm --network none busybox true
"$berth" save -o "$work/busybox.tar" busybox

docker_cli() { docker -H "unix://$work/docker.sock" "$@"; }
dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$work/docker.sock" --bridge none --iptables=false --ip6tables=false \
    >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 100); do docker_cli info >/dev/null 2>&1 && break; sleep 0.2; done
docker_cli load -i "$work/busybox.tar" >/dev/null
podman_cli() {
    podman --root "$work/podman" --runroot "$work/podman-run" --cgroup-manager cgroupfs \
        --events-backend none "$@"
}
podman_cli load -i "$work/busybox.tar" >/dev/null

berth_build() { "$berth" build --network none -t bench:1 "$@" "$ctx"; }
docker_build() { DOCKER_BUILDKIT=0 docker_cli build --network none -t bench:1 "$@" "$ctx"; }
podman_build() { podman_cli build --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -t bench:1 "$@" "$ctx"; }

cold=$(( n < 5 ? n : 5 ))
bc_=$(time_cmd "$cold" berth_build --no-cache)
dc=$(time_cmd "$cold" docker_build --no-cache)
pc=$(time_cmd "$cold" podman_build --no-cache)
berth_build >/dev/null 2>&1; docker_build >/dev/null 2>&1; podman_build >/dev/null 2>&1
br=$(time_cmd "$n" berth_build)
dr=$(time_cmd "$n" docker_build)
pr=$(time_cmd "$n" podman_build)

echo "10-step Dockerfile on busybox; medians: cold build ($cold runs, --no-cache), cached rebuild ($n runs)"
printf "%-8s %12s %14s\n" "tool" "cold (ms)" "cached (ms)"
printf "%-8s %12s %14s\n" berth "$bc_" "$br" docker "$dc" "$dr" podman "$pc" "$pr"
echo "cached: docker/berth $(echo "scale=1; $dr / $br" | bc)x, podman/berth $(echo "scale=1; $pr / $br" | bc)x (target >= 5x, berth < 100 ms)"
echo "cold:   docker/berth $(echo "scale=2; $dc / $bc_" | bc)x, podman/berth $(echo "scale=2; $pc / $bc_" | bc)x (target >= 1x)"
