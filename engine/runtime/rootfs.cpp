// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/internal/rootfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "engine/runtime/internal/cgroup.hpp"
#include "engine/runtime/runtime.hpp"

namespace berth::engine::runtime::detail {
namespace {

namespace stdfs = std::filesystem;
constexpr uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

Error sys_error(std::string_view what) {
    int err = errno;
    return Error::from_errno(err, what);
}

std::string rel(const std::string& p) {
    size_t i = 0;
    while (i < p.size() && p[i] == '/') {
        ++i;
    }
    return p.substr(i);
}

/// Mounts a filesystem (not a bind) on the directory `dst` inside the root.
Result<void> mount_fs(int rootfd, const std::string& dst, const std::string& source,
                      const std::string& type, unsigned long flags, const std::string& data) {
    auto target = ensure_in_root(rootfd, dst, true);
    if (!target) {
        return std::move(target).error().wrap(fmt::format("mount {} on {}", type, dst));
    }
    if (::mount(source.c_str(), fd_path(target->get()).c_str(), type.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0) {
        return sys_error(fmt::format("mount {} on {}", type, dst));
    }
    return {};
}

/// proc and sysfs only go on an ordinary directory: a symlink or a file there
/// would redirect the mount (RELIABILITY rows 8 and 12).
Result<void> check_ordinary_dir(int rootfd, const std::string& dst, const std::string& type) {
    std::string r = rel(dst);
    std::string parent = stdfs::path(r).parent_path().string();
    std::string name = stdfs::path(r).filename().string();
    auto pfd = ensure_in_root(rootfd, parent.empty() ? "/" : parent, true);
    if (!pfd) {
        return std::move(pfd).error();
    }
    struct stat st {};
    if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return {};
        }
        return sys_error(fmt::format("stat {}", dst));
    }
    if (!S_ISDIR(st.st_mode)) {
        return Error(Errc::invalid_argument,
                     fmt::format("mount {} on {}: must be mounted on ordinary directory", type,
                                 dst));
    }
    return {};
}

Result<void> set_attrs(int mfd, const MountFlags& mf, bool recursive_attrs) {
    mount_attr attr{};
    if (mf.flags & MS_RDONLY) {
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    }
    if (mf.flags & MS_NOSUID) {
        attr.attr_set |= MOUNT_ATTR_NOSUID;
    }
    if (mf.flags & MS_NODEV) {
        attr.attr_set |= MOUNT_ATTR_NODEV;
    }
    if (mf.flags & MS_NOEXEC) {
        attr.attr_set |= MOUNT_ATTR_NOEXEC;
    }
    if (mf.flags & MS_NOATIME) {
        attr.attr_clr |= MOUNT_ATTR__ATIME;
        attr.attr_set |= MOUNT_ATTR_NOATIME;
    }
    if (attr.attr_set != 0 || attr.attr_clr != 0) {
        if (::mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive_attrs ? AT_RECURSIVE : 0), &attr,
                            sizeof(attr)) != 0) {
            return sys_error("set mount attributes");
        }
    }
    if (mf.propagation != 0) {
        mount_attr prop{};
        prop.propagation = mf.propagation & ~static_cast<unsigned long>(MS_REC);
        if (::mount_setattr(mfd, "", AT_EMPTY_PATH | ((mf.propagation & MS_REC) ? AT_RECURSIVE : 0),
                            &prop, sizeof(prop)) != 0) {
            return sys_error("set mount propagation");
        }
    }
    return {};
}

/// Clones the tree at `srcfd` (any fd, O_PATH included), applies `mf` and
/// attaches it on `targetfd`: no path is looked up twice.
Result<void> bind_fd(int srcfd, int targetfd, const MountFlags& mf) {
    int tree = ::open_tree(srcfd, "",
                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                               (mf.recursive ? AT_RECURSIVE : 0));
    if (tree < 0) {
        return sys_error("clone mount tree");
    }
    UniqueFd owner(tree);
    auto a = set_attrs(tree, mf, mf.recursive_ro);
    if (!a) {
        return a;
    }
    if (::move_mount(tree, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
        0) {
        return sys_error("attach bind mount");
    }
    return {};
}

Result<void> mount_bind(int rootfd, const Mount& m, const MountFlags& mf,
                        const stdfs::path& bundle) {
    stdfs::path src = m.source;
    if (src.is_relative()) {
        src = bundle / src;
    }
    int sfd = ::open(src.c_str(), O_PATH | O_CLOEXEC);
    if (sfd < 0) {
        return sys_error(fmt::format("bind {} on {}: open source", src.native(), m.destination));
    }
    UniqueFd source(sfd);
    struct stat st {};
    if (::fstat(sfd, &st) != 0) {
        return sys_error(fmt::format("stat {}", src.native()));
    }
    auto target = ensure_in_root(rootfd, m.destination, S_ISDIR(st.st_mode));
    if (!target) {
        return std::move(target).error().wrap(fmt::format("bind {}", src.native()));
    }
    auto r = bind_fd(sfd, target->get(), mf);
    if (!r) {
        return std::move(r).error().wrap(fmt::format("bind {} on {}", src.native(), m.destination));
    }
    return {};
}

/// The container's /sys/fs/cgroup: a fresh cgroup2 mount, or on v1 a tmpfs
/// holding one fresh mount per hierarchy (each showing the cgroup namespace root).
Result<void> mount_cgroup(int rootfd, const Mount& m, const MountFlags& mf) {
    unsigned long flags = mf.flags;
    if (detect_cgroup_mode() == CgroupMode::v2) {
        return mount_fs(rootfd, m.destination, "cgroup2", "cgroup2", flags, "");
    }
    auto r = mount_fs(rootfd, m.destination, "tmpfs", "tmpfs",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
    if (!r) {
        return r;
    }
    for (const auto& h : v1_hierarchies(true)) {
        std::string sub = m.destination + "/" + h.mountpoint.filename().string();
        auto s = mount_fs(rootfd, sub, "cgroup", "cgroup", flags, h.controllers);
        if (!s) {
            return s;
        }
    }
    if (flags & MS_RDONLY) {
        auto t = open_resolved(rootfd, m.destination, O_PATH | O_DIRECTORY, in_root);
        if (!t) {
            return std::move(t).error();
        }
        if (::mount(nullptr, fd_path(t->get()).c_str(), nullptr,
                    MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    nullptr) != 0) {
            return sys_error(fmt::format("remount {} read-only", m.destination));
        }
    }
    return {};
}

Result<void> do_mount(int rootfd, const Mount& m, const stdfs::path& bundle) {
    auto mf = parse_mount_options(m.options);
    if (!mf) {
        return std::move(mf).error().wrap(fmt::format("mount {}", m.destination));
    }
    if (mf->bind || m.type == "bind") {
        return mount_bind(rootfd, m, *mf, bundle);
    }
    if (m.type == "proc" || m.type == "sysfs") {
        auto c = check_ordinary_dir(rootfd, m.destination, m.type);
        if (!c) {
            return c;
        }
    }
    if (m.type == "cgroup" || m.type == "cgroup2") {
        return mount_cgroup(rootfd, m, *mf);
    }
    auto r = mount_fs(rootfd, m.destination, m.source.empty() ? m.type : m.source, m.type,
                      mf->flags, mf->data);
    if (!r && m.type == "sysfs" && r.error().sys_errno() == EPERM) {
        // Without a private network namespace sysfs cannot be mounted: bind the
        // host's /sys instead, as runc does.
        Mount b{m.destination, "bind", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}};
        auto bf = parse_mount_options(b.options);
        return mount_bind(rootfd, b, *bf, bundle);
    }
    if (!r) {
        return r;
    }
    if (mf->propagation != 0) {
        auto t = open_resolved(rootfd, m.destination, O_PATH | O_DIRECTORY, in_root);
        if (t && ::mount(nullptr, fd_path(t->get()).c_str(), nullptr, mf->propagation, nullptr) !=
                     0) {
            return sys_error(fmt::format("set propagation of {}", m.destination));
        }
    }
    return {};
}

Result<void> make_device(int rootfd, const Device& d) {
    std::string r = rel(d.path);
    std::string parent = stdfs::path(r).parent_path().string();
    std::string name = stdfs::path(r).filename().string();
    auto pfd = ensure_in_root(rootfd, parent.empty() ? "/" : parent, true);
    if (!pfd) {
        return std::move(pfd).error();
    }
    // The parent is an O_PATH fd: reopen it as a real directory for mknodat.
    auto dir = open_resolved(pfd->get(), ".", O_DIRECTORY | O_RDONLY, RESOLVE_BENEATH);
    if (!dir) {
        return std::move(dir).error();
    }
    mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    ::unlinkat(dir->get(), name.c_str(), 0);
    if (::mknodat(dir->get(), name.c_str(), type | (d.file_mode & 07777),
                  makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor))) != 0) {
        return sys_error(fmt::format("create device {}", d.path));
    }
    if (::fchownat(dir->get(), name.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fchmodat(dir->get(), name.c_str(), d.file_mode & 07777, 0) != 0) {
        return sys_error(fmt::format("set owner and mode of {}", d.path));
    }
    return {};
}

Result<void> dev_symlinks(int rootfd, bool with_ptmx) {
    auto dev = open_resolved(rootfd, "/dev", O_DIRECTORY | O_RDONLY, in_root);
    if (!dev) {
        return std::move(dev).error();
    }
    std::pair<const char*, const char*> links[] = {
        {"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
        {"pts/ptmx", "ptmx"},
    };
    for (const auto& [target, name] : links) {
        if (std::strcmp(name, "ptmx") == 0) {
            if (!with_ptmx) {
                continue;
            }
            ::unlinkat(dev->get(), name, 0);
        }
        if (::symlinkat(target, dev->get(), name) != 0 && errno != EEXIST) {
            return sys_error(fmt::format("create symlink /dev/{}", name));
        }
    }
    return {};
}

/// Writes linux.sysctl through the container's own procfs, verified and
/// opened beneath it without crossing a mount or following a symlink.
Result<void> write_sysctls(int rootfd, const std::map<std::string, std::string>& sysctl) {
    if (sysctl.empty()) {
        return {};
    }
    auto proc = open_resolved(rootfd, "/proc", O_DIRECTORY | O_RDONLY, in_root);
    if (!proc) {
        return std::move(proc).error().wrap("open container /proc");
    }
    struct statfs sf {};
    if (::fstatfs(proc->get(), &sf) != 0 || sf.f_type != PROC_SUPER_MAGIC) {
        return Error(Errc::failed_precondition, "container /proc is not a procfs");
    }
    for (const auto& [key, value] : sysctl) {
        std::string path = "sys/" + key;
        for (auto& c : path) {
            c = c == '.' ? '/' : c;
        }
        auto f = open_resolved(proc->get(), path, O_WRONLY,
                               RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS);
        if (!f) {
            return std::move(f).error().wrap(fmt::format("set sysctl {}", key));
        }
        if (::write(f->get(), value.data(), value.size()) < 0) {
            return sys_error(fmt::format("set sysctl {}={}", key, value));
        }
    }
    return {};
}

Result<void> mask_paths(int rootfd, const std::vector<std::string>& paths) {
    // The /dev/null bound over masked files must really be char 1:3 (row 9):
    // checked on the O_PATH fd that is then bound, so it cannot be swapped.
    auto null = open_resolved(rootfd, "/dev/null", O_PATH, in_root | RESOLVE_NO_SYMLINKS);
    UniqueFd host_null;
    struct stat st {};
    if (!null || ::fstat(null->get(), &st) != 0 || !S_ISCHR(st.st_mode) ||
        st.st_rdev != makedev(1, 3)) {
        int fd = ::open("/dev/null", O_PATH | O_CLOEXEC);
        if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev(1, 3)) {
            if (fd >= 0) {
                ::close(fd);
            }
            return Error(Errc::failed_precondition, "no /dev/null char 1:3 to mask paths with");
        }
        host_null.reset(fd);
    } else {
        host_null = std::move(*null);
    }
    for (const auto& p : paths) {
        auto t = open_resolved(rootfd, p, O_PATH | O_NOFOLLOW, in_root);
        if (!t) {
            if (t.error().code() == Errc::not_found) {
                continue;
            }
            return std::move(t).error().wrap(fmt::format("mask {}", p));
        }
        if (::fstat(t->get(), &st) != 0) {
            return sys_error(fmt::format("stat {}", p));
        }
        if (S_ISLNK(st.st_mode)) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (::mount("tmpfs", fd_path(t->get()).c_str(), "tmpfs", MS_RDONLY, nullptr) != 0) {
                return sys_error(fmt::format("mask directory {}", p));
            }
        } else {
            MountFlags mf;
            mf.flags = MS_RDONLY;
            auto r = bind_fd(host_null.get(), t->get(), mf);
            if (!r) {
                return std::move(r).error().wrap(fmt::format("mask {}", p));
            }
        }
    }
    return {};
}

Result<void> readonly_paths(int rootfd, const std::vector<std::string>& paths) {
    for (const auto& p : paths) {
        auto t = open_resolved(rootfd, p, O_PATH | O_NOFOLLOW, in_root);
        if (!t) {
            if (t.error().code() == Errc::not_found) {
                continue;
            }
            return std::move(t).error().wrap(fmt::format("make {} read-only", p));
        }
        MountFlags mf;
        mf.flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        mf.recursive = true;
        mf.recursive_ro = true;
        auto r = bind_fd(t->get(), t->get(), mf);
        if (!r) {
            return std::move(r).error().wrap(fmt::format("make {} read-only", p));
        }
    }
    return {};
}

}  // namespace

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<UniqueFd> open_resolved(int dirfd, const std::string& path, int flags, uint64_t resolve) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = resolve;
    std::string p = path.empty() ? "." : path;
    if ((resolve & RESOLVE_BENEATH) != 0 && p[0] == '/') {
        p = rel(p);
    }
    long fd = ::syscall(SYS_openat2, dirfd, p.c_str(), &how, sizeof(how));
    if (fd < 0) {
        return sys_error(fmt::format("open {}", path));
    }
    return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> ensure_in_root(int rootfd, const std::string& path, bool directory,
                                mode_t mode) {
    auto fd = open_resolved(rootfd, path, O_PATH, in_root);
    if (fd || fd.error().code() != Errc::not_found) {
        return fd;
    }
    std::string r = rel(path);
    stdfs::path p(r);
    std::string parent = p.parent_path().string();
    std::string name = p.filename().string();
    if (name.empty() || name == "." || name == "..") {
        return fd;
    }
    auto pfd = ensure_in_root(rootfd, parent.empty() ? "/" : parent, true, 0755);
    if (!pfd) {
        return pfd;
    }
    if (directory) {
        if (::mkdirat(pfd->get(), name.c_str(), mode) != 0 && errno != EEXIST) {
            return sys_error(fmt::format("create directory {}", path));
        }
    } else {
        int f = ::openat(pfd->get(), name.c_str(),
                         O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST) {
            return sys_error(fmt::format("create file {}", path));
        }
        if (f >= 0) {
            ::close(f);
        }
    }
    // Opened again in the root: a dangling symlink planted there stays inside.
    return open_resolved(rootfd, path, O_PATH, in_root);
}

Result<UniqueFd> prepare_rootfs(const Spec& spec, const stdfs::path& bundle, int console_fd) {
    auto prop = parse_mount_options({spec.linux.rootfs_propagation.empty()
                                         ? std::string("rslave")
                                         : spec.linux.rootfs_propagation});
    if (!prop) {
        return std::move(prop).error().wrap("linux.rootfsPropagation");
    }
    // Nothing mounted from here on may propagate back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
        return sys_error("make / a slave mount");
    }
    stdfs::path root = spec.root_path;
    if (root.is_relative()) {
        root = bundle / root;
    }
    auto lower = spec.annotations.find("org.berth.rootfs.lowerdir");
    if (lower != spec.annotations.end()) {
        auto upper = spec.annotations.find("org.berth.rootfs.upperdir");
        auto work = spec.annotations.find("org.berth.rootfs.workdir");
        std::string data = "lowerdir=" + lower->second;
        if (upper != spec.annotations.end() && work != spec.annotations.end()) {
            data += ",upperdir=" + upper->second + ",workdir=" + work->second;
        }
        if (::mount("overlay", root.c_str(), "overlay", 0, data.c_str()) != 0) {
            return sys_error(fmt::format("mount overlay on {}", root.native()));
        }
    } else if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        return sys_error(fmt::format("bind rootfs {}", root.native()));
    }
    if (!spec.linux.rootfs_propagation.empty() &&
        ::mount(nullptr, root.c_str(), nullptr, prop->propagation, nullptr) != 0) {
        return sys_error("set rootfs propagation");
    }
    int rfd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) {
        return sys_error(fmt::format("open rootfs {}", root.native()));
    }
    UniqueFd rootfd(rfd);
    bool dev_tmpfs = false;
    bool devpts = false;
    for (const auto& m : spec.mounts) {
        auto r = do_mount(rootfd.get(), m, bundle);
        if (!r) {
            return std::move(r).error();
        }
        dev_tmpfs = dev_tmpfs || (m.destination == "/dev" && m.type == "tmpfs");
        devpts = devpts || m.type == "devpts";
    }
    if (dev_tmpfs) {
        static const Device defaults[] = {
            {"/dev/null", 'c', 1, 3, 0666, 0, 0},    {"/dev/zero", 'c', 1, 5, 0666, 0, 0},
            {"/dev/full", 'c', 1, 7, 0666, 0, 0},    {"/dev/random", 'c', 1, 8, 0666, 0, 0},
            {"/dev/urandom", 'c', 1, 9, 0666, 0, 0}, {"/dev/tty", 'c', 5, 0, 0666, 0, 0},
        };
        for (const auto& d : defaults) {
            auto r = make_device(rootfd.get(), d);
            if (!r) {
                return std::move(r).error();
            }
        }
        auto s = dev_symlinks(rootfd.get(), devpts);
        if (!s) {
            return std::move(s).error();
        }
    }
    for (const auto& d : spec.linux.devices) {
        auto r = make_device(rootfd.get(), d);
        if (!r) {
            return std::move(r).error();
        }
    }
    if (console_fd >= 0) {
        // Bind the pty we hold, by fd: a swapped /dev/pts node cannot redirect it (row 10).
        auto c = ensure_in_root(rootfd.get(), "/dev/console", false);
        if (!c) {
            return std::move(c).error().wrap("create /dev/console");
        }
        // open_tree only clones mounts of our own mount namespace: reach the same
        // pty through our copy of its mount and check it is the very same inode.
        char link[256] = {};
        ssize_t n = ::readlink(fd_path(console_fd).c_str(), link, sizeof(link) - 1);
        if (n <= 0 || link[0] != '/') {
            return Error(Errc::invalid_argument, "terminal: the pty has no path");
        }
        int same = ::open(link, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (same < 0) {
            return sys_error(fmt::format("open pty {}", link));
        }
        UniqueFd pty(same);
        struct stat a {};
        struct stat b {};
        if (::fstat(console_fd, &a) != 0 || ::fstat(same, &b) != 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino || !S_ISCHR(b.st_mode)) {
            return Error(Errc::conflict, fmt::format("pty {} changed under us", link));
        }
        MountFlags mf;
        auto bound = bind_fd(same, c->get(), mf);
        if (!bound) {
            return std::move(bound).error().wrap("bind /dev/console");
        }
    }
    auto s = write_sysctls(rootfd.get(), spec.linux.sysctl);
    if (!s) {
        return std::move(s).error();
    }
    auto mk = mask_paths(rootfd.get(), spec.linux.masked_paths);
    if (!mk) {
        return std::move(mk).error();
    }
    auto ro = readonly_paths(rootfd.get(), spec.linux.readonly_paths);
    if (!ro) {
        return std::move(ro).error();
    }
    return rootfd;
}

Result<void> pivot_into(int rootfd, bool readonly) {
    if (::fchdir(rootfd) != 0) {
        return sys_error("enter rootfs");
    }
    if (::syscall(SYS_pivot_root, ".", ".") != 0) {
        return sys_error("pivot_root");
    }
    if (::umount2(".", MNT_DETACH) != 0) {
        return sys_error("detach old root");
    }
    if (::chdir("/") != 0) {
        return sys_error("chdir /");
    }
    if (readonly && ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        return sys_error("remount rootfs read-only");
    }
    return {};
}

Result<void> write_proc_self(const std::string& name, const std::string& value) {
    int pfd = ::open("/proc", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (pfd < 0) {
        return sys_error("open /proc");
    }
    UniqueFd proc(pfd);
    struct statfs sf {};
    if (::fstatfs(pfd, &sf) != 0 || sf.f_type != PROC_SUPER_MAGIC) {
        return Error(Errc::failed_precondition, "/proc is not a procfs");
    }
    auto f = open_resolved(pfd, "self/" + name, O_WRONLY, RESOLVE_BENEATH | RESOLVE_NO_XDEV);
    if (!f) {
        return std::move(f).error();
    }
    if (::write(f->get(), value.data(), value.size()) < 0) {
        return sys_error(fmt::format("write {} to /proc/self/{}", value, name));
    }
    return {};
}

}  // namespace berth::engine::runtime::detail
