#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark of `berth config --format json` on a generated 1000-service project
# (anchors and merge keys, extends, two override files), against Debian's
# docker-compose (1.29, Python) on the same files. Also runs the hostile inputs
# of RELIABILITY.md section 2 row 30 and reports exit code, time and peak RSS.
# Usage: bench/compose_config.sh [BERTH_BINARY] [RUNS]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
berth=${1:-$here/build/berth}
runs=${2:-11}
[ -x "$berth" ] || { echo "berth binary not found: $berth" >&2; exit 1; }
berth=$(cd "$(dirname "$berth")" && pwd)/$(basename "$berth")
if ! command -v docker-compose >/dev/null 2>&1; then
    echo "installing docker-compose (Debian package) for the comparison" >&2
    apt-get install -y -qq docker-compose >/dev/null 2>&1 || true
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import os, sys
d = sys.argv[1]
n = 1000
base = ["x-common: &common",
        "  restart: unless-stopped",
        "  environment:",
        "    LOG_LEVEL: info",
        "    REGION: eu-west-1",
        "  labels:",
        "    com.example.team: platform",
        "  healthcheck:",
        "    test: [\"CMD\", \"true\"]",
        "    interval: 30s",
        "    timeout: 5s",
        "    retries: 3",
        "services:",
        "  template:",
        "    image: busybox:1.36",
        "    command: [\"sleep\", \"infinity\"]",
        "    ulimits:",
        "      nofile: {soft: 1024, hard: 2048}"]
for i in range(n):
    base += [f"  svc{i}:",
             "    <<: *common",
             f"    image: registry.local/app{i % 50}:1.{i % 7}",
             f"    ports: [\"{10000 + i}:80\"]",
             f"    volumes: [\"data{i % 20}:/data\", \"./conf/{i}:/etc/app:ro\"]",
             "    networks: [front, back]"]
    if i % 4 == 0:
        base += ["    extends: {service: template}"]
    if i > 0 and i % 10 == 0:
        base += [f"    depends_on: [svc{i - 1}]"]
base += ["networks:", "  front: {}", "  back: {internal: true}", "volumes:"]
base += [f"  data{k}: {{}}" for k in range(20)]
open(os.path.join(d, "compose.yaml"), "w").write("\n".join(base) + "\n")
o1 = ["services:"]
for i in range(n):
    o1 += [f"  svc{i}:", "    environment:", f"      INSTANCE: \"{i}\"",
           f"    ports: [\"{20000 + i}:81\"]"]
open(os.path.join(d, "override1.yaml"), "w").write("\n".join(o1) + "\n")
o2 = ["services:"]
for i in range(0, n, 3):
    o2 += [f"  svc{i}:", f"    image: registry.local/patched{i}:2", "    labels:",
           "      com.example.patched: \"yes\""]
open(os.path.join(d, "override2.yaml"), "w").write("\n".join(o2) + "\n")

# Hostile inputs (row 30).
bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
prev = "a"
for c in "bcdefghi":
    bomb.append(f"{c}: &{c} [" + ", ".join([f"*{prev}"] * 9) + "]")
    prev = c
open(os.path.join(d, "bomb.yaml"), "w").write("\n".join(bomb) + "\n")
open(os.path.join(d, "brackets.yaml"), "w").write("[" * 100000)
with open(os.path.join(d, "huge.yaml"), "w") as f:
    f.write("services:\n  a:\n    image: x\n    environment:\n")
    line = "      K%08d: " + "v" * 80 + "\n"
    i = 0
    while f.tell() < 64 * 1024 * 1024:
        f.write(line % i)
        i += 1
open(os.path.join(d, "selfmerge.yaml"), "w").write("a: &a\n  <<: *a\n  b: 1\n")
open(os.path.join(d, "extcycle.yaml"), "w").write(
    "services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n")
PY

cd "$work"
mkdir -p conf
files="-f compose.yaml -f override1.yaml -f override2.yaml"

# Median wall time of RUNS runs of a command, in milliseconds.
median_ms() {
    python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs = int(sys.argv[1]); cmd = sys.argv[2:]
times = []
for _ in range(runs):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    times.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace")[-2000:])
        print("fail"); sys.exit(0)
times.sort()
print(f"{times[len(times) // 2]:.1f}")
PY
}

# shellcheck disable=SC2086
"$berth" config --format json $files > berth.json
services=$(python3 -c 'import json,sys; print(len(json.load(open("berth.json"))["services"]))')
# shellcheck disable=SC2086
b=$(median_ms "$berth" config --format json $files)
echo "berth config --format json: ${services} services, median ${b} ms over ${runs} runs"
if command -v docker-compose >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    dc=$(median_ms docker-compose $files config)
    echo "docker-compose $(docker-compose version --short 2>/dev/null) config: median ${dc} ms"
    if [ "$dc" != "fail" ] && [ "$b" != "fail" ]; then
        python3 -c "print(f'ratio docker-compose/berth: {float(\"$dc\") / float(\"$b\"):.1f}x')"
    fi
else
    echo "docker-compose not available: no comparison"
fi

echo "hostile inputs (RELIABILITY.md section 2 row 30): exit code, wall time, peak RSS"
for f in bomb.yaml brackets.yaml huge.yaml selfmerge.yaml extcycle.yaml; do
    python3 - "$berth" "$f" <<'PY'
import resource, subprocess, sys, time
berth, f = sys.argv[1], sys.argv[2]
t = time.perf_counter()
r = subprocess.run([berth, "config", "-f", f], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
ms = (time.perf_counter() - t) * 1000
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
msg = r.stderr.decode(errors="replace").strip().splitlines()
print(f"  {f:15} exit={r.returncode} {ms:7.1f} ms  rss={rss:5.1f} MiB  {msg[-1][:90] if msg else ''}")
PY
done
