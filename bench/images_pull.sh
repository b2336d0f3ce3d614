#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark (issue 4): pull of a ~100 MB multi-layer image from Debian's
# docker-registry on 127.0.0.1, berth against `skopeo copy` to an OCI
# directory (which does not unpack) and `podman pull` (when installed); and
# layer unpack throughput, `berth load` against `tar -x` of the same layers.
# Usage: bench/images_pull.sh [build dir] [runs] (BENCH_FS=journal|host). Needs root (berth's store
# writes overlay whiteouts), docker-registry, skopeo, python3.
set -euo pipefail

build=${1:-build}
runs=${2:-3}
berth=$(realpath "$build/berth")
work=$(mktemp -d /tmp/berth-bench-images-XXXXXX)
reg_pid=
fs_image=
cleanup() {
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    if [ -n "$fs_image" ]; then umount "$work" 2>/dev/null || umount -l "$work"; rm -f "$fs_image"; fi
    rm -rf "$work"
}
trap cleanup EXIT
# Every tool's store on a journaled ext4, as on a stock Debian host (as in
# compose_peers.sh): this machine's root ext4 has no journal, and there each
# new inode costs a scan for recently deleted ones, which after the first
# run's `rm -rf` dominated berth's 2,000-file unpack (1.3-1.5 s instead of
# 0.4 s) and not skopeo's few files. BENCH_FS=host keeps the host's /tmp.
if [ "${BENCH_FS:-journal}" = journal ]; then
    fs_image=$(mktemp /tmp/berth-bench-images-fs-XXXXXX.img)
    truncate -s 4G "$fs_image"
    # Inode tables and journal written now: not by ext4lazyinit during the runs.
    mkfs.ext4 -q -F -O has_journal -E lazy_itable_init=0,lazy_journal_init=0 "$fs_image"
    mount -o loop "$fs_image" "$work"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/reg"
cat > "$work/reg/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/reg/data
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/reg/config.yml" 2>"$work/reg/log" &
reg_pid=$!
for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then break; fi
    sleep 0.1
done

# 8 layers of 12.5 MB (about 100 MB): half the files random (incompressible),
# half text-like; 250 files a layer.
python3 - "$work/img.tar" <<'PY'
import hashlib, io, json, os, random, sys, tarfile
random.seed(4)
layers, paths = [], []
out = tarfile.open(sys.argv[1], "w")
for n in range(8):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i in range(250):
            data = os.urandom(50_000) if i % 2 else (b"line %d of layer %d\n" % (i, n)) * 2500
            ti = tarfile.TarInfo(f"layer{n}/dir{i % 10}/file{i}")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    raw = bio.getvalue()
    layers.append("sha256:" + hashlib.sha256(raw).hexdigest())
    p = f"l{n}/layer.tar"
    paths.append(p)
    ti = tarfile.TarInfo(p); ti.size = len(raw); out.addfile(ti, io.BytesIO(raw))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": layers}}).encode()
name = hashlib.sha256(cfg).hexdigest() + ".json"
ti = tarfile.TarInfo(name); ti.size = len(cfg); out.addfile(ti, io.BytesIO(cfg))
man = json.dumps([{"Config": name, "RepoTags": ["bench/img:1"], "Layers": paths}]).encode()
ti = tarfile.TarInfo("manifest.json"); ti.size = len(man); out.addfile(ti, io.BytesIO(man))
out.close()
PY
ref="127.0.0.1:$port/bench/img:1"
skopeo copy -q --dest-tls-verify=false --dest-compress docker-archive:"$work/img.tar" "docker://$ref"

# Each timed run starts with nothing dirty in the page cache: no tool pays
# for the writeback of the run before it (berth publishes a pull without a
# sync, as skopeo and podman do: the kernel writes it back; see
# ImageStore::note_unsynced).
t() { local s e; sync; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The tools take turns, run after run, so that each sees the same state of
# the machine (the registry's warm-up, the VM's neighbours).
: > "$work/t-berth"; : > "$work/t-skopeo"; : > "$work/t-podman"
for i in $(seq "$runs"); do
    root="$work/berth-$i"
    t env BERTH_ROOT="$root" BERTH_RUN="$work/run-$i" "$berth" pull -q "$ref" >> "$work/t-berth"
    rm -rf "$root"
    t skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci-$i:img" >> "$work/t-skopeo"
    rm -rf "$work/oci-$i"
    if command -v podman >/dev/null; then
        t podman --root "$work/podman-$i" --runroot "$work/podman-run-$i" pull --tls-verify=false "$ref" >> "$work/t-podman"
        podman --root "$work/podman-$i" --runroot "$work/podman-run-$i" system reset -f >/dev/null 2>&1 || true
        rm -rf "$work/podman-$i"
    fi
done
berth_pull=$(median < "$work/t-berth")
skopeo_copy=$(median < "$work/t-skopeo")
if command -v podman >/dev/null; then
    podman_pull=$(median < "$work/t-podman")
else
    podman_pull="n/a (podman not installed)"
fi
echo "pull runs, seconds: berth $(sort -n "$work/t-berth" | tr '\n' ' ')" >&2
echo "pull runs, seconds: skopeo $(sort -n "$work/t-skopeo" | tr '\n' ' ')" >&2

# Unpack: the same eight uncompressed layers, berth load vs tar -x.
mkdir -p "$work/layers" && (cd "$work/layers" && tar -xf "$work/img.tar")
tar_x=$(for i in $(seq "$runs"); do
    d="$work/x-$i"; mkdir -p "$d"
    t sh -c "for l in $work/layers/l*/layer.tar; do tar -xf \$l -C $d; done"
    rm -rf "$d"; done | median)
berth_load=$(for i in $(seq "$runs"); do
    root="$work/load-$i"; t env BERTH_ROOT="$root" BERTH_RUN="$work/run-l$i" "$berth" load -q -i "$work/img.tar"
    rm -rf "$root"; done | median)
size=$(du -sm "$work/img.tar" | cut -f1)

printf 'image: %s MB uncompressed, 8 layers, gzip in the registry; median of %s runs\n' "$size" "$runs"
printf 'pull:   berth %ss   skopeo copy (no unpack) %ss   podman pull %s\n' "$berth_pull" "$skopeo_copy" "$podman_pull"
printf 'unpack: berth load %ss   tar -x %ss\n' "$berth_load" "$tar_x"
