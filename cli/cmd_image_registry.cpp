// SPDX-License-Identifier: Apache-2.0
// pull, push, login and logout (top level and under `image`).
#include "cli/commands.hpp"

namespace berth::cli {

void add_image_registry_commands(CLI::App& app, CLI::App& image, Context& ctx) {
    (void)app;
    (void)image;
    (void)ctx;
}

}  // namespace berth::cli
