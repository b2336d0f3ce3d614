// SPDX-License-Identifier: Apache-2.0
// load, save and import (top level and under `image`).
#include "cli/commands.hpp"

namespace berth::cli {

void add_image_transfer_commands(CLI::App& app, CLI::App& image, Context& ctx) {
    (void)app;
    (void)image;
    (void)ctx;
}

}  // namespace berth::cli
