// SPDX-License-Identifier: Apache-2.0
#pragma once

// Unpacking one layer archive into an empty snapshot directory, safely.
//
// Every entry path is cleaned lexically (leading "/" and "./" dropped, "."
// removed, ".." resolved; a path that still climbs out is refused) and its
// parent is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from the snapshot's dirfd, so no
// symlink already in the tree is ever followed and nothing can be written
// outside it. The final component is created with *at() calls relative to that
// parent fd, with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW. Hardlink targets are
// resolved the same way and must be inside the layer. AUFS whiteouts become
// overlayfs ones: ".wh.NAME" a 0:0 character device NAME, ".wh..wh..opq" the
// xattr trusted.overlay.opaque=y on the directory. Xattrs from the archive
// are restricted to user.*, security.capability and POSIX ACLs (never
// trusted.overlay.*). Decompression is in-process (zlib, zstd); the
// uncompressed stream is hashed to check the layer's diff id and counted
// against max_bytes.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "engine/images/manifest.hpp"

namespace berth::engine::images {

/// A lexically cleaned entry path: its components, none "", "." or "..".
/// Errc::invalid_argument when the path climbs out of the root or has a NUL.
[[nodiscard]] Result<std::vector<std::string>> clean_entry_path(std::string_view name);

/// What an entry's base name means in the AUFS whiteout convention.
enum class WhiteoutKind { none, whiteout, opaque, meta };
/// ".wh..wh..opq" -> opaque; ".wh.NAME" -> whiteout (target NAME in *target);
/// other ".wh..wh.*" -> meta (ignored); anything else -> none.
[[nodiscard]] WhiteoutKind classify_whiteout(std::string_view base, std::string* target);

/// True for the xattr names the unpacker keeps.
[[nodiscard]] bool allowed_xattr(std::string_view name);

/// Where a layer's (compressed) bytes come from.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    /// The next bytes, valid until the next call; empty at the end.
    [[nodiscard]] virtual Result<std::string_view> read() = 0;
};

/// A ByteSource over `fd`, read from its current offset. `name` appears in errors.
[[nodiscard]] std::unique_ptr<ByteSource> fd_source(UniqueFd fd, std::string name);

/// Hands a layer's bytes from the thread that downloads them to the one that
/// unpacks them, in place of a pipe: the producer fills a few fixed buffers
/// (one copy, no system call) and the reader decompresses each where it lies.
/// Closing either end wakes the other.
class ChunkChannel : public std::enable_shared_from_this<ChunkChannel> {
public:
    /// A buffer being filled by the producer.
    struct Buffer {
        char* data = nullptr;
        size_t capacity = 0;
        size_t size = 0;
    };

    /// `buffers` buffers of 256 KiB each, taken from a process-wide pool.
    [[nodiscard]] static std::shared_ptr<ChunkChannel> create(size_t buffers = 4);
    ~ChunkChannel();
    ChunkChannel(const ChunkChannel&) = delete;
    ChunkChannel& operator=(const ChunkChannel&) = delete;

    /// Producer: an empty buffer to fill, waiting while all are in flight;
    /// nullptr once the reader has gone (it failed or finished).
    [[nodiscard]] Buffer* acquire();
    /// Producer: passes a filled buffer (from acquire) to the reader.
    void send(Buffer* b);
    /// Producer: the end of the data; with `abort`, the reader's next read()
    /// fails (Errc::cancelled) instead of seeing the end.
    void close(bool abort = false);
    /// The reading end. Only one; dropping it lets acquire() return nullptr.
    [[nodiscard]] std::unique_ptr<ByteSource> reader(std::string name);

private:
    struct State;
    class Reader;
    explicit ChunkChannel(size_t buffers);
    std::unique_ptr<State> s_;
};

/// A decompressing reader over a layer blob: yields the uncompressed bytes,
/// hashing them (the diff id) and refusing to go past `max_bytes`. The
/// compression is sniffed from the magic bytes (gzip, zstd or none).
class LayerStream {
public:
    /// `fd` is read from its current offset. `name` appears in errors.
    /// `gzip_check` false skips gzip's CRC-32 and length check, for a caller
    /// that verifies the uncompressed sha256 itself (a layer's diff id).
    [[nodiscard]] static Result<std::unique_ptr<LayerStream>> open(UniqueFd fd, uint64_t max_bytes,
                                                                   std::string name,
                                                                   bool gzip_check = true);
    /// The same over any source of the compressed bytes.
    [[nodiscard]] static Result<std::unique_ptr<LayerStream>> open(
        std::unique_ptr<ByteSource> source, uint64_t max_bytes, std::string name,
        bool gzip_check = true);
    virtual ~LayerStream() = default;
    /// The next uncompressed chunk; empty at the end of the stream.
    [[nodiscard]] virtual Result<std::string_view> next() = 0;
    /// Reads to the end, then returns the sha256 of everything uncompressed.
    [[nodiscard]] virtual Result<std::string> finish() = 0;
    [[nodiscard]] virtual uint64_t total() const = 0;
    [[nodiscard]] virtual Compression compression() const = 0;
};

/// What unpacking produced.
struct UnpackStats {
    std::string diff_id;      ///< sha256 of the uncompressed archive
    int64_t size = 0;         ///< bytes of regular file content
    uint64_t entries = 0;
};

/// Unpacks the archive read from `blob_fd` into the empty directory `root_fd`.
/// `name` (the layer digest) is used in errors. Errc::invalid_argument for a
/// corrupt or hostile archive, from_errno classes for I/O (ENOSPC included).
/// `gzip_check` as for LayerStream::open: false only when the caller compares
/// the returned diff id with the one it expects.
[[nodiscard]] Result<UnpackStats> unpack_layer(UniqueFd blob_fd, int root_fd,
                                               const std::string& name, uint64_t max_bytes,
                                               bool gzip_check = true);
/// The same, reading the archive from `source`.
[[nodiscard]] Result<UnpackStats> unpack_layer(std::unique_ptr<ByteSource> source, int root_fd,
                                               const std::string& name, uint64_t max_bytes,
                                               bool gzip_check = true);

/// Loads what unpacking needs (libarchive and its dependencies, a few
/// milliseconds) ahead of the first layer: for a caller with a wait to fill.
void prepare_unpacker();

/// The default max_layer_bytes: BERTH_MAX_LAYER_BYTES or 32 GiB.
[[nodiscard]] uint64_t default_max_layer_bytes();

/// Opens `rel` (a cleaned relative path) below `root_fd` with
/// RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS.
[[nodiscard]] Result<UniqueFd> open_in_root(int root_fd, const std::string& rel, int flags,
                                            bool no_symlinks = true);

}  // namespace berth::engine::images
