// SPDX-License-Identifier: Apache-2.0
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <set>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "cli/container_support.hpp"
#include "common/heap_tuning.hpp"
#include "common/log.hpp"

namespace berth::cli {

int report(const Error& error, int code) {
    std::fprintf(stderr, "berth: %s\n", error.message().c_str());
    return code;
}

namespace {

/// The first argument that is not a global option (or one's value): the
/// command. Empty when there is none.
std::string_view command_word(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--root" || a == "--run-root" || a == "--log-level") {
            ++i;  // its value follows
            continue;
        }
        if (a.empty() || a[0] == '-') {
            continue;
        }
        return a;
    }
    return {};
}

using GroupFn = void (*)(CLI::App&, Context&);

/// The groups that define each command word (in definition order); a word not
/// listed (help, a typo) gets every group, so help and errors are unchanged.
std::vector<GroupFn> groups_for(std::string_view word) {
    static const std::set<std::string_view> image = {
        "images", "tag", "rmi", "history", "load", "save", "import", "pull", "push", "login", "logout"};
    static const std::set<std::string_view> container = {
        "run",   "create",  "start", "ps",   "stop",    "restart", "kill", "rm",
        "wait",  "pause",   "unpause", "exec", "logs",  "inspect", "top"};
    if (image.count(word) != 0) {
        return {add_image_commands};
    }
    if (word == "image") {
        return {add_image_commands, add_build_command};
    }
    if (word == "build") {
        return {add_build_command};
    }
    if (word == "__supervise" || word == "__supervise-resume") {
        return {add_supervise_command};
    }
    if (container.count(word) != 0) {
        return {add_container_commands};
    }
    if (word == "config") {
        return {add_config_command};
    }
    if (word == "up" || word == "down") {
        return {add_compose_commands};
    }
    if (word == "network" || word == "port") {
        return {add_network_commands};
    }
    if (word == "__resolver") {
        return {add_network_resolver_command};
    }
    if (word == "version") {
        return {add_version_command};
    }
    if (word == "volume") {
        return {add_volume_commands};
    }
    return {add_image_commands,   add_build_command,           add_container_commands,
            add_config_command,   add_compose_commands,        add_network_commands,
            add_network_resolver_command, add_version_command, add_volume_commands};
}

void define_commands(CLI::App& app, Context& ctx, std::string_view word) {
    for (auto* add : groups_for(word)) {
        add(app, ctx);
    }
}

}  // namespace

}  // namespace berth::cli

int main(int argc, char** argv) {
    using namespace berth::cli;
    berth::heap::init(argc, argv);
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

    // Command groups, in `berth --help` order. Building the whole tree of
    // commands and options costs about 3 ms, a sizeable part of a `run --rm`:
    // when the command word names a group, only that group is built.
    ctx.word = command_word(argc, argv);
    define_commands(app, ctx, ctx.word);

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
    // Every command has finished its work (its own scopes released what they
    // held); what is left is freeing the command tree and the heap, page by
    // page (about 6% of a `run --rm`'s page faults). Output is flushed, then
    // the process ends without the destructors.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::_exit(ctx.exit_code);
}
