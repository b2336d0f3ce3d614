// SPDX-License-Identifier: Apache-2.0
#include "compose/model.hpp"

#include <cmath>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/digest.hpp"
#include "common/duration.hpp"
#include "common/scope_exit.hpp"
#include "compose/internal/split.hpp"

namespace berth::compose {

using json = nlohmann::json;

Result<Duration> parse_duration(std::string_view text) {
    auto ns = parse_go_duration(text);
    if (!ns) {
        return std::move(ns).error();
    }
    return Duration{*ns};
}

std::string format_duration(Duration d) {
    std::int64_t ns = d.count();
    if (ns == 0) {
        return "0s";
    }
    std::string sign = ns < 0 ? "-" : "";
    std::uint64_t u = ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1
                             : static_cast<std::uint64_t>(ns);
    auto frac = [](std::uint64_t v, std::uint64_t unit) {
        std::string s = std::to_string(v / unit);
        std::uint64_t rem = v % unit;
        if (rem != 0) {
            std::string f = std::to_string(rem);
            std::size_t width = std::to_string(unit).size() - 1;
            f = std::string(width - f.size(), '0') + f;
            while (!f.empty() && f.back() == '0') {
                f.pop_back();
            }
            s += "." + f;
        }
        return s;
    };
    if (u < 1000) {
        return sign + std::to_string(u) + "ns";
    }
    if (u < 1000'000) {
        return sign + frac(u, 1000) + "µs";
    }
    if (u < 1000'000'000) {
        return sign + frac(u, 1000'000) + "ms";
    }
    std::uint64_t h = u / 3600'000'000'000ULL;
    std::uint64_t rest = u % 3600'000'000'000ULL;
    std::uint64_t m = rest / 60'000'000'000ULL;
    rest %= 60'000'000'000ULL;
    std::string out = sign;
    if (h > 0) {
        out += std::to_string(h) + "h";
    }
    if (h > 0 || m > 0) {
        out += std::to_string(m) + "m";
    }
    out += frac(rest, 1000'000'000) + "s";
    return out;
}

Result<std::int64_t> parse_bytes(std::string_view text) {
    auto bad = [&]() {
        return Error(Errc::invalid_argument, fmt::format("invalid byte size \"{}\"", text));
    };
    std::string s;
    for (char c : text) {
        if (c != ' ') {
            s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
        ++i;
    }
    if (i == 0) {
        return bad();
    }
    std::string num = s.substr(0, i);
    if (std::count(num.begin(), num.end(), '.') > 1 || num == ".") {
        return bad();
    }
    std::string unit = s.substr(i);
    if (!unit.empty() && unit.back() == 'b' && unit.size() > 1) {
        unit.pop_back();
    }
    if (unit.size() == 2 && unit[1] == 'i') {
        unit.pop_back();
    }
    long double mult = 1;
    if (unit.empty() || unit == "b") {
        mult = 1;
    } else if (unit == "k") {
        mult = 1024.0L;
    } else if (unit == "m") {
        mult = 1024.0L * 1024;
    } else if (unit == "g") {
        mult = 1024.0L * 1024 * 1024;
    } else if (unit == "t") {
        mult = 1024.0L * 1024 * 1024 * 1024;
    } else if (unit == "p") {
        mult = 1024.0L * 1024 * 1024 * 1024 * 1024;
    } else {
        return bad();
    }
    long double v = std::strtold(num.c_str(), nullptr) * mult;
    if (v > 9.2e18L) {
        return bad();
    }
    return static_cast<std::int64_t>(v);
}

namespace {

std::string str(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return {};
    }
    if (it->is_string()) {
        return it->get<std::string>();
    }
    return it->dump();
}

bool boolean(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) {
        return false;
    }
    if (it->is_boolean()) {
        return it->get<bool>();
    }
    if (it->is_string()) {
        return it->get<std::string>() == "true";
    }
    return false;
}

std::optional<std::int64_t> integer(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    if (it->is_number()) {
        return it->get<std::int64_t>();
    }
    if (it->is_string()) {
        auto b = parse_bytes(it->get<std::string>());
        if (b) {
            return *b;
        }
    }
    return std::nullopt;
}

std::optional<Duration> duration(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
        return std::nullopt;
    }
    auto d = parse_duration(it->get<std::string>());
    return d ? std::optional<Duration>(*d) : std::nullopt;
}

std::vector<std::string> strings(const json& j, const char* key) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) {
        return out;
    }
    for (const auto& v : *it) {
        out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    return out;
}

std::map<std::string, std::string> string_map(const json& j, const char* key) {
    std::map<std::string, std::string> out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_object()) {
        return out;
    }
    for (const auto& [k, v] : it->items()) {
        out[k] = v.is_string() ? v.get<std::string>() : (v.is_null() ? "" : v.dump());
    }
    return out;
}

std::optional<std::vector<std::string>> command(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) {
        return std::nullopt;
    }
    return strings(j, key);
}

MountType mount_type(const std::string& t) {
    if (t == "bind") {
        return MountType::bind;
    }
    if (t == "tmpfs") {
        return MountType::tmpfs;
    }
    if (t == "image") {
        return MountType::image;
    }
    if (t == "npipe") {
        return MountType::npipe;
    }
    if (t == "cluster") {
        return MountType::cluster;
    }
    return MountType::volume;
}

std::vector<FileReference> file_refs(const json& j, const char* key) {
    std::vector<FileReference> out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) {
        return out;
    }
    for (const auto& v : *it) {
        FileReference r;
        r.source = str(v, "source");
        r.target = str(v, "target");
        r.uid = str(v, "uid");
        r.gid = str(v, "gid");
        if (auto m = v.find("mode"); m != v.end() && m->is_number()) {
            r.mode = m->get<std::uint32_t>();
        }
        out.push_back(std::move(r));
    }
    return out;
}

Service service_from_json(const std::string& name, const json& j) {
    Service s;
    s.name = name;
    s.raw = j;
    s.image = str(j, "image");
    if (auto b = j.find("build"); b != j.end() && b->is_object()) {
        BuildConfig bc;
        bc.context = str(*b, "context");
        bc.dockerfile = str(*b, "dockerfile");
        bc.dockerfile_inline = str(*b, "dockerfile_inline");
        bc.target = str(*b, "target");
        bc.network = str(*b, "network");
        bc.labels = string_map(*b, "labels");
        bc.additional_contexts = string_map(*b, "additional_contexts");
        bc.cache_from = strings(*b, "cache_from");
        bc.cache_to = strings(*b, "cache_to");
        bc.tags = strings(*b, "tags");
        bc.platforms = strings(*b, "platforms");
        bc.no_cache = boolean(*b, "no_cache");
        bc.pull = boolean(*b, "pull");
        bc.shm_size = integer(*b, "shm_size");
        if (auto a = b->find("args"); a != b->end() && a->is_object()) {
            for (const auto& [k, v] : a->items()) {
                bc.args[k] = v.is_null() ? std::nullopt
                                         : std::optional<std::string>(
                                               v.is_string() ? v.get<std::string>() : v.dump());
            }
        }
        s.build = std::move(bc);
    }
    s.command = command(j, "command");
    s.entrypoint = command(j, "entrypoint");
    if (auto e = j.find("environment"); e != j.end() && e->is_object()) {
        for (const auto& [k, v] : e->items()) {
            s.environment[k] = v.is_null() ? std::nullopt
                                           : std::optional<std::string>(
                                                 v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
    s.labels = string_map(j, "labels");
    s.annotations = string_map(j, "annotations");
    s.sysctls = string_map(j, "sysctls");
    if (auto p = j.find("ports"); p != j.end() && p->is_array()) {
        for (const auto& v : *p) {
            PortConfig pc;
            pc.name = str(v, "name");
            pc.target = static_cast<std::uint32_t>(integer(v, "target").value_or(0));
            pc.published = str(v, "published");
            pc.host_ip = str(v, "host_ip");
            pc.protocol = str(v, "protocol");
            pc.mode = str(v, "mode");
            pc.app_protocol = str(v, "app_protocol");
            s.ports.push_back(std::move(pc));
        }
    }
    s.expose = strings(j, "expose");
    if (auto vs = j.find("volumes"); vs != j.end() && vs->is_array()) {
        for (const auto& v : *vs) {
            VolumeMount m;
            m.type = mount_type(str(v, "type"));
            m.source = str(v, "source");
            m.target = str(v, "target");
            m.read_only = boolean(v, "read_only");
            m.consistency = str(v, "consistency");
            if (auto b = v.find("bind"); b != v.end() && b->is_object()) {
                m.bind_propagation = str(*b, "propagation");
                m.bind_create_host_path = boolean(*b, "create_host_path");
                m.bind_selinux = str(*b, "selinux");
                m.bind_recursive = str(*b, "recursive");
            }
            if (auto vo = v.find("volume"); vo != v.end() && vo->is_object()) {
                m.volume_nocopy = boolean(*vo, "nocopy");
                m.volume_subpath = str(*vo, "subpath");
            }
            if (auto t = v.find("tmpfs"); t != v.end() && t->is_object()) {
                m.tmpfs_size = integer(*t, "size");
                if (auto md = integer(*t, "mode")) {
                    m.tmpfs_mode = static_cast<std::uint32_t>(*md);
                }
            }
            if (auto im = v.find("image"); im != v.end() && im->is_object()) {
                m.image_subpath = str(*im, "subpath");
            }
            s.volumes.push_back(std::move(m));
        }
    }
    s.volumes_from = strings(j, "volumes_from");
    if (auto d = j.find("depends_on"); d != j.end() && d->is_object()) {
        for (const auto& [k, v] : d->items()) {
            Dependency dep;
            std::string c = str(v, "condition");
            if (c == "service_healthy") {
                dep.condition = DependencyCondition::service_healthy;
            } else if (c == "service_completed_successfully") {
                dep.condition = DependencyCondition::service_completed_successfully;
            }
            dep.required = !v.contains("required") || boolean(v, "required");
            dep.restart = boolean(v, "restart");
            s.depends_on[k] = dep;
        }
    }
    if (auto n = j.find("networks"); n != j.end() && n->is_object()) {
        for (const auto& [k, v] : n->items()) {
            ServiceNetwork sn;
            if (v.is_object()) {
                sn.aliases = strings(v, "aliases");
                sn.ipv4_address = str(v, "ipv4_address");
                sn.ipv6_address = str(v, "ipv6_address");
                sn.interface_name = str(v, "interface_name");
                sn.mac_address = str(v, "mac_address");
                sn.link_local_ips = strings(v, "link_local_ips");
                sn.driver_opts = string_map(v, "driver_opts");
                sn.priority = integer(v, "priority");
                sn.gw_priority = integer(v, "gw_priority");
            }
            s.networks[k] = std::move(sn);
        }
    }
    s.network_mode = str(j, "network_mode");
    s.ipc = str(j, "ipc");
    s.pid = str(j, "pid");
    s.uts = str(j, "uts");
    s.cgroup = str(j, "cgroup");
    if (auto h = j.find("healthcheck"); h != j.end() && h->is_object()) {
        Healthcheck hc;
        hc.test = strings(*h, "test");
        hc.interval = duration(*h, "interval");
        hc.timeout = duration(*h, "timeout");
        hc.start_period = duration(*h, "start_period");
        hc.start_interval = duration(*h, "start_interval");
        if (auto r = integer(*h, "retries")) {
            hc.retries = static_cast<std::uint64_t>(*r);
        }
        hc.disable = boolean(*h, "disable") || (!hc.test.empty() && hc.test[0] == "NONE");
        s.healthcheck = std::move(hc);
    }
    s.scale = integer(j, "scale");
    if (auto d = j.find("deploy"); d != j.end() && d->is_object()) {
        if (auto r = integer(*d, "replicas")) {
            s.scale = r;
        }
    }
    s.restart = str(j, "restart");
    s.container_name = str(j, "container_name");
    s.hostname = str(j, "hostname");
    s.domainname = str(j, "domainname");
    s.user = str(j, "user");
    s.working_dir = str(j, "working_dir");
    s.platform = str(j, "platform");
    s.pull_policy = str(j, "pull_policy");
    s.stop_signal = str(j, "stop_signal");
    s.stop_grace_period = duration(j, "stop_grace_period");
    s.privileged = boolean(j, "privileged");
    s.read_only = boolean(j, "read_only");
    s.tty = boolean(j, "tty");
    s.stdin_open = boolean(j, "stdin_open");
    if (j.contains("init")) {
        s.init = boolean(j, "init");
    }
    s.cap_add = strings(j, "cap_add");
    s.cap_drop = strings(j, "cap_drop");
    s.security_opt = strings(j, "security_opt");
    s.dns = strings(j, "dns");
    s.dns_search = strings(j, "dns_search");
    s.dns_opt = strings(j, "dns_opt");
    s.extra_hosts = strings(j, "extra_hosts");
    s.tmpfs = strings(j, "tmpfs");
    s.links = strings(j, "links");
    s.external_links = strings(j, "external_links");
    s.group_add = strings(j, "group_add");
    s.profiles = strings(j, "profiles");
    if (auto d = j.find("devices"); d != j.end() && d->is_array()) {
        for (const auto& v : *d) {
            s.devices.push_back({str(v, "source"), str(v, "target"), str(v, "permissions")});
        }
    }
    s.secrets = file_refs(j, "secrets");
    s.configs = file_refs(j, "configs");
    if (auto u = j.find("ulimits"); u != j.end() && u->is_object()) {
        for (const auto& [k, v] : u->items()) {
            Ulimit ul;
            if (v.is_number()) {
                ul.single = v.get<std::int64_t>();
                ul.soft = ul.hard = *ul.single;
            } else if (v.is_object()) {
                ul.soft = integer(v, "soft").value_or(0);
                ul.hard = integer(v, "hard").value_or(0);
            }
            s.ulimits[k] = ul;
        }
    }
    if (auto l = j.find("logging"); l != j.end() && l->is_object()) {
        s.logging = Logging{str(*l, "driver"), string_map(*l, "options")};
    }
    s.mem_limit = integer(j, "mem_limit");
    s.mem_reservation = integer(j, "mem_reservation");
    s.memswap_limit = integer(j, "memswap_limit");
    s.shm_size = integer(j, "shm_size");
    if (auto c = j.find("cpus"); c != j.end()) {
        if (c->is_number()) {
            s.cpus = c->get<double>();
        } else if (c->is_string()) {
            s.cpus = std::strtod(c->get<std::string>().c_str(), nullptr);
        }
    }
    s.cpu_shares = integer(j, "cpu_shares");
    s.pids_limit = integer(j, "pids_limit");
    s.cpuset = str(j, "cpuset");
    s.runtime = str(j, "runtime");
    s.mac_address = str(j, "mac_address");
    return s;
}

bool external(const json& j) {
    auto it = j.find("external");
    return it != j.end() && ((it->is_boolean() && it->get<bool>()) || it->is_object());
}

}  // namespace

Result<Project> project_from_json(const json& canonical) {
    return project_from_json(json(canonical));
}

Result<Project> project_from_json(json&& canonical) {
    Project p;
    p.name = str(canonical, "name");
    if (auto s = canonical.find("services"); s != canonical.end() && s->is_object()) {
        // A large project's services are typed on two threads.
        std::vector<std::pair<const std::string*, const json*>> items;
        items.reserve(s->size());
        for (const auto& [k, v] : s->items()) {
            items.emplace_back(&k, &v);
        }
        std::vector<Service> typed(items.size());
        auto done = detail::for_each_split(items.size(), [&](size_t i) -> Result<void> {
            typed[i] = service_from_json(*items[i].first, *items[i].second);
            return {};
        });
        if (!done) {
            return std::move(done).error();
        }
        for (size_t i = 0; i < items.size(); ++i) {
            p.services.emplace(*items[i].first, std::move(typed[i]));
        }
    }
    if (auto s = canonical.find("networks"); s != canonical.end() && s->is_object()) {
        for (const auto& [k, v] : s->items()) {
            Network n;
            n.key = k;
            n.raw = v;
            n.name = str(v, "name");
            n.driver = str(v, "driver");
            n.driver_opts = string_map(v, "driver_opts");
            n.external = external(v);
            n.internal = boolean(v, "internal");
            n.attachable = boolean(v, "attachable");
            if (v.contains("enable_ipv4")) {
                n.enable_ipv4 = boolean(v, "enable_ipv4");
            }
            if (v.contains("enable_ipv6")) {
                n.enable_ipv6 = boolean(v, "enable_ipv6");
            }
            n.labels = string_map(v, "labels");
            n.ipam = v.value("ipam", json());
            p.networks.emplace(k, std::move(n));
        }
    }
    if (auto s = canonical.find("volumes"); s != canonical.end() && s->is_object()) {
        for (const auto& [k, v] : s->items()) {
            Volume vol;
            vol.key = k;
            vol.raw = v;
            vol.name = str(v, "name");
            vol.driver = str(v, "driver");
            vol.driver_opts = string_map(v, "driver_opts");
            vol.external = external(v);
            vol.labels = string_map(v, "labels");
            p.volumes.emplace(k, std::move(vol));
        }
    }
    for (const char* section : {"secrets", "configs"}) {
        auto s = canonical.find(section);
        if (s == canonical.end() || !s->is_object()) {
            continue;
        }
        for (const auto& [k, v] : s->items()) {
            FileObject f;
            f.key = k;
            f.raw = v;
            f.name = str(v, "name");
            f.file = str(v, "file");
            f.environment = str(v, "environment");
            f.content = str(v, "content");
            f.external = external(v);
            f.labels = string_map(v, "labels");
            (std::string_view(section) == "secrets" ? p.secrets : p.configs).emplace(k, f);
        }
    }
    p.raw = std::move(canonical);
    return p;
}

namespace {

json escape_dollars(const json& v) {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s.find('$') == std::string::npos) {
            return v;
        }
        std::string out;
        for (char c : s) {
            out += c;
            if (c == '$') {
                out += '$';
            }
        }
        return out;
    }
    if (v.is_array()) {
        json a = json::array();
        for (const auto& x : v) {
            a.push_back(escape_dollars(x));
        }
        return a;
    }
    if (v.is_object()) {
        json o = json::object();
        for (const auto& [k, x] : v.items()) {
            o[k] = escape_dollars(x);
        }
        return o;
    }
    return v;
}

}  // namespace

/// True when a string value of `v` holds a '$' (keys are never escaped).
bool has_dollar(const json& v) {
    if (v.is_string()) {
        return v.get_ref<const std::string&>().find('$') != std::string::npos;
    }
    if (v.is_structured()) {
        for (const auto& x : v) {
            if (has_dollar(x)) {
                return true;
            }
        }
    }
    return false;
}

json project_to_json(const Project& project, bool escape) {
    return escape ? escape_dollars(project.raw) : project.raw;
}

namespace {

/// `"key": value` members of an object at `depth`, appended to `out` as
/// dump(indent) writes them (nlohmann's own serializer, started at the
/// member's depth).
void append_members(std::string& out,
                    const std::vector<std::pair<const std::string*, const json*>>& items,
                    size_t from, size_t to, int indent, size_t depth) {
    size_t pad = depth * static_cast<size_t>(indent);
    nlohmann::detail::serializer<json> writer(nlohmann::detail::output_adapter<char>(out), ' ');
    for (size_t i = from; i < to; ++i) {
        out.append(pad, ' ');
        out += json(*items[i].first).dump();
        out += ": ";
        writer.dump(*items[i].second, true, false, static_cast<unsigned>(indent),
                    static_cast<unsigned>(pad));
        if (i + 1 < to) {
            out += ",\n";
        }
    }
}

std::vector<std::pair<const std::string*, const json*>> members_of(const json& obj) {
    std::vector<std::pair<const std::string*, const json*>> items;
    for (const auto& [k, v] : obj.items()) {
        items.emplace_back(&k, &v);
    }
    return items;
}

}  // namespace

std::string project_json_text(const Project& project, bool escape, int indent) {
    // Most projects have no '$' left after interpolation: then the raw tree
    // is printed as it is, without the copy that escaping makes.
    const json* raw = &project.raw;
    json escaped;
    if (escape && has_dollar(project.raw)) {
        escaped = escape_dollars(project.raw);
        raw = &escaped;
    }
    auto services = raw->find("services");
    if (indent <= 0 || !raw->is_object() || services == raw->end() || !services->is_object() ||
        services->size() < detail::parallel_from) {
        return raw->dump(indent);
    }
    // A large project: its services are written on two threads, in the
    // layout dump(indent) gives (the output is byte for byte the same).
    auto svc = members_of(*services);
    size_t half = svc.size() / 2;
    std::string second;
    std::exception_ptr failed;
    std::thread helper([&] {
        try {
            append_members(second, svc, half, svc.size(), indent, 2);
        } catch (...) {
            failed = std::current_exception();  // e.g. invalid UTF-8, as dump() throws it
        }
    });
    ScopeExit join([&] {
        if (helper.joinable()) {
            helper.join();
        }
    });
    std::string out = "{\n";
    auto top = members_of(*raw);
    size_t pad = static_cast<size_t>(indent);
    for (size_t i = 0; i < top.size(); ++i) {
        if (top[i].second == &*services) {
            out.append(pad, ' ');
            out += json(*top[i].first).dump();
            out += ": {\n";
            append_members(out, svc, 0, half, indent, 2);
            out += ",\n";
            helper.join();
            if (failed) {
                std::rethrow_exception(failed);
            }
            out += second;
            out += "\n";
            out.append(pad, ' ');
            out += "}";
        } else {
            append_members(out, top, i, i + 1, indent, 1);
        }
        out += i + 1 < top.size() ? ",\n" : "\n";
    }
    out += "}";
    return out;
}

std::string config_hash(const Service& service) {
    json j = service.raw;
    for (const char* k : {"build", "pull_policy", "scale", "depends_on", "profiles"}) {
        j.erase(k);
    }
    if (auto d = j.find("deploy"); d != j.end() && d->is_object()) {
        d->erase("replicas");
        if (d->empty()) {
            j.erase("deploy");
        }
    }
    return std::string(Digest::of(j.dump()).hex());
}

}  // namespace berth::compose
