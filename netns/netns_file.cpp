// SPDX-License-Identifier: Apache-2.0
// Persistent network namespaces: an nsfs bind mount on an empty file.
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <thread>

#include "common/fs.hpp"
#include "netns/internal/kernel.hpp"
#include "netns/network.hpp"

namespace berth::netns {

namespace {

bool is_nsfs(const std::filesystem::path& path) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

}  // namespace

std::filesystem::path netns_dir(const Paths& paths) { return paths.run_root / "netns"; }

Result<void> create_netns(const std::filesystem::path& path) {
    if (auto r = fs::make_dirs(path.parent_path(), 0700); !r) {
        return r;
    }
    if (is_nsfs(path)) {
        return Error(Errc::already_exists, fmt::format("netns {} already exists", path.native()));
    }
    {
        int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("create netns file {}", path.native()));
        }
        ::close(fd);
    }
    Result<void> result;
    // unshare(CLONE_NEWNET) moves only the calling thread, so do it on a
    // thread of its own; the namespace lives on through the bind mount.
    std::thread worker([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            int err = errno;
            result = Error::from_errno(err, "unshare network namespace");
            return;
        }
        auto self = fmt::format("/proc/self/task/{}/ns/net", ::syscall(SYS_gettid));
        if (::mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
            int err = errno;
            result = Error::from_errno(err, fmt::format("bind netns on {}", path.native()));
            return;
        }
        auto nl = detail::Netlink::open();
        if (!nl) {
            result = std::move(nl).error();
            return;
        }
        auto lo = nl->ifindex("lo");
        if (!lo) {
            result = std::move(lo).error();
            return;
        }
        result = nl->set_up(*lo);
    });
    worker.join();
    if (!result) {
        auto undo = remove_netns(path);
        (void)undo;
        return std::move(result).error().wrap(fmt::format("create netns {}", path.native()));
    }
    return {};
}

Result<void> remove_netns(const std::filesystem::path& path) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        int err = errno;
        return Error::from_errno(err, fmt::format("unmount netns {}", path.native()));
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        int err = errno;
        return Error::from_errno(err, fmt::format("remove netns {}", path.native()));
    }
    return {};
}

}  // namespace berth::netns
