// SPDX-License-Identifier: Apache-2.0
#include "engine/images/layer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <new>
#include <optional>

#include "common/digest.hpp"

namespace berth::engine::images {

namespace {

constexpr size_t chunk_size = 256 << 10;

/// chunk_size buffers, not zeroed, from a small process-wide pool: a layer
/// stream needs a few, and fresh ones for every layer cost a page fault per
/// 4 KiB each time (a megabyte zeroed per buffer was three quarters of a
/// pull's page faults). New ones are mapped with their pages populated at
/// once, one system call instead of 64 faults.
class BufferPool {
public:
    static char* take() {
        {
            std::lock_guard lk(mu());
            if (!pool().empty()) {
                char* b = pool().back();
                pool().pop_back();
                return b;
            }
        }
        void* p = ::mmap(nullptr, chunk_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) {
            throw std::bad_alloc();
        }
        return static_cast<char*>(p);
    }
    static void give(char* b) {
        std::lock_guard lk(mu());
        if (pool().size() < max_kept) {
            pool().push_back(b);
            return;
        }
        ::munmap(b, chunk_size);
    }

private:
    // Three parallel layers, each with a channel's four and a stream's one.
    static constexpr size_t max_kept = 16;
    static std::mutex& mu() {
        static std::mutex m;
        return m;
    }
    static std::vector<char*>& pool() {
        static std::vector<char*> p;
        return p;
    }
};

/// One buffer of the pool, held for a scope.
class ChunkBuffer {
public:
    ChunkBuffer() : buf_(BufferPool::take()) {}
    ~ChunkBuffer() { BufferPool::give(buf_); }
    ChunkBuffer(const ChunkBuffer&) = delete;
    ChunkBuffer& operator=(const ChunkBuffer&) = delete;
    char* data() { return buf_; }
    static constexpr size_t size() { return chunk_size; }

private:
    char* buf_;
};

/// Reads a file descriptor in chunks.
class FdSource final : public ByteSource {
public:
    FdSource(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
    Result<std::string_view> read() override {
        while (true) {
            ssize_t n = ::read(fd_.get(), buf_.data(), buf_.size());
            if (n >= 0) {
                return std::string_view(buf_.data(), static_cast<size_t>(n));
            }
            if (errno != EINTR) {
                int err = errno;
                return Error::from_errno(err, fmt::format("read layer {}", name_));
            }
        }
    }

private:
    UniqueFd fd_;
    std::string name_;
    ChunkBuffer buf_;
};

Error layer_error(const std::string& name, std::string_view why) {
    return Error(Errc::invalid_argument, fmt::format("layer {}: {}", name, why));
}

/// The decompressor behind LayerStream.
class StreamImpl final : public LayerStream {
public:
    StreamImpl(std::unique_ptr<ByteSource> src, uint64_t max_bytes, std::string name,
               bool gzip_check)
        : src_(std::move(src)), max_(max_bytes), name_(std::move(name)), gzip_check_(gzip_check) {}
    ~StreamImpl() override {
        if (z_init_) {
            inflateEnd(&z_);
        }
        if (zs_ != nullptr) {
            ZSTD_freeDStream(zs_);
        }
    }
    StreamImpl(const StreamImpl&) = delete;
    StreamImpl& operator=(const StreamImpl&) = delete;

    Result<void> start() {
        if (auto r = fill(); !r) {
            return r;
        }
        auto avail = in_.size() - in_pos_;
        const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
        if (avail >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
            comp_ = Compression::gzip;
            std::memset(&z_, 0, sizeof z_);
            // 16 + MAX_WBITS: gzip framing only.
            if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
                return Error(Errc::internal, "init zlib");
            }
            z_init_ = true;
            if (!gzip_check_) {
                // The caller hashes the output: the CRC-32 would be a second,
                // weaker check (about 4% of a pull's CPU time).
                inflateValidate(&z_, 0);
            }
        } else if (avail >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
            comp_ = Compression::zstd;
            zs_ = ZSTD_createDStream();
            if (zs_ == nullptr) {
                return Error(Errc::internal, "init zstd");
            }
            ZSTD_initDStream(zs_);
        } else if (avail >= 3 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h') {
            return Error(Errc::unsupported, fmt::format("layer {}: bzip2 layers are not supported",
                                                        name_));
        } else if (avail >= 6 && p[0] == 0xfd && p[1] == '7' && p[2] == 'z' && p[3] == 'X') {
            return Error(Errc::unsupported, fmt::format("layer {}: xz layers are not supported",
                                                        name_));
        } else {
            comp_ = Compression::none;
        }
        return {};
    }

    Result<std::string_view> next() override {
        while (!done_) {
            auto r = step();
            if (!r) {
                return std::move(r).error();
            }
            if (!r->empty()) {
                total_ += r->size();
                if (total_ > max_) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("layer {}: uncompressed size exceeds the limit of {} "
                                             "bytes (max_layer_bytes)",
                                             name_, max_));
                }
                sha_.update(*r);
                return *r;
            }
        }
        return std::string_view{};
    }

    Result<std::string> finish() override {
        while (true) {
            auto r = next();
            if (!r) {
                return std::move(r).error();
            }
            if (r->empty()) {
                break;
            }
        }
        if (!finished_) {
            finished_ = true;
            digest_ = sha_.finish().str();
        }
        return digest_;
    }

    uint64_t total() const override { return total_; }
    Compression compression() const override { return comp_; }

private:
    /// Makes input available unless at EOF.
    Result<void> fill() {
        if (in_pos_ < in_.size() || in_eof_) {
            return {};
        }
        auto r = src_->read();
        if (!r) {
            return std::move(r).error();
        }
        in_ = *r;
        in_pos_ = 0;
        in_eof_ = in_.empty();
        return {};
    }

    Error truncated() const {
        return layer_error(name_, "unexpected end of compressed data (truncated blob)");
    }

    /// One step of decompression; may return an empty chunk without being done.
    Result<std::string_view> step() {
        if (auto r = fill(); !r) {
            return std::move(r).error();
        }
        size_t avail = in_.size() - in_pos_;
        switch (comp_) {
        case Compression::none: {
            if (avail == 0) {
                done_ = true;
                return std::string_view{};
            }
            std::string_view chunk = in_.substr(in_pos_);
            in_pos_ = in_.size();
            return chunk;
        }
        case Compression::gzip: {
            if (member_ended_) {
                // Another gzip member may follow (concatenated gzip); anything
                // else after the end is ignored as gzip(1) does.
                const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + in_pos_);
                if (avail == 0 || !(avail >= 2 && p[0] == 0x1f && p[1] == 0x8b)) {
                    done_ = true;
                    return std::string_view{};
                }
                inflateReset(&z_);
                member_ended_ = false;
            }
            if (avail == 0) {
                return truncated();
            }
            // zlib does not write through next_in.
            z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_.data() + in_pos_));
            z_.avail_in = static_cast<uInt>(avail);
            z_.next_out = reinterpret_cast<Bytef*>(out_.data());
            z_.avail_out = static_cast<uInt>(out_.size());
            int ret = inflate(&z_, Z_NO_FLUSH);
            in_pos_ = in_.size() - z_.avail_in;
            size_t produced = out_.size() - z_.avail_out;
            if (ret == Z_STREAM_END) {
                member_ended_ = true;
            } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && produced > 0)) {
                if (ret == Z_BUF_ERROR) {
                    return truncated();
                }
                return layer_error(name_, fmt::format("corrupt gzip data ({})",
                                                      z_.msg != nullptr ? z_.msg : "inflate"));
            }
            return std::string_view(out_.data(), produced);
        }
        case Compression::zstd: {
            if (avail == 0) {
                if (frame_open_) {
                    return truncated();
                }
                done_ = true;
                return std::string_view{};
            }
            ZSTD_inBuffer in{in_.data() + in_pos_, avail, 0};
            ZSTD_outBuffer out{out_.data(), out_.size(), 0};
            size_t ret = ZSTD_decompressStream(zs_, &out, &in);
            if (ZSTD_isError(ret)) {
                return layer_error(name_,
                                   fmt::format("corrupt zstd data ({})", ZSTD_getErrorName(ret)));
            }
            in_pos_ += in.pos;
            frame_open_ = ret != 0;
            return std::string_view(out_.data(), out.pos);
        }
        }
        return std::string_view{};
    }

    std::unique_ptr<ByteSource> src_;
    uint64_t max_;
    std::string name_;
    bool gzip_check_ = true;
    std::string_view in_;  ///< the source's current chunk
    ChunkBuffer out_;
    size_t in_pos_ = 0;
    bool in_eof_ = false;
    Compression comp_ = Compression::none;
    z_stream z_{};
    bool z_init_ = false;
    bool member_ended_ = false;
    ZSTD_DStream* zs_ = nullptr;
    bool frame_open_ = false;
    bool done_ = false;
    bool finished_ = false;
    Sha256 sha_;
    std::string digest_;
    uint64_t total_ = 0;
};

std::string join(const std::vector<std::string>& comps, size_t count) {
    std::string s;
    for (size_t i = 0; i < count; ++i) {
        if (i > 0) {
            s += '/';
        }
        s += comps[i];
    }
    return s;
}

long openat2_raw(int dirfd, const char* path, int flags, uint64_t resolve) {
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = resolve;
    return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/// Removes `name` below `parent` (recursively for a directory) without following symlinks.
Result<void> remove_at(int parent, const char* name) {
    struct stat st {};
    if (::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return {};
        }
        int err = errno;
        return Error::from_errno(err, fmt::format("stat {}", name));
    }
    if (S_ISDIR(st.st_mode)) {
        int dfd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("open {}", name));
        }
        DIR* d = ::fdopendir(dfd);
        if (d == nullptr) {
            int err = errno;
            ::close(dfd);
            return Error::from_errno(err, fmt::format("open {}", name));
        }
        std::vector<std::string> names;
        while (auto* e = ::readdir(d)) {
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
                names.emplace_back(e->d_name);
            }
        }
        for (const auto& n : names) {
            if (auto r = remove_at(::dirfd(d), n.c_str()); !r) {
                ::closedir(d);
                return r;
            }
        }
        ::closedir(d);
        if (::unlinkat(parent, name, AT_REMOVEDIR) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("remove {}", name));
        }
        return {};
    }
    if (::unlinkat(parent, name, 0) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("remove {}", name));
    }
    return {};
}

Result<void> apply_xattrs(archive_entry* entry, int fd, const std::string& shown) {
    archive_entry_xattr_reset(entry);
    const char* xname = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &xname, &value, &size) == ARCHIVE_OK) {
        if (xname == nullptr || !allowed_xattr(xname)) {
            continue;
        }
        if (::fsetxattr(fd, xname, value, size, 0) != 0) {
            int err = errno;
            if (err == ENOTSUP) {
                continue;  // the snapshot filesystem cannot hold it; Docker ignores it too
            }
            return Error::from_errno(err, fmt::format("set xattr {} on {}", xname, shown));
        }
    }
    return {};
}

/// fchown that tolerates EPERM for an unprivileged caller, who cannot give
/// files away (rootless use); as root every failure counts.
int chown_fd(int fd, uid_t uid, gid_t gid) {
    if (::fchown(fd, uid, gid) == 0) {
        return 0;
    }
    return (errno == EPERM && ::geteuid() != 0) ? 0 : -1;
}

int chown_at(int dfd, const char* name, uid_t uid, gid_t gid) {
    if (::fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0) {
        return 0;
    }
    return (errno == EPERM && ::geteuid() != 0) ? 0 : -1;
}

/// The process's umask, read once from /proc/self/status (umask(2) cannot
/// read it without changing it, for every thread); -1 when unknown.
int process_umask() {
    static const int value = [] {
        std::FILE* f = std::fopen("/proc/self/status", "re");
        if (f == nullptr) {
            return -1;
        }
        int mask = -1;
        char line[256];
        while (std::fgets(line, sizeof line, f) != nullptr) {
            unsigned m = 0;
            if (std::sscanf(line, "Umask: %o", &m) == 1) {
                mask = static_cast<int>(m & 0777);
                break;
            }
        }
        std::fclose(f);
        return mask;
    }();
    return value;
}

/// The per-archive unpacking state.
class Unpacker {
public:
    Unpacker(int root, const std::string& name)
        : root_(root), name_(name), self_uid_(::geteuid()), self_gid_(::getegid()),
          umask_(process_umask()) {}

    Result<int64_t> apply(archive* a, archive_entry* entry) {
        retired_.clear();
        const char* raw = archive_entry_pathname(entry);
        if (raw == nullptr) {
            return fail("?", "entry without a name");
        }
        std::string shown = raw;
        auto comps = clean_entry_path(raw);
        if (!comps) {
            return fail(shown, comps.error().message());
        }
        if (comps->empty()) {
            return int64_t{0};  // the root itself: keep the snapshot's own mode
        }
        std::string base = comps->back();
        auto parent = get_parent(*comps, shown);
        if (!parent) {
            return std::move(parent).error();
        }
        int pfd = *parent;
        std::string target;
        switch (classify_whiteout(base, &target)) {
        case WhiteoutKind::opaque: {
            int dfd = ::openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0) {
                return sys_fail(shown, "open directory");
            }
            UniqueFd g(dfd);
            if (::fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) != 0) {
                return sys_fail(shown, "mark directory opaque");
            }
            return int64_t{0};
        }
        case WhiteoutKind::whiteout: {
            if (target.empty() || target == "." || target == "..") {
                return fail(shown, "invalid whiteout");
            }
            if (auto r = replace(pfd, target, false, shown); !r) {
                return std::move(r).error();
            }
            if (::mknodat(pfd, target.c_str(), S_IFCHR | 0, ::makedev(0, 0)) != 0) {
                return sys_fail(shown, "create whiteout");
            }
            return int64_t{0};
        }
        case WhiteoutKind::meta:
            return int64_t{0};
        case WhiteoutKind::none:
            break;
        }

        if (const char* link = archive_entry_hardlink(entry); link != nullptr) {
            return hardlink(pfd, base, link, shown);
        }
        auto type = archive_entry_filetype(entry);
        mode_t mode = archive_entry_perm(entry) & 07777;
        auto uid = static_cast<uid_t>(archive_entry_uid(entry));
        auto gid = static_cast<gid_t>(archive_entry_gid(entry));
        if (type == AE_IFSOCK) {
            return int64_t{0};  // sockets are not archived content
        }
        // A new entry is owned by its creator, with the creator's group unless
        // a setgid directory above hands down its own: then no chown is needed.
        bool own = uid == self_uid_ && gid == self_gid_ && !setgid_dirs_;
        struct timespec times[2];
        times[0].tv_sec = archive_entry_mtime(entry);
        times[0].tv_nsec = archive_entry_mtime_nsec(entry);
        times[1] = times[0];
        const char* cbase = base.c_str();
        switch (type) {
        case AE_IFDIR: {
            if (::mkdirat(pfd, cbase, 0700) != 0) {
                if (errno != EEXIST) {
                    return sys_fail(shown, "create directory");
                }
                auto merged = replace(pfd, base, true, shown);
                if (!merged) {
                    return std::move(merged).error();
                }
                if (!*merged && ::mkdirat(pfd, cbase, 0700) != 0) {
                    return sys_fail(shown, "create directory");
                }
            }
            int fd = ::openat(pfd, cbase, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                return sys_fail(shown, "open directory");
            }
            UniqueFd g(fd);
            if (chown_fd(fd, uid, gid) != 0 || ::fchmod(fd, mode) != 0) {
                return sys_fail(shown, "set owner and mode");
            }
            if ((mode & S_ISGID) != 0) {
                setgid_dirs_ = true;
            }
            if (auto r = apply_xattrs(entry, fd, shown); !r) {
                return std::move(r).error().wrap(fmt::format("layer {}", name_));
            }
            dir_times_.emplace_back(join(*comps, comps->size()), times[0]);
            return int64_t{0};
        }
        case AE_IFREG: {
            // Created with its permission bits: when the umask lets them all
            // through, as it does for most files, no fchmod is needed.
            mode_t perm = mode & 0777;
            auto created = create_fresh(pfd, base, shown, [&] {
                return ::openat(pfd, cbase, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                perm);
            });
            if (!created) {
                return std::move(created).error();
            }
            int fd = *created;
            if (fd < 0) {
                return sys_fail(shown, "create file");
            }
            UniqueFd g(fd);
            const void* buf = nullptr;
            size_t size = 0;
            la_int64_t offset = 0;
            int64_t end = 0;  // the furthest byte written
            int r = 0;
            while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
                end = std::max<int64_t>(end, offset + static_cast<int64_t>(size));
                const char* p = static_cast<const char*>(buf);
                while (size > 0) {
                    ssize_t n = ::pwrite(fd, p, size, offset);
                    if (n < 0) {
                        if (errno == EINTR) {
                            continue;
                        }
                        return sys_fail(shown, "write");
                    }
                    p += n;
                    size -= static_cast<size_t>(n);
                    offset += n;
                }
            }
            if (r != ARCHIVE_EOF) {
                return archive_fail(a, shown);
            }
            int64_t fsize = archive_entry_size(entry);
            // A sparse file's trailing hole: the data stopped short of its size.
            if (end < fsize && ::ftruncate(fd, fsize) != 0) {
                return sys_fail(shown, "size");
            }
            // chown clears the setuid and setgid bits: the mode comes after.
            if (!own && chown_fd(fd, uid, gid) != 0) {
                return sys_fail(shown, "set owner");
            }
            bool mode_done = own && mode == perm && umask_ >= 0 &&
                             (perm & static_cast<mode_t>(umask_)) == 0;
            if (!mode_done && ::fchmod(fd, mode) != 0) {
                return sys_fail(shown, "set mode");
            }
            if (auto x = apply_xattrs(entry, fd, shown); !x) {
                return std::move(x).error().wrap(fmt::format("layer {}", name_));
            }
            ::futimens(fd, times);
            return fsize;
        }
        case AE_IFLNK: {
            const char* t = archive_entry_symlink(entry);
            if (t == nullptr) {
                return fail(shown, "symlink without a target");
            }
            auto created = create_fresh(pfd, base, shown, [&] { return ::symlinkat(t, pfd, cbase); });
            if (!created) {
                return std::move(created).error();
            }
            if (*created != 0) {
                return sys_fail(shown, "create symlink");
            }
            if (!own && chown_at(pfd, cbase, uid, gid) != 0) {
                return sys_fail(shown, "set symlink owner");
            }
            ::utimensat(pfd, cbase, times, AT_SYMLINK_NOFOLLOW);
            return int64_t{0};
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO: {
            dev_t dev = ::makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
            auto created = create_fresh(pfd, base, shown, [&] {
                return ::mknodat(pfd, cbase, static_cast<mode_t>(type) | 0600,
                                 type == AE_IFIFO ? 0 : dev);
            });
            if (!created) {
                return std::move(created).error();
            }
            if (*created != 0) {
                return sys_fail(shown, "create device node");
            }
            // The node was created just now by this process in a private
            // directory, so the name still denotes it: no symlink to follow.
            if (chown_at(pfd, cbase, uid, gid) != 0 ||
                ::fchmodat(pfd, cbase, mode, 0) != 0) {
                return sys_fail(shown, "set owner and mode");
            }
            ::utimensat(pfd, cbase, times, AT_SYMLINK_NOFOLLOW);
            return int64_t{0};
        }
        default:
            return fail(shown, fmt::format("unsupported entry type {:o}", type));
        }
    }

    /// Sets directory times last, since adding entries changes them.
    void finish_dirs() {
        for (const auto& [rel, ts] : dir_times_) {
            auto fd = open_in_root(root_, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            if (fd) {
                struct timespec times[2] = {ts, ts};
                ::futimens(fd->get(), times);
            }
        }
    }

    Error archive_fail(archive* a, const std::string& shown) {
        const char* msg = archive_error_string(a);
        return layer_error(name_, fmt::format("entry \"{}\": {}", shown,
                                              msg != nullptr ? msg : "corrupt archive"));
    }

private:
    Error fail(const std::string& shown, std::string_view why) {
        return layer_error(name_, fmt::format("entry \"{}\": {}", shown, why));
    }
    Error sys_fail(const std::string& shown, std::string_view what) {
        int err = errno;
        return Error::from_errno(err, fmt::format("layer {}: entry \"{}\": {}", name_, shown, what));
    }

    /// Runs `create`, a *at() call making the non-directory `base` in `pfd`
    /// (-1 with errno on failure); when the name is taken (EEXIST), makes room
    /// and runs it once more. Returns what the last call returned, errno
    /// intact; an error only when making room failed.
    template <typename Create>
    Result<int> create_fresh(int pfd, const std::string& base, const std::string& shown,
                             Create create) {
        int r = create();
        if (r < 0 && errno == EEXIST) {
            if (auto made = replace(pfd, base, false, shown); !made) {
                return std::move(made).error();
            }
            r = create();
        }
        return r;
    }

    /// Makes room for a new entry `base` in `pfd`. Returns true when an existing
    /// directory is kept because the new entry is a directory too (merge).
    Result<bool> replace(int pfd, const std::string& base, bool is_dir, const std::string& shown) {
        struct stat st {};
        if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                return false;
            }
            return sys_fail(shown, "stat");
        }
        if (is_dir && S_ISDIR(st.st_mode)) {
            return true;
        }
        // A cached parent might live below what is removed. The caller's
        // `pfd` (cached too) stays open until the next entry.
        for (auto& d : parents_) {
            retired_.push_back(std::move(d.fd));
        }
        parents_.clear();
        if (auto r = remove_at(pfd, base.c_str()); !r) {
            return std::move(r).error().wrap(fmt::format("layer {}: entry \"{}\"", name_, shown));
        }
        return false;
    }

    Result<int64_t> hardlink(int pfd, const std::string& base, const char* link,
                             const std::string& shown) {
        auto tcomps = clean_entry_path(link);
        if (!tcomps || tcomps->empty()) {
            return fail(shown, fmt::format("hardlink target \"{}\" is outside the layer", link));
        }
        auto tfd = open_in_root(root_, join(*tcomps, tcomps->size()), O_PATH | O_NOFOLLOW);
        if (!tfd) {
            return fail(shown, fmt::format("hardlink target \"{}\": {}", link,
                                           tfd.error().message()));
        }
        struct stat st {};
        if (::fstat(tfd->get(), &st) != 0) {
            return sys_fail(shown, "stat hardlink target");
        }
        if (S_ISDIR(st.st_mode)) {
            return fail(shown, fmt::format("hardlink target \"{}\" is a directory", link));
        }
        struct stat cur {};
        if (::fstatat(pfd, base.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
            cur.st_ino == st.st_ino && cur.st_dev == st.st_dev) {
            return int64_t{0};
        }
        if (auto r = replace(pfd, base, false, shown); !r) {
            return std::move(r).error();
        }
        if (::linkat(tfd->get(), "", pfd, base.c_str(), AT_EMPTY_PATH) != 0) {
            // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the fd's magic link works too.
            std::string proc = fmt::format("/proc/self/fd/{}", tfd->get());
            if (::linkat(AT_FDCWD, proc.c_str(), pfd, base.c_str(), AT_SYMLINK_FOLLOW) != 0) {
                return sys_fail(shown, "create hardlink");
            }
        }
        return int64_t{0};
    }

    /// The directory that will hold the last component, created (0755) where
    /// missing, never through a symlink.
    Result<int> get_parent(const std::vector<std::string>& comps, const std::string& shown) {
        if (comps.size() == 1) {
            return root_;
        }
        std::string key = join(comps, comps.size() - 1);
        for (auto it = parents_.rbegin(); it != parents_.rend(); ++it) {
            if (it->key == key) {
                return it->fd.get();
            }
        }
        auto direct = open_in_root(root_, key, O_PATH | O_DIRECTORY | O_NOFOLLOW);
        if (direct) {
            return remember(std::move(key), std::move(*direct));
        }
        if (direct.error().code() != Errc::not_found) {
            return fail(shown, fmt::format("parent directory: {}", direct.error().message()));
        }
        UniqueFd cur;
        int curfd = root_;
        for (size_t i = 0; i + 1 < comps.size(); ++i) {
            const char* c = comps[i].c_str();
            constexpr uint64_t res =
                RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
            long fd = openat2_raw(curfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW, res);
            if (fd < 0 && errno == ENOENT) {
                if (::mkdirat(curfd, c, 0755) != 0 && errno != EEXIST) {
                    return sys_fail(shown, "create parent directory");
                }
                fd = openat2_raw(curfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW, res);
            }
            if (fd < 0) {
                if (errno == ELOOP) {
                    return fail(shown, "a parent directory is a symlink");
                }
                if (errno == ENOTDIR) {
                    return fail(shown, "a parent is not a directory");
                }
                return sys_fail(shown, "open parent directory");
            }
            cur.reset(static_cast<int>(fd));
            curfd = cur.get();
        }
        return remember(std::move(key), std::move(cur));
    }

    /// Caches a parent directory's fd (the oldest goes beyond max_parents).
    int remember(std::string key, UniqueFd fd) {
        if (parents_.size() >= max_parents) {
            parents_.erase(parents_.begin());
        }
        parents_.push_back({std::move(key), std::move(fd)});
        return parents_.back().fd.get();
    }

    /// Parent directories opened for recent entries, by cleaned relative path:
    /// an archive's entries mostly come directory by directory, or cycle
    /// through a few.
    struct Parent {
        std::string key;
        UniqueFd fd;
    };
    static constexpr size_t max_parents = 32;

    int root_;
    const std::string& name_;
    uid_t self_uid_;
    gid_t self_gid_;
    int umask_;                     ///< -1: unknown, so every mode is set explicitly
    bool setgid_dirs_ = false;      ///< a directory of this layer has the setgid bit
    std::vector<Parent> parents_;   ///< most recently opened last
    std::vector<UniqueFd> retired_; ///< dropped from parents_, open until the next entry
    std::vector<std::pair<std::string, struct timespec>> dir_times_;
};

struct ReadCtx {
    LayerStream* stream = nullptr;
    std::optional<Error> error;
};

la_ssize_t read_callback(archive* a, void* ud, const void** buf) {
    auto* ctx = static_cast<ReadCtx*>(ud);
    auto r = ctx->stream->next();
    if (!r) {
        ctx->error = std::move(r).error();
        archive_set_error(a, EIO, "%s", ctx->error->message().c_str());
        return -1;
    }
    *buf = r->data();
    return static_cast<la_ssize_t>(r->size());
}

}  // namespace

Result<std::vector<std::string>> clean_entry_path(std::string_view name) {
    if (name.find('\0') != std::string_view::npos) {
        return Error(Errc::invalid_argument, "path contains a NUL byte");
    }
    if (name.size() > 4096) {
        return Error(Errc::invalid_argument, "path is too long");
    }
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= name.size()) {
        size_t slash = name.find('/', start);
        std::string_view comp = name.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (comp.empty() || comp == ".") {
            // skip
        } else if (comp == "..") {
            if (out.empty()) {
                return Error(Errc::invalid_argument,
                             fmt::format("path \"{}\" climbs out of the layer root", name));
            }
            out.pop_back();
        } else {
            out.emplace_back(comp);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return out;
}

WhiteoutKind classify_whiteout(std::string_view base, std::string* target) {
    constexpr std::string_view prefix = ".wh.";
    if (base.rfind(prefix, 0) != 0) {
        return WhiteoutKind::none;
    }
    if (base == ".wh..wh..opq") {
        return WhiteoutKind::opaque;
    }
    if (base.rfind(".wh..wh.", 0) == 0) {
        return WhiteoutKind::meta;
    }
    if (target != nullptr) {
        *target = std::string(base.substr(prefix.size()));
    }
    return WhiteoutKind::whiteout;
}

bool allowed_xattr(std::string_view name) {
    return name.rfind("user.", 0) == 0 || name == "security.capability" ||
           name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

void prepare_unpacker() {
    archive_read_free(archive_read_new());
}

uint64_t default_max_layer_bytes() {
    if (const char* env = std::getenv("BERTH_MAX_LAYER_BYTES"); env != nullptr && *env != '\0') {
        char* end = nullptr;
        unsigned long long v = std::strtoull(env, &end, 10);
        if (end != nullptr && *end == '\0' && v > 0) {
            return v;
        }
    }
    return uint64_t{32} << 30;
}

Result<UniqueFd> open_in_root(int root_fd, const std::string& rel, int flags, bool no_symlinks) {
    uint64_t res = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    if (no_symlinks) {
        res |= RESOLVE_NO_SYMLINKS;
    }
    long fd = openat2_raw(root_fd, rel.empty() ? "." : rel.c_str(), flags, res);
    if (fd < 0) {
        int err = errno;
        if (err == ELOOP) {
            return Error(Errc::invalid_argument, fmt::format("{}: passes through a symlink", rel));
        }
        return Error::from_errno(err, fmt::format("open {}", rel));
    }
    return UniqueFd(static_cast<int>(fd));
}

std::unique_ptr<ByteSource> fd_source(UniqueFd fd, std::string name) {
    return std::make_unique<FdSource>(std::move(fd), std::move(name));
}

struct ChunkChannel::State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Buffer> buffers;
    std::vector<Buffer*> free;  ///< the producer's to fill
    std::deque<Buffer*> full;   ///< sent, not yet read
    bool closed = false;
    bool aborted = false;
    bool reader_gone = false;
};

class ChunkChannel::Reader final : public ByteSource {
public:
    Reader(std::shared_ptr<ChunkChannel> owner, State& s, std::string name)
        : owner_(std::move(owner)), s_(s), name_(std::move(name)) {}
    ~Reader() override {
        std::lock_guard lk(s_.mu);
        s_.reader_gone = true;
        if (cur_ != nullptr) {
            s_.free.push_back(cur_);
        }
        for (auto* b : s_.full) {
            s_.free.push_back(b);
        }
        s_.full.clear();
        s_.cv.notify_all();
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    Result<std::string_view> read() override {
        std::unique_lock lk(s_.mu);
        if (cur_ != nullptr) {
            s_.free.push_back(cur_);
            cur_ = nullptr;
            s_.cv.notify_all();
        }
        s_.cv.wait(lk, [&] { return !s_.full.empty() || s_.closed; });
        if (s_.aborted) {
            return Error(Errc::cancelled, fmt::format("layer {}: transfer abandoned", name_));
        }
        if (s_.full.empty()) {
            return std::string_view{};
        }
        cur_ = s_.full.front();
        s_.full.pop_front();
        return std::string_view(cur_->data, cur_->size);
    }

private:
    std::shared_ptr<ChunkChannel> owner_;  ///< keeps s_ alive
    State& s_;
    std::string name_;
    Buffer* cur_ = nullptr;
};

ChunkChannel::ChunkChannel(size_t buffers) : s_(std::make_unique<State>()) {
    s_->buffers.resize(std::max<size_t>(buffers, 1));
    for (auto& b : s_->buffers) {
        b.data = BufferPool::take();
        b.capacity = chunk_size;
        s_->free.push_back(&b);
    }
}

ChunkChannel::~ChunkChannel() {
    for (auto& b : s_->buffers) {
        BufferPool::give(b.data);
    }
}

std::shared_ptr<ChunkChannel> ChunkChannel::create(size_t buffers) {
    return std::shared_ptr<ChunkChannel>(new ChunkChannel(buffers));
}

ChunkChannel::Buffer* ChunkChannel::acquire() {
    std::unique_lock lk(s_->mu);
    s_->cv.wait(lk, [&] { return !s_->free.empty() || s_->reader_gone; });
    if (s_->reader_gone) {
        return nullptr;
    }
    Buffer* b = s_->free.back();
    s_->free.pop_back();
    b->size = 0;
    return b;
}

void ChunkChannel::send(Buffer* b) {
    std::lock_guard lk(s_->mu);
    if (s_->reader_gone) {
        s_->free.push_back(b);
        return;
    }
    s_->full.push_back(b);
    s_->cv.notify_all();
}

void ChunkChannel::close(bool abort) {
    std::lock_guard lk(s_->mu);
    s_->closed = true;
    s_->aborted = s_->aborted || abort;
    s_->cv.notify_all();
}

std::unique_ptr<ByteSource> ChunkChannel::reader(std::string name) {
    return std::make_unique<Reader>(shared_from_this(), *s_, std::move(name));
}

Result<std::unique_ptr<LayerStream>> LayerStream::open(UniqueFd fd, uint64_t max_bytes,
                                                       std::string name, bool gzip_check) {
    auto src = fd_source(std::move(fd), name);
    return open(std::move(src), max_bytes, std::move(name), gzip_check);
}

Result<std::unique_ptr<LayerStream>> LayerStream::open(std::unique_ptr<ByteSource> source,
                                                       uint64_t max_bytes, std::string name,
                                                       bool gzip_check) {
    auto s = std::make_unique<StreamImpl>(std::move(source), max_bytes, std::move(name),
                                          gzip_check);
    if (auto r = s->start(); !r) {
        return std::move(r).error();
    }
    return std::unique_ptr<LayerStream>(std::move(s));
}

Result<UnpackStats> unpack_layer(UniqueFd blob_fd, int root_fd, const std::string& name,
                                 uint64_t max_bytes, bool gzip_check) {
    return unpack_layer(fd_source(std::move(blob_fd), name), root_fd, name, max_bytes,
                        gzip_check);
}

Result<UnpackStats> unpack_layer(std::unique_ptr<ByteSource> source, int root_fd,
                                 const std::string& name, uint64_t max_bytes, bool gzip_check) {
    auto stream = LayerStream::open(std::move(source), max_bytes, name, gzip_check);
    if (!stream) {
        return std::move(stream).error();
    }
    ReadCtx ctx;
    ctx.stream = stream->get();
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    if (!a) {
        return Error(Errc::internal, "archive_read_new");
    }
    archive_read_support_format_tar(a.get());
    archive_read_support_format_empty(a.get());
    if (archive_read_open(a.get(), &ctx, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
        if (ctx.error) {
            return *ctx.error;
        }
        return layer_error(name, fmt::format("not a tar archive ({})",
                                             archive_error_string(a.get()) != nullptr
                                                 ? archive_error_string(a.get())
                                                 : "unknown"));
    }
    Unpacker unpacker(root_fd, name);
    UnpackStats stats;
    archive_entry* entry = nullptr;
    while (true) {
        int r = archive_read_next_header(a.get(), &entry);
        if (r == ARCHIVE_EOF) {
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            if (ctx.error) {
                return *ctx.error;
            }
            const char* msg = archive_error_string(a.get());
            return layer_error(name, fmt::format("corrupt tar archive after {} entries ({})",
                                                 stats.entries,
                                                 msg != nullptr ? msg : "bad header"));
        }
        auto applied = unpacker.apply(a.get(), entry);
        if (!applied) {
            if (ctx.error) {
                return *ctx.error;
            }
            return std::move(applied).error();
        }
        stats.size += *applied;
        ++stats.entries;
    }
    unpacker.finish_dirs();
    auto diff = (*stream)->finish();
    if (!diff) {
        return std::move(diff).error();
    }
    stats.diff_id = *diff;
    return stats;
}

}  // namespace berth::engine::images
