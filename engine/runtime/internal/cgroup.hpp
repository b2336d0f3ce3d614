// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "engine/runtime/runtime.hpp"
#include "engine/runtime/spec.hpp"

namespace berth::engine::runtime::detail {

/// A mounted cgroup v1 hierarchy: where it is and what its mount options name
/// ("cpu", "memory", "name=systemd", ...).
struct V1Hierarchy {
    std::filesystem::path mountpoint;
    std::string controllers;  ///< comma-separated, as in the mount options
};

/// The v1 hierarchies mounted on this host (from /proc/self/mountinfo). Only
/// mounts of a hierarchy's root, unless `any_root` (inside a cgroup namespace
/// the root field is relative to the namespace).
std::vector<V1Hierarchy> v1_hierarchies(bool any_root = false);

/// Loads the BPF_PROG_TYPE_CGROUP_DEVICE program that implements `rules` on
/// cgroup v2 (the last matching rule decides; nothing matching is denied).
Result<UniqueFd> load_device_program(const std::vector<DeviceRule>& rules);

/// One container cgroup: on v1 a directory in every hierarchy, on v2 one
/// directory of the unified tree. Not an owner: destroy() removes it.
class Cgroup {
public:
    /// Names the cgroup of `cgroups_path` ("/prefix/id"; relative is taken from
    /// the hierarchy root too). Errc::invalid_argument for ".." components.
    static Result<Cgroup> at(const std::string& cgroups_path);

    [[nodiscard]] CgroupMode mode() const { return mode_; }
    [[nodiscard]] const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

    /// Creates the directories (and enables v2 controllers on the ancestors).
    Result<void> create() const;
    /// Writes the limits of `res` (memory, swap, cpu, cpuset, pids, devices).
    Result<void> apply(const Resources& res) const;
    /// Moves `pid` (0: the caller) into the cgroup, in every hierarchy.
    Result<void> add(pid_t pid) const;
    /// Moves the calling process, which must be single-threaded, into the
    /// cgroup. On v1 it writes "0" to each hierarchy's `tasks`: the kernel then
    /// skips the global threadgroup lock, whose write side waits for an RCU
    /// grace period (about 10 ms here, per container start). On v2 there is
    /// no such file: use CLONE_INTO_CGROUP (open_dir) instead.
    Result<void> add_self() const;
    /// v2: the cgroup directory, opened for clone3's CLONE_INTO_CGROUP.
    Result<UniqueFd> open_dir() const;
    Result<std::vector<pid_t>> pids() const;
    Result<void> freeze(bool frozen) const;
    /// Signals every process; SIGKILL uses cgroup.kill on v2 when available.
    Result<void> signal_all(int sig) const;
    /// Kills what is left, waits for the cgroup to empty and removes it.
    /// Missing is success.
    Result<void> destroy() const;
    Result<CgroupStats> stats() const;

private:
    CgroupMode mode_ = CgroupMode::v1;
    std::string rel_;
    std::vector<std::filesystem::path> dirs_;  ///< v1: per hierarchy; v2: one
};

}  // namespace berth::engine::runtime::detail
