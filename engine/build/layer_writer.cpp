// SPDX-License-Identifier: Apache-2.0
#include "engine/build/layer_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>

#include "common/fs.hpp"
#include "engine/images/layer.hpp"

namespace berth::engine::build {

namespace stdfs = std::filesystem;
using images::TarWriter;

struct LayerWriter::Impl {
    std::unique_ptr<images::BlobWriter> blob;
    std::optional<TarWriter> tar;
    uint64_t entries = 0;
    std::set<std::string> written;  ///< entry paths already in the tar
};

LayerWriter::LayerWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LayerWriter::LayerWriter(LayerWriter&&) noexcept = default;
LayerWriter& LayerWriter::operator=(LayerWriter&&) noexcept = default;
LayerWriter::~LayerWriter() = default;

Result<LayerWriter> LayerWriter::open(images::ImageStore& store) {
    auto impl = std::make_unique<Impl>();
    auto blob = store.new_blob();
    if (!blob) {
        return std::move(blob).error();
    }
    impl->blob = std::make_unique<images::BlobWriter>(std::move(*blob));
    auto* b = impl->blob.get();
    auto tar = TarWriter::open([b](std::string_view data) { return b->write(data); });
    if (!tar) {
        return std::move(tar).error();
    }
    impl->tar.emplace(std::move(*tar));
    return LayerWriter(std::move(impl));
}

uint64_t LayerWriter::entries() const noexcept {
    return impl_->entries;
}

namespace {

Result<void> stream_fd(TarWriter& tar, int fd, int64_t size, const std::string& shown) {
    char buf[1 << 16];
    int64_t left = size;
    while (left > 0) {
        ssize_t n = ::read(fd, buf, static_cast<size_t>(std::min<int64_t>(left, sizeof buf)));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("read {}", shown));
        }
        if (n == 0) {
            return Error(Errc::internal, fmt::format("{}: changed size while being copied", shown));
        }
        if (auto r = tar.data(std::string_view(buf, static_cast<size_t>(n))); !r) {
            return r;
        }
        left -= n;
    }
    return {};
}

std::map<std::string, std::string> read_xattrs(int fd) {
    std::map<std::string, std::string> out;
    char names[4096];
    ssize_t len = ::flistxattr(fd, names, sizeof names);
    if (len <= 0) {
        return out;
    }
    for (ssize_t i = 0; i < len;) {
        std::string name(names + i);
        i += static_cast<ssize_t>(name.size()) + 1;
        if (!images::allowed_xattr(name)) {
            continue;
        }
        char value[4096];
        ssize_t vl = ::fgetxattr(fd, name.c_str(), value, sizeof value);
        if (vl >= 0) {
            out[name] = std::string(value, static_cast<size_t>(vl));
        }
    }
    return out;
}

struct UpperWalk {
    TarWriter& tar;
    uint64_t& entries;
    std::map<std::pair<dev_t, ino_t>, std::string> links;

    Result<void> dir(int dfd, const std::string& rel) {
        int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
        DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
        if (d == nullptr) {
            int err = errno;
            return Error::from_errno(err, fmt::format("read upper dir {}", rel));
        }
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            if (n != "." && n != "..") {
                names.emplace_back(n);
            }
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (const auto& name : names) {
            std::string path = rel.empty() ? name : rel + "/" + name;
            struct stat st {};
            if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("stat {}", path));
            }
            if (auto r = entry(dfd, name, path, st); !r) {
                return r;
            }
        }
        return {};
    }

    Result<void> entry(int dfd, const std::string& name, const std::string& path,
                       const struct stat& st) {
        TarWriter::Entry e;
        e.path = path;
        e.mode = st.st_mode & 07777;
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        e.mtime = st.st_mtim.tv_sec;
        ++entries;
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
            auto slash = path.rfind('/');
            e.path = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                     ".wh." + name;
            e.type = S_IFREG;
            e.mode = 0600;
            return tar.header(e);
        }
        if (S_ISDIR(st.st_mode)) {
            int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("open {}", path));
            }
            UniqueFd sub(fd);
            e.type = S_IFDIR;
            e.path = path + "/";
            e.xattrs = read_xattrs(fd);
            if (auto r = tar.header(e); !r) {
                return r;
            }
            char v[2] = {};
            if (::fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y') {
                TarWriter::Entry o;
                o.path = path + "/.wh..wh..opq";
                o.type = S_IFREG;
                o.mode = 0600;
                if (auto r = tar.header(o); !r) {
                    return r;
                }
            }
            return dir(fd, path);
        }
        if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            ssize_t n = ::readlinkat(dfd, name.c_str(), buf, sizeof buf);
            if (n < 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("readlink {}", path));
            }
            e.type = S_IFLNK;
            e.link.assign(buf, static_cast<size_t>(n));
            return tar.header(e);
        }
        if (!S_ISREG(st.st_mode)) {
            e.type = st.st_mode & S_IFMT;
            e.rdev = st.st_rdev;
            return tar.header(e);
        }
        if (st.st_nlink > 1) {
            auto key = std::make_pair(st.st_dev, st.st_ino);
            auto it = links.find(key);
            if (it != links.end()) {
                e.hardlink = it->second;
                return tar.header(e);
            }
            links.emplace(key, path);
        }
        int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("open {}", path));
        }
        UniqueFd f(fd);
        e.type = S_IFREG;
        e.size = st.st_size;
        e.xattrs = read_xattrs(fd);
        if (auto r = tar.header(e); !r) {
            return r;
        }
        return stream_fd(tar, fd, st.st_size, path);
    }
};

}  // namespace

Result<void> LayerWriter::add_upper(const stdfs::path& upper) {
    auto fd = fs::open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!fd) {
        return std::move(fd).error();
    }
    UpperWalk w{*impl_->tar, impl_->entries, {}};
    return w.dir(fd->get(), "");
}

Result<void> LayerWriter::add_dir(const std::string& dst_rel, mode_t mode, uid_t uid, gid_t gid,
                                  int64_t mtime) {
    if (dst_rel.empty() || !impl_->written.insert(dst_rel).second) {
        return {};
    }
    TarWriter::Entry e;
    e.path = dst_rel + "/";
    e.type = S_IFDIR;
    e.mode = mode & 07777;
    e.uid = uid;
    e.gid = gid;
    e.mtime = mtime;
    ++impl_->entries;
    return impl_->tar->header(e);
}

Result<void> LayerWriter::add_file(const std::string& dst_rel, std::string_view content,
                                   const Owner& owner, mode_t default_mode) {
    TarWriter::Entry e;
    e.path = dst_rel;
    e.type = S_IFREG;
    e.mode = owner.mode.value_or(default_mode);
    e.uid = owner.uid.value_or(0);
    e.gid = owner.gid.value_or(0);
    e.mtime = ::time(nullptr);
    e.size = static_cast<int64_t>(content.size());
    impl_->written.insert(dst_rel);
    ++impl_->entries;
    if (auto r = impl_->tar->header(e); !r) {
        return r;
    }
    return impl_->tar->data(content);
}

namespace {

struct TreeCopy {
    const SourceFs& src;
    TarWriter& tar;
    const LayerWriter::Owner& owner;
    const std::function<bool(const std::string&)>& excluded;
    uint64_t& entries;
    std::set<std::string>& written;
    std::map<std::pair<dev_t, ino_t>, std::string> links;

    Result<void> copy(const std::string& from, const std::string& to, bool top) {
        auto st = src.stat(from);
        if (!st) {
            return Error(Errc::not_found, fmt::format("{}: not found", from.empty() ? "." : from));
        }
        if (!top && excluded && excluded(from)) {
            if (!S_ISDIR(st->st_mode)) {
                return {};
            }
        }
        TarWriter::Entry e;
        e.path = to;
        e.mode = owner.mode.value_or(st->st_mode & 07777);
        e.uid = owner.uid.value_or(0);
        e.gid = owner.gid.value_or(0);
        e.mtime = st->st_mtim.tv_sec;
        if (S_ISDIR(st->st_mode)) {
            bool skip_self = !top && excluded && excluded(from);
            if (!to.empty() && !skip_self && written.insert(to).second) {
                e.type = S_IFDIR;
                e.path = to + "/";
                ++entries;
                if (auto r = tar.header(e); !r) {
                    return r;
                }
            }
            auto names = src.list(from);
            if (!names) {
                return std::move(names).error();
            }
            for (const auto& n : *names) {
                auto r = copy(from.empty() ? n : from + "/" + n, to.empty() ? n : to + "/" + n,
                              false);
                if (!r) {
                    return r;
                }
            }
            return {};
        }
        written.insert(to);
        ++entries;
        if (S_ISLNK(st->st_mode)) {
            auto target = src.readlink(from);
            if (!target) {
                return std::move(target).error();
            }
            e.type = S_IFLNK;
            e.link = *target;
            e.mode = st->st_mode & 07777;
            return tar.header(e);
        }
        if (!S_ISREG(st->st_mode)) {
            e.type = st->st_mode & S_IFMT;
            e.rdev = st->st_rdev;
            return tar.header(e);
        }
        if (st->st_nlink > 1) {
            auto key = std::make_pair(st->st_dev, st->st_ino);
            auto it = links.find(key);
            if (it != links.end()) {
                e.hardlink = it->second;
                return tar.header(e);
            }
            links.emplace(key, to);
        }
        auto fd = src.open(from);
        if (!fd) {
            return std::move(fd).error();
        }
        e.type = S_IFREG;
        e.size = st->st_size;
        if (auto r = tar.header(e); !r) {
            return r;
        }
        return stream_fd(tar, fd->get(), st->st_size, from);
    }
};

}  // namespace

Result<void> LayerWriter::add_tree(const SourceFs& src, const std::string& src_rel,
                                   const std::string& dst_rel, const Owner& owner,
                                   const std::function<bool(const std::string&)>& excluded) {
    TreeCopy c{src, *impl_->tar, owner, excluded, impl_->entries, impl_->written, {}};
    return c.copy(src_rel, dst_rel, true);
}

namespace {

using ArchiveReader = std::unique_ptr<archive, int (*)(archive*)>;

/// A libarchive reader over `fd` for what ADD extracts: tar, optionally
/// gzip, bzip2, xz or zstd compressed. Null when libarchive cannot open it.
ArchiveReader open_tar_reader(int fd) {
    ArchiveReader a(archive_read_new(), archive_read_free);
    if (!a) {
        return a;
    }
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_zstd(a.get());
    if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) {
        a.reset();
    }
    return a;
}

}  // namespace

bool LayerWriter::is_archive(int fd) {
    auto a = open_tar_reader(fd);
    archive_entry* entry = nullptr;
    return a && archive_read_next_header(a.get(), &entry) == ARCHIVE_OK;
}

Result<bool> LayerWriter::add_archive(int fd, const std::string& dst_rel, const Owner& owner) {
    auto a = open_tar_reader(fd);
    if (!a) {
        return false;
    }
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a.get(), &entry);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return false;  // not an archive: the caller copies the file as is
    }
    for (;;) {
        auto clean = images::clean_entry_path(archive_entry_pathname(entry) != nullptr
                                                  ? archive_entry_pathname(entry)
                                                  : "");
        if (!clean) {
            return std::move(clean).error().wrap("ADD: archive entry");
        }
        std::string rel;
        for (const auto& p : *clean) {
            rel += (rel.empty() ? "" : "/") + p;
        }
        std::string path = dst_rel.empty() ? rel : (rel.empty() ? dst_rel : dst_rel + "/" + rel);
        if (!path.empty()) {
            TarWriter::Entry e;
            e.path = path;
            e.mode = archive_entry_perm(entry);
            e.uid = owner.uid.value_or(static_cast<uid_t>(archive_entry_uid(entry)));
            e.gid = owner.gid.value_or(static_cast<gid_t>(archive_entry_gid(entry)));
            e.mtime = archive_entry_mtime(entry);
            const char* hl = archive_entry_hardlink(entry);
            if (hl != nullptr) {
                auto hclean = images::clean_entry_path(hl);
                if (!hclean) {
                    return std::move(hclean).error().wrap("ADD: archive hardlink");
                }
                std::string hrel;
                for (const auto& p : *hclean) {
                    hrel += (hrel.empty() ? "" : "/") + p;
                }
                e.hardlink = dst_rel.empty() ? hrel : dst_rel + "/" + hrel;
            } else {
                e.type = archive_entry_filetype(entry);
                if (e.type == S_IFLNK) {
                    e.link = archive_entry_symlink(entry) != nullptr ? archive_entry_symlink(entry)
                                                                     : "";
                }
                if (e.type == S_IFDIR) {
                    e.path += "/";
                }
                if (e.type == S_IFCHR || e.type == S_IFBLK) {
                    e.rdev = archive_entry_rdev(entry);
                }
                e.size = e.type == S_IFREG ? archive_entry_size(entry) : 0;
            }
            ++impl_->entries;
            if (auto h = impl_->tar->header(e); !h) {
                return std::move(h).error();
            }
            if (hl == nullptr && e.type == S_IFREG) {
                const void* buf = nullptr;
                size_t size = 0;
                la_int64_t offset = 0;
                int rr = 0;
                while ((rr = archive_read_data_block(a.get(), &buf, &size, &offset)) ==
                       ARCHIVE_OK) {
                    if (auto d = impl_->tar->data(
                            std::string_view(static_cast<const char*>(buf), size));
                        !d) {
                        return std::move(d).error();
                    }
                }
                if (rr != ARCHIVE_EOF) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("ADD: archive: {}", archive_error_string(a.get())));
                }
            }
        }
        r = archive_read_next_header(a.get(), &entry);
        if (r == ARCHIVE_EOF) {
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return Error(Errc::invalid_argument,
                         fmt::format("ADD: archive: {}", archive_error_string(a.get())));
        }
    }
    return true;
}

Result<LayerBlob> LayerWriter::commit() {
    if (auto r = impl_->tar->close(); !r) {
        return std::move(r).error();
    }
    LayerBlob out;
    out.size = impl_->blob->written();
    auto d = impl_->blob->commit();
    if (!d) {
        return std::move(d).error();
    }
    out.digest = d->str();
    out.entries = impl_->entries;
    return out;
}

}  // namespace berth::engine::build
