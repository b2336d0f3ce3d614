// SPDX-License-Identifier: Apache-2.0
#include "volumes/volume_store.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <optional>
#include <set>

#include "common/digest.hpp"
#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "volumes/internal/sys.hpp"

namespace berth::volumes {

namespace {

constexpr int schema_version = 1;

std::string now_rfc3339() {
    std::time_t t = std::time(nullptr);
    std::tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

nlohmann::json to_meta(const Volume& v) {
    return nlohmann::json{{"schema_version", schema_version},
                          {"name", v.name},
                          {"driver", v.driver},
                          {"labels", v.labels},
                          {"options", v.options},
                          {"created_at", v.created_at},
                          {"anonymous", v.anonymous},
                          {"populated", v.populated}};
}

Result<Volume> from_meta(const nlohmann::json& j, const std::filesystem::path& dir) {
    try {
        Volume v;
        if (j.value("schema_version", 0) != schema_version) {
            return Error(Errc::unsupported,
                         fmt::format("read volume {}: unknown schema_version", dir.native()));
        }
        v.name = j.at("name").get<std::string>();
        v.driver = j.value("driver", "local");
        v.labels = j.value("labels", std::map<std::string, std::string>{});
        v.options = j.value("options", std::map<std::string, std::string>{});
        v.created_at = j.value("created_at", "");
        v.anonymous = j.value("anonymous", false);
        v.populated = j.value("populated", false);
        v.mountpoint = dir / "_data";
        return v;
    } catch (const nlohmann::json::exception& e) {
        return Error(Errc::invalid_argument,
                     fmt::format("read volume {}: {}", dir.native(), e.what()));
    }
}

/// Holders file in the runtime root: {"holders": [...]}.
std::filesystem::path holders_path(const Paths& paths, const std::string& name) {
    return paths.run_root / "volumes" / (name + ".json");
}

Result<std::set<std::string>> read_holders(const Paths& paths, const std::string& name) {
    auto j = read_json(holders_path(paths, name));
    if (!j) {
        if (j.error().code() == Errc::not_found) {
            return std::set<std::string>{};
        }
        return std::move(j).error();
    }
    try {
        return j->at("holders").get<std::set<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        return Error(Errc::invalid_argument, fmt::format("read holders of volume {}: {}", name,
                                                         e.what()));
    }
}

Result<void> write_holders(const Paths& paths, const std::string& name,
                           const std::set<std::string>& holders) {
    auto path = holders_path(paths, name);
    if (holders.empty()) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            int err = errno;
            return Error::from_errno(err, fmt::format("remove {}", path.native()));
        }
        return {};
    }
    if (auto r = fs::make_dirs(path.parent_path(), 0700); !r) {
        return r;
    }
    return write_json(path, nlohmann::json{{"holders", holders}}, -1, 0600);
}

/// Opens <volumes>/<name>/_data as O_PATH without following any symlink.
Result<UniqueFd> open_data_dir(const Paths& paths, const std::string& name) {
    auto vols = detail::open_dir_path(paths.volumes());
    if (!vols) {
        return std::move(vols).error();
    }
    return detail::openat2_fd(vols->get(), name + "/_data", O_PATH | O_DIRECTORY, 0,
                              RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                              fmt::format("open data of volume {}", name));
}

Result<bool> data_is_mounted(const Paths& paths, const std::string& name) {
    auto fd = open_data_dir(paths, name);
    if (!fd) {
        return std::move(fd).error();
    }
    return detail::is_mount_root(fd->get());
}

/// Mount attributes that the local driver's `o=` may carry; the others are
/// file-system parameters handed to fsconfig.
bool mount_attr_of(std::string_view opt, unsigned* set, unsigned* clear) {
    struct Flag {
        std::string_view name;
        unsigned attr;
        bool on;
    };
    static const Flag flags[] = {
        {"ro", MOUNT_ATTR_RDONLY, true},        {"rw", MOUNT_ATTR_RDONLY, false},
        {"nosuid", MOUNT_ATTR_NOSUID, true},    {"suid", MOUNT_ATTR_NOSUID, false},
        {"nodev", MOUNT_ATTR_NODEV, true},      {"dev", MOUNT_ATTR_NODEV, false},
        {"noexec", MOUNT_ATTR_NOEXEC, true},    {"exec", MOUNT_ATTR_NOEXEC, false},
        {"noatime", MOUNT_ATTR_NOATIME, true},  {"relatime", MOUNT_ATTR_RELATIME, true},
        {"strictatime", MOUNT_ATTR_STRICTATIME, true},
        {"nodiratime", MOUNT_ATTR_NODIRATIME, true},
    };
    for (const auto& f : flags) {
        if (f.name == opt) {
            if (f.on) {
                *set |= f.attr;
            } else {
                *clear |= f.attr;
            }
            return true;
        }
    }
    return false;
}

std::vector<std::string> split_options(const std::string& o) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= o.size()) {
        size_t pos = o.find(',', start);
        if (pos == std::string::npos) {
            pos = o.size();
        }
        if (pos > start) {
            out.push_back(o.substr(start, pos - start));
        }
        start = pos + 1;
    }
    return out;
}

/// Performs the local driver's mount of `v` onto its _data, through fds only:
/// the target is an openat2-verified O_PATH fd and the new mount is attached
/// with move_mount, so a symlink swapped in cannot redirect it (row 7).
Result<void> mount_driver_options(const Paths& paths, const Volume& v) {
    auto target = open_data_dir(paths, v.name);
    if (!target) {
        return std::move(target).error();
    }
    const std::string type = v.options.at("type");
    const std::string device = v.options.count("device") ? v.options.at("device") : "";
    const auto opts = split_options(v.options.count("o") ? v.options.at("o") : "");
    const std::string what = fmt::format("mount volume {} (type {})", v.name, type);
    unsigned attr_set = 0;
    unsigned attr_clear = 0;
    bool bind = false;
    bool rbind = false;
    for (const auto& o : opts) {
        if (o == "bind") {
            bind = true;
        } else if (o == "rbind") {
            rbind = true;
        }
    }
    UniqueFd mnt;
    if (bind || rbind) {
        // type=none,o=bind,device=/host/dir: clone the tree of the device path.
        auto src = detail::open_dir_path(device);
        if (!src) {
            return std::move(src).error().wrap(what);
        }
        int fd = detail::sys_open_tree(src->get(), "",
                                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                           (rbind ? AT_RECURSIVE : 0));
        if (fd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: open_tree {}", what, device));
        }
        mnt.reset(fd);
        for (const auto& o : opts) {
            if (o != "bind" && o != "rbind" && !mount_attr_of(o, &attr_set, &attr_clear)) {
                return Error(Errc::invalid_argument,
                             fmt::format("{}: invalid bind option \"{}\"", what, o));
            }
        }
        if (attr_set != 0 || attr_clear != 0) {
            struct mount_attr ma {};
            ma.attr_set = attr_set;
            ma.attr_clr = attr_clear;
            if (detail::sys_mount_setattr(mnt.get(), "", AT_EMPTY_PATH | (rbind ? AT_RECURSIVE : 0),
                                          &ma, sizeof ma) != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("{}: set mount attributes", what));
            }
        }
    } else {
        int fsfd = detail::sys_fsopen(type.c_str(), FSOPEN_CLOEXEC);
        if (fsfd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: fsopen", what));
        }
        UniqueFd fs_ctx(fsfd);
        if (!device.empty() && detail::sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "source",
                                                    device.c_str(), 0) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: set source {}", what, device));
        }
        for (const auto& o : opts) {
            if (mount_attr_of(o, &attr_set, &attr_clear)) {
                continue;
            }
            auto eq = o.find('=');
            int rc = 0;
            if (eq == std::string::npos) {
                rc = detail::sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, o.c_str(), nullptr, 0);
            } else {
                std::string key = o.substr(0, eq);
                std::string val = o.substr(eq + 1);
                rc = detail::sys_fsconfig(fsfd, FSCONFIG_SET_STRING, key.c_str(), val.c_str(), 0);
            }
            if (rc != 0) {
                int err = errno;
                return Error::from_errno(err, fmt::format("{}: option \"{}\"", what, o));
            }
        }
        if (detail::sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: create superblock", what));
        }
        int mfd = detail::sys_fsmount(fsfd, FSMOUNT_CLOEXEC, attr_set);
        if (mfd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("{}: fsmount", what));
        }
        mnt.reset(mfd);
    }
    if (failpoint("volume_mount_before_attach")) {
        return Error(Errc::internal, fmt::format("{}: failpoint", what));
    }
    if (detail::sys_move_mount(mnt.get(), "", target->get(), "",
                               MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("{}: attach to {}", what,
                                                  v.mountpoint.native()));
    }
    log::volumes().info("mounted volume {} ({})", v.name, type);
    return {};
}

Result<void> unmount_data(const Paths& paths, const std::string& name) {
    auto fd = open_data_dir(paths, name);
    if (!fd) {
        return std::move(fd).error();
    }
    auto mounted = detail::is_mount_root(fd->get());
    if (!mounted) {
        return std::move(mounted).error();
    }
    if (!*mounted) {
        return {};
    }
    // The path handed to umount2 is the verified fd's magic link: no symlink
    // swapped into the volumes directory can make this unmount something else.
    auto p = detail::fd_path(fd->get());
    if (::umount2(p.c_str(), MNT_DETACH) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("unmount volume {}", name));
    }
    log::volumes().info("unmounted volume {}", name);
    return {};
}

Result<fs::FileLock> lock_volume(const Paths& paths, const std::string& name) {
    return fs::FileLock::acquire(paths.locks() / fmt::format("volume-{}.lock", name));
}

/// Removes what killed creates and removes left beside the volumes:
/// `.tmp-<name>-XXXXXX` (mkdtemp's six characters) and `.rm-<name>-<8 hex>`.
/// A leftover is removed only while its volume's lock is free (`held` is the
/// one this process holds), so no create or remove of it is in progress.
void sweep_leftovers(const Paths& paths, const std::string& held) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(paths.volumes(), ec), end; !ec && it != end;
         it.increment(ec)) {
        auto file = it->path().filename().string();
        std::string name;
        if (file.rfind(".tmp-", 0) == 0 && file.size() > 12) {
            name = file.substr(5, file.size() - 12);
        } else if (file.rfind(".rm-", 0) == 0 && file.size() > 13) {
            name = file.substr(4, file.size() - 13);
        } else {
            continue;
        }
        std::optional<fs::FileLock> lock;
        if (name != held) {
            auto l = fs::FileLock::try_acquire(paths.locks() / fmt::format("volume-{}.lock", name));
            if (!l) {
                continue;  // in progress in another process
            }
            lock = std::move(*l);
        }
        if (auto r = fs::remove_tree(it->path()); !r) {
            log::volumes().warn("remove leftover {}: {}", file, r.error().message());
        }
        // A create killed before its rename may have recorded a holder.
        if (file[1] == 't' && !std::filesystem::exists(paths.volumes() / name, ec)) {
            ::unlink(holders_path(paths, name).c_str());
        }
    }
    // The temporary file of a holders write that was killed (write_atomic's
    // `.tmp-<name>.json-<suffix>`), under the same rule.
    for (std::filesystem::directory_iterator it(paths.run_root / "volumes", ec), end;
         !ec && it != end; it.increment(ec)) {
        auto file = it->path().filename().string();
        auto json = file.rfind(".json-");
        if (file.rfind(".tmp-", 0) != 0 || json == std::string::npos || json < 5) {
            continue;
        }
        auto name = file.substr(5, json - 5);
        std::optional<fs::FileLock> lock;
        if (name != held) {
            auto l = fs::FileLock::try_acquire(paths.locks() / fmt::format("volume-{}.lock", name));
            if (!l) {
                continue;
            }
            lock = std::move(*l);
        }
        ::unlink(it->path().c_str());
    }
}

Result<uint64_t> tree_size(const std::filesystem::path& dir) {
    uint64_t total = 0;
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(
        dir, std::filesystem::directory_options::skip_permission_denied, ec);
    if (ec) {
        return Error::from_errno(ec.value(), fmt::format("read {}", dir.native()));
    }
    for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            return Error::from_errno(ec.value(), fmt::format("read {}", dir.native()));
        }
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            total += static_cast<uint64_t>(st.st_size);
        }
    }
    return total;
}

bool label_matches(const Volume& v, const std::string& filter) {
    bool negate = false;
    std::string f = filter;
    auto ne = f.find("!=");
    std::string key;
    std::optional<std::string> value;
    if (ne != std::string::npos) {
        negate = true;
        key = f.substr(0, ne);
        value = f.substr(ne + 2);
    } else if (auto eq = f.find('='); eq != std::string::npos) {
        key = f.substr(0, eq);
        value = f.substr(eq + 1);
    } else {
        key = f;
    }
    auto it = v.labels.find(key);
    bool match = it != v.labels.end() && (!value || it->second == *value);
    return negate ? !match : match;
}

}  // namespace

nlohmann::json Volume::inspect_json() const {
    nlohmann::json j;
    j["CreatedAt"] = created_at;
    j["Driver"] = driver;
    j["Labels"] = labels.empty() ? nlohmann::json(nullptr) : nlohmann::json(labels);
    j["Mountpoint"] = mountpoint.string();
    j["Name"] = name;
    j["Options"] = options.empty() ? nlohmann::json(nullptr) : nlohmann::json(options);
    j["Scope"] = "local";
    return j;
}

Result<void> validate_volume_name(std::string_view name) {
    if (name.size() == 1) {
        return Error(Errc::invalid_argument,
                     "volume name is too short, names should be at least two alphanumeric "
                     "characters");
    }
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    bool ok = !name.empty() && alnum(name.front());
    for (char c : name) {
        ok = ok && (alnum(c) || c == '_' || c == '.' || c == '-');
    }
    // 255 is the longest file name the volumes directory can hold.
    if (!ok || name.size() > 255) {
        return Error(Errc::invalid_argument,
                     fmt::format("\"{}\" includes invalid characters for a local volume name, only "
                                 "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to "
                                 "pass a host directory, use absolute path",
                                 name));
    }
    return {};
}

Result<void> validate_local_options(const std::map<std::string, std::string>& opts) {
    for (const auto& [key, value] : opts) {
        if (key != "type" && key != "device" && key != "o") {
            return Error(Errc::invalid_argument, fmt::format("invalid option: \"{}\"", key));
        }
        if (value.find('\0') != std::string::npos) {
            return Error(Errc::invalid_argument, fmt::format("invalid option: \"{}\"", key));
        }
    }
    if (opts.count("type") != 0 && opts.count("device") == 0) {
        return Error(Errc::invalid_argument, "missing required option: \"device\"");
    }
    if (opts.count("type") == 0 && (opts.count("device") != 0 || opts.count("o") != 0)) {
        return Error(Errc::invalid_argument, "missing required option: \"type\"");
    }
    return {};
}

Result<VolumeStore> VolumeStore::open(const Paths& paths) {
    for (const auto& dir : {paths.volumes(), paths.locks()}) {
        if (auto r = fs::make_dirs(dir, 0700); !r) {
            return std::move(r).error().wrap("open volume store");
        }
    }
    return VolumeStore(paths);
}

Result<Volume> VolumeStore::create(const CreateOptions& options) {
    std::string name = options.name.empty() ? random_hex_id(64) : options.name;
    auto ctx = fmt::format("create {}", name);
    if (auto r = validate_volume_name(name); !r) {
        return std::move(r).error().wrap(ctx);
    }
    std::string driver = options.driver.empty() ? "local" : options.driver;
    if (driver != "local") {
        return Error(Errc::not_found,
                     fmt::format("{}: error looking up volume plugin {}: plugin \"{}\" not found",
                                 ctx, driver, driver));
    }
    if (auto r = validate_local_options(options.options); !r) {
        return std::move(r).error().wrap(ctx);
    }
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error().wrap(ctx);
    }
    if (auto existing = get(name); existing) {
        if (existing->driver != driver || existing->options != options.options) {
            return Error(Errc::conflict,
                         fmt::format("{}: volume already exists with different options", ctx));
        }
        return existing;
    } else if (existing.error().code() != Errc::not_found) {
        return std::move(existing).error().wrap(ctx);
    }
    Volume v;
    v.name = name;
    v.driver = driver;
    v.labels = options.labels;
    v.options = options.options;
    v.anonymous = options.anonymous;
    if (v.anonymous) {
        v.labels.emplace(std::string(anonymous_label), "");
    }
    v.created_at = now_rfc3339();
    auto final_dir = paths_.volumes() / name;
    v.mountpoint = final_dir / "_data";
    // Build the volume beside its final place and rename it in: a crash leaves
    // a .tmp- directory that list() ignores, never a half-made volume, and the
    // next create or remove of the name sweeps it.
    sweep_leftovers(paths_, name);
    auto tmp = fs::TempDir::create(paths_.volumes(), ".tmp-" + name + "-");
    if (!tmp) {
        return std::move(tmp).error().wrap(ctx);
    }
    if (::chmod(tmp->path().c_str(), 0701) != 0 || ::mkdir((tmp->path() / "_data").c_str(), 0755) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("{}: create data directory", ctx));
    }
    // mkdir applies the umask; Docker's _data is 0755 regardless.
    if (::chmod((tmp->path() / "_data").c_str(), 0755) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("{}: chmod data directory", ctx));
    }
    if (auto r = write_json(tmp->path() / "meta.json", to_meta(v), 2, 0600); !r) {
        return std::move(r).error().wrap(ctx);
    }
    if (!options.holder.empty()) {
        if (auto r = write_holders(paths_, name, {options.holder}); !r) {
            return std::move(r).error().wrap(ctx);
        }
    }
    if (failpoint("volume_create_before_rename")) {
        return Error(Errc::internal, fmt::format("{}: failpoint", ctx));
    }
    if (::rename(tmp->path().c_str(), final_dir.c_str()) != 0) {
        int err = errno;
        if (!options.holder.empty()) {
            ::unlink(holders_path(paths_, name).c_str());
        }
        return Error::from_errno(err, fmt::format("{}: rename into place", ctx));
    }
    (void)tmp->release();
    if (int dfd = ::open(paths_.volumes().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    log::volumes().info("created volume {}", name);
    return v;
}

Result<Volume> VolumeStore::get(const std::string& name) const {
    if (!validate_volume_name(name)) {
        return Error(Errc::not_found, fmt::format("get {}: no such volume", name));
    }
    auto dir = paths_.volumes() / name;
    auto j = read_json(dir / "meta.json");
    if (!j) {
        if (j.error().code() == Errc::not_found) {
            return Error(Errc::not_found, fmt::format("get {}: no such volume", name));
        }
        return std::move(j).error().wrap(fmt::format("get {}", name));
    }
    auto v = from_meta(*j, dir);
    if (v && v->name != name) {
        return Error(Errc::internal, fmt::format("get {}: metadata names {}", name, v->name));
    }
    return v;
}

Result<std::vector<Volume>> VolumeStore::list() const {
    std::vector<Volume> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(paths_.volumes(), ec), end; !ec && it != end;
         it.increment(ec)) {
        auto name = it->path().filename().string();
        if (name.empty() || name.front() == '.') {
            continue;
        }
        auto v = get(name);
        if (!v) {
            log::volumes().warn("skip volume {}: {}", name, v.error().message());
            continue;
        }
        out.push_back(std::move(*v));
    }
    if (ec) {
        return Error::from_errno(ec.value(), fmt::format("list {}", paths_.volumes().native()));
    }
    std::sort(out.begin(), out.end(),
              [](const Volume& a, const Volume& b) { return a.name < b.name; });
    return out;
}

Result<void> VolumeStore::remove(const std::string& name, bool force, const InUse& in_use) {
    auto ctx = fmt::format("remove {}", name);
    if (!validate_volume_name(name)) {
        if (force) {
            return {};
        }
        return Error(Errc::not_found, fmt::format("get {}: no such volume", name));
    }
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error().wrap(ctx);
    }
    sweep_leftovers(paths_, name);
    auto v = get(name);
    if (!v) {
        if (force && v.error().code() == Errc::not_found) {
            return {};
        }
        // Unreadable metadata marks only this volume broken (F8): force removes it.
        if (!force || !std::filesystem::is_directory(paths_.volumes() / name)) {
            return std::move(v).error();
        }
    }
    auto holders = read_holders(paths_, name);
    if (!holders) {
        return std::move(holders).error().wrap(ctx);
    }
    if ((in_use && in_use(name)) || !holders->empty()) {
        return Error(Errc::conflict, fmt::format("{}: volume is in use", ctx));
    }
    auto mounted = data_is_mounted(paths_, name);
    if (!mounted) {
        return std::move(mounted).error().wrap(ctx);
    }
    if (*mounted) {
        // A driver mount with no holder left is stale (a crash between mount
        // and recording the holder): nobody uses it, so unmount it. Anything
        // else mounted on _data is not ours to undo.
        if (!v || !v->needs_mount()) {
            return Error(Errc::conflict, fmt::format("{}: volume is still mounted", ctx));
        }
        if (auto r = unmount_data(paths_, name); !r) {
            return std::move(r).error().wrap(ctx);
        }
    }
    // Rename first: the volume disappears atomically, and a crash during the
    // tree removal leaves only a .rm- directory that list() ignores.
    auto doomed = paths_.volumes() / fmt::format(".rm-{}-{}", name, random_hex_id(8));
    auto dir = paths_.volumes() / name;
    if (::rename(dir.c_str(), doomed.c_str()) != 0) {
        int err = errno;
        return Error::from_errno(err, ctx);
    }
    if (failpoint("volume_remove_after_rename")) {
        return Error(Errc::internal, fmt::format("{}: failpoint", ctx));
    }
    if (auto r = fs::remove_tree(doomed); !r) {
        return std::move(r).error().wrap(ctx);
    }
    log::volumes().info("removed volume {}", name);
    return {};
}

Result<VolumeStore::PruneReport> VolumeStore::prune(bool all, const InUse& in_use,
                                                    const std::vector<std::string>& label_filters) {
    auto vols = list();
    if (!vols) {
        return std::move(vols).error().wrap("prune volumes");
    }
    PruneReport report;
    for (const auto& v : *vols) {
        bool anonymous = v.anonymous || v.labels.count(std::string(anonymous_label)) != 0;
        if (!all && !anonymous) {
            continue;
        }
        bool selected = std::all_of(label_filters.begin(), label_filters.end(),
                                    [&](const std::string& f) { return label_matches(v, f); });
        if (!selected || (in_use && in_use(v.name))) {
            continue;
        }
        auto size = disk_usage(v.name);
        auto r = remove(v.name, false, in_use);
        if (!r) {
            // In use or mounted meanwhile: never removed, never an error.
            if (r.error().code() == Errc::conflict || r.error().code() == Errc::not_found) {
                continue;
            }
            return std::move(r).error().wrap("prune volumes");
        }
        report.removed.push_back(v.name);
        report.reclaimed_bytes += size.value_or(0);
    }
    return report;
}

Result<std::filesystem::path> VolumeStore::acquire(const std::string& name,
                                                   const std::string& holder) {
    auto ctx = fmt::format("use volume {}", name);
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error().wrap(ctx);
    }
    auto v = get(name);
    if (!v) {
        return std::move(v).error();
    }
    auto holders = read_holders(paths_, name);
    if (!holders) {
        return std::move(holders).error().wrap(ctx);
    }
    bool mounted_here = false;
    if (v->needs_mount()) {
        auto mounted = data_is_mounted(paths_, name);
        if (!mounted) {
            return std::move(mounted).error().wrap(ctx);
        }
        if (!*mounted) {
            if (auto r = mount_driver_options(paths_, *v); !r) {
                return std::move(r).error();
            }
            mounted_here = true;
        }
    }
    auto undo = ScopeExit([&] {
        if (mounted_here) {
            if (auto r = unmount_data(paths_, name); !r) {
                log::volumes().warn("undo mount of volume {}: {}", name, r.error().message());
            }
        }
    });
    holders->insert(holder);
    if (auto r = write_holders(paths_, name, *holders); !r) {
        return std::move(r).error().wrap(ctx);
    }
    undo.cancel();
    return v->mountpoint;
}

Result<void> VolumeStore::release(const std::string& name, const std::string& holder) {
    if (!validate_volume_name(name)) {
        return {};
    }
    auto ctx = fmt::format("release volume {}", name);
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error().wrap(ctx);
    }
    auto v = get(name);
    if (!v) {
        return v.error().code() == Errc::not_found ? Result<void>{} : std::move(v).error();
    }
    auto holders = read_holders(paths_, name);
    if (!holders) {
        return std::move(holders).error().wrap(ctx);
    }
    holders->erase(holder);
    if (holders->empty() && v->needs_mount()) {
        if (auto r = unmount_data(paths_, name); !r) {
            return std::move(r).error().wrap(ctx);
        }
    }
    return write_holders(paths_, name, *holders);
}

Result<std::vector<std::string>> VolumeStore::holders(const std::string& name) const {
    auto h = read_holders(paths_, name);
    if (!h) {
        return std::move(h).error();
    }
    return std::vector<std::string>(h->begin(), h->end());
}

Result<void> VolumeStore::mark_populated(const std::string& name) {
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error();
    }
    auto v = get(name);
    if (!v) {
        return std::move(v).error();
    }
    if (v->populated) {
        return {};
    }
    v->populated = true;
    return write_json(paths_.volumes() / name / "meta.json", to_meta(*v), 2, 0600);
}

Result<uint64_t> VolumeStore::disk_usage(const std::string& name) const {
    auto v = get(name);
    if (!v) {
        return std::move(v).error();
    }
    return tree_size(v->mountpoint);
}

}  // namespace berth::volumes

namespace berth::volumes {

namespace {

Result<bool> dir_is_empty(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) {
        return Error::from_errno(ec.value(), fmt::format("read {}", dir.native()));
    }
    return it == std::filesystem::directory_iterator();
}

/// Removes everything inside `dir` (not `dir` itself).
Result<void> empty_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    std::vector<std::filesystem::path> children;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        children.push_back(it->path());
    }
    if (ec) {
        return Error::from_errno(ec.value(), fmt::format("read {}", dir.native()));
    }
    for (const auto& c : children) {
        if (auto r = fs::remove_tree(c); !r) {
            return r;
        }
    }
    return {};
}

}  // namespace

Result<bool> VolumeStore::populate_once(
    const std::string& name,
    const std::function<Result<void>(const std::filesystem::path& data_dir)>& fill) {
    auto ctx = fmt::format("populate volume {}", name);
    auto lock = lock_volume(paths_, name);
    if (!lock) {
        return std::move(lock).error().wrap(ctx);
    }
    auto v = get(name);
    if (!v) {
        return std::move(v).error();
    }
    if (v->populated) {
        return false;
    }
    auto empty = dir_is_empty(v->mountpoint);
    if (!empty) {
        return std::move(empty).error().wrap(ctx);
    }
    bool ran = false;
    if (*empty) {
        if (auto r = fill(v->mountpoint); !r) {
            if (auto c = empty_dir(v->mountpoint); !c) {
                log::volumes().warn("{}: undo partial copy: {}", ctx, c.error().message());
            }
            return std::move(r).error().wrap(ctx);
        }
        ran = true;
    }
    v->populated = true;
    if (auto r = write_json(paths_.volumes() / name / "meta.json", to_meta(*v), 2, 0600); !r) {
        return std::move(r).error().wrap(ctx);
    }
    return ran;
}

}  // namespace berth::volumes
