// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/copy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fmt/format.h>
#include <vector>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"
#include "engine/images/layer.hpp"
#include "engine/images/tar_writer.hpp"

namespace berth::engine::containers {

namespace {

Error sys_error(std::string_view what) {
    int err = errno;  // read errno first: formatting may allocate and change it
    return Error::from_errno(err, what);
}

/// openat2(dirfd, path, flags | O_CLOEXEC, resolve).
Result<UniqueFd> open_in(int dirfd, const std::string& path, int flags, uint64_t resolve) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = resolve;
    long fd = ::syscall(SYS_openat2, dirfd, path.empty() ? "." : path.c_str(), &how, sizeof how);
    if (fd < 0) {
        return sys_error(fmt::format("open {}", path));
    }
    return UniqueFd{static_cast<int>(fd)};
}

/// One side of a copy: a root to resolve paths from, in the container or on the host.
struct Side {
    int root = AT_FDCWD;
    uint64_t resolve = 0;  ///< RESOLVE_IN_ROOT for the container side
};

/// A path split into its parent directory (opened) and its last component.
struct Located {
    UniqueFd dir;
    std::string name;  ///< "." when the path names its directory itself
    bool contents_only = false;  ///< the path ended with "/."
    bool trailing_slash = false;
};

Result<Located> locate(const Side& side, const std::string& path) {
    Located out;
    std::string p = path;
    if (p.size() >= 2 && p.compare(p.size() - 2, 2, "/.") == 0) {
        out.contents_only = true;
        p.resize(p.size() - 2);
        if (p.empty()) {
            p = "/";
        }
    }
    while (p.size() > 1 && p.back() == '/') {
        out.trailing_slash = true;
        p.pop_back();
    }
    std::filesystem::path fp(p);
    std::string parent = fp.has_parent_path() ? fp.parent_path().string() : ".";
    std::string name = fp.filename().string();
    if (name.empty() || name == "/") {
        name = ".";
    }
    if (name == "..") {
        // Resolve the directory itself rather than copying an entry named "..".
        parent = p;
        name = ".";
    }
    auto dir = open_in(side.root, parent, O_PATH | O_DIRECTORY, side.resolve);
    if (!dir) {
        return std::move(dir).error();
    }
    out.dir = std::move(*dir);
    out.name = name;
    return out;
}

Result<void> copy_entry(int sdir, const std::string& sname, int ddir, const std::string& dname);

Result<void> copy_dir_contents(int sfd, int dfd) {
    int dup = ::fcntl(sfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        return sys_error("dup directory");
    }
    DIR* d = ::fdopendir(dup);
    if (d == nullptr) {
        auto e = sys_error("read directory");
        ::close(dup);
        return e;
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            names.push_back(std::move(n));
        }
    }
    ::closedir(d);
    for (const auto& n : names) {
        if (auto r = copy_entry(sfd, n, dfd, n); !r) {
            return r;
        }
    }
    return {};
}

Result<void> copy_file(int sdir, const std::string& sname, int ddir, const std::string& dname,
                       mode_t mode) {
    UniqueFd in(::openat(sdir, sname.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) {
        return sys_error(fmt::format("open {}", sname));
    }
    UniqueFd out(::openat(ddir, dname.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                          mode & 07777));
    if (!out) {
        return sys_error(fmt::format("create {}", dname));
    }
    std::vector<char> buf(1 << 16);
    for (;;) {
        ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return sys_error(fmt::format("read {}", sname));
        }
        if (n == 0) {
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                return sys_error(fmt::format("write {}", dname));
            }
            off += w;
        }
    }
    if (::fchmod(out.get(), mode & 07777) != 0) {
        return sys_error(fmt::format("chmod {}", dname));
    }
    return {};
}

Result<void> copy_entry(int sdir, const std::string& sname, int ddir, const std::string& dname) {
    struct stat st {};
    if (::fstatat(sdir, sname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return sys_error(fmt::format("stat {}", sname));
    }
    if (S_ISDIR(st.st_mode)) {
        if (::mkdirat(ddir, dname.c_str(), 0700) != 0 && errno != EEXIST) {
            return sys_error(fmt::format("create directory {}", dname));
        }
        UniqueFd s(::openat(sdir, sname.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s) {
            return sys_error(fmt::format("open directory {}", sname));
        }
        UniqueFd d(::openat(ddir, dname.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!d) {
            return sys_error(fmt::format("open directory {}", dname));
        }
        if (auto r = copy_dir_contents(s.get(), d.get()); !r) {
            return r;
        }
        if (::fchmod(d.get(), st.st_mode & 07777) != 0) {
            return sys_error(fmt::format("chmod {}", dname));
        }
        return {};
    }
    if (S_ISREG(st.st_mode)) {
        return copy_file(sdir, sname, ddir, dname, st.st_mode);
    }
    if (S_ISLNK(st.st_mode)) {
        std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
        ssize_t n = ::readlinkat(sdir, sname.c_str(), target.data(), target.size());
        if (n < 0) {
            return sys_error(fmt::format("read link {}", sname));
        }
        std::string t(target.data(), static_cast<size_t>(n));
        if (::unlinkat(ddir, dname.c_str(), 0) != 0 && errno != ENOENT) {
            return sys_error(fmt::format("replace {}", dname));
        }
        if (::symlinkat(t.c_str(), ddir, dname.c_str()) != 0) {
            return sys_error(fmt::format("create link {}", dname));
        }
        return {};
    }
    return {};  // devices, fifos and sockets are not copied
}

/// The copy itself, with Docker's rules for an existing or missing DEST.
Result<void> copy_between(const Side& src_side, const std::string& src, const Side& dst_side,
                          const std::string& dst) {
    auto s = locate(src_side, src);
    if (!s) {
        return std::move(s).error().wrap(fmt::format("copy {}", src));
    }
    struct stat sst {};
    if (::fstatat(s->dir.get(), s->name.c_str(), &sst, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0) {
        return sys_error(fmt::format("could not find the file {}", src));
    }
    bool src_dir = S_ISDIR(sst.st_mode);
    if (!src_dir && (s->contents_only || s->trailing_slash)) {
        return Error(Errc::invalid_argument, fmt::format("{} is not a directory", src));
    }
    // Reopen the source parent for reading entries (O_PATH fds cannot be listed).
    UniqueFd sdir(::openat(s->dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sdir) {
        return sys_error(fmt::format("open {}", src));
    }
    auto d = locate(dst_side, dst);
    if (!d) {
        return std::move(d).error().wrap(fmt::format("copy to {}", dst));
    }
    UniqueFd ddir(::openat(d->dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!ddir) {
        return sys_error(fmt::format("open {}", dst));
    }
    struct stat dst_st {};
    bool dst_exists = ::fstatat(ddir.get(), d->name.c_str(), &dst_st, 0) == 0;
    bool dst_dir = dst_exists && S_ISDIR(dst_st.st_mode);
    if (!dst_exists && d->trailing_slash) {
        return Error(Errc::not_found, fmt::format("no such directory: {}", dst));
    }
    if (dst_exists && !dst_dir && src_dir) {
        return Error(Errc::invalid_argument,
                     fmt::format("cannot copy a directory to a file: {}", dst));
    }
    if (src_dir && s->contents_only) {
        if (!dst_exists && ::mkdirat(ddir.get(), d->name.c_str(), sst.st_mode & 07777) != 0) {
            return sys_error(fmt::format("create directory {}", dst));
        }
        UniqueFd from(::openat(sdir.get(), s->name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        UniqueFd to(::openat(ddir.get(), d->name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!from || !to) {
            return sys_error(fmt::format("open {}", !from ? src : dst));
        }
        return copy_dir_contents(from.get(), to.get());
    }
    std::string sname = s->name;
    if (sname == ".") {
        // Copying "/" or "dir/.."-like sources: name it after nothing, contents only.
        UniqueFd to(::openat(ddir.get(), d->name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!to) {
            return sys_error(fmt::format("open {}", dst));
        }
        return copy_dir_contents(sdir.get(), to.get());
    }
    if (dst_dir) {
        UniqueFd into(::openat(ddir.get(), d->name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!into) {
            return sys_error(fmt::format("open {}", dst));
        }
        return copy_entry(sdir.get(), sname, into.get(), sname);
    }
    return copy_entry(sdir.get(), sname, ddir.get(), d->name);
}

/// The container's root as seen by its init, checked against pid reuse.
Result<UniqueFd> container_root(const ContainerStore& store, const ContainerRecord& record) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if ((st->status != Status::running && st->status != Status::paused) || st->pid <= 0) {
        return Error(Errc::failed_precondition,
                     fmt::format("container {} is not running", record.name));
    }
    UniqueFd root(::open(fmt::format("/proc/{}/root", st->pid).c_str(),
                         O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        return sys_error(fmt::format("open the root of container {}", record.name));
    }
    // The pid was still the container's init after the open: the fd is its root.
    if (!process_matches(st->pid, st->pid_start_time)) {
        return Error(Errc::failed_precondition,
                     fmt::format("container {} is not running", record.name));
    }
    return root;
}

}  // namespace

Result<void> copy_from_container(const ContainerStore& store, const ContainerRecord& record,
                                 const std::string& container_path,
                                 const std::filesystem::path& host_path) {
    auto root = container_root(store, record);
    if (!root) {
        return std::move(root).error();
    }
    Side in{root->get(), RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return copy_between(in, container_path, Side{}, host_path.string());
}

Result<void> copy_to_container(const ContainerStore& store, const ContainerRecord& record,
                               const std::filesystem::path& host_path,
                               const std::string& container_path) {
    auto root = container_root(store, record);
    if (!root) {
        return std::move(root).error();
    }
    Side in{root->get(), RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return copy_between(Side{}, host_path.string(), in, container_path);
}

namespace {

/// The staging dir of a tar copy: <root>/tmp/cp-XXXXXX.
Result<fs::TempDir> staging_dir(const ContainerStore& store) {
    std::error_code ec;
    std::filesystem::create_directories(store.paths().root / "tmp", ec);
    return fs::TempDir::create(store.paths().root / "tmp", "cp-");
}

/// Writes every entry below `dir` (not `dir` itself) as a tar stream to `fd`.
Result<void> write_tree_tar(const std::filesystem::path& dir, int fd) {
    auto writer = images::TarWriter::open([fd](std::string_view bytes) -> Result<void> {
        while (!bytes.empty()) {
            ssize_t n = ::write(fd, bytes.data(), bytes.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                int err = errno;
                return Error::from_errno(err, "write the tar stream");
            }
            bytes.remove_prefix(static_cast<size_t>(n));
        }
        return {};
    });
    if (!writer) {
        return std::move(writer).error();
    }
    std::error_code ec;
    std::vector<std::filesystem::path> entries;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        entries.push_back(it->path());
    }
    if (ec) {
        return Error::from_errno(ec.value(), fmt::format("read {}", dir.native()));
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& p : entries) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("stat {}", p.native()));
        }
        images::TarWriter::Entry e;
        e.path = p.lexically_relative(dir).native();
        e.type = st.st_mode & S_IFMT;
        e.mode = st.st_mode & 07777;
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        e.mtime = st.st_mtime;
        if (S_ISLNK(st.st_mode)) {
            e.link = std::filesystem::read_symlink(p, ec).native();
        } else if (S_ISREG(st.st_mode)) {
            e.size = st.st_size;
        } else if (!S_ISDIR(st.st_mode)) {
            continue;  // the copy skipped devices, sockets and fifos already
        }
        if (auto r = writer->header(e); !r) {
            return r;
        }
        if (S_ISREG(st.st_mode)) {
            // In chunks: a copied file may be larger than memory.
            UniqueFd in(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
            if (!in) {
                return sys_error(fmt::format("open {}", p.native()));
            }
            char buf[65536];
            for (;;) {
                ssize_t n = ::read(in.get(), buf, sizeof buf);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0) {
                    return sys_error(fmt::format("read {}", p.native()));
                }
                if (n == 0) {
                    break;
                }
                if (auto r = writer->data(std::string_view(buf, static_cast<size_t>(n))); !r) {
                    return r;
                }
            }
        }
    }
    return writer->close();
}

}  // namespace

Result<void> copy_from_container_tar(const ContainerStore& store, const ContainerRecord& record,
                                     const std::string& container_path, int out_fd) {
    auto stage = staging_dir(store);
    if (!stage) {
        return std::move(stage).error();
    }
    // Into an existing directory: the copy lands as <stage>/<base name>.
    if (auto r = copy_from_container(store, record, container_path, stage->path()); !r) {
        return r;
    }
    return write_tree_tar(stage->path(), out_fd);
}

Result<void> copy_to_container_tar(const ContainerStore& store, const ContainerRecord& record,
                                   int in_fd, const std::string& container_path) {
    // As Docker: the destination of a tar stream must be an existing directory.
    {
        auto root = container_root(store, record);
        if (!root) {
            return std::move(root).error();
        }
        auto dest = open_in(root->get(), container_path, O_PATH | O_DIRECTORY,
                            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (!dest) {
            return Error(dest.error().code() == Errc::not_found ? Errc::not_found
                                                                : Errc::invalid_argument,
                         fmt::format("could not find the directory {} in container {}",
                                     container_path, record.name));
        }
    }
    auto stage = staging_dir(store);
    if (!stage) {
        return std::move(stage).error();
    }
    const auto tree = stage->path() / "in";
    if (::mkdir(tree.c_str(), 0755) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create {}", tree.native()));
    }
    auto root = fs::open(tree, O_RDONLY | O_DIRECTORY);
    if (!root) {
        return std::move(root).error();
    }
    UniqueFd input(::fcntl(in_fd, F_DUPFD_CLOEXEC, 3));
    if (!input) {
        int err = errno;
        return Error::from_errno(err, "read the tar stream");
    }
    if (auto r = images::unpack_layer(std::move(input), root->get(), "the tar stream",
                                      images::default_max_layer_bytes());
        !r) {
        return std::move(r).error();
    }
    return copy_to_container(store, record, tree / ".", container_path);
}

}  // namespace berth::engine::containers
