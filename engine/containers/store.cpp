// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/store.hpp"

#include <fcntl.h>
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

/// True when `dir`/record.json holds the record of container `id`. Records are
/// replaced by rename, so a process never sees a partial one; only a power
/// loss can leave one empty or torn.
bool record_is_readable(const std::filesystem::path& dir, const std::string& id) {
    auto j = read_json(dir / "record.json");
    return j && j->is_object() && j->value("id", "") == id;
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

Result<void> ContainerStore::reserve_name(const std::string& name, const std::string& id,
                                          bool durable) const {
    auto path = paths_.root / "names" / name;
    for (int attempt = 0; attempt < 2; ++attempt) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            auto written = ::write(fd, id.data(), id.size());
            if (durable) {
                ::fsync(fd);
            }
            ::close(fd);
            if (written != static_cast<ssize_t>(id.size())) {
                ::unlink(path.c_str());
                return Error(Errc::internal, fmt::format("reserve container name {}", name));
            }
            return {};
        }
        if (errno != EEXIST) {
            int err = errno;
            return Error::from_errno(err, fmt::format("reserve container name {}", name));
        }
        auto owner = fs::read_file(path);
        std::string owner_id = owner ? *owner : std::string();
        // A reservation whose container record does not exist is left over from a
        // crash between reserving and writing the record: reclaim it. So is one
        // whose record a power loss left torn (an unsynced --rm record).
        if (owner_id.size() == 64 && record_is_readable(paths_.container(owner_id), owner_id)) {
            return Error(Errc::conflict,
                         fmt::format("Conflict. The container name \"/{}\" is already in use by "
                                     "container \"{}\". You have to remove (or rename) that "
                                     "container to be able to reuse that name.",
                                     name, owner_id));
        }
        ::unlink(path.c_str());
    }
    return Error(Errc::conflict, fmt::format("reserve container name {}: raced with another create", name));
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
    for (int attempt = 0;; ++attempt) {
        if (generated) {
            record.name = generate_name();
            if (attempt > 3) {
                record.name += fmt::format("{}", attempt);
            }
        }
        auto r = reserve_name(record.name, record.id, !record.config.auto_remove);
        if (r) {
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
            return std::move(j).error();
        }
        try {
            return j->get<ContainerRecord>();
        } catch (const json::exception& e) {
            return Error(Errc::internal, fmt::format("read container {}: {}", id, e.what()));
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
                log::engine().warn("skip container {}: {}", id, j.error().message());
            }
            continue;
        }
        try {
            out.push_back(j->get<ContainerRecord>());
        } catch (const json::exception& ex) {
            log::engine().warn("skip container {}: {}", id, ex.what());
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created != b.created ? a.created > b.created : a.id < b.id;
    });
    return out;
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
    if (live_status && !process_matches(st.supervisor_pid, st.supervisor_start_time) &&
        !process_matches(st.pid, st.pid_start_time)) {
        // Neither the supervisor nor the process is alive: it died without
        // recording an exit (F4). Docker reports 255 in that case.
        st.status = Status::exited;
        st.exit_code = 255;
        if (st.finished_at.empty() || st.finished_at < st.started_at) {
            st.finished_at = now_rfc3339();
        }
        st.pid = 0;
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
