// SPDX-License-Identifier: Apache-2.0
#pragma once

// Compose `build:` (issue 7): `berth compose build` and `up --build`, on the
// engine's Dockerfile builder, services built in parallel.

#include <map>
#include <set>
#include <string>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "compose/model.hpp"

namespace berth::cli {

struct ComposeBuildOptions {
    bool no_cache = false;
    bool quiet = false;
    std::map<std::string, std::string> build_args;  ///< --build-arg, over the file's args
    std::set<std::string> services;                 ///< empty: every service with build:
    bool only_missing = false;  ///< build only services whose image is not in the store
    int parallel = 4;
};

/// Gives every service that has `build:` and no `image:` Compose's default
/// image name, "<project>-<service>" (Compose v2).
void name_built_images(compose::Project& project);

/// Builds the services' images in parallel (at most `parallel` at once).
/// Each line of progress is prefixed with the service name; the output of RUN
/// steps is shown only for a failing step. Errors name the service.
[[nodiscard]] Result<void> build_services(const Paths& paths, const compose::Project& project,
                                          const ComposeBuildOptions& options);

}  // namespace berth::cli
