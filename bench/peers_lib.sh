# SPDX-License-Identifier: Apache-2.0
# Shared by the peer benchmarks (net_peers.sh, volume_peers.sh): sourced by a
# bash script that already runs inside `unshare --mount --net` as root, with
# $work (a temp dir), $berth (the binary) and BERTH_PREFIX set. peers_start
# starts a private dockerd (state under $work, stopped by PID in peers_stop)
# and points podman at a private store and CNI config; both get berth's
# busybox image.
# shellcheck shell=bash

docker_cli() { docker -H "unix://$work/docker.sock" "$@"; }

# peers_enter PACKAGE...: outside the namespaces (apt needs the host's
# network) installs the Debian packages that are missing, then re-executes
# the calling script inside `unshare --mount --net`; inside, returns.
# Uses $0 and $build of the caller.
peers_enter() {
    [ -z "${BERTH_BENCH_INNER:-}" ] || return 0
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    exec env BERTH_BENCH_INNER=1 unshare --mount --net -- "$0" "$build"
}

# shellcheck source=bench/cgroup_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cgroup_lib.sh"

peers_start() {
    cgroup_hybrid_fix
    made_dirs=()
    # podman's CNI keeps IPAM state in /var/lib/cni and network namespaces in
    # /run/netns: shadowed by tmpfs in this private mount namespace.
    for d in /var/lib/cni /run/netns; do
        if [ ! -d "$d" ]; then
            mkdir -p "$d"
            made_dirs+=("$d")
        fi
        mount -t tmpfs tmpfs "$d"
    done
    mkdir -p "$work/run" "$work/podman-tmp" "$work/cni"
    echo '{}' >"$work/daemon.json"
    # shellcheck disable=SC2086  # DOCKERD_ARGS: extra words, e.g. "--bridge none"
    dockerd --config-file "$work/daemon.json" --data-root "$work/docker" \
        --exec-root "$work/run/docker-exec" --pidfile "$work/docker.pid" \
        -H "unix://$work/docker.sock" ${DOCKERD_ARGS:-} >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$work/podman" "$work/run/podman-run" >"$work/storage.conf"
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]' \
        '[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "none"' \
        "tmp_dir = \"$work/podman-tmp\"" '[network]' 'network_backend = "cni"' \
        "network_config_dir = \"$work/cni\"" >"$work/containers.conf"
    export CONTAINERS_STORAGE_CONF=$work/storage.conf CONTAINERS_CONF=$work/containers.conf
    "$berth" run --rm --network none busybox true
    "$berth" save -o "$work/busybox.tar" busybox
    for _ in $(seq 1 150); do docker_cli info >/dev/null 2>&1 && break; sleep 0.2; done
    docker_cli load -i "$work/busybox.tar" >/dev/null
    podman load -q -i "$work/busybox.tar" >/dev/null
}

# Removes the peers' containers, stops the dockerd started here (by PID) and
# unmounts what is mounted under $work and what peers_start mounted; the
# caller removes $work afterwards.
peers_stop() {
    if [ -n "${dockerd_pid:-}" ]; then
        docker_cli ps -aq 2>/dev/null | xargs -r docker -H "unix://$work/docker.sock" rm -f \
            >/dev/null 2>&1
        kill "$dockerd_pid"
        wait "$dockerd_pid" 2>/dev/null
        dockerd_pid=""
    fi
    podman rm -af -t 0 >/dev/null 2>&1
    for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m"
    done
    for d in /var/lib/cni /run/netns; do umount -l "$d"; done
    for d in /sys/fs/cgroup/*/"$BERTH_PREFIX" /sys/fs/cgroup/"$BERTH_PREFIX"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    for d in "${made_dirs[@]}"; do rmdir "$d"; done
}
