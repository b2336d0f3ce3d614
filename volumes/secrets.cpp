// SPDX-License-Identifier: Apache-2.0
#include "volumes/secrets.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fmt/format.h>

#include "common/digest.hpp"
#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "volumes/internal/sys.hpp"
#include "volumes/mount_spec.hpp"

namespace berth::volumes {

namespace {

constexpr uint64_t no_follow = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

std::string_view kind_name(SecretKind k) { return k == SecretKind::secret ? "secret" : "config"; }

bool plain_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos && name.size() <= 200;
}

Result<std::string> target_of(const SecretRequest& r) {
    std::string t = r.target;
    if (t.empty()) {
        t = r.kind == SecretKind::secret ? "/run/secrets/" + r.name : "/" + r.name;
    } else if (t.front() != '/') {
        t = (r.kind == SecretKind::secret ? "/run/secrets/" : "/") + t;
    }
    size_t start = 0;
    while (start <= t.size()) {
        size_t end = t.find('/', start);
        if (end == std::string::npos) {
            end = t.size();
        }
        if (t.compare(start, end - start, "..") == 0 && end - start == 2) {
            return Error(Errc::invalid_argument,
                         fmt::format("{} {}: target {} must not contain \"..\"", kind_name(r.kind),
                                     r.name, r.target));
        }
        start = end + 1;
    }
    t = clean_container_path(t);
    if (t == "/") {
        return Error(Errc::invalid_argument,
                     fmt::format("{} {}: target can't be '/'", kind_name(r.kind), r.name));
    }
    return t;
}

Result<std::string> content_of(const SecretRequest& r, const EnvLookup& env) {
    auto ctx = fmt::format("{} {}", kind_name(r.kind), r.name);
    switch (r.source) {
    case SecretSource::file: {
        auto data = fs::read_file(r.value);
        if (!data) {
            return std::move(data).error().wrap(ctx);
        }
        return data;
    }
    case SecretSource::environment: {
        std::optional<std::string> v;
        if (env) {
            v = env(r.value);
        } else if (const char* e = std::getenv(r.value.c_str())) {
            v = std::string(e);
        }
        if (!v) {
            return Error(Errc::not_found,
                         fmt::format("{}: environment variable {} is not set", ctx, r.value));
        }
        return *v;
    }
    case SecretSource::content:
        if (r.kind == SecretKind::secret) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}: inline content is only allowed for configs", ctx));
        }
        return r.value;
    }
    return Error(Errc::internal, ctx);
}

/// Refuses a target that the container turned into a symlink (or whose parent
/// is one): resolved inside the rootfs, never following a link.
Result<void> check_target(const std::filesystem::path& rootfs, const std::string& target,
                          const std::string& ctx) {
    auto root = detail::open_dir_path(rootfs);
    if (!root) {
        return std::move(root).error().wrap(ctx);
    }
    // No O_NOFOLLOW: a symlink as the last component must fail with ELOOP too.
    auto fd = detail::openat2_fd(root->get(), target.substr(1), O_PATH, 0,
                                 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                                 fmt::format("{}: resolve target {}", ctx, target));
    if (fd) {
        struct stat st {};
        if (::fstat(fd->get(), &st) == 0 && S_ISDIR(st.st_mode)) {
            return Error(Errc::failed_precondition,
                         fmt::format("{}: target {} is a directory in the container", ctx, target));
        }
        return {};
    }
    int err = fd.error().sys_errno();
    if (err == ENOENT) {
        return {};
    }
    if (err == ELOOP || err == EXDEV) {
        return Error(Errc::permission_denied,
                     fmt::format("{}: target {} is a symbolic link in the container; refused",
                                 ctx, target),
                     err);
    }
    return std::move(fd).error();
}

}  // namespace

Result<std::vector<nlohmann::json>> prepare_secret_or_config(
    const std::filesystem::path& container_dir, std::span<const SecretRequest> requests,
    const std::optional<std::filesystem::path>& rootfs, const EnvLookup& env) {
    std::vector<nlohmann::json> mounts;
    std::vector<std::filesystem::path> written;
    auto undo = ScopeExit([&] {
        for (const auto& p : written) {
            ::unlink(p.c_str());
        }
    });
    auto cdir = detail::open_dir_path(container_dir);
    if (!cdir) {
        return std::move(cdir).error().wrap("prepare secrets");
    }
    for (const auto& r : requests) {
        auto ctx = fmt::format("{} {}", kind_name(r.kind), r.name);
        if (!plain_name(r.name)) {
            return Error(Errc::invalid_argument, fmt::format("{}: invalid name", ctx));
        }
        auto target = target_of(r);
        if (!target) {
            return std::move(target).error();
        }
        if (rootfs) {
            if (auto c = check_target(*rootfs, *target, ctx); !c) {
                return std::move(c).error();
            }
        }
        auto content = content_of(r, env);
        if (!content) {
            return std::move(content).error();
        }
        const char* sub = r.kind == SecretKind::secret ? "secrets" : "configs";
        if (::mkdirat(cdir->get(), sub, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: create {}", ctx, sub));
        }
        auto dir = detail::openat2_fd(cdir->get(), sub, O_RDONLY | O_DIRECTORY, 0, no_follow,
                                      fmt::format("{}: open {}", ctx, sub));
        if (!dir) {
            return std::move(dir).error();
        }
        auto tmp = fmt::format(".tmp-{}-{}", r.name, random_hex_id(8));
        auto file = detail::openat2_fd(dir->get(), tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                                       0600, no_follow, fmt::format("{}: create file", ctx));
        if (!file) {
            return std::move(file).error();
        }
        auto final_path = container_dir / sub / r.name;
        bool ok = detail::write_all(file->get(), *content, ctx).has_value() &&
                  ::fchown(file->get(), r.uid, r.gid) == 0 &&
                  ::fchmod(file->get(), r.mode & 07777) == 0 && ::fsync(file->get()) == 0;
        int err = errno;
        if (ok && ::renameat(dir->get(), tmp.c_str(), dir->get(), r.name.c_str()) != 0) {
            ok = false;
            err = errno;
        }
        if (!ok) {
            ::unlinkat(dir->get(), tmp.c_str(), 0);
            return Error::from_errno(err, fmt::format("{}: write {}", ctx, final_path.native()));
        }
        written.push_back(final_path);
        if (failpoint("secret_write_after_file")) {
            return Error(Errc::internal, fmt::format("{}: failpoint", ctx));
        }
        mounts.push_back(nlohmann::json{
            {"destination", *target},
            {"type", "bind"},
            {"source", final_path.string()},
            {"options", {"rbind", "ro", "nosuid", "nodev", "noexec", "rprivate"}}});
    }
    undo.cancel();
    return mounts;
}

}  // namespace berth::volumes
