#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs berth's cgroup v2 checks for real, in the project's cgroup-v2-only
# Debian 12 VM (../shared/tools/vm/run.sh): the guest has no network and not
# all of berth's libraries, so the binary, the shared objects it needs (also
# the ones it loads on first use) and a busybox go through a shared temp dir.
# What is checked: a container is born in <prefix>/<id> (CLONE_INTO_CGROUP)
# and sees its cgroup namespace root, limits are written, exec joins the
# container's cgroup, rm removes the cgroup.
# Usage: scripts/cgroup-v2-vm.sh [BUILD_DIR]   (root)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
vm=$(cd "$(dirname "$0")/../.." && pwd)/shared/tools/vm/run.sh
work=$(mktemp -d /tmp/berth-v2-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib"
cp "$build/berth" "$build/berth-init" "$build/berth-monitor" "$work/"
cp /bin/busybox "$work/busybox"
libdir=/usr/lib/x86_64-linux-gnu
for l in $( (ldd "$build/berth"; for d in libarchive.so.13 libseccomp.so.2 libnftables.so.1; do
        ldd "$libdir/$d"; echo "x => $libdir/$d (0)"; done) |
    awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u | grep -vE '/(libc|libm|ld-linux|libpthread|libdl|librt)[.-]'); do
    cp -L "$l" "$work/lib/"
done
cat > "$work/check.sh" <<'GUEST'
set -u
here=$(dirname "$0")
export LD_LIBRARY_PATH=$here/lib BERTH_BUSYBOX=$here/busybox BERTH_ROOT=/root/br BERTH_RUN=/run/br BERTH_PREFIX=bv2
B=$here/berth
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fail=1; fi; }
check "cgroup namespace root" "$($B run --rm --network none busybox cat /proc/self/cgroup)" "0::/"
check "limits" "$($B run --rm --network none --memory 64m --pids-limit 50 busybox sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' | tr '\n' ' ')" "67108864 50 "
id=$($B run -d --name v2c --network none busybox sleep 60)
pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' /root/br/containers/$id/state.json)
check "init born in its cgroup" "$(cat /proc/$pid/cgroup)" "0::/bv2/$id"
check "exec joins the cgroup" "$($B exec v2c sh -c 'cat /sys/fs/cgroup/cgroup.procs | wc -l')" "4"
$B rm -f v2c >/dev/null
check "rm removes the cgroup" "$(test -e /sys/fs/cgroup/bv2/$id && echo present || echo gone)" "gone"
exit $fail
GUEST
"$vm" "$work" "bash $work/check.sh"
