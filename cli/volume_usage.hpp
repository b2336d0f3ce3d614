// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <set>
#include <string>

#include "common/paths.hpp"

namespace berth::cli {

/// Returns the names of the volumes that containers use (from the container
/// records). The volume commands call it for `rm`, `prune` and `ls -f dangling`.
using VolumeUsageFn = std::function<std::set<std::string>(const Paths&)>;

/// Installs the hook; the container layer calls this once at start-up (main).
/// Until then no volume counts as in use by a container, but volumes mounted
/// for a holder (VolumeStore::holders) always do.
void set_volume_usage(VolumeUsageFn fn);

/// The volumes in use under `paths`, through the installed hook (empty set when none).
[[nodiscard]] std::set<std::string> volumes_in_use(const Paths& paths);

}  // namespace berth::cli
