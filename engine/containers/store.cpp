// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <random>

#include "common/digest.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"

namespace berth::engine::containers {

using nlohmann::json;

void to_json(json& j, const ContainerRecord& r) {
    j = json{{"schema_version", 1},       {"id", r.id},
             {"name", r.name},            {"created", r.created},
             {"config", r.config},        {"image_id", r.image_id},
             {"image_config", r.image_config}, {"layers", r.layers},
             {"platform", r.platform}};
}

void from_json(const json& j, ContainerRecord& r) {
    r.id = j.at("id").get<std::string>();
    r.name = j.value("name", "");
    r.created = j.value("created", "");
    r.config = j.value("config", json::object()).get<ContainerConfig>();
    r.image_id = j.value("image_id", "");
    r.image_config = j.value("image_config", json::object());
    r.layers = j.value("layers", std::vector<std::string>{});
    r.platform = j.value("platform", "linux");
}

bool is_valid_name(std::string_view name) {
    if (!name.empty() && name[0] == '/') {
        name.remove_prefix(1);
    }
    if (name.size() < 2) {
        return false;
    }
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    if (!alnum(name[0])) {
        return false;
    }
    return std::all_of(name.begin() + 1, name.end(),
                       [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

std::string generate_name() {
    static constexpr std::array<const char*, 24> left = {
        "admiring", "brave",   "clever",  "dazzling", "eager",   "festive", "gallant", "happy",
        "jolly",    "keen",    "loving",  "modest",   "nifty",   "optimistic", "peaceful", "quirky",
        "relaxed",  "serene",  "tender",  "upbeat",   "vibrant", "wizardly", "youthful", "zealous"};
    static constexpr std::array<const char*, 24> right = {
        "babbage", "curie",   "darwin",  "einstein", "fermi",    "galileo", "hopper",  "hypatia",
        "kepler",  "lamarr",  "lovelace", "meitner", "newton",   "noether", "pascal",  "ritchie",
        "shannon", "tesla",   "thompson", "turing",  "wozniak",  "yalow",   "torvalds", "wing"};
    static thread_local std::mt19937 rng{std::random_device{}()};
    return fmt::format("{}_{}", left[rng() % left.size()], right[rng() % right.size()]);
}

namespace {

/// True when the container has a record file (readable or not: records are
/// replaced by rename, so only a power loss can leave one torn, F8).
bool has_record(const Paths& paths, const std::string& id) {
    std::error_code ec;
    return id.size() == 64 && std::filesystem::exists(paths.container(id) / "record.json", ec);
}

}  // namespace

Result<ContainerStore> ContainerStore::open(const Paths& paths) {
    for (const auto& d : {paths.containers(), paths.root / "names"}) {
        if (auto r = fs::make_dirs(d, 0700); !r) {
            return std::move(r).error();
        }
    }
    return ContainerStore(paths);
}

namespace {

/// The id a name reservation holds, "" when unreadable.
std::string reservation_owner(int fd) {
    char buf[65] = {};
    auto n = ::pread(fd, buf, 64, 0);
    return n == 64 ? std::string(buf, 64) : std::string();
}

/// Links the open, unnamed or privately named file `fd` at `path`; fails with
/// EEXIST when the name exists (link(2) never replaces).
int link_into_place(int fd, const std::filesystem::path& tmp, const std::filesystem::path& path) {
    if (tmp.empty()) {
        auto proc = fmt::format("/proc/self/fd/{}", fd);
        return ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
    }
    return ::link(tmp.c_str(), path.c_str());
}

}  // namespace

Result<UniqueFd> ContainerStore::reserve_name(const std::string& name, const std::string& id,
                                              bool durable) const {
    const auto dir = paths_.root / "names";
    const auto path = dir / name;
    // The reservation is written and locked before it gets its name, so no
    // other creator ever sees it empty or unlocked. An O_TMPFILE file leaves
    // nothing behind if we die; the named fallback (file systems without
    // O_TMPFILE) starts with a dot, which no container name does.
    std::filesystem::path tmp;
    UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    if (!fd) {
        tmp = dir / fmt::format(".{}", id);
        fd = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    }
    if (!fd) {
        int err = errno;
        return Error::from_errno(err, fmt::format("reserve container name {}", name));
    }
    auto drop_tmp = [&] {
        if (!tmp.empty()) {
            ::unlink(tmp.c_str());
        }
    };
    if (::write(fd.get(), id.data(), id.size()) != static_cast<ssize_t>(id.size()) ||
        ::flock(fd.get(), LOCK_EX) != 0 || (durable && ::fsync(fd.get()) != 0)) {
        int err = errno;
        drop_tmp();
        return Error::from_errno(err, fmt::format("reserve container name {}", name));
    }
    auto in_use = [&](const std::string& owner) {
        return Error(Errc::conflict,
                     fmt::format("Conflict. The container name \"/{}\" is already in use by "
                                 "container \"{}\". You have to remove (or rename) that "
                                 "container to be able to reuse that name.",
                                 name, owner));
    };
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (link_into_place(fd.get(), tmp, path) == 0) {
            drop_tmp();
            return fd;
        }
        if (errno != EEXIST) {
            int err = errno;
            drop_tmp();
            return Error::from_errno(err, fmt::format("reserve container name {}", name));
        }
        UniqueFd other(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!other) {
            continue;  // removed meanwhile: try again
        }
        auto owner = reservation_owner(other.get());
        if (has_record(paths_, owner)) {
            drop_tmp();
            return in_use(owner);  // a container, readable record or not (F8)
        }
        // No record: either its creator is between reserving and
        // writing the record (it holds the lock), or it died there.
        if (::flock(other.get(), LOCK_EX | LOCK_NB) != 0) {
            drop_tmp();
            return in_use(owner);
        }
        struct stat held {};
        struct stat now {};
        if (::fstat(other.get(), &held) != 0 || ::stat(path.c_str(), &now) != 0 ||
            held.st_ino != now.st_ino || held.st_dev != now.st_dev) {
            continue;  // replaced while we waited: look again
        }
        if (has_record(paths_, owner)) {
            drop_tmp();
            return in_use(owner);  // written just before the lock was released
        }
        log::engine().info("reclaiming the name {} from a container creation that did not finish",
                           name);
        ::unlink(path.c_str());
    }
    drop_tmp();
    return Error(Errc::conflict,
                 fmt::format("reserve container name {}: raced with another create", name));
}

Result<ContainerRecord> ContainerStore::create(ContainerRecord record) {
    if (record.id.empty()) {
        record.id = random_hex_id();
    }
    if (record.created.empty()) {
        record.created = now_rfc3339();
    }
    bool generated = record.name.empty();
    if (!generated) {
        if (record.name[0] == '/') {
            record.name.erase(0, 1);
        }
        if (!is_valid_name(record.name)) {
            return Error(Errc::invalid_argument,
                         fmt::format("Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                                     "allowed",
                                     record.name));
        }
    }
    // Held (locked) until the record is written: see reserve_name.
    UniqueFd reservation;
    for (int attempt = 0;; ++attempt) {
        if (generated) {
            record.name = generate_name();
            if (attempt > 3) {
                record.name += fmt::format("{}", attempt);
            }
        }
        auto r = reserve_name(record.name, record.id, !record.config.auto_remove);
        if (r) {
            reservation = std::move(*r);
            break;
        }
        if (!generated || r.error().code() != Errc::conflict || attempt > 20) {
            return std::move(r).error();
        }
    }
    auto dir = paths_.container(record.id);
    auto undo_name = [&] { ::unlink((paths_.root / "names" / record.name).c_str()); };
    if (auto r = fs::make_dirs(dir, 0700); !r) {
        undo_name();
        return std::move(r).error();
    }
    auto durability =
        record.config.auto_remove ? fs::Durability::process_crash : fs::Durability::durable;
    if (auto r = write_json(dir / "record.json", record, -1, 0644, durability); !r) {
        undo_name();
        auto ignored = fs::remove_tree(dir);
        (void)ignored;
        return std::move(r).error();
    }
    return record;
}

Result<ContainerRecord> ContainerStore::get(std::string_view ref) const {
    auto not_found = [&] {
        return Error(Errc::not_found, fmt::format("No such container: {}", ref));
    };
    if (ref.empty()) {
        return not_found();
    }
    std::string name(ref);
    if (name[0] == '/') {
        name.erase(0, 1);
    }
    auto load = [&](const std::string& id) -> Result<ContainerRecord> {
        auto j = read_json(paths_.container(id) / "record.json");
        if (!j) {
            if (j.error().code() == Errc::not_found) {
                return std::move(j).error();
            }
            return broken_record(id, j.error().message());
        }
        try {
            return j->get<ContainerRecord>();
        } catch (const json::exception& e) {
            return broken_record(id, e.what());
        }
    };
    // Full id first, then name, then a unique id prefix (Docker's order).
    if (ref.size() == 64) {
        if (auto r = load(std::string(ref)); r || r.error().code() != Errc::not_found) {
            return r;
        }
    }
    if (is_valid_name(name)) {
        if (auto owner = fs::read_file(paths_.root / "names" / name); owner) {
            if (auto r = load(*owner); r) {
                return r;
            }
        }
    }
    std::string match;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(paths_.containers(), ec)) {
        auto id = e.path().filename().native();
        if (id.size() == 64 && id.compare(0, ref.size(), ref) == 0) {
            if (!match.empty()) {
                return Error(Errc::invalid_argument,
                             fmt::format("multiple containers found with provided prefix: {}", ref));
            }
            match = id;
        }
    }
    if (match.empty()) {
        return not_found();
    }
    auto r = load(match);
    if (!r && r.error().code() == Errc::not_found) {
        return not_found();
    }
    return r;
}

Result<std::vector<ContainerRecord>> ContainerStore::list() const {
    std::vector<ContainerRecord> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(paths_.containers(), ec)) {
        auto id = e.path().filename().native();
        if (id.size() != 64) {
            continue;
        }
        auto j = read_json(e.path() / "record.json");
        if (!j) {
            if (j.error().code() != Errc::not_found) {
                out.push_back(broken_record(id, j.error().message()));
            }
            continue;
        }
        try {
            out.push_back(j->get<ContainerRecord>());
        } catch (const json::exception& ex) {
            out.push_back(broken_record(id, ex.what()));
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created != b.created ? a.created > b.created : a.id < b.id;
    });
    return out;
}

ContainerRecord ContainerStore::broken_record(const std::string& id, std::string why) const {
    log::engine().warn("container {} has an unreadable record ({}): it can only be removed "
                       "(rm -f)",
                       id.substr(0, 12), why);
    ContainerRecord r;
    r.id = id;
    r.broken = std::move(why);
    std::error_code ec;
    // The name is the reservation that holds this id.
    for (const auto& e : std::filesystem::directory_iterator(paths_.root / "names", ec)) {
        auto name = e.path().filename().native();
        if (name.empty() || name[0] == '.') {
            continue;
        }
        if (auto owner = fs::read_file(e.path()); owner && *owner == id) {
            r.name = name;
            break;
        }
    }
    return r;
}

Result<ContainerState> ContainerStore::state(const std::string& id) const {
    auto j = read_json(paths_.container(id) / "state.json");
    ContainerState st;
    if (!j) {
        if (j.error().code() == Errc::not_found) {
            return st;
        }
        // A garbled state file marks only this container broken (F8).
        st.status = Status::dead;
        st.error = j.error().message();
        return st;
    }
    try {
        st = j->get<ContainerState>();
    } catch (const json::exception& e) {
        st.status = Status::dead;
        st.error = fmt::format("read state: {}", e.what());
        return st;
    }
    bool live_status = st.status == Status::running || st.status == Status::paused ||
                       st.status == Status::restarting;
    // Pids recorded in another boot name nobody now, whatever runs under them (F9).
    const bool other_boot = !st.boot_id.empty() && st.boot_id != current_boot_id();
    if (live_status && (other_boot || (!process_matches(st.supervisor_pid, st.supervisor_start_time) &&
                                       !process_matches(st.pid, st.pid_start_time)))) {
        // Neither the supervisor nor the process is alive: it died without
        // recording an exit (F4), or the host rebooted. Docker reports 255.
        st.status = Status::exited;
        st.exit_code = 255;
        if (st.finished_at.empty() || st.finished_at < st.started_at) {
            st.finished_at = now_rfc3339();
        }
        st.pid = 0;
        st.supervisor_pid = 0;
        auto ignored = write_state(id, st);
        (void)ignored;
    }
    return st;
}

Result<void> ContainerStore::write_state(const std::string& id, const ContainerState& state) const {
    // The state is reconciled with the live processes on every read (F4), so a
    // power loss may lose the last write; a killed process never tears it.
    return write_json(paths_.container(id) / "state.json", state, -1, 0644,
                      fs::Durability::process_crash);
}

Result<void> ContainerStore::remove(const ContainerRecord& record) const {
    if (auto r = fs::remove_tree(paths_.container(record.id)); !r) {
        return std::move(r).error().wrap(fmt::format("remove container {}", record.short_id()));
    }
    auto name_file = paths_.root / "names" / record.name;
    if (auto owner = fs::read_file(name_file); owner && *owner == record.id) {
        ::unlink(name_file.c_str());
    }
    auto ignored = fs::remove_tree(paths_.run_container(record.id));
    (void)ignored;
    return {};
}

}  // namespace berth::engine::containers
