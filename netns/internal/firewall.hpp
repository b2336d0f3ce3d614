// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "netns/network.hpp"

namespace berth::netns::detail {

/// The whole nftables script for berth's table `inet <table>`, derived only
/// from the records: deleting and recreating the table in one transaction, so
/// every reconcile yields the same rules. With no networks the script only
/// deletes the table. Pure.
///
/// Per network (bridge B, subnet S):
/// - forward: B->B accept; ->B established/related or DNATed accept; ->B
///   anything else drop (other networks, direct access to container
///   addresses); from B: drop if internal, else accept.
/// - the forward rules match interfaces, so they hold for IPv4 and IPv6 alike
///   (isolation between networks covers both families).
/// - postrouting: masquerade S (and the IPv6 subnet S6 of a network with
///   IPv6) leaving by another interface (not internal);
///   masquerade 127.0.0.0/8 entering B (published on loopback); hairpin.
/// - published ports: DNAT in prerouting (not for 127.0.0.0/8 destinations,
///   so a peer cannot reach loopback-only ports) and in output (local
///   clients, including 127.0.0.1).
/// - raw prerouting: packets from B to 127.0.0.0/8 dropped (B has
///   route_localnet=1 for the loopback DNAT).
///
/// A second table `netdev <table>` holds, per network with two or more
/// endpoints, an ingress chain on their host veths that forwards frames
/// addressed to another endpoint of the network (its MAC and IPv4 or IPv6
/// address) directly to that endpoint's veth ("fwd to"). Such frames never
/// cross the bridge, so br_netfilter does not hand them to the iptables
/// FORWARD chain, where Docker's DROP policy would discard them: an accept
/// in berth's table cannot overrule a drop in another table at the same
/// hook. Endpoints whose host veth `link_exists` denies are left out (an
/// empty function means all exist).
[[nodiscard]] std::string render_ruleset(
    std::string_view table, const std::vector<Network>& networks,
    const std::function<bool(const std::string&)>& link_exists = {});

/// Applies render_ruleset for the current records.
[[nodiscard]] Result<void> apply_firewall(std::string_view table,
                                          const std::vector<Network>& networks);

}  // namespace berth::netns::detail
