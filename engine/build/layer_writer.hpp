// SPDX-License-Identifier: Apache-2.0
#pragma once

// Writing one build step's layer: an uncompressed tar streamed straight into
// the image store as a blob (its digest is its diff id), from an overlay
// upper directory (RUN) or from files copied out of a SourceFs (COPY, ADD).

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "engine/build/source_fs.hpp"
#include "engine/images/store.hpp"
#include "engine/images/tar_writer.hpp"

namespace berth::engine::build {

/// The committed layer blob.
struct LayerBlob {
    std::string digest;  ///< "sha256:..." of the tar, also its diff id
    int64_t size = 0;
    uint64_t entries = 0;
};

class LayerWriter {
public:
    [[nodiscard]] static Result<LayerWriter> open(images::ImageStore& store);
    LayerWriter(LayerWriter&&) noexcept;
    LayerWriter& operator=(LayerWriter&&) noexcept;
    ~LayerWriter();  ///< drops the blob unless committed

    /// Adds the overlay upper directory `upper` as layer entries: overlay
    /// whiteouts (char 0:0) become ".wh.NAME", opaque directories get a
    /// ".wh..wh..opq" entry, trusted.overlay.* xattrs are dropped, hard
    /// links inside the tree stay hard links.
    [[nodiscard]] Result<void> add_upper(const std::filesystem::path& upper);

    /// Ownership and mode overrides of COPY/ADD (--chown, --chmod).
    struct Owner {
        std::optional<uid_t> uid;  ///< default 0
        std::optional<gid_t> gid;  ///< default 0
        std::optional<mode_t> mode;  ///< --chmod, applied to files and directories
    };
    /// Copies `src_rel` of `src` (file, symlink or directory, recursively) to
    /// `dst_rel` (relative to the image root). Owners default to root (Docker's
    /// COPY). `excluded` (may be null) filters source paths (.dockerignore).
    [[nodiscard]] Result<void> add_tree(const SourceFs& src, const std::string& src_rel,
                                        const std::string& dst_rel, const Owner& owner,
                                        const std::function<bool(const std::string&)>& excluded);
    /// A regular file from memory (heredocs, downloads).
    [[nodiscard]] Result<void> add_file(const std::string& dst_rel, std::string_view content,
                                        const Owner& owner, mode_t default_mode = 0644);
    /// A directory entry with the given metadata (parents of a COPY target).
    [[nodiscard]] Result<void> add_dir(const std::string& dst_rel, mode_t mode, uid_t uid,
                                       gid_t gid, int64_t mtime);
    /// Extracts an archive (tar, optionally gzip/bzip2/xz/zstd compressed) read
    /// from `fd` below `dst_rel` (ADD of a local archive). Returns false, and
    /// writes nothing, when the input is not an archive libarchive recognises.
    [[nodiscard]] Result<bool> add_archive(int fd, const std::string& dst_rel, const Owner& owner);
    /// True when `fd` (read from its current offset) starts a tar archive with
    /// at least one entry, possibly compressed: what ADD extracts.
    [[nodiscard]] static bool is_archive(int fd);

    [[nodiscard]] uint64_t entries() const noexcept;
    /// Finishes the tar and stores the blob.
    [[nodiscard]] Result<LayerBlob> commit();

private:
    struct Impl;
    explicit LayerWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace berth::engine::build
