// SPDX-License-Identifier: Apache-2.0
#include "cli/compose_ops_support.hpp"

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>

#include "cli/container_support.hpp"
#include "compose/graph.hpp"
#include "compose/loader.hpp"

namespace berth::cli::compose_ops {

namespace ec = engine::containers;

Result<LoadedProject> load(const ProjectFlags& flags) {
    auto lo = load_options(flags);
    auto project = compose::load_project(lo);
    if (project) {
        return LoadedProject{std::move(*project), true};
    }
    if (!flags.project_name.empty() && project.error().code() == Errc::not_found) {
        LoadedProject p;
        p.project.name = compose::normalize_project_name(flags.project_name);
        return p;
    }
    return std::move(project).error();
}

Result<void> check_services(const LoadedProject& p, const std::vector<std::string>& services) {
    if (!p.from_file) {
        return {};
    }
    for (const auto& s : services) {
        if (p.project.services.count(s) == 0) {
            return Error(Errc::not_found, fmt::format("no such service: {}", s));
        }
    }
    return {};
}

void progress(std::string_view kind, std::string_view name, std::string_view status) {
    std::fprintf(stderr, " %.*s %.*s  %.*s\n", static_cast<int>(kind.size()), kind.data(),
                 static_cast<int>(name.size()), name.data(), static_cast<int>(status.size()),
                 status.data());
    std::fflush(stderr);
}

void warn(std::string_view message) {
    std::fprintf(stderr, "WARN[0000] %.*s\n", static_cast<int>(message.size()), message.data());
}

int fail(const Error& error, int code) {
    std::fprintf(stderr, "berth: %s\n", error.message().c_str());
    return code;
}

Result<std::vector<compose::ProjectContainer>> containers(const Paths& paths,
                                                          const std::string& project,
                                                          const std::vector<std::string>& services,
                                                          bool oneoff) {
    auto list = compose::project_containers(paths, project, oneoff);
    if (!list) {
        return std::move(list).error();
    }
    if (services.empty()) {
        return list;
    }
    std::vector<compose::ProjectContainer> out;
    for (auto& pc : *list) {
        if (std::find(services.begin(), services.end(), pc.service) != services.end()) {
            out.push_back(std::move(pc));
        }
    }
    return out;
}

Result<compose::ProjectContainer> replica(const Paths& paths, const std::string& project,
                                          const std::string& service, int index, bool running) {
    auto list = containers(paths, project, {service});
    if (!list) {
        return std::move(list).error();
    }
    for (auto& pc : *list) {
        if (pc.number != index) {
            continue;
        }
        if (running && !is_live(pc.state)) {
            break;
        }
        return std::move(pc);
    }
    if (index != 1 && !list->empty()) {
        return Error(Errc::not_found,
                     fmt::format("service \"{}\" is not running container #{}", service, index));
    }
    return Error(Errc::not_found, fmt::format("service \"{}\" is not running", service));
}

std::string short_name(const std::string& project, const std::string& name) {
    std::string prefix = project + "-";
    return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

bool is_live(const ec::ContainerState& s) {
    return s.status == ec::Status::running || s.status == ec::Status::restarting ||
           s.status == ec::Status::paused;
}

compose::EngineHooks engine_hooks(const Paths& paths) {
    // The same hooks as `up` (cmd_compose.cpp) installs.
    compose::EngineHooks hooks;
    hooks.resolve_image = [paths](const std::string& ref) { return resolve_image(paths, ref); };
    hooks.prepare_mounts = [paths](const std::string& id, const std::vector<std::string>& mounts,
                                   const std::vector<std::string>& tmpfs,
                                   const ec::ImageRef& image, ec::ContainerConfig& config) {
        MountFlags flags;
        flags.mounts = mounts;
        flags.tmpfs = tmpfs;
        return prepare_container_mounts(paths, id, flags, image, config);
    };
    hooks.release_mounts = [paths](const std::string& id, const ec::ContainerConfig& config) {
        release_container_mounts(paths, id, config);
    };
    return hooks;
}

std::vector<std::string> service_order(const LoadedProject& p, const std::set<std::string>& names) {
    std::vector<std::string> out;
    if (p.from_file) {
        auto order = compose::DependencyGraph::from(p.project).topological_order();
        if (order) {
            for (const auto& s : *order) {
                if (names.count(s) != 0) {
                    out.push_back(s);
                }
            }
            for (const auto& s : names) {
                if (std::find(out.begin(), out.end(), s) == out.end()) {
                    out.push_back(s);
                }
            }
            return out;
        }
    }
    return {names.begin(), names.end()};
}

}  // namespace berth::cli::compose_ops
