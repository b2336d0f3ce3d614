// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "compose/model.hpp"
#include "compose/orchestrator.hpp"
#include "compose/planner.hpp"

/// `up --dry-run` and `down --dry-run`: what `up` and `down` would do, from the
/// project and a snapshot of what exists, without acting. Pure.
namespace berth::compose {

/// One thing `up` or `down` would do: `kind` "Network", "Volume" or
/// "Container"; `action` "Create", "Recreate", "Start", "Keep", "Remove" or
/// "Stop and remove"; `reason` why, or empty.
struct DryRunStep {
    std::string kind;
    std::string name;
    std::string action;
    std::string reason;

    bool operator==(const DryRunStep&) const = default;
};

/// The plan of a dry run, in execution order, and the orphan containers
/// (`--remove-orphans` not given) that `up`/`down` would warn about.
struct DryRun {
    std::vector<DryRunStep> steps;
    std::vector<std::string> orphans;  ///< sorted container names
};

/// A network or volume as found, with its labels.
struct LabelledResource {
    std::string name;
    std::map<std::string, std::string> labels;
};

/// What exists now, for the dry run: the project's containers (with
/// `running`, one-off ones flagged), every network and every volume.
struct DryRunObserved {
    std::vector<ObservedContainer> containers;
    std::vector<LabelledResource> networks;
    std::vector<LabelledResource> volumes;
    /// service -> the image id its image reference resolves to now, when it
    /// is known locally; missing: the image is not compared.
    std::map<std::string, std::string> image_ids;
};

/// What `up` with `options` would do: the networks and volumes it creates,
/// then the container actions of the selected services in dependency order.
/// Errc::not_found for an unknown service in `options` or a missing external
/// network or volume, Errc::invalid_argument for a dependency cycle or an
/// invalid scale, as `up` itself would fail.
[[nodiscard]] Result<DryRun> dry_run_up(const Project& project, const UpOptions& options,
                                        const DryRunObserved& observed);

/// What `down` with `options` would do: containers to stop and remove
/// (dependents first), then the project's networks, then with `volumes` its
/// volumes (never external ones).
[[nodiscard]] DryRun dry_run_down(const Project& project, const DownOptions& options,
                                  const DryRunObserved& observed);

}  // namespace berth::compose
