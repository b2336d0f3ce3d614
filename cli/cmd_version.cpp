// SPDX-License-Identifier: Apache-2.0
#include <sys/utsname.h>

#include <cstdio>

#include "cli/commands.hpp"

namespace berth::cli {

void add_version_command(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("version", "Show the berth version information");
    cmd->callback([&ctx] {
        struct utsname u {};
        ::uname(&u);
        std::printf("berth version %s\nOS/Arch: %s/%s\n", BERTH_VERSION, u.sysname, u.machine);
        ctx.exit_code = 0;
    });
}

}  // namespace berth::cli
