// SPDX-License-Identifier: Apache-2.0
#include <signal.h>

#include <cstdio>
#include <exception>
#include <functional>

#include "cli/commands.hpp"
#include "cli/container_support.hpp"
#include "common/log.hpp"

namespace berth::cli {

int report(const Error& error, int code) {
    std::fprintf(stderr, "berth: %s\n", error.message().c_str());
    return code;
}

}  // namespace berth::cli

int main(int argc, char** argv) {
    using namespace berth::cli;
    // A closed pipe (berth ps | head) must give EPIPE, not kill the CLI.
    ::signal(SIGPIPE, SIG_IGN);

    Context ctx;
    install_usage_hooks();
    CLI::App app{"berth: a daemonless container engine and compose orchestrator", "berth"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every command");
    app.add_option("--root", ctx.root_opt, "Data root (default /var/lib/berth, or BERTH_ROOT)");
    app.add_option("--run-root", ctx.run_root_opt, "Runtime root (default /run/berth, or BERTH_RUN)");
    app.add_option("--log-level", ctx.log_level, "Log level: trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_flag("-D,--debug", ctx.debug, "Debug logging (same as --log-level debug)");
    app.parse_complete_callback([&ctx] {
        berth::log::setup(ctx.debug ? "debug" : ctx.log_level);
    });

    // Command groups, in `berth --help` order.
    add_image_commands(app, ctx);
    add_build_command(app, ctx);
    add_container_commands(app, ctx);
    add_config_command(app, ctx);
    add_compose_commands(app, ctx);
    add_network_commands(app, ctx);
    add_network_resolver_command(app, ctx);
    add_version_command(app, ctx);
    add_volume_commands(app, ctx);

    // Docker's flags take one value per occurrence (`-v a -v b`); CLI11's vector
    // options would otherwise swallow the image and command that follow.
    std::function<void(CLI::App*)> one_value_each = [&](CLI::App* a) {
        for (auto* opt : a->get_options()) {
            if (!opt->get_positional() && opt->get_expected_max() > 1) {
                opt->expected(1);
                opt->allow_extra_args(false);
                opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
            }
        }
        for (auto* sub : a->get_subcommands({})) {
            one_value_each(sub);
        }
    };
    one_value_each(&app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        // Usage errors are engine errors in Docker's convention (exit 125).
        return rc == 0 ? 0 : exit_engine_error;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "berth: internal error: %s\n", e.what());
        return exit_engine_error;
    } catch (...) {
        std::fprintf(stderr, "berth: internal error\n");
        return exit_engine_error;
    }
    return ctx.exit_code;
}
