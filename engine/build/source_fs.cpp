// SPDX-License-Identifier: Apache-2.0
#include "engine/build/source_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <set>

#include "common/fs.hpp"
#include "engine/images/layer.hpp"

namespace berth::engine::build {

namespace stdfs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& rel) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < rel.size()) {
        size_t end = rel.find('/', start);
        if (end == std::string::npos) {
            end = rel.size();
        }
        if (end > start) {
            out.push_back(rel.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& parts, size_t n) {
    std::string out;
    for (size_t i = 0; i < n && i < parts.size(); ++i) {
        if (!out.empty()) {
            out += '/';
        }
        out += parts[i];
    }
    return out;
}

/// lstat of `rel` below `root_fd` without following any symlink.
std::optional<struct stat> lstat_in(int root_fd, const std::string& rel) {
    struct stat st {};
    if (rel.empty()) {
        if (::fstat(root_fd, &st) != 0) {
            return std::nullopt;
        }
        return st;
    }
    auto slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? std::string() : rel.substr(0, slash);
    std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    auto pfd = images::open_in_root(root_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, true);
    if (!pfd) {
        return std::nullopt;
    }
    if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return std::nullopt;
    }
    return st;
}

Result<std::vector<std::string>> list_in(int root_fd, const std::string& rel) {
    auto fd = images::open_in_root(root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, true);
    if (!fd) {
        return std::move(fd).error();
    }
    DIR* d = ::fdopendir(fd->release());
    if (d == nullptr) {
        int err = errno;
        return Error::from_errno(err, fmt::format("read directory {}", rel));
    }
    std::vector<std::string> out;
    while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") {
            out.emplace_back(n);
        }
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

Result<std::string> readlink_in(int root_fd, const std::string& rel) {
    auto slash = rel.rfind('/');
    std::string parent = slash == std::string::npos ? std::string() : rel.substr(0, slash);
    std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    auto pfd = images::open_in_root(root_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, true);
    if (!pfd) {
        return std::move(pfd).error();
    }
    char buf[4096];
    ssize_t n = ::readlinkat(pfd->get(), name.c_str(), buf, sizeof buf);
    if (n < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("readlink {}", rel));
    }
    return std::string(buf, static_cast<size_t>(n));
}

bool is_whiteout(const struct stat& st) {
    return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque(int root_fd, const std::string& rel) {
    auto fd = images::open_in_root(root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, true);
    if (!fd) {
        return false;
    }
    char v[2] = {};
    ssize_t n = ::fgetxattr(fd->get(), "trusted.overlay.opaque", v, sizeof v);
    return n == 1 && v[0] == 'y';
}

class DirectoryFs final : public SourceFs {
public:
    explicit DirectoryFs(UniqueFd root) : root_(std::move(root)) {}
    std::optional<struct stat> stat(const std::string& rel) const override {
        return lstat_in(root_.get(), rel);
    }
    Result<std::vector<std::string>> list(const std::string& rel) const override {
        return list_in(root_.get(), rel);
    }
    Result<UniqueFd> open(const std::string& rel) const override {
        return images::open_in_root(root_.get(), rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, true);
    }
    Result<std::string> readlink(const std::string& rel) const override {
        return readlink_in(root_.get(), rel);
    }

private:
    UniqueFd root_;
};

class LayersFs final : public SourceFs {
public:
    explicit LayersFs(std::vector<UniqueFd> top_first) : layers_(std::move(top_first)) {}

    /// What layer `i` says about `rel`'s ancestors: whether lower layers are
    /// cut off (whiteout or non-directory ancestor: everything hidden;
    /// opaque ancestor: lower layers do not contribute), and whether the
    /// ancestors all exist in this layer.
    struct Ancestors {
        bool hidden = false;
        bool opaque = false;
        bool present = true;
    };
    Ancestors ancestors(int fd, const std::vector<std::string>& parts, size_t n) const {
        Ancestors a;
        for (size_t i = 1; i <= n; ++i) {
            auto prefix = join(parts, i);
            auto st = lstat_in(fd, prefix);
            if (!st) {
                a.present = false;
                return a;
            }
            if (is_whiteout(*st) || !S_ISDIR(st->st_mode)) {
                a.hidden = true;
                return a;
            }
            if (is_opaque(fd, prefix)) {
                a.opaque = true;
            }
        }
        return a;
    }

    /// The layer index and stat of `rel`.
    std::optional<std::pair<size_t, struct stat>> find(const std::string& rel) const {
        auto parts = split(rel);
        for (size_t l = 0; l < layers_.size(); ++l) {
            int fd = layers_[l].get();
            if (parts.empty()) {
                auto st = lstat_in(fd, "");
                if (st) {
                    return std::make_pair(l, *st);
                }
                continue;
            }
            auto a = ancestors(fd, parts, parts.size() - 1);
            if (a.hidden) {
                return std::nullopt;
            }
            if (a.present) {
                auto st = lstat_in(fd, rel);
                if (st) {
                    if (is_whiteout(*st)) {
                        return std::nullopt;
                    }
                    return std::make_pair(l, *st);
                }
            }
            if (a.opaque) {
                return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::optional<struct stat> stat(const std::string& rel) const override {
        auto f = find(rel);
        if (!f) {
            return std::nullopt;
        }
        return f->second;
    }

    Result<std::vector<std::string>> list(const std::string& rel) const override {
        auto parts = split(rel);
        std::set<std::string> seen;
        std::vector<std::string> out;
        bool any = false;
        for (const auto& layer : layers_) {
            int fd = layer.get();
            auto a = ancestors(fd, parts, parts.size());
            if (a.hidden) {
                break;
            }
            if (a.present) {
                auto names = list_in(fd, rel);
                if (names) {
                    any = true;
                    for (const auto& n : *names) {
                        if (!seen.insert(n).second) {
                            continue;
                        }
                        auto st = lstat_in(fd, rel.empty() ? n : rel + "/" + n);
                        if (st && !is_whiteout(*st)) {
                            out.push_back(n);
                        }
                    }
                }
            }
            if (a.opaque) {
                break;
            }
        }
        if (!any) {
            return Error(Errc::not_found, fmt::format("{}: no such directory", "/" + rel));
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    Result<UniqueFd> open(const std::string& rel) const override {
        auto f = find(rel);
        if (!f) {
            return Error(Errc::not_found, fmt::format("/{}: not found", rel));
        }
        return images::open_in_root(layers_[f->first].get(), rel,
                                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC, true);
    }

    Result<std::string> readlink(const std::string& rel) const override {
        auto f = find(rel);
        if (!f) {
            return Error(Errc::not_found, fmt::format("/{}: not found", rel));
        }
        return readlink_in(layers_[f->first].get(), rel);
    }

private:
    std::vector<UniqueFd> layers_;  // top first
};

}  // namespace

Result<std::optional<std::string>> SourceFs::read_small(const std::string& rel,
                                                        size_t max) const {
    auto st = stat(rel);
    if (!st || !S_ISREG(st->st_mode)) {
        return std::optional<std::string>();
    }
    auto fd = open(rel);
    if (!fd) {
        return std::move(fd).error();
    }
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd->get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("read /{}", rel));
        }
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > max) {
            return Error(Errc::invalid_argument, fmt::format("/{}: larger than {} bytes", rel, max));
        }
    }
    return std::optional<std::string>(std::move(out));
}

Result<std::string> SourceFs::resolve(const std::string& rel) const {
    auto parts = split(rel);
    std::vector<std::string> done;
    int hops = 0;
    size_t i = 0;
    while (i < parts.size()) {
        const std::string& p = parts[i];
        if (p == "." || p.empty()) {
            ++i;
            continue;
        }
        if (p == "..") {
            if (!done.empty()) {
                done.pop_back();
            }
            ++i;
            continue;
        }
        done.push_back(p);
        auto cur = join(done, done.size());
        auto st = stat(cur);
        if (st && S_ISLNK(st->st_mode)) {
            if (++hops > 40) {
                return Error(Errc::invalid_argument,
                             fmt::format("/{}: too many levels of symbolic links", rel));
            }
            auto target = readlink(cur);
            if (!target) {
                return std::move(target).error();
            }
            done.pop_back();
            if (!target->empty() && (*target)[0] == '/') {
                done.clear();
            }
            auto tparts = split(*target);
            std::vector<std::string> rest(tparts);
            rest.insert(rest.end(), parts.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        parts.end());
            parts = std::move(rest);
            i = 0;
            continue;
        }
        ++i;
    }
    return join(done, done.size());
}

Result<std::unique_ptr<SourceFs>> open_directory(const stdfs::path& dir) {
    auto fd = fs::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!fd) {
        return std::move(fd).error();
    }
    return std::unique_ptr<SourceFs>(std::make_unique<DirectoryFs>(std::move(*fd)));
}

Result<std::unique_ptr<SourceFs>> open_layers(const std::vector<stdfs::path>& layers) {
    std::vector<UniqueFd> fds;
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        auto fd = fs::open(*it, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!fd) {
            return std::move(fd).error();
        }
        fds.push_back(std::move(*fd));
    }
    return std::unique_ptr<SourceFs>(std::make_unique<LayersFs>(std::move(fds)));
}

Result<std::string> clean_relative(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) {
        return Error(Errc::invalid_argument, "path contains a NUL byte");
    }
    std::vector<std::string> out;
    for (const auto& p : split(std::string(path))) {
        if (p == ".") {
            continue;
        }
        if (p == "..") {
            if (out.empty()) {
                return Error(Errc::invalid_argument,
                             fmt::format("{}: climbs out of its root", std::string(path)));
            }
            out.pop_back();
            continue;
        }
        out.push_back(p);
    }
    return join(out, out.size());
}

namespace {

bool has_wildcard(std::string_view s) {
    return s.find_first_of("*?[") != std::string_view::npos;
}

void glob_at(const SourceFs& fs, const std::vector<std::string>& parts, size_t i,
             const std::string& prefix, const std::function<bool(const std::string&)>& excluded,
             std::vector<std::string>& out) {
    if (i == parts.size()) {
        if (!excluded || !excluded(prefix)) {
            out.push_back(prefix);
        }
        return;
    }
    auto next = [&](const std::string& name) {
        return prefix.empty() ? name : prefix + "/" + name;
    };
    if (!has_wildcard(parts[i])) {
        auto p = next(parts[i]);
        if (fs.stat(p)) {
            glob_at(fs, parts, i + 1, p, excluded, out);
        }
        return;
    }
    auto names = fs.list(prefix);
    if (!names) {
        return;
    }
    for (const auto& n : *names) {
        if (::fnmatch(parts[i].c_str(), n.c_str(), 0) == 0) {
            auto p = next(n);
            if (i + 1 < parts.size()) {
                auto st = fs.stat(p);
                if (!st || !S_ISDIR(st->st_mode)) {
                    continue;
                }
            }
            glob_at(fs, parts, i + 1, p, excluded, out);
        }
    }
}

}  // namespace

Result<std::vector<std::string>> glob(const SourceFs& fs, const std::string& pattern,
                                      const std::function<bool(const std::string&)>& excluded) {
    auto clean = clean_relative(pattern);
    if (!clean) {
        return std::move(clean).error();
    }
    std::vector<std::string> out;
    glob_at(fs, split(*clean), 0, "", excluded, out);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace berth::engine::build
