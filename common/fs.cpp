// SPDX-License-Identifier: Apache-2.0
#include "common/fs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <dirent.h>

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <random>
#include <spdlog/spdlog.h>

namespace berth::fs {

namespace {

/// Unlinks a temp file unless its path was cleared (after the rename).
struct ScopeExitUnlink {
    std::filesystem::path path;
    ~ScopeExitUnlink() {
        if (!path.empty()) {
            ::unlink(path.c_str());
        }
    }
};

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

Result<void> write_all(int fd, std::string_view data, const std::filesystem::path& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("write {}", path.native()));
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

}  // namespace

Result<void> write_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode,
                          Durability durability) {
    const bool durable = durability == Durability::durable;
    auto dir = path.parent_path();
    auto tmp = dir / fmt::format(".tmp-{}-{}", path.filename().native(), random_suffix());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create {}", tmp.native()));
    }
    UniqueFd guard(fd);
    auto undo = ScopeExitUnlink{tmp};
    if (auto r = write_all(fd, data, tmp); !r) {
        return r;
    }
    if (::fchmod(fd, mode) != 0 || (durable && ::fsync(fd) != 0)) {
        int err = errno;
        return Error::from_errno(err, fmt::format("sync {}", tmp.native()));
    }
    guard.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("rename {} to {}", tmp.native(), path.native()));
    }
    undo.path.clear();
    if (!durable) {
        return {};
    }
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

Result<std::string> read_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", path.native()));
    }
    UniqueFd guard(fd);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("read {}", path.native()));
        }
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<void> make_dirs(const std::filesystem::path& path, mode_t mode) {
    if (path.empty()) {
        return {};
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            return {};
        }
        return Error(Errc::already_exists,
                     fmt::format("create directory {}: exists and is not a directory", path.native()));
    }
    if (auto parent = path.parent_path(); parent != path) {
        if (auto r = make_dirs(parent, mode); !r) {
            return r;
        }
    }
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create directory {}", path.native()));
    }
    return {};
}

namespace {
Result<void> remove_tree_at(int parent_fd, const char* name, dev_t dev, const std::string& shown) {
    struct stat st {};
    if (::fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return {};
        }
        int err = errno;
        return Error::from_errno(err, fmt::format("stat {}", shown));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT) {
            int err = errno;
            return Error::from_errno(err, fmt::format("remove {}", shown));
        }
        return {};
    }
    if (st.st_dev != dev) {
        return Error(Errc::conflict, fmt::format("remove {}: a file system is mounted there", shown));
    }
    int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", shown));
    }
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        int err = errno;
        ::close(fd);
        return Error::from_errno(err, fmt::format("open {}", shown));
    }
    Result<void> result;
    while (struct dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (auto r = remove_tree_at(::dirfd(d), e->d_name, dev, shown + "/" + e->d_name); !r) {
            result = std::move(r);
            break;
        }
    }
    ::closedir(d);
    if (!result) {
        return result;
    }
    if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        int err = errno;
        return Error::from_errno(err, fmt::format("remove {}", shown));
    }
    return {};
}
}  // namespace

Result<void> remove_tree(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return {};
        }
        int err = errno;
        return Error::from_errno(err, fmt::format("stat {}", path.native()));
    }
    auto parent = path.parent_path();
    int pfd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", parent.native()));
    }
    UniqueFd guard(pfd);
    return remove_tree_at(pfd, path.filename().c_str(), st.st_dev, path.native());
}

Result<UniqueFd> open(const std::filesystem::path& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", path.native()));
    }
    return UniqueFd(fd);
}

namespace {
Result<UniqueFd> open_lock(const std::filesystem::path& path) {
    if (auto r = make_dirs(path.parent_path(), 0700); !r) {
        return std::move(r).error();
    }
    return open(path, O_RDWR | O_CREAT, 0600);
}
}  // namespace

Result<FileLock> FileLock::acquire(const std::filesystem::path& path) {
    auto fd = open_lock(path);
    if (!fd) {
        return std::move(fd).error();
    }
    while (::flock(fd->get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            int err = errno;
            return Error::from_errno(err, fmt::format("lock {}", path.native()));
        }
    }
    return FileLock(std::move(*fd));
}

Result<FileLock> FileLock::try_acquire(const std::filesystem::path& path) {
    auto fd = open_lock(path);
    if (!fd) {
        return std::move(fd).error();
    }
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            return Error(Errc::conflict, fmt::format("lock {}: held by another process", path.native()));
        }
        return Error::from_errno(err, fmt::format("lock {}", path.native()));
    }
    return FileLock(std::move(*fd));
}

Result<TempDir> TempDir::create(const std::filesystem::path& parent, std::string_view prefix) {
    if (auto r = make_dirs(parent, 0700); !r) {
        return std::move(r).error();
    }
    std::string tmpl = (parent / (std::string(prefix) + "XXXXXX")).native();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create temporary directory in {}", parent.native()));
    }
    return TempDir(std::filesystem::path(tmpl));
}

TempDir::~TempDir() {
    if (!path_.empty()) {
        if (auto r = remove_tree(path_); !r) {
            spdlog::warn("remove temporary directory {}: {}", path_.native(), r.error().message());
        }
    }
}

}  // namespace berth::fs
