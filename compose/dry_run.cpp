// SPDX-License-Identifier: Apache-2.0
#include "compose/dry_run.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "compose/graph.hpp"
#include "compose/labels.hpp"

namespace berth::compose {

namespace {

std::string label_of(const LabelledResource& r, std::string_view key) {
    auto it = r.labels.find(std::string(key));
    return it == r.labels.end() ? std::string() : it->second;
}

/// The engine name of a project network or volume: its `name:`, else
/// `<project>_<key>`.
std::string resource_name(const std::string& project, const std::string& key,
                          const std::string& name) {
    return name.empty() ? fmt::format("{}_{}", project, key) : name;
}

/// The network keys the services use, as `up` creates them (all services,
/// whichever are selected: a network serves the whole project).
std::set<std::string> used_networks(const Project& project) {
    std::set<std::string> used;
    for (const auto& [name, svc] : project.services) {
        (void)name;
        if (!svc.network_mode.empty()) {
            continue;
        }
        if (svc.networks.empty()) {
            used.insert("default");
        }
        for (const auto& [key, sn] : svc.networks) {
            (void)sn;
            used.insert(key);
        }
    }
    return used;
}

/// Why a kept container is recreated, for the reason column.
std::string recreate_reason(const ObservedContainer& o, const DesiredService& d,
                            bool forced) {
    if (o.config_hash != d.config_hash) {
        return "configuration changed";
    }
    if (!d.image_id.empty() && !o.image_id.empty() && d.image_id != o.image_id) {
        return "image changed";
    }
    return forced ? "--force-recreate" : std::string();
}

}  // namespace

Result<DryRun> dry_run_up(const Project& project, const UpOptions& options,
                          const DryRunObserved& observed) {
    DryRun out;
    auto graph = DependencyGraph::from(project);
    auto order = graph.topological_order();
    if (!order) {
        return std::move(order).error();
    }
    for (const auto& s : options.services) {
        if (project.services.count(s) == 0) {
            return Error(Errc::not_found, fmt::format("no such service: {}", s));
        }
    }
    for (const auto& [name, n] : options.scale) {
        if (project.services.count(name) == 0) {
            return Error(Errc::not_found, fmt::format("no such service: {}", name));
        }
        if (n < 0) {
            return Error(Errc::invalid_argument,
                         fmt::format("service \"{}\": invalid scale {}", name, n));
        }
    }
    std::set<std::string> selected;
    if (options.services.empty()) {
        for (const auto& [name, svc] : project.services) {
            (void)svc;
            selected.insert(name);
        }
    } else if (options.no_deps) {
        selected = options.services;
    } else {
        selected = graph.closure(options.services);
    }

    std::set<std::string> networks;
    for (const auto& n : observed.networks) {
        networks.insert(n.name);
    }
    for (const auto& key : used_networks(project)) {
        auto it = project.networks.find(key);
        bool external = it != project.networks.end() && it->second.external;
        auto name = resource_name(project.name, key,
                                  it != project.networks.end() ? it->second.name : "");
        if (networks.count(name) != 0) {
            continue;
        }
        if (external) {
            return Error(Errc::not_found,
                         fmt::format("network {} declared as external, but could not be found",
                                     name));
        }
        out.steps.push_back({"Network", name, "Create", "missing"});
    }
    std::set<std::string> volume_names;
    for (const auto& v : observed.volumes) {
        volume_names.insert(v.name);
    }
    for (const auto& [key, vol] : project.volumes) {
        auto name = resource_name(project.name, key, vol.name);
        if (volume_names.count(name) != 0) {
            continue;
        }
        if (vol.external) {
            return Error(Errc::not_found, fmt::format("external volume \"{}\" not found", name));
        }
        out.steps.push_back({"Volume", name, "Create", "missing"});
    }

    auto desired = desired_services(project, options.scale);
    for (auto& d : desired) {
        if (auto it = observed.image_ids.find(d.name); it != observed.image_ids.end()) {
            d.image_id = it->second;
        }
    }
    PlanOptions popts;
    popts.force_recreate = options.force_recreate;
    popts.no_recreate = options.no_recreate;
    popts.services = selected;
    auto plan = plan_up(project.name, desired, observed.containers, popts);
    for (const auto& o : plan.orphans) {
        if (options.remove_orphans) {
            out.steps.push_back(
                {"Container", o.name, o.running ? "Stop and remove" : "Remove", "orphan"});
        } else {
            out.orphans.push_back(o.name);
        }
    }
    std::map<std::string, const ObservedContainer*> by_id;
    for (const auto& o : observed.containers) {
        by_id[o.id] = &o;
    }
    std::map<std::string, const DesiredService*> desired_by_name;
    for (const auto& d : desired) {
        desired_by_name[d.name] = &d;
    }
    for (const auto& service : *order) {
        auto actions = plan.services.find(service);
        if (actions == plan.services.end()) {
            continue;
        }
        for (const auto& a : actions->second) {
            const ObservedContainer* o = nullptr;
            if (auto it = by_id.find(a.existing_id); it != by_id.end()) {
                o = it->second;
            }
            switch (a.kind) {
            case ActionKind::create:
                out.steps.push_back({"Container", a.name, "Create",
                                     options.no_start ? "missing, not started" : "missing"});
                break;
            case ActionKind::recreate:
                out.steps.push_back(
                    {"Container", a.name, "Recreate",
                     o != nullptr ? recreate_reason(*o, *desired_by_name.at(service),
                                                    options.force_recreate)
                                  : std::string()});
                break;
            case ActionKind::start:
                out.steps.push_back({"Container", a.name, options.no_start ? "Keep" : "Start",
                                     "stopped"});
                break;
            case ActionKind::keep:
                out.steps.push_back({"Container", a.name, "Keep", "up to date"});
                break;
            case ActionKind::remove:
                out.steps.push_back({"Container", a.name,
                                     o != nullptr && o->running ? "Stop and remove" : "Remove",
                                     "above scale"});
                break;
            }
        }
    }
    return out;
}

DryRun dry_run_down(const Project& project, const DownOptions& options,
                    const DryRunObserved& observed) {
    DryRun out;
    // Dependents before their dependencies, as Compose stops them; a cycle
    // (which `up` refuses) falls back to name order.
    std::map<std::string, size_t> rank;
    if (auto order = DependencyGraph::from(project).topological_order()) {
        for (size_t i = 0; i < order->size(); ++i) {
            rank[(*order)[i]] = order->size() - i;
        }
    }
    std::vector<const ObservedContainer*> targets;
    for (const auto& o : observed.containers) {
        bool known = project.services.count(o.service) != 0 ||
                     project.disabled_services.count(o.service) != 0;
        if (!known && !options.remove_orphans) {
            out.orphans.push_back(o.name);
            continue;
        }
        targets.push_back(&o);
    }
    std::sort(out.orphans.begin(), out.orphans.end());
    std::sort(targets.begin(), targets.end(), [&](const auto* a, const auto* b) {
        auto ra = rank.count(a->service) != 0 ? rank.at(a->service) : 0;
        auto rb = rank.count(b->service) != 0 ? rank.at(b->service) : 0;
        return ra != rb ? ra < rb : a->name < b->name;
    });
    for (const auto* o : targets) {
        out.steps.push_back({"Container", o->name, o->running ? "Stop and remove" : "Remove",
                             !o->oneoff && project.services.count(o->service) == 0 &&
                                     project.disabled_services.count(o->service) == 0
                                 ? "orphan"
                                 : ""});
    }
    if (!out.orphans.empty()) {
        // The orphans still use the networks: `down` keeps them.
        return out;
    }
    std::vector<std::string> names;
    for (const auto& n : observed.networks) {
        if (label_of(n, labels::project) == project.name) {
            names.push_back(n.name);
        }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        out.steps.push_back({"Network", name, "Remove", ""});
    }
    if (!options.volumes) {
        return out;
    }
    std::set<std::string> external;
    for (const auto& [key, v] : project.volumes) {
        (void)key;
        if (v.external) {
            external.insert(v.name);
        }
    }
    names.clear();
    for (const auto& v : observed.volumes) {
        if (label_of(v, labels::project) == project.name && external.count(v.name) == 0) {
            names.push_back(v.name);
        }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        out.steps.push_back({"Volume", name, "Remove", ""});
    }
    return out;
}

}  // namespace berth::compose
