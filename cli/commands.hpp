// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <CLI/CLI.hpp>

#include "cli/context.hpp"

namespace berth::cli {

// One function per command group; each adds its subcommands to `app`. The
// callbacks they install set ctx.exit_code. Listed in `berth --help` order.
void add_image_commands(CLI::App& app, Context& ctx);  // cmd_image*.cpp: images, image, pull, ...
void add_config_command(CLI::App& app, Context& ctx);      // cmd_config.cpp: config, compose config
void add_version_command(CLI::App& app, Context& ctx);     // cmd_version.cpp
void add_volume_commands(CLI::App& app, Context& ctx);     // cmd_volume.cpp

}  // namespace berth::cli
