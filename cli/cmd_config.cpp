// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/compose_project.hpp"
#include "common/dispose.hpp"
#include "common/fs.hpp"
#include "compose/graph.hpp"
#include "compose/loader.hpp"
#include "compose/yaml_emit.hpp"
#include "schema/validator.hpp"

extern char** environ;

namespace berth::cli {

namespace {

struct ConfigOptions {
    ProjectFlags project;
    std::string format = "yaml";
    std::string output;
    std::string hash;
    bool services = false;
    bool volumes = false;
    bool networks = false;
    bool list_profiles = false;
    bool images = false;
    bool no_interpolate = false;
    bool no_normalize = false;
    bool no_consistency = false;
    bool no_path_resolution = false;
    bool quiet = false;
    bool schema = false;
};

std::string render(const compose::Project& project, const ConfigOptions& o) {
    std::string out;
    if (o.services) {
        auto order = compose::DependencyGraph::from(project).topological_order();
        if (order) {
            for (const auto& s : *order) {
                out += s + "\n";
            }
        }
        return out;
    }
    if (o.volumes) {
        for (const auto& [k, v] : project.volumes) {
            out += k + "\n";
        }
        return out;
    }
    if (o.networks) {
        for (const auto& [k, v] : project.networks) {
            out += k + "\n";
        }
        return out;
    }
    if (o.list_profiles) {
        for (const auto& p : project.all_profiles) {
            out += p + "\n";
        }
        return out;
    }
    if (o.images) {
        for (const auto& [k, s] : project.services) {
            out += (s.image.empty() ? project.name + "-" + k : s.image) + "\n";
        }
        return out;
    }
    if (!o.hash.empty()) {
        for (const auto& [k, s] : project.services) {
            if (o.hash == "*" || o.hash == k) {
                out += k + " " + compose::config_hash(s) + "\n";
            }
        }
        return out;
    }
    if (o.format == "json") {
        return compose::project_json_text(project, !o.no_interpolate, 2) + "\n";
    }
    nlohmann::json j = compose::project_to_json(project, !o.no_interpolate);
    std::string text = compose::to_yaml(j);
    dispose_async(std::move(j));
    return text;
}

int run_config(const ConfigOptions& o) {
    if (o.schema) {
        std::fwrite(schema::compose_schema_text().data(), 1, schema::compose_schema_text().size(),
                    stdout);
        return 0;
    }
    auto lo = load_options(o.project);
    lo.interpolate = !o.no_interpolate;
    lo.normalize = !o.no_normalize;
    lo.consistency = !o.no_consistency;
    lo.resolve_paths = !o.no_path_resolution;
    auto project = compose::load_project(lo);
    if (!project) {
        std::fprintf(stderr, "berth: %s\n", project.error().message().c_str());
        return 1;
    }
    for (const auto& w : project->warnings) {
        std::fprintf(stderr, "WARN[0000] %s\n", w.c_str());
    }
    if (!o.hash.empty() && o.hash != "*" && project->services.count(o.hash) == 0) {
        std::fprintf(stderr, "berth: no such service: %s\n", o.hash.c_str());
        return 1;
    }
    if (o.quiet) {
        return 0;
    }
    std::string text = render(*project, o);
    if (!o.output.empty()) {
        auto w = fs::write_atomic(o.output, text);
        if (!w) {
            std::fprintf(stderr, "berth: %s\n", w.error().message().c_str());
            return 1;
        }
        return 0;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    // The command ends here: the project is freed while its output is flushed.
    dispose_async(std::move(*project));
    return 0;
}

void define(CLI::App* cmd, const std::shared_ptr<ConfigOptions>& o, Context& ctx) {
    add_project_flags(cmd, o->project);
    cmd->add_option("--format", o->format, "Output format: yaml or json")
        ->check(CLI::IsMember({"yaml", "json"}));
    cmd->add_option("-o,--output", o->output, "Write the output to this file");
    cmd->add_option("--hash", o->hash, "Print the config hash of SERVICE, or of all with \"*\"");
    cmd->add_flag("--services", o->services, "Print the service names, one per line");
    cmd->add_flag("--volumes", o->volumes, "Print the volume names, one per line");
    cmd->add_flag("--networks", o->networks, "Print the network names, one per line");
    cmd->add_flag("--profiles", o->list_profiles, "Print the profile names, one per line");
    cmd->add_flag("--images", o->images, "Print the image names, one per line");
    cmd->add_flag("--no-interpolate", o->no_interpolate, "Don't interpolate variables");
    cmd->add_flag("--no-normalize", o->no_normalize, "Don't normalize the model");
    cmd->add_flag("--no-consistency", o->no_consistency, "Don't check references");
    cmd->add_flag("--no-path-resolution", o->no_path_resolution,
                  "Don't make relative paths absolute");
    cmd->add_flag("-q,--quiet", o->quiet, "Only validate the configuration");
    cmd->add_flag("--schema", o->schema, "Print berth's Compose JSON Schema");
    cmd->callback([o, &ctx] { ctx.exit_code = run_config(*o); });
}

}  // namespace

void add_config_command(CLI::App& app, Context& ctx) {
    const char* about = "Parse, resolve and render the compose file in canonical format";
    define(app.add_subcommand("config", about), std::make_shared<ConfigOptions>(), ctx);
    // `berth compose config` is the same command under the compose group.
    CLI::App* group = nullptr;
    for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "compose"; })) {
        group = sub;
    }
    if (group == nullptr) {
        group = app.add_subcommand("compose", "Docker Compose compatible commands");
        group->require_subcommand(1);
    }
    define(group->add_subcommand("config", about), std::make_shared<ConfigOptions>(), ctx);
}

}  // namespace berth::cli
