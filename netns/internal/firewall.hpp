// SPDX-License-Identifier: Apache-2.0
#pragma once

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
/// - postrouting: masquerade S leaving by another interface (not internal);
///   masquerade 127.0.0.0/8 entering B (published on loopback); hairpin.
/// - published ports: DNAT in prerouting (not for 127.0.0.0/8 destinations,
///   so a peer cannot reach loopback-only ports) and in output (local
///   clients, including 127.0.0.1).
/// - raw prerouting: packets from B to 127.0.0.0/8 dropped (B has
///   route_localnet=1 for the loopback DNAT).
[[nodiscard]] std::string render_ruleset(std::string_view table,
                                         const std::vector<Network>& networks);

/// Applies render_ruleset for the current records.
[[nodiscard]] Result<void> apply_firewall(std::string_view table,
                                          const std::vector<Network>& networks);

}  // namespace berth::netns::detail
