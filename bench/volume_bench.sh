#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Volume benchmarks (issue 6): create + mount + first write + remove of a named
# volume, and copy-up of a 10,000-file image directory.
#   berth library: bench/volume_bench.cpp, built against BUILD (default build/)
#   berth CLI:     `berth volume create` + first write into its Mountpoint + `volume rm`
#   docker/podman: the same through `run -v` when their engine answers
# Usage: bench/volume_bench.sh [BUILD_DIR] [RUNS]   (root; prints JSON lines)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
runs=${2:-50}
work=$(mktemp -d /tmp/berth-volbench.XXXXXX)
trap 'rm -rf "$work"' EXIT

g++ -std=c++20 -O2 -I"$src" -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL \
    -DSPDLOG_SHARED_LIB "$here/volume_bench.cpp" "$build/volumes/libberth_volumes.a" \
    "$build/common/libberth_common.a" -lspdlog -lfmt -lssl -lcrypto -lpthread \
    -o "$work/volume_bench"

"$work/volume_bench" lifecycle "$work/lib" "$runs"
"$work/volume_bench" lifecycle-tmpfs "$work/libtmpfs" "$runs"
"$work/volume_bench" copyup "$work/copy" 10000

now_ms() { date +%s%N | awk '{ printf "%.3f", $1 / 1000000 }'; }

if [[ -x "$build/berth" ]]; then
    export BERTH_ROOT="$work/cli/root" BERTH_RUN="$work/cli/run"
    start=$(now_ms)
    for i in $(seq "$runs"); do
        "$build/berth" volume create "cli$i" >/dev/null
        mp=$("$build/berth" volume inspect -f '{{.Mountpoint}}' "cli$i")
        echo hello >"$mp/first"
        "$build/berth" volume rm "cli$i" >/dev/null
    done
    end=$(now_ms)
    awk -v s="$start" -v e="$end" -v n="$runs" \
        'BEGIN { printf "{\"bench\":\"berth_cli_volume_create_write_rm\",\"runs\":%d,\"mean_ms\":%.2f}\n", n, (e - s) / n }'
fi

for peer in docker podman; do
    if command -v "$peer" >/dev/null && "$peer" info >/dev/null 2>&1 &&
        "$peer" image inspect busybox >/dev/null 2>&1; then
        start=$(now_ms)
        for i in $(seq "$runs"); do
            "$peer" volume create "bvb$i" >/dev/null
            "$peer" run --rm -v "bvb$i:/v" busybox sh -c 'echo hello > /v/first'
            "$peer" volume rm "bvb$i" >/dev/null
        done
        end=$(now_ms)
        awk -v s="$start" -v e="$end" -v n="$runs" -v p="$peer" \
            'BEGIN { printf "{\"bench\":\"%s_volume_create_run_write_rm\",\"runs\":%d,\"mean_ms\":%.2f}\n", p, n, (e - s) / n }'
    else
        echo "{\"bench\":\"${peer}_volume\",\"skipped\":\"engine or busybox image not available\"}"
    fi
done
