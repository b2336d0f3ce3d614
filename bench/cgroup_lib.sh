# SPDX-License-Identifier: Apache-2.0
# Sourced by the peer benchmarks that run crun (podman's runtime, or crun
# itself). crun refuses a hybrid cgroup layout while the cgroup2 hierarchy
# still holds a controller; on a host with cgroup v1 controllers and hugetlb
# left in cgroup2 (this project's test machine), mounting a v1 hugetlb
# hierarchy moves it out. The integration tests do the same (crun_usable in
# tests/integration/runtime/runtime_test.cpp); it is a host change kept on
# purpose, as there.
# shellcheck shell=bash

cgroup_hybrid_fix() {
    local ctrl=/sys/fs/cgroup/unified/cgroup.controllers
    [ -f "$ctrl" ] && grep -qw hugetlb "$ctrl" || return 0
    mountpoint -q /sys/fs/cgroup/hugetlb && return 0
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
}
