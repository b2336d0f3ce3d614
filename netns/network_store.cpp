// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/digest.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "netns/internal/names.hpp"
#include "netns/ipam.hpp"
#include "netns/network.hpp"

namespace berth::netns {

namespace {

constexpr int schema_version = 1;

std::string format_time(std::chrono::system_clock::time_point t) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:09d}Z", buf, ns % 1000000000);
}

std::chrono::system_clock::time_point parse_time(const std::string& text) {
    std::tm tm{};
    const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) {
        return {};
    }
    long long nanos = 0;
    if (*rest == '.') {
        nanos = std::strtoll(rest + 1, nullptr, 10);
    }
    auto secs = ::timegm(&tm);
    return std::chrono::system_clock::time_point{} + std::chrono::seconds(secs) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::nanoseconds(nanos));
}

nlohmann::json port_to_json(const PortBinding& p) {
    return {{"host_ip", p.host_ip},
            {"host_port", p.host_port},
            {"host_port_end", p.host_port_end},
            {"container_port", p.container_port},
            {"protocol", p.protocol}};
}

PortBinding port_from_json(const nlohmann::json& j) {
    PortBinding p;
    p.host_ip = j.value("host_ip", "");
    p.host_port = j.value("host_port", uint16_t{0});
    p.host_port_end = j.value("host_port_end", p.host_port);
    p.container_port = j.value("container_port", uint16_t{0});
    p.protocol = j.value("protocol", "tcp");
    return p;
}

nlohmann::json to_json(const Network& n) {
    nlohmann::json eps = nlohmann::json::object();
    for (const auto& [id, e] : n.endpoints) {
        nlohmann::json ports = nlohmann::json::array();
        for (const auto& p : e.ports) {
            ports.push_back(port_to_json(p));
        }
        eps[id] = {{"container_id", e.container_id},
                   {"container_name", e.container_name},
                   {"hostname", e.hostname},
                   {"aliases", e.aliases},
                   {"ifname", e.ifname},
                   {"host_ifname", e.host_ifname},
                   {"ipv4", e.ipv4},
                   {"ipv6", e.ipv6},
                   {"mac", e.mac},
                   {"netns_path", e.netns_path},
                   {"static_ip", e.static_ip},
                   {"static_ip6", e.static_ip6},
                   {"ports", ports}};
    }
    return {{"schema_version", schema_version},
            {"id", n.id},
            {"name", n.name},
            {"driver", n.driver},
            {"created", format_time(n.created)},
            {"bridge", n.bridge},
            {"subnet", n.subnet},
            {"gateway", n.gateway},
            {"ip_range", n.ip_range},
            {"subnet6", n.subnet6},
            {"gateway6", n.gateway6},
            {"ip_range6", n.ip_range6},
            {"internal", n.internal},
            {"ipv6", n.ipv6},
            {"dns_enabled", n.dns_enabled},
            {"labels", n.labels},
            {"options", n.options},
            {"endpoints", eps}};
}

Result<Network> from_json(const nlohmann::json& j, const std::filesystem::path& file) {
    try {
        if (j.value("schema_version", 0) != schema_version) {
            return Error(Errc::invalid_argument,
                         fmt::format("network record {}: unsupported schema_version {}",
                                     file.native(), j.value("schema_version", 0)));
        }
        Network n;
        n.id = j.at("id").get<std::string>();
        n.name = j.at("name").get<std::string>();
        n.driver = j.value("driver", "bridge");
        n.created = parse_time(j.value("created", ""));
        n.bridge = j.at("bridge").get<std::string>();
        n.subnet = j.at("subnet").get<std::string>();
        n.gateway = j.at("gateway").get<std::string>();
        n.ip_range = j.value("ip_range", "");
        n.subnet6 = j.value("subnet6", "");
        n.gateway6 = j.value("gateway6", "");
        n.ip_range6 = j.value("ip_range6", "");
        n.internal = j.value("internal", false);
        n.ipv6 = j.value("ipv6", false);
        n.dns_enabled = j.value("dns_enabled", true);
        n.labels = j.value("labels", std::map<std::string, std::string>{});
        n.options = j.value("options", std::map<std::string, std::string>{});
        if (!j.contains("endpoints")) {
            return n;
        }
        const auto& endpoints = j.at("endpoints");
        for (const auto& [id, e] : endpoints.items()) {
            EndpointRecord r;
            r.container_id = e.value("container_id", id);
            r.container_name = e.value("container_name", "");
            r.hostname = e.value("hostname", "");
            r.aliases = e.value("aliases", std::vector<std::string>{});
            r.ifname = e.value("ifname", "");
            r.host_ifname = e.value("host_ifname", "");
            r.ipv4 = e.value("ipv4", "");
            r.ipv6 = e.value("ipv6", "");
            r.mac = e.value("mac", "");
            r.netns_path = e.value("netns_path", "");
            r.static_ip = e.value("static_ip", false);
            r.static_ip6 = e.value("static_ip6", false);
            if (e.contains("ports")) {
                for (const auto& p : e.at("ports")) {
                    r.ports.push_back(port_from_json(p));
                }
            }
            n.endpoints.emplace(id, std::move(r));
        }
        if (n.id.size() != 64 || n.id.find_first_not_of("0123456789abcdef") != std::string::npos) {
            return Error(Errc::invalid_argument,
                         fmt::format("network record {}: invalid id", file.native()));
        }
        return n;
    } catch (const nlohmann::json::exception& e) {
        return Error(Errc::invalid_argument,
                     fmt::format("network record {}: {}", file.native(), e.what()));
    }
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 128) {
        return false;
    }
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (!alnum(name[0])) {
        return false;
    }
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

}  // namespace

/// The IPv6 plan of a new network: nullopt without --ipv6; the given subnet
/// (checked against other networks and host routes) or the next free /64 of
/// the ULA default pool of this installation.
Result<std::optional<AddressPlan6>> NetworkStore::plan_ipv6(
    const NetworkSpec& spec, const std::vector<Network>& all,
    const std::vector<std::string>& host_routes) const {
    if (!spec.ipv6) {
        if (spec.subnet6 || spec.gateway6 || spec.ip_range6) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: an IPv6 subnet, gateway or ip-range needs "
                                     "--ipv6 (compose: enable_ipv6: true)",
                                     spec.name));
        }
        return std::optional<AddressPlan6>{};
    }
    std::vector<std::pair<Ipv6Prefix, std::string>> taken;  // prefix, what holds it
    for (const auto& n : all) {
        if (auto p = Ipv6Prefix::parse(n.subnet6)) {
            taken.emplace_back(*p, fmt::format("subnet {} of network {}", n.subnet6, n.name));
        }
    }
    for (const auto& r : host_routes) {
        auto p = Ipv6Prefix::parse(r);
        if (p && p->length > 0 &&
            !(p->addr.bytes[0] == 0xfe && (p->addr.bytes[1] & 0xc0) == 0x80)) {
            taken.emplace_back(*p, fmt::format("host route {}", r));
        }
    }
    Ipv6Prefix subnet;
    if (spec.subnet6) {
        auto s = Ipv6Prefix::parse(*spec.subnet6);
        if (!s) {
            return std::move(s).error().wrap(fmt::format("network {}", spec.name));
        }
        subnet = *s;
        for (const auto& [p, what] : taken) {
            if (p.overlaps(subnet)) {
                return Error(Errc::conflict, fmt::format("network {}: subnet {} overlaps {}",
                                                         spec.name, subnet.str(), what));
            }
        }
    } else {
        if (spec.gateway6 || spec.ip_range6) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: an IPv6 gateway or ip-range needs an IPv6 "
                                     "subnet",
                                     spec.name));
        }
        std::vector<Ipv6Prefix> prefixes;
        for (const auto& [p, what] : taken) {
            prefixes.push_back(p);
        }
        auto s = allocate_subnet6(default_pool6(paths_.root.native()), prefixes);
        if (!s) {
            return std::move(s).error().wrap(fmt::format("network {}", spec.name));
        }
        subnet = *s;
    }
    auto plan = make_address_plan6(spec.name, subnet, spec.gateway6, spec.ip_range6);
    if (!plan) {
        return std::move(plan).error();
    }
    return std::optional<AddressPlan6>{*plan};
}

int Network::mtu() const {
    auto it = options.find(std::string(mtu_option));
    if (it != options.end()) {
        try {
            int v = std::stoi(it->second);
            if (v >= 68 && v <= 65535) {
                return v;
            }
        } catch (const std::exception&) {
            return 1500;
        }
    }
    return 1500;
}

Result<std::vector<Network>> read_networks(const Paths& paths) {
    std::vector<Network> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(paths.networks(), ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) {
            return out;
        }
        return Error::from_errno(ec.value(), fmt::format("list {}", paths.networks().native()));
    }
    for (const auto& entry : it) {
        const auto& p = entry.path();
        if (p.extension() != ".json" || p.filename().native().rfind(".tmp", 0) == 0) {
            continue;
        }
        auto j = read_json(p);
        if (!j) {
            if (j.error().code() != Errc::not_found) {
                log::netns().warn("skip network record: {}", j.error().message());
            }
            continue;
        }
        auto n = from_json(*j, p);
        if (!n) {
            log::netns().warn("skip network record: {}", n.error().message());
            continue;
        }
        out.push_back(std::move(*n));
    }
    std::sort(out.begin(), out.end(),
              [](const Network& a, const Network& b) { return a.name < b.name; });
    return out;
}

Result<NetworkStore> NetworkStore::open(const Paths& paths) {
    for (const auto& dir : {paths.networks(), paths.locks()}) {
        if (auto r = fs::make_dirs(dir, 0700); !r) {
            return std::move(r).error();
        }
    }
    auto lock = fs::FileLock::acquire(paths.locks() / "networks.lock");
    if (!lock) {
        return std::move(lock).error().wrap("lock networks");
    }
    return NetworkStore(paths, std::move(*lock));
}

Result<void> NetworkStore::save(const Network& net, fs::Durability durability) {
    return write_json(paths_.networks() / (net.id + ".json"), to_json(net), 2, 0600, durability);
}

Result<std::vector<Network>> NetworkStore::list() const { return read_networks(paths_); }

Result<Network> NetworkStore::get(std::string_view name_or_id) const {
    auto all = list();
    if (!all) {
        return std::move(all).error();
    }
    for (const auto& n : *all) {
        if (n.name == name_or_id) {
            return n;
        }
    }
    for (const auto& n : *all) {
        if (n.id == name_or_id) {
            return n;
        }
    }
    const Network* found = nullptr;
    if (!name_or_id.empty()) {
        for (const auto& n : *all) {
            if (n.id.rfind(name_or_id, 0) == 0) {
                if (found != nullptr) {
                    return Error(Errc::conflict,
                                 fmt::format("network {} is ambiguous: several networks match",
                                             name_or_id));
                }
                found = &n;
            }
        }
    }
    if (found == nullptr) {
        return Error(Errc::not_found, fmt::format("network {} not found", name_or_id));
    }
    return *found;
}

Result<Network> NetworkStore::create(const NetworkSpec& spec_in,
                                     const std::vector<std::string>& host_routes) {
    // An IPv6 subnet, gateway or range may arrive in the IPv4 fields (compose
    // ipam config entries carry no family); move it to its own field.
    NetworkSpec spec = spec_in;
    for (auto [v4, v6] : {std::pair{&spec.subnet, &spec.subnet6},
                          {&spec.gateway, &spec.gateway6},
                          {&spec.ip_range, &spec.ip_range6}}) {
        if (*v4 && v4->value().find(':') != std::string::npos) {
            if (*v6) {
                return Error(Errc::invalid_argument,
                             fmt::format("network {}: two IPv6 values \"{}\" and \"{}\"",
                                         spec.name, v4->value(), v6->value()));
            }
            *v6 = std::move(*v4);
            v4->reset();
        }
    }
    if (!valid_name(spec.name)) {
        return Error(Errc::invalid_argument,
                     fmt::format("invalid network name \"{}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                 "are allowed",
                                 spec.name));
    }
    if (spec.driver != "bridge") {
        return Error(Errc::unsupported,
                     fmt::format("network {}: driver \"{}\" is not supported (only bridge)",
                                 spec.name, spec.driver));
    }
    auto all = list();
    if (!all) {
        return std::move(all).error();
    }
    for (const auto& n : *all) {
        if (n.name == spec.name) {
            return Error(Errc::already_exists,
                         fmt::format("network with name {} already exists", spec.name));
        }
    }
    std::vector<Ipv4Prefix> networks_taken;
    for (const auto& n : *all) {
        if (auto p = Ipv4Prefix::parse(n.subnet); p) {
            networks_taken.push_back(*p);
        }
    }
    std::vector<Ipv4Prefix> routes_taken;
    for (const auto& r : host_routes) {
        if (auto p = Ipv4Prefix::parse(r); p && p->length > 0) {
            routes_taken.push_back(*p);
        }
    }
    Ipv4Prefix subnet;
    if (spec.subnet) {
        auto s = Ipv4Prefix::parse(*spec.subnet);
        if (!s) {
            return std::move(s).error().wrap(fmt::format("network {}", spec.name));
        }
        subnet = *s;
        for (const auto& n : *all) {
            auto p = Ipv4Prefix::parse(n.subnet);
            if (p && p->overlaps(subnet)) {
                return Error(Errc::conflict,
                             fmt::format("network {}: subnet {} overlaps subnet {} of network {}",
                                         spec.name, subnet.str(), n.subnet, n.name));
            }
        }
        for (const auto& r : routes_taken) {
            if (r.overlaps(subnet)) {
                return Error(Errc::conflict,
                             fmt::format("network {}: subnet {} overlaps host route {}",
                                         spec.name, subnet.str(), r.str()));
            }
        }
    } else {
        if (spec.gateway || spec.ip_range) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: --gateway and --ip-range need --subnet",
                                     spec.name));
        }
        auto taken = networks_taken;
        taken.insert(taken.end(), routes_taken.begin(), routes_taken.end());
        auto s = allocate_subnet(taken);
        if (!s) {
            return std::move(s).error().wrap(fmt::format("network {}", spec.name));
        }
        subnet = *s;
    }
    auto plan = make_address_plan(spec.name, subnet, spec.gateway, spec.ip_range);
    if (!plan) {
        return std::move(plan).error();
    }
    auto plan6 = plan_ipv6(spec, *all, host_routes);
    if (!plan6) {
        return std::move(plan6).error();
    }
    Network n;
    n.id = random_hex_id(64);
    n.name = spec.name;
    n.driver = spec.driver;
    n.created = std::chrono::system_clock::now();
    n.subnet = plan->subnet.str();
    n.gateway = plan->gateway.str();
    n.ip_range = plan->ip_range ? plan->ip_range->str() : "";
    if (*plan6) {
        n.subnet6 = (*plan6)->subnet.str();
        n.gateway6 = (*plan6)->gateway.str();
        n.ip_range6 = (*plan6)->ip_range ? (*plan6)->ip_range->str() : "";
    }
    n.internal = spec.internal;
    n.ipv6 = spec.ipv6;
    n.labels = spec.labels;
    n.options = spec.options;
    n.dns_enabled = spec.name != default_network_name;
    if (auto it = spec.options.find(std::string(bridge_name_option)); it != spec.options.end()) {
        if (!detail::valid_ifname(it->second)) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: invalid bridge name \"{}\"", spec.name,
                                     it->second));
        }
        n.bridge = it->second;
    } else if (spec.name == default_network_name) {
        n.bridge = detail::default_bridge_name(paths_.prefix);
    } else {
        n.bridge = detail::bridge_name(paths_.prefix, n.id);
    }
    for (const auto& other : *all) {
        if (other.bridge == n.bridge) {
            return Error(Errc::conflict, fmt::format("network {}: bridge {} is used by network {}",
                                                     spec.name, n.bridge, other.name));
        }
    }
    if (auto it = spec.options.find(std::string(mtu_option)); it != spec.options.end()) {
        if (n.mtu() == 1500 && it->second != "1500") {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: invalid MTU \"{}\"", spec.name, it->second));
        }
    }
    if (auto r = save(n); !r) {
        return std::move(r).error().wrap(fmt::format("create network {}", spec.name));
    }
    return n;
}

Result<void> NetworkStore::remove(std::string_view name_or_id) {
    auto n = get(name_or_id);
    if (!n) {
        return std::move(n).error();
    }
    if (!n->endpoints.empty()) {
        std::string names;
        for (const auto& [id, e] : n->endpoints) {
            names += (names.empty() ? "" : ", ") +
                     (e.container_name.empty() ? id.substr(0, 12) : e.container_name);
        }
        return Error(Errc::failed_precondition,
                     fmt::format("network {} has active endpoints ({})", n->name, names));
    }
    auto file = paths_.networks() / (n->id + ".json");
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
        int err = errno;
        return Error::from_errno(err, fmt::format("remove network {}", n->name));
    }
    return {};
}

Result<std::vector<std::string>> NetworkStore::prune() {
    auto all = list();
    if (!all) {
        return std::move(all).error();
    }
    std::vector<std::string> removed;
    for (const auto& n : *all) {
        if (n.name == default_network_name || !n.endpoints.empty()) {
            continue;
        }
        if (auto r = remove(n.id); !r) {
            return std::move(r).error();
        }
        removed.push_back(n.name);
    }
    return removed;
}

}  // namespace berth::netns
