// SPDX-License-Identifier: Apache-2.0
#include "compose/loader.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/dispose.hpp"
#include "common/fs.hpp"
#include "common/scope_exit.hpp"
#include "compose/env_file.hpp"
#include "compose/graph.hpp"
#include "compose/interpolate.hpp"
#include "compose/internal/canonical.hpp"
#include "compose/internal/split.hpp"
#include "compose/yaml_tree.hpp"
#include "schema/validator.hpp"

namespace berth::compose {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string normalize_project_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '-') {
            out += l;
        }
    }
    std::size_t start = out.find_first_not_of("_-");
    return start == std::string::npos ? std::string{} : out.substr(start);
}

namespace {

Error invalid(std::string message) {
    return Error(Errc::invalid_argument, std::move(message));
}

std::vector<std::string> split_list(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t p = s.find(sep, start);
        std::string part(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
        if (!part.empty()) {
            out.push_back(part);
        }
        if (p == std::string_view::npos) {
            break;
        }
        start = p + 1;
    }
    return out;
}

/// The JSON a file is validated as: `!reset` entries are left out, as Compose
/// applies them before validation.
Result<json> json_for_validation(const Node& node) {
    if (node.is_mapping()) {
        json obj = json::object();
        for (const auto& e : node.entries) {
            if (e.value.tag == NodeTag::reset) {
                continue;
            }
            auto v = json_for_validation(e.value);
            if (!v) {
                return v;
            }
            obj[e.key] = std::move(*v);
        }
        return obj;
    }
    if (node.is_sequence()) {
        json arr = json::array();
        for (const auto& i : node.items) {
            auto v = json_for_validation(i);
            if (!v) {
                return v;
            }
            arr.push_back(std::move(*v));
        }
        return arr;
    }
    return scalar_to_json(node);
}

Mark mark_of(const Node& root, const schema::ValidationError& err) {
    const Node* n = find_path(root, err.path);
    if (err.key && n) {
        if (const Entry* e = n->entry(*err.key)) {
            return e->key_mark;
        }
    }
    return n ? n->mark : root.mark;
}

std::string path_with_key(const schema::ValidationError& err) {
    std::string p = err.dotted_path();
    return p;
}

bool is_true(const Node* n) {
    return n && n->is_scalar() && (n->value == "true" || n->value == "True" || n->value == "TRUE");
}

using detail::for_each_split;
using detail::parallel_from;

/// convert(root) for a mapping root, with a large `services` mapping
/// converted on two threads; `skip_reset` leaves out `!reset` entries of the
/// root and of services, as json_for_validation does.
template <class Convert>
Result<json> split_to_json(const Node& root, Convert convert, bool skip_reset) {
    const Node* services = root.is_mapping() ? root.get("services") : nullptr;
    if (!services || !services->is_mapping() || services->entries.size() < parallel_from) {
        return convert(root);
    }
    const auto& entries = services->entries;
    std::vector<std::optional<json>> values(entries.size());
    auto done = for_each_split(entries.size(), [&](size_t i) -> Result<void> {
        if (skip_reset && entries[i].value.tag == NodeTag::reset) {
            return {};
        }
        auto v = convert(entries[i].value);
        if (!v) {
            return std::move(v).error();
        }
        values[i].emplace(std::move(*v));
        return {};
    });
    if (!done) {
        return std::move(done).error();
    }
    json converted = json::object();
    for (size_t i = 0; i < entries.size(); ++i) {
        if (values[i]) {
            converted[entries[i].key] = std::move(*values[i]);
        }
    }
    json out = json::object();
    for (const auto& e : root.entries) {
        if (skip_reset && e.value.tag == NodeTag::reset) {
            continue;
        }
        if (&e.value == services) {
            out[e.key] = std::move(converted);
            continue;
        }
        auto v = convert(e.value);
        if (!v) {
            return std::move(v).error();
        }
        out[e.key] = std::move(*v);
    }
    return out;
}

class Loader {
public:
    Loader(const LoadOptions& opts, std::map<std::string, std::string> env, fs::path wd,
           std::string home)
        : opts_(opts), env_(std::move(env)), wd_(std::move(wd)), home_(std::move(home)) {}

    std::vector<std::string> warnings;
    UnsetVariables unset;

    Lookup lookup() const {
        return [this](std::string_view name) -> std::optional<std::string> {
            auto it = env_.find(std::string(name));
            if (it == env_.end()) {
                return std::nullopt;
            }
            return it->second;
        };
    }

    const std::map<std::string, std::string>& env() const { return env_; }

    std::string display(const fs::path& p) const {
        std::string s = p.string();
        std::string base = wd_.string();
        if (!base.empty() && base.back() != '/') {
            base += '/';
        }
        if (s.rfind(base, 0) == 0) {
            return s.substr(base.size());
        }
        return s;
    }

    /// Parses, interpolates, validates and canonicalises one file (cached).
    Result<Node> load_file(const fs::path& path, bool cache = false) {
        return load_file(path, cache, warnings, unset);
    }

    /// The same, reporting into `warns` and `uns`: it touches no other
    /// member except the cache (when `cache`), so that several files can be
    /// loaded at once (`cache` false).
    Result<Node> load_file(const fs::path& path, bool cache, std::vector<std::string>& warns,
                           UnsetVariables& uns) {
        std::string key = path.string();
        if (auto it = cache_.find(key); it != cache_.end()) {
            return it->second;
        }
        std::error_code ec;
        auto size = fs::file_size(path, ec);
        if (!ec && size > YamlLimits{}.max_bytes) {
            return invalid(fmt::format("{}: file is larger than {} bytes", display(path),
                                       YamlLimits{}.max_bytes));
        }
        auto text = berth::fs::read_file(path);
        if (!text) {
            return Error(text.error().code(),
                         fmt::format("open compose file {}: {}", display(path),
                                     text.error().message()));
        }
        std::string name = display(path);
        auto docs = parse_yaml(*text, name);
        if (!docs) {
            return std::move(docs).error();
        }
        Node root = Node::make_mapping(Mark{std::make_shared<const std::string>(name), 1, 1});
        bool any = false;
        for (auto& d : *docs) {
            if (d.is_null()) {
                continue;
            }
            if (!d.is_mapping()) {
                return invalid(fmt::format("{}: top-level object must be a mapping", d.mark.str()));
            }
            if (!any) {
                root = std::move(d);
                any = true;
            } else {
                detail::merge_into(root, d, "");
            }
        }
        if (!any) {
            return invalid(fmt::format("{}:1:1: empty compose file", name));
        }
        if (root.get("version")) {
            warns.push_back(fmt::format(
                "{}: the attribute `version` is obsolete, it will be ignored", name));
            root.erase("version");
        }
        if (opts_.interpolate) {
            auto r = interpolate_tree(root, lookup(), &uns);
            if (!r) {
                return std::move(r).error();
            }
        }
        auto j = split_to_json(root, json_for_validation, true);
        if (!j) {
            return std::move(j).error();
        }
        auto errors = validate_file(*j);
        if (!errors.empty()) {
            const auto& e = errors.front();
            return invalid(fmt::format("{}: {}: {}", mark_of(root, e).str(), path_with_key(e),
                                       e.message));
        }
        dispose_async(std::move(*j));
        detail::canonicalize_top_level(root);
        if (Node* services = root.get("services")) {
            auto& entries = services->entries;
            auto r = for_each_split(entries.size(), [&](size_t i) -> Result<void> {
                auto& e = entries[i];
                if (e.value.is_null()) {
                    e.value = Node::make_mapping(e.key_mark);
                }
                return detail::canonicalize_service(e.value, "services." + e.key);
            });
            if (!r) {
                return std::move(r).error();
            }
        }
        if (cache) {
            cache_.emplace(key, root);
        }
        return root;
    }

    /// The schema errors of one file (at most 5). A file with many services
    /// is checked on two threads, half of its services on a helper; the
    /// halves are independent under the schema (services is an object of
    /// service definitions, and no top-level property is required). Only
    /// when a half fails is the whole file checked again, so that the errors
    /// and their order are those of one pass.
    std::vector<schema::ValidationError> validate_file(nlohmann::json& j) const {
        const auto& validator = schema::compose_validator();
        auto it = j.find("services");
        if (it == j.end() || !it->is_object() || it->size() < parallel_from) {
            return validator.validate(j, 5);
        }
        nlohmann::json second = {{"services", nlohmann::json::object()}};
        auto& moved = second["services"];
        size_t keep = it->size() / 2;
        std::vector<std::string> keys;
        for (const auto& [k, v] : it->items()) {
            if (keep > 0) {
                --keep;
                continue;
            }
            keys.push_back(k);
        }
        for (const auto& k : keys) {
            moved[k] = std::move((*it)[k]);
            it->erase(k);
        }
        std::vector<schema::ValidationError> second_errors;
        std::thread helper([&] { second_errors = validator.validate(second, 5); });
        auto errors = validator.validate(j, 5);
        helper.join();
        for (auto& [k, v] : moved.items()) {
            (*it)[k] = std::move(v);
        }
        if (errors.empty() && second_errors.empty()) {
            return errors;
        }
        return validator.validate(j, 5);
    }

    /// The service `name` of `file` with its `extends` chain applied.
    Result<Node> extended_service(const fs::path& file, const Node& root, const std::string& name,
                                  std::vector<std::string>& stack, const Node* ref) {
        std::string id = file.string() + "#" + name;
        if (std::find(stack.begin(), stack.end(), id) != stack.end()) {
            std::string chain;
            for (const auto& s : stack) {
                chain += s.substr(s.find('#') + 1) + " -> ";
            }
            return invalid(fmt::format("{}: services.{}.extends: extends cycle ({}{})",
                                       ref ? ref->mark.str() : display(file), name, chain, name));
        }
        const Node* services = root.get("services");
        const Node* svc = services ? services->get(name) : nullptr;
        if (!svc) {
            return invalid(fmt::format("{}: cannot extend service \"{}\": no such service in {}",
                                       ref ? ref->mark.str() : display(file), name,
                                       display(file)));
        }
        Node result = *svc;
        const Node* ext = svc->get("extends");
        if (!ext) {
            return result;
        }
        stack.push_back(id);
        const Node* base_name = ext->get("service");
        const Node* base_file = ext->get("file");
        Result<Node> base = Node{};
        if (base_file && base_file->is_scalar()) {
            fs::path target = detail::absolute_clean(file.parent_path(), base_file->value, home_);
            auto other = load_file(target, true);
            if (!other) {
                stack.pop_back();
                return Error(other.error().code(),
                             fmt::format("{}: services.{}.extends: {}", ext->mark.str(), name,
                                         other.error().message()));
            }
            base = extended_service(target, *other, base_name->value, stack, ext);
            if (base) {
                detail::resolve_service_paths(*base, target.parent_path(), home_);
            }
        } else {
            base = extended_service(file, root, base_name->value, stack, ext);
        }
        stack.pop_back();
        if (!base) {
            return base;
        }
        result.erase("extends");
        Node merged = std::move(*base);
        detail::merge_into(merged, result, "services." + name);
        return merged;
    }

    Result<void> resolve_extends(Node& root, const fs::path& file) {
        Node* services = root.get("services");
        if (!services) {
            return {};
        }
        bool any = std::any_of(services->entries.begin(), services->entries.end(),
                               [](const Entry& e) { return e.value.get("extends") != nullptr; });
        if (!any) {
            return {};
        }
        // Services are replaced one by one; a replaced one has no `extends` left
        // and gives the same result when another service extends it.
        for (auto& e : services->entries) {
            if (!e.value.get("extends")) {
                continue;
            }
            std::vector<std::string> stack;
            auto r = extended_service(file, root, e.key, stack, nullptr);
            if (!r) {
                return std::move(r).error();
            }
            e.value = std::move(*r);
        }
        return {};
    }

    /// Loads the `include` entries of `root` (a file at `file`) into `included`.
    Result<void> load_includes(Node& root, const fs::path& file, std::vector<std::string>& chain,
                               Node& included) {
        const Node* inc = root.get("include");
        if (!inc) {
            return {};
        }
        fs::path dir = file.parent_path();
        for (const auto& item : inc->items) {
            std::vector<fs::path> paths;
            std::optional<fs::path> project_dir;
            std::vector<fs::path> env_files;
            if (item.is_scalar()) {
                paths.emplace_back(detail::absolute_clean(dir, item.value, home_));
            } else {
                const Node* p = item.get("path");
                if (p->is_scalar()) {
                    paths.emplace_back(detail::absolute_clean(dir, p->value, home_));
                } else {
                    for (const auto& x : p->items) {
                        paths.emplace_back(detail::absolute_clean(dir, x.value, home_));
                    }
                }
                if (const Node* pd = item.get("project_directory")) {
                    project_dir = detail::absolute_clean(dir, pd->value, home_);
                }
                if (const Node* ef = item.get("env_file")) {
                    if (ef->is_scalar()) {
                        env_files.emplace_back(detail::absolute_clean(dir, ef->value, home_));
                    } else {
                        for (const auto& x : ef->items) {
                            env_files.emplace_back(detail::absolute_clean(dir, x.value, home_));
                        }
                    }
                }
            }
            if (paths.empty()) {
                continue;
            }
            for (const auto& p : paths) {
                if (!fs::is_regular_file(p)) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("{}: include: open compose file {}: no such file",
                                             item.mark.str(), display(p)));
                }
                if (std::find(chain.begin(), chain.end(), p.string()) != chain.end()) {
                    return invalid(fmt::format("{}: include cycle: {} includes {}",
                                               item.mark.str(), display(file), display(p)));
                }
            }
            fs::path pdir = project_dir ? *project_dir : paths.front().parent_path();
            if (env_files.empty() && fs::exists(pdir / ".env")) {
                env_files.push_back(pdir / ".env");
            }
            // The including project's environment wins over the included env files.
            std::map<std::string, std::string> env;
            for (const auto& ef : env_files) {
                auto text = berth::fs::read_file(ef);
                if (!text) {
                    return invalid(fmt::format("{}: include: read env file {}: {}",
                                               item.mark.str(), display(ef),
                                               text.error().message()));
                }
                auto vars = parse_env_file(*text, display(ef), lookup());
                if (!vars) {
                    return std::move(vars).error();
                }
                for (auto& [k, v] : *vars) {
                    env[k] = v;
                }
            }
            for (const auto& [k, v] : env_) {
                env[k] = v;
            }
            Loader sub(opts_, std::move(env), wd_, home_);
            auto model = sub.load_model(paths, pdir, chain);
            warnings.insert(warnings.end(), sub.warnings.begin(), sub.warnings.end());
            unset.insert(sub.unset.begin(), sub.unset.end());
            if (!model) {
                return std::move(model).error();
            }
            for (const char* section : {"services", "networks", "volumes", "secrets", "configs"}) {
                const Node* from = model->get(section);
                if (!from) {
                    continue;
                }
                Node* to = included.get(section);
                if (!to) {
                    to = &included.set(section, Node::make_mapping());
                }
                for (const auto& e : from->entries) {
                    if (to->get(e.key) && std::string_view(section) == "services") {
                        return invalid(fmt::format("{}: services.{} is imported twice by include",
                                                   item.mark.str(), e.key));
                    }
                    to->set(e.key, e.value, e.key_mark);
                }
            }
        }
        root.erase("include");
        return {};
    }

    /// Loads and merges `files`, with includes and extends, paths resolved
    /// against `project_dir`.
    Result<Node> load_model(const std::vector<fs::path>& files, const fs::path& project_dir,
                            std::vector<std::string> chain) {
        Node merged;
        Node included = Node::make_mapping();
        bool first = true;
        // The files after the first are parsed, interpolated and validated
        // on a second thread while this one does the first (most of the work
        // of a large project; the machine has two cores or more). Their
        // warnings join in file order.
        struct Prefetched {
            std::optional<Result<Node>> node;
            std::vector<std::string> warnings;
            UnsetVariables unset;
        };
        std::vector<Prefetched> later(files.size() > 1 ? files.size() - 1 : 0);
        std::thread prefetch;
        if (!later.empty()) {
            prefetch = std::thread([&] {
                for (size_t i = 1; i < files.size(); ++i) {
                    auto& p = later[i - 1];
                    p.node.emplace(load_file(files[i], false, p.warnings, p.unset));
                    if (!*p.node) {
                        break;  // the first error in file order is the one reported
                    }
                }
            });
        }
        ScopeExit join([&] {
            if (prefetch.joinable()) {
                prefetch.join();
            }
        });
        for (size_t fi = 0; fi < files.size(); ++fi) {
            const auto& f = files[fi];
            Result<Node> loaded = Node{};
            if (fi == 0) {
                loaded = load_file(f);
            } else {
                if (prefetch.joinable()) {
                    prefetch.join();
                }
                auto& p = later[fi - 1];
                if (!p.node) {
                    return invalid(fmt::format("{}: not loaded", display(f)));
                }
                loaded = std::move(*p.node);
                warnings.insert(warnings.end(), p.warnings.begin(), p.warnings.end());
                unset.insert(p.unset.begin(), p.unset.end());
            }
            if (!loaded) {
                return loaded;
            }
            Node root = std::move(*loaded);
            chain.push_back(f.string());
            auto inc = load_includes(root, f, chain, included);
            chain.pop_back();
            if (!inc) {
                return std::move(inc).error();
            }
            auto ext = resolve_extends(root, f);
            if (!ext) {
                return std::move(ext).error();
            }
            if (first) {
                merged = std::move(root);
                detail::strip_merge_tags(merged);
                first = false;
            } else {
                detail::merge_into(merged, root, "");
            }
        }
        if (opts_.resolve_paths) {
            if (Node* services = merged.get("services")) {
                for (auto& e : services->entries) {
                    detail::resolve_service_paths(e.value, project_dir, home_);
                }
            }
            detail::resolve_top_level_paths(merged, project_dir, home_);
        }
        for (const auto& section : included.entries) {
            Node* to = merged.get(section.key);
            if (!to) {
                to = &merged.set(section.key, Node::make_mapping());
            }
            for (const auto& e : section.value.entries) {
                if (to->get(e.key)) {
                    if (section.key == "services") {
                        return invalid(fmt::format(
                            "{}: services.{} conflicts with a service imported by include",
                            to->entry(e.key)->key_mark.str(), e.key));
                    }
                    continue;
                }
                to->set(e.key, e.value, e.key_mark);
            }
        }
        return merged;
    }

private:
    const LoadOptions& opts_;
    std::map<std::string, std::string> env_;
    fs::path wd_;
    std::string home_;
    std::map<std::string, Node> cache_;
};

std::string scalar_text(const Node* n) {
    return n && n->is_scalar() ? n->value : std::string{};
}

/// Checks that a string is a valid duration / byte size, naming the node.
Result<void> check_value(const Node* n, const std::string& path, bool bytes) {
    if (!n || !n->is_scalar()) {
        return {};
    }
    if (bytes) {
        auto j = scalar_to_json(*n);
        if (j && j->is_number()) {
            return {};
        }
        auto b = parse_bytes(n->value);
        if (!b) {
            return invalid(fmt::format("{}: {}: {}", n->mark.str(), path, b.error().message()));
        }
        return {};
    }
    auto d = parse_duration(n->value);
    if (!d) {
        return invalid(fmt::format("{}: {}: {}", n->mark.str(), path, d.error().message()));
    }
    return {};
}

Result<void> check_service_values(const Node& svc, const std::string& path) {
    for (const char* k : {"mem_limit", "mem_reservation", "memswap_limit", "shm_size"}) {
        auto r = check_value(svc.get(k), path + "." + k, true);
        if (!r) {
            return r;
        }
    }
    if (auto r = check_value(svc.get("stop_grace_period"), path + ".stop_grace_period", false);
        !r) {
        return r;
    }
    if (const Node* hc = svc.get("healthcheck")) {
        for (const char* k : {"interval", "timeout", "start_period", "start_interval"}) {
            auto r = check_value(hc->get(k), path + ".healthcheck." + k, false);
            if (!r) {
                return r;
            }
        }
    }
    if (const Node* b = svc.get("build")) {
        if (auto r = check_value(b->get("shm_size"), path + ".build.shm_size", true); !r) {
            return r;
        }
    }
    if (const Node* v = svc.get("volumes")) {
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            if (const Node* t = v->items[i].get("tmpfs")) {
                auto r = check_value(t->get("size"), fmt::format("{}.volumes[{}].tmpfs.size",
                                                                 path, i),
                                     true);
                if (!r) {
                    return r;
                }
            }
        }
    }
    if (const Node* r = svc.get("restart"); r && r->is_scalar()) {
        const std::string& v = r->value;
        bool ok = v == "no" || v == "always" || v == "unless-stopped" || v == "on-failure" ||
                  (v.rfind("on-failure:", 0) == 0 && v.size() > 11 &&
                   v.find_first_not_of("0123456789", 11) == std::string::npos);
        if (!ok) {
            return invalid(fmt::format("{}: {}.restart: invalid restart policy \"{}\"",
                                       r->mark.str(), path, v));
        }
    }
    return {};
}

/// The services a service names in `service:X`, volumes_from and links.
std::set<std::string> implicit_dependencies_of(const Node& svc) {
    std::set<std::string> out;
    for (const char* k : {"network_mode", "ipc", "pid", "uts", "cgroup"}) {
        std::string v = scalar_text(svc.get(k));
        if (v.rfind("service:", 0) == 0) {
            out.insert(v.substr(8));
        }
    }
    for (const char* k : {"volumes_from", "links"}) {
        if (const Node* list = svc.get(k)) {
            for (const auto& item : list->items) {
                if (item.value.rfind("container:", 0) == 0) {
                    continue;
                }
                out.insert(item.value.substr(0, item.value.find(':')));
            }
        }
    }
    return out;
}

/// Reads the env_file entries of a service into its environment.
Result<void> apply_env_files(Node& svc, const std::string& path, const Lookup& lookup) {
    Node* files = svc.get("env_file");
    if (!files) {
        return {};
    }
    EnvList merged;
    for (const auto& item : files->items) {
        const Node* p = item.get("path");
        bool required = !item.get("required") || is_true(item.get("required"));
        EnvFormat format = scalar_text(item.get("format")) == "raw" ? EnvFormat::raw
                                                                     : EnvFormat::dotenv;
        auto text = berth::fs::read_file(p->value);
        if (!text) {
            if (!required && text.error().code() == Errc::not_found) {
                continue;
            }
            return invalid(fmt::format("{}: {}.env_file: env file {} not found: {}",
                                       item.mark.str(), path, p->value, text.error().message()));
        }
        auto vars = parse_env_file(*text, p->value, lookup, format);
        if (!vars) {
            return std::move(vars).error();
        }
        merged.insert(merged.end(), vars->begin(), vars->end());
    }
    Node env = Node::make_mapping(files->mark);
    for (auto& [k, v] : merged) {
        env.set(k, Node::make_string(v, files->mark));
    }
    if (const Node* explicit_env = svc.get("environment")) {
        for (const auto& e : explicit_env->entries) {
            env.set(e.key, e.value, e.key_mark);
        }
    }
    svc.erase("env_file");
    svc.set("environment", std::move(env));
    return {};
}

/// Duration and byte-size fields as Compose prints them.
void normalize_values(json& svc) {
    auto dur = [](json& obj, const char* key) {
        auto it = obj.find(key);
        if (it != obj.end() && it->is_string()) {
            auto d = parse_duration(it->get<std::string>());
            if (d) {
                *it = format_duration(*d);
            }
        }
    };
    auto bytes = [](json& obj, const char* key) {
        auto it = obj.find(key);
        if (it == obj.end()) {
            return;
        }
        if (it->is_string()) {
            auto b = parse_bytes(it->get<std::string>());
            if (b) {
                *it = std::to_string(*b);
            }
        } else if (it->is_number()) {
            *it = it->dump();
        }
    };
    dur(svc, "stop_grace_period");
    for (const char* k : {"mem_limit", "mem_reservation", "memswap_limit", "shm_size"}) {
        bytes(svc, k);
    }
    if (auto hc = svc.find("healthcheck"); hc != svc.end() && hc->is_object()) {
        for (const char* k : {"interval", "timeout", "start_period", "start_interval"}) {
            dur(*hc, k);
        }
    }
    if (auto b = svc.find("build"); b != svc.end() && b->is_object()) {
        bytes(*b, "shm_size");
    }
    if (auto c = svc.find("cpus"); c != svc.end() && c->is_string()) {
        *c = std::strtod(c->get<std::string>().c_str(), nullptr);
    }
    for (const char* k : {"privileged", "read_only", "tty", "stdin_open", "init",
                          "oom_kill_disable"}) {
        auto it = svc.find(k);
        if (it != svc.end() && it->is_string()) {
            *it = it->get<std::string>() == "true";
        }
    }
    if (auto p = svc.find("pull_policy"); p != svc.end() && *p == "if_not_present") {
        *p = "missing";
    }
}

}  // namespace

Result<Project> load_project(const LoadOptions& options) {
    fs::path wd = options.working_directory.empty() ? fs::current_path()
                                                    : fs::absolute(options.working_directory);
    wd = wd.lexically_normal();
    if (wd.string().size() > 1 && wd.string().back() == '/') {
        wd = wd.parent_path();
    }
    std::map<std::string, std::string> env = options.environment;
    std::string home = env.count("HOME") != 0 ? env["HOME"] : std::string("/root");
    auto abs = [&](const fs::path& p) { return fs::path(detail::absolute_clean(wd, p.string(), home)); };

    std::vector<fs::path> files;
    for (const auto& f : options.files) {
        files.push_back(abs(f));
    }
    std::optional<fs::path> project_dir;
    if (options.project_directory) {
        project_dir = abs(*options.project_directory);
    }
    fs::path env_dir = project_dir ? *project_dir
                                   : (!files.empty() ? files.front().parent_path() : wd);

    // Interpolation environment: .env (or --env-file) under the shell environment.
    std::vector<fs::path> env_files;
    for (const auto& f : options.env_files) {
        env_files.push_back(abs(f));
    }
    if (env_files.empty() && env.count("COMPOSE_DISABLE_ENV_FILE") == 0 &&
        fs::is_regular_file(env_dir / ".env")) {
        env_files.push_back(env_dir / ".env");
    }
    std::map<std::string, std::string> from_files;
    for (const auto& ef : env_files) {
        auto text = berth::fs::read_file(ef);
        if (!text) {
            return Error(text.error().code(),
                         fmt::format("read env file {}: {}", ef.string(), text.error().message()));
        }
        auto vars = parse_env_file(*text, ef.string(),
                                   [&](std::string_view k) -> std::optional<std::string> {
                                       auto it = from_files.find(std::string(k));
                                       if (it != from_files.end()) {
                                           return it->second;
                                       }
                                       auto e = env.find(std::string(k));
                                       if (e != env.end()) {
                                           return e->second;
                                       }
                                       return std::nullopt;
                                   });
        if (!vars) {
            return std::move(vars).error();
        }
        for (auto& [k, v] : *vars) {
            from_files[k] = v;
        }
    }
    for (auto& [k, v] : from_files) {
        env.try_emplace(k, v);
    }

    if (files.empty()) {
        if (auto cf = env.find("COMPOSE_FILE"); cf != env.end() && !cf->second.empty()) {
            char sep = ':';
            if (auto ps = env.find("COMPOSE_PATH_SEPARATOR");
                ps != env.end() && !ps->second.empty()) {
                sep = ps->second[0];
            }
            for (const auto& f : split_list(cf->second, sep)) {
                files.push_back(fs::path(detail::absolute_clean(env_dir, f, home)));
            }
        }
    }
    if (files.empty()) {
        static const char* const names[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml"};
        static const char* const overrides[] = {"compose.override.yaml", "compose.override.yml",
                                                "docker-compose.override.yml",
                                                "docker-compose.override.yaml"};
        for (fs::path dir = env_dir; !dir.empty(); dir = dir.parent_path()) {
            for (const char* n : names) {
                if (fs::is_regular_file(dir / n)) {
                    files.push_back(dir / n);
                    break;
                }
            }
            if (!files.empty()) {
                for (const char* n : overrides) {
                    if (fs::is_regular_file(dir / n)) {
                        files.push_back(dir / n);
                        break;
                    }
                }
                break;
            }
            if (dir == dir.root_path()) {
                break;
            }
        }
        if (files.empty()) {
            return Error(Errc::not_found,
                         fmt::format("no configuration file provided: not found in {} or its "
                                     "parents",
                                     env_dir.string()));
        }
    }
    fs::path pdir = project_dir ? *project_dir : files.front().parent_path();
    if (options.before_parse) {
        options.before_parse(files);
    }

    Loader loader(options, env, wd, home);
    auto model = loader.load_model(files, pdir, {});
    if (!model) {
        return std::move(model).error();
    }
    Node root = std::move(*model);

    // Project name: -p, COMPOSE_PROJECT_NAME, `name:`, the project folder.
    std::string name;
    bool explicit_name = false;
    if (options.project_name && !options.project_name->empty()) {
        name = *options.project_name;
        explicit_name = true;
    } else if (auto it = env.find("COMPOSE_PROJECT_NAME");
               it != env.end() && !it->second.empty()) {
        name = it->second;
        explicit_name = true;
    } else if (const Node* n = root.get("name"); n && n->is_scalar() && !n->value.empty()) {
        name = n->value;
        explicit_name = true;
    } else {
        name = normalize_project_name(pdir.filename().string());
    }
    if (name.empty()) {
        return invalid("project name must not be empty");
    }
    if (explicit_name && normalize_project_name(name) != name) {
        std::string where;
        if (const Node* n = root.get("name"); n && n->value == name) {
            where = n->mark.str() + ": name: ";
        }
        return invalid(fmt::format(
            "{}invalid project name \"{}\": must consist only of lowercase alphanumeric characters, "
            "hyphens, and underscores as well as start with a letter or number",
            where, name));
    }
    root.set("name", Node::make_string(name));

    Project project;
    project.warnings = loader.warnings;
    for (const auto& v : loader.unset) {
        project.warnings.push_back(
            fmt::format("The \"{}\" variable is not set. Defaulting to a blank string.", v));
    }

    Node* services = root.get("services");
    if (!services) {
        services = &root.set("services", Node::make_mapping());
    }

    // Profiles.
    std::vector<std::string> active = options.profiles;
    if (active.empty()) {
        if (auto it = env.find("COMPOSE_PROFILES"); it != env.end()) {
            active = split_list(it->second, ',');
        }
    }
    std::set<std::string> all_profiles;
    Node disabled = Node::make_mapping();
    {
        Node kept = Node::make_mapping(services->mark);
        for (auto& e : services->entries) {
            const Node* p = e.value.get("profiles");
            bool enabled = !p || p->items.empty();
            if (p) {
                for (const auto& x : p->items) {
                    all_profiles.insert(x.value);
                    if (std::find(active.begin(), active.end(), x.value) != active.end() ||
                        std::find(active.begin(), active.end(), "*") != active.end()) {
                        enabled = true;
                    }
                }
            }
            (enabled ? kept : disabled).entries.push_back(std::move(e));
        }
        *services = std::move(kept);
    }
    project.all_profiles.assign(all_profiles.begin(), all_profiles.end());

    Lookup lookup = loader.lookup();
    Node* networks = root.get("networks");
    Node* volumes = root.get("volumes");
    Node* secrets = root.get("secrets");
    Node* configs = root.get("configs");
    for (auto& e : services->entries) {
        std::string path = "services." + e.key;
        Node& svc = e.value;
        if (options.consistency) {
            if (!svc.get("image") && !svc.get("build")) {
                return invalid(fmt::format(
                    "{}: service \"{}\" has neither an image nor a build context specified",
                    e.key_mark.str(), e.key));
            }
            auto r = check_service_values(svc, path);
            if (!r) {
                return std::move(r).error();
            }
            if (const Node* d = svc.get("depends_on")) {
                for (const auto& dep : d->entries) {
                    bool required = !dep.value.get("required") || is_true(dep.value.get("required"));
                    if (!services->get(dep.key) && required) {
                        std::string why = disabled.get(dep.key) ? " (disabled by profiles)" : "";
                        return invalid(fmt::format(
                            "{}: {}.depends_on: service \"{}\" depends on undefined service "
                            "\"{}\"{}",
                            dep.key_mark.str(), path, e.key, dep.key, why));
                    }
                }
            }
            if (const Node* n = svc.get("networks")) {
                if (svc.get("network_mode")) {
                    return invalid(fmt::format(
                        "{}: {}: service \"{}\" declares mutually exclusive `network_mode` and "
                        "`networks`",
                        n->mark.str(), path, e.key));
                }
                for (const auto& net : n->entries) {
                    if (net.key != "default" && !(networks && networks->get(net.key))) {
                        return invalid(fmt::format(
                            "{}: {}.networks: service \"{}\" refers to undefined network {}",
                            net.key_mark.str(), path, e.key, net.key));
                    }
                }
            }
            if (const Node* v = svc.get("volumes")) {
                for (std::size_t i = 0; i < v->items.size(); ++i) {
                    const Node& m = v->items[i];
                    if (scalar_text(m.get("type")) != "volume") {
                        continue;
                    }
                    std::string src = scalar_text(m.get("source"));
                    if (!src.empty() && !(volumes && volumes->get(src))) {
                        return invalid(fmt::format(
                            "{}: {}.volumes[{}]: service \"{}\" refers to undefined volume {}",
                            m.mark.str(), path, i, e.key, src));
                    }
                }
            }
            for (auto [kind, section] : {std::pair{"secrets", secrets}, {"configs", configs}}) {
                if (const Node* refs = svc.get(kind)) {
                    for (std::size_t i = 0; i < refs->items.size(); ++i) {
                        std::string src = scalar_text(refs->items[i].get("source"));
                        if (!(section && section->get(src))) {
                            return invalid(fmt::format(
                                "{}: {}.{}[{}]: service \"{}\" refers to undefined {} {}",
                                refs->items[i].mark.str(), path, kind, i, e.key,
                                std::string_view(kind).substr(0, std::strlen(kind) - 1), src));
                        }
                    }
                }
            }
            for (const auto& dep : implicit_dependencies_of(svc)) {
                if (!services->get(dep)) {
                    return invalid(fmt::format("{}: {}: service \"{}\" refers to undefined service "
                                               "\"{}\"",
                                               svc.mark.str(), path, e.key, dep));
                }
            }
        }
        auto r = apply_env_files(svc, path, lookup);
        if (!r) {
            return std::move(r).error();
        }
        // A bare environment key takes its value from the environment, if set.
        if (Node* en = svc.get("environment")) {
            for (auto& v : en->entries) {
                if (v.value.is_null()) {
                    if (auto val = lookup(v.key)) {
                        v.value = Node::make_string(*val, v.value.mark);
                    }
                }
            }
        }
    }

    auto canonical = split_to_json(root, to_json, false);
    if (!canonical) {
        return std::move(canonical).error();
    }
    json& out = *canonical;
    out.erase("include");
    if (options.normalize) {
        bool uses_default = false;
        for (auto& [sname, svc] : out["services"].items()) {
            if (!svc.contains("network_mode")) {
                if (!svc.contains("networks")) {
                    svc["networks"] = json{{"default", nullptr}};
                }
                uses_default = uses_default || svc["networks"].contains("default");
            }
            for (const auto& dep : implicit_dependencies(svc)) {
                if (!svc.contains("depends_on")) {
                    svc["depends_on"] = json::object();
                }
                if (!svc["depends_on"].contains(dep)) {
                    bool vf = false;
                    for (const auto& x : svc.value("volumes_from", json::array())) {
                        vf = vf || (x.is_string() &&
                                    x.get<std::string>().substr(0, dep.size()) == dep);
                    }
                    svc["depends_on"][dep] = json{{"condition", "service_started"},
                                                  {"required", true},
                                                  {"restart", !vf}};
                }
            }
            if (auto b = svc.find("build"); b != svc.end() && b->is_object()) {
                if (!b->contains("dockerfile") && !b->contains("dockerfile_inline")) {
                    (*b)["dockerfile"] = "Dockerfile";
                }
            }
            normalize_values(svc);
        }
        if (uses_default) {
            if (!out.contains("networks")) {
                out["networks"] = json::object();
            }
            if (!out["networks"].contains("default")) {
                out["networks"]["default"] = json::object();
            }
        }
        for (const char* section : {"networks", "volumes", "secrets", "configs"}) {
            auto it = out.find(section);
            if (it == out.end()) {
                continue;
            }
            for (auto& [key, def] : it->items()) {
                if (!def.is_object()) {
                    def = json::object();
                }
                auto ext = def.find("external");
                bool is_external = false;
                if (ext != def.end()) {
                    if (ext->is_object()) {
                        if (ext->contains("name") && !def.contains("name")) {
                            def["name"] = (*ext)["name"];
                        }
                        *ext = true;
                    } else if (ext->is_string()) {
                        *ext = ext->get<std::string>() == "true";
                    }
                    is_external = ext->is_boolean() && ext->get<bool>();
                }
                if (!def.contains("name")) {
                    def["name"] = is_external ? key : name + "_" + key;
                }
            }
            if (it->empty()) {
                out.erase(it);
            }
        }
    } else {
        for (auto& [sname, svc] : out["services"].items()) {
            normalize_values(svc);
        }
    }

    auto typed = project_from_json(std::move(out));
    if (!typed) {
        return std::move(typed).error();
    }
    if (options.consistency) {
        auto graph = DependencyGraph::from(*typed);
        if (auto cycle = graph.find_cycle()) {
            const Entry* first = services->entry(cycle->front());
            std::string where = first ? first->key_mark.str() : files.front().string();
            auto order = graph.topological_order();
            return invalid(fmt::format("{}: services.{}: {}", where, cycle->front(),
                                       order ? std::string("dependency cycle")
                                             : order.error().message()));
        }
    }
    for (const auto& e : disabled.entries) {
        auto j = to_json(e.value);
        if (j) {
            typed->disabled_services.emplace(
                e.key, project_from_json(json{{"services", {{e.key, *j}}}})->services.at(e.key));
        }
    }
    typed->name = name;
    typed->working_dir = pdir;
    typed->config_files = files;
    typed->env_files = env_files;
    typed->all_profiles = project.all_profiles;
    typed->environment = loader.env();
    typed->warnings = std::move(project.warnings);
    // The merged tree of a large project takes milliseconds to free.
    dispose_async(std::move(root));
    dispose_async(std::move(disabled));
    return typed;
}

}  // namespace berth::compose
