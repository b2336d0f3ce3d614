// SPDX-License-Identifier: Apache-2.0
#include "volumes/copy_up.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <map>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "volumes/internal/sys.hpp"
#include "volumes/mount_spec.hpp"

namespace berth::volumes {

namespace {

constexpr uint64_t no_follow = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

bool is_whiteout(const struct stat& st) {
    return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque(int dirfd) {
    char v[4] = {};
    ssize_t n = ::fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof v);
    return n == 1 && v[0] == 'y';
}

/// One directory of the merged view: its fd in each layer that contributes,
/// top first.
using MergedDir = std::vector<UniqueFd>;

struct Entry {
    size_t layer = 0;  ///< index into the MergedDir that provides it
    struct stat st {};
};

class Copier {
public:
    explicit Copier(int dest_root) : dest_root_(dest_root) {}

    Result<void> copy_dir_contents(const MergedDir& src, int dst, const std::string& rel) {
        auto entries = list_merged(src, rel);
        if (!entries) {
            return std::move(entries).error();
        }
        for (const auto& [name, e] : *entries) {
            auto child_rel = rel.empty() ? name : rel + "/" + name;
            if (auto r = copy_entry(src, e, name, dst, child_rel); !r) {
                return r;
            }
        }
        return {};
    }

    /// Applies owner, mode, xattrs and times of `st` (from `src_fd`) to `dst_fd`.
    Result<void> apply_meta(int src_fd, int dst_fd, const struct stat& st, const std::string& rel) {
        if (::fchown(dst_fd, st.st_uid, st.st_gid) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("chown {}", rel));
        }
        // After chown: chown clears set-id bits.
        if (::fchmod(dst_fd, st.st_mode & 07777) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("chmod {}", rel));
        }
        if (auto r = copy_xattrs(src_fd, dst_fd, rel); !r) {
            return r;
        }
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        if (::futimens(dst_fd, times) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("set times of {}", rel));
        }
        return {};
    }

    CopyUpStats stats;

private:
    Result<std::map<std::string, Entry>> list_merged(const MergedDir& src, const std::string& rel) {
        std::map<std::string, Entry> entries;
        std::map<std::string, bool> seen;  // name -> hidden (whiteout)
        for (size_t i = 0; i < src.size(); ++i) {
            int dup = ::fcntl(src[i].get(), F_DUPFD_CLOEXEC, 0);
            if (dup < 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("read image directory {}", rel));
            }
            DIR* d = ::fdopendir(dup);
            if (d == nullptr) {
                int err = errno;
                ::close(dup);
                return Error::from_errno(err, fmt::format("read image directory {}", rel));
            }
            ::rewinddir(d);
            while (struct dirent* de = ::readdir(d)) {
                std::string name = de->d_name;
                if (name == "." || name == ".." || seen.count(name) != 0) {
                    continue;
                }
                struct stat st {};
                if (::fstatat(src[i].get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    int err = errno;
                    ::closedir(d);
                    return Error::from_errno(err, fmt::format("stat image file {}/{}", rel, name));
                }
                seen[name] = is_whiteout(st);
                if (!is_whiteout(st)) {
                    entries[name] = Entry{i, st};
                }
            }
            ::closedir(d);
        }
        return entries;
    }

    /// The fds of `name` as a directory in layers from `from` down, stopping at
    /// a whiteout, a non-directory or an opaque directory.
    Result<MergedDir> merge_child(const MergedDir& src, size_t from, const std::string& name,
                                  const std::string& rel) {
        MergedDir out;
        for (size_t i = from; i < src.size(); ++i) {
            struct stat st {};
            if (::fstatat(src[i].get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {
                    continue;
                }
                int err = errno;
                return Error::from_errno(err, fmt::format("stat image file {}", rel));
            }
            if (!S_ISDIR(st.st_mode)) {
                break;
            }
            auto fd = detail::openat2_fd(src[i].get(), name, O_RDONLY | O_DIRECTORY, 0, no_follow,
                                         fmt::format("open image directory {}", rel));
            if (!fd) {
                return std::move(fd).error();
            }
            bool opaque = is_opaque(fd->get());
            out.push_back(std::move(*fd));
            if (opaque) {
                break;
            }
        }
        return out;
    }

    Result<void> copy_xattrs(int src_fd, int dst_fd, const std::string& rel) {
        char names[65536];
        ssize_t len = ::flistxattr(src_fd, names, sizeof names);
        if (len < 0) {
            if (errno == ENOTSUP) {
                return {};
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("list xattrs of {}", rel));
        }
        std::vector<char> value(65536);
        for (ssize_t off = 0; off < len;) {
            std::string key(names + off);
            off += static_cast<ssize_t>(key.size()) + 1;
            if (key.rfind("trusted.overlay.", 0) == 0) {
                continue;
            }
            ssize_t n = ::fgetxattr(src_fd, key.c_str(), value.data(), value.size());
            if (n < 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("read xattr {} of {}", key, rel));
            }
            if (::fsetxattr(dst_fd, key.c_str(), value.data(), static_cast<size_t>(n), 0) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("set xattr {} on {}", key, rel));
            }
        }
        return {};
    }

    Result<void> copy_data(int in, int out, const std::string& rel, off_t size) {
        off_t left = size;
        bool fallback = false;
        while (left > 0 && !fallback) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(left), 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS) {
                    fallback = true;
                    break;
                }
                int err = errno;
                return Error::from_errno(err, fmt::format("copy {}", rel));
            }
            if (n == 0) {
                break;
            }
            left -= n;
            stats.bytes += static_cast<uint64_t>(n);
        }
        if (!fallback) {
            return {};
        }
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(in, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                int err = errno;
                return Error::from_errno(err, fmt::format("read {}", rel));
            }
            if (n == 0) {
                return {};
            }
            if (auto r = detail::write_all(out, std::string_view(buf, static_cast<size_t>(n)),
                                           fmt::format("write {}", rel));
                !r) {
                return r;
            }
            stats.bytes += static_cast<uint64_t>(n);
        }
    }

    Result<void> copy_entry(const MergedDir& src, const Entry& e, const std::string& name, int dst,
                            const std::string& rel) {
        int sdir = src[e.layer].get();
        const struct stat& st = e.st;
        ++stats.entries;
        if (S_ISDIR(st.st_mode)) {
            if (::mkdirat(dst, name.c_str(), 0700) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("create directory {}", rel));
            }
            auto child_dst = detail::openat2_fd(dst, name, O_RDONLY | O_DIRECTORY, 0, no_follow,
                                                fmt::format("open directory {}", rel));
            if (!child_dst) {
                return std::move(child_dst).error();
            }
            auto child_src = merge_child(src, e.layer, name, rel);
            if (!child_src) {
                return std::move(child_src).error();
            }
            if (auto r = copy_dir_contents(*child_src, child_dst->get(), rel); !r) {
                return r;
            }
            return apply_meta(child_src->front().get(), child_dst->get(), st, rel);
        }
        if (S_ISREG(st.st_mode)) {
            auto key = std::make_pair(st.st_dev, st.st_ino);
            if (st.st_nlink > 1) {
                auto it = links_.find(key);
                if (it != links_.end()) {
                    auto first = detail::openat2_fd(dest_root_, it->second, O_PATH, 0, no_follow,
                                                    fmt::format("open {}", it->second));
                    if (!first) {
                        return std::move(first).error();
                    }
                    if (::linkat(first->get(), "", dst, name.c_str(), AT_EMPTY_PATH) != 0) {
                        int err = errno;
                        return Error::from_errno(err, fmt::format("link {} to {}", rel,
                                                                  it->second));
                    }
                    return {};
                }
                links_[key] = rel;
            }
            auto in = detail::openat2_fd(sdir, name, O_RDONLY | O_NOFOLLOW, 0, no_follow,
                                         fmt::format("open image file {}", rel));
            if (!in) {
                return std::move(in).error();
            }
            auto out = detail::openat2_fd(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                                          0600, no_follow, fmt::format("create {}", rel));
            if (!out) {
                return std::move(out).error();
            }
            if (auto r = copy_data(in->get(), out->get(), rel, st.st_size); !r) {
                return r;
            }
            return apply_meta(in->get(), out->get(), st, rel);
        }
        if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(sdir, name.c_str(), target.data(), target.size());
            if (n < 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("read link {}", rel));
            }
            target.resize(static_cast<size_t>(n));
            if (::symlinkat(target.c_str(), dst, name.c_str()) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("create link {}", rel));
            }
            if (::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("chown {}", rel));
            }
            struct timespec times[2] = {st.st_atim, st.st_mtim};
            if (::utimensat(dst, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("set times of {}", rel));
            }
            return {};
        }
        // Devices, fifos and sockets.
        if (::mknodat(dst, name.c_str(), st.st_mode, st.st_rdev) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("create node {}", rel));
        }
        auto node = detail::openat2_fd(dst, name, O_PATH | O_NOFOLLOW, 0, no_follow,
                                       fmt::format("open {}", rel));
        if (!node) {
            return std::move(node).error();
        }
        // fchown/fchmod do not work on O_PATH fds; the magic link of the
        // verified fd names exactly the node just made.
        auto p = detail::fd_path(node->get());
        if (::fchownat(AT_FDCWD, p.c_str(), st.st_uid, st.st_gid, 0) != 0 ||
            ::fchmodat(AT_FDCWD, p.c_str(), st.st_mode & 07777, 0) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("set owner of {}", rel));
        }
        return {};
    }

    int dest_root_;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

Result<CopyUpStats> copy_up(std::span<const std::filesystem::path> layers,
                            std::string_view target, const std::filesystem::path& dest) {
    auto ctx = fmt::format("copy image content of {} into {}", target, dest.native());
    auto dest_fd = detail::openat2_fd(AT_FDCWD, dest.string(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
                                      0, RESOLVE_NO_MAGICLINKS, fmt::format("open {}", dest.native()));
    if (!dest_fd) {
        return std::move(dest_fd).error().wrap(ctx);
    }
    {
        int dup = ::fcntl(dest_fd->get(), F_DUPFD_CLOEXEC, 0);
        DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
        if (d == nullptr) {
            int err = errno;
            if (dup >= 0) {
                ::close(dup);
            }
            return Error::from_errno(err, ctx);
        }
        bool empty = true;
        while (struct dirent* de = ::readdir(d)) {
            std::string_view n = de->d_name;
            if (n != "." && n != "..") {
                empty = false;
                break;
            }
        }
        ::closedir(d);
        if (!empty) {
            return Error(Errc::failed_precondition,
                         fmt::format("{}: destination is not empty", ctx));
        }
    }
    // Walk down to the target in the merged view, top layer first.
    MergedDir current;
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        auto fd = detail::openat2_fd(AT_FDCWD, it->string(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
                                     0, RESOLVE_NO_MAGICLINKS,
                                     fmt::format("open layer {}", it->native()));
        if (!fd) {
            return std::move(fd).error().wrap(ctx);
        }
        current.push_back(std::move(*fd));
    }
    std::string clean = clean_container_path(target);
    std::string_view rest = std::string_view(clean).substr(1);
    struct stat top {};
    bool have_top = false;
    while (!rest.empty()) {
        auto slash = rest.find('/');
        std::string comp(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        MergedDir next;
        for (auto& dir : current) {
            struct stat st {};
            if (::fstatat(dir.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {
                    continue;
                }
                int err = errno;
                return Error::from_errno(err, fmt::format("{}: stat {}", ctx, comp));
            }
            if (!S_ISDIR(st.st_mode)) {
                // A whiteout, file or symlink hides what is below; a symlink on
                // the way is never followed (nothing to copy).
                break;
            }
            auto fd = detail::openat2_fd(dir.get(), comp, O_RDONLY | O_DIRECTORY, 0, no_follow,
                                         fmt::format("{}: open {}", ctx, comp));
            if (!fd) {
                return std::move(fd).error();
            }
            if (next.empty()) {
                top = st;
                have_top = true;
            }
            bool opaque = is_opaque(fd->get());
            next.push_back(std::move(*fd));
            if (opaque) {
                break;
            }
        }
        if (next.empty()) {
            return CopyUpStats{};
        }
        current = std::move(next);
    }
    if (current.empty()) {
        return CopyUpStats{};
    }
    if (!have_top && ::fstat(current.front().get(), &top) != 0) {
        int err = errno;
        return Error::from_errno(err, ctx);
    }
    Copier copier(dest_fd->get());
    if (auto r = copier.copy_dir_contents(current, dest_fd->get(), ""); !r) {
        return std::move(r).error().wrap(ctx);
    }
    // The volume root takes the owner and mode of the image directory, as Docker does.
    if (auto r = copier.apply_meta(current.front().get(), dest_fd->get(), top, "."); !r) {
        return std::move(r).error().wrap(ctx);
    }
    log::volumes().debug("copied {} entries ({} bytes) from {} into {}", copier.stats.entries,
                         copier.stats.bytes, target, dest.native());
    return copier.stats;
}

}  // namespace berth::volumes
