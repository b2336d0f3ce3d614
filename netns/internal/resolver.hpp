// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <filesystem>
#include <cstdint>
#include <string>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace berth::netns::detail {

/// Starts the resolver process (`berth __resolver`, double fork + setsid +
/// exec) unless one is already running for these paths. The executable is
/// $BERTH_EXE when set (tests), else /proc/self/exe. Call with the network
/// lock held, after the endpoint records are written, so that a resolver
/// deciding to exit and a new endpoint cannot miss each other.
[[nodiscard]] Result<void> ensure_resolver(const Paths& paths);

/// True when a resolver holds its lock for these paths.
[[nodiscard]] bool resolver_running(const Paths& paths);

/// True when something listens on UDP `ipv4`:`port` in this network namespace.
[[nodiscard]] bool udp_listening(const std::string& ipv4, uint16_t port);

/// Waits (at most `limit`) until the resolver listens on `gateway`: it binds
/// a network's gateway within a tick of the network's first endpoint, and a
/// name must resolve as soon as the container that wants it runs.
void wait_for_resolver(const Paths& paths, const std::string& gateway,
                       std::chrono::milliseconds limit);

/// The resolver's nudge socket (<run>/resolver.sock).
[[nodiscard]] std::filesystem::path resolver_socket(const Paths& paths);

}  // namespace berth::netns::detail

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netns/network.hpp"

namespace berth::netns::detail {

/// What the resolver knows about a name.
struct LookupResult {
    bool known = false;          ///< a container, alias, hostname or id matched
    std::vector<uint32_t> ipv4;  ///< addresses (host byte order), sorted
    std::vector<std::array<uint8_t, 16>> ipv6;  ///< IPv6 addresses, sorted
};

/// Resolves `name` for a query that arrived on the gateway of `network_id`
/// from `source_ip`: container names, hostnames, aliases (compose service
/// names) and ids (full or 12-character) of endpoints on that network, then on
/// the other DNS-enabled networks the asking container is also on. Pure.
[[nodiscard]] LookupResult lookup_name(const std::vector<Network>& networks,
                                       const std::string& network_id, uint32_t source_ip,
                                       std::string_view name);

}  // namespace berth::netns::detail
