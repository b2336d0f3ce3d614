// SPDX-License-Identifier: Apache-2.0
#include <net/if.h>

#include <fmt/format.h>

#include "netns/internal/firewall.hpp"
#include "netns/internal/kernel.hpp"

namespace berth::netns::detail {

namespace {

bool is_loopback(const std::string& ip) { return ip.rfind("127.", 0) == 0; }

std::string dnat_rule(const PortBinding& p, const std::string& container_ip) {
    std::string match;
    if (!p.host_ip.empty() && p.host_ip != "0.0.0.0") {
        match = fmt::format("ip daddr {} ", p.host_ip);
    }
    return fmt::format("        {}{} dport {} dnat ip to {}:{}\n", match, p.protocol, p.host_port,
                       container_ip, p.container_port);
}

/// The netdev table: per network, one ingress chain on the host veths of its
/// endpoints that hands a frame addressed to another endpoint of the same
/// network (its MAC and address) straight to that endpoint's veth. Such
/// frames never enter the bridge, so br_netfilter never passes them to the
/// iptables FORWARD chain, whose DROP policy Docker sets on its hosts (an
/// accept in berth's table cannot overrule a drop in another table).
std::string render_direct(std::string_view table, const std::vector<Network>& networks,
                          const std::function<bool(const std::string&)>& link_exists) {
    std::string chains;
    size_t index = 0;
    for (const auto& n : networks) {
        std::vector<const EndpointRecord*> eps;
        for (const auto& [id, ep] : n.endpoints) {
            if (!ep.host_ifname.empty() && !ep.mac.empty() &&
                (!link_exists || link_exists(ep.host_ifname))) {
                eps.push_back(&ep);
            }
        }
        if (eps.size() < 2) {
            continue;
        }
        std::string devices, rules;
        for (const auto* ep : eps) {
            devices += fmt::format("{}\"{}\"", devices.empty() ? "" : ", ", ep->host_ifname);
            if (!ep->ipv4.empty()) {
                rules += fmt::format("        ether daddr {} ip daddr {} fwd to \"{}\"\n", ep->mac,
                                     ep->ipv4, ep->host_ifname);
            }
            if (n.ipv6 && !ep->ipv6.empty()) {
                rules += fmt::format("        ether daddr {} ip6 daddr {} fwd to \"{}\"\n",
                                     ep->mac, ep->ipv6, ep->host_ifname);
            }
        }
        chains += fmt::format(
            "    chain direct_{} {{\n        type filter hook ingress devices = {{ {} }} "
            "priority -100; policy accept;\n{}    }}\n",
            index++, devices, rules);
    }
    std::string out = fmt::format("add table netdev {0}\ndelete table netdev {0}\n", table);
    if (!chains.empty()) {
        out += fmt::format("table netdev {} {{\n{}}}\n", table, chains);
    }
    return out;
}

}  // namespace

std::string render_ruleset(std::string_view table, const std::vector<Network>& networks,
                           const std::function<bool(const std::string&)>& link_exists) {
    std::string out = fmt::format("add table inet {0}\ndelete table inet {0}\n", table);
    out += render_direct(table, networks, link_exists);
    if (networks.empty()) {
        return out;
    }
    // All rules about traffic *to* a bridge come before the rules about
    // traffic *from* one, so that "from A: accept" never lets A reach B.
    std::string forward, forward_from, postrouting, raw, pre_ports, out_ports;
    for (const auto& n : networks) {
        const auto b = fmt::format("\"{}\"", n.bridge);
        forward += fmt::format("        iifname {0} oifname {0} accept\n", b);
        forward += fmt::format("        oifname {} ct state established,related accept\n", b);
        forward += fmt::format("        oifname {} ct status dnat accept\n", b);
        forward += fmt::format("        oifname {} drop\n", b);
        forward_from += fmt::format("        iifname {} {}\n", b, n.internal ? "drop" : "accept");
        if (!n.internal) {
            postrouting +=
                fmt::format("        ip saddr {} oifname != {} masquerade\n", n.subnet, b);
            if (n.ipv6 && !n.subnet6.empty()) {
                // ULA addresses are not routed outside: masquerade as Docker
                // does with ip6tables enabled.
                postrouting +=
                    fmt::format("        ip6 saddr {} oifname != {} masquerade\n", n.subnet6, b);
            }
        }
        postrouting += fmt::format("        ip saddr 127.0.0.0/8 oifname {} masquerade\n", b);
        postrouting +=
            fmt::format("        ip saddr {} oifname {} ct status dnat masquerade\n", n.subnet, b);
        raw += fmt::format("        iifname {} ip daddr 127.0.0.0/8 drop\n", b);
        for (const auto& [id, ep] : n.endpoints) {
            for (const auto& p : ep.ports) {
                if (ep.ipv4.empty() || p.host_port == 0) {
                    continue;
                }
                auto rule = dnat_rule(p, ep.ipv4);
                if (!is_loopback(p.host_ip)) {
                    pre_ports += rule;
                }
                out_ports += rule;
            }
        }
    }
    out += fmt::format("table inet {} {{\n", table);
    out += "    chain forward {\n        type filter hook forward priority filter; policy accept;\n" +
           forward + forward_from + "    }\n";
    out += "    chain raw_prerouting {\n        type filter hook prerouting priority raw; "
           "policy accept;\n" +
           raw + "    }\n";
    out += "    chain postrouting {\n        type nat hook postrouting priority srcnat; "
           "policy accept;\n" +
           postrouting + "    }\n";
    out += "    chain prerouting {\n        type nat hook prerouting priority dstnat; "
           "policy accept;\n        fib daddr type local ip daddr != 127.0.0.0/8 jump "
           "published_prerouting\n    }\n";
    out += "    chain output {\n        type nat hook output priority -100; policy accept;\n"
           "        fib daddr type local jump published_output\n    }\n";
    out += "    chain published_prerouting {\n" + pre_ports + "    }\n";
    out += "    chain published_output {\n" + out_ports + "    }\n";
    out += "}\n";
    return out;
}

Result<void> apply_firewall(std::string_view table, const std::vector<Network>& networks) {
    return nft_apply(render_ruleset(table, networks, [](const std::string& name) {
        return ::if_nametoindex(name.c_str()) != 0;
    }));
}

}  // namespace berth::netns::detail
