// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "compose/model.hpp"

namespace berth::compose {

/// The service dependency graph: an edge A -> B means A needs B started
/// first. Edges come from depends_on, links, volumes_from and `service:X`
/// in network_mode, ipc, pid, uts and cgroup.
class DependencyGraph {
public:
    /// Builds the graph of `project`'s enabled services. Edges to services
    /// that are not in the project are dropped (the loader reports them).
    [[nodiscard]] static DependencyGraph from(const Project& project);

    /// Adds a node (idempotent) and an edge.
    void add_service(const std::string& name);
    void add_edge(const std::string& from, const std::string& to);

    /// The services `name` depends on directly, sorted.
    [[nodiscard]] const std::set<std::string>& dependencies(const std::string& name) const;
    /// The services that depend directly on `name`, sorted.
    [[nodiscard]] std::set<std::string> dependents(const std::string& name) const;
    [[nodiscard]] const std::map<std::string, std::set<std::string>>& edges() const {
        return deps_;
    }

    /// One cycle, as the path that closes it ("a", "b", "a"), or nullopt.
    /// Deterministic: the search starts from the smallest name.
    [[nodiscard]] std::optional<std::vector<std::string>> find_cycle() const;

    /// Services with each one after its dependencies; ties in name order.
    /// Errc::invalid_argument "dependency cycle (a -> b -> a)" on a cycle.
    [[nodiscard]] Result<std::vector<std::string>> topological_order() const;

    /// `services` plus everything they depend on, transitively.
    [[nodiscard]] std::set<std::string> closure(const std::set<std::string>& services) const;

private:
    std::map<std::string, std::set<std::string>> deps_;
};

/// The names `service` references as `service:X` (network_mode, ipc, pid,
/// uts, cgroup), `volumes_from` (without `container:` and the `:ro` suffix)
/// and `links` (before any ':alias').
[[nodiscard]] std::set<std::string> implicit_dependencies(const nlohmann::json& service);

}  // namespace berth::compose
