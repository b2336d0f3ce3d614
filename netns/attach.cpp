// SPDX-License-Identifier: Apache-2.0
// Acting code: turns network records into bridges, veths, addresses, routes
// and nftables rules, and back.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statfs.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "netns/internal/firewall.hpp"
#include "netns/internal/kernel.hpp"
#include "netns/internal/names.hpp"
#include "netns/internal/resolver.hpp"
#include "netns/ipam.hpp"
#include "netns/network.hpp"

namespace berth::netns {

namespace {

using detail::Netlink;

/// Sysctls that may be absent (IPv6 disabled on the kernel command line).
void try_sysctl(const std::string& key, const std::string& value) {
    if (auto r = detail::write_sysctl(key, value); !r && r.error().code() != Errc::not_found) {
        log::netns().warn("{}", r.error().message());
    }
}

Result<void> ensure_bridge(Netlink& nl, const Network& n) {
    auto idx = nl.ifindex(n.bridge);
    if (!idx && idx.error().code() != Errc::not_found) {
        return std::move(idx).error();
    }
    if (!idx) {
        if (auto r = nl.create_bridge(n.bridge, n.mtu()); !r) {
            return std::move(r).error().wrap(fmt::format("network {}", n.name));
        }
        log::netns().info("created bridge {} for network {}", n.bridge, n.name);
        idx = nl.ifindex(n.bridge);
        if (!idx) {
            return std::move(idx).error();
        }
    }
    // No router advertisements accepted on berth's interfaces (CVE-2020-13401).
    try_sysctl(fmt::format("net/ipv6/conf/{}/accept_ra", n.bridge), "0");
    if (!n.ipv6) {
        try_sysctl(fmt::format("net/ipv6/conf/{}/disable_ipv6", n.bridge), "1");
    }
    // Loopback-published ports are DNATed from 127.0.0.1 to the bridge; the
    // raw chain drops 127/8 traffic arriving from the bridge.
    if (auto r = detail::write_sysctl(fmt::format("net/ipv4/conf/{}/route_localnet", n.bridge), "1");
        !r) {
        return r;
    }
    if (auto r = detail::write_sysctl("net/ipv4/ip_forward", "1"); !r) {
        return r;
    }
    auto subnet = Ipv4Prefix::parse(n.subnet);
    if (!subnet) {
        return std::move(subnet).error().wrap(fmt::format("network {}", n.name));
    }
    if (auto r = nl.add_address(*idx, fmt::format("{}/{}", n.gateway, subnet->length)); !r) {
        return std::move(r).error().wrap(fmt::format("network {}", n.name));
    }
    if (n.ipv6) {
        auto subnet6 = Ipv6Prefix::parse(n.subnet6);
        if (!subnet6) {
            return std::move(subnet6).error().wrap(fmt::format("network {}", n.name));
        }
        // Explicit: the namespace's default may have IPv6 off for new links.
        if (auto r = detail::write_sysctl(
                fmt::format("net/ipv6/conf/{}/disable_ipv6", n.bridge), "0");
            !r) {
            return std::move(r).error().wrap(fmt::format("enable IPv6 on network {}", n.name));
        }
        if (auto r = detail::write_sysctl("net/ipv6/conf/all/forwarding", "1"); !r) {
            return r;
        }
        if (auto r = nl.add_address(*idx, fmt::format("{}/{}", n.gateway6, subnet6->length)); !r) {
            return std::move(r).error().wrap(fmt::format("network {}", n.name));
        }
    }
    return nl.set_up(*idx);
}

/// Rewrites the root's nftables tables from the network records; `leaving`
/// names a network whose record is about to go and whose rules go first.
Result<void> apply_rules(const NetworkStore& store, std::string_view leaving = {}) {
    auto all = store.list();
    if (!all) {
        return std::move(all).error();
    }
    if (!leaving.empty()) {
        std::erase_if(*all, [&](const Network& n) { return n.id == leaving; });
    }
    if (auto r = detail::apply_firewall(store.paths().prefix, *all); !r) {
        return std::move(r).error().wrap(fmt::format("update nftables table inet {}",
                                                     store.paths().prefix));
    }
    return {};
}

bool is_netns_file(const std::filesystem::path& p) {
    struct statfs st {};
    return ::statfs(p.c_str(), &st) == 0 && st.f_type == NSFS_MAGIC;
}

/// Creates and configures the veth pair of one endpoint record.
Result<void> configure_endpoint(Netlink& nl, const Network& n, const EndpointRecord& ep,
                                bool default_route) {
    auto nsfd = fs::open(ep.netns_path, O_RDONLY);
    if (!nsfd) {
        return std::move(nsfd).error().wrap(fmt::format("open netns {}", ep.netns_path));
    }
    auto subnet = Ipv4Prefix::parse(n.subnet);
    if (!subnet) {
        return std::move(subnet).error();
    }
    const bool v6 = n.ipv6 && !ep.ipv6.empty();
    int prefix6 = 0;
    if (v6) {
        auto subnet6 = Ipv6Prefix::parse(n.subnet6);
        if (!subnet6) {
            return std::move(subnet6).error();
        }
        prefix6 = subnet6->length;
    }
    auto bridge = nl.ifindex(n.bridge);
    if (!bridge) {
        return std::move(bridge).error().wrap(fmt::format("network {}", n.name));
    }
    // The host-side name is derived from the container and network ids and no
    // record names it yet: a link by that name is the remnant of an attach that
    // was killed before it saved the record (its old namespace still held).
    if (nl.ifindex(ep.host_ifname)) {
        log::netns().warn("removing stale interface {} left by an interrupted attach",
                          ep.host_ifname);
        if (auto d = nl.delete_link(ep.host_ifname); !d) {
            return std::move(d).error().wrap("remove stale interface");
        }
    }
    if (auto r = nl.create_veth(ep.host_ifname, ep.ifname, nsfd->get(), n.mtu(), ep.mac); !r) {
        return r;
    }
    auto undo = [&] {
        if (auto d = nl.delete_link(ep.host_ifname); !d) {
            log::netns().warn("undo: {}", d.error().message());
        }
    };
    auto host_idx = nl.ifindex(ep.host_ifname);
    if (!host_idx) {
        undo();
        return std::move(host_idx).error();
    }
    try_sysctl(fmt::format("net/ipv6/conf/{}/accept_ra", ep.host_ifname), "0");
    if (!n.ipv6) {
        try_sysctl(fmt::format("net/ipv6/conf/{}/disable_ipv6", ep.host_ifname), "1");
    }
    if (auto r = nl.set_master(*host_idx, *bridge); !r) {
        undo();
        return r;
    }
    if (auto r = nl.set_up(*host_idx); !r) {
        undo();
        return r;
    }
    auto inside = detail::run_in_netns(ep.netns_path, [&]() -> Result<void> {
        auto cnl = Netlink::open();
        if (!cnl) {
            return std::move(cnl).error();
        }
        auto idx = cnl->ifindex(ep.ifname);
        if (!idx) {
            return std::move(idx).error();
        }
        try_sysctl(fmt::format("net/ipv6/conf/{}/accept_ra", ep.ifname), "0");
        if (!v6) {
            try_sysctl(fmt::format("net/ipv6/conf/{}/disable_ipv6", ep.ifname), "1");
        } else if (auto r = detail::write_sysctl(
                       fmt::format("net/ipv6/conf/{}/disable_ipv6", ep.ifname), "0");
                   !r) {
            return r;
        }
        if (auto r = cnl->add_address(*idx, fmt::format("{}/{}", ep.ipv4, subnet->length)); !r) {
            return r;
        }
        if (v6) {
            if (auto r = cnl->add_address(*idx, fmt::format("{}/{}", ep.ipv6, prefix6)); !r) {
                return r;
            }
        }
        if (auto r = cnl->set_up(*idx); !r) {
            return r;
        }
        if (default_route) {
            if (auto r = cnl->add_default_route(n.gateway, *idx); !r) {
                return r;
            }
            if (v6) {
                return cnl->add_default_route(n.gateway6, *idx);
            }
        }
        return {};
    });
    if (!inside) {
        undo();
        return std::move(inside).error().wrap(
            fmt::format("configure {} in {}", ep.ifname, ep.netns_path));
    }
    return {};
}

bool host_ips_overlap(const std::string& a, const std::string& b) {
    auto any = [](const std::string& s) { return s.empty() || s == "0.0.0.0"; };
    return any(a) || any(b) || a == b;
}

std::string describe(const PortBinding& p, uint16_t port) {
    return fmt::format("{}:{}/{}", p.host_ip.empty() ? "0.0.0.0" : p.host_ip, port, p.protocol);
}

/// Binds (and closes) a socket to see whether another process holds the port.
/// Returns the bound port (the kernel's choice when `port` is 0).
Result<uint16_t> probe_bind(const PortBinding& p, uint16_t port) {
    int type = p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    if (!fd) {
        int err = errno;
        return Error::from_errno(err, "create probe socket");
    }
    if (type == SOCK_STREAM) {
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (!p.host_ip.empty() && ::inet_pton(AF_INET, p.host_ip.c_str(), &sa.sin_addr) != 1) {
        return Error(Errc::invalid_argument, fmt::format("invalid host IP {}", p.host_ip));
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        int err = errno;
        if (err == EADDRINUSE) {
            return Error(Errc::conflict,
                         fmt::format("bind {}: port is already in use by another process",
                                     describe(p, port)));
        }
        return Error::from_errno(err, fmt::format("bind {}", describe(p, port)));
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    return static_cast<uint16_t>(ntohs(sa.sin_port));
}

/// Chooses the host port of one binding: checks berth's own records (and the
/// ports already chosen in this request), then the kernel.
Result<PortBinding> reserve_port(const PortBinding& want, const std::vector<Network>& all,
                                 const std::vector<PortBinding>& chosen) {
    if (want.host_ip.find(':') != std::string::npos) {
        return Error(Errc::unsupported,
                     fmt::format("publish port on [{}]: IPv6 host addresses are not supported",
                                 want.host_ip));
    }
    auto owner = [&](uint16_t port) -> std::optional<std::string> {
        auto clash = [&](const PortBinding& q) {
            return q.protocol == want.protocol && q.host_port == port &&
                   host_ips_overlap(q.host_ip, want.host_ip);
        };
        for (const auto& n : all) {
            for (const auto& [id, ep] : n.endpoints) {
                for (const auto& q : ep.ports) {
                    if (clash(q)) {
                        return ep.container_name.empty() ? id.substr(0, 12) : ep.container_name;
                    }
                }
            }
        }
        for (const auto& q : chosen) {
            if (clash(q)) {
                return std::string("this container");
            }
        }
        return std::nullopt;
    };
    PortBinding out = want;
    if (want.host_port == 0) {
        for (int attempt = 0; attempt < 64; ++attempt) {
            auto port = probe_bind(want, 0);
            if (!port) {
                return std::move(port).error();
            }
            if (!owner(*port)) {
                out.host_port = out.host_port_end = *port;
                return out;
            }
        }
        return Error(Errc::unavailable,
                     fmt::format("no free host port for {}/{}", want.container_port,
                                 want.protocol));
    }
    uint16_t last = std::max(want.host_port, want.host_port_end);
    std::optional<Error> first_error;
    for (uint32_t port = want.host_port; port <= last; ++port) {
        auto p16 = static_cast<uint16_t>(port);
        if (auto who = owner(p16)) {
            if (!first_error) {
                first_error = Error(Errc::conflict,
                                    fmt::format("host port {} is already allocated by {}",
                                                describe(want, p16), *who));
            }
            continue;
        }
        auto bound = probe_bind(want, p16);
        if (!bound) {
            if (!first_error) {
                first_error = std::move(bound).error();
            }
            continue;
        }
        out.host_port = out.host_port_end = p16;
        return out;
    }
    return *first_error;
}

Result<Network> get_network(NetworkStore& store, Netlink& nl, std::string_view name) {
    auto n = store.get(name);
    if (n || n.error().code() != Errc::not_found || name != default_network_name) {
        return n;
    }
    auto routes = nl.ipv4_routes();
    if (!routes) {
        return std::move(routes).error();
    }
    NetworkSpec spec;
    spec.name = std::string(default_network_name);
    auto created = store.create(spec, *routes);
    if (!created) {
        return created;
    }
    if (auto r = ensure_bridge(nl, *created); !r) {
        auto undo = store.remove(created->id);
        (void)undo;
        return std::move(r).error();
    }
    return created;
}

/// The IPv6 address of a new endpoint: empty on a network without IPv6
/// (where --ip6 is an error), else the static one or the lowest free one.
Result<std::string> choose_ipv6(const Network& n, const AttachRequest::Net& want) {
    if (!n.ipv6) {
        if (want.ipv6) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: IPv6 address {} given, but the network has no "
                                     "IPv6 (create it with --ipv6)",
                                     n.name, *want.ipv6));
        }
        return std::string();
    }
    auto subnet6 = Ipv6Prefix::parse(n.subnet6);
    if (!subnet6) {
        return std::move(subnet6).error().wrap(fmt::format("network {}", n.name));
    }
    std::optional<std::string> range6;
    if (!n.ip_range6.empty()) {
        range6 = n.ip_range6;
    }
    auto plan6 = make_address_plan6(n.name, *subnet6, n.gateway6, range6);
    if (!plan6) {
        return std::move(plan6).error();
    }
    std::vector<Ipv6> used6;
    for (const auto& [id, ep] : n.endpoints) {
        if (auto ip = Ipv6::parse(ep.ipv6)) {
            used6.push_back(*ip);
        }
    }
    auto ip6 = want.ipv6 ? check_static_address6(n.name, *plan6, *want.ipv6, used6)
                         : allocate_address6(n.name, *plan6, used6);
    if (!ip6) {
        return std::move(ip6).error();
    }
    return ip6->str();
}

struct Target {
    std::string id, name, hostname;
    std::filesystem::path netns_path;
};

/// Connects one network; writes the record. The caller undoes with detach_one.
Result<Endpoint> attach_one(NetworkStore& store, Netlink& nl, const Target& c,
                            const AttachRequest::Net& want, const std::string& ifname,
                            const std::vector<PortBinding>& ports, bool default_route) {
    auto n = get_network(store, nl, want.network);
    if (!n) {
        return std::move(n).error();
    }
    if (n->endpoints.count(c.id) != 0) {
        return Error(Errc::already_exists,
                     fmt::format("container {} is already connected to network {}",
                                 c.name.empty() ? c.id : c.name, n->name));
    }
    if (auto r = ensure_bridge(nl, *n); !r) {
        return std::move(r).error();
    }
    auto subnet = Ipv4Prefix::parse(n->subnet);
    if (!subnet) {
        return std::move(subnet).error();
    }
    std::optional<std::string> gw = n->gateway;
    std::optional<std::string> range;
    if (!n->ip_range.empty()) {
        range = n->ip_range;
    }
    auto plan = make_address_plan(n->name, *subnet, gw, range);
    if (!plan) {
        return std::move(plan).error();
    }
    std::vector<Ipv4> used;
    for (const auto& [id, ep] : n->endpoints) {
        if (auto ip = Ipv4::parse(ep.ipv4)) {
            used.push_back(*ip);
        }
    }
    auto ip = want.ipv4 ? check_static_address(n->name, *plan, *want.ipv4, used)
                        : allocate_address(n->name, *plan, used);
    if (!ip) {
        return std::move(ip).error();
    }
    auto ip6 = choose_ipv6(*n, want);
    if (!ip6) {
        return std::move(ip6).error();
    }
    EndpointRecord ep;
    ep.container_id = c.id;
    ep.container_name = c.name;
    ep.hostname = c.hostname;
    ep.aliases = want.aliases;
    ep.ifname = ifname;
    ep.host_ifname = detail::host_veth_name(store.paths().prefix, c.id, n->id);
    ep.ipv4 = ip->str();
    ep.static_ip = want.ipv4.has_value();
    ep.ipv6 = *ip6;
    ep.static_ip6 = want.ipv6.has_value();
    ep.netns_path = c.netns_path.native();
    if (want.mac) {
        auto mac = parse_mac(*want.mac);
        if (!mac) {
            return std::move(mac).error();
        }
        ep.mac = *mac;
    } else {
        ep.mac = mac_for(*ip);
    }
    if (!ports.empty()) {
        auto all = store.list();
        if (!all) {
            return std::move(all).error();
        }
        for (const auto& p : ports) {
            auto chosen = reserve_port(p, *all, ep.ports);
            if (!chosen) {
                return std::move(chosen).error();
            }
            ep.ports.push_back(*chosen);
        }
    }
    if (auto r = configure_endpoint(nl, *n, ep, default_route && !n->internal); !r) {
        return std::move(r).error().wrap(fmt::format("connect to network {}", n->name));
    }
    if (failpoint("netns_attach_after_veth")) {
        auto d = nl.delete_link(ep.host_ifname);
        (void)d;
        return Error(Errc::internal, "failpoint netns_attach_after_veth");
    }
    n->endpoints[c.id] = ep;
    if (auto r = store.save(*n, fs::Durability::process_crash); !r) {
        auto d = nl.delete_link(ep.host_ifname);
        (void)d;
        return std::move(r).error();
    }
    log::netns().info("attached {} to network {} as {} ({}{}{})", c.id.substr(0, 12), n->name,
                      ep.ifname, ep.ipv4, ep.ipv6.empty() ? "" : ", ", ep.ipv6);
    Endpoint out;
    out.network = n->name;
    out.network_id = n->id;
    out.ifname = ep.ifname;
    out.ipv4 = ep.ipv4;
    out.prefix_length = subnet->length;
    out.gateway = n->gateway;
    if (!ep.ipv6.empty()) {
        out.ipv6 = ep.ipv6;
        out.prefix_length6 = Ipv6Prefix::parse(n->subnet6)->length;
        out.gateway6 = n->gateway6;
    }
    out.mac = ep.mac;
    out.dns_server = n->dns_enabled ? n->gateway : "";
    out.ports = ep.ports;
    return out;
}

/// Removes one endpoint (veth and record); missing is success.
Result<void> detach_one(NetworkStore& store, Netlink& nl, const std::string& network_id,
                        const std::string& container_id) {
    auto n = store.get(network_id);
    if (!n) {
        return n.error().code() == Errc::not_found ? Result<void>{} : std::move(n).error();
    }
    auto it = n->endpoints.find(container_id);
    if (it == n->endpoints.end()) {
        return {};
    }
    if (auto r = nl.delete_link(it->second.host_ifname); !r) {
        return r;
    }
    n->endpoints.erase(it);
    return store.save(*n, fs::Durability::process_crash);
}

void start_resolver_if_needed(const NetworkStore& store) {
    auto all = store.list();
    if (!all) {
        return;
    }
    bool needed = std::any_of(all->begin(), all->end(), [](const Network& n) {
        return n.dns_enabled && !n.endpoints.empty();
    });
    if (needed) {
        if (auto r = detail::ensure_resolver(store.paths()); !r) {
            log::netns().warn("start DNS resolver: {}", r.error().message());
        }
    }
}

}  // namespace

namespace {

/// attach() under the network lock; `dns_gateways` receives the gateways of
/// the DNS-enabled networks attached, whose resolver the caller waits for
/// once the lock is released (the resolver may need it to decide to stay).
Result<std::vector<Endpoint>> attach_locked(const Paths& paths, const AttachRequest& req,
                                            std::vector<std::string>& dns_gateways) {
    if (req.container_id.empty()) {
        return Error(Errc::invalid_argument, "attach: empty container id");
    }
    if (!is_netns_file(req.netns_path)) {
        return Error(Errc::invalid_argument,
                     fmt::format("attach container {}: {} is not a network namespace",
                                 req.container_id, req.netns_path.native()));
    }
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    Target c{req.container_id, req.container_name, req.hostname, req.netns_path};
    std::vector<Endpoint> out;
    std::set<std::string> seen;
    auto undo_all = [&] {
        for (const auto& e : out) {
            if (auto r = detach_one(*store, *nl, e.network_id, c.id); !r) {
                log::netns().warn("undo attach: {}", r.error().message());
            }
        }
    };
    for (size_t i = 0; i < req.networks.size(); ++i) {
        const auto& want = req.networks[i];
        if (!seen.insert(want.network).second) {
            undo_all();
            return Error(Errc::invalid_argument,
                         fmt::format("container {}: network {} is given twice", c.id,
                                     want.network));
        }
        auto ep = attach_one(*store, *nl, c, want, fmt::format("eth{}", i),
                             i == 0 ? req.ports : std::vector<PortBinding>{}, i == 0);
        if (!ep) {
            undo_all();
            return std::move(ep).error().wrap(
                fmt::format("attach container {}", c.name.empty() ? c.id : c.name));
        }
        out.push_back(std::move(*ep));
    }
    if (failpoint("netns_attach_before_ports")) {
        undo_all();
        return Error(Errc::internal, "failpoint netns_attach_before_ports");
    }
    // Published ports and the direct paths between endpoints both follow
    // the endpoints: the ruleset changes with every attach.
    if (auto r = apply_rules(*store); !r) {
        undo_all();
        auto again = apply_rules(*store);
        (void)again;
        return std::move(r).error();
    }
    start_resolver_if_needed(*store);
    if (auto all = store->list()) {
        for (const auto& ep : out) {
            for (const auto& n : *all) {
                if (n.id == ep.network_id && n.dns_enabled && !n.gateway.empty()) {
                    dns_gateways.push_back(n.gateway);
                }
            }
        }
    }
    return out;
}

}  // namespace

Result<std::vector<Endpoint>> attach(const Paths& paths, const AttachRequest& req) {
    std::vector<std::string> gateways;
    auto out = attach_locked(paths, req, gateways);
    // A name must resolve as soon as the container that wants it runs: the
    // resolver binds a network's gateway within a tick of its first endpoint.
    for (const auto& gw : gateways) {
        detail::wait_for_resolver(paths, gw, std::chrono::milliseconds(1000));
    }
    return out;
}

Result<void> detach(const Paths& paths, const std::string& container_id) {
    // Records are written atomically: a container attached nowhere (the
    // second detach of a removal, a `none` container) needs no lock.
    auto seen = read_networks(paths);
    if (seen && std::none_of(seen->begin(), seen->end(), [&](const Network& n) {
            return n.endpoints.count(container_id) != 0;
        })) {
        return {};
    }
    // The records and the rules change under the network lock; the veths are
    // deleted after it is released: unregistering a device waits for RCU
    // grace periods, and under the lock that serialised every removal of a
    // `down`. A veth whose endpoint is gone is no longer in any rule, its name
    // is derived from this container's id (no attach can want it), and if we
    // die before deleting it, it goes with the container's namespace.
    std::vector<std::string> links;
    {
        auto store = NetworkStore::open(paths);
        if (!store) {
            return std::move(store).error();
        }
        auto all = store->list();
        if (!all) {
            return std::move(all).error();
        }
        for (auto& n : *all) {
            auto it = n.endpoints.find(container_id);
            if (it == n.endpoints.end()) {
                continue;
            }
            links.push_back(it->second.host_ifname);
            n.endpoints.erase(it);
            if (auto r = store->save(n, fs::Durability::process_crash); !r) {
                return std::move(r).error().wrap(fmt::format("detach container {}", container_id));
            }
        }
        if (!links.empty()) {
            if (auto r = apply_rules(*store); !r) {
                return r;
            }
        }
    }
    if (links.empty()) {
        return {};
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    for (const auto& link : links) {
        if (auto r = nl->delete_link(link); !r) {
            return std::move(r).error().wrap(fmt::format("detach container {}", container_id));
        }
    }
    return {};
}

Result<Endpoint> connect(const Paths& paths, const ContainerRef& container,
                         const AttachRequest::Net& net) {
    if (!is_netns_file(container.netns_path)) {
        return Error(Errc::failed_precondition,
                     fmt::format("connect container {}: {} is not a network namespace (is it "
                                 "running?)",
                                 container.name, container.netns_path.native()));
    }
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    auto all = store->list();
    if (!all) {
        return std::move(all).error();
    }
    std::set<std::string> used;
    for (const auto& n : *all) {
        if (auto it = n.endpoints.find(container.id); it != n.endpoints.end()) {
            used.insert(it->second.ifname);
        }
    }
    std::string ifname;
    for (int i = 0;; ++i) {
        ifname = fmt::format("eth{}", i);
        if (used.count(ifname) == 0) {
            break;
        }
    }
    Target c{container.id, container.name, container.hostname, container.netns_path};
    auto ep = attach_one(*store, *nl, c, net, ifname, {}, used.empty());
    if (!ep) {
        return std::move(ep).error().wrap(fmt::format("connect container {}", container.name));
    }
    if (auto r = apply_rules(*store); !r) {
        auto undo = detach_one(*store, *nl, ep->network_id, container.id);
        (void)undo;
        return std::move(r).error().wrap(fmt::format("connect container {}", container.name));
    }
    start_resolver_if_needed(*store);
    return ep;
}

Result<void> disconnect(const Paths& paths, std::string_view network,
                        const std::string& container_id) {
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    auto n = store->get(network);
    if (!n) {
        return std::move(n).error();
    }
    if (n->endpoints.count(container_id) == 0) {
        return Error(Errc::not_found, fmt::format("container {} is not connected to network {}",
                                                  container_id, n->name));
    }
    if (auto r = detach_one(*store, *nl, n->id, container_id); !r) {
        return r;
    }
    return apply_rules(*store);
}

Result<std::vector<PortBinding>> container_ports(const Paths& paths,
                                                 const std::string& container_id) {
    auto all = read_networks(paths);
    if (!all) {
        return std::move(all).error();
    }
    std::vector<PortBinding> out;
    for (const auto& n : *all) {
        if (auto it = n.endpoints.find(container_id); it != n.endpoints.end()) {
            out.insert(out.end(), it->second.ports.begin(), it->second.ports.end());
        }
    }
    return out;
}

Result<Network> create_network(const Paths& paths, const NetworkSpec& spec) {
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    auto routes = nl->ipv4_routes();
    if (!routes) {
        return std::move(routes).error();
    }
    // Routes of berth's own bridges are checked as networks, not as host routes.
    auto all = store->list();
    if (!all) {
        return std::move(all).error();
    }
    auto routes6 = nl->ipv6_routes();
    if (!routes6) {
        return std::move(routes6).error();
    }
    routes->insert(routes->end(), routes6->begin(), routes6->end());
    std::vector<std::string> host_routes;
    for (const auto& r : *routes) {
        bool own = std::any_of(all->begin(), all->end(), [&](const Network& n) {
            return n.subnet == r || (!n.subnet6.empty() && n.subnet6 == r);
        });
        if (!own) {
            host_routes.push_back(r);
        }
    }
    auto n = store->create(spec, host_routes);
    if (!n) {
        return n;
    }
    auto fail = [&](Error e) -> Result<Network> {
        auto d = nl->delete_link(n->bridge);
        (void)d;
        auto rm = store->remove(n->id);
        (void)rm;
        auto again = apply_rules(*store);
        (void)again;
        return std::move(e).wrap(fmt::format("create network {}", spec.name));
    };
    if (failpoint("network_create_before_bridge")) {
        return fail(Error(Errc::internal, "failpoint network_create_before_bridge"));
    }
    if (auto r = ensure_bridge(*nl, *n); !r) {
        return fail(std::move(r).error());
    }
    if (failpoint("network_create_after_bridge")) {
        return fail(Error(Errc::internal, "failpoint network_create_after_bridge"));
    }
    if (auto r = apply_rules(*store); !r) {
        return fail(std::move(r).error());
    }
    return n;
}

Result<void> remove_network(const Paths& paths, std::string_view name_or_id) {
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto n = store->get(name_or_id);
    if (!n) {
        return std::move(n).error();
    }
    if (!n->endpoints.empty()) {
        return store->remove(n->id);  // refused: names the connected containers
    }
    // The bridge and the network's nftables rules go before the record: a
    // crash in between leaves a record that the next `network rm` or `down`
    // finds and finishes, never a bridge or a rule (or, for the last network,
    // a whole table) that nothing refers to any more (F2).
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    if (auto r = nl->delete_link(n->bridge); !r) {
        return r;
    }
    if (auto r = apply_rules(*store, n->id); !r) {
        return r;
    }
    if (failpoint("network_remove_before_record")) {
        return Error(Errc::internal, "failpoint network_remove_before_record");
    }
    return store->remove(n->id);
}

Result<std::vector<std::string>> prune_networks(const Paths& paths) {
    auto all = read_networks(paths);
    if (!all) {
        return std::move(all).error();
    }
    std::vector<std::string> removed;
    for (const auto& n : *all) {
        if (n.name == default_network_name || !n.endpoints.empty()) {
            continue;
        }
        auto r = remove_network(paths, n.id);
        if (!r && r.error().code() != Errc::failed_precondition &&
            r.error().code() != Errc::not_found) {
            return std::move(r).error();
        }
        if (r) {
            removed.push_back(n.name);
        }
    }
    return removed;
}

Result<Network> ensure_default_network(const Paths& paths) {
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    auto n = get_network(*store, *nl, default_network_name);
    if (!n) {
        return n;
    }
    if (auto r = apply_rules(*store); !r) {
        return std::move(r).error();
    }
    return n;
}

Result<void> reconcile(const Paths& paths) {
    auto store = NetworkStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto nl = Netlink::open();
    if (!nl) {
        return std::move(nl).error();
    }
    auto all = store->list();
    if (!all) {
        return std::move(all).error();
    }
    for (auto& n : *all) {
        if (auto r = ensure_bridge(*nl, n); !r) {
            return r;
        }
        bool changed = false;
        for (auto it = n.endpoints.begin(); it != n.endpoints.end();) {
            auto& ep = it->second;
            auto host = nl->ifindex(ep.host_ifname);
            if (host) {
                auto master = nl->master_of(ep.host_ifname);
                auto bridge = nl->ifindex(n.bridge);
                if (master && bridge && *master != *bridge) {
                    auto m = nl->set_master(*host, *bridge);
                    (void)m;
                }
                auto up = nl->set_up(*host);
                (void)up;
                ++it;
                continue;
            }
            if (is_netns_file(ep.netns_path)) {
                // The veth was deleted from outside: rebuild it as recorded.
                auto r = configure_endpoint(*nl, n, ep, ep.ifname == "eth0");
                if (r) {
                    log::netns().info("repaired endpoint {} on network {}", ep.host_ifname,
                                      n.name);
                    ++it;
                    continue;
                }
                // Keep the record (and its address) while the namespace exists.
                log::netns().warn("repair endpoint {}: {}", ep.host_ifname, r.error().message());
                ++it;
                continue;
            }
            // The container's namespace is gone: forget the endpoint and its address.
            log::netns().info("dropping stale endpoint {} of network {}", ep.host_ifname, n.name);
            it = n.endpoints.erase(it);
            changed = true;
        }
        if (changed) {
            if (auto r = store->save(n, fs::Durability::process_crash); !r) {
                return r;
            }
        }
    }
    return apply_rules(*store);
}

}  // namespace berth::netns
