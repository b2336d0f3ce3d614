// SPDX-License-Identifier: Apache-2.0
// The compose subcommands beyond up/down/ps/ls.

#include "cli/commands.hpp"

namespace berth::cli {

void add_compose_ops(CLI::App& group, Context& ctx) {
    (void)group;
    (void)ctx;
}

}  // namespace berth::cli
