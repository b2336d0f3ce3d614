// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"

/// Named volumes of the local driver.
///
/// Layout: `<root>/volumes/<name>/meta.json` and `<root>/volumes/<name>/_data`,
/// locked per volume by `<root>/locks/volume-<name>.lock`; the users of a volume
/// whose driver options need a mount (tmpfs, bind, a device) are recorded in
/// `<run_root>/volumes/<name>.json`, which vanishes with the mounts on reboot.
///
/// A volume is *populated* once copy-up was done or a container used it: from
/// then on copy-up never happens again (RELIABILITY row 18). Every change of
/// meta.json is atomic, and a volume is created as `.tmp-<name>` then renamed,
/// so a crash never leaves a half-created volume visible.
namespace berth::volumes {

/// Label Docker puts on anonymous volumes; `volume prune` without -a removes
/// only volumes carrying it.
inline constexpr std::string_view anonymous_label = "com.docker.volume.anonymous";

/// The stored description of one volume (meta.json, schema_version 1).
struct Volume {
    std::string name;
    std::string driver = "local";
    std::map<std::string, std::string> labels;
    /// driver_opts as given: type, device, o.
    std::map<std::string, std::string> options;
    std::string created_at;  ///< RFC 3339, UTC ("2026-11-27T19:55:00Z")
    bool anonymous = false;
    /// Copy-up done or a container used it: never copy into it again.
    bool populated = false;
    /// Host directory that holds the data and that containers bind.
    std::filesystem::path mountpoint;

    /// True when the local driver must mount something (options has "type").
    [[nodiscard]] bool needs_mount() const { return options.count("type") != 0; }
    /// Docker's `volume inspect` object (CreatedAt, Driver, Labels, Mountpoint,
    /// Name, Options, Scope); Labels/Options are null when empty, as Docker prints.
    [[nodiscard]] nlohmann::json inspect_json() const;
};

/// What `create` makes.
struct CreateOptions {
    std::string name;  ///< empty: a random 64-hex name
    std::string driver = "local";
    std::map<std::string, std::string> options;
    std::map<std::string, std::string> labels;
    /// Mark as anonymous (adds anonymous_label): `-v /path`, image VOLUME, compose.
    bool anonymous = false;
    /// A holder recorded before the volume appears, so that a process killed
    /// between create and acquire leaves a volume its creator's cleanup finds.
    std::string holder;
};

/// Tells whether a container uses the named volume. The volumes module knows
/// nothing of containers: the engine or the CLI supplies this from its records.
using InUse = std::function<bool(const std::string& name)>;

/// The volumes under one data root. Cheap to copy; thread-compatible, and safe
/// between processes through the per-volume locks.
class VolumeStore {
public:
    /// Creates the volumes and locks directories if needed.
    [[nodiscard]] static Result<VolumeStore> open(const Paths& paths);

    /// Creates a volume, or returns the existing one when it has the same driver
    /// and options (as Docker). Errc::invalid_argument for a bad name ("volume
    /// name is too short ...", "\"x/y\" includes invalid characters for a local
    /// volume name ...") or unknown option keys; Errc::not_found for an unknown
    /// driver ("error looking up volume plugin x: plugin \"x\" not found");
    /// Errc::conflict when it exists with other options. Nothing is left behind
    /// on failure.
    [[nodiscard]] Result<Volume> create(const CreateOptions& options);

    /// Reads one volume. Errc::not_found: "get x: no such volume".
    [[nodiscard]] Result<Volume> get(const std::string& name) const;

    /// Every volume, sorted by name. Unreadable metadata is skipped with a warning.
    [[nodiscard]] Result<std::vector<Volume>> list() const;

    /// Removes a volume and its data. Refuses one in use (Errc::conflict,
    /// "remove x: volume is in use") or one that is still mounted.
    /// With `force`, a missing volume is success (Docker's `rm -f`).
    [[nodiscard]] Result<void> remove(const std::string& name, bool force, const InUse& in_use);

    /// Removes unused volumes: only anonymous ones unless `all` (Docker >= 23,
    /// RELIABILITY row 32), and never one for which in_use is true or that is
    /// mounted. `label_filters` ("key" or "key=value", "label!=...") restrict it
    /// further. Returns the removed names and the bytes reclaimed.
    struct PruneReport {
        std::vector<std::string> removed;
        uint64_t reclaimed_bytes = 0;
    };
    [[nodiscard]] Result<PruneReport> prune(bool all, const InUse& in_use,
                                            const std::vector<std::string>& label_filters = {});

    /// Makes the volume usable by `holder` (a container id) and returns the host
    /// directory to bind. For a volume with driver options, the first holder
    /// mounts it (through fds: fsopen/fsmount/open_tree + move_mount onto an
    /// openat2-verified _data). Idempotent per holder.
    [[nodiscard]] Result<std::filesystem::path> acquire(const std::string& name,
                                                        const std::string& holder);

    /// Drops `holder`; the last one unmounts a driver-options volume. Missing
    /// holder or volume is success.
    [[nodiscard]] Result<void> release(const std::string& name, const std::string& holder);

    /// The holders recorded by acquire(), sorted.
    [[nodiscard]] Result<std::vector<std::string>> holders(const std::string& name) const;

    /// Records that the volume was used / copied into; copy-up never happens again.
    [[nodiscard]] Result<void> mark_populated(const std::string& name);

    /// Under the volume's lock: when the volume was never populated and its data
    /// directory is empty, runs `fill(data_dir)` (copy-up); then marks it
    /// populated whatever happened, so that no later mount copies into it
    /// (RELIABILITY row 18). Returns whether `fill` ran. If `fill` fails, the data
    /// directory is emptied again and the volume stays unpopulated.
    [[nodiscard]] Result<bool> populate_once(
        const std::string& name,
        const std::function<Result<void>(const std::filesystem::path& data_dir)>& fill);

    /// Sum of the file sizes under the volume's data (for prune's report).
    [[nodiscard]] Result<uint64_t> disk_usage(const std::string& name) const;

    [[nodiscard]] const Paths& paths() const { return paths_; }

private:
    explicit VolumeStore(Paths paths) : paths_(std::move(paths)) {}
    Paths paths_;
};

/// Docker's volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Errc::invalid_argument
/// with Docker's message naming the volume.
[[nodiscard]] Result<void> validate_volume_name(std::string_view name);

/// Validates local-driver options: keys type, device, o only; device required
/// with type. Errc::invalid_argument ("invalid option: \"x\"").
[[nodiscard]] Result<void> validate_local_options(const std::map<std::string, std::string>& opts);

}  // namespace berth::volumes
