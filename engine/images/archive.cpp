// SPDX-License-Identifier: Apache-2.0
#include "engine/images/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <ctime>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <set>

#include "common/digest.hpp"
#include "common/fs.hpp"
#include "engine/images/layer.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/tar_writer.hpp"

namespace berth::engine::images {

using nlohmann::json;

namespace {

Error bad_archive(std::string_view why) {
    return Error(Errc::invalid_argument, fmt::format("invalid image archive: {}", why));
}

std::string join_path(const std::vector<std::string>& comps) {
    std::string s;
    for (const auto& c : comps) {
        s += (s.empty() ? "" : "/") + c;
    }
    return s;
}

Result<void> write_fd(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return Error::from_errno(err, "write archive");
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

/// Compression of a stored blob, from its first bytes.
Result<Compression> sniff(const ImageStore& store, const std::string& digest) {
    auto fd = fs::open(store.blob_path(digest), O_RDONLY);
    if (!fd) {
        return std::move(fd).error().wrap(fmt::format("layer {}", digest));
    }
    unsigned char b[4] = {};
    ssize_t n = ::read(fd->get(), b, sizeof b);
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        return Compression::gzip;
    }
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) {
        return Compression::zstd;
    }
    return Compression::none;
}

struct ArchivedFile {
    std::string digest;
    int64_t size = 0;
};

/// State of one `load`: the files of the archive, stored as blobs as they
/// stream by, and the blobs this load created (removed again on failure).
class Loader {
public:
    explicit Loader(ImageStore& store) : store_(store) {}
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;
    ~Loader() {
        for (const auto& b : created_) {
            if (kept_.count(b) == 0) {
                ::unlink(store_.blob_path(b).c_str());
            }
        }
    }

    Result<void> read(int fd) {
        int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dup < 0) {
            int err = errno;
            return Error::from_errno(err, "read archive");
        }
        auto stream = LayerStream::open(UniqueFd(dup), UINT64_MAX, "archive");
        if (!stream) {
            return std::move(stream).error();
        }
        struct Ctx {
            LayerStream* s;
            std::optional<Error> err;
        } ctx{stream->get(), std::nullopt};
        auto cb = [](archive* a, void* ud, const void** buf) -> la_ssize_t {
            auto* c = static_cast<Ctx*>(ud);
            auto r = c->s->next();
            if (!r) {
                c->err = std::move(r).error();
                archive_set_error(a, EIO, "%s", c->err->message().c_str());
                return -1;
            }
            *buf = r->data();
            return static_cast<la_ssize_t>(r->size());
        };
        std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
        archive_read_support_format_tar(a.get());
        if (archive_read_open(a.get(), &ctx, nullptr, cb, nullptr) != ARCHIVE_OK) {
            if (ctx.err) {
                return *ctx.err;
            }
            return bad_archive(fmt::format("not a tar archive ({})",
                                           archive_error_string(a.get()) != nullptr
                                               ? archive_error_string(a.get())
                                               : "empty"));
        }
        archive_entry* entry = nullptr;
        while (true) {
            int r = archive_read_next_header(a.get(), &entry);
            if (r == ARCHIVE_EOF) {
                break;
            }
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
                if (ctx.err) {
                    return *ctx.err;
                }
                return bad_archive(fmt::format("corrupt or truncated tar ({})",
                                               archive_error_string(a.get()) != nullptr
                                                   ? archive_error_string(a.get())
                                                   : "bad header"));
            }
            const char* raw = archive_entry_pathname(entry);
            auto comps = clean_entry_path(raw != nullptr ? raw : "");
            if (!comps) {
                return bad_archive(fmt::format("entry \"{}\": {}", raw != nullptr ? raw : "",
                                               comps.error().message()));
            }
            std::string path = join_path(*comps);
            if (const char* hl = archive_entry_hardlink(entry); hl != nullptr) {
                auto t = clean_entry_path(hl);
                if (!t) {
                    return bad_archive(fmt::format("entry \"{}\": bad link target", path));
                }
                links_[path] = join_path(*t);
                continue;
            }
            auto type = archive_entry_filetype(entry);
            if (type == AE_IFLNK) {
                // Old Docker archives link identical layers: a/layer.tar -> ../b/layer.tar.
                std::vector<std::string> base(comps->begin(),
                                              comps->empty() ? comps->end() : comps->end() - 1);
                std::string target = archive_entry_symlink(entry) != nullptr
                                         ? archive_entry_symlink(entry)
                                         : "";
                auto t = clean_entry_path(target.rfind('/', 0) == 0
                                              ? target
                                              : join_path(base) + "/" + target);
                if (!t) {
                    return bad_archive(fmt::format("entry \"{}\": link leaves the archive", path));
                }
                links_[path] = join_path(*t);
                continue;
            }
            if (type != AE_IFREG) {
                continue;
            }
            if (auto s = store_file(a.get(), path); !s) {
                if (ctx.err) {
                    return *ctx.err;
                }
                return std::move(s).error();
            }
        }
        return {};
    }

    Result<std::vector<std::string>> register_images(const Platform& platform) {
        if (small_.count("manifest.json") != 0) {
            return load_docker();
        }
        if (small_.count("index.json") != 0) {
            return load_oci(platform);
        }
        return bad_archive("it has neither manifest.json (Docker) nor index.json (OCI)");
    }

private:
    Result<void> store_file(archive* a, const std::string& path) {
        auto w = store_.new_blob();
        if (!w) {
            return std::move(w).error();
        }
        bool keep_small = path == "manifest.json" || path == "index.json";
        std::string small;
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = 0;
        int64_t pos = 0;
        while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
            if (offset > pos) {  // a sparse hole
                std::string zeros(static_cast<size_t>(offset - pos), '\0');
                if (auto wr = w->write(zeros); !wr) {
                    return wr;
                }
                pos = offset;
            }
            std::string_view chunk(static_cast<const char*>(buf), size);
            if (keep_small) {
                if (small.size() + size > max_manifest_bytes) {
                    return bad_archive(fmt::format("{} is larger than {} bytes", path,
                                                   max_manifest_bytes));
                }
                small.append(chunk);
            }
            if (auto wr = w->write(chunk); !wr) {
                return wr;
            }
            pos += static_cast<int64_t>(size);
        }
        if (r != ARCHIVE_EOF) {
            return bad_archive(fmt::format("entry \"{}\" is truncated or corrupt ({})", path,
                                           archive_error_string(a) != nullptr
                                               ? archive_error_string(a)
                                               : "read error"));
        }
        std::string expected;
        constexpr std::string_view blob_prefix = "blobs/sha256/";
        if (path.rfind(blob_prefix, 0) == 0) {
            expected = "sha256:" + path.substr(blob_prefix.size());
            if (!Digest::parse(expected)) {
                return bad_archive(fmt::format("entry \"{}\" is not named by a digest", path));
            }
        }
        int64_t written = w->written();
        auto d = w->commit(expected);
        if (!d) {
            return std::move(d).error().wrap(fmt::format("archive entry \"{}\"", path));
        }
        if (w->created()) {
            created_.insert(d->str());
        }
        files_[path] = ArchivedFile{d->str(), written};
        if (keep_small) {
            small_[path] = std::move(small);
        }
        return {};
    }

    Result<ArchivedFile> lookup(std::string path) const {
        for (int hops = 0; hops < 16; ++hops) {
            if (auto it = files_.find(path); it != files_.end()) {
                return it->second;
            }
            auto l = links_.find(path);
            if (l == links_.end()) {
                break;
            }
            path = l->second;
        }
        return bad_archive(fmt::format("it names \"{}\", which it does not contain", path));
    }

    void keep(const Image& img) {
        kept_.insert(img.id);
        kept_.insert(img.manifest_digest);
        for (const auto& b : layer_blobs_) {
            kept_.insert(b);
        }
    }

    Result<std::vector<std::string>> load_docker() {
        json doc = json::parse(small_["manifest.json"], nullptr, false);
        if (!doc.is_array()) {
            return bad_archive("manifest.json is not a JSON array");
        }
        std::vector<std::string> lines;
        for (const auto& item : doc) {
            if (!item.is_object() || !item.contains("Config") || !item["Config"].is_string() ||
                !item.contains("Layers") || !item["Layers"].is_array()) {
                return bad_archive("manifest.json entry without Config and Layers");
            }
            auto cfg = lookup(item["Config"].get<std::string>());
            if (!cfg) {
                return std::move(cfg).error();
            }
            // "<hex>.json" names the config by its digest: check it.
            std::string cname = item["Config"].get<std::string>();
            auto slash = cname.rfind('/');
            std::string stem = cname.substr(slash == std::string::npos ? 0 : slash + 1);
            if (stem.size() == 69 && stem.substr(64) == ".json" &&
                "sha256:" + stem.substr(0, 64) != cfg->digest) {
                return bad_archive(fmt::format("config {} does not hash to its name ({})", cname,
                                               cfg->digest));
            }
            json layers = json::array();
            layer_blobs_.clear();
            if (item["Layers"].size() > max_layers) {
                return bad_archive("too many layers");
            }
            for (const auto& l : item["Layers"]) {
                if (!l.is_string()) {
                    return bad_archive("manifest.json layer is not a string");
                }
                auto f = lookup(l.get<std::string>());
                if (!f) {
                    return std::move(f).error();
                }
                auto comp = sniff(store_, f->digest);
                if (!comp) {
                    return std::move(comp).error();
                }
                std::string_view mt = *comp == Compression::gzip   ? media::docker_layer_gzip
                                      : *comp == Compression::zstd ? media::oci_layer_zstd
                                                                   : media::docker_layer;
                layers.push_back({{"mediaType", mt}, {"digest", f->digest}, {"size", f->size}});
                layer_blobs_.push_back(f->digest);
            }
            json manifest = {{"schemaVersion", 2},
                             {"mediaType", media::docker_manifest},
                             {"config",
                              {{"mediaType", media::docker_config},
                               {"digest", cfg->digest},
                               {"size", cfg->size}}},
                             {"layers", layers}};
            std::vector<std::string> tags;
            if (item.contains("RepoTags") && item["RepoTags"].is_array()) {
                for (const auto& t : item["RepoTags"]) {
                    if (t.is_string()) {
                        tags.push_back(t.get<std::string>());
                    }
                }
            }
            for (const auto& t : tags) {
                if (auto ref = parse_reference(t); !ref) {
                    return std::move(ref).error().wrap("manifest.json RepoTags");
                }
            }
            std::string mtext = manifest.dump();
            std::string mdigest = Digest::of(mtext).str();
            bool had = store_.has_blob(mdigest);
            auto m = store_.put_blob(mtext);
            if (!m) {
                return std::move(m).error();
            }
            if (!had) {
                created_.insert(mdigest);
            }
            auto img = store_.commit_image(m->str(), tags);
            if (!img) {
                return std::move(img).error();
            }
            keep(*img);
            if (tags.empty()) {
                lines.push_back("Loaded image ID: " + img->id);
            }
            for (const auto& t : tags) {
                lines.push_back("Loaded image: " + familiar(parse_reference(t)->full()));
            }
        }
        return lines;
    }

    Result<std::vector<std::string>> load_oci(const Platform& platform) {
        auto idx = parse_index(small_["index.json"]);
        if (!idx) {
            return std::move(idx).error().wrap("index.json");
        }
        std::vector<std::string> lines;
        for (const auto& top : idx->manifests) {
            Descriptor d = top;
            for (int depth = 0; d.media_type == media::oci_index || d.media_type == media::docker_list;
                 ++depth) {
                if (depth >= 4) {
                    return bad_archive("image indexes nested too deeply (a cycle?)");
                }
                auto text = store_.read_blob(d.digest);
                if (!text) {
                    return std::move(text).error().wrap("index");
                }
                auto inner = parse_index(*text);
                if (!inner) {
                    return std::move(inner).error().wrap(fmt::format("index {}", d.digest));
                }
                auto pick = select_platform(*inner, platform);
                if (!pick) {
                    return std::move(pick).error().wrap(fmt::format("index {}", d.digest));
                }
                d = *pick;
            }
            if (!store_.has_blob(d.digest)) {
                return bad_archive(fmt::format("manifest {} is not in the archive", d.digest));
            }
            auto mtext = store_.read_blob(d.digest);
            if (!mtext) {
                return std::move(mtext).error();
            }
            if (auto m = parse_manifest(*mtext); m) {
                layer_blobs_.clear();
                for (const auto& l : m->layers) {
                    layer_blobs_.push_back(l.digest);
                }
                kept_.insert(m->config.digest);
            }
            std::vector<std::string> tags;
            std::string name;
            if (auto it = top.annotations.find("io.containerd.image.name");
                it != top.annotations.end()) {
                name = it->second;
            } else if (auto rn = top.annotations.find("org.opencontainers.image.ref.name");
                       rn != top.annotations.end() &&
                       rn->second.find_first_of(":/") != std::string::npos) {
                name = rn->second;
            }
            if (!name.empty()) {
                if (auto ref = parse_reference(name); ref && !ref->tag.empty()) {
                    tags.push_back(ref->full());
                }
            }
            auto img = store_.commit_image(d.digest, tags);
            if (!img) {
                return std::move(img).error();
            }
            keep(*img);
            if (tags.empty()) {
                lines.push_back("Loaded image ID: " + img->id);
            }
            for (const auto& t : tags) {
                lines.push_back("Loaded image: " + familiar(t));
            }
        }
        if (lines.empty()) {
            return bad_archive("index.json lists no images");
        }
        return lines;
    }

    ImageStore& store_;
    std::map<std::string, ArchivedFile> files_;
    std::map<std::string, std::string> links_;
    std::map<std::string, std::string> small_;
    std::set<std::string> created_;
    std::set<std::string> kept_;
    std::vector<std::string> layer_blobs_;
};

std::string rfc3339_now() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm {};
    ::gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:09d}Z", buf, ts.tv_nsec);
}

std::string trim(std::string_view s) {
    size_t a = 0;
    size_t b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) {
        ++a;
    }
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) {
        --b;
    }
    return std::string(s.substr(a, b - a));
}

/// Splits "a=1 b='2 3' c=\"4\"" into words, honouring quotes.
Result<std::vector<std::string>> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    char quote = 0;
    bool have = false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < s.size()) {
                cur += s[++i];
            } else {
                cur += c;
            }
        } else if (c == '"' || c == '\'') {
            quote = c;
            have = true;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            if (have || !cur.empty()) {
                out.push_back(cur);
            }
            cur.clear();
            have = false;
        } else if (c == '\\' && i + 1 < s.size()) {
            cur += s[++i];
        } else {
            cur += c;
        }
    }
    if (quote != 0) {
        return Error(Errc::invalid_argument, fmt::format("unterminated quote in \"{}\"", s));
    }
    if (have || !cur.empty()) {
        out.push_back(cur);
    }
    return out;
}

Result<std::vector<std::string>> exec_or_shell(const std::string& rest) {
    if (!rest.empty() && rest.front() == '[') {
        json arr = json::parse(rest, nullptr, false);
        if (arr.is_array()) {
            std::vector<std::string> out;
            for (const auto& v : arr) {
                if (!v.is_string()) {
                    return Error(Errc::invalid_argument, "exec form must be an array of strings");
                }
                out.push_back(v.get<std::string>());
            }
            return out;
        }
    }
    return std::vector<std::string>{"/bin/sh", "-c", rest};
}

}  // namespace

Result<void> apply_change(ImageConfig& c, std::string_view instruction) {
    std::string text = trim(instruction);
    auto sp = text.find_first_of(" \t");
    std::string kw = text.substr(0, sp);
    for (auto& ch : kw) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    std::string rest = sp == std::string::npos ? std::string{} : trim(text.substr(sp));
    auto need = [&]() -> Result<void> {
        if (rest.empty()) {
            return Error(Errc::invalid_argument, fmt::format("{} requires an argument", kw));
        }
        return {};
    };
    if (auto r = need(); !r) {
        return r;
    }
    if (kw == "CMD" || kw == "ENTRYPOINT") {
        auto v = exec_or_shell(rest);
        if (!v) {
            return std::move(v).error();
        }
        (kw == "CMD" ? c.cmd : c.entrypoint) = *v;
        return {};
    }
    if (kw == "ENV" || kw == "LABEL") {
        std::vector<std::pair<std::string, std::string>> kvs;
        auto first_space = rest.find_first_of(" \t");
        auto eq = rest.find('=');
        if (kw == "ENV" && (eq == std::string::npos || (first_space != std::string::npos &&
                                                        first_space < eq))) {
            // ENV key value (legacy form)
            if (first_space == std::string::npos) {
                return Error(Errc::invalid_argument, "ENV needs key=value or key value");
            }
            kvs.emplace_back(rest.substr(0, first_space), trim(rest.substr(first_space)));
        } else {
            auto words = split_words(rest);
            if (!words) {
                return std::move(words).error();
            }
            for (const auto& w : *words) {
                auto e = w.find('=');
                if (e == std::string::npos || e == 0) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("{} expects key=value, got \"{}\"", kw, w));
                }
                kvs.emplace_back(w.substr(0, e), w.substr(e + 1));
            }
        }
        for (const auto& [k, v] : kvs) {
            if (kw == "LABEL") {
                c.labels[k] = v;
                continue;
            }
            std::string prefix = k + "=";  // (clang 14 cannot capture structured bindings)
            std::erase_if(c.env, [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
            c.env.push_back(k + "=" + v);
        }
        return {};
    }
    if (kw == "EXPOSE") {
        auto words = split_words(rest);
        if (!words) {
            return std::move(words).error();
        }
        for (auto w : *words) {
            auto slash = w.find('/');
            std::string port = w.substr(0, slash);
            std::string proto = slash == std::string::npos ? "tcp" : w.substr(slash + 1);
            bool digits = !port.empty() && port.size() <= 5 &&
                          port.find_first_not_of("0123456789") == std::string::npos;
            if (!digits || (proto != "tcp" && proto != "udp" && proto != "sctp")) {
                return Error(Errc::invalid_argument, fmt::format("invalid EXPOSE port \"{}\"", w));
            }
            c.exposed_ports.insert(port + "/" + proto);
        }
        return {};
    }
    if (kw == "VOLUME") {
        std::vector<std::string> vols;
        if (rest.front() == '[') {
            auto v = exec_or_shell(rest);
            if (!v || (v->size() == 3 && (*v)[0] == "/bin/sh")) {
                return Error(Errc::invalid_argument, "VOLUME: invalid JSON array");
            }
            vols = *v;
        } else {
            auto words = split_words(rest);
            if (!words) {
                return std::move(words).error();
            }
            vols = *words;
        }
        for (const auto& v : vols) {
            c.volumes.insert(v);
        }
        return {};
    }
    if (kw == "USER") {
        c.user = rest;
        return {};
    }
    if (kw == "WORKDIR") {
        c.working_dir = rest;
        return {};
    }
    if (kw == "STOPSIGNAL") {
        c.stop_signal = rest;
        return {};
    }
    return Error(Errc::invalid_argument,
                 fmt::format("{} is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, "
                             "LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)",
                             kw));
}

Result<std::vector<std::string>> load_archive(ImageStore& store, int fd, const Platform& platform) {
    Loader loader(store);
    if (auto r = loader.read(fd); !r) {
        return std::move(r).error().wrap("load");
    }
    auto lines = loader.register_images(platform);
    if (!lines) {
        return std::move(lines).error().wrap("load");
    }
    return lines;
}

Result<Image> import_rootfs(ImageStore& store, int fd, const ImportOptions& o) {
    ImageConfig cfg;
    for (const auto& ch : o.changes) {
        if (auto r = apply_change(cfg, ch); !r) {
            return std::move(r).error().wrap("import: --change");
        }
    }
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        int err = errno;
        return Error::from_errno(err, "import: read input");
    }
    auto stream = LayerStream::open(UniqueFd(dup), store.options().max_layer_bytes, o.source);
    if (!stream) {
        return std::move(stream).error().wrap("import");
    }
    auto w = store.new_blob();
    if (!w) {
        return std::move(w).error();
    }
    while (true) {
        auto chunk = (*stream)->next();
        if (!chunk) {
            return std::move(chunk).error().wrap("import");
        }
        if (chunk->empty()) {
            break;
        }
        if (auto r = w->write(*chunk); !r) {
            return std::move(r).error().wrap("import");
        }
    }
    auto diff = (*stream)->finish();
    if (!diff) {
        return std::move(diff).error();
    }
    int64_t size = w->written();
    auto layer = w->commit(*diff);
    if (!layer) {
        return std::move(layer).error();
    }
    std::string now = rfc3339_now();
    json config = {{"architecture", o.platform.architecture},
                   {"os", o.platform.os.empty() ? "linux" : o.platform.os},
                   {"created", now},
                   {"config", to_json(cfg)},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {layer->str()}}}},
                   {"history",
                    {{{"created", now},
                      {"comment", o.message.empty() ? "Imported from " + o.source : o.message}}}}};
    if (!o.platform.variant.empty()) {
        config["variant"] = o.platform.variant;
    }
    std::string ctext = config.dump();
    auto c = store.put_blob(ctext);
    if (!c) {
        return std::move(c).error();
    }
    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", media::oci_manifest},
        {"config", {{"mediaType", media::oci_config}, {"digest", c->str()}, {"size", ctext.size()}}},
        {"layers", {{{"mediaType", media::oci_layer}, {"digest", layer->str()}, {"size", size}}}}};
    auto m = store.put_blob(manifest.dump());
    if (!m) {
        return std::move(m).error();
    }
    std::vector<std::string> tags;
    if (!o.tag.empty()) {
        tags.push_back(o.tag);
    }
    auto img = store.commit_image(m->str(), tags);
    if (!img) {
        return std::move(img).error().wrap("import");
    }
    return img;
}

Result<void> save_archive(ImageStore& store, const std::vector<std::string>& refs, int fd) {
    struct Saved {
        Image image;
        std::vector<std::string> tags;  // qualified
    };
    std::vector<Saved> saved;
    std::map<std::string, size_t> by_id;
    for (const auto& r : refs) {
        auto img = store.resolve(r);
        if (!img) {
            return std::move(img).error().wrap("save");
        }
        std::string tag;
        if (auto ref = parse_reference(r); ref && !ref->tag.empty()) {
            for (const auto& t : img->repo_tags) {
                if (t == ref->name_tag()) {
                    tag = t;
                }
            }
        }
        auto it = by_id.find(img->id);
        if (it == by_id.end()) {
            by_id[img->id] = saved.size();
            saved.push_back({std::move(*img), {}});
            it = by_id.find(saved.back().image.id);
        }
        auto& tags = saved[it->second].tags;
        if (!tag.empty() && std::find(tags.begin(), tags.end(), tag) == tags.end()) {
            tags.push_back(tag);
        }
    }
    auto tw = TarWriter::open([fd](std::string_view d) { return write_fd(fd, d); });
    if (!tw) {
        return std::move(tw).error();
    }
    std::set<std::string> written;
    auto put_small = [&](const std::string& digest, const std::string& data) -> Result<void> {
        if (!written.insert(digest).second) {
            return {};
        }
        return tw->file("blobs/sha256/" + std::string(Digest::parse(digest)->hex()), data, 0644);
    };
    auto put_file = [&](const std::string& digest, const std::filesystem::path& path,
                        int64_t size) -> Result<void> {
        if (!written.insert(digest).second) {
            return {};
        }
        TarWriter::Entry e;
        e.path = "blobs/sha256/" + std::string(Digest::parse(digest)->hex());
        e.type = S_IFREG;
        e.mode = 0644;
        e.size = size;
        if (auto r = tw->header(e); !r) {
            return r;
        }
        auto in = fs::open(path, O_RDONLY);
        if (!in) {
            return std::move(in).error();
        }
        std::string buf(1 << 20, '\0');
        int64_t left = size;
        while (left > 0) {
            ssize_t n = ::read(in->get(), buf.data(),
                               static_cast<size_t>(std::min<int64_t>(left, buf.size())));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return Error(Errc::internal, fmt::format("save: blob {} changed size", digest));
            }
            if (auto r = tw->data(std::string_view(buf.data(), static_cast<size_t>(n))); !r) {
                return r;
            }
            left -= n;
        }
        return {};
    };
    json index_manifests = json::array();
    json docker_manifest = json::array();
    for (const auto& s : saved) {
        auto mtext = store.read_blob(s.image.manifest_digest);
        if (!mtext) {
            return std::move(mtext).error().wrap("save");
        }
        auto m = parse_manifest(*mtext);
        if (!m) {
            return std::move(m).error().wrap("save");
        }
        json layers = json::array();
        json layer_paths = json::array();
        for (size_t i = 0; i < m->layers.size(); ++i) {
            const auto& l = m->layers[i];
            const std::string& diff_id = s.image.diff_ids.at(i);
            auto comp = sniff(store, l.digest);
            if (!comp) {
                return std::move(comp).error();
            }
            int64_t size = 0;
            if (*comp == Compression::none) {
                size = l.size;
                if (auto r = put_file(diff_id, store.blob_path(l.digest), size); !r) {
                    return std::move(r).error().wrap("save");
                }
            } else {
                // Archives carry uncompressed layers (what docker load and
                // podman load expect): decompress into a temp file first,
                // since a tar header needs the size up front.
                auto tmp = fs::TempDir::create(store.paths().tmp() / "images", "save-");
                if (!tmp) {
                    return std::move(tmp).error();
                }
                auto tpath = tmp->path() / "layer.tar";
                auto out = fs::open(tpath, O_WRONLY | O_CREAT | O_EXCL, 0600);
                auto in = fs::open(store.blob_path(l.digest), O_RDONLY);
                if (!out || !in) {
                    return Error(Errc::internal, fmt::format("save: open layer {}", l.digest));
                }
                auto stream = LayerStream::open(std::move(*in), UINT64_MAX, l.digest);
                if (!stream) {
                    return std::move(stream).error();
                }
                while (true) {
                    auto chunk = (*stream)->next();
                    if (!chunk) {
                        return std::move(chunk).error().wrap("save");
                    }
                    if (chunk->empty()) {
                        break;
                    }
                    if (auto r = write_fd(out->get(), *chunk); !r) {
                        return std::move(r).error().wrap("save");
                    }
                }
                auto got = (*stream)->finish();
                if (!got || *got != diff_id) {
                    return Error(Errc::internal,
                                 fmt::format("save: layer {} does not match its diff id {}",
                                             l.digest, diff_id));
                }
                size = static_cast<int64_t>((*stream)->total());
                if (auto r = put_file(diff_id, tpath, size); !r) {
                    return std::move(r).error().wrap("save");
                }
            }
            layers.push_back({{"mediaType", media::oci_layer}, {"digest", diff_id}, {"size", size}});
            layer_paths.push_back("blobs/sha256/" + std::string(Digest::parse(diff_id)->hex()));
        }
        auto ctext = store.read_blob(s.image.id);
        if (!ctext) {
            return std::move(ctext).error().wrap("save");
        }
        if (auto r = put_small(s.image.id, *ctext); !r) {
            return std::move(r).error().wrap("save");
        }
        json manifest = {{"schemaVersion", 2},
                         {"mediaType", media::oci_manifest},
                         {"config",
                          {{"mediaType", media::oci_config},
                           {"digest", s.image.id},
                           {"size", ctext->size()}}},
                         {"layers", layers}};
        std::string mdoc = manifest.dump();
        std::string mdigest = Digest::of(mdoc).str();
        if (auto r = put_small(mdigest, mdoc); !r) {
            return std::move(r).error().wrap("save");
        }
        json familiar_tags = json::array();
        for (const auto& t : s.tags) {
            familiar_tags.push_back(familiar(t));
            auto ref = parse_reference(t);
            index_manifests.push_back(
                {{"mediaType", media::oci_manifest},
                 {"digest", mdigest},
                 {"size", mdoc.size()},
                 {"annotations",
                  {{"io.containerd.image.name", t},
                   {"org.opencontainers.image.ref.name", ref ? ref->tag : std::string("latest")}}}});
        }
        if (s.tags.empty()) {
            index_manifests.push_back(
                {{"mediaType", media::oci_manifest}, {"digest", mdigest}, {"size", mdoc.size()}});
        }
        docker_manifest.push_back({{"Config", "blobs/sha256/" + std::string(Digest::parse(s.image.id)->hex())},
                                   {"RepoTags", s.tags.empty() ? json(nullptr) : familiar_tags},
                                   {"Layers", layer_paths}});
    }
    json index = {{"schemaVersion", 2},
                  {"mediaType", media::oci_index},
                  {"manifests", index_manifests}};
    if (auto r = tw->file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})", 0644); !r) {
        return r;
    }
    if (auto r = tw->file("index.json", index.dump(), 0644); !r) {
        return r;
    }
    if (auto r = tw->file("manifest.json", docker_manifest.dump(), 0644); !r) {
        return r;
    }
    return tw->close();
}

}  // namespace berth::engine::images
