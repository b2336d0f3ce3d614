// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <CLI/CLI.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cli/compose_project.hpp"
#include "cli/context.hpp"
#include "compose/model.hpp"
#include "compose/orchestrator.hpp"

/// What the compose subcommands beyond up/down/ps/ls share
/// (cmd_compose_ops.cpp, cmd_compose_exec.cpp).
namespace berth::cli::compose_ops {

/// The project a command acts on: loaded from its files, or only its name
/// when there is no file but -p was given (the containers carry the labels).
/// `from_file` tells which.
struct LoadedProject {
    compose::Project project;
    bool from_file = false;
};
Result<LoadedProject> load(const ProjectFlags& flags);

/// Errc::not_found "no such service: X" for a service the loaded file lacks.
Result<void> check_services(const LoadedProject& project, const std::vector<std::string>& services);

/// One progress line on stderr, as up/down print them: " Container x  Started".
void progress(std::string_view kind, std::string_view name, std::string_view status);
/// "WARN[0000] message" on stderr.
void warn(std::string_view message);
/// Prints "berth: <message>" and returns `code` (Compose exits 1 on errors).
int fail(const Error& error, int code = 1);

/// The project's containers (one-off ones too with `oneoff`), of `services`
/// only when not empty.
Result<std::vector<compose::ProjectContainer>> containers(const Paths& paths,
                                                          const std::string& project,
                                                          const std::vector<std::string>& services,
                                                          bool oneoff = false);

/// Replica `index` of `service`. Errc::not_found "service "web" is not
/// running" (Compose's text) when it has no such container, or when
/// `running` is asked and it is not running.
Result<compose::ProjectContainer> replica(const Paths& paths, const std::string& project,
                                          const std::string& service, int index, bool running);

/// The container name without "<project>-" ("web-1"), as log prefixes show it.
std::string short_name(const std::string& project, const std::string& container_name);

/// Running, paused or restarting.
bool is_live(const engine::containers::ContainerState& state);

/// The hooks through which the orchestrator resolves images and prepares mounts.
compose::EngineHooks engine_hooks(const Paths& paths);

/// The services in dependency order (dependencies first); without a file,
/// the given names sorted.
std::vector<std::string> service_order(const LoadedProject& project,
                                       const std::set<std::string>& names);

/// Adds logs, exec, run and cp (cmd_compose_exec.cpp).
void add_compose_exec_commands(CLI::App& group, Context& ctx);

/// Pulls the images of `services` (cmd_compose_ops.cpp) by `policy`: "always",
/// "missing" (only those not in the store), "never" or "build" (none). With
/// `policy_overrides` (`up --pull`) it replaces each service's pull_policy;
/// otherwise (`pull --policy`) a service's never/build/missing policy wins.
/// Progress lines go to stderr unless `quiet`; with `ignore_failures` a failed
/// pull is a warning.
Result<void> pull_service_images(const Paths& paths,
                                 const std::vector<const compose::Service*>& services,
                                 const std::string& policy, bool policy_overrides, bool quiet,
                                 bool ignore_failures, bool ignore_buildable);

}  // namespace berth::cli::compose_ops
