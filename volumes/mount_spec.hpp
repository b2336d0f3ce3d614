// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

/// Mount specifications of one container, parsed from `run -v`, `--mount`,
/// `--tmpfs` and the compose short and long syntax, with Docker's rules and
/// error texts. Pure: nothing here touches the file system.
namespace berth::volumes {

/// What a mount is made from.
enum class MountType { bind, volume, tmpfs };

/// Bind propagation (`bind-propagation=`, `:rshared`); Docker's default is rprivate.
enum class Propagation { private_, rprivate, shared, rshared, slave, rslave };

[[nodiscard]] std::string_view to_string(MountType type) noexcept;
[[nodiscard]] std::string_view to_string(Propagation propagation) noexcept;
/// Parses "private" .. "rslave"; std::nullopt for anything else.
[[nodiscard]] std::optional<Propagation> parse_propagation(std::string_view text) noexcept;

/// One mount of a container.
struct MountSpec {
    MountType type = MountType::volume;
    /// Host path (bind), volume name (volume; empty for an anonymous one), empty (tmpfs).
    std::string source;
    /// Absolute path in the container, never "/".
    std::string target;
    bool read_only = false;

    // bind
    std::optional<Propagation> propagation;
    /// Create a missing bind source (Docker's `-v`, compose short syntax);
    /// otherwise a missing source is "bind source path does not exist: /x".
    bool create_host_path = false;
    /// bind-nonrecursive: plain bind instead of rbind.
    bool non_recursive = false;

    // volume
    /// Do not copy the image's content into a new empty volume.
    bool nocopy = false;
    /// Mount only this relative path inside the volume (must exist).
    std::string subpath;
    /// For a volume created on the fly by this mount (`volume-driver`,
    /// `volume-opt`, `volume-label`).
    std::string volume_driver;
    std::map<std::string, std::string> volume_options;
    std::map<std::string, std::string> volume_labels;

    // tmpfs
    std::optional<uint64_t> tmpfs_size;  ///< bytes
    std::optional<mode_t> tmpfs_mode;    ///< permission bits of the tmpfs root
    /// Other tmpfs mount options of `--tmpfs /x:opts` (noexec, uid=1000, ...),
    /// already validated, in the order given.
    std::vector<std::string> tmpfs_options;

    /// `consistency=` / `:cached` / `:delegated` and `:z` / `:Z`: accepted and
    /// ignored (no SELinux, no macOS file sharing), kept for `inspect`.
    std::string consistency;
    std::string selinux_label;

    /// The raw mode string of `-v` (after the second colon), for inspect's "Mode".
    std::string mode;

    /// An anonymous volume: type volume with no source.
    [[nodiscard]] bool anonymous() const noexcept {
        return type == MountType::volume && source.empty();
    }
    bool operator==(const MountSpec&) const = default;
};

/// Parses a `run -v` / `--volume` value: `/ctr` (anonymous volume),
/// `name:/ctr[:mode]` (named volume), `/host:/ctr[:mode]` (bind), where mode is
/// a comma list of at most one each of ro|rw, z|Z, [r]private|[r]shared|[r]slave,
/// nocopy, consistent|cached|delegated. Binds get create_host_path (Docker
/// creates a missing source for `-v`). A relative host path is an error, as in
/// Docker: the source must be an absolute path or a valid volume name.
/// Errc::invalid_argument with Docker's text ("invalid volume specification: 'x'",
/// "invalid mode: x", "invalid mount path: 'x' mount path must be absolute", ...).
[[nodiscard]] Result<MountSpec> parse_volume_flag(std::string_view spec);

/// As parse_volume_flag, for the compose short syntax: a source that starts with
/// "." or "~" is a host path, resolved against `base_dir` (the project
/// directory) or $HOME, and normalised. Other relative sources are volume names.
[[nodiscard]] Result<MountSpec> parse_volume_flag(std::string_view spec,
                                                  const std::filesystem::path& base_dir);

/// Parses a `--mount` value: comma-separated key[=value] with type=bind|volume|tmpfs
/// (default volume), source|src, target|destination|dst, readonly|ro[=bool],
/// consistency, bind-propagation, bind-nonrecursive, bind-create-host-path,
/// volume-nocopy, volume-subpath, volume-driver, volume-label, volume-opt,
/// tmpfs-size, tmpfs-mode. Binds do not get create_host_path (a missing source
/// is refused later). Errc::invalid_argument with Docker's texts.
[[nodiscard]] Result<MountSpec> parse_mount_flag(std::string_view spec);

/// Parses a `--tmpfs` value: `/path[:opt,opt,...]` with size=, mode= and the
/// other tmpfs options Docker accepts (rw, ro, exec, noexec, suid, nosuid, dev,
/// nodev, atime, noatime, ..., uid=, gid=, nr_inodes=, nr_blocks=, huge=, mpol=).
[[nodiscard]] Result<MountSpec> parse_tmpfs_flag(std::string_view spec);

/// Docker's byte sizes (units.RAMInBytes): "64m", "1.5g", "100", "10KiB";
/// binary multiples, case-insensitive. Errc::invalid_argument otherwise.
[[nodiscard]] Result<uint64_t> parse_byte_size(std::string_view text);

/// Checks one container's mounts: every target absolute and not "/", sources
/// present where required, and no two mounts on one target
/// ("Duplicate mount point: /x"). Targets are compared after normalisation.
[[nodiscard]] Result<void> validate_mounts(std::span<const MountSpec> mounts);

/// Normalises an absolute container path lexically ("/a/../b/" -> "/b");
/// ".." never goes above "/" (the path stays inside the rootfs).
[[nodiscard]] std::string clean_container_path(std::string_view path);

}  // namespace berth::volumes
