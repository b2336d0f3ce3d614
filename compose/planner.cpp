// SPDX-License-Identifier: Apache-2.0
#include "compose/planner.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "common/digest.hpp"

namespace berth::compose {

std::string container_name(std::string_view project, const DesiredService& service, int number) {
    if (!service.container_name.empty()) {
        return service.container_name;
    }
    return fmt::format("{}-{}-{}", project, service.name, number);
}

std::string service_config_hash(const Project& project, const Service& service) {
    auto base = config_hash(service);
    if (service.secrets.empty() && service.configs.empty()) {
        return base;
    }
    nlohmann::json extra = nlohmann::json::object();
    auto add = [&](const char* section, const std::map<std::string, FileObject>& defs,
                   const std::vector<FileReference>& refs) {
        for (const auto& ref : refs) {
            auto it = defs.find(ref.source);
            if (it == defs.end()) {
                continue;
            }
            const auto& def = it->second;
            nlohmann::json j{{"file", def.file},
                             {"environment", def.environment},
                             {"content", def.content}};
            if (!def.environment.empty()) {
                auto env = project.environment.find(def.environment);
                j["value_digest"] = env == project.environment.end()
                                        ? std::string()
                                        : std::string(Digest::of(env->second).hex());
            }
            extra[section][ref.source] = std::move(j);
        }
    };
    add("secrets", project.secrets, service.secrets);
    add("configs", project.configs, service.configs);
    return std::string(Digest::of(base + extra.dump()).hex());
}

std::vector<DesiredService> desired_services(const Project& project,
                                             const std::map<std::string, int>& scale) {
    std::vector<DesiredService> out;
    for (const auto& [name, svc] : project.services) {
        DesiredService d;
        d.name = name;
        d.config_hash = service_config_hash(project, svc);
        d.replicas = svc.scale ? static_cast<int>(std::max<std::int64_t>(*svc.scale, 0)) : 1;
        if (auto it = scale.find(name); it != scale.end()) {
            d.replicas = std::max(it->second, 0);
        }
        d.container_name = svc.container_name;
        out.push_back(std::move(d));
    }
    return out;
}

Plan plan_up(std::string_view project, const std::vector<DesiredService>& desired,
             const std::vector<ObservedContainer>& observed, const PlanOptions& options) {
    Plan plan;
    std::map<std::string, const DesiredService*> by_name;
    for (const auto& d : desired) {
        by_name[d.name] = &d;
    }
    std::map<std::string, std::vector<const ObservedContainer*>> existing;
    for (const auto& o : observed) {
        if (o.oneoff) {
            continue;
        }
        if (by_name.count(o.service) == 0) {
            plan.orphans.push_back(o);
            continue;
        }
        existing[o.service].push_back(&o);
    }
    std::sort(plan.orphans.begin(), plan.orphans.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const auto& d : desired) {
        if (!options.services.empty() && options.services.count(d.name) == 0) {
            continue;
        }
        auto& actions = plan.services[d.name];
        auto& mine = existing[d.name];
        std::sort(mine.begin(), mine.end(), [](const auto* a, const auto* b) {
            return a->number != b->number ? a->number < b->number : a->name < b->name;
        });
        std::set<int> used;
        std::vector<const ObservedContainer*> kept;
        for (const auto* o : mine) {
            // Duplicates of a number and replicas above the scale go away.
            if (static_cast<int>(kept.size()) >= d.replicas || used.count(o->number) != 0) {
                actions.push_back({ActionKind::remove, d.name, o->number, o->name, o->id});
                continue;
            }
            used.insert(o->number);
            kept.push_back(o);
        }
        for (const auto* o : kept) {
            ContainerAction a{ActionKind::keep, d.name, o->number, o->name, o->id};
            // Stale: another configuration, or its image was rebuilt or pulled anew.
            bool stale = o->config_hash != d.config_hash ||
                         (!d.image_id.empty() && !o->image_id.empty() &&
                          d.image_id != o->image_id);
            if (options.force_recreate || (stale && !options.no_recreate)) {
                a.kind = ActionKind::recreate;
                a.name = container_name(project, d, o->number);
            } else if (!o->running) {
                a.kind = ActionKind::start;
            }
            actions.push_back(std::move(a));
        }
        int next = 1;
        for (int i = static_cast<int>(kept.size()); i < d.replicas; ++i) {
            while (used.count(next) != 0) {
                ++next;
            }
            used.insert(next);
            actions.push_back({ActionKind::create, d.name, next, container_name(project, d, next), {}});
        }
        std::stable_sort(actions.begin(), actions.end(), [](const auto& a, const auto& b) {
            bool ra = a.kind == ActionKind::remove;
            bool rb = b.kind == ActionKind::remove;
            return ra != rb ? ra : a.number < b.number;
        });
    }
    return plan;
}

}  // namespace berth::compose
