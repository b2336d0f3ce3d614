#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 5's peer benchmark: requests per second through a published port on
# 127.0.0.1 for berth, docker (Debian's docker.io, default userland proxy) and
# podman (Debian's, CNI portmap), with the same busybox httpd serving the
# same 1 KiB file from a bind mount, and the same httpd on the host's loopback
# without any container (the limit); and container-to-container requests/s
# over each tool's bridge. wrk -t1 -c8 as the issue measured; busybox httpd
# closes every connection, so each request is a new connection. Conntrack is
# flushed before every run and SYN retransmits are counted per run.
#
# Nothing of the host is touched: everything runs inside `unshare --mount
# --net` (private links, firewall, conntrack and mounts); dockerd and podman
# keep their state under one temp dir, and the dockerd started here is
# stopped by PID.
#
# Usage: bench/net_peers.sh [BUILD_DIR]   (root)
#   BENCH_SECS=10     seconds per wrk run
#   BENCH_ROUNDS=3    runs per target (interleaved); the median is reported
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
berth=$build/berth
[ -x "$berth" ] || { echo "berth binary not found: $berth" >&2; exit 1; }

# shellcheck source=bench/peers_lib.sh
. "$(dirname "$0")/peers_lib.sh"
peers_enter docker.io podman wrk conntrack iptables bc iproute2

secs=${BENCH_SECS:-10}
rounds=${BENCH_ROUNDS:-3}
ip link set lo up
work=$(mktemp -d /tmp/berth-npeers-XXXXXX)
mkdir -p "$work/run" "$work/www" "$work/res"
head -c 768 /dev/urandom | base64 -w 0 | head -c 1024 >"$work/www/index.html"
export BERTH_ROOT=$work/berth-root BERTH_RUN=$work/run/berth BERTH_PREFIX=bnp$$
dockerd_pid=""
host_httpd=""
cleanup() {
    set +e
    [ -n "$host_httpd" ] && kill "$host_httpd" && wait "$host_httpd" 2>/dev/null
    "$berth" rm -f nb-srv nb-cli >/dev/null 2>&1
    "$berth" network rm nbnet >/dev/null 2>&1
    peers_stop
    rm -rf "$work"
}
trap cleanup EXIT
peers_start

# --- servers: one httpd per tool, the file from a bind mount -----------------
serve=(busybox httpd -f -p 80 -h /www)
busybox httpd -f -p 127.0.0.1:18400 -h "$work/www" &
host_httpd=$!
"$berth" network create nbnet >/dev/null
"$berth" run -d --name nb-srv --network nbnet -p 127.0.0.1:18401:80 -v "$work/www:/www:ro" \
    "${serve[@]}" >/dev/null
"$berth" run -d --name nb-cli --network nbnet busybox sleep 3600 >/dev/null
docker_cli network create nbnet >/dev/null
docker_cli run -d --name nb-srv --network nbnet -p 127.0.0.1:18402:80 -v "$work/www:/www:ro" \
    "${serve[@]}" >/dev/null
docker_cli run -d --name nb-cli --network nbnet busybox sleep 3600 >/dev/null
podman network create nbnet >/dev/null
podman run -d --name nb-srv --network nbnet -p 127.0.0.1:18403:80 -v "$work/www:/www:ro" \
    "${serve[@]}" >/dev/null
podman run -d --name nb-cli --network nbnet busybox sleep 3600 >/dev/null
sleep 1

want=$(cat "$work/www/index.html")
for port in 18400 18401 18402 18403; do
    got=$(wget -q -O - "http://127.0.0.1:$port/index.html" 2>/dev/null || busybox wget -q -O - "http://127.0.0.1:$port/index.html")
    [ "$got" = "$want" ] || { echo "port $port does not serve the file" >&2; exit 1; }
done

# The peers' container addresses and network namespaces, for the
# container-to-container runs (wrk runs on the host side inside the client's
# network namespace, so the client container's image needs no wrk).
berth_srv_ip=$("$berth" inspect -f '{{.NetworkSettings.Networks.nbnet.IPAddress}}' nb-srv)
berth_cli_ns=$("$berth" inspect -f '{{.NetworkSettings.SandboxKey}}' nb-cli)
docker_srv_ip=$(docker_cli inspect -f '{{.NetworkSettings.Networks.nbnet.IPAddress}}' nb-srv)
docker_cli_pid=$(docker_cli inspect -f '{{.State.Pid}}' nb-cli)
podman_srv_ip=$(podman inspect -f '{{.NetworkSettings.Networks.nbnet.IPAddress}}' nb-srv)
podman_cli_pid=$(podman inspect -f '{{.State.Pid}}' nb-cli)

synretrans() { awk '/^TcpExt:/ {if (!h) {split($0, k); h=1} else {split($0, v); for (i in k) if (k[i]=="TCPSynRetrans") print v[i]}}' /proc/net/netstat; }
rps() { awk '/Requests\/sec/ {print $2}'; }
# run NAME [nsenter args...] URL -> appends "rps retrans" to $work/NAME
run() {
    local name=$1 url=${*: -1} before after r
    local -a ns=("${@:2:$#-2}")
    conntrack -F >/dev/null 2>&1 || true
    before=$(if [ ${#ns[@]} -gt 0 ]; then nsenter "${ns[@]}" cat /proc/net/netstat; else cat /proc/net/netstat; fi |
        awk '/^TcpExt:/ {if (!h) {split($0, k); h=1} else {split($0, v); for (i in k) if (k[i]=="TCPSynRetrans") print v[i]}}')
    if [ ${#ns[@]} -gt 0 ]; then
        r=$(nsenter "${ns[@]}" wrk -t1 -c8 -d"${secs}s" "$url" | rps)
    else
        r=$(wrk -t1 -c8 -d"${secs}s" "$url" | rps)
    fi
    after=$(if [ ${#ns[@]} -gt 0 ]; then nsenter "${ns[@]}" cat /proc/net/netstat; else cat /proc/net/netstat; fi |
        awk '/^TcpExt:/ {if (!h) {split($0, k); h=1} else {split($0, v); for (i in k) if (k[i]=="TCPSynRetrans") print v[i]}}')
    echo "$r $((after - before))" >>"$work/res/$name"
    echo "  $name: $r req/s, $((after - before)) SYN retransmits" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq 1 "$rounds"); do
    echo "round $i" >&2
    run host http://127.0.0.1:18400/index.html
    run berth http://127.0.0.1:18401/index.html
    run docker http://127.0.0.1:18402/index.html
    run podman http://127.0.0.1:18403/index.html
    run berth-c2c --net="$berth_cli_ns" "http://$berth_srv_ip/index.html"
    run docker-c2c -t "$docker_cli_pid" -n "http://$docker_srv_ip/index.html"
    run podman-c2c -t "$podman_cli_pid" -n "http://$podman_srv_ip/index.html"
done

m() { cut -d' ' -f1 <"$work/res/$1" | median; }
retr() { awk '{s += $2} END {print s + 0}' "$work/res/$1"; }
pct() { echo "scale=1; 100 * $1 / $2" | bc; }
host=$(m host)
echo
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "versions: $("$berth" version 2>/dev/null | head -1), docker $(docker_cli version -f '{{.Server.Version}}'), podman $(podman version -f '{{.Version}}')"
echo "wrk -t1 -c8 -d${secs}s, 1 KiB file, median of $rounds interleaved runs (SYN retransmits summed)"
echo
echo "| target | req/s | % of host | SYN retransmits |"
echo "| --- | --- | --- | --- |"
echo "| host loopback, no container | $host | 100 | $(retr host) |"
for t in berth docker podman; do
    echo "| $t published 127.0.0.1 | $(m $t) | $(pct "$(m $t)" "$host") | $(retr $t) |"
done
for t in berth docker podman; do
    echo "| $t container to container | $(m $t-c2c) | $(pct "$(m $t-c2c)" "$host") | $(retr $t-c2c) |"
done
