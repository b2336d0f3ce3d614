// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "compose/model.hpp"

/// The `up` planner: desired services + observed containers -> actions. Pure.
namespace berth::compose {

/// What the project file asks for one service.
struct DesiredService {
    std::string name;
    std::string config_hash;
    std::string image_id;  ///< the image the service resolves to now; "" = unknown
    int replicas = 1;
    std::string container_name;  ///< `container_name:`; empty: <project>-<service>-<n>
};

/// A container of the project as found through its labels.
struct ObservedContainer {
    std::string id;
    std::string name;
    std::string service;
    int number = 0;
    std::string config_hash;
    std::string image_id;  ///< the image the container was created from
    bool running = false;
    bool oneoff = false;
};

enum class ActionKind {
    create,    ///< create and start a new container
    keep,      ///< up to date and running: nothing to do
    start,     ///< up to date but stopped: start it
    recreate,  ///< stale: stop, remove, create and start
    remove,    ///< a replica above the scale: stop and remove
};

/// One step for one container.
struct ContainerAction {
    ActionKind kind = ActionKind::create;
    std::string service;
    int number = 0;
    std::string name;         ///< the container's name (new or existing)
    std::string existing_id;  ///< keep/start/recreate/remove: the current container
};

struct PlanOptions {
    bool force_recreate = false;
    bool no_recreate = false;
    /// Services to bring up (empty: all desired ones).
    std::set<std::string> services;
};

/// The plan of one `up`: per service, its container actions in number order,
/// plus the containers of services no longer in the project.
struct Plan {
    std::map<std::string, std::vector<ContainerAction>> services;
    std::vector<ObservedContainer> orphans;  ///< sorted by name
};

/// `<project>-<service>-<n>`, or the service's container_name.
[[nodiscard]] std::string container_name(std::string_view project, const DesiredService& service,
                                         int number);

/// The config hash a container of `service` is labelled with: config_hash()
/// of the service, plus, when it uses secrets or configs, the definitions of
/// those (file path, variable name and value, inline content), so that a
/// changed inline config recreates the service (docker/compose#13045). Pure.
[[nodiscard]] std::string service_config_hash(const Project& project, const Service& service);

/// The desired state of the project's enabled services; `scale` (from
/// `up --scale SERVICE=N`) overrides a service's `scale`/`deploy.replicas`.
[[nodiscard]] std::vector<DesiredService> desired_services(
    const Project& project, const std::map<std::string, int>& scale = {});

/// Decides what `up` does. Deterministic; no I/O.
[[nodiscard]] Plan plan_up(std::string_view project, const std::vector<DesiredService>& desired,
                           const std::vector<ObservedContainer>& observed,
                           const PlanOptions& options);

}  // namespace berth::compose
