// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "compose/model.hpp"
#include "compose/orchestrator.hpp"
#include "engine/containers/config.hpp"
#include "netns/network.hpp"

/// Project operations for the compose commands beyond up/down: one-off
/// (`run`) containers and the resources one service needs.
namespace berth::compose {

/// The label a one-off container carries with its random slug (Compose's).
inline constexpr std::string_view oneoff_slug_label = "com.docker.compose.slug";

/// The engine names of network and named volume `key` (`name:` or
/// `<project>_<key>`).
[[nodiscard]] std::string network_name(const Project& project, const std::string& key);
[[nodiscard]] std::string volume_name(const Project& project, const std::string& key);

/// What the engine creates for network `key` of the project: name, driver,
/// internal, IPv4 and IPv6 IPAM (every `ipam.config` entry; an IPv6 subnet
/// fills the IPv6 fields), options and the compose labels. Pure.
[[nodiscard]] netns::NetworkSpec network_spec(const Project& project, const std::string& key,
                                              const Network& net);

/// A service's mounts as `--mount` and `--tmpfs` values (named volumes
/// resolved to their engine names). Pure.
struct ServiceMounts {
    std::vector<std::string> mounts;
    std::vector<std::string> tmpfs;
};
[[nodiscard]] ServiceMounts service_mounts(const Project& project, const Service& service);

/// Creates the networks and named volumes `service` uses that do not exist
/// yet, labelled as `up` labels them, reporting "Network X  Created" and
/// "Volume X  Created". Errc::not_found for a missing external one.
[[nodiscard]] Result<void> ensure_service_resources(const Paths& paths, const Project& project,
                                                    const Service& service,
                                                    const ProgressFn& progress);

/// `<project>-<service>-run-<slug>`, Compose's one-off container name.
[[nodiscard]] std::string oneoff_name(const Project& project, const Service& service,
                                      std::string_view slug);

/// The config of a one-off container of `service`: the replica config with
/// com.docker.compose.oneoff=True and the slug label, no container number,
/// no network aliases (unless `use_aliases`) and no published ports (unless
/// `service_ports`). `service_container_ids` as for container_config. Pure.
[[nodiscard]] Result<engine::containers::ContainerConfig> oneoff_config(
    const Project& project, const Service& service, std::string_view slug, bool service_ports,
    bool use_aliases, const std::map<std::string, std::string>& service_container_ids);

}  // namespace berth::compose
