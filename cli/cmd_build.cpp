// SPDX-License-Identifier: Apache-2.0
// `berth build` and `berth image build`: a Dockerfile build with the engine's
// own builder (engine/build).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <memory>

#include "cli/commands.hpp"
#include "cli/compose_build.hpp"
#include "cli/compose_project.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "engine/build/builder.hpp"

namespace berth::cli {

namespace eb = engine::build;

namespace {

struct BuildFlags {
    std::vector<std::string> tags;
    std::string file;
    std::vector<std::string> build_args;
    std::string target;
    bool no_cache = false;
    std::vector<std::string> labels;
    std::string progress = "auto";
    std::string platform;
    bool quiet = false;
    std::string network = "default";
    std::string context;
};

Result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& in,
                                                      bool from_env, const char* what) {
    std::map<std::string, std::string> out;
    for (const auto& kv : in) {
        auto eq = kv.find('=');
        if (eq == 0 || kv.empty()) {
            return Error(Errc::invalid_argument, fmt::format("invalid {} \"{}\"", what, kv));
        }
        if (eq == std::string::npos) {
            if (!from_env) {
                out[kv] = "";
                continue;
            }
            // Docker: `--build-arg NAME` takes the value from the environment, if set.
            if (const char* v = std::getenv(kv.c_str())) {
                out[kv] = v;
            }
            continue;
        }
        out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return out;
}

int run_build(Context& ctx, const BuildFlags& f) {
    eb::BuildOptions o;
    if (f.context == "-") {
        return report(Error(Errc::unsupported,
                            "berth build: a context from stdin is not supported; give a directory"));
    }
    o.context = f.context;
    o.dockerfile = f.file;
    o.tags = f.tags;
    auto args = key_values(f.build_args, true, "build-arg");
    if (!args) {
        return report(args.error());
    }
    o.build_args = *args;
    auto labels = key_values(f.labels, false, "label");
    if (!labels) {
        return report(labels.error());
    }
    o.labels = *labels;
    o.target = f.target;
    o.no_cache = f.no_cache;
    o.platform = f.platform;
    o.network = f.network;
    if (o.network != "default" && o.network != "none" && o.network != "host" &&
        o.network != "bridge") {
        return report(Error(Errc::invalid_argument,
                            fmt::format("--network {}: expected default, bridge, none or host",
                                        o.network)));
    }
    if (o.network == "bridge") {
        o.network = "default";
    }
    bool quiet = f.quiet || f.progress == "quiet";
    eb::BuildOutput out;
    auto started = std::chrono::steady_clock::now();
    if (!quiet) {
        out.step = [](const std::string& stage, int step, int total, const std::string& text) {
            if (stage.empty()) {
                std::fprintf(stderr, "[%d/%d] %s\n", step, total, text.c_str());
            } else {
                std::fprintf(stderr, "[%s %d/%d] %s\n", stage.c_str(), step, total, text.c_str());
            }
            std::fflush(stderr);
        };
        out.step_done = [](bool cached, std::chrono::milliseconds ms) {
            if (cached) {
                std::fprintf(stderr, " ---> CACHED\n");
            } else {
                std::fprintf(stderr, " ---> DONE %.1fs\n", static_cast<double>(ms.count()) / 1000);
            }
            std::fflush(stderr);
        };
        out.run_output_fd = 2;
    }
    out.warn = [](const std::string& w) { std::fprintf(stderr, "%s\n", w.c_str()); };
    auto r = eb::build_image(ctx.paths(), o, out);
    if (!r) {
        return report(r.error(), 1);
    }
    if (quiet) {
        std::printf("%s\n", r->image_id.c_str());
        return 0;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "Successfully built %s in %.2fs (%d steps, %d cached)\n",
                 r->image_id.substr(7, 12).c_str(), secs, r->steps, r->cached);
    for (const auto& t : f.tags) {
        std::fprintf(stderr, "Successfully tagged %s\n", t.c_str());
    }
    std::printf("%s\n", r->image_id.c_str());
    return 0;
}

void define_build(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<BuildFlags>();
    cmd->add_option("-t,--tag", f->tags, "Name and optionally a tag in the \"name:tag\" format");
    cmd->add_option("-f,--file", f->file, "Name of the Dockerfile (default: \"PATH/Dockerfile\")");
    cmd->add_option("--build-arg", f->build_args, "Set build-time variables");
    cmd->add_option("--target", f->target, "Set the target build stage to build");
    cmd->add_flag("--no-cache", f->no_cache, "Do not use cache when building the image");
    cmd->add_option("--label", f->labels, "Set metadata for an image");
    cmd->add_option("--progress", f->progress, "Set type of progress output (auto, plain, tty, quiet)")
        ->check(CLI::IsMember({"auto", "plain", "tty", "quiet", "rawjson"}));
    cmd->add_option("--platform", f->platform, "Set the target platform (the host's only)");
    cmd->add_flag("-q,--quiet", f->quiet, "Suppress the build output and print image ID on success");
    cmd->add_option("--network", f->network,
                    "Set the networking mode for the RUN instructions (default, none, host)");
    cmd->add_option("context", f->context, "PATH: the build context directory")->required();
    cmd->callback([f, &ctx] { ctx.exit_code = run_build(ctx, *f); });
}

struct ComposeBuildFlags {
    ProjectFlags project;
    bool no_cache = false;
    bool quiet = false;
    std::vector<std::string> build_args;
    std::vector<std::string> services;
};

int run_compose_build(Context& ctx, const ComposeBuildFlags& f) {
    auto project = compose::load_project(load_options(f.project));
    if (!project) {
        return report(project.error(), 1);
    }
    name_built_images(*project);
    ComposeBuildOptions o;
    o.no_cache = f.no_cache;
    o.quiet = f.quiet;
    auto args = key_values(f.build_args, true, "build-arg");
    if (!args) {
        return report(args.error(), 1);
    }
    o.build_args = *args;
    o.services.insert(f.services.begin(), f.services.end());
    if (const char* lim = std::getenv("COMPOSE_PARALLEL_LIMIT")) {
        o.parallel = std::max(1, std::atoi(lim));
    }
    if (auto r = build_services(ctx.paths(), *project, o); !r) {
        return report(r.error(), 1);
    }
    return 0;
}

}  // namespace

void add_compose_build(CLI::App& group, Context& ctx) {
    auto* cmd = group.add_subcommand("build", "Build or rebuild services");
    auto f = std::make_shared<ComposeBuildFlags>();
    add_project_flags(cmd, f->project);
    cmd->add_flag("--no-cache", f->no_cache, "Do not use cache when building the image");
    cmd->add_flag("-q,--quiet", f->quiet, "Don't print anything to STDOUT");
    cmd->add_option("--build-arg", f->build_args, "Set build-time variables for services");
    cmd->add_option("services", f->services, "Services to build");
    cmd->callback([f, &ctx] { ctx.exit_code = run_compose_build(ctx, *f); });
}

void add_build_command(CLI::App& app, Context& ctx) {
    define_build(app.add_subcommand("build", "Build an image from a Dockerfile"), ctx);
    CLI::App* image = nullptr;
    for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "image"; })) {
        image = sub;
    }
    if (image != nullptr) {
        define_build(image->add_subcommand("build", "Build an image from a Dockerfile"), ctx);
    }
}

}  // namespace berth::cli
