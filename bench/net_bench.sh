#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Networking benchmark (issue 5), run as root:  bench/net_bench.sh [BUILD_DIR] [SECONDS]
#  - network create + connect + disconnect + rm latency (library and CLI);
#  - requests/s of busybox httpd serving a 1 KiB file: on the host's loopback,
#    through a published port on 127.0.0.1, and container to container.
# Everything runs inside a network namespace this script creates, under a
# temporary BERTH_ROOT/BERTH_RUN/BERTH_PREFIX; nothing of the host is touched.
# Needs wrk (Debian package wrk; installed here if missing) and busybox.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-10}
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ "${BERTH_NET_BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "net_bench: needs root" >&2; exit 1; }
    command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
    exec unshare -n env BERTH_NET_BENCH_INNER=1 "$0" "$BUILD" "$SECS"
fi

TMP=$(mktemp -d /tmp/berth-netbench-XXXXXX)
export BERTH_ROOT=$TMP/root BERTH_RUN=$TMP/run BERTH_PREFIX=bnb$$ BERTH_EXE=$BUILD/berth
BERTH=$BUILD/berth
PIDS=""
cleanup() {
    # EOF first: the serving helper then detaches, removes its network and
    # unmounts its namespaces; only what is still running after that is killed.
    exec 3>&- 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive=""
        for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for m in $(awk -v t="$TMP" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip link set lo up

echo "== building the helper"
g++ -std=c++20 -O2 -I"$SRC" -isystem /usr/include/libnl3 \
    -DSPDLOG_FMT_EXTERNAL -DSPDLOG_COMPILED_LIB -DSPDLOG_SHARED_LIB -DFMT_SHARED \
    "$SRC/bench/net_attach_bench.cpp" "$BUILD/netns/libberth_netns.a" \
    "$BUILD/common/libberth_common.a" $(pkg-config --libs libnl-route-3.0 libnl-3.0 libnftables) \
    -lfmt -lspdlog -lssl -lcrypto -lboost_system -pthread -o "$TMP/net_attach_bench"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo "== latency (library: create_network, connect, disconnect, remove_network)"
"$TMP/net_attach_bench" latency 50

echo "== latency (CLI: berth network create + berth network rm, 20 rounds)"
t0=$(now_ms)
i=0
while [ $i -lt 20 ]; do
    "$BERTH" network create "clibench$i" >/dev/null
    "$BERTH" network rm "clibench$i" >/dev/null
    i=$((i + 1))
done
echo "cli create+rm mean: $(( ($(now_ms) - t0) / 20 )) ms"

echo "== throughput (wrk -t2 -c32 -d${SECS}s, 1 KiB file)"
mkdir -p "$TMP/www"
head -c 1024 /dev/urandom | base64 | head -c 1024 > "$TMP/www/index.html"
mkfifo "$TMP/ctl"
"$TMP/net_attach_bench" serve "$TMP/www" < "$TMP/ctl" > "$TMP/serve.out" &
PIDS="$PIDS $!"
exec 3>"$TMP/ctl"
for _ in $(seq 100); do grep -q '^PORT=' "$TMP/serve.out" 2>/dev/null && break; sleep 0.1; done
. "$TMP/serve.out"
nsenter --net="$A_NS" busybox httpd -f -p 80 -h "$TMP/www" &
PIDS="$PIDS $!"
busybox httpd -f -p 127.0.0.1:18400 -h "$TMP/www" &
PIDS="$PIDS $!"
sleep 0.5

rps() { awk '/Requests\/sec/ {print $2}'; }
HOST=$(wrk -t2 -c32 -d"${SECS}s" http://127.0.0.1:18400/index.html | rps)
PUB=$(wrk -t2 -c32 -d"${SECS}s" http://127.0.0.1:$PORT/index.html | rps)
C2C=$(nsenter --net="$B_NS" wrk -t2 -c32 -d"${SECS}s" "http://$A_IP/index.html" | rps)
echo "host loopback        : $HOST req/s"
echo "published 127.0.0.1  : $PUB req/s"
echo "container->container : $C2C req/s"
awk -v h="$HOST" -v p="$PUB" 'BEGIN { printf "published/host       : %.1f%% (target >= 95%%)\n", 100 * p / h }'
