// SPDX-License-Identifier: Apache-2.0
// The hidden `__resolver` command: the DNS resolver process started by netns::attach.
#include "cli/commands.hpp"
#include "netns/network.hpp"

namespace berth::cli {

void add_network_resolver_command(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("__resolver", "Run the DNS resolver of berth's networks");
    cmd->group("");  // hidden from --help
    cmd->callback([&ctx] {
        auto r = netns::run_resolver(ctx.paths());
        ctx.exit_code = r ? 0 : report(r.error());
    });
}

}  // namespace berth::cli
