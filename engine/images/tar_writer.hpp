// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::engine::images {

/// Writes a POSIX (pax) tar stream through libarchive into a sink: layer
/// tarballs (the built-in busybox image, import) and image archives (save).
/// Not thread-safe; the sink is called synchronously.
class TarWriter {
public:
    using Sink = std::function<Result<void>(std::string_view)>;

    /// Metadata of one entry; paths are relative, without a leading "/".
    struct Entry {
        std::string path;
        mode_t type = 0;   ///< S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO
        mode_t mode = 0644;
        uid_t uid = 0;
        gid_t gid = 0;
        int64_t mtime = 0;
        std::string link;  ///< symlink target
        std::string hardlink;  ///< hardlink target path (then type is ignored)
        int64_t size = 0;  ///< for regular files
        dev_t rdev = 0;    ///< for character and block devices
        std::map<std::string, std::string> xattrs;  ///< stored as SCHILY.xattr records
    };

    [[nodiscard]] static Result<TarWriter> open(Sink sink);
    TarWriter(TarWriter&&) noexcept;
    TarWriter& operator=(TarWriter&&) noexcept;
    ~TarWriter();

    /// Writes a header; for a regular file, follow with data() of `size` bytes.
    [[nodiscard]] Result<void> header(const Entry& e);
    [[nodiscard]] Result<void> data(std::string_view bytes);
    /// A regular file in one call.
    [[nodiscard]] Result<void> file(const std::string& path, std::string_view content,
                                    mode_t mode = 0644, int64_t mtime = 0);
    /// Writes the end-of-archive blocks and flushes.
    [[nodiscard]] Result<void> close();

    /// Implementation detail (public only for libarchive's C callback).
    struct Impl;

private:
    explicit TarWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace berth::engine::images
