// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "engine/runtime/spec.hpp"

/// Filesystem set-up of a new container, run by the container's first process
/// inside its fresh mount namespace (before pivot_root). Every path inside the
/// rootfs is resolved from a rootfs dirfd with openat2(RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS) and mounted through the resulting fd.
namespace berth::engine::runtime::detail {

/// openat2(dirfd, path, flags | O_CLOEXEC) with `resolve` flags.
Result<UniqueFd> open_resolved(int dirfd, const std::string& path, int flags, uint64_t resolve);

/// Resolves `path` inside the root `rootfd`, creating missing components (as
/// directories, and the last one as a directory or an empty file). Returns an
/// O_PATH fd of the result.
Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, bool directory,
                                mode_t mode = 0755);

/// "/proc/self/fd/N" for mounting through an fd.
std::string fd_path(int fd);

/// Everything between the fresh mount namespace and pivot_root: rootfs
/// propagation, the overlay (annotations) or a self-bind of root.path, the
/// spec mounts, devices, /dev symlinks, /dev/console (`console_fd` >= 0),
/// sysctls, masked and read-only paths. Returns the rootfs dirfd.
Result<UniqueFd> prepare_rootfs(const Spec& spec, const std::filesystem::path& bundle,
                                int console_fd);

/// pivot_root into `rootfd`, detaches the old root, then makes / read-only
/// when `readonly`.
Result<void> pivot_into(int rootfd, bool readonly);

/// Writes `value` to /proc/self/<name> through a procfs handle verified with
/// fstatfs(PROC_SUPER_MAGIC) and opened without crossing mounts.
Result<void> write_proc_self(const std::string& name, const std::string& value);

}  // namespace berth::engine::runtime::detail
