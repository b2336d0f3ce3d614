// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "engine/containers/config.hpp"
#include "engine/containers/state.hpp"

namespace berth::engine::containers {

/// A container as created: its identity, what was asked, and the image it was
/// created from (fixed at create, as Docker does). Stored as record.json.
struct ContainerRecord {
    std::string id;    ///< 64 hex characters
    std::string name;  ///< without the leading "/"
    std::string created;
    ContainerConfig config;
    std::string image_id;                  ///< "sha256:..."
    nlohmann::json image_config;           ///< the image's "config" object at create time
    std::vector<std::string> layers;       ///< snapshot dirs of the image, bottom first
    std::string platform = "linux";
    /// Not stored: set by get()/list() when record.json cannot be read (a torn
    /// or garbled file, F8). Such a record carries only the id and the name
    /// found in the name reservations; it can be listed (as dead) and removed.
    std::string broken;

    [[nodiscard]] std::string short_id() const { return id.substr(0, 12); }
};

void to_json(nlohmann::json& j, const ContainerRecord& r);
void from_json(const nlohmann::json& j, ContainerRecord& r);

/// A record with its current state, as `ps` and `inspect` show it.
struct ContainerView {
    ContainerRecord record;
    ContainerState state;
};

/// Container records under Paths::containers(), and the name reservations
/// under <root>/names (one file per name holding the owner's id). A
/// reservation appears complete and locked (linked into place, flock held)
/// and stays locked until its record is written, so that of any number of
/// concurrent `run --name x` exactly one wins, and a reservation is reclaimed
/// only when its creator died before writing the record. Thread-compatible;
/// processes coordinate through the files themselves.
class ContainerStore {
public:
    /// Creates the directories if needed.
    [[nodiscard]] static Result<ContainerStore> open(const Paths& paths);

    /// Reserves `record.name` (or a generated one when empty) and writes the
    /// record. Errc::conflict when the name is in use, with Docker's message.
    /// The record and the name survive a power loss (fsync), except for an
    /// auto-remove (--rm) container: its record lives only as long as its
    /// process, which a power loss ends, so it is written atomically without
    /// fsync. A container whose record a power loss left torn keeps its name
    /// until it is removed (it is listed as broken); a name whose record was
    /// never written can be reserved again.
    Result<ContainerRecord> create(ContainerRecord record);

    /// Finds a container by full id, unique id prefix, or name.
    /// Errc::not_found: "No such container: <ref>"; an ambiguous prefix is
    /// Errc::invalid_argument. A container whose record cannot be read is
    /// returned with `broken` set.
    Result<ContainerRecord> get(std::string_view ref) const;

    /// Every container, sorted by creation time, newest first. A record that
    /// cannot be read is returned with `broken` set (and logged).
    Result<std::vector<ContainerRecord>> list() const;

    /// The state file of a container; a missing one means `created`. The state
    /// is reconciled with reality: a "running" container whose process is gone
    /// and whose supervisor is gone reads as exited (code 255, F4).
    Result<ContainerState> state(const std::string& id) const;
    Result<void> write_state(const std::string& id, const ContainerState& state) const;

    /// Removes the record, its directory and its name reservation. Missing is ok.
    Result<void> remove(const ContainerRecord& record) const;

    [[nodiscard]] const Paths& paths() const { return paths_; }
    [[nodiscard]] std::filesystem::path dir(const std::string& id) const {
        return paths_.container(id);
    }

private:
    explicit ContainerStore(Paths paths) : paths_(std::move(paths)) {}
    Result<UniqueFd> reserve_name(const std::string& name, const std::string& id,
                                  bool durable) const;
    ContainerRecord broken_record(const std::string& id, std::string why) const;
    Paths paths_;
};

/// A Docker-style random name ("focused_turing").
std::string generate_name();

/// Docker's container-name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a leading "/" allowed).
bool is_valid_name(std::string_view name);

}  // namespace berth::engine::containers
