// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

/// Thin syscall helpers of the volumes module: openat2 and the fd-based mount
/// API (no glibc wrappers are assumed), and small fd utilities.
namespace berth::volumes::detail {

/// openat2(2). `resolve` is a RESOLVE_* mask. O_CLOEXEC is added. Returns the fd
/// or Error::from_errno naming `what`.
Result<UniqueFd> openat2_fd(int dirfd, const std::string& path, uint64_t flags, uint64_t mode,
                            uint64_t resolve, const std::string& what);

/// Opens a host directory (O_PATH | O_DIRECTORY) without following a final symlink.
Result<UniqueFd> open_dir_path(const std::filesystem::path& dir);

/// True when the object `fd` refers to is the root of a mount (statx
/// STATX_ATTR_MOUNT_ROOT).
Result<bool> is_mount_root(int fd);

/// fsopen/fsconfig/fsmount/move_mount/open_tree/mount_setattr through syscall(2).
int sys_fsopen(const char* fs, unsigned flags);
int sys_fsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux);
int sys_fsmount(int fd, unsigned flags, unsigned attr);
int sys_move_mount(int from_dfd, const char* from, int to_dfd, const char* to, unsigned flags);
int sys_open_tree(int dfd, const char* path, unsigned flags);
int sys_mount_setattr(int dfd, const char* path, unsigned flags, void* attr, size_t size);

/// "/proc/self/fd/N" for an fd, to hand a verified object to a path-only syscall.
std::string fd_path(int fd);

/// Writes all of `data` to `fd`.
Result<void> write_all(int fd, std::string_view data, const std::string& what);

}  // namespace berth::volumes::detail
