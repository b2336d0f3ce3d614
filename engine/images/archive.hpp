// SPDX-License-Identifier: Apache-2.0
#pragma once

// Image archives: `load` (Docker's `docker save` format, old and new, and OCI
// image-layout archives), `save` (an archive that is both a Docker archive,
// through manifest.json, and an OCI layout, through index.json, with
// uncompressed layers as Docker 25 writes it), and `import` of a root
// filesystem tarball. Every compressed input is decompressed in-process.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/store.hpp"

namespace berth::engine::images {

/// Loads every image of the archive read from `fd` (plain, gzip or zstd).
/// Returns Docker's lines ("Loaded image: busybox:latest", or "Loaded image
/// ID: sha256:..." for an untagged one). On failure nothing new stays in the
/// store: blobs written by this load are removed and no image is registered.
/// Errc::invalid_argument naming the entry, blob or layer at fault.
[[nodiscard]] Result<std::vector<std::string>> load_archive(ImageStore& store, int fd,
                                                            const Platform& platform);

/// Writes the images `refs` resolve to as one archive to `fd`.
[[nodiscard]] Result<void> save_archive(ImageStore& store, const std::vector<std::string>& refs,
                                        int fd);

/// Options of `import`.
struct ImportOptions {
    std::string source = "-";          ///< shown in the history comment
    std::string message;               ///< -m; default "Imported from <source>"
    std::vector<std::string> changes;  ///< -c: Dockerfile instructions
    std::string tag;                   ///< REPOSITORY[:TAG], may be empty
    Platform platform;                 ///< default: the host's
};

/// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer
/// image and returns it.
[[nodiscard]] Result<Image> import_rootfs(ImageStore& store, int fd, const ImportOptions& options);

/// Applies one `--change` instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
/// USER, VOLUME, WORKDIR, STOPSIGNAL) to `config`. Errc::invalid_argument for
/// anything else or a malformed value.
[[nodiscard]] Result<void> apply_change(ImageConfig& config, std::string_view instruction);

}  // namespace berth::engine::images
