// SPDX-License-Identifier: Apache-2.0
#include "engine/images/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <optional>
#include <thread>
#include <fmt/format.h>

#include "common/boot_id.hpp"
#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "engine/images/layer.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/reference.hpp"

namespace berth::engine::images {

using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

constexpr int table_schema_version = 1;

stdfs::path table_path(const Paths& p) {
    return p.images() / "repositories.json";
}
stdfs::path blobs_dir(const Paths& p) {
    return p.images() / "blobs" / "sha256";
}
stdfs::path temp_dir(const Paths& p) {
    return p.tmp() / "images";
}
stdfs::path lock_path(const Paths& p) {
    return p.locks() / "images.lock";
}
/// Records of batches published without a sync (ImageStore::note_unsynced).
stdfs::path unsynced_dir(const Paths& p) {
    return p.images() / "unsynced";
}
stdfs::path snapshot_dir(const Paths& p, const std::string& chain) {
    auto d = Digest::parse(chain);
    return p.snapshots() / std::string(d ? d->hex() : std::string_view(chain));
}

std::string hex_of(const std::string& digest) {
    auto pos = digest.find(':');
    return pos == std::string::npos ? digest : digest.substr(pos + 1);
}

Error no_such_image(std::string_view ref) {
    return Error(Errc::not_found, fmt::format("No such image: {}", ref));
}

/// Holds a flock on a temp file or dir so that open() of another process
/// knows it is still being written.
Result<UniqueFd> lock_temp(const stdfs::path& p, bool dir) {
    auto fd = fs::open(p, dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (!fd) {
        return std::move(fd).error();
    }
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("lock {}", p.native()));
    }
    return fd;
}

/// The entries of a directory, dot files included.
std::vector<std::string> dir_names(const stdfs::path& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return names;
    }
    while (auto* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            names.emplace_back(e->d_name);
        }
    }
    ::closedir(d);
    return names;
}

/// Removes temp entries whose writer is gone (its flock is free).
void clean_stale_temps(const stdfs::path& dir) {
    for (const auto& n : dir_names(dir)) {
        if (n[0] == '.') {
            continue;
        }
        auto p = dir / n;
        int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            continue;
        }
        UniqueFd g(fd);
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            continue;  // still in use
        }
        if (auto r = fs::remove_tree(p); !r) {
            log::engine().warn("remove stale temp {}: {}", p.native(), r.error().message());
        } else {
            log::engine().debug("removed stale temp {}", p.native());
        }
    }
}

/// The sha256 of a file's content.
Result<std::string> hash_file(const stdfs::path& path) {
    auto fd = fs::open(path, O_RDONLY);
    if (!fd) {
        return std::move(fd).error();
    }
    Sha256 sha;
    std::vector<char> buf(1 << 20);
    while (true) {
        ssize_t n = ::read(fd->get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("read {}", path.native()));
        }
        if (n == 0) {
            return sha.finish().str();
        }
        sha.update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
}

json empty_table() {
    return json{{"schema_version", table_schema_version}, {"images", json::object()}};
}

std::vector<std::string> strings_of(const json& entry, const char* key) {
    std::vector<std::string> out;
    if (auto it = entry.find(key); it != entry.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (v.is_string()) {
                out.push_back(v.get<std::string>());
            }
        }
    }
    return out;
}

void erase_string(json& arr, const std::string& s) {
    if (!arr.is_array()) {
        return;
    }
    json out = json::array();
    for (const auto& v : arr) {
        if (!(v.is_string() && v.get<std::string>() == s)) {
            out.push_back(v);
        }
    }
    arr = std::move(out);
}

bool contains_string(const json& arr, const std::string& s) {
    if (!arr.is_array()) {
        return false;
    }
    return std::any_of(arr.begin(), arr.end(),
                       [&](const json& v) { return v.is_string() && v.get<std::string>() == s; });
}

/// Where a reference points in the table.
struct Match {
    std::string id;
    bool by_name = false;     ///< matched a repo tag or repo digest
    std::string qualified;    ///< the tag or digest reference matched
    bool is_digest = false;
};

Result<Match> match(const json& table, std::string_view text) {
    const json& images = table["images"];
    if (is_full_id(text)) {
        std::string id = text.rfind("sha256:", 0) == 0 ? std::string(text)
                                                        : "sha256:" + std::string(text);
        if (images.contains(id)) {
            return Match{id, false, {}, false};
        }
        return no_such_image(text);
    }
    if (auto ref = parse_reference(text); ref) {
        if (!ref->digest.empty()) {
            std::string want = ref->name_digest();
            for (const auto& [id, e] : images.items()) {
                if (contains_string(e.value("repo_digests", json::array()), want)) {
                    return Match{id, true, want, true};
                }
            }
            for (const auto& [id, e] : images.items()) {
                if (e.value("manifest", "") == ref->digest) {
                    return Match{id, true, want, true};
                }
            }
        } else {
            std::string want = ref->name_tag();
            for (const auto& [id, e] : images.items()) {
                if (contains_string(e.value("repo_tags", json::array()), want)) {
                    return Match{id, true, want, false};
                }
            }
        }
    }
    // A short id (prefix of the hex), as Docker accepts.
    std::string_view hex = text;
    if (hex.rfind("sha256:", 0) == 0) {
        hex.remove_prefix(7);
    }
    bool all_hex = !hex.empty() && std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (all_hex) {
        std::vector<std::string> hits;
        for (const auto& [id, e] : images.items()) {
            (void)e;
            if (hex_of(id).rfind(hex, 0) == 0) {
                hits.push_back(id);
            }
        }
        if (hits.size() == 1) {
            return Match{hits.front(), false, {}, false};
        }
        if (hits.size() > 1) {
            return Error(Errc::conflict, fmt::format("short id \"{}\" is ambiguous: {} images match",
                                                     text, hits.size()));
        }
    }
    return no_such_image(text);
}

Result<int64_t> snapshot_size(const Paths& paths, const std::string& chain) {
    auto meta = read_json(snapshot_dir(paths, chain) / "meta.json");
    if (!meta) {
        return std::move(meta).error();
    }
    return meta->value("size", int64_t{0});
}

}  // namespace

// ---------------------------------------------------------------- BlobWriter

struct BlobWriter::Impl {
    stdfs::path tmp;
    stdfs::path blobs;
    UniqueFd fd;
    Sha256 sha;
    int64_t written = 0;
    bool done = false;
    bool verified = false;
    bool created = false;
    std::string digest;
    ~Impl() {
        if (!done && !tmp.empty()) {
            ::unlink(tmp.c_str());
        }
    }
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

Result<void> BlobWriter::write(std::string_view data) {
    impl_->sha.update(data);
    while (!data.empty()) {
        ssize_t n = ::write(impl_->fd.get(), data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, fmt::format("write blob {}", impl_->tmp.native()));
        }
        data.remove_prefix(static_cast<size_t>(n));
        impl_->written += n;
    }
    return {};
}

int64_t BlobWriter::written() const noexcept {
    return impl_->written;
}

bool BlobWriter::created() const noexcept {
    return impl_->created;
}

Result<Digest> BlobWriter::commit(const std::string& expected, int64_t expected_size) {
    auto got = verify(expected, expected_size);
    if (!got) {
        return got;
    }
    if (auto r = publish(true); !r) {
        return std::move(r).error();
    }
    return got;
}

Result<Digest> BlobWriter::verify(const std::string& expected, int64_t expected_size) {
    if (impl_->done || impl_->verified) {
        return Error(Errc::failed_precondition, "blob already committed");
    }
    auto unlink_tmp = [this] {
        impl_->done = true;
        ::unlink(impl_->tmp.c_str());
    };
    Digest got = impl_->sha.finish();
    if (expected_size >= 0 && impl_->written != expected_size) {
        unlink_tmp();
        return Error(Errc::invalid_argument,
                     fmt::format("blob {}: size mismatch: expected {} bytes, got {}",
                                 expected.empty() ? got.str() : expected, expected_size,
                                 impl_->written));
    }
    if (!expected.empty() && got.str() != expected) {
        unlink_tmp();
        return Error(Errc::invalid_argument,
                     fmt::format("blob {}: digest mismatch: content hashes to {}", expected,
                                 got.str()));
    }
    impl_->verified = true;
    impl_->digest = got.str();
    return got;
}

Result<void> BlobWriter::publish(bool durable) {
    if (impl_->done || !impl_->verified) {
        return Error(Errc::failed_precondition, "blob not verified or already committed");
    }
    impl_->done = true;
    auto unlink_tmp = [this] { ::unlink(impl_->tmp.c_str()); };
    auto got = Digest::parse(impl_->digest);
    if (durable && ::fsync(impl_->fd.get()) != 0) {
        int err = errno;
        unlink_tmp();
        return Error::from_errno(err, fmt::format("sync blob {}", impl_->digest));
    }
    if (failpoint("images_blob_commit")) {
        unlink_tmp();
        return Error(Errc::internal, "failpoint images_blob_commit");
    }
    auto final_path = impl_->blobs / std::string(got->hex());
    // An existing copy is replaced by the verified one (it may have rotted).
    struct stat existing {};
    bool existed = ::stat(final_path.c_str(), &existing) == 0;
    if (::rename(impl_->tmp.c_str(), final_path.c_str()) != 0) {
        int err = errno;
        unlink_tmp();
        return Error::from_errno(err, fmt::format("store blob {}", impl_->digest));
    }
    // The lock (the open descriptor) is held until the rename: another
    // process's open() removes only temp files nobody holds.
    impl_->fd.reset();
    impl_->created = !existed;
    if (durable) {
        int dfd = ::open(impl_->blobs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
    return {};
}

const std::filesystem::path& BlobWriter::temp_path() const noexcept {
    return impl_->tmp;
}

// ---------------------------------------------------------------- ImageStore

ImageStore::ImageStore(Paths paths, StoreOptions options)
    : paths_(std::move(paths)), options_(options) {
    if (options_.max_layer_bytes == 0) {
        options_.max_layer_bytes = default_max_layer_bytes();
    }
}

Result<ImageStore> ImageStore::open(const Paths& paths, StoreOptions options) {
    for (const auto& [dir, mode] : {std::pair{blobs_dir(paths), mode_t{0755}},
                                    std::pair{paths.snapshots(), mode_t{0700}},
                                    std::pair{temp_dir(paths), mode_t{0700}},
                                    std::pair{unsynced_dir(paths), mode_t{0700}},
                                    std::pair{paths.locks(), mode_t{0755}}}) {
        if (auto r = fs::make_dirs(dir, mode); !r) {
            return std::move(r).error().wrap("open image store");
        }
    }
    clean_stale_temps(temp_dir(paths));
    ImageStore store(paths, options);
    // Not fatal: the records stay for the next open to settle.
    if (auto r = store.settle_unsynced(); !r) {
        log::engine().warn("image store: {}", r.error().message());
    }
    return store;
}

Result<json> ImageStore::read_table() const {
    auto t = read_json(table_path(paths_));
    if (!t) {
        if (t.error().code() == Errc::not_found) {
            return empty_table();
        }
        return std::move(t).error().wrap("read image table");
    }
    if (!t->is_object() || !t->contains("images") || !(*t)["images"].is_object()) {
        return Error(Errc::internal,
                     fmt::format("read image table {}: malformed", table_path(paths_).native()));
    }
    return t;
}

Result<std::shared_ptr<const json>> ImageStore::table_view() const {
    struct stat st {};
    if (::stat(table_path(paths_).c_str(), &st) == 0 && table_cache_.table &&
        st.st_dev == table_cache_.dev && st.st_ino == table_cache_.ino &&
        st.st_size == table_cache_.size &&
        st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == table_cache_.mtime_ns) {
        return table_cache_.table;
    }
    auto t = read_table();
    if (!t) {
        return std::move(t).error();
    }
    auto shared = std::make_shared<const json>(std::move(*t));
    if (st.st_ino != 0) {
        table_cache_ = {st.st_dev, st.st_ino, st.st_size,
                        st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, shared};
    }
    return shared;
}

Result<void> ImageStore::write_table(const json& table) {
    if (failpoint("images_table_write")) {
        return Error(Errc::internal, "failpoint images_table_write");
    }
    return write_json(table_path(paths_), table, 1, 0644);
}

stdfs::path ImageStore::blob_path(const std::string& digest) const {
    return blobs_dir(paths_) / hex_of(digest);
}

bool ImageStore::has_blob(const std::string& digest) const {
    if (!Digest::parse(digest)) {
        return false;
    }
    struct stat st {};
    return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> ImageStore::read_blob(const std::string& digest) const {
    if (!Digest::parse(digest)) {
        return Error(Errc::invalid_argument, fmt::format("invalid digest \"{}\"", digest));
    }
    auto data = fs::read_file(blob_path(digest));
    if (!data) {
        if (data.error().code() == Errc::not_found) {
            return Error(Errc::not_found, fmt::format("blob {} is missing from the store", digest));
        }
        return std::move(data).error();
    }
    if (Digest::of(*data).str() != digest) {
        return Error(Errc::internal, fmt::format("blob {} is corrupt (content hash differs)",
                                                 digest));
    }
    return data;
}

Result<BlobWriter> ImageStore::new_blob() {
    auto impl = std::make_unique<BlobWriter::Impl>();
    impl->blobs = blobs_dir(paths_);
    auto tmpl = (temp_dir(paths_) / "blob-XXXXXX").native();
    int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create temp blob in {}",
                                                  temp_dir(paths_).native()));
    }
    impl->fd = UniqueFd(fd);
    impl->tmp = tmpl;
    ::flock(fd, LOCK_EX | LOCK_NB);
    ::fchmod(fd, 0644);
    return BlobWriter(std::move(impl));
}

Result<Digest> ImageStore::put_blob(std::string_view data, const std::string& expected) {
    if (!expected.empty() && has_blob(expected)) {
        if (Digest::of(data).str() != expected) {
            return Error(Errc::invalid_argument,
                         fmt::format("blob {}: digest mismatch: content hashes to {}", expected,
                                     Digest::of(data).str()));
        }
        return *Digest::parse(expected);
    }
    auto w = new_blob();
    if (!w) {
        return std::move(w).error();
    }
    if (auto r = w->write(data); !r) {
        return std::move(r).error();
    }
    return w->commit(expected, static_cast<int64_t>(data.size()));
}

Result<Image> ImageStore::load_image(const std::string& id, const json& entry) const {
    std::shared_ptr<const std::string> cfg_text;
    if (auto it = config_cache_.find(id); it != config_cache_.end()) {
        cfg_text = it->second;
    } else {
        auto text = read_blob(id);
        if (!text) {
            return std::move(text).error().wrap(fmt::format("image {}", id));
        }
        cfg_text = std::make_shared<const std::string>(std::move(*text));
        config_cache_[id] = cfg_text;
    }
    auto pc = parse_config(*cfg_text);
    if (!pc) {
        return std::move(pc).error().wrap(fmt::format("image {}", id));
    }
    Image img;
    img.id = id;
    img.repo_tags = strings_of(entry, "repo_tags");
    img.repo_digests = strings_of(entry, "repo_digests");
    img.config = std::move(pc->config);
    img.raw_config = json::parse(*cfg_text, nullptr, false);
    img.manifest_digest = entry.value("manifest", "");
    img.diff_ids = pc->diff_ids;
    img.created = pc->created;
    img.architecture = pc->architecture;
    img.os = pc->os;
    img.size = entry.value("size", int64_t{0});
    img.intermediate = entry.value("intermediate", false);
    for (const auto& chain : strings_of(entry, "layers")) {
        img.layers.push_back(snapshot_dir(paths_, chain) / "fs");
    }
    return img;
}

Result<Image> ImageStore::find(std::string_view ref) {
    auto table = table_view();
    if (!table) {
        return std::move(table).error();
    }
    auto m = match(**table, ref);
    if (!m) {
        return std::move(m).error();
    }
    return load_image(m->id, (**table)["images"][m->id]);
}

Result<Image> ImageStore::resolve(std::string_view ref) {
    auto found = find(ref);
    if (found || found.error().code() != Errc::not_found) {
        return found;
    }
    auto parsed = parse_reference(ref);
    if (!parsed || parsed->full() != builtin_busybox_ref) {
        return found;
    }
    if (auto r = seed_busybox(); !r) {
        return std::move(r).error().wrap("seed the built-in busybox image");
    }
    return find(ref);
}

Result<std::vector<Image>> ImageStore::list() {
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    std::vector<Image> out;
    for (const auto& [id, e] : (*table)["images"].items()) {
        auto img = load_image(id, e);
        if (!img) {
            return std::move(img).error();
        }
        out.push_back(std::move(*img));
    }
    std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) {
        if (a.created != b.created) {
            return a.created > b.created;
        }
        return a.id < b.id;
    });
    return out;
}

Result<void> ImageStore::tag(std::string_view source, std::string_view target) {
    auto ref = parse_reference(target);
    if (!ref) {
        return std::move(ref).error();
    }
    if (!ref->digest.empty()) {
        return Error(Errc::invalid_argument,
                     fmt::format("refusing to create a tag with a digest reference: {}", target));
    }
    auto img = resolve(source);  // seeds busybox when it is the source
    if (!img) {
        return std::move(img).error();
    }
    auto lock = fs::FileLock::acquire(lock_path(paths_));
    if (!lock) {
        return std::move(lock).error();
    }
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    json& images = (*table)["images"];
    if (!images.contains(img->id)) {
        return no_such_image(source);
    }
    std::string want = ref->name_tag();
    for (auto& [id, e] : images.items()) {
        (void)id;
        erase_string(e["repo_tags"], want);
    }
    images[img->id]["repo_tags"].push_back(want);
    return write_table(*table);
}

Result<std::vector<HistoryEntry>> ImageStore::history(std::string_view ref) {
    auto img = resolve(ref);
    if (!img) {
        return std::move(img).error();
    }
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    std::vector<int64_t> sizes;
    auto entry = (*table)["images"].value(img->id, json::object());
    for (const auto& chain : strings_of(entry, "layers")) {
        sizes.push_back(snapshot_size(paths_, chain).value_or(0));
    }
    std::vector<HistoryEntry> out;
    const json h = img->raw_config.value("history", json::array());
    size_t layer = 0;
    if (h.is_array() && !h.empty()) {
        for (const auto& item : h) {
            if (!item.is_object()) {
                continue;
            }
            HistoryEntry e;
            e.id = "<missing>";
            e.created = item.value("created", "");
            e.created_by = item.value("created_by", "");
            e.comment = item.value("comment", "");
            e.empty_layer = item.value("empty_layer", false);
            if (!e.empty_layer && layer < sizes.size()) {
                e.size = sizes[layer++];
            }
            out.push_back(std::move(e));
        }
    } else {
        for (size_t i = 0; i < sizes.size(); ++i) {
            HistoryEntry e;
            e.id = "<missing>";
            e.created = img->created;
            e.size = sizes[i];
            out.push_back(std::move(e));
        }
    }
    std::reverse(out.begin(), out.end());
    if (!out.empty()) {
        out.front().id = img->id;
    }
    return out;
}


// ---------------------------------------------------------------- commit

Result<int64_t> ImageStore::ensure_snapshot(const std::string& chain, const std::string& parent,
                                            const std::string& diff_id, const std::string& blob) {
    auto pending = prepare_snapshot(chain, parent, diff_id, blob, blob_path(blob));
    if (!pending) {
        return std::move(pending).error();
    }
    return publish_snapshot(**pending, true);
}

Result<std::unique_ptr<ImageStore::PendingSnapshot>> ImageStore::prepare_snapshot(
    const std::string& chain, const std::string& parent, const std::string& diff_id,
    const std::string& blob, const stdfs::path& blob_file) {
    auto blob_fd = fs::open(blob_file, O_RDONLY);
    if (!blob_fd) {
        return std::move(blob_fd).error().wrap(fmt::format("layer {}", blob));
    }
    return prepare_snapshot(chain, parent, diff_id, blob, fd_source(std::move(*blob_fd), blob));
}

Result<std::unique_ptr<ImageStore::PendingSnapshot>> ImageStore::prepare_snapshot(
    const std::string& chain, const std::string& parent, const std::string& diff_id,
    const std::string& blob, std::unique_ptr<ByteSource> source) {
    auto pending = std::make_unique<PendingSnapshot>();
    pending->chain = chain;
    pending->dir = snapshot_dir(paths_, chain);
    pending->blob = blob;
    if (auto size = snapshot_size(paths_, chain); size) {
        pending->size = *size;
        return pending;
    }
    auto tmp = fs::TempDir::create(temp_dir(paths_), "unpack-");
    if (!tmp) {
        return std::move(tmp).error();
    }
    auto held = lock_temp(tmp->path(), true);
    if (!held) {
        return std::move(held).error();
    }
    if (::chmod(tmp->path().c_str(), 0700) != 0 || ::mkdir((tmp->path() / "fs").c_str(), 0755) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("create snapshot dir in {}",
                                                  tmp->path().native()));
    }
    auto root = fs::open(tmp->path() / "fs", O_RDONLY | O_DIRECTORY);
    if (!root) {
        return std::move(root).error();
    }
    // The diff id is compared below: gzip's own CRC would only repeat it.
    auto stats = unpack_layer(std::move(source), root->get(), blob, options_.max_layer_bytes,
                              /*gzip_check=*/false);
    if (!stats) {
        return std::move(stats).error();
    }
    if (stats->diff_id != diff_id) {
        return Error(Errc::invalid_argument,
                     fmt::format("layer {}: diff id mismatch: the image config says {}, the "
                                 "uncompressed content hashes to {}",
                                 blob, diff_id, stats->diff_id));
    }
    json meta{{"schema_version", 1}, {"chain_id", chain},  {"parent", parent},
              {"diff_id", diff_id},  {"blob", blob},        {"size", stats->size},
              {"entries", stats->entries}};
    // Made durable with the layer's files, before the rename (publish_snapshot).
    if (auto r = write_json(tmp->path() / "meta.json", meta, 1, 0644,
                            fs::Durability::process_crash);
        !r) {
        return std::move(r).error().wrap(fmt::format("layer {}", blob));
    }
    log::engine().debug("unpacked layer {} ({} entries) into {}", blob, stats->entries,
                        tmp->path().native());
    pending->size = stats->size;
    pending->lock = std::move(*held);
    pending->tmp.emplace(std::move(*tmp));
    return pending;
}

Result<int64_t> ImageStore::publish_snapshot(PendingSnapshot& pending, bool durable) {
    if (!pending.tmp) {
        return pending.size;
    }
    if (durable) {
        if (auto r = sync(); !r) {
            return std::move(r).error().wrap(fmt::format("layer {}", pending.blob));
        }
    }
    if (failpoint("images_snapshot_rename")) {
        return Error(Errc::internal, "failpoint images_snapshot_rename");
    }
    if (::rename(pending.tmp->path().c_str(), pending.dir.c_str()) != 0) {
        int err = errno;
        if (err != ENOTEMPTY && err != EEXIST) {
            return Error::from_errno(err, fmt::format("store snapshot {}", pending.dir.native()));
        }
        // Another process unpacked the same chain first; ours is removed.
    } else {
        (void)pending.tmp->release();
    }
    pending.tmp.reset();
    pending.lock.reset();
    if (durable) {
        sync_dirs();
    }
    return pending.size;
}

Result<void> ImageStore::sync() const {
    auto root = fs::open(paths_.snapshots(), O_RDONLY | O_DIRECTORY);
    if (!root) {
        return std::move(root).error();
    }
    if (::syncfs(root->get()) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("sync {}", paths_.snapshots().native()));
    }
    return {};
}

void ImageStore::sync_dirs() const {
    for (const auto& d : {blobs_dir(paths_), paths_.snapshots()}) {
        int dfd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
    }
}

Result<void> ImageStore::note_unsynced(const std::vector<std::string>& blobs,
                                       const std::vector<std::string>& chains) {
    if (blobs.empty() && chains.empty()) {
        return {};
    }
    static std::atomic<unsigned> serial{0};
    const std::string& boot = current_boot_id();
    json record{{"schema_version", 1}, {"boot_id", boot}, {"blobs", blobs}, {"snapshots", chains}};
    // The boot id leads the name: settle_unsynced tells the records of this
    // boot from the others' without reading them.
    auto name = fmt::format("{}-{}-{}.json", boot, ::getpid(), serial++);
    if (auto r = write_json(unsynced_dir(paths_) / name, record, -1, 0600); !r) {
        return std::move(r).error().wrap("record the unsynced writes of the image store");
    }
    return {};
}

Result<ImageStore::SettleReport> ImageStore::settle_unsynced(std::chrono::seconds grace) {
    SettleReport report;
    const stdfs::path dir = unsynced_dir(paths_);
    const std::string mine = current_boot_id() + "-";
    auto names = dir_names(dir);
    if (names.empty()) {
        return report;
    }
    std::vector<stdfs::path> due;
    bool other_boot = false;
    const time_t now = ::time(nullptr);
    for (const auto& n : names) {
        if (n.rfind(".tmp-", 0) == 0) {
            // A record being written, or left by a killed writer of an earlier boot.
            if (n.rfind(".tmp-" + mine, 0) != 0) {
                ::unlinkat(AT_FDCWD, (dir / n).c_str(), 0);
            }
        } else if (n.rfind(mine, 0) != 0) {
            other_boot = true;
        } else if (struct stat st {}; ::stat((dir / n).c_str(), &st) == 0 &&
                                      now - st.st_mtime >= grace.count()) {
            due.push_back(dir / n);
        }
    }
    if (!due.empty()) {
        if (auto r = sync(); !r) {
            return std::move(r).error().wrap("settle unsynced image writes");
        }
        for (const auto& p : due) {
            ::unlink(p.c_str());
        }
        report.synced = static_cast<int>(due.size());
    }
    if (!other_boot) {
        return report;
    }

    // The machine went down with these writes maybe not on disk. Under the
    // store lock; read again, another process may have recovered them.
    auto lock = fs::FileLock::acquire(lock_path(paths_));
    if (!lock) {
        return std::move(lock).error();
    }
    std::vector<stdfs::path> records;
    std::set<std::string> blobs;
    std::set<std::string> chains;
    for (const auto& n : dir_names(dir)) {
        if (n.rfind(".tmp-", 0) == 0 || n.rfind(mine, 0) == 0) {
            continue;
        }
        records.push_back(dir / n);
        // A torn record was not durable yet, so nothing it names was published.
        // Only digests are taken: the names become paths below.
        auto rec = read_json(dir / n);
        if (rec && rec->is_object()) {
            for (auto& b : strings_of(*rec, "blobs")) {
                if (Digest::parse(b)) {
                    blobs.insert(std::move(b));
                }
            }
            for (auto& c : strings_of(*rec, "snapshots")) {
                if (Digest::parse(c)) {
                    chains.insert(std::move(c));
                }
            }
        }
    }
    if (records.empty()) {
        return report;
    }
    std::set<std::string> lost;
    for (const auto& b : blobs) {
        auto path = blob_path(b);
        if (::access(path.c_str(), F_OK) != 0) {
            lost.insert(b);  // never published, or its name did not survive
            continue;
        }
        auto got = hash_file(path);
        if (!got || *got != b) {
            log::engine().warn("blob {} did not survive the machine going down: removed", b);
            ::unlink(path.c_str());
            lost.insert(b);
        }
    }
    // Unpacked files cannot be checked (there is no digest of each): every
    // snapshot of the records goes, moved aside first so that a removal cut
    // short leaves no half snapshot in place.
    for (const auto& c : chains) {
        auto d = snapshot_dir(paths_, c);
        if (::access(d.c_str(), F_OK) != 0) {
            continue;
        }
        auto aside = fs::TempDir::create(temp_dir(paths_), "stale-");
        if (!aside) {
            return std::move(aside).error().wrap("settle unsynced image writes");
        }
        if (::rename(d.c_str(), (aside->path() / "s").c_str()) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("settle unsynced image writes: move {} aside",
                                                      d.native()));
        }
    }
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    json& images = (*table)["images"];
    std::vector<json> removed;
    auto drop = [&](const std::string& id, const std::string& why) {
        const json& e = images[id];
        auto tags = strings_of(e, "repo_tags");
        log::engine().warn("image {}{}{}: {}; pull it again", id,
                           tags.empty() ? "" : " ", tags.empty() ? "" : tags.front(), why);
        removed.push_back(e);
        report.removed.push_back(id);
    };
    std::vector<std::string> ids;
    for (auto it = images.begin(); it != images.end(); ++it) {
        ids.push_back(it.key());
    }
    for (const auto& id : ids) {
        const json& entry = images[id];
        auto entry_blobs = strings_of(entry, "blobs");
        if (std::any_of(entry_blobs.begin(), entry_blobs.end(),
                        [&](const std::string& b) { return lost.count(b) != 0; })) {
            drop(id, "a blob of it was lost when the machine went down");
            continue;
        }
        auto layer_chains = strings_of(entry, "layers");
        if (std::all_of(layer_chains.begin(), layer_chains.end(),
                        [&](const std::string& c) { return snapshot_size(paths_, c).has_value(); })) {
            continue;
        }
        // Unpacked again from its blobs, verified above or synced before.
        auto unpacked = [&]() -> Result<void> {
            auto mtext = read_blob(entry.value("manifest", ""));
            auto ctext = read_blob(id);
            if (!mtext || !ctext) {
                return Error(Errc::not_found, "its manifest or config is missing");
            }
            auto m = parse_manifest(*mtext);
            auto pc = parse_config(*ctext);
            if (!m || !pc || m->layers.size() != layer_chains.size() ||
                pc->diff_ids.size() != layer_chains.size()) {
                return Error(Errc::invalid_argument, "its manifest or config does not parse");
            }
            for (size_t i = 0; i < layer_chains.size(); ++i) {
                auto r = ensure_snapshot(layer_chains[i], i == 0 ? std::string{} : layer_chains[i - 1],
                                         pc->diff_ids[i], m->layers[i].digest);
                if (!r) {
                    return std::move(r).error();
                }
            }
            return {};
        }();
        if (!unpacked) {
            drop(id, fmt::format("its layers could not be unpacked again: {}",
                                 unpacked.error().message()));
            continue;
        }
        log::engine().info("image {}: layers unpacked again after the machine went down", id);
        report.reunpacked.push_back(id);
    }
    if (!removed.empty()) {
        for (const auto& id : report.removed) {
            images.erase(id);
        }
        if (auto r = write_table(*table); !r) {
            return std::move(r).error();
        }
        std::vector<std::string> deleted;
        delete_unreferenced(*table, removed, &deleted);
    }
    if (auto r = sync(); !r) {
        return std::move(r).error().wrap("settle unsynced image writes");
    }
    for (const auto& p : records) {
        ::unlink(p.c_str());
    }
    report.recovered = static_cast<int>(records.size());
    return report;
}

Result<Image> ImageStore::commit_image(const std::string& manifest_digest,
                                       const std::vector<std::string>& tags,
                                       const std::string& repo_digest, bool intermediate) {
    auto mtext = read_blob(manifest_digest);
    if (!mtext) {
        return std::move(mtext).error();
    }
    auto kind = document_kind(*mtext);
    if (!kind) {
        return std::move(kind).error().wrap(fmt::format("manifest {}", manifest_digest));
    }
    if (*kind != DocumentKind::manifest) {
        return Error(Errc::invalid_argument,
                     fmt::format("manifest {} is an index, not an image manifest",
                                 manifest_digest));
    }
    auto m = parse_manifest(*mtext);
    if (!m) {
        return std::move(m).error().wrap(fmt::format("manifest {}", manifest_digest));
    }
    auto ctext = read_blob(m->config.digest);
    if (!ctext) {
        return std::move(ctext).error().wrap(fmt::format("config of manifest {}",
                                                         manifest_digest));
    }
    auto pc = parse_config(*ctext);
    if (!pc) {
        return std::move(pc).error().wrap(fmt::format("config {}", m->config.digest));
    }
    if (pc->diff_ids.size() != m->layers.size()) {
        return Error(Errc::invalid_argument,
                     fmt::format("image {}: the manifest has {} layers but the config {} diff ids",
                                 m->config.digest, m->layers.size(), pc->diff_ids.size()));
    }
    std::vector<std::string> parsed_tags;
    for (const auto& t : tags) {
        auto ref = parse_reference(t);
        if (!ref) {
            return std::move(ref).error();
        }
        if (!ref->tag.empty()) {
            parsed_tags.push_back(ref->name_tag());
        }
    }
    std::vector<std::string> chains;
    std::vector<std::string> blobs{manifest_digest, m->config.digest};
    for (size_t i = 0; i < m->layers.size(); ++i) {
        if (!has_blob(m->layers[i].digest)) {
            return Error(Errc::not_found, fmt::format("layer {} is missing from the store",
                                                      m->layers[i].digest));
        }
        chains.push_back(chain_id(chains.empty() ? std::string{} : chains.back(), pc->diff_ids[i]));
        blobs.push_back(m->layers[i].digest);
    }
    // A concurrent rmi may delete a snapshot between the unpack and the lock;
    // then unpack again (a few times at most).
    for (int attempt = 0; attempt < 3; ++attempt) {
        // Layers unpack independently (each into its own snapshot): only the
        // missing ones (a pull has usually unpacked them all already), at most
        // one per core and four at once; then published together without a
        // sync, recorded first (note_unsynced).
        std::vector<std::optional<Result<int64_t>>> sizes(chains.size());
        std::vector<std::unique_ptr<PendingSnapshot>> pending(chains.size());
        std::vector<size_t> missing;
        for (size_t i = 0; i < chains.size(); ++i) {
            if (auto size = snapshot_size(paths_, chains[i])) {
                sizes[i] = *size;
            } else {
                missing.push_back(i);
            }
        }
        std::atomic<size_t> next{0};
        auto worker = [&] {
            for (size_t k = next++; k < missing.size(); k = next++) {
                const size_t i = missing[k];
                auto p = prepare_snapshot(chains[i], i == 0 ? std::string{} : chains[i - 1],
                                          pc->diff_ids[i], m->layers[i].digest,
                                          blob_path(m->layers[i].digest));
                if (p) {
                    sizes[i] = (*p)->size;
                    pending[i] = std::move(*p);
                } else {
                    sizes[i] = std::move(p).error();
                }
            }
        };
        std::vector<std::thread> threads;
        const size_t cores = std::max(1U, std::thread::hardware_concurrency());
        for (size_t t = 1; t < std::min<size_t>({missing.size(), cores, 4}); ++t) {
            threads.emplace_back(worker);
        }
        worker();
        for (auto& t : threads) {
            t.join();
        }
        int64_t total = 0;
        for (auto& size : sizes) {
            if (!*size) {
                return std::move(*size).error();
            }
            total += **size;
        }
        std::vector<std::string> unpacked;
        for (const auto& p : pending) {
            if (p && p->tmp) {
                unpacked.push_back(p->chain);
            }
        }
        if (!unpacked.empty()) {
            if (auto r = note_unsynced({}, unpacked); !r) {
                return std::move(r).error();
            }
            for (auto& p : pending) {
                if (p) {
                    if (auto r = publish_snapshot(*p, false); !r) {
                        return std::move(r).error();
                    }
                }
            }
            sync_dirs();
        }
        auto lock = fs::FileLock::acquire(lock_path(paths_));
        if (!lock) {
            return std::move(lock).error();
        }
        bool complete = std::all_of(chains.begin(), chains.end(), [&](const std::string& c) {
                            return snapshot_size(paths_, c).has_value();
                        }) &&
                        std::all_of(blobs.begin(), blobs.end(),
                                    [&](const std::string& b) { return has_blob(b); });
        if (!complete) {
            continue;
        }
        auto table = read_table();
        if (!table) {
            return std::move(table).error();
        }
        json& images = (*table)["images"];
        const std::string& id = m->config.digest;
        bool existed = images.contains(id);
        json entry = existed ? images[id] : json::object();
        if (!intermediate) {
            entry.erase("intermediate");
        } else if (!existed) {
            entry["intermediate"] = true;
        }
        entry["manifest"] = manifest_digest;
        entry["layers"] = chains;
        entry["blobs"] = blobs;
        entry["size"] = total;
        if (!entry.contains("repo_tags")) {
            entry["repo_tags"] = json::array();
        }
        if (!entry.contains("repo_digests")) {
            entry["repo_digests"] = json::array();
        }
        for (const auto& t : parsed_tags) {
            for (auto& [other, e] : images.items()) {
                (void)other;
                erase_string(e["repo_tags"], t);
            }
            if (!contains_string(entry["repo_tags"], t)) {
                entry["repo_tags"].push_back(t);
            }
        }
        if (!repo_digest.empty() && !contains_string(entry["repo_digests"], repo_digest)) {
            entry["repo_digests"].push_back(repo_digest);
        }
        images[id] = entry;
        if (auto r = write_table(*table); !r) {
            return std::move(r).error();
        }
        log::engine().info("stored image {}", id);
        return load_image(id, entry);
    }
    return Error(Errc::unavailable,
                 fmt::format("store image {}: its layers were removed concurrently, retry",
                             m->config.digest));
}

// ---------------------------------------------------------------- removal

int64_t ImageStore::delete_unreferenced(const json& table, const std::vector<json>& removed,
                                        std::vector<std::string>* lines) {
    // Only content named by the removed images is a candidate, so blobs and
    // snapshots that a concurrent pull has written but not yet registered are
    // never touched.
    std::set<std::string> keep_blobs;
    std::set<std::string> keep_layers;
    for (const auto& [id, e] : table["images"].items()) {
        keep_blobs.insert(id);
        for (const auto& b : strings_of(e, "blobs")) {
            keep_blobs.insert(b);
        }
        for (const auto& l : strings_of(e, "layers")) {
            keep_layers.insert(l);
        }
    }
    int64_t freed = 0;
    std::set<std::string> done;
    for (const auto& e : removed) {
        auto layers = strings_of(e, "layers");
        // Top layer first, as Docker lists them.
        for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
            if (keep_layers.count(*it) != 0 || !done.insert(*it).second) {
                continue;
            }
            freed += snapshot_size(paths_, *it).value_or(0);
            if (auto r = fs::remove_tree(snapshot_dir(paths_, *it)); !r) {
                log::engine().warn("remove snapshot {}: {}", *it, r.error().message());
                continue;
            }
            lines->push_back("Deleted: " + *it);
        }
        for (const auto& b : strings_of(e, "blobs")) {
            if (keep_blobs.count(b) != 0 || !done.insert(b).second) {
                continue;
            }
            ::unlink(blob_path(b).c_str());
        }
    }
    return freed;
}

namespace {

/// The containers using `id`: (running ones, stopped ones).
std::pair<std::vector<std::string>, std::vector<std::string>>
users_of(const std::vector<ImageUser>& users, const std::string& id) {
    std::pair<std::vector<std::string>, std::vector<std::string>> out;
    for (const auto& u : users) {
        if (u.image_id == id) {
            (u.running ? out.first : out.second).push_back(u.container);
        }
    }
    return out;
}

std::string short_id(const std::string& id) {
    return hex_of(id).substr(0, 12);
}

}  // namespace

Result<std::vector<std::string>> ImageStore::remove(std::string_view ref, bool force,
                                                    const ImageUsersFn& users_fn) {
    std::vector<ImageUser> users;
    if (users_fn) {
        auto u = users_fn();
        if (!u) {
            return std::move(u).error().wrap("list containers using images");
        }
        users = std::move(*u);
    }
    auto lock = fs::FileLock::acquire(lock_path(paths_));
    if (!lock) {
        return std::move(lock).error();
    }
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    auto m = match(*table, ref);
    if (!m) {
        return std::move(m).error();
    }
    json& images = (*table)["images"];
    json& entry = images[m->id];
    auto [running, stopped] = users_of(users, m->id);
    std::vector<std::string> lines;
    auto tags = strings_of(entry, "repo_tags");
    auto digests = strings_of(entry, "repo_digests");

    if (m->by_name) {
        // Removing one name; the image goes only with its last tag.
        // A digest reference is the last name when no tag is left; a tag
        // is the last name when it is the only one.
        bool last = m->is_digest ? tags.empty() : tags.size() <= 1;
        if (last && (!running.empty() || (!stopped.empty() && !force))) {
            const auto& c = running.empty() ? stopped.front() : running.front();
            return Error(Errc::conflict,
                         fmt::format("conflict: unable to remove repository reference \"{}\" "
                                     "(must force) - container {} is using its referenced image {}",
                                     ref, c, short_id(m->id)));
        }
        if (m->is_digest) {
            erase_string(entry["repo_digests"], m->qualified);
        } else {
            erase_string(entry["repo_tags"], m->qualified);
        }
        lines.push_back("Untagged: " + familiar(m->qualified));
        if (!last || !stopped.empty() || !running.empty()) {
            if (auto r = write_table(*table); !r) {
                return std::move(r).error();
            }
            return lines;
        }
    } else {
        std::set<std::string> repos;
        for (const auto& t : tags) {
            repos.insert(t.substr(0, t.rfind(':')));
        }
        if (!running.empty()) {
            return Error(Errc::conflict,
                         fmt::format("conflict: unable to delete {} (cannot be forced) - image is "
                                     "being used by running container {}",
                                     short_id(m->id), running.front()));
        }
        if (!stopped.empty() && !force) {
            return Error(Errc::conflict,
                         fmt::format("conflict: unable to delete {} (must be forced) - image is "
                                     "being used by stopped container {}",
                                     short_id(m->id), stopped.front()));
        }
        if (repos.size() > 1 && !force) {
            return Error(Errc::conflict,
                         fmt::format("conflict: unable to delete {} (must be forced) - image is "
                                     "referenced in multiple repositories",
                                     short_id(m->id)));
        }
        for (const auto& t : tags) {
            lines.push_back("Untagged: " + familiar(t));
        }
        entry["repo_tags"] = json::array();
        if (!stopped.empty()) {
            // Forced while a stopped container uses it: keep the image (dangling)
            // so the container's lower layers stay.
            if (auto r = write_table(*table); !r) {
                return std::move(r).error();
            }
            return lines;
        }
    }
    for (const auto& d : strings_of(entry, "repo_digests")) {
        lines.push_back("Untagged: " + familiar(d));
    }
    json removed = entry;
    images.erase(m->id);
    if (auto r = write_table(*table); !r) {
        return std::move(r).error();
    }
    lines.push_back("Deleted: " + m->id);
    delete_unreferenced(*table, {removed}, &lines);
    return lines;
}

Result<std::vector<std::string>> ImageStore::prune(bool all, const ImageUsersFn& users_fn,
                                                   int64_t* reclaimed) {
    std::vector<ImageUser> users;
    if (users_fn) {
        auto u = users_fn();
        if (!u) {
            return std::move(u).error().wrap("list containers using images");
        }
        users = std::move(*u);
    }
    std::set<std::string> used;
    for (const auto& u : users) {
        used.insert(u.image_id);
    }
    auto lock = fs::FileLock::acquire(lock_path(paths_));
    if (!lock) {
        return std::move(lock).error();
    }
    auto table = read_table();
    if (!table) {
        return std::move(table).error();
    }
    json& images = (*table)["images"];
    std::vector<std::string> lines;
    std::vector<json> removed;
    std::vector<std::string> ids;
    for (const auto& [id, e] : images.items()) {
        bool dangling = strings_of(e, "repo_tags").empty();
        if ((dangling || all) && used.count(id) == 0) {
            ids.push_back(id);
        }
    }
    for (const auto& id : ids) {
        for (const auto& t : strings_of(images[id], "repo_tags")) {
            lines.push_back("untagged: " + familiar(t));
        }
        for (const auto& d : strings_of(images[id], "repo_digests")) {
            lines.push_back("untagged: " + familiar(d));
        }
        lines.push_back("deleted: " + id);
        removed.push_back(images[id]);
        images.erase(id);
    }
    if (ids.empty()) {
        if (reclaimed != nullptr) {
            *reclaimed = 0;
        }
        return lines;
    }
    if (auto r = write_table(*table); !r) {
        return std::move(r).error();
    }
    std::vector<std::string> layer_lines;
    int64_t freed = delete_unreferenced(*table, removed, &layer_lines);
    for (auto& l : layer_lines) {
        lines.push_back("deleted: " + l.substr(std::string("Deleted: ").size()));
    }
    if (reclaimed != nullptr) {
        *reclaimed = freed;
    }
    return lines;
}

}  // namespace berth::engine::images
