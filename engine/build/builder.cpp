// SPDX-License-Identifier: Apache-2.0
#include "engine/build/builder.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <set>

#include "common/digest.hpp"
#include "common/duration.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "engine/build/dockerfile.hpp"
#include "engine/build/dockerignore.hpp"
#include "engine/build/layer_writer.hpp"
#include "engine/build/source_fs.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/store.hpp"
#include "engine/images/layer.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/store.hpp"

namespace berth::engine::build {

namespace stdfs = std::filesystem;
namespace im = engine::images;
namespace ec = engine::containers;
using json = nlohmann::json;

namespace {

std::string now_rfc3339() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    ::gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:09d}Z", buf, ts.tv_nsec);
}

/// The ARGs Docker predefines: usable without an ARG line, never recorded in
/// history or the cache key.
const std::set<std::string>& proxy_args() {
    static const std::set<std::string> s{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                         "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                         "ALL_PROXY",  "all_proxy"};
    return s;
}

/// The build cache index: step key -> step image id.
class CacheIndex {
public:
    explicit CacheIndex(const Paths& paths)
        : file_(paths.root / "builder" / "cache.json"), lock_(paths.locks() / "builder.lock") {}

    std::optional<std::string> get(const std::string& key) {
        if (!loaded_) {
            auto j = read_json(file_);
            table_ = j ? *j : json::object();
            if (!table_.is_object()) {
                table_ = json::object();
            }
            loaded_ = true;
        }
        auto it = table_.find(key);
        if (it == table_.end() || !it->is_string()) {
            return std::nullopt;
        }
        return it->get<std::string>();
    }

    Result<void> put(const std::string& key, const std::string& image_id) {
        if (auto r = fs::make_dirs(file_.parent_path(), 0700); !r) {
            return r;
        }
        if (auto r = fs::make_dirs(lock_.parent_path(), 0700); !r) {
            return r;
        }
        auto lock = fs::FileLock::acquire(lock_);
        if (!lock) {
            return std::move(lock).error();
        }
        auto j = read_json(file_);
        json t = j && j->is_object() ? *j : json::object();
        t[key] = image_id;
        table_ = t;
        loaded_ = true;
        return write_json(file_, t, -1, 0600, fs::Durability::process_crash);
    }

private:
    stdfs::path file_;
    stdfs::path lock_;
    json table_;
    bool loaded_ = false;
};

/// The state of a stage between steps.
struct State {
    json doc = json::object();            ///< the whole image config document
    std::string image_id;                  ///< "" before the first step of FROM scratch
    std::vector<stdfs::path> layers;       ///< snapshot dirs, bottom first
    std::vector<json> layer_descs;         ///< manifest layer descriptors, bottom first
    std::map<std::string, std::string> args;  ///< declared ARGs with a value
    std::set<std::string> declared;        ///< declared ARG names (with or without value)
    std::vector<std::string> shell{"/bin/sh", "-c"};
    bool cmd_set = false;                  ///< CMD given in this stage
    std::string base_key;                  ///< cache identity of the base
};

json& config_of(State& s) {
    if (!s.doc.contains("config") || !s.doc["config"].is_object()) {
        s.doc["config"] = json::object();
    }
    return s.doc["config"];
}

std::vector<std::string> env_of(const State& s) {
    std::vector<std::string> out;
    if (s.doc.contains("config") && s.doc["config"].is_object()) {
        const auto& c = s.doc["config"];
        if (c.contains("Env") && c["Env"].is_array()) {
            for (const auto& e : c["Env"]) {
                if (e.is_string()) {
                    out.push_back(e.get<std::string>());
                }
            }
        }
    }
    return out;
}

std::optional<std::string> env_get(const State& s, std::string_view name) {
    for (const auto& e : env_of(s)) {
        auto eq = e.find('=');
        if (eq != std::string::npos && std::string_view(e).substr(0, eq) == name) {
            return e.substr(eq + 1);
        }
    }
    return std::nullopt;
}

void env_set(State& s, const std::string& name, const std::string& value) {
    auto env = env_of(s);
    bool replaced = false;
    for (auto& e : env) {
        auto eq = e.find('=');
        if (eq != std::string::npos && e.substr(0, eq) == name) {
            e = name + "=" + value;
            replaced = true;
        }
    }
    if (!replaced) {
        env.push_back(name + "=" + value);
    }
    config_of(s)["Env"] = env;
}

std::string join_words(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) {
            out += ' ';
        }
        out += s;
    }
    return out;
}

std::string parent_of(const std::string& rel) {
    auto slash = rel.rfind('/');
    return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string base_name(const std::string& rel) {
    auto slash = rel.rfind('/');
    return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

/// Numeric id or a name looked up in an /etc/passwd or /etc/group text.
std::optional<unsigned> lookup_id(const std::string& name, const std::optional<std::string>& db,
                                  int id_field, unsigned* primary_gid = nullptr) {
    if (!name.empty() && std::all_of(name.begin(), name.end(),
                                     [](char c) { return c >= '0' && c <= '9'; })) {
        return static_cast<unsigned>(std::stoul(name));
    }
    if (!db) {
        return std::nullopt;
    }
    size_t pos = 0;
    while (pos < db->size()) {
        size_t end = db->find('\n', pos);
        if (end == std::string::npos) {
            end = db->size();
        }
        std::string line = db->substr(pos, end - pos);
        pos = end + 1;
        std::vector<std::string> f;
        size_t s = 0;
        for (;;) {
            size_t c = line.find(':', s);
            f.push_back(line.substr(s, c == std::string::npos ? std::string::npos : c - s));
            if (c == std::string::npos) {
                break;
            }
            s = c + 1;
        }
        if (f.size() > static_cast<size_t>(id_field) && f[0] == name) {
            try {
                if (primary_gid != nullptr && f.size() > 3) {
                    *primary_gid = static_cast<unsigned>(std::stoul(f[3]));
                }
                return static_cast<unsigned>(std::stoul(f[static_cast<size_t>(id_field)]));
            } catch (...) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

size_t curl_append(char* data, size_t size, size_t n, void* ud) {
    auto* out = static_cast<std::string*>(ud);
    if (out->size() + size * n > (size_t{1} << 30)) {
        return 0;  // 1 GiB at most
    }
    out->append(data, size * n);
    return size * n;
}

Result<std::string> download(const std::string& url) {
    std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) {
        return Error(Errc::internal, "curl_easy_init");
    }
    std::string body;
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, curl_append);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(c.get());
    if (rc != CURLE_OK) {
        return Error(Errc::unavailable, fmt::format("download {}: {}", url, curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status >= 400) {
        return Error(Errc::unavailable, fmt::format("download {}: HTTP {}", url, status));
    }
    return body;
}

bool is_url(const std::string& s) {
    return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

class Builder {
public:
    Builder(const Paths& paths, const BuildOptions& opts, const BuildOutput& out)
        : paths_(paths), opts_(opts), out_(out), cache_(paths) {}

    Result<BuildResult> run();

private:
    // ---- setup
    Result<void> load();
    Result<size_t> target_index() const;
    /// The earlier stages `stage` reads from (FROM, COPY --from, RUN --mount from=).
    std::set<size_t> stage_deps(size_t stage) const;
    void count_steps(size_t stage, std::set<size_t>& seen);
    /// The stage whose instruction runs now: the innermost one being built,
    /// which is the lowest index (a stage only reads from earlier ones).
    size_t current_stage() const;
    std::optional<size_t> stage_by_name(const std::string& name, size_t before) const;

    // ---- stages and steps
    Result<State> build_stage(size_t index);
    Result<void> step(State& s, const Instruction& inst, size_t stage);
    Error at(const Instruction& inst, const Error& e) const {
        return Error(e.code(), fmt::format("{}:{}: {}", df_.path, inst.line, e.message()),
                     e.sys_errno());
    }
    Error at(int line, Errc code, const std::string& msg) const {
        return Error(code, fmt::format("{}:{}: {}", df_.path, line, msg));
    }
    VarLookup lookup(const State& s) const {
        return [&s](std::string_view name) -> std::optional<std::string> {
            if (auto v = env_get(s, name)) {
                return v;
            }
            auto it = s.args.find(std::string(name));
            if (it != s.args.end()) {
                return it->second;
            }
            return std::nullopt;
        };
    }
    /// Runs a step with the cache: when `key` is cached, adopts that image;
    /// otherwise calls `make` (which must commit).
    Result<void> cached_step(State& s, const std::string& key,
                             const std::function<Result<void>()>& make);
    Result<void> adopt(State& s, const std::string& image_id);
    Result<void> commit(State& s, const std::string& created_by,
                        const std::optional<LayerBlob>& layer, const std::string& key);
    std::string step_key(const State& s, const Instruction& inst, const std::string& extra) const;

    // ---- instructions
    Result<void> do_from(State& s, size_t stage);
    Result<void> do_run(State& s, const Instruction& inst);
    Result<void> do_copy(State& s, const Instruction& inst, bool add);
    Result<void> do_workdir(State& s, const Instruction& inst);
    Result<void> do_metadata(State& s, const Instruction& inst);
    /// The snapshot dirs of a build stage (name or index, built if needed) or
    /// of a local image; `identity` receives its image id for the cache key.
    Result<std::vector<stdfs::path>> source_layers(const std::string& from, int line,
                                                   std::string* identity);

    const Paths& paths_;
    const BuildOptions& opts_;
    const BuildOutput& out_;
    CacheIndex cache_;
    std::optional<im::ImageStore> store_;
    Dockerfile df_;
    std::unique_ptr<SourceFs> context_;
    std::optional<DockerIgnore> ignore_;
    std::map<std::string, std::string> meta_;  ///< global-scope ARG values
    std::set<std::string> consumed_;
    std::map<size_t, State> built_;
    std::set<size_t> building_;
    int step_ = 0;
    int total_ = 0;
    int cached_ = 0;
    std::string stage_label_;
};

Result<void> Builder::load() {
    auto store = im::ImageStore::open(paths_);
    if (!store) {
        return std::move(store).error();
    }
    store_.emplace(std::move(*store));
    std::string text;
    std::string shown;
    if (opts_.dockerfile_inline) {
        text = *opts_.dockerfile_inline;
        shown = "Dockerfile";
    } else {
        stdfs::path p = opts_.dockerfile.empty() ? opts_.context / "Dockerfile" : opts_.dockerfile;
        if (p.is_relative() && !opts_.dockerfile.empty() && !stdfs::exists(p)) {
            p = opts_.context / p;
        }
        auto t = fs::read_file(p);
        if (!t) {
            return Error(Errc::not_found,
                         fmt::format("failed to read dockerfile: open {}: no such file or directory",
                                     p.native()));
        }
        text = std::move(*t);
        shown = p.native();
    }
    auto df = parse_dockerfile(text, shown);
    if (!df) {
        return std::move(df).error();
    }
    df_ = std::move(*df);
    auto ctx = open_directory(opts_.context);
    if (!ctx) {
        return std::move(ctx).error().wrap("build context");
    }
    context_ = std::move(*ctx);
    auto ignore_text = context_->read_small(".dockerignore");
    if (!ignore_text) {
        return std::move(ignore_text).error();
    }
    if (*ignore_text) {
        auto di = DockerIgnore::parse(**ignore_text, (opts_.context / ".dockerignore").native());
        if (!di) {
            return std::move(di).error();
        }
        ignore_.emplace(std::move(*di));
    }
    if (!opts_.platform.empty()) {
        auto want = im::parse_platform(opts_.platform);
        if (!want) {
            return std::move(want).error();
        }
        auto host = im::host_platform();
        if (want->os != host.os || want->architecture != host.architecture) {
            return Error(Errc::unsupported,
                         fmt::format("--platform {}: berth builds only for the host platform {}",
                                     opts_.platform, host.str()));
        }
    }
    // The global scope: ARGs before the first FROM, and the platform ARGs.
    auto host = im::host_platform();
    std::string plat = host.os + "/" + host.architecture +
                       (host.variant.empty() ? "" : "/" + host.variant);
    for (const auto& [k, v] : std::map<std::string, std::string>{
             {"TARGETPLATFORM", plat}, {"TARGETOS", host.os},
             {"TARGETARCH", host.architecture}, {"TARGETVARIANT", host.variant},
             {"BUILDPLATFORM", plat}, {"BUILDOS", host.os}, {"BUILDARCH", host.architecture},
             {"BUILDVARIANT", host.variant}}) {
        meta_[k] = v;
    }
    for (const auto& inst : df_.meta_args) {
        auto kvs = parse_key_values(inst, [this](std::string_view n) -> std::optional<std::string> {
            auto it = meta_.find(std::string(n));
            return it == meta_.end() ? std::nullopt : std::optional<std::string>(it->second);
        }, df_.escape);
        if (!kvs) {
            return at(inst, kvs.error());
        }
        for (const auto& kv : *kvs) {
            auto ba = opts_.build_args.find(kv.key);
            if (ba != opts_.build_args.end()) {
                meta_[kv.key] = ba->second;
                consumed_.insert(kv.key);
            } else if (kv.value) {
                meta_[kv.key] = *kv.value;
            }
        }
    }
    return {};
}

std::optional<size_t> Builder::stage_by_name(const std::string& name, size_t before) const {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (size_t i = 0; i < before && i < df_.stages.size(); ++i) {
        if (!df_.stages[i].name.empty() && df_.stages[i].name == lower) {
            return i;
        }
    }
    if (!name.empty() && std::all_of(name.begin(), name.end(),
                                     [](char c) { return c >= '0' && c <= '9'; })) {
        size_t i = std::stoul(name);
        if (i < before && i < df_.stages.size()) {
            return i;
        }
    }
    return std::nullopt;
}

Result<size_t> Builder::target_index() const {
    if (opts_.target.empty()) {
        return df_.stages.size() - 1;
    }
    auto i = stage_by_name(opts_.target, df_.stages.size());
    if (!i) {
        return Error(Errc::invalid_argument,
                     fmt::format("failed to reach build target {} in Dockerfile", opts_.target));
    }
    return *i;
}

std::set<size_t> Builder::stage_deps(size_t stage) const {
    std::set<size_t> deps;
    const Stage& st = df_.stages[stage];
    if (auto dep = stage_by_name(st.base, stage)) {
        deps.insert(*dep);
    }
    for (const auto& inst : st.body) {
        for (const auto& f : inst.flags) {
            std::string from;
            if (f.name == "from") {
                from = f.value;
            } else if (f.name == "mount") {
                auto pos = f.value.find("from=");
                if (pos != std::string::npos) {
                    from = f.value.substr(pos + 5, f.value.find(',', pos) - pos - 5);
                }
            }
            if (!from.empty()) {
                if (auto dep = stage_by_name(from, stage)) {
                    deps.insert(*dep);
                }
            }
        }
    }
    return deps;
}

void Builder::count_steps(size_t stage, std::set<size_t>& seen) {
    if (!seen.insert(stage).second) {
        return;
    }
    total_ += 1 + static_cast<int>(df_.stages[stage].body.size());
    for (size_t dep : stage_deps(stage)) {
        count_steps(dep, seen);
    }
}

Result<BuildResult> Builder::run() {
    if (auto r = load(); !r) {
        return std::move(r).error();
    }
    auto target = target_index();
    if (!target) {
        return std::move(target).error();
    }
    std::set<size_t> needed;
    count_steps(*target, needed);
    auto result = build_stage(*target);
    if (!result) {
        return std::move(result).error();
    }
    State& s = *result;
    if (!opts_.labels.empty()) {
        ++total_;
        ++step_;
        if (out_.step) {
            out_.step("", step_, total_, "LABEL (--label)");
        }
        auto started = std::chrono::steady_clock::now();
        json key = json::object();
        for (const auto& [k, v] : opts_.labels) {
            key[k] = v;
        }
        std::string k = Digest::of(s.image_id + "\nlabels " + key.dump()).str();
        auto r = cached_step(s, k, [&]() -> Result<void> {
            auto& cfg = config_of(s);
            if (!cfg.contains("Labels") || !cfg["Labels"].is_object()) {
                cfg["Labels"] = json::object();
            }
            for (const auto& [lk, lv] : opts_.labels) {
                cfg["Labels"][lk] = lv;
            }
            return commit(s, "LABEL " + key.dump(), std::nullopt, k);
        });
        if (!r) {
            return std::move(r).error();
        }
        if (out_.step_done) {
            out_.step_done(false, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started));
        }
    }
    if (s.image_id.empty()) {
        // FROM scratch and nothing else: an empty image, as Docker builds it.
        auto r = commit(s, "", std::nullopt, {});
        if (!r) {
            return std::move(r).error();
        }
    }
    std::vector<std::string> unused;
    for (const auto& [k, v] : opts_.build_args) {
        (void)v;
        if (consumed_.count(k) == 0 && proxy_args().count(k) == 0) {
            unused.push_back(k);
        }
    }
    if (!unused.empty() && out_.warn) {
        out_.warn(fmt::format("[Warning] One or more build-args [{}] were not consumed",
                              join_words(unused)));
    }
    // The final image: tagged, and no longer intermediate.
    auto img = store_->find(s.image_id);
    if (!img) {
        return std::move(img).error();
    }
    bool retag = img->intermediate;
    for (const auto& t : opts_.tags) {
        auto ref = im::parse_reference(t);
        if (!ref) {
            return std::move(ref).error().wrap("tag");
        }
        if (std::find(img->repo_tags.begin(), img->repo_tags.end(), ref->name_tag()) ==
            img->repo_tags.end()) {
            retag = true;
        }
    }
    if (retag) {
        auto c = store_->commit_image(img->manifest_digest, opts_.tags, {}, false);
        if (!c) {
            return std::move(c).error();
        }
    }
    BuildResult out;
    out.image_id = s.image_id;
    out.steps = step_;
    out.cached = cached_;
    return out;
}

// ---------------------------------------------------------------- steps

Result<void> Builder::adopt(State& s, const std::string& image_id) {
    auto img = store_->find(image_id);
    if (!img) {
        return std::move(img).error();
    }
    auto mtext = store_->read_blob(img->manifest_digest);
    if (!mtext) {
        return std::move(mtext).error();
    }
    auto m = json::parse(*mtext, nullptr, false);
    if (m.is_discarded() || !m.contains("layers")) {
        return Error(Errc::internal, fmt::format("image {}: unreadable manifest", image_id));
    }
    s.layer_descs.clear();
    for (const auto& l : m["layers"]) {
        s.layer_descs.push_back(l);
    }
    s.doc = img->raw_config;
    s.image_id = img->id;
    s.layers = img->layers;
    return {};
}

Result<void> Builder::commit(State& s, const std::string& created_by,
                             const std::optional<LayerBlob>& layer, const std::string& key) {
    std::string now = now_rfc3339();
    auto host = im::host_platform();
    if (!s.doc.contains("architecture")) {
        s.doc["architecture"] = host.architecture;
        s.doc["os"] = host.os;
        if (!host.variant.empty()) {
            s.doc["variant"] = host.variant;
        }
    }
    s.doc["created"] = now;
    if (!s.doc.contains("rootfs") || !s.doc["rootfs"].is_object()) {
        s.doc["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
    }
    if (!s.doc.contains("history") || !s.doc["history"].is_array()) {
        s.doc["history"] = json::array();
    }
    if (!created_by.empty()) {
        json h = {{"created", now},
                  {"created_by", created_by},
                  {"comment", "buildkit.dockerfile.v0"}};
        if (!layer) {
            h["empty_layer"] = true;
        }
        s.doc["history"].push_back(h);
    }
    if (layer) {
        s.doc["rootfs"]["diff_ids"].push_back(layer->digest);
        s.layer_descs.push_back({{"mediaType", im::media::oci_layer},
                                 {"digest", layer->digest},
                                 {"size", layer->size}});
    }
    config_of(s);
    std::string ctext = s.doc.dump();
    auto c = store_->put_blob(ctext);
    if (!c) {
        return std::move(c).error();
    }
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", im::media::oci_manifest},
                     {"config",
                      {{"mediaType", im::media::oci_config},
                       {"digest", c->str()},
                       {"size", ctext.size()}}},
                     {"layers", s.layer_descs}};
    auto m = store_->put_blob(manifest.dump());
    if (!m) {
        return std::move(m).error();
    }
    auto img = store_->commit_image(m->str(), {}, {}, true);
    if (!img) {
        return std::move(img).error();
    }
    s.image_id = img->id;
    s.layers = img->layers;
    // A --no-cache build still records its steps, as Docker's does: the next
    // build without the flag reuses them.
    if (!key.empty()) {
        if (auto r = cache_.put(key, s.image_id); !r) {
            log::engine().warn("build cache: {}", r.error().message());
        }
    }
    return {};
}

std::string Builder::step_key(const State& s, const Instruction& inst,
                              const std::string& extra) const {
    json k = json::object();
    k["parent"] = s.image_id.empty() ? s.base_key : s.image_id;
    k["instruction"] = inst.original;
    json heredocs = json::array();
    for (const auto& h : inst.heredocs) {
        heredocs.push_back({h.name, h.content, h.expand});
    }
    k["heredocs"] = heredocs;
    json args = json::object();
    for (const auto& [n, v] : s.args) {
        if (proxy_args().count(n) == 0) {
            args[n] = v;
        }
    }
    k["args"] = args;
    k["shell"] = s.shell;
    k["extra"] = extra;
    k["network"] = opts_.network;
    return Digest::of(k.dump()).str();
}

Result<void> Builder::cached_step(State& s, const std::string& key,
                                  const std::function<Result<void>()>& make) {
    if (!opts_.no_cache) {
        // A hit whose image was pruned since is a miss.
        if (auto hit = cache_.get(key); hit && adopt(s, *hit)) {
            ++cached_;
            if (out_.step_done) {
                out_.step_done(true, std::chrono::milliseconds(0));
            }
            return {};
        }
    }
    auto started = std::chrono::steady_clock::now();
    if (auto r = make(); !r) {
        return r;
    }
    if (out_.step_done) {
        out_.step_done(false, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started));
    }
    return {};
}

Result<State> Builder::build_stage(size_t index) {
    if (auto it = built_.find(index); it != built_.end()) {
        return it->second;
    }
    if (!building_.insert(index).second) {
        return at(df_.stages[index].line, Errc::invalid_argument,
                  "circular dependency between build stages");
    }
    std::string saved_label = stage_label_;
    // The stages this one reads from are built first, so that the steps of
    // each stage print together.
    for (size_t d : stage_deps(index)) {
        if (built_.count(d) == 0 && building_.count(d) == 0) {
            auto r = build_stage(d);
            if (!r) {
                return std::move(r).error();
            }
        }
    }
    State s;
    if (auto r = do_from(s, index); !r) {
        return std::move(r).error();
    }
    for (const auto& inst : df_.stages[index].body) {
        if (auto r = step(s, inst, index); !r) {
            return std::move(r).error();
        }
    }
    building_.erase(index);
    built_[index] = s;
    stage_label_ = saved_label;
    return s;
}

Result<void> Builder::do_from(State& s, size_t index) {
    const Stage& st = df_.stages[index];
    stage_label_ = st.name.empty() ? fmt::format("stage-{}", index) : st.name;
    ++step_;
    if (out_.step) {
        out_.step(stage_label_, step_, total_, st.original);
    }
    auto started = std::chrono::steady_clock::now();
    auto meta_lookup = [this](std::string_view n) -> std::optional<std::string> {
        auto it = meta_.find(std::string(n));
        return it == meta_.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto base = expand_word(st.base, meta_lookup, df_.escape);
    if (!base) {
        return at(st.line, Errc::invalid_argument, base.error().message());
    }
    if (!st.platform.empty()) {
        auto plat = expand_word(st.platform, meta_lookup, df_.escape);
        if (!plat) {
            return at(st.line, Errc::invalid_argument, plat.error().message());
        }
        auto want = im::parse_platform(*plat);
        auto host = im::host_platform();
        if (!want || want->os != host.os || want->architecture != host.architecture) {
            return at(st.line, Errc::unsupported,
                      fmt::format("FROM --platform={}: berth builds only for the host platform {}",
                                  *plat, host.str()));
        }
    }
    if (base->empty()) {
        return at(st.line, Errc::invalid_argument, "FROM requires an image name");
    }
    if (auto dep = stage_by_name(*base, index)) {
        auto r = build_stage(*dep);
        if (!r) {
            return std::move(r).error();
        }
        State prev = *r;
        s.doc = prev.doc;
        s.image_id = prev.image_id;
        s.layers = prev.layers;
        s.layer_descs = prev.layer_descs;
        s.base_key = prev.image_id.empty() ? "scratch" : prev.image_id;
    } else if (*base == "scratch") {
        s.base_key = "scratch";
    } else {
        auto img = store_->resolve(*base);
        if (!img) {
            if (img.error().code() == Errc::not_found) {
                return at(st.line, Errc::not_found,
                          fmt::format("base image \"{}\" not found locally (berth does not pull "
                                      "during a build: run `berth pull {}` first)",
                                      *base, *base));
            }
            return at(st.line, img.error().code(), img.error().message());
        }
        if (auto r = adopt(s, img->id); !r) {
            return at(st.line, r.error().code(), r.error().message());
        }
        s.base_key = img->id;
    }
    // Shell from the base image config.
    if (s.doc.contains("config") && s.doc["config"].is_object() &&
        s.doc["config"].contains("Shell") && s.doc["config"]["Shell"].is_array()) {
        s.shell.clear();
        for (const auto& x : s.doc["config"]["Shell"]) {
            s.shell.push_back(x.get<std::string>());
        }
    }
    if (out_.step_done) {
        out_.step_done(false, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started));
    }
    // ONBUILD triggers of the base run first, then are dropped from the config.
    if (s.doc.contains("config") && s.doc["config"].is_object() &&
        s.doc["config"].contains("OnBuild") && s.doc["config"]["OnBuild"].is_array()) {
        std::vector<std::string> triggers;
        for (const auto& t : s.doc["config"]["OnBuild"]) {
            if (t.is_string()) {
                triggers.push_back(t.get<std::string>());
            }
        }
        config_of(s).erase("OnBuild");
        for (const auto& t : triggers) {
            auto parsed = parse_dockerfile("FROM scratch\n" + t + "\n", df_.path + " (ONBUILD)");
            if (!parsed) {
                return at(st.line, Errc::invalid_argument,
                          "ONBUILD trigger of the base image: " + parsed.error().message());
            }
            for (auto inst : parsed->stages.front().body) {
                inst.line = st.line;
                total_ += 1;
                if (auto r = step(s, inst, index); !r) {
                    return r;
                }
            }
        }
    }
    return {};
}

Result<void> Builder::step(State& s, const Instruction& inst, size_t stage) {
    (void)stage;
    ++step_;
    if (out_.step) {
        out_.step(stage_label_, step_, total_, inst.original);
    }
    switch (inst.keyword) {
    case Keyword::run:
        return do_run(s, inst);
    case Keyword::copy:
        return do_copy(s, inst, false);
    case Keyword::add:
        return do_copy(s, inst, true);
    case Keyword::workdir:
        return do_workdir(s, inst);
    case Keyword::arg: {
        if (auto f = check_flags(inst, {}); !f) {
            return at(inst, f.error());
        }
        auto kvs = parse_key_values(inst, lookup(s), df_.escape);
        if (!kvs) {
            return at(inst, kvs.error());
        }
        for (const auto& kv : *kvs) {
            s.declared.insert(kv.key);
            auto ba = opts_.build_args.find(kv.key);
            if (ba != opts_.build_args.end()) {
                s.args[kv.key] = ba->second;
                consumed_.insert(kv.key);
            } else if (kv.value) {
                s.args[kv.key] = *kv.value;
            } else if (auto m = meta_.find(kv.key); m != meta_.end()) {
                s.args[kv.key] = m->second;
            }
        }
        if (out_.step_done) {
            out_.step_done(false, std::chrono::milliseconds(0));
        }
        return {};
    }
    default:
        return do_metadata(s, inst);
    }
}

Result<void> Builder::do_metadata(State& s, const Instruction& inst) {
    std::vector<std::string_view> allowed;
    if (inst.keyword == Keyword::healthcheck) {
        allowed = {"interval", "timeout", "start-period", "start-interval", "retries"};
    }
    auto flags = check_flags(inst, allowed);
    if (!flags) {
        return at(inst, flags.error());
    }
    auto lk = lookup(s);
    std::string key = step_key(s, inst, "");
    // Everything is evaluated before the cache lookup so that bad input fails
    // the same way cached or not.
    State next = s;
    auto& cfg = config_of(next);
    std::string created_by = inst.original;
    auto exec_or_shell = [&](const Instruction& i) -> json {
        if (i.exec) {
            return *i.exec;
        }
        std::vector<std::string> v = s.shell;
        v.push_back(i.text);
        return v;
    };
    switch (inst.keyword) {
    case Keyword::env: {
        auto kvs = parse_key_values(inst, lk, df_.escape);
        if (!kvs) {
            return at(inst, kvs.error());
        }
        for (const auto& kv : *kvs) {
            env_set(next, kv.key, kv.value.value_or(""));
        }
        break;
    }
    case Keyword::label: {
        auto kvs = parse_key_values(inst, lk, df_.escape);
        if (!kvs) {
            return at(inst, kvs.error());
        }
        if (!cfg.contains("Labels") || !cfg["Labels"].is_object()) {
            cfg["Labels"] = json::object();
        }
        for (const auto& kv : *kvs) {
            cfg["Labels"][kv.key] = kv.value.value_or("");
        }
        break;
    }
    case Keyword::maintainer: {
        auto v = expand_word(inst.text, lk, df_.escape);
        next.doc["author"] = v ? *v : inst.text;
        break;
    }
    case Keyword::expose: {
        auto words = split_words(inst.text, lk, df_.escape);
        if (!words) {
            return at(inst, words.error());
        }
        if (!cfg.contains("ExposedPorts") || !cfg["ExposedPorts"].is_object()) {
            cfg["ExposedPorts"] = json::object();
        }
        for (auto w : *words) {
            std::string proto = "tcp";
            auto slash = w.find('/');
            if (slash != std::string::npos) {
                proto = w.substr(slash + 1);
                w = w.substr(0, slash);
                std::transform(proto.begin(), proto.end(), proto.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            }
            if (proto != "tcp" && proto != "udp" && proto != "sctp") {
                return at(inst.line, Errc::invalid_argument,
                          fmt::format("EXPOSE: invalid protocol \"{}\"", proto));
            }
            auto dash = w.find('-');
            unsigned lo = 0;
            unsigned hi = 0;
            try {
                lo = static_cast<unsigned>(std::stoul(w.substr(0, dash)));
                hi = dash == std::string::npos ? lo : static_cast<unsigned>(std::stoul(w.substr(dash + 1)));
            } catch (...) {
                return at(inst.line, Errc::invalid_argument,
                          fmt::format("EXPOSE: invalid port \"{}\"", w));
            }
            if (lo == 0 || hi > 65535 || hi < lo) {
                return at(inst.line, Errc::invalid_argument,
                          fmt::format("EXPOSE: invalid port \"{}\"", w));
            }
            for (unsigned p = lo; p <= hi; ++p) {
                cfg["ExposedPorts"][fmt::format("{}/{}", p, proto)] = json::object();
            }
        }
        break;
    }
    case Keyword::volume: {
        std::vector<std::string> vols;
        if (inst.exec) {
            vols = *inst.exec;
        } else {
            auto words = split_words(inst.text, lk, df_.escape);
            if (!words) {
                return at(inst, words.error());
            }
            vols = *words;
        }
        if (!cfg.contains("Volumes") || !cfg["Volumes"].is_object()) {
            cfg["Volumes"] = json::object();
        }
        for (const auto& v : vols) {
            if (v.empty()) {
                return at(inst.line, Errc::invalid_argument, "VOLUME specified can not be an empty string");
            }
            cfg["Volumes"][v] = json::object();
        }
        break;
    }
    case Keyword::user: {
        auto v = expand_word(inst.text, lk, df_.escape);
        if (!v) {
            return at(inst, v.error());
        }
        cfg["User"] = *v;
        break;
    }
    case Keyword::stopsignal: {
        auto v = expand_word(inst.text, lk, df_.escape);
        if (!v) {
            return at(inst, v.error());
        }
        cfg["StopSignal"] = *v;
        break;
    }
    case Keyword::cmd:
        cfg["Cmd"] = exec_or_shell(inst);
        next.cmd_set = true;
        break;
    case Keyword::entrypoint:
        cfg["Entrypoint"] = exec_or_shell(inst);
        if (!s.cmd_set) {
            cfg["Cmd"] = nullptr;  // Docker: ENTRYPOINT resets a CMD inherited from the base
        }
        break;
    case Keyword::shell:
        if (!inst.exec || inst.exec->empty()) {
            return at(inst.line, Errc::invalid_argument,
                      "SHELL requires the arguments to be in JSON form");
        }
        next.shell = *inst.exec;
        cfg["Shell"] = *inst.exec;
        break;
    case Keyword::onbuild: {
        if (inst.onbuild.empty()) {
            return at(inst.line, Errc::invalid_argument, "ONBUILD requires an instruction");
        }
        if (!cfg.contains("OnBuild") || !cfg["OnBuild"].is_array()) {
            cfg["OnBuild"] = json::array();
        }
        cfg["OnBuild"].push_back(inst.onbuild.front().original);
        break;
    }
    case Keyword::healthcheck: {
        std::string text = inst.text;
        std::string upper = text.substr(0, 4);
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        json hc = json::object();
        if (upper == "NONE" && text.size() == 4) {
            if (!inst.flags.empty()) {
                return at(inst.line, Errc::invalid_argument, "HEALTHCHECK NONE takes no options");
            }
            hc["Test"] = json::array({"NONE"});
        } else if (upper == "CMD" || upper == "CMD ") {
            std::string rest = text.substr(3);
            rest.erase(0, rest.find_first_not_of(" \t"));
            if (rest.empty()) {
                return at(inst.line, Errc::invalid_argument, "HEALTHCHECK CMD requires a command");
            }
            auto arr = json::parse(rest, nullptr, false);
            if (!arr.is_discarded() && arr.is_array() &&
                std::all_of(arr.begin(), arr.end(), [](const json& x) { return x.is_string(); })) {
                json t = json::array({"CMD"});
                for (const auto& x : arr) {
                    t.push_back(x);
                }
                hc["Test"] = t;
            } else {
                hc["Test"] = json::array({"CMD-SHELL", rest});
            }
            for (const auto& [name, vals] : *flags) {
                const std::string& v = vals.back();
                if (name == "retries") {
                    try {
                        int n = std::stoi(v);
                        if (n < 0) {
                            throw std::invalid_argument("negative");
                        }
                        hc["Retries"] = n;
                    } catch (...) {
                        return at(inst.line, Errc::invalid_argument,
                                  fmt::format("HEALTHCHECK --retries: invalid value \"{}\"", v));
                    }
                    continue;
                }
                auto d = parse_go_duration(v);
                if (!d) {
                    return at(inst.line, Errc::invalid_argument,
                              fmt::format("HEALTHCHECK --{}: {}", name, d.error().message()));
                }
                static const std::map<std::string, std::string> keys{
                    {"interval", "Interval"}, {"timeout", "Timeout"},
                    {"start-period", "StartPeriod"}, {"start-interval", "StartInterval"}};
                hc[keys.at(name)] = *d;
            }
        } else {
            return at(inst.line, Errc::invalid_argument,
                      "HEALTHCHECK: expected NONE or CMD followed by a command");
        }
        cfg["Healthcheck"] = hc;
        break;
    }
    default:
        return at(inst.line, Errc::internal,
                  fmt::format("{}: not a metadata instruction", keyword_name(inst.keyword)));
    }
    bool cmd_set = next.cmd_set;
    auto r = cached_step(s, key, [&]() -> Result<void> {
        s = next;
        return commit(s, created_by, std::nullopt, key);
    });
    if (!r) {
        return at(inst, r.error());
    }
    s.cmd_set = cmd_set;
    if (inst.keyword == Keyword::shell) {
        s.shell = next.shell;
    }
    return {};
}

// ---------------------------------------------------------------- WORKDIR

Result<void> Builder::do_workdir(State& s, const Instruction& inst) {
    if (auto f = check_flags(inst, {}); !f) {
        return at(inst, f.error());
    }
    auto v = expand_word(inst.text, lookup(s), df_.escape);
    if (!v) {
        return at(inst, v.error());
    }
    std::string dir = *v;
    if (dir.empty()) {
        return at(inst.line, Errc::invalid_argument, "WORKDIR requires exactly one argument");
    }
    std::string cur = config_of(s).value("WorkingDir", std::string());
    if (dir[0] != '/') {
        dir = (cur.empty() ? std::string("/") : cur) + "/" + dir;
    }
    auto rel = clean_relative(dir);
    if (!rel) {
        return at(inst, rel.error());
    }
    std::string abs = "/" + *rel;
    std::string key = step_key(s, inst, abs);
    auto r = cached_step(s, key, [&]() -> Result<void> {
        config_of(s)["WorkingDir"] = abs;
        auto view = open_layers(s.layers);
        if (!view) {
            return std::move(view).error();
        }
        auto resolved = (*view)->resolve(*rel);
        bool exists = false;
        if (resolved) {
            auto st = (*view)->stat(*resolved);
            exists = st && S_ISDIR(st->st_mode);
        }
        if (exists || rel->empty()) {
            return commit(s, "WORKDIR " + abs, std::nullopt, key);
        }
        auto w = LayerWriter::open(*store_);
        if (!w) {
            return std::move(w).error();
        }
        std::string path;
        for (const auto& part : stdfs::path(*resolved)) {
            path = path.empty() ? part.string() : path + "/" + part.string();
            auto st = (*view)->stat(path);
            if (st && S_ISDIR(st->st_mode)) {
                if (auto d = w->add_dir(path, st->st_mode, st->st_uid, st->st_gid,
                                        st->st_mtim.tv_sec);
                    !d) {
                    return d;
                }
            } else if (auto d = w->add_dir(path, 0755, 0, 0, ::time(nullptr)); !d) {
                return d;
            }
        }
        auto blob = w->commit();
        if (!blob) {
            return std::move(blob).error();
        }
        return commit(s, "WORKDIR " + abs, *blob, key);
    });
    if (!r) {
        return at(inst, r.error());
    }
    return {};
}

// ---------------------------------------------------------------- COPY / ADD

size_t Builder::current_stage() const {
    return building_.empty() ? 0 : *building_.begin();
}

Result<std::vector<stdfs::path>> Builder::source_layers(const std::string& from, int line,
                                                        std::string* identity) {
    if (auto dep = stage_by_name(from, current_stage())) {
        auto r = build_stage(*dep);
        if (!r) {
            return std::move(r).error();
        }
        *identity = r->image_id.empty() ? "scratch" : r->image_id;
        return r->layers;
    }
    auto img = store_->resolve(from);
    if (!img) {
        return at(line, Errc::not_found,
                  fmt::format("--from={}: no build stage or local image by that name", from));
    }
    *identity = img->id;
    return img->layers;
}

Result<void> Builder::do_copy(State& s, const Instruction& inst, bool add) {
    std::vector<std::string_view> allowed{"chown", "chmod", "link", "exclude"};
    if (add) {
        allowed.insert(allowed.end(), {"checksum", "keep-git-dir"});
    } else {
        allowed.insert(allowed.end(), {"from", "parents"});
    }
    auto flags = check_flags(inst, allowed, {"exclude"});
    if (!flags) {
        return at(inst, flags.error());
    }
    for (const char* labs : {"exclude", "parents"}) {
        if (flags->count(labs) != 0) {
            return at(inst.line, Errc::unsupported,
                      fmt::format("{} --{} (a dockerfile labs feature) is not supported by berth",
                                  add ? "ADD" : "COPY", labs));
        }
    }
    auto flag = [&](const char* n) -> std::optional<std::string> {
        auto it = flags->find(n);
        if (it == flags->end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second.back();
    };
    const char* what = add ? "ADD" : "COPY";
    auto lk = lookup(s);
    std::vector<std::string> words;
    if (inst.exec) {
        for (const auto& w : *inst.exec) {
            auto e = expand_word(w, lk, df_.escape);
            if (!e) {
                return at(inst, e.error());
            }
            words.push_back(*e);
        }
    } else {
        auto w = split_words(inst.text, lk, df_.escape);
        if (!w) {
            return at(inst, w.error());
        }
        words = *w;
    }
    if (words.size() < 2) {
        return at(inst.line, Errc::invalid_argument,
                  fmt::format("{} requires at least two arguments, but only {} provided", what,
                              words.size()));
    }
    std::string dest = words.back();
    words.pop_back();
    std::string workdir = config_of(s).value("WorkingDir", std::string());
    bool dest_dir = !dest.empty() && (dest.back() == '/' || dest == "." ||
                                      (dest.size() >= 2 && dest.substr(dest.size() - 2) == "/."));
    std::string abs_dest = dest[0] == '/' ? dest : (workdir.empty() ? "/" : workdir) + "/" + dest;
    auto dest_rel = clean_relative(abs_dest);
    if (!dest_rel) {
        return at(inst, dest_rel.error());
    }
    // Sources: the context, a stage or image (--from), heredocs, URLs (ADD).
    std::string from_identity;
    std::unique_ptr<SourceFs> from_fs;
    if (auto from = flag("from")) {
        auto e = expand_word(*from, lk, df_.escape);
        if (!e) {
            return at(inst, e.error());
        }
        auto layers = source_layers(*e, inst.line, &from_identity);
        if (!layers) {
            return std::move(layers).error();
        }
        auto f = open_layers(*layers);
        if (!f) {
            return std::move(f).error();
        }
        from_fs = std::move(*f);
    }
    const SourceFs& src = from_fs ? *from_fs : *context_;
    std::function<bool(const std::string&)> excluded;
    if (!from_fs && ignore_) {
        excluded = [this](const std::string& p) { return ignore_->excluded(p); };
    }
    struct Item {
        enum class Kind { path, heredoc, url } kind = Kind::path;
        std::string path;  ///< source path, heredoc index or URL
        std::string content;  ///< heredoc text or downloaded bytes
    };
    std::vector<Item> items;
    Sha256 content_hash;
    size_t heredoc_i = 0;
    for (const auto& w : words) {
        if (w.rfind("<<", 0) == 0 && heredoc_i < inst.heredocs.size()) {
            const auto& h = inst.heredocs[heredoc_i++];
            std::string content = h.content;
            if (h.expand) {
                auto e = expand_word("\"" + content + "\"", lk, df_.escape);
                if (e) {
                    content = *e;
                }
            }
            items.push_back({Item::Kind::heredoc, h.name, content});
            content_hash.update("heredoc\n" + h.name + "\n" + content);
            continue;
        }
        if (add && is_url(w)) {
            auto body = download(w);
            if (!body) {
                return at(inst, body.error());
            }
            if (auto sum = flag("checksum")) {
                std::string got = Digest::of(*body).str();
                if (got != *sum) {
                    return at(inst.line, Errc::invalid_argument,
                              fmt::format("ADD {}: checksum mismatch: expected {}, got {}", w,
                                          *sum, got));
                }
            }
            items.push_back({Item::Kind::url, w, *body});
            content_hash.update("url\n" + w + "\n" + Digest::of(*body).str());
            continue;
        }
        auto matches = glob(src, w, excluded);
        if (!matches) {
            return at(inst, matches.error());
        }
        if (matches->empty()) {
            return at(inst.line, Errc::not_found,
                      fmt::format("{} failed: \"{}\": not found in {}", what, w,
                                  from_fs ? "--from source" :
                                            "the build context (or excluded by .dockerignore)"));
        }
        for (const auto& m : *matches) {
            // A top-level symlink in the context is followed (inside the context).
            std::string p = m;
            auto st = src.stat(p);
            if (st && S_ISLNK(st->st_mode)) {
                auto r = src.resolve(p);
                if (r && src.stat(*r)) {
                    p = *r;
                }
            }
            items.push_back({Item::Kind::path, p, {}});
        }
    }
    if (items.size() > 1 && !dest_dir) {
        return at(inst.line, Errc::invalid_argument,
                  fmt::format("When using {} with more than one source file, the destination "
                              "must be a directory and end with a /",
                              what));
    }
    // The content digest of every path read (names, modes, sizes, bytes).
    std::function<Result<void>(const std::string&)> hash_tree =
        [&](const std::string& p) -> Result<void> {
        auto st = src.stat(p);
        if (!st) {
            return {};
        }
        if (excluded && !p.empty() && excluded(p) && !S_ISDIR(st->st_mode)) {
            return {};
        }
        content_hash.update(fmt::format("{}\n{:o}\n{}\n", p, st->st_mode, st->st_size));
        if (S_ISDIR(st->st_mode)) {
            auto names = src.list(p);
            if (!names) {
                return std::move(names).error();
            }
            for (const auto& n : *names) {
                if (auto r = hash_tree(p.empty() ? n : p + "/" + n); !r) {
                    return r;
                }
            }
        } else if (S_ISLNK(st->st_mode)) {
            auto t = src.readlink(p);
            content_hash.update(t ? *t : std::string());
        } else if (S_ISREG(st->st_mode)) {
            auto fd = src.open(p);
            if (!fd) {
                return std::move(fd).error();
            }
            char buf[1 << 16];
            for (;;) {
                ssize_t n = ::read(fd->get(), buf, sizeof buf);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    break;
                }
                content_hash.update(std::string_view(buf, static_cast<size_t>(n)));
            }
        }
        return {};
    };
    if (from_fs) {
        content_hash.update("from " + from_identity);
        for (const auto& it : items) {
            content_hash.update("path " + it.path);
        }
    } else {
        for (const auto& it : items) {
            if (it.kind == Item::Kind::path) {
                if (auto r = hash_tree(it.path); !r) {
                    return at(inst, r.error());
                }
            }
        }
    }
    std::string digest = content_hash.finish().str();
    std::string key = step_key(s, inst, digest + "\n" + *dest_rel + "\n" + workdir);
    auto r = cached_step(s, key, [&]() -> Result<void> {
        auto view = open_layers(s.layers);
        if (!view) {
            return std::move(view).error();
        }
        // Ownership (--chown) from the image's own /etc/passwd and /etc/group.
        LayerWriter::Owner owner;
        if (auto chown = flag("chown")) {
            auto spec = expand_word(*chown, lk, df_.escape);
            if (!spec) {
                return std::move(spec).error();
            }
            auto colon = spec->find(':');
            std::string user = spec->substr(0, colon);
            std::string group = colon == std::string::npos ? std::string() : spec->substr(colon + 1);
            auto passwd = (*view)->read_small("etc/passwd");
            auto groupdb = (*view)->read_small("etc/group");
            unsigned primary = 0;
            auto uid = lookup_id(user, passwd ? *passwd : std::nullopt, 2, &primary);
            if (!uid) {
                return Error(Errc::invalid_argument,
                             fmt::format("--chown={}: unable to find user {}: no matching entries "
                                         "in passwd file", *spec, user));
            }
            owner.uid = *uid;
            owner.gid = *uid;  // Docker: a user without a group uses the same numeric id
            if (!group.empty()) {
                auto gid = lookup_id(group, groupdb ? *groupdb : std::nullopt, 2);
                if (!gid) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("--chown={}: unable to find group {}: no matching "
                                             "entries in group file", *spec, group));
                }
                owner.gid = *gid;
            }
        }
        if (auto chmod = flag("chmod")) {
            try {
                size_t used = 0;
                unsigned long m = std::stoul(*chmod, &used, 8);
                if (used != chmod->size() || m > 07777) {
                    throw std::invalid_argument("mode");
                }
                owner.mode = static_cast<mode_t>(m);
            } catch (...) {
                return Error(Errc::invalid_argument,
                             fmt::format("--chmod={}: invalid mode (octal expected)", *chmod));
            }
        }
        // The destination, with symlinks of the image resolved inside it.
        auto resolved = (*view)->resolve(*dest_rel);
        if (!resolved) {
            return std::move(resolved).error();
        }
        std::string target = *resolved;
        auto tst = (*view)->stat(target);
        bool into_dir = dest_dir || (tst && S_ISDIR(tst->st_mode));
        auto w = LayerWriter::open(*store_);
        if (!w) {
            return std::move(w).error();
        }
        auto parents = [&](const std::string& path) -> Result<void> {
            std::string acc;
            for (const auto& part : stdfs::path(path)) {
                acc = acc.empty() ? part.string() : acc + "/" + part.string();
                if (acc == path) {
                    break;
                }
                auto st = (*view)->stat(acc);
                Result<void> d = st && S_ISDIR(st->st_mode)
                                     ? w->add_dir(acc, st->st_mode, st->st_uid, st->st_gid,
                                                  st->st_mtim.tv_sec)
                                     : w->add_dir(acc, 0755, 0, 0, ::time(nullptr));
                if (!d) {
                    return d;
                }
            }
            return {};
        };
        auto ensure_dir = [&](const std::string& path) -> Result<void> {
            if (path.empty()) {
                return {};
            }
            if (auto p = parents(path); !p) {
                return p;
            }
            auto st = (*view)->stat(path);
            if (st && S_ISDIR(st->st_mode)) {
                // An existing destination directory keeps its metadata.
                return w->add_dir(path, st->st_mode, st->st_uid, st->st_gid,
                                  st->st_mtim.tv_sec);
            }
            // A new one is owned as --chown says; --chmod is for what is copied.
            return w->add_dir(path, 0755, owner.uid.value_or(0), owner.gid.value_or(0),
                              ::time(nullptr));
        };
        for (const auto& it : items) {
            if (it.kind != Item::Kind::path) {
                std::string name = it.kind == Item::Kind::heredoc
                                       ? it.path
                                       : base_name(stdfs::path(it.path.substr(0, it.path.find('?')))
                                                       .filename()
                                                       .string());
                if (name.empty()) {
                    name = "index.html";
                }
                std::string file = into_dir ? (target.empty() ? name : target + "/" + name) : target;
                if (into_dir) {
                    if (auto d = ensure_dir(target); !d) {
                        return d;
                    }
                } else if (auto p = parents(file); !p) {
                    return p;
                }
                mode_t mode = it.kind == Item::Kind::url ? 0600 : 0644;
                if (auto f = w->add_file(file, it.content, owner, mode); !f) {
                    return f;
                }
                continue;
            }
            auto st = src.stat(it.path);
            if (!st) {
                return Error(Errc::not_found, fmt::format("{}: not found", it.path));
            }
            if (S_ISDIR(st->st_mode)) {
                // A directory's contents are copied, not the directory itself.
                if (auto d = ensure_dir(target); !d) {
                    return d;
                }
                auto names = src.list(it.path);
                if (!names) {
                    return std::move(names).error();
                }
                for (const auto& n : *names) {
                    std::string from = it.path.empty() ? n : it.path + "/" + n;
                    if (excluded && excluded(from) &&
                        !(ignore_ && ignore_->may_include_below(from))) {
                        continue;
                    }
                    std::string to = target.empty() ? n : target + "/" + n;
                    if (auto t = w->add_tree(src, from, to, owner, excluded); !t) {
                        return t;
                    }
                }
                continue;
            }
            if (add && !from_fs && S_ISREG(st->st_mode)) {
                // A local tar archive is extracted into the destination directory.
                auto fd = src.open(it.path);
                if (!fd) {
                    return std::move(fd).error();
                }
                if (LayerWriter::is_archive(fd->get())) {
                    if (auto d = ensure_dir(target); !d) {
                        return d;
                    }
                    auto again = src.open(it.path);
                    if (!again) {
                        return std::move(again).error();
                    }
                    if (auto x = w->add_archive(again->get(), target, owner); !x) {
                        return std::move(x).error();
                    }
                    continue;
                }
            }
            std::string file = into_dir ? (target.empty() ? base_name(it.path)
                                                          : target + "/" + base_name(it.path))
                                        : target;
            if (into_dir) {
                if (auto d = ensure_dir(target); !d) {
                    return d;
                }
            } else if (auto p = parents(file); !p) {
                return p;
            }
            if (auto t = w->add_tree(src, it.path, file, owner, nullptr); !t) {
                return t;
            }
        }
        auto blob = w->commit();
        if (!blob) {
            return std::move(blob).error();
        }
        return commit(s, fmt::format("{} {} # buildkit", what, inst.text), *blob, key);
    });
    if (!r) {
        return at(inst, r.error());
    }
    return {};
}

// ---------------------------------------------------------------- RUN

/// True when `text` is a single heredoc marker ("<<EOF", "<<-'EOF'"): the
/// heredoc is then the script itself.
bool only_heredoc(const std::string& text) {
    std::string t = text;
    t.erase(0, t.find_first_not_of(" \t"));
    t.erase(t.find_last_not_of(" \t") + 1);
    return t.rfind("<<", 0) == 0 && t.find_first_of(" \t|;&><", 2) == std::string::npos;
}

Result<void> Builder::do_run(State& s, const Instruction& inst) {
    auto flags = check_flags(inst, {"mount", "network", "security"}, {"mount"});
    if (!flags) {
        return at(inst, flags.error());
    }
    std::string network = opts_.network;
    if (auto it = flags->find("network"); it != flags->end() && !it->second.empty()) {
        network = it->second.back();
        if (network != "default" && network != "none" && network != "host") {
            return at(inst.line, Errc::invalid_argument,
                      fmt::format("RUN --network={}: expected default, none or host", network));
        }
    }
    if (auto it = flags->find("security"); it != flags->end() && !it->second.empty()) {
        if (it->second.back() != "sandbox") {
            return at(inst.line, Errc::permission_denied,
                      "RUN --security=insecure is not allowed by berth");
        }
    }
    std::vector<RunMount> mounts;
    if (auto it = flags->find("mount"); it != flags->end()) {
        for (const auto& v : it->second) {
            auto e = expand_word(v, lookup(s), df_.escape);
            if (!e) {
                return at(inst, e.error());
            }
            auto m = parse_run_mount(*e);
            if (!m) {
                return at(inst.line, Errc::invalid_argument,
                          fmt::format("RUN --mount={}: {}", v, m.error().message()));
            }
            mounts.push_back(*m);
        }
    }
    std::vector<std::string> args;
    if (inst.exec) {
        args = *inst.exec;
    } else if (!inst.heredocs.empty() && only_heredoc(inst.text)) {
        args = s.shell;
        args.push_back(inst.heredocs.front().content);
    } else {
        std::string script = inst.text;
        for (const auto& h : inst.heredocs) {
            script += "\n" + h.content + h.name;
        }
        args = s.shell;
        args.push_back(script);
    }
    if (args.empty()) {
        return at(inst.line, Errc::invalid_argument, "RUN requires a command");
    }
    // Mount sources: their identities go into the cache key.
    std::string mount_key;
    for (const auto& m : mounts) {
        mount_key += fmt::format("{}|{}|{}|{}|{}|{};", static_cast<int>(m.type), m.target,
                                 m.source, m.from, m.readwrite, m.id);
    }
    std::string key = step_key(s, inst, mount_key);
    std::string shown = fmt::format("process \"{}\"", join_words(args));
    auto r = cached_step(s, key, [&]() -> Result<void> {
        auto cstore = ec::ContainerStore::open(paths_);
        if (!cstore) {
            return std::move(cstore).error();
        }
        ec::ContainerConfig c;
        c.image = s.image_id.empty() ? "scratch" : s.image_id;
        c.entrypoint = std::vector<std::string>{};
        c.cmd = args;
        const auto& cfg = config_of(s);
        c.env = env_of(s);
        for (const auto& [k, v] : s.args) {
            if (!env_get(s, k)) {
                c.env.push_back(k + "=" + v);
            }
        }
        for (const auto& p : proxy_args()) {
            auto ba = opts_.build_args.find(p);
            if (ba != opts_.build_args.end() && !env_get(s, p)) {
                c.env.push_back(p + "=" + ba->second);
            }
        }
        c.user = cfg.value("User", std::string());
        c.working_dir = cfg.value("WorkingDir", std::string());
        c.network_mode = network == "default" ? "bridge" : network;
        c.labels["org.berth.build"] = "true";
        c.hostname = "buildkitsandbox";
        // RUN --mount entries, mounted inside the step's own mount namespace only.
        fs::TempDir* scratch_ptr = nullptr;
        std::optional<fs::TempDir> scratch;
        std::vector<std::string> stub_targets;
        auto view = open_layers(s.layers);
        if (!view) {
            return std::move(view).error();
        }
        for (const auto& m : mounts) {
            std::string trel = m.target.substr(1);
            if (!(*view)->stat(trel)) {
                stub_targets.push_back(trel);
            }
            if (m.type == RunMount::Type::tmpfs) {
                json opt = json::array({"nosuid", "nodev"});
                if (m.size > 0) {
                    opt.push_back(fmt::format("size={}", m.size));
                }
                c.mounts.push_back({{"destination", m.target}, {"type", "tmpfs"},
                                    {"source", "tmpfs"}, {"options", opt}});
                continue;
            }
            if (m.type == RunMount::Type::cache) {
                stdfs::path dir = paths_.root / "builder" / "cache-mounts" / m.id;
                bool fresh = !stdfs::exists(dir);
                if (auto d = fs::make_dirs(dir, 0755); !d) {
                    return d;
                }
                if (fresh) {
                    ::chmod(dir.c_str(), m.mode.value_or(0755));
                    if (::chown(dir.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0) {
                        log::engine().debug("chown cache mount {}", dir.native());
                    }
                }
                c.mounts.push_back({{"destination", m.target}, {"type", "bind"},
                                    {"source", dir.native()},
                                    {"options", json::array({"rbind", "rw"})}});
                continue;
            }
            // bind: from the context or a stage; a read-write bind gets a
            // throw-away overlay upper so that nothing reaches the source.
            std::vector<stdfs::path> lowers;
            if (m.from.empty()) {
                auto resolved = context_->resolve(m.source);
                if (!resolved || !context_->stat(*resolved)) {
                    return Error(Errc::not_found,
                                 fmt::format("RUN --mount: source \"{}\" not found in the build "
                                             "context", m.source));
                }
                lowers.push_back(stdfs::weakly_canonical(opts_.context) / *resolved);
            } else {
                std::string ident;
                auto found = source_layers(m.from, inst.line, &ident);
                if (!found) {
                    return std::move(found).error();
                }
                const std::vector<stdfs::path>& layers = *found;
                auto sv = open_layers(layers);
                if (!sv) {
                    return std::move(sv).error();
                }
                auto resolved = (*sv)->resolve(m.source);
                if (!resolved) {
                    return std::move(resolved).error();
                }
                for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
                    auto p = *it / *resolved;
                    struct stat st {};
                    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
                        lowers.push_back(p);
                    }
                }
                if (lowers.empty()) {
                    return Error(Errc::not_found,
                                 fmt::format("RUN --mount from={}: \"{}\" is not a directory",
                                             m.from, m.source));
                }
            }
            if (!scratch) {
                if (auto d = fs::make_dirs(paths_.tmp(), 0700); !d) {
                    return d;
                }
                auto t = fs::TempDir::create(paths_.tmp(), "build-mount-");
                if (!t) {
                    return std::move(t).error();
                }
                scratch.emplace(std::move(*t));
                scratch_ptr = &*scratch;
            }
            struct stat lst {};
            bool single_file = lowers.size() == 1 && ::stat(lowers[0].c_str(), &lst) == 0 &&
                               !S_ISDIR(lst.st_mode);
            if (single_file || (lowers.size() == 1 && !m.readwrite)) {
                c.mounts.push_back({{"destination", m.target}, {"type", "bind"},
                                    {"source", lowers[0].native()},
                                    {"options", json::array({"rbind", "ro"})}});
                continue;
            }
            std::string lowerdir;
            for (const auto& l : lowers) {
                lowerdir += (lowerdir.empty() ? "" : ":") + l.native();
            }
            json opt = json::array();
            auto n = std::to_string(c.mounts.size());
            if (m.readwrite) {
                auto up = scratch_ptr->path() / ("upper" + n);
                auto wk = scratch_ptr->path() / ("work" + n);
                stdfs::create_directories(up);
                stdfs::create_directories(wk);
                opt = json::array({"lowerdir=" + lowerdir, "upperdir=" + up.native(),
                                   "workdir=" + wk.native()});
            } else {
                opt = json::array({"lowerdir=" + lowerdir, "ro"});
            }
            c.mounts.push_back({{"destination", m.target}, {"type", "overlay"},
                                {"source", "overlay"}, {"options", opt}});
        }
        ec::ImageRef image;
        image.id = s.image_id;
        image.config = cfg;
        for (const auto& l : s.layers) {
            image.layers.push_back(l.native());
        }
        auto rec = ec::create_container(*cstore, c, "", image);
        if (!rec) {
            return std::move(rec).error();
        }
        ScopeExit remove([&] {
            if (auto rr = ec::remove_container(*cstore, *rec, true, true); !rr) {
                log::engine().warn("remove build container {}: {}", rec->short_id(),
                                   rr.error().message());
            }
        });
        UniqueFd capture;
        ec::AttachFds attach;
        if (out_.run_output_fd >= 0) {
            attach.out = out_.run_output_fd;
            attach.err = out_.run_output_fd;
        } else {
            int fd = ::memfd_create("berth-build-run", MFD_CLOEXEC);
            if (fd < 0) {
                int err = errno;
                return Error::from_errno(err, "memfd_create");
            }
            capture.reset(fd);
            attach.out = fd;
            attach.err = fd;
        }
        auto started = ec::start_container(*cstore, *rec, attach);
        if (!started) {
            return Error(started.error().code(),
                         fmt::format("{}: {}", shown, started.error().message()));
        }
        int code = -1;
        for (;;) {
            auto ev = started->status.next();
            if (!ev) {
                if (errno == EINTR) {
                    continue;
                }
                auto st = cstore->state(rec->id);
                code = st ? st->exit_code : 125;
                break;
            }
            if (ev->value("event", "") == "exited") {
                code = ev->value("exit_code", 0);
                break;
            }
            if (ev->value("event", "") == "error") {
                return Error(Errc::invalid_argument,
                             fmt::format("{}: {}", shown, ev->value("message", "")));
            }
        }
        if (code != 0) {
            std::string output;
            if (capture) {
                ::lseek(capture.get(), 0, SEEK_SET);
                char buf[4096];
                ssize_t n;
                while ((n = ::read(capture.get(), buf, sizeof buf)) > 0) {
                    output.append(buf, static_cast<size_t>(n));
                }
                if (output.size() > 8192) {
                    output = "..." + output.substr(output.size() - 8192);
                }
            }
            return Error(Errc::invalid_argument,
                         fmt::format("{} did not complete successfully: exit code: {}{}", shown,
                                     code, output.empty() ? "" : "\n" + output));
        }
        // Mount targets that RUN --mount created are not part of the layer.
        stdfs::path upper = cstore->dir(rec->id) / "upper";
        for (const auto& t : stub_targets) {
            auto ufd = fs::open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (!ufd) {
                break;
            }
            auto pfd = im::open_in_root(ufd->get(), parent_of(t),
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC, true);
            if (pfd) {
                if (::unlinkat(pfd->get(), base_name(t).c_str(), AT_REMOVEDIR) != 0) {
                    ::unlinkat(pfd->get(), base_name(t).c_str(), 0);
                }
            }
        }
        auto w = LayerWriter::open(*store_);
        if (!w) {
            return std::move(w).error();
        }
        if (auto a = w->add_upper(upper); !a) {
            return a;
        }
        std::optional<LayerBlob> blob;
        if (w->entries() > 0) {
            auto b = w->commit();
            if (!b) {
                return std::move(b).error();
            }
            blob = *b;
        }
        std::string created_by = "RUN " + join_words(args) + " # buildkit";
        return commit(s, created_by, blob, key);
    });
    if (!r) {
        return at(inst, r.error());
    }
    return {};
}

}  // namespace

Result<BuildResult> build_image(const Paths& paths, const BuildOptions& options,
                                const BuildOutput& output) {
    Builder b(paths, options, output);
    return b.run();
}

}  // namespace berth::engine::build
