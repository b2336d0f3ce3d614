#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 2's benchmark: `run --rm --network none busybox true`, start to exit,
# for berth, docker, podman and crun on the same image, in one run; plus the
# memory of the per-container supervisor (PSS) next to podman's conmon and
# docker's containerd-shim. Peers are installed from Debian if missing, and
# the daemons this script starts are stopped when it ends (by PID).
# Usage: bench/run_peers.sh [BUILD_DIR] [N]   (root; writes only under a temp dir)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
n=${2:-30}
berth=$build/berth
work=$(mktemp -d /tmp/berth-peers-XXXXXX)
export BERTH_ROOT=$work/berth-root BERTH_RUN=$work/berth-run BERTH_PREFIX=bpeer
dockerd_pid=""
cleanup() {
    set +e
    "$berth" rm -f bench-mem >/dev/null 2>&1
    if [ -n "$dockerd_pid" ]; then
        docker_cli rm -f bench-mem >/dev/null 2>&1
        kill "$dockerd_pid"; wait "$dockerd_pid" 2>/dev/null
    fi
    podman_cli rm -f bench-mem >/dev/null 2>&1
    for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
    # berth's per-prefix parent cgroups (empty once every container is gone).
    for d in /sys/fs/cgroup/*/"$BERTH_PREFIX" /sys/fs/cgroup/"$BERTH_PREFIX"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    # podman's storage mount can come back while its cleanup process (run by
    # conmon after the container's exit) finishes: unmount and remove until
    # the directory is gone.
    for _ in $(seq 1 50); do
        for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do
            umount -l "$m"
        done
        rm -rf "$work" 2>/dev/null && break
        sleep 0.1
    done
}
trap cleanup EXIT

missing=()
for p in docker.io podman crun bc; do
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
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

# The same image for everyone: berth's built-in busybox, saved as a Docker archive.
"$berth" run --rm --network none busybox true
"$berth" save -o "$work/busybox.tar" busybox

# docker: a private dockerd (own data root and socket, no bridge, no iptables).
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

# crun: a bundle whose rootfs is the same busybox tree.
mkdir -p "$work/crun/rootfs"
tar -xf "$work/busybox.tar" -C "$work/crun" 2>/dev/null || true
layer=$(python3 -c "import json,sys; print(json.load(open('$work/crun/manifest.json'))[0]['Layers'][0])")
tar -xf "$work/crun/$layer" -C "$work/crun/rootfs"
(cd "$work/crun" && crun spec && python3 - <<'PY'
import json
s = json.load(open("config.json"))
s["process"]["args"] = ["/bin/true"]
s["process"]["terminal"] = False
s["linux"]["cgroupsPath"] = "/bpeer-crun"
json.dump(s, open("config.json", "w"))
PY
)
crun_run() { crun run --bundle "$work/crun" "bpeer-$RANDOM$RANDOM"; }

# Warm-up, then the timed runs.
time_cmd 3 "$berth" run --rm --network none busybox true >/dev/null
time_cmd 3 docker_cli run --rm --network none busybox true >/dev/null
time_cmd 3 podman_cli run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox true >/dev/null
b=$(time_cmd "$n" "$berth" run --rm --network none busybox true)
d=$(time_cmd "$n" docker_cli run --rm --network none busybox true)
p=$(time_cmd "$n" podman_cli run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox true)
c=$(time_cmd "$n" crun_run)
t=$(time_cmd "$n" /bin/true)

# Supervisor memory: one running container each.
"$berth" run -d --network none --name bench-mem busybox sleep 600 >/dev/null
sup=$(python3 -c "import json; print(json.load(open('$BERTH_ROOT/containers/' + '$("$berth" inspect -f '{{.Id}}' bench-mem)' + '/state.json'))['supervisor_pid'])")
berth_pss=$(pss_kib "$sup")
berth_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$sup/status")
docker_cli run -d --network none --name bench-mem busybox sleep 600 >/dev/null
shim=$(pgrep -f "containerd-shim.*$(docker_cli inspect -f '{{.Id}}' bench-mem)" | head -1 || true)
shim_pss=$([ -n "$shim" ] && pss_kib "$shim" || echo "?")
podman_cli run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name bench-mem busybox sleep 600 >/dev/null
conmon=$(podman_cli inspect -f '{{.State.ConmonPid}}' bench-mem)
conmon_pss=$(pss_kib "$conmon")

echo "runs per tool: $n (median wall time of run --rm --network none busybox true); load average $(cut -d" " -f1-3 /proc/loadavg)"
printf "%-28s %10s\n" "berth" "$b ms" "docker" "$d ms" "podman" "$p ms" "crun (bundle)" "$c ms" "/bin/true (fork+exec)" "$t ms"
echo "berth / crun:   $(echo "scale=2; $b / $c" | bc)x   (target <= 1.5x)"
echo "docker / berth: $(echo "scale=1; $d / $b" | bc)x   (target >= 10x)"
echo "podman / berth: $(echo "scale=1; $p / $b" | bc)x"
echo "supervisor PSS: berth ${berth_pss} KiB (RSS ${berth_rss} KiB), podman conmon ${conmon_pss} KiB, docker containerd-shim ${shim_pss} KiB"
echo "berth idle: no process (daemonless)"
