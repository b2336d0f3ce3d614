// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "engine/containers/store.hpp"

namespace berth::engine::containers {

/// What, besides the record, decides a container's OCI spec. Pure values: the
/// caller prepared the files and namespaces they name.
struct SpecInputs {
    std::filesystem::path container_dir;   ///< holds hostname, hosts, resolv.conf, upper/, work/
    std::vector<std::string> lowerdirs;    ///< overlay lower dirs, TOP first (init layer first)
    std::string cgroup_path;               ///< "/<prefix>/<id>"
    std::optional<std::string> netns_path; ///< join this network namespace (bridge networks)
    bool host_network = false;             ///< share the host's network namespace
    std::filesystem::path init_binary;     ///< static init bound at /sbin/docker-init for --init
    bool external_runtime = false;         ///< rootfs is mounted by the engine, no overlay annotations
    nlohmann::json base_spec;              ///< runtime::default_spec()
    /// Returns the seccomp section for the effective capability set, or null to
    /// keep base_spec's (see runtime::seccomp_for_caps).
    std::function<nlohmann::json(const std::vector<std::string>&)> seccomp_for_caps;
};

/// The process arguments Docker would run: entrypoint + cmd, where --entrypoint
/// clears the image's Cmd unless a command is given. Errc::invalid_argument
/// "no command specified" when both are empty.
Result<std::vector<std::string>> resolve_args(const ContainerRecord& record);

/// The environment: image Env, overridden per key by the user's, plus
/// HOSTNAME, a default PATH when missing, and TERM=xterm with a tty.
std::vector<std::string> resolve_env(const ContainerRecord& record, const std::string& hostname);

/// The container's hostname: --hostname, or the first 12 characters of the id.
std::string resolve_hostname(const ContainerRecord& record);

/// The effective capability names (CAP_*) after --cap-add/--cap-drop/--privileged.
Result<std::vector<std::string>> resolve_capabilities(const ContainerRecord& record,
                                                      const std::vector<std::string>& defaults);

/// Builds config.json for `record`. Pure: no file system access.
Result<nlohmann::json> build_spec(const ContainerRecord& record, const SpecInputs& inputs);

/// The stop signal of a container: its own, else the image's, else SIGTERM.
std::string resolve_stop_signal(const ContainerRecord& record);

/// Parses "SIGTERM", "TERM", "15" into a signal number; 0 when unknown.
int parse_signal(std::string_view name);

}  // namespace berth::engine::containers
