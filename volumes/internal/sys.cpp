// SPDX-License-Identifier: Apache-2.0
#include "volumes/internal/sys.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

namespace berth::volumes::detail {

Result<UniqueFd> openat2_fd(int dirfd, const std::string& path, uint64_t flags, uint64_t mode,
                            uint64_t resolve, const std::string& what) {
    struct open_how how {};
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = resolve;
    for (;;) {
        long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
        if (fd >= 0) {
            return UniqueFd(static_cast<int>(fd));
        }
        if (errno == EINTR || errno == EAGAIN) {
            continue;
        }
        int err = errno;
        return Error::from_errno(err, what);
    }
}

Result<UniqueFd> open_dir_path(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", dir.native()));
    }
    return UniqueFd(fd);
}

Result<bool> is_mount_root(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) {
        int err = errno;
        return Error::from_errno(err, "statx");
    }
    if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) == 0) {
        return Error(Errc::unsupported, "statx: kernel does not report STATX_ATTR_MOUNT_ROOT");
    }
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

int sys_fsopen(const char* fs, unsigned flags) {
    return static_cast<int>(::syscall(SYS_fsopen, fs, flags));
}
int sys_fsconfig(int fd, unsigned cmd, const char* key, const void* value, int aux) {
    return static_cast<int>(::syscall(SYS_fsconfig, fd, cmd, key, value, aux));
}
int sys_fsmount(int fd, unsigned flags, unsigned attr) {
    return static_cast<int>(::syscall(SYS_fsmount, fd, flags, attr));
}
int sys_move_mount(int from_dfd, const char* from, int to_dfd, const char* to, unsigned flags) {
    return static_cast<int>(::syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags));
}
int sys_open_tree(int dfd, const char* path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_open_tree, dfd, path, flags));
}
int sys_mount_setattr(int dfd, const char* path, unsigned flags, void* attr, size_t size) {
    return static_cast<int>(::syscall(SYS_mount_setattr, dfd, path, flags, attr, size));
}

std::string fd_path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

Result<void> write_all(int fd, std::string_view data, const std::string& what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, what);
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

}  // namespace berth::volumes::detail
