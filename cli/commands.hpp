// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.hpp"
#include "engine/images/store.hpp"
#include "netns/network.hpp"

namespace berth::cli {

// One function per command group; each adds its subcommands to `app`. The
// callbacks they install set ctx.exit_code. Listed in `berth --help` order.
void add_image_commands(CLI::App& app, Context& ctx);  // cmd_image*.cpp: images, image, pull, ...
void add_run_commands(CLI::App& app, Context& ctx);        // cmd_run.cpp: run, create, start
void add_container_commands(CLI::App& app, Context& ctx);  // cmd_container.cpp (calls add_run_commands)
/// Only the hidden `__supervise` (cmd_container.cpp): what an exec'd supervisor needs.
void add_supervise_command(CLI::App& app, Context& ctx);
void add_config_command(CLI::App& app, Context& ctx);      // cmd_config.cpp: config, compose config
void add_compose_commands(CLI::App& app, Context& ctx);    // cmd_compose.cpp: up, down, compose *
/// The compose subcommands other than up/down/ps/ls (cmd_compose_ops.cpp),
/// added to the `compose` group; called by add_compose_commands.
void add_compose_ops(CLI::App& group, Context& ctx);
void add_build_command(CLI::App& app, Context& ctx);       // cmd_build.cpp: build, image build
/// `compose build`, added to the `compose` group (cmd_build.cpp).
void add_compose_build(CLI::App& group, Context& ctx);
void add_version_command(CLI::App& app, Context& ctx);     // cmd_version.cpp
void add_volume_commands(CLI::App& app, Context& ctx);     // cmd_volume.cpp
void add_network_commands(CLI::App& app, Context& ctx);     // cmd_network.cpp: network, port
void add_network_resolver_command(CLI::App& app, Context& ctx);  // cmd_network_resolver.cpp

/// Which containers use an image, for `rmi`-like removals (cmd_image.cpp).
engine::images::ImageUsersFn image_users(const Paths& paths);

/// How `network connect/disconnect` and `port` find a container (id, name,
/// netns path); the container layer installs it at start-up (main).
using NetworkContainerLookupFn =
    std::function<Result<netns::ContainerRef>(const Paths&, std::string_view name_or_id)>;
void set_network_container_lookup(NetworkContainerLookupFn fn);  // cmd_network.cpp

}  // namespace berth::cli
