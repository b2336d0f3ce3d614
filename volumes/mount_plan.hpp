// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "volumes/mount_spec.hpp"
#include "volumes/volume_store.hpp"

/// Turns a container's MountSpecs into OCI runtime-spec mount entries.
namespace berth::volumes {

/// Inputs of prepare_mounts besides the mounts themselves.
struct PrepareOptions {
    /// The container id: the holder of every volume acquired.
    std::string container_id;
    /// The image's layer directories, bottom first (overlay lower dirs). Empty:
    /// no copy-up.
    std::vector<std::filesystem::path> image_layers;
    /// Labels put on anonymous volumes created here (besides anonymous_label).
    std::map<std::string, std::string> anonymous_labels;
};

/// The result of prepare_mounts.
struct PreparedMounts {
    /// `{destination, type, source, options}` objects, in the order of the specs.
    std::vector<nlohmann::json> oci_mounts;
    /// Names of the anonymous volumes created for this container, for `rm -v`.
    std::vector<std::string> anonymous_volumes;
    /// Names of the volumes acquired (release them with release_mounts).
    std::vector<std::string> acquired_volumes;
};

/// Validates `mounts` and prepares each one:
/// - bind: the source must exist, unless create_host_path (then it is created
///   as a directory, 0755); options rbind (or bind), ro, the propagation
///   (rprivate by default);
/// - volume: created if missing (anonymous ones with a random name), acquired
///   for the container, copied up from the image when new and empty (unless
///   nocopy), then bound from its _data (or its subpath);
/// - tmpfs: options nosuid, nodev, noexec, size=, mode=, plus the extra ones.
/// On failure everything done so far is undone (volumes released, anonymous ones
/// removed, created bind sources left alone since the user asked for them).
[[nodiscard]] Result<PreparedMounts> prepare_mounts(VolumeStore& store,
                                                    std::span<const MountSpec> mounts,
                                                    const PrepareOptions& options);

/// The anonymous volumes an image's `VOLUME` entries ask for (config.Volumes),
/// for the paths that `explicit_mounts` do not already cover. Each path is
/// cleaned lexically inside the rootfs ("/../../etc" -> "/etc", RELIABILITY row
/// 19b); a relative path or one that cleans to "/" is refused
/// (Errc::invalid_argument, naming the entry). Sorted by target, deduplicated.
[[nodiscard]] Result<std::vector<MountSpec>> image_volume_mounts(
    std::span<const std::string> image_volumes, std::span<const MountSpec> explicit_mounts);

/// `--volumes-from container[:ro|:rw]` / compose `volumes_from`: splits the
/// reference and its mode. Errc::invalid_argument for another mode.
struct VolumesFrom {
    std::string container;
    /// std::nullopt: keep each mount's own mode.
    std::optional<bool> read_only;
};
[[nodiscard]] Result<VolumesFrom> parse_volumes_from(std::string_view spec);

/// The mounts inherited from another container's mounts (whose anonymous
/// volumes carry their generated names in `source`): binds and volumes only
/// (tmpfs is not shared, as in Docker), with the mode of `from` applied and
/// targets already in `own` skipped.
[[nodiscard]] std::vector<MountSpec> inherit_mounts(std::span<const MountSpec> other,
                                                    const VolumesFrom& from,
                                                    std::span<const MountSpec> own);

/// Releases the volumes acquired for `container_id`. Errors are collected; the
/// first one is returned after all were tried.
[[nodiscard]] Result<void> release_mounts(VolumeStore& store,
                                          std::span<const std::string> volume_names,
                                          const std::string& container_id);

}  // namespace berth::volumes
