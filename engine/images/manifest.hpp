// SPDX-License-Identifier: Apache-2.0
#pragma once

// Pure parsing and validation of OCI / Docker schema2 manifests, indexes
// (manifest lists) and image configs. Nothing here touches the disk.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "engine/images/store.hpp"

namespace berth::engine::images {

namespace media {
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_foreign_layer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media

/// Upper bounds that keep hostile documents from exhausting memory
/// (RELIABILITY.md section 2 row 22).
inline constexpr size_t max_manifest_bytes = 4 * 1024 * 1024;
inline constexpr size_t max_config_bytes = 8 * 1024 * 1024;
inline constexpr size_t max_layers = 500;
inline constexpr size_t max_index_entries = 1000;
/// 1 TiB: any larger declared size is refused as absurd.
inline constexpr int64_t max_blob_size = int64_t{1} << 40;

/// A platform as in the OCI index ("linux/amd64", "linux/arm64/v8").
struct Platform {
    std::string os;
    std::string architecture;
    std::string variant;
    [[nodiscard]] std::string str() const;
    bool operator==(const Platform&) const = default;
};

/// The platform of this host in OCI names (amd64, arm64/v8, ...).
[[nodiscard]] Platform host_platform();
/// Parses "os/arch[/variant]". Errc::invalid_argument.
[[nodiscard]] Result<Platform> parse_platform(std::string_view text);

/// A content descriptor.
struct Descriptor {
    std::string media_type;
    std::string digest;  ///< validated "sha256:<64 hex>"
    int64_t size = 0;    ///< validated 0 <= size <= max_blob_size
    std::vector<std::string> urls;
    std::optional<Platform> platform;
    std::map<std::string, std::string> annotations;
};

/// An image manifest (OCI or Docker schema2).
struct Manifest {
    std::string media_type;
    Descriptor config;
    std::vector<Descriptor> layers;
};

/// An image index or Docker manifest list.
struct Index {
    std::string media_type;
    std::vector<Descriptor> manifests;
};

enum class DocumentKind { manifest, index };

/// Tells a manifest from an index by its mediaType field, falling back to the
/// HTTP Content-Type `content_type` and then to the fields present. Refuses
/// Docker schema1 and unknown media types (Errc::unsupported).
[[nodiscard]] Result<DocumentKind> document_kind(std::string_view json,
                                                 std::string_view content_type = {});
/// Parses and validates a manifest: schemaVersion 2, known config and layer
/// media types, valid digests and sizes, at most max_layers layers.
[[nodiscard]] Result<Manifest> parse_manifest(std::string_view json);
/// Parses and validates an index.
[[nodiscard]] Result<Index> parse_index(std::string_view json);
/// Picks the entry for `want` (variant optional; "arm64" matches "v8"), skipping
/// attestation manifests. Errc::not_found naming the platform and listing
/// the ones available.
[[nodiscard]] Result<Descriptor> select_platform(const Index& index, const Platform& want);

/// An image config with the fields the store uses.
struct ParsedConfig {
    ImageConfig config;
    std::vector<std::string> diff_ids;
    std::string created;
    std::string architecture;
    std::string os;
    std::string variant;
    nlohmann::json history;  ///< array (possibly empty)
};

/// Parses an image config document. Errc::invalid_argument for non-JSON, a
/// missing rootfs, bad diff ids or wrong field types.
[[nodiscard]] Result<ParsedConfig> parse_config(std::string_view json);
/// Turns the "config" object of a config into an ImageConfig (null gives an
/// empty one). Errc::invalid_argument for wrong field types.
[[nodiscard]] Result<ImageConfig> parse_container_config(const nlohmann::json& config);
/// The reverse, with Docker's field names (Env, Cmd, ...); empty fields left out.
[[nodiscard]] nlohmann::json to_json(const ImageConfig& config);

/// Compression of a layer media type.
enum class Compression { none, gzip, zstd };
/// Errc::unsupported for media types berth cannot unpack.
[[nodiscard]] Result<Compression> layer_compression(std::string_view media_type);

/// The chain id of a layer over `parent_chain` (empty for the bottom layer):
/// sha256(parent + " " + diff_id) per the OCI image spec.
[[nodiscard]] std::string chain_id(const std::string& parent_chain, const std::string& diff_id);

}  // namespace berth::engine::images
