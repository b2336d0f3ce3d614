// SPDX-License-Identifier: Apache-2.0
// `berth build` and `berth image build`.

#include "cli/commands.hpp"

namespace berth::cli {

void add_build_command(CLI::App& app, Context& ctx) {
    (void)app;
    (void)ctx;
}

}  // namespace berth::cli
