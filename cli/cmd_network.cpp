// SPDX-License-Identifier: Apache-2.0
// network create/ls/inspect/rm/connect/disconnect/prune, and port.
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "common/log.hpp"
#include "netns/ipam.hpp"
#include "netns/network.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

NetworkContainerLookupFn& lookup_hook() {
    static NetworkContainerLookupFn fn;
    return fn;
}

Result<netns::ContainerRef> find_container(const Paths& paths, std::string_view ref) {
    if (!lookup_hook()) {
        return Error(Errc::unavailable,
                     fmt::format("cannot find container {}: container lookup is not available",
                                 ref));
    }
    return lookup_hook()(paths, ref);
}

/// Every network command first repairs berth's bridges and nftables table
/// (a deleted table or bridge comes back); a failure there is only a warning.
void repair(const Paths& paths) {
    if (auto r = netns::reconcile(paths); !r) {
        log::netns().warn("repair networks: {}", r.error().message());
    }
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    time_t secs = static_cast<time_t>(ns / 1000000000);
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       ns % 1000000000);
}

/// `docker network inspect` fields.
json inspect_json(const netns::Network& n) {
    auto subnet = netns::Ipv4Prefix::parse(n.subnet);
    json config = {{"Subnet", n.subnet}, {"Gateway", n.gateway}};
    if (!n.ip_range.empty()) {
        config["IPRange"] = n.ip_range;
    }
    json configs = json::array({config});
    auto subnet6 = netns::Ipv6Prefix::parse(n.subnet6);
    if (n.ipv6 && subnet6) {
        json config6 = {{"Subnet", n.subnet6}, {"Gateway", n.gateway6}};
        if (!n.ip_range6.empty()) {
            config6["IPRange"] = n.ip_range6;
        }
        configs.push_back(config6);
    }
    json containers = json::object();
    for (const auto& [id, ep] : n.endpoints) {
        containers[id] = {
            {"Name", ep.container_name},
            {"EndpointID", ep.host_ifname},
            {"MacAddress", ep.mac},
            {"IPv4Address", fmt::format("{}/{}", ep.ipv4, subnet ? subnet->length : 0)},
            {"IPv6Address", ep.ipv6.empty() || !subnet6
                                ? std::string()
                                : fmt::format("{}/{}", ep.ipv6, subnet6->length)}};
    }
    json options = n.options;
    if (n.name == netns::default_network_name) {
        options[std::string(netns::bridge_name_option)] = n.bridge;
    }
    return {{"Name", n.name},
            {"Id", n.id},
            {"Created", rfc3339(n.created)},
            {"Scope", "local"},
            {"Driver", n.driver},
            {"EnableIPv6", n.ipv6},
            {"IPAM", {{"Driver", "default"}, {"Options", json::object()}, {"Config", configs}}},
            {"Internal", n.internal},
            {"Attachable", false},
            {"Ingress", false},
            {"ConfigFrom", {{"Network", ""}}},
            {"ConfigOnly", false},
            {"Containers", containers},
            {"Options", options},
            {"Labels", n.labels}};
}

json ls_row(const netns::Network& n, bool no_trunc) {
    std::string labels;
    for (const auto& [k, v] : n.labels) {
        labels += (labels.empty() ? "" : ",") + k + "=" + v;
    }
    return {{"ID", no_trunc ? n.id : n.id.substr(0, 12)},
            {"Name", n.name},
            {"Driver", n.driver},
            {"Scope", "local"},
            {"IPv6", n.ipv6 ? "true" : "false"},
            {"Internal", n.internal ? "true" : "false"},
            {"Labels", labels},
            {"CreatedAt", rfc3339(n.created)}};
}

Result<bool> matches_filters(const netns::Network& n, const std::vector<std::string>& filters) {
    // Docker: different keys AND together, repeated keys OR together.
    std::map<std::string, std::vector<std::string>> by_key;
    for (const auto& f : filters) {
        auto eq = f.find('=');
        if (eq == std::string::npos) {
            return Error(Errc::invalid_argument, fmt::format("invalid filter \"{}\"", f));
        }
        by_key[f.substr(0, eq)].push_back(f.substr(eq + 1));
    }
    for (const auto& [key, values] : by_key) {
        bool any = false;
        for (const auto& v : values) {
            if (key == "name") {
                any = any || n.name.find(v) != std::string::npos;
            } else if (key == "id") {
                any = any || n.id.rfind(v, 0) == 0;
            } else if (key == "driver") {
                any = any || n.driver == v;
            } else if (key == "label") {
                auto eq = v.find('=');
                auto it = n.labels.find(v.substr(0, eq));
                any = any || (it != n.labels.end() &&
                              (eq == std::string::npos || it->second == v.substr(eq + 1)));
            } else if (key == "type") {
                bool builtin = n.name == netns::default_network_name;
                any = any || (v == "builtin" && builtin) || (v == "custom" && !builtin);
            } else if (key == "dangling") {
                bool dangling = n.endpoints.empty() && n.name != netns::default_network_name;
                any = any || ((v == "true" || v == "1") == dangling);
            } else if (key == "scope") {
                any = any || v == "local";
            } else {
                return Error(Errc::invalid_argument, fmt::format("invalid filter \"{}\"", key));
            }
        }
        if (!any) {
            return false;
        }
    }
    return true;
}

Result<std::map<std::string, std::string>> parse_kv(const std::vector<std::string>& items,
                                                    std::string_view what) {
    std::map<std::string, std::string> out;
    for (const auto& item : items) {
        auto eq = item.find('=');
        if (eq == 0 || item.empty()) {
            return Error(Errc::invalid_argument, fmt::format("invalid {} \"{}\"", what, item));
        }
        out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    }
    return out;
}

/// Splits the repeatable --subnet/--gateway/--ip-range values by family, as
/// Docker accepts one IPv4 and one IPv6 value of each.
Result<void> set_by_family(const std::vector<std::string>& values, std::string_view flag,
                           std::optional<std::string>& v4, std::optional<std::string>& v6) {
    for (const auto& v : values) {
        auto& slot = v.find(':') != std::string::npos ? v6 : v4;
        if (slot) {
            return Error(Errc::invalid_argument,
                         fmt::format("{} given twice for one address family: {} and {}", flag,
                                     *slot, v));
        }
        slot = v;
    }
    return {};
}

void add_create(CLI::App& net, Context& ctx) {
    struct Opts {
        std::string name, driver = "bridge";
        std::vector<std::string> subnets, gateways, ip_ranges;
        bool internal = false, ipv6 = false;
        std::vector<std::string> labels, options;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = net.add_subcommand("create", "Create a network");
    cmd->add_option("NETWORK", o->name, "Network name")->required();
    cmd->add_option("-d,--driver", o->driver, "Driver to manage the network (bridge)");
    cmd->add_option("--subnet", o->subnets,
                    "Subnet in CIDR format (once per address family)");
    cmd->add_option("--gateway", o->gateways, "IPv4 or IPv6 gateway for the subnet");
    cmd->add_option("--ip-range", o->ip_ranges, "Allocate container IPs from a sub-range");
    cmd->add_flag("--internal", o->internal, "Restrict external access to the network");
    cmd->add_flag("--ipv6", o->ipv6, "Enable IPv6 networking");
    cmd->add_option("--label", o->labels, "Set metadata on a network");
    cmd->add_option("-o,--opt", o->options, "Set driver specific options");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        repair(paths);
        netns::NetworkSpec spec;
        spec.name = o->name;
        spec.driver = o->driver;
        for (auto [values, flag, v4, v6] :
             {std::tuple{&o->subnets, "--subnet", &spec.subnet, &spec.subnet6},
              std::tuple{&o->gateways, "--gateway", &spec.gateway, &spec.gateway6},
              std::tuple{&o->ip_ranges, "--ip-range", &spec.ip_range, &spec.ip_range6}}) {
            if (auto r = set_by_family(*values, flag, *v4, *v6); !r) {
                ctx.exit_code = report(r.error());
                return;
            }
        }
        spec.internal = o->internal;
        spec.ipv6 = o->ipv6;
        auto labels = parse_kv(o->labels, "label");
        auto options = parse_kv(o->options, "option");
        if (!labels || !options) {
            ctx.exit_code = report(!labels ? labels.error() : options.error());
            return;
        }
        spec.labels = *labels;
        spec.options = *options;
        auto n = netns::create_network(paths, spec);
        if (!n) {
            ctx.exit_code = report(n.error());
            return;
        }
        std::printf("%s\n", n->id.c_str());
    });
}

void add_ls(CLI::App& net, Context& ctx) {
    struct Opts {
        bool quiet = false, no_trunc = false;
        std::vector<std::string> filters;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = net.add_subcommand("ls", "List networks");
    cmd->alias("list");
    cmd->add_flag("-q,--quiet", o->quiet, "Only display network IDs");
    cmd->add_flag("--no-trunc", o->no_trunc, "Do not truncate the output");
    cmd->add_option("-f,--filter", o->filters, "Provide filter values (e.g. \"driver=bridge\")");
    cmd->add_option("--format", o->format, "Format output using a template, or json");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        repair(paths);
        auto all = netns::NetworkStore::open(paths);
        if (!all) {
            ctx.exit_code = report(all.error());
            return;
        }
        auto nets = all->list();
        if (!nets) {
            ctx.exit_code = report(nets.error());
            return;
        }
        std::vector<std::vector<std::string>> rows;
        bool table = o->format.empty();
        std::string format = strip_table_prefix(o->format, table);
        if (table && format.empty()) {
            rows.push_back({"NETWORK ID", "NAME", "DRIVER", "SCOPE"});
        }
        for (const auto& n : *nets) {
            auto keep = matches_filters(n, o->filters);
            if (!keep) {
                ctx.exit_code = report(keep.error());
                return;
            }
            if (!*keep) {
                continue;
            }
            auto row = ls_row(n, o->no_trunc);
            if (o->quiet) {
                std::printf("%s\n", row["ID"].get<std::string>().c_str());
            } else if (!format.empty()) {
                auto text = render_format(format, row);
                if (!text) {
                    ctx.exit_code = report(text.error());
                    return;
                }
                std::printf("%s\n", text->c_str());
            } else {
                rows.push_back({row["ID"], row["Name"], row["Driver"], row["Scope"]});
            }
        }
        if (!o->quiet && format.empty()) {
            print_table(rows);
        }
    });
}

void add_inspect(CLI::App& net, Context& ctx) {
    struct Opts {
        std::vector<std::string> names;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = net.add_subcommand("inspect", "Display detailed information on one or more networks");
    cmd->add_option("NETWORK", o->names, "Networks")->required();
    cmd->add_option("-f,--format", o->format, "Format output using a template");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        repair(paths);
        auto store = netns::NetworkStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        json out = json::array();
        for (const auto& name : o->names) {
            auto n = store->get(name);
            if (!n) {
                report(n.error());
                ctx.exit_code = 1;
                continue;
            }
            auto j = inspect_json(*n);
            if (!o->format.empty()) {
                auto text = render_format(o->format, j);
                if (!text) {
                    ctx.exit_code = report(text.error());
                    return;
                }
                std::printf("%s\n", text->c_str());
            } else {
                out.push_back(j);
            }
        }
        if (o->format.empty()) {
            std::printf("%s\n", out.dump(4).c_str());
        }
    });
}

void add_rm(CLI::App& net, Context& ctx) {
    auto names = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false);
    auto* cmd = net.add_subcommand("rm", "Remove one or more networks");
    cmd->alias("remove");
    cmd->add_option("NETWORK", *names, "Networks")->required();
    cmd->add_flag("-f,--force", *force, "Do not error if the network does not exist");
    cmd->callback([&ctx, names, force] {
        auto paths = ctx.paths();
        repair(paths);
        for (const auto& name : *names) {
            if (name == netns::default_network_name) {
                report(Error(Errc::failed_precondition,
                             "bridge is a pre-defined network and cannot be removed"));
                ctx.exit_code = 1;
                continue;
            }
            auto r = netns::remove_network(paths, name);
            if (!r) {
                if (*force && r.error().code() == Errc::not_found) {
                    continue;
                }
                report(r.error());
                ctx.exit_code = 1;
                continue;
            }
            std::printf("%s\n", name.c_str());
        }
    });
}

void add_prune(CLI::App& net, Context& ctx) {
    auto force = std::make_shared<bool>(false);
    auto filters = std::make_shared<std::vector<std::string>>();
    auto* cmd = net.add_subcommand("prune", "Remove all unused networks");
    cmd->add_flag("-f,--force", *force, "Do not prompt for confirmation");
    cmd->add_option("--filter", *filters, "Provide filter values (e.g. \"label=a\")");
    cmd->callback([&ctx, force, filters] {
        auto paths = ctx.paths();
        if (!*force) {
            std::printf("WARNING! This will remove all custom networks not used by at least one "
                        "container.\nAre you sure you want to continue? [y/N] ");
            std::fflush(stdout);
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") {
                return;
            }
        }
        repair(paths);
        auto all = netns::read_networks(paths);
        if (!all) {
            ctx.exit_code = report(all.error());
            return;
        }
        std::vector<std::string> removed;
        for (const auto& n : *all) {
            auto keep = matches_filters(n, *filters);
            if (!keep) {
                ctx.exit_code = report(keep.error());
                return;
            }
            if (!*keep || n.name == netns::default_network_name || !n.endpoints.empty()) {
                continue;
            }
            auto r = netns::remove_network(paths, n.id);
            if (r) {
                removed.push_back(n.name);
            } else if (r.error().code() != Errc::failed_precondition) {
                ctx.exit_code = report(r.error());
                return;
            }
        }
        if (!removed.empty()) {
            std::printf("Deleted Networks:\n");
            for (const auto& n : removed) {
                std::printf("%s\n", n.c_str());
            }
        }
    });
}

void add_connect(CLI::App& net, Context& ctx) {
    struct Opts {
        std::string network, container, ip, ip6;
        std::vector<std::string> aliases;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = net.add_subcommand("connect", "Connect a container to a network");
    cmd->add_option("NETWORK", o->network, "Network")->required();
    cmd->add_option("CONTAINER", o->container, "Container")->required();
    cmd->add_option("--alias", o->aliases, "Add network-scoped alias for the container");
    cmd->add_option("--ip", o->ip, "IPv4 address");
    cmd->add_option("--ip6", o->ip6, "IPv6 address");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        repair(paths);
        auto c = find_container(paths, o->container);
        if (!c) {
            ctx.exit_code = report(c.error());
            return;
        }
        netns::AttachRequest::Net want;
        want.network = o->network;
        want.aliases = o->aliases;
        if (!o->ip.empty()) {
            want.ipv4 = o->ip;
        }
        if (!o->ip6.empty()) {
            want.ipv6 = o->ip6;
        }
        auto ep = netns::connect(paths, *c, want);
        if (!ep) {
            ctx.exit_code = report(ep.error());
        }
    });
}

void add_disconnect(CLI::App& net, Context& ctx) {
    struct Opts {
        std::string network, container;
        bool force = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = net.add_subcommand("disconnect", "Disconnect a container from a network");
    cmd->add_option("NETWORK", o->network, "Network")->required();
    cmd->add_option("CONTAINER", o->container, "Container")->required();
    cmd->add_flag("-f,--force", o->force, "Force the container to disconnect from a network");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        repair(paths);
        std::string id = o->container;
        auto c = find_container(paths, o->container);
        if (c) {
            id = c->id;
        } else if (!o->force) {
            ctx.exit_code = report(c.error());
            return;
        }
        auto r = netns::disconnect(paths, o->network, id);
        if (!r) {
            ctx.exit_code = report(r.error());
        }
    });
}

void add_port(CLI::App& app, Context& ctx) {
    auto container = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("port", "List port mappings or a specific mapping for the container");
    cmd->add_option("CONTAINER", *container, "Container")->required();
    cmd->callback([&ctx, container] {
        auto paths = ctx.paths();
        auto c = find_container(paths, *container);
        if (!c) {
            ctx.exit_code = report(c.error());
            return;
        }
        auto ports = netns::container_ports(paths, c->id);
        if (!ports) {
            ctx.exit_code = report(ports.error());
            return;
        }
        for (const auto& p : *ports) {
            std::printf("%u/%s -> %s:%u\n", p.container_port, p.protocol.c_str(),
                        p.host_ip.empty() ? "0.0.0.0" : p.host_ip.c_str(), p.host_port);
        }
    });
}

}  // namespace

void set_network_container_lookup(NetworkContainerLookupFn fn) { lookup_hook() = std::move(fn); }

void add_network_commands(CLI::App& app, Context& ctx) {
    auto* net = app.add_subcommand("network", "Manage networks");
    net->require_subcommand(1);
    add_create(*net, ctx);
    add_connect(*net, ctx);
    add_disconnect(*net, ctx);
    add_inspect(*net, ctx);
    add_ls(*net, ctx);
    add_prune(*net, ctx);
    add_rm(*net, ctx);
    add_port(app, ctx);
}

}  // namespace berth::cli
