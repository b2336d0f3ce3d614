// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "compose/model.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/store.hpp"

/// The orchestrator: runs `up` and `down` of a project against the engine.
namespace berth::compose {

/// What the orchestrator needs from the layer above (the CLI owns image
/// resolution and mount preparation; compose must not include it).
struct EngineHooks {
    std::function<Result<engine::containers::ImageRef>(const std::string& ref)> resolve_image;
    /// Prepares `--mount` and `--tmpfs` style specs (plus the image's VOLUMEs)
    /// for container `id`, filling config.mounts/volumes/anonymous_volumes.
    std::function<Result<void>(const std::string& id, const std::vector<std::string>& mounts,
                               const std::vector<std::string>& tmpfs,
                               const engine::containers::ImageRef& image,
                               engine::containers::ContainerConfig& config)>
        prepare_mounts;
    /// Undoes prepare_mounts after a failed create.
    std::function<void(const std::string& id, const engine::containers::ContainerConfig& config)>
        release_mounts;
};

/// One progress line: kind ("Network", "Volume", "Container"), name, status
/// ("Creating", "Started", ...). Called from several threads, serialised.
using ProgressFn = std::function<void(std::string_view kind, std::string_view name,
                                      std::string_view status)>;
/// A warning line for the user.
using WarnFn = std::function<void(std::string_view message)>;

struct UpOptions {
    bool force_recreate = false;
    bool no_recreate = false;
    bool no_start = false;
    bool remove_orphans = false;
    int timeout = -1;  ///< stop timeout for recreate/remove; negative: the container's
    std::set<std::string> services;  ///< empty: all (with their dependencies otherwise)
    bool no_deps = false;            ///< with `services`: leave their dependencies alone
    std::map<std::string, int> scale;  ///< `--scale SERVICE=N`: replicas per service
    int parallel_limit = 8;
};

struct DownOptions {
    bool volumes = false;
    bool remove_orphans = false;
    int timeout = -1;
};

/// Brings the project up: networks, volumes, then containers in dependency
/// order, reconciled with what exists (labels). Errors name the service.
[[nodiscard]] Result<void> up(const Paths& paths, const Project& project,
                              const UpOptions& options, const EngineHooks& hooks,
                              const ProgressFn& progress, const WarnFn& warn);

/// Waits until the containers of `services` (empty: all) are running, and
/// healthy when they have a healthcheck; a service that another one depends
/// on with `service_completed_successfully` must have exited 0 instead, and
/// any container that exited 0 without being waited on that way counts as
/// done (one-shot jobs). `timeout` zero waits without a deadline.
/// Errc::failed_precondition when a container is unhealthy or exited non-zero,
/// Errc::unavailable when the deadline passes; both name the container and
/// carry its last healthcheck output. Reports "Waiting", "Healthy", "Exited".
[[nodiscard]] Result<void> wait_healthy(const Paths& paths, const Project& project,
                                        const std::set<std::string>& services,
                                        std::chrono::milliseconds timeout,
                                        const ProgressFn& progress);

/// Stops and removes the project's containers (all at once), its networks and
/// with `volumes` its named and anonymous volumes. `project` gives the
/// networks and volumes of the file; labelled leftovers are removed too.
[[nodiscard]] Result<void> down(const Paths& paths, const Project& project,
                                const DownOptions& options, const ProgressFn& progress,
                                const WarnFn& warn);

/// Stops the running containers of `project` (or only those of `services`) in
/// reverse dependency order: a container once those of its dependents are
/// stopped, all of a level at once.
[[nodiscard]] Result<void> stop(const Paths& paths, const Project& project,
                                const std::set<std::string>& services, int timeout,
                                const ProgressFn& progress);

/// A container of a project with its state.
struct ProjectContainer {
    engine::containers::ContainerRecord record;
    engine::containers::ContainerState state;
    std::string service;
    int number = 0;
};

/// The containers labelled with `project` (empty: every compose project),
/// sorted by project then name; one-off containers only with `oneoff`.
[[nodiscard]] Result<std::vector<ProjectContainer>> project_containers(const Paths& paths,
                                                                     std::string_view project,
                                                                     bool oneoff = false);

/// The lock file that serialises `up`/`down` of one project.
[[nodiscard]] std::filesystem::path project_lock_path(const Paths& paths, std::string_view name);

/// The container config of replica `number` of `service` (labels, networks,
/// aliases, ports...). `service_container_ids` maps `service:X` network_mode
/// targets to container ids. Secrets, configs and volumes_from are added at
/// create time (they need files and other containers). Pure.
[[nodiscard]] Result<engine::containers::ContainerConfig> container_config(
    const Project& project, const Service& service, int number,
    const std::map<std::string, std::string>& service_container_ids);

}  // namespace berth::compose
