// SPDX-License-Identifier: Apache-2.0
#include "compose/project_ops.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <set>

#include "compose/labels.hpp"
#include "netns/network.hpp"
#include "volumes/volume_store.hpp"

namespace berth::compose {

std::string network_name(const Project& project, const std::string& key) {
    auto it = project.networks.find(key);
    if (it != project.networks.end() && !it->second.name.empty()) {
        return it->second.name;
    }
    return fmt::format("{}_{}", project.name, key);
}

std::string volume_name(const Project& project, const std::string& key) {
    auto it = project.volumes.find(key);
    if (it != project.volumes.end() && !it->second.name.empty()) {
        return it->second.name;
    }
    return fmt::format("{}_{}", project.name, key);
}

netns::NetworkSpec network_spec(const Project& project, const std::string& key,
                                const Network& net) {
    netns::NetworkSpec spec;
    spec.name = network_name(project, key);
    if (!net.driver.empty()) {
        spec.driver = net.driver;
    }
    spec.internal = net.internal;
    spec.ipv6 = net.enable_ipv6.value_or(false);
    spec.options = net.driver_opts;
    spec.labels = net.labels;
    spec.labels[std::string(labels::project)] = project.name;
    spec.labels[std::string(labels::network)] = key;
    spec.labels[std::string(labels::version)] = std::string(labels::compose_version);
    // Every ipam.config entry: an IPv6 subnet fills the IPv6 fields.
    if (net.ipam.is_object() && net.ipam.contains("config") && net.ipam["config"].is_array()) {
        for (const auto& c : net.ipam["config"]) {
            if (!c.is_object()) {
                continue;
            }
            bool v6 = c.contains("subnet") && c["subnet"].is_string() &&
                      c["subnet"].get<std::string>().find(':') != std::string::npos;
            for (auto [field, out] : {std::pair{"subnet", v6 ? &spec.subnet6 : &spec.subnet},
                                      {"gateway", v6 ? &spec.gateway6 : &spec.gateway},
                                      {"ip_range", v6 ? &spec.ip_range6 : &spec.ip_range}}) {
                if (c.contains(field) && c[field].is_string() && !*out) {
                    *out = c[field].get<std::string>();
                }
            }
        }
    }
    return spec;
}

ServiceMounts service_mounts(const Project& project, const Service& service) {
    ServiceMounts out;
    out.tmpfs = service.tmpfs;
    for (const auto& v : service.volumes) {
        std::string spec;
        switch (v.type) {
        case MountType::bind:
            spec = fmt::format("type=bind,source={},target={}", v.source, v.target);
            if (!v.bind_propagation.empty()) {
                spec += ",bind-propagation=" + v.bind_propagation;
            }
            break;
        case MountType::tmpfs:
            spec = fmt::format("type=tmpfs,target={}", v.target);
            if (v.tmpfs_size) {
                spec += fmt::format(",tmpfs-size={}", *v.tmpfs_size);
            }
            if (v.tmpfs_mode) {
                spec += fmt::format(",tmpfs-mode={:o}", *v.tmpfs_mode);
            }
            break;
        default: {
            std::string source = v.source;
            if (project.volumes.count(v.source) != 0) {
                source = volume_name(project, v.source);
            }
            spec = source.empty() ? fmt::format("type=volume,target={}", v.target)
                                  : fmt::format("type=volume,source={},target={}", source,
                                                v.target);
            if (v.volume_nocopy) {
                spec += ",volume-nocopy";
            }
            if (!v.volume_subpath.empty()) {
                spec += ",volume-subpath=" + v.volume_subpath;
            }
            break;
        }
        }
        if (v.read_only) {
            spec += ",readonly";
        }
        out.mounts.push_back(std::move(spec));
    }
    return out;
}

Result<void> ensure_service_resources(const Paths& paths, const Project& project,
                                      const Service& service, const ProgressFn& progress) {
    auto report = [&](std::string_view kind, std::string_view name, std::string_view status) {
        if (progress) {
            progress(kind, name, status);
        }
    };
    std::set<std::string> keys;
    if (service.network_mode.empty()) {
        for (const auto& [key, sn] : service.networks) {
            (void)sn;
            keys.insert(key);
        }
        if (keys.empty()) {
            keys.insert("default");
        }
    }
    auto existing = netns::read_networks(paths);
    if (!existing) {
        return std::move(existing).error();
    }
    for (const auto& key : keys) {
        Network net;
        if (auto it = project.networks.find(key); it != project.networks.end()) {
            net = it->second;
        }
        auto spec = network_spec(project, key, net);
        bool found = std::any_of(existing->begin(), existing->end(), [&](const netns::Network& n) {
            return n.name == spec.name || n.id == spec.name;
        });
        if (found) {
            continue;
        }
        if (net.external) {
            return Error(Errc::not_found,
                         fmt::format("network {} declared as external, but could not be found",
                                     spec.name));
        }
        report("Network", spec.name, "Creating");
        auto created = netns::create_network(paths, spec);
        if (!created && created.error().code() != Errc::already_exists) {
            return std::move(created).error().wrap(fmt::format("network {}", spec.name));
        }
        report("Network", spec.name, "Created");
    }
    auto store = volumes::VolumeStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    for (const auto& v : service.volumes) {
        auto it = project.volumes.find(v.source);
        if (v.type != MountType::volume || it == project.volumes.end()) {
            continue;
        }
        const auto& vol = it->second;
        std::string name = volume_name(project, v.source);
        if (store->get(name)) {
            continue;
        }
        if (vol.external) {
            return Error(Errc::not_found, fmt::format("external volume \"{}\" not found", name));
        }
        volumes::CreateOptions opts;
        opts.name = name;
        if (!vol.driver.empty()) {
            opts.driver = vol.driver;
        }
        opts.options = vol.driver_opts;
        opts.labels = vol.labels;
        opts.labels[std::string(labels::project)] = project.name;
        opts.labels[std::string(labels::volume)] = v.source;
        opts.labels[std::string(labels::version)] = std::string(labels::compose_version);
        report("Volume", name, "Creating");
        auto created = store->create(opts);
        if (!created && created.error().code() != Errc::already_exists) {
            return std::move(created).error().wrap(fmt::format("volume {}", name));
        }
        report("Volume", name, "Created");
    }
    return {};
}

std::string oneoff_name(const Project& project, const Service& service, std::string_view slug) {
    return fmt::format("{}-{}-run-{}", project.name, service.name, slug.substr(0, 12));
}

Result<engine::containers::ContainerConfig> oneoff_config(
    const Project& project, const Service& service, std::string_view slug, bool service_ports,
    bool use_aliases, const std::map<std::string, std::string>& service_container_ids) {
    auto c = container_config(project, service, 1, service_container_ids);
    if (!c) {
        return std::move(c).error();
    }
    c->labels.erase(std::string(labels::container_number));
    c->labels[std::string(labels::oneoff)] = "True";
    c->labels[std::string(oneoff_slug_label)] = std::string(slug);
    if (!use_aliases) {
        c->network_aliases.clear();
    }
    if (!service_ports) {
        c->publish.clear();
    }
    return c;
}

}  // namespace berth::compose
