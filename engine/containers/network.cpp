// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/network.hpp"

#include <fmt/format.h>
#include <sstream>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "engine/containers/state.hpp"
#include "netns/network.hpp"

#include <algorithm>
#include <fmt/ranges.h>

namespace berth::engine::containers {

std::string container_resolv_conf(const std::string& host) {
    std::istringstream in(host);
    std::string out;
    bool has_ns = false;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key, value;
        words >> key >> value;
        if (key == "nameserver") {
            if (value.rfind("127.", 0) == 0 || value == "::1") {
                continue;
            }
            has_ns = true;
        }
        out += line + "\n";
    }
    if (!has_ns) {
        out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
    }
    return out;
}

std::string container_hosts(const std::string& hostname,
                            const std::vector<std::pair<std::string, std::string>>& own,
                            const std::vector<std::string>& extra_hosts) {
    std::string out =
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n";
    for (const auto& e : extra_hosts) {
        // Docker accepts host:ip and host=ip.
        auto sep = e.find_first_of("=:");
        if (sep == std::string::npos) {
            continue;
        }
        out += fmt::format("{}\t{}\n", e.substr(sep + 1), e.substr(0, sep));
    }
    for (const auto& [ip, names] : own) {
        out += fmt::format("{}\t{}\n", ip, names);
    }
    (void)hostname;
    return out;
}

Result<NetworkSetup> attach_network(const Paths& paths, const ContainerRecord& record,
                                    const ContainerStore& store) {
    (void)paths;
    NetworkSetup setup;
    const auto& c = record.config;
    auto hostname = record.config.hostname.empty() ? record.id.substr(0, 12) : record.config.hostname;
    auto host_resolv = fs::read_file("/etc/resolv.conf");
    std::string host_resolv_text = host_resolv ? *host_resolv : std::string();
    const std::string& mode = c.network_mode;
    if (mode == "host") {
        setup.host = true;
        setup.resolv_conf = host_resolv_text;
        auto host_hosts = fs::read_file("/etc/hosts");
        setup.hosts = host_hosts ? *host_hosts : container_hosts(hostname, {}, c.extra_hosts);
        return setup;
    }
    if (mode.rfind("container:", 0) == 0) {
        auto other = store.get(mode.substr(10));
        if (!other) {
            return std::move(other).error().wrap("join network of container");
        }
        auto st = store.state(other->id);
        if (!st || st->status != Status::running || st->pid <= 0) {
            return Error(Errc::failed_precondition,
                         fmt::format("cannot join network of a non running container: {}", other->name));
        }
        setup.netns_path = fmt::format("/proc/{}/ns/net", st->pid);
        auto other_resolv = fs::read_file(store.dir(other->id) / "resolv.conf");
        auto other_hosts = fs::read_file(store.dir(other->id) / "hosts");
        setup.resolv_conf = other_resolv ? *other_resolv : container_resolv_conf(host_resolv_text);
        setup.hosts = other_hosts ? *other_hosts : container_hosts(hostname, {}, c.extra_hosts);
        return setup;
    }
    if (mode == "none") {
        setup.resolv_conf = container_resolv_conf(host_resolv_text);
        setup.hosts = container_hosts(hostname, {}, c.extra_hosts);
        return setup;
    }

    // Bridge networks: a persistent namespace with one endpoint per network.
    netns::AttachRequest req;
    req.container_id = record.id;
    req.container_name = record.name;
    req.hostname = hostname;
    req.netns_path = netns_path_of(paths, record.id);
    std::vector<std::string> names{mode};
    for (const auto& n : c.networks) {
        if (std::find(names.begin(), names.end(), n) == names.end()) {
            names.push_back(n);
        }
    }
    for (const auto& n : names) {
        netns::AttachRequest::Net net;
        net.network = n;
        if (n != netns::default_network_name) {
            net.aliases = c.network_aliases;
        }
        if (n == names.front() && !c.ipv4_address.empty()) {
            net.ipv4 = c.ipv4_address;
        }
        if (n == names.front() && !c.ipv6_address.empty()) {
            net.ipv6 = c.ipv6_address;
        }
        req.networks.push_back(std::move(net));
    }
    for (const auto& p : c.publish) {
        auto bindings = netns::parse_port_spec(p);
        if (!bindings) {
            return std::move(bindings).error();
        }
        req.ports.insert(req.ports.end(), bindings->begin(), bindings->end());
    }
    // A namespace left by a crash is replaced, not reused.
    auto stale = netns::detach(paths, record.id);
    (void)stale;
    auto gone = netns::remove_netns(req.netns_path);
    (void)gone;
    if (auto r = netns::create_netns(req.netns_path); !r) {
        return std::move(r).error().wrap(fmt::format("create network namespace of {}", record.name));
    }
    auto endpoints = netns::attach(paths, req);
    if (!endpoints) {
        auto r = netns::remove_netns(req.netns_path);
        (void)r;
        return std::move(endpoints).error();
    }
    setup.netns_path = req.netns_path.native();
    std::vector<std::pair<std::string, std::string>> own;
    for (const auto& ep : *endpoints) {
        own.emplace_back(ep.ipv4, hostname);
        if (!ep.ipv6.empty()) {
            own.emplace_back(ep.ipv6, hostname);
        }
    }
    setup.hosts = container_hosts(hostname, own, c.extra_hosts);
    std::string dns = endpoints->empty() ? std::string() : endpoints->front().dns_server;
    if (!c.dns.empty() && dns.empty()) {
        std::string text;
        for (const auto& d : c.dns) {
            text += "nameserver " + d + "\n";
        }
        setup.resolv_conf = text;
    } else if (!dns.empty()) {
        // The berth resolver answers container names and forwards the rest.
        std::string text = "nameserver " + dns + "\n";
        std::istringstream in(host_resolv_text);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("search", 0) == 0 || line.rfind("options", 0) == 0) {
                text += line + "\n";
            }
        }
        setup.resolv_conf = text;
    } else {
        setup.resolv_conf = container_resolv_conf(host_resolv_text);
    }
    if (!c.dns_search.empty()) {
        setup.resolv_conf += fmt::format("search {}\n", fmt::join(c.dns_search, " "));
    }
    if (!c.dns_options.empty()) {
        setup.resolv_conf += fmt::format("options {}\n", fmt::join(c.dns_options, " "));
    }
    return setup;
}

std::filesystem::path netns_path_of(const Paths& paths, const std::string& id) {
    return netns::netns_dir(paths) / id;
}

void detach_network(const Paths& paths, const ContainerRecord& record) {
    const auto& mode = record.config.network_mode;
    if (mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0) {
        return;
    }
    if (auto r = netns::detach(paths, record.id); !r) {
        log::engine().warn("detach {} from its networks: {}", record.short_id(), r.error().message());
    }
    if (auto r = netns::remove_netns(netns_path_of(paths, record.id)); !r) {
        log::engine().warn("remove network namespace of {}: {}", record.short_id(), r.error().message());
    }
}

}  // namespace berth::engine::containers
