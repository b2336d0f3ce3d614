#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs every fuzz_*
# target for N seconds (default 20) on a copy of its seed corpus
# fuzz/corpus/<name>/. Fails on any crash, leak, timeout (1 s per input) or
# out-of-memory. Usage: scripts/run-fuzz.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
[ $# -gt 0 ] && shift
build=${BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DBERTH_FUZZ=ON -DBERTH_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if [ $# -gt 0 ]; then
    targets=""
    for t in "$@"; do targets="$targets fuzz_${t#fuzz_}"; done
else
    targets=$(sed -n 's/^build \(fuzz_[a-z0-9_]*\): .*/\1/p' "$build/build.ninja" | sort -u)
fi
# shellcheck disable=SC2086
cmake --build "$build" --target $targets
failed=""
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $targets; do
    name=${t#fuzz_}
    corpus="$work/$name"
    mkdir -p "$corpus"
    if [ -d "fuzz/corpus/$name" ]; then
        cp -r "fuzz/corpus/$name/." "$corpus/"
    fi
    echo "== $t: ${secs}s"
    bin="$build/fuzz/$t"
    [ -x "$bin" ] || bin="$build/$t"
    if ! "$bin" -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$name-" -print_final_stats=1 "$corpus" \
        >"$work/$name.log" 2>&1; then
        echo "FAIL: $t" >&2
        tail -40 "$work/$name.log" >&2
        mkdir -p fuzz/crashes
        cp "$work/$name"-* fuzz/crashes/ 2>/dev/null || true
        failed="$failed $t"
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" || true
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz failures:$failed (inputs copied to fuzz/crashes/)" >&2
    exit 1
fi
echo "all fuzz targets passed"
