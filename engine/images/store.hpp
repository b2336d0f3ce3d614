// SPDX-License-Identifier: Apache-2.0
#pragma once

// The image store (DESIGN.md "State"): an OCI content store under
// <root>/images and unpacked layers under <root>/snapshots.
//
// Terms. A *blob* is content named by its sha256 (images/blobs/sha256/<hex>):
// manifests, configs and layer archives exactly as received. An *image* is a
// manifest plus the config it names; its id is the config's digest, as in
// Docker. A *reference* (repo tag or repo digest) names an image; the table of
// images and references is images/repositories.json. A *snapshot* is one layer
// unpacked on top of nothing, at snapshots/<chain id hex>/fs, shared by every
// image whose layer chain starts the same way; whiteouts are overlayfs
// whiteouts, so the snapshot dirs of an image, bottom first, are its overlay
// lowerdirs.
//
// Atomicity. Blobs are written to a temp file, checked for size and digest,
// then renamed to their name. Layers are unpacked into a temp dir and renamed
// into snapshots/. The reference table is written atomically, under the store
// lock (locks/images.lock), only after every blob and snapshot of the image is
// in place. So an interrupted pull, load or unpack leaves either nothing
// visible or a complete image; leftover temp files are removed by the next
// open(). Readers take no lock.
//
// Durability. The table is synced at every write. Downloaded blobs and
// unpacked snapshots are published without a sync, after a durable record
// naming them (note_unsynced); if the machine goes down before the kernel has
// written them back, the next open() of another boot checks what the records
// name and repairs or removes it (settle_unsynced), so a power loss never
// leaves an image that looks complete with a torn layer.
//
// Thread-safety: one ImageStore per thread, except ensure_snapshot, which
// several threads may call at once; several processes may share a root. A
// failed pull keeps the blobs it downloaded and the layers it unpacked,
// invisible, for the next pull of the same content to reuse.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.hpp"
#include "common/fs.hpp"
#include "common/paths.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::engine::images {

class ByteSource;  // engine/images/layer.hpp

/// The "config" object of an OCI or Docker image config.
struct ImageConfig {
    std::vector<std::string> env;         ///< "KEY=value"
    std::vector<std::string> cmd;
    std::vector<std::string> entrypoint;
    std::string working_dir;
    std::string user;
    std::string stop_signal;
    std::map<std::string, std::string> labels;
    std::set<std::string> exposed_ports;  ///< "80/tcp"
    std::set<std::string> volumes;        ///< "/data"
    nlohmann::json healthcheck;           ///< Docker's Healthcheck object, or null
};

/// One image of the store.
struct Image {
    std::string id;                      ///< "sha256:<hex>" of the config blob
    std::vector<std::string> repo_tags;  ///< stored qualified: "docker.io/library/busybox:latest"
    std::vector<std::string> repo_digests;  ///< "docker.io/library/busybox@sha256:..."
    ImageConfig config;
    nlohmann::json raw_config;           ///< the whole config JSON (for inspect)
    std::string manifest_digest;         ///< "sha256:<hex>" of the manifest blob
    std::vector<std::string> diff_ids;   ///< rootfs.diff_ids, bottom first
    /// Unpacked snapshot dirs, bottom first, ready as overlay lowerdirs.
    std::vector<std::filesystem::path> layers;
    int64_t size = 0;                    ///< sum of the unpacked layer sizes
    std::string created;                 ///< RFC 3339, from the config
    std::string architecture;
    std::string os;
    /// A build step's result (engine/build): hidden from `images` without -a,
    /// removed by `image prune` like a dangling image.
    bool intermediate = false;
};

/// One line of `history`, newest first as Docker prints it.
struct HistoryEntry {
    std::string id;  ///< the image id for the top entry, "<missing>" otherwise
    std::string created;
    std::string created_by;
    std::string comment;
    int64_t size = 0;
    bool empty_layer = false;
};

/// A container that uses an image, reported by the container layer
/// (engine::containers) through ImageUsersFn so that `rmi` and `prune` know
/// what not to delete. The images layer never reads container records itself.
struct ImageUser {
    std::string image_id;  ///< "sha256:<hex>"
    std::string container;  ///< container id or name, for the error message
    bool running = false;
};
/// Returns the current users; may be empty (then nothing counts as in use).
using ImageUsersFn = std::function<Result<std::vector<ImageUser>>()>;

/// Limits applied while unpacking (RELIABILITY.md section 2 row 21).
struct StoreOptions {
    /// Largest uncompressed layer accepted; 0 takes BERTH_MAX_LAYER_BYTES from
    /// the environment, else 32 GiB.
    uint64_t max_layer_bytes = 0;
};

/// A blob being written: data goes to a private temp file; commit() checks
/// the size and digest and only then renames it to blobs/sha256/<hex>.
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    ~BlobWriter();  ///< removes the temp file unless committed

    Result<void> write(std::string_view data);
    [[nodiscard]] int64_t written() const noexcept;
    /// After commit(): true when the blob was new to the store (false when an
    /// identical blob was already there and the temp copy was dropped).
    [[nodiscard]] bool created() const noexcept;
    /// Finishes the blob. When `expected` is non-empty the content must hash to
    /// it (Errc::invalid_argument "digest mismatch ..." otherwise, and nothing
    /// is stored); when `expected_size` >= 0 the size must match too.
    /// verify() then publish(true).
    Result<Digest> commit(const std::string& expected = {}, int64_t expected_size = -1);

    /// The first half of commit(): checks the size and digest and keeps the
    /// verified content in its temp file (temp_path(), still locked against
    /// removal by other processes), not yet visible in the store.
    Result<Digest> verify(const std::string& expected = {}, int64_t expected_size = -1);
    /// The second half: renames the verified temp file into place. With
    /// `durable`, the data and the directory entry are synced first and after;
    /// without, the caller has recorded it (ImageStore::note_unsynced) or made
    /// it durable already, and calls ImageStore::sync_dirs afterwards.
    Result<void> publish(bool durable);
    [[nodiscard]] const std::filesystem::path& temp_path() const noexcept;

private:
    friend class ImageStore;
    struct Impl;
    explicit BlobWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// The store. Cheap to open; holds no fds between calls.
class ImageStore {
public:
    /// Opens (creating if needed) the store under paths.images() and
    /// paths.snapshots(), and removes temp files left by dead processes.
    [[nodiscard]] static Result<ImageStore> open(const Paths& paths, StoreOptions options = {});

    /// Resolves a reference ("busybox", "busybox:latest", "docker.io/library/busybox",
    /// a full or short id, name@digest). When the reference normalises to
    /// docker.io/library/busybox:latest and the store has no such image, seeds the
    /// built-in busybox image first. Errc::not_found: "No such image: X".
    [[nodiscard]] Result<Image> resolve(std::string_view ref);
    /// Like resolve() but never seeds.
    [[nodiscard]] Result<Image> find(std::string_view ref);
    /// Every image, newest first (dangling ones too).
    [[nodiscard]] Result<std::vector<Image>> list();
    /// Adds the reference `target` to the image `source` resolves to, moving
    /// it from any other image (that one may become dangling).
    [[nodiscard]] Result<void> tag(std::string_view source, std::string_view target);
    /// Docker's `rmi`: removing by name drops that reference and deletes the
    /// image once it has none left; removing by id deletes the image (Errc::conflict
    /// when it has several repositories, unless `force`). An image used by a
    /// running container is never deleted (Errc::conflict); one used by a
    /// stopped container only with `force`, and then only untagged (kept
    /// dangling, so the container's layers stay). Returns Docker's lines,
    /// "Untagged: busybox:latest" and "Deleted: sha256:...".
    [[nodiscard]] Result<std::vector<std::string>> remove(std::string_view ref, bool force,
                                                          const ImageUsersFn& users = {});
    /// Deletes dangling images not in use (with `all`: every image not in use).
    /// Returns the deleted/untagged lines; `reclaimed` receives the bytes freed.
    [[nodiscard]] Result<std::vector<std::string>> prune(bool all, const ImageUsersFn& users,
                                                         int64_t* reclaimed = nullptr);
    /// The image's history, newest first, with layer sizes.
    [[nodiscard]] Result<std::vector<HistoryEntry>> history(std::string_view ref);

    // ---- ingestion, used by load, import, pull and build ----

    /// Starts a new blob (see BlobWriter).
    [[nodiscard]] Result<BlobWriter> new_blob();
    /// Stores a small blob held in memory; verifies `expected` when given.
    [[nodiscard]] Result<Digest> put_blob(std::string_view data, const std::string& expected = {});
    [[nodiscard]] bool has_blob(const std::string& digest) const;
    [[nodiscard]] std::filesystem::path blob_path(const std::string& digest) const;
    /// Reads a blob and checks its digest. Errc::not_found / Errc::internal (corrupt).
    [[nodiscard]] Result<std::string> read_blob(const std::string& digest) const;

    /// Registers an image whose manifest blob is already stored: parses the
    /// manifest and config, unpacks every layer not yet unpacked (checking each
    /// layer's diff id), then records the image and points `tags` (any reference
    /// form; normalised) at it. `repo_digest` ("name@sha256:...") is recorded
    /// when not empty. Atomic as described above.
    /// `intermediate` marks a build step's image (see Image::intermediate);
    /// committing the same image again without it clears the mark.
    [[nodiscard]] Result<Image> commit_image(const std::string& manifest_digest,
                                             const std::vector<std::string>& tags,
                                             const std::string& repo_digest = {},
                                             bool intermediate = false);

    /// Unpacks the stored layer `blob` as the snapshot `chain` (on `parent`)
    /// unless it exists, checking its diff id, and syncs it before it is
    /// published; returns its unpacked size. Safe to call from several threads
    /// (each unpacks into its own temp dir, renamed into place).
    [[nodiscard]] Result<int64_t> ensure_snapshot(const std::string& chain,
                                                  const std::string& parent,
                                                  const std::string& diff_id,
                                                  const std::string& blob);

    /// ensure_snapshot in two halves, for a batch published at once (a pull,
    /// commit_image: every layer unpacked, the batch recorded, then each published):
    /// prepare_snapshot unpacks the layer read from `blob_file` (the stored
    /// blob `blob`, or its verified temp file) into a locked temp dir, checks
    /// its diff id and writes its metadata, without syncing; publish_snapshot
    /// renames it into place (syncing first when `durable`). A snapshot that
    /// exists already comes back as a pending one with nothing to publish.
    struct PendingSnapshot {
        std::optional<fs::TempDir> tmp;  ///< empty: the snapshot existed already
        UniqueFd lock;                   ///< keeps other processes from removing tmp
        std::string chain;
        std::filesystem::path dir;
        std::string blob;
        int64_t size = 0;
    };
    [[nodiscard]] Result<std::unique_ptr<PendingSnapshot>> prepare_snapshot(
        const std::string& chain, const std::string& parent, const std::string& diff_id,
        const std::string& blob, const std::filesystem::path& blob_file);
    /// The same, reading the layer from `source` (a ChunkChannel that a pull
    /// feeds while the blob downloads); `source` is not read when the snapshot
    /// exists already. The caller verifies the blob itself.
    [[nodiscard]] Result<std::unique_ptr<PendingSnapshot>> prepare_snapshot(
        const std::string& chain, const std::string& parent, const std::string& diff_id,
        const std::string& blob, std::unique_ptr<ByteSource> source);
    [[nodiscard]] Result<int64_t> publish_snapshot(PendingSnapshot& pending, bool durable);
    /// syncfs() of the store's file system: everything written so far is durable.
    [[nodiscard]] Result<void> sync() const;
    /// fsync() of the blob and snapshot directories (after publishing a batch).
    void sync_dirs() const;

    /// Unsynced batches. A pull publishes what it downloaded and unpacked
    /// without syncing it first: the sync cost a pull a sixth of its time, and
    /// the kernel writes it all back within half a minute anyway (skopeo,
    /// podman and Docker never sync). note_unsynced records, durably and
    /// before anything of the batch is published, the blobs and snapshots
    /// still to be written back (images/unsynced/<boot id>-...json).
    /// open() settles those records (settle_unsynced).
    [[nodiscard]] Result<void> note_unsynced(const std::vector<std::string>& blobs,
                                             const std::vector<std::string>& chains);
    struct SettleReport {
        int synced = 0;     ///< records of this boot made durable and dropped
        int recovered = 0;  ///< records of another boot checked and dropped
        std::vector<std::string> reunpacked;  ///< image ids whose layers were unpacked again
        std::vector<std::string> removed;     ///< image ids dropped: a blob of theirs was lost
    };
    /// A record of this boot older than `grace` is synced (one syncfs: the
    /// kernel has written it back by then, so this is cheap) and dropped; a
    /// younger one stays. A record of another boot means the machine went down
    /// before its writes were surely on disk: each of its blobs is hashed
    /// again and removed when it does not match, each of its snapshots is
    /// removed (unpacked files cannot be checked), then every image that lost
    /// a snapshot is unpacked again from its blobs, and one that lost a blob
    /// is removed from the table (a warning names it: pull it again).
    [[nodiscard]] Result<SettleReport> settle_unsynced(
        std::chrono::seconds grace = std::chrono::seconds(60));

    [[nodiscard]] const Paths& paths() const noexcept { return paths_; }
    [[nodiscard]] const StoreOptions& options() const noexcept { return options_; }

private:
    ImageStore(Paths paths, StoreOptions options);
    Result<Image> load_image(const std::string& id, const nlohmann::json& entry) const;
    Result<nlohmann::json> read_table() const;
    Result<void> write_table(const nlohmann::json& table);
    Result<void> seed_busybox();
    /// Deletes the blobs and snapshots of `removed` entries that no image in
    /// `table` still uses; appends "Deleted: ..." lines; returns bytes freed.
    int64_t delete_unreferenced(const nlohmann::json& table,
                                const std::vector<nlohmann::json>& removed,
                                std::vector<std::string>* lines);

    /// The table as last read, reused while the file is the same (same inode,
    /// size and mtime: every write renames a new file into place).
    Result<std::shared_ptr<const nlohmann::json>> table_view() const;

    Paths paths_;
    StoreOptions options_;
    struct TableCache {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = -1;
        int64_t mtime_ns = 0;
        std::shared_ptr<const nlohmann::json> table;
    };
    mutable TableCache table_cache_;
    /// Parsed config blobs by image id (content-addressed, so never stale).
    mutable std::map<std::string, std::shared_ptr<const std::string>> config_cache_;
};

/// The name the built-in image is stored under.
inline constexpr std::string_view builtin_busybox_ref = "docker.io/library/busybox:latest";

}  // namespace berth::engine::images
