// SPDX-License-Identifier: Apache-2.0
#include "engine/images/manifest.hpp"

#include <sys/utsname.h>

#include <fmt/format.h>

#include "common/digest.hpp"

namespace berth::engine::images {

using nlohmann::json;

namespace {

Error invalid(std::string_view what, std::string_view why) {
    return Error(Errc::invalid_argument, fmt::format("invalid {}: {}", what, why));
}

Result<json> parse_json(std::string_view text, std::string_view what, size_t limit) {
    if (text.size() > limit) {
        return invalid(what, fmt::format("{} bytes is over the limit of {}", text.size(), limit));
    }
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) {
        return invalid(what, "not JSON");
    }
    if (!doc.is_object()) {
        return invalid(what, "not a JSON object");
    }
    return doc;
}

Result<std::string> get_string(const json& obj, const char* key, std::string_view what,
                               bool required) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        if (required) {
            return invalid(what, fmt::format("missing \"{}\"", key));
        }
        return std::string{};
    }
    if (!it->is_string()) {
        return invalid(what, fmt::format("\"{}\" is not a string", key));
    }
    return it->get<std::string>();
}

Result<std::vector<std::string>> get_strings(const json& obj, const char* key,
                                             std::string_view what) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return out;
    }
    if (it->is_string()) {
        // Some old configs carry a bare string; Docker treats it as one word.
        out.push_back(it->get<std::string>());
        return out;
    }
    if (!it->is_array()) {
        return invalid(what, fmt::format("\"{}\" is not an array of strings", key));
    }
    for (const auto& v : *it) {
        if (!v.is_string()) {
            return invalid(what, fmt::format("\"{}\" is not an array of strings", key));
        }
        out.push_back(v.get<std::string>());
    }
    return out;
}

Result<Platform> parse_platform_object(const json& p) {
    if (!p.is_object()) {
        return invalid("platform", "not an object");
    }
    Platform out;
    auto os = get_string(p, "os", "platform", false);
    auto arch = get_string(p, "architecture", "platform", false);
    auto variant = get_string(p, "variant", "platform", false);
    if (!os || !arch || !variant) {
        return invalid("platform", "fields are not strings");
    }
    out.os = *os;
    out.architecture = *arch;
    out.variant = *variant;
    return out;
}

Result<Descriptor> parse_descriptor(const json& d, std::string_view what) {
    if (!d.is_object()) {
        return invalid(what, "descriptor is not an object");
    }
    Descriptor out;
    auto mt = get_string(d, "mediaType", what, false);
    if (!mt) {
        return std::move(mt).error();
    }
    out.media_type = *mt;
    auto dg = get_string(d, "digest", what, true);
    if (!dg) {
        return std::move(dg).error();
    }
    if (!Digest::parse(*dg)) {
        return invalid(what, fmt::format("bad digest \"{}\"", dg->substr(0, 80)));
    }
    out.digest = *dg;
    auto sz = d.find("size");
    if (sz == d.end() || !sz->is_number_integer()) {
        return invalid(what, fmt::format("descriptor {} has no integer size", out.digest));
    }
    if (sz->is_number_unsigned() && sz->get<uint64_t>() > static_cast<uint64_t>(max_blob_size)) {
        return invalid(what, fmt::format("descriptor {} has an absurd size", out.digest));
    }
    int64_t size = sz->get<int64_t>();
    if (size < 0 || size > max_blob_size) {
        return invalid(what, fmt::format("descriptor {} has size {}", out.digest, size));
    }
    out.size = size;
    if (auto u = d.find("urls"); u != d.end() && !u->is_null()) {
        auto urls = get_strings(d, "urls", what);
        if (!urls) {
            return std::move(urls).error();
        }
        out.urls = *urls;
    }
    if (auto p = d.find("platform"); p != d.end() && !p->is_null()) {
        auto plat = parse_platform_object(*p);
        if (!plat) {
            return std::move(plat).error().wrap(what);
        }
        out.platform = *plat;
    }
    if (auto a = d.find("annotations"); a != d.end() && a->is_object()) {
        for (const auto& [k, v] : a->items()) {
            if (v.is_string()) {
                out.annotations[k] = v.get<std::string>();
            }
        }
    }
    return out;
}

std::string machine_to_arch(std::string_view m, std::string* variant) {
    if (m == "x86_64") {
        return "amd64";
    }
    if (m == "aarch64" || m == "arm64") {
        *variant = "v8";
        return "arm64";
    }
    if (m.rfind("armv7", 0) == 0) {
        *variant = "v7";
        return "arm";
    }
    if (m.rfind("armv6", 0) == 0) {
        *variant = "v6";
        return "arm";
    }
    if (m == "i686" || m == "i386") {
        return "386";
    }
    if (m == "ppc64le" || m == "s390x" || m == "riscv64" || m == "mips64") {
        return std::string(m);
    }
    return std::string(m);
}

}  // namespace

std::string Platform::str() const {
    std::string s = os + "/" + architecture;
    if (!variant.empty()) {
        s += "/" + variant;
    }
    return s;
}

Platform host_platform() {
    struct utsname u {};
    ::uname(&u);
    Platform p;
    p.os = "linux";
    p.architecture = machine_to_arch(u.machine, &p.variant);
    return p;
}

Result<Platform> parse_platform(std::string_view text) {
    Platform p;
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        auto slash = text.find('/', start);
        parts.emplace_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
        return invalid("platform", fmt::format("\"{}\" is not os/arch[/variant]", text));
    }
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) {
        p.variant = parts[2];
    } else if (p.architecture == "arm64") {
        p.variant = "v8";
    }
    return p;
}

Result<DocumentKind> document_kind(std::string_view text, std::string_view content_type) {
    auto doc = parse_json(text, "manifest", max_manifest_bytes);
    if (!doc) {
        return std::move(doc).error();
    }
    std::string mt;
    if (auto it = doc->find("mediaType"); it != doc->end() && it->is_string()) {
        mt = it->get<std::string>();
    }
    if (mt.empty()) {
        mt = std::string(content_type.substr(0, content_type.find(';')));
    }
    if (mt == media::oci_manifest || mt == media::docker_manifest) {
        return DocumentKind::manifest;
    }
    if (mt == media::oci_index || mt == media::docker_list) {
        return DocumentKind::index;
    }
    if (mt.find("manifest.v1") != std::string::npos ||
        (doc->contains("schemaVersion") && (*doc)["schemaVersion"] == 1)) {
        return Error(Errc::unsupported,
                     "unsupported manifest: Docker image manifest schema 1 is deprecated");
    }
    if (!mt.empty() && mt != "application/json" && mt != "application/octet-stream" &&
        mt != "text/plain") {
        return Error(Errc::unsupported, fmt::format("unsupported manifest media type \"{}\"", mt));
    }
    // No media type: OCI allows it; decide by the fields.
    if (doc->contains("manifests")) {
        return DocumentKind::index;
    }
    if (doc->contains("config") && doc->contains("layers")) {
        return DocumentKind::manifest;
    }
    return invalid("manifest", "neither an image manifest nor an index");
}

Result<Manifest> parse_manifest(std::string_view text) {
    auto doc = parse_json(text, "manifest", max_manifest_bytes);
    if (!doc) {
        return std::move(doc).error();
    }
    auto sv = doc->find("schemaVersion");
    if (sv == doc->end() || !sv->is_number_integer() || sv->get<int64_t>() != 2) {
        return invalid("manifest", "schemaVersion is not 2");
    }
    Manifest m;
    auto mt = get_string(*doc, "mediaType", "manifest", false);
    if (!mt) {
        return std::move(mt).error();
    }
    m.media_type = mt->empty() ? std::string(media::oci_manifest) : *mt;
    if (m.media_type != media::oci_manifest && m.media_type != media::docker_manifest) {
        return Error(Errc::unsupported,
                     fmt::format("unsupported manifest media type \"{}\"", m.media_type));
    }
    auto cfg = doc->find("config");
    if (cfg == doc->end()) {
        return invalid("manifest", "missing \"config\"");
    }
    auto c = parse_descriptor(*cfg, "manifest config");
    if (!c) {
        return std::move(c).error();
    }
    m.config = *c;
    if (m.config.media_type != media::oci_config && m.config.media_type != media::docker_config) {
        return Error(Errc::unsupported,
                     fmt::format("unsupported config media type \"{}\" (not a container image)",
                                 m.config.media_type));
    }
    if (m.config.size > static_cast<int64_t>(max_config_bytes)) {
        return invalid("manifest", fmt::format("config {} is too large", m.config.digest));
    }
    auto layers = doc->find("layers");
    if (layers == doc->end() || !layers->is_array()) {
        return invalid("manifest", "\"layers\" is not an array");
    }
    if (layers->size() > max_layers) {
        return invalid("manifest", fmt::format("{} layers (at most {})", layers->size(),
                                               max_layers));
    }
    for (const auto& l : *layers) {
        auto d = parse_descriptor(l, "manifest layer");
        if (!d) {
            return std::move(d).error();
        }
        if (auto comp = layer_compression(d->media_type); !comp) {
            return std::move(comp).error().wrap(fmt::format("layer {}", d->digest));
        }
        m.layers.push_back(std::move(*d));
    }
    return m;
}

Result<Index> parse_index(std::string_view text) {
    auto doc = parse_json(text, "index", max_manifest_bytes);
    if (!doc) {
        return std::move(doc).error();
    }
    auto sv = doc->find("schemaVersion");
    if (sv == doc->end() || !sv->is_number_integer() || sv->get<int64_t>() != 2) {
        return invalid("index", "schemaVersion is not 2");
    }
    Index idx;
    auto mt = get_string(*doc, "mediaType", "index", false);
    if (!mt) {
        return std::move(mt).error();
    }
    idx.media_type = mt->empty() ? std::string(media::oci_index) : *mt;
    auto ms = doc->find("manifests");
    if (ms == doc->end() || !ms->is_array()) {
        return invalid("index", "\"manifests\" is not an array");
    }
    if (ms->size() > max_index_entries) {
        return invalid("index", fmt::format("{} entries (at most {})", ms->size(),
                                            max_index_entries));
    }
    for (const auto& e : *ms) {
        auto d = parse_descriptor(e, "index entry");
        if (!d) {
            return std::move(d).error();
        }
        idx.manifests.push_back(std::move(*d));
    }
    return idx;
}

Result<Descriptor> select_platform(const Index& index, const Platform& want) {
    std::vector<std::string> seen;
    const Descriptor* loose = nullptr;
    for (const auto& d : index.manifests) {
        if (d.media_type != media::oci_manifest && d.media_type != media::docker_manifest &&
            d.media_type != media::oci_index && d.media_type != media::docker_list &&
            !d.media_type.empty()) {
            continue;
        }
        if (auto t = d.annotations.find("vnd.docker.reference.type");
            t != d.annotations.end() && t->second == "attestation-manifest") {
            continue;
        }
        if (!d.platform) {
            continue;
        }
        const Platform& p = *d.platform;
        if (p.os == "unknown") {
            continue;
        }
        seen.push_back(p.str());
        if (p.os != want.os || p.architecture != want.architecture) {
            continue;
        }
        if (p.variant == want.variant) {
            return d;
        }
        // "arm64" and "arm64/v8" are the same platform; otherwise a missing
        // variant on either side is an acceptable, weaker match.
        if (loose == nullptr && (p.variant.empty() || want.variant.empty())) {
            loose = &d;
        }
    }
    if (loose != nullptr) {
        return *loose;
    }
    std::string avail;
    for (const auto& s : seen) {
        avail += (avail.empty() ? "" : ", ") + s;
    }
    return Error(Errc::not_found,
                 fmt::format("no matching manifest for {} in the manifest list entries{}",
                             want.str(), avail.empty() ? "" : " (available: " + avail + ")"));
}

Result<ImageConfig> parse_container_config(const json& c) {
    ImageConfig out;
    if (c.is_null()) {
        return out;
    }
    if (!c.is_object()) {
        return invalid("image config", "\"config\" is not an object");
    }
    constexpr std::string_view what = "image config";
    auto env = get_strings(c, "Env", what);
    auto cmd = get_strings(c, "Cmd", what);
    auto ep = get_strings(c, "Entrypoint", what);
    auto wd = get_string(c, "WorkingDir", what, false);
    auto user = get_string(c, "User", what, false);
    auto sig = get_string(c, "StopSignal", what, false);
    for (auto* r : {&env, &cmd, &ep}) {
        if (!*r) {
            return std::move(*r).error();
        }
    }
    for (auto* r : {&wd, &user, &sig}) {
        if (!*r) {
            return std::move(*r).error();
        }
    }
    out.env = *env;
    out.cmd = *cmd;
    out.entrypoint = *ep;
    out.working_dir = *wd;
    out.user = *user;
    out.stop_signal = *sig;
    if (auto l = c.find("Labels"); l != c.end() && !l->is_null()) {
        if (!l->is_object()) {
            return invalid(what, "\"Labels\" is not an object");
        }
        for (const auto& [k, v] : l->items()) {
            if (!v.is_string()) {
                return invalid(what, fmt::format("label \"{}\" is not a string", k));
            }
            out.labels[k] = v.get<std::string>();
        }
    }
    for (auto [key, set] : {std::pair{"ExposedPorts", &out.exposed_ports},
                            std::pair{"Volumes", &out.volumes}}) {
        auto it = c.find(key);
        if (it == c.end() || it->is_null()) {
            continue;
        }
        if (!it->is_object()) {
            return invalid(what, fmt::format("\"{}\" is not an object", key));
        }
        for (const auto& [k, v] : it->items()) {
            (void)v;
            set->insert(k);
        }
    }
    if (auto h = c.find("Healthcheck"); h != c.end() && !h->is_null()) {
        if (!h->is_object()) {
            return invalid(what, "\"Healthcheck\" is not an object");
        }
        out.healthcheck = *h;
    }
    return out;
}

json to_json(const ImageConfig& c) {
    json j = json::object();
    if (!c.env.empty()) {
        j["Env"] = c.env;
    }
    if (!c.cmd.empty()) {
        j["Cmd"] = c.cmd;
    }
    if (!c.entrypoint.empty()) {
        j["Entrypoint"] = c.entrypoint;
    }
    if (!c.working_dir.empty()) {
        j["WorkingDir"] = c.working_dir;
    }
    if (!c.user.empty()) {
        j["User"] = c.user;
    }
    if (!c.stop_signal.empty()) {
        j["StopSignal"] = c.stop_signal;
    }
    if (!c.labels.empty()) {
        j["Labels"] = c.labels;
    }
    if (!c.exposed_ports.empty()) {
        json p = json::object();
        for (const auto& k : c.exposed_ports) {
            p[k] = json::object();
        }
        j["ExposedPorts"] = p;
    }
    if (!c.volumes.empty()) {
        json v = json::object();
        for (const auto& k : c.volumes) {
            v[k] = json::object();
        }
        j["Volumes"] = v;
    }
    if (!c.healthcheck.is_null()) {
        j["Healthcheck"] = c.healthcheck;
    }
    return j;
}

Result<ParsedConfig> parse_config(std::string_view text) {
    auto doc = parse_json(text, "image config", max_config_bytes);
    if (!doc) {
        return std::move(doc).error();
    }
    ParsedConfig out;
    auto cc = parse_container_config(doc->value("config", json()));
    if (!cc) {
        return std::move(cc).error();
    }
    out.config = std::move(*cc);
    auto created = get_string(*doc, "created", "image config", false);
    auto arch = get_string(*doc, "architecture", "image config", false);
    auto os = get_string(*doc, "os", "image config", false);
    auto variant = get_string(*doc, "variant", "image config", false);
    for (auto* r : {&created, &arch, &os, &variant}) {
        if (!*r) {
            return std::move(*r).error();
        }
    }
    out.created = *created;
    out.architecture = *arch;
    out.os = *os;
    out.variant = *variant;
    auto rootfs = doc->find("rootfs");
    if (rootfs == doc->end() || !rootfs->is_object()) {
        return invalid("image config", "missing \"rootfs\"");
    }
    auto type = get_string(*rootfs, "type", "image config rootfs", true);
    if (!type) {
        return std::move(type).error();
    }
    if (*type != "layers") {
        return invalid("image config", fmt::format("rootfs type \"{}\" is not \"layers\"", *type));
    }
    auto ids = get_strings(*rootfs, "diff_ids", "image config rootfs");
    if (!ids) {
        return std::move(ids).error();
    }
    if (ids->size() > max_layers) {
        return invalid("image config", "too many layers");
    }
    for (const auto& id : *ids) {
        if (!Digest::parse(id)) {
            return invalid("image config", fmt::format("bad diff id \"{}\"", id.substr(0, 80)));
        }
    }
    out.diff_ids = std::move(*ids);
    if (auto h = doc->find("history"); h != doc->end() && h->is_array()) {
        out.history = *h;
    } else {
        out.history = json::array();
    }
    return out;
}

Result<Compression> layer_compression(std::string_view mt) {
    if (mt == media::oci_layer || mt == media::docker_layer ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar") {
        return Compression::none;
    }
    if (mt == media::oci_layer_gzip || mt == media::docker_layer_gzip ||
        mt == media::docker_foreign_layer ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") {
        return Compression::gzip;
    }
    if (mt == media::oci_layer_zstd ||
        mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd") {
        return Compression::zstd;
    }
    return Error(Errc::unsupported, fmt::format("unknown layer media type \"{}\"", mt));
}

std::string chain_id(const std::string& parent_chain, const std::string& diff_id) {
    if (parent_chain.empty()) {
        return diff_id;
    }
    return Digest::of(parent_chain + " " + diff_id).str();
}

}  // namespace berth::engine::images
