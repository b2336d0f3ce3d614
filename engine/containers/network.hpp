// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "engine/containers/store.hpp"

namespace berth::engine::containers {

/// What the network mode of a container decided: which namespace it joins and
/// the contents of its /etc/hosts and /etc/resolv.conf.
struct NetworkSetup {
    std::optional<std::string> netns_path;  ///< join this network namespace
    bool host = false;                      ///< share the host's
    std::string hosts;
    std::string resolv_conf;
};

/// Sets up the network of `record` before its process starts: none (a fresh
/// namespace with loopback), host, container:<ref>, or bridge networks (a
/// persistent namespace with one endpoint per network). Undone by
/// detach_network; on failure nothing is left.
Result<NetworkSetup> attach_network(const Paths& paths, const ContainerRecord& record,
                                    const ContainerStore& store);

/// Where the persistent network namespace of a bridged container is bound.
std::filesystem::path netns_path_of(const Paths& paths, const std::string& id);

/// Releases what attach_network set up. Idempotent; logs failures.
void detach_network(const Paths& paths, const ContainerRecord& record);

/// The resolv.conf a container gets without a berth resolver: the host's,
/// without loopback name servers (they are unreachable from the container),
/// and Google's public servers when none remain, as Docker does.
std::string container_resolv_conf(const std::string& host_resolv_conf);

/// The /etc/hosts of a container: localhost entries, then `ip hostname` lines
/// for its addresses and the --add-host entries.
std::string container_hosts(const std::string& hostname,
                            const std::vector<std::pair<std::string, std::string>>& own,
                            const std::vector<std::string>& extra_hosts);

}  // namespace berth::engine::containers
