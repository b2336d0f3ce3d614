// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/network.hpp"

#include <fmt/format.h>
#include <sstream>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "engine/containers/state.hpp"

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
    return Error(Errc::unsupported,
                 fmt::format("network mode \"{}\" is not available yet in this build", mode));
}

void detach_network(const Paths& paths, const ContainerRecord& record) {
    (void)paths;
    (void)record;
}

}  // namespace berth::engine::containers
