// SPDX-License-Identifier: Apache-2.0
// volume create/ls/inspect/rm/prune, with Docker's flags and output.
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/volume_usage.hpp"
#include "volumes/volume_store.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

/// Docker returns 1 for daemon-side failures of the volume commands.
constexpr int exit_volume_error = 1;

VolumeUsageFn& usage_hook() {
    static VolumeUsageFn fn;
    return fn;
}

/// In use: a container record names it (hook) or a holder has it acquired.
volumes::InUse in_use_fn(const Paths& paths, const volumes::VolumeStore& store) {
    auto used = std::make_shared<std::set<std::string>>(volumes_in_use(paths));
    return [used, &store](const std::string& name) {
        if (used->count(name) != 0) {
            return true;
        }
        auto h = store.holders(name);
        return !h || !h->empty();
    };
}

/// Docker's units.HumanSize: decimal units, 4 significant digits ("1.234MB").
std::string human_size(double bytes) {
    static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    size_t i = 0;
    while (bytes >= 1000.0 && i + 1 < std::size(units)) {
        bytes /= 1000.0;
        ++i;
    }
    return fmt::format("{:.4g}{}", bytes, units[i]);
}

/// "table " prefix of a --format value.
std::string strip_table_prefix(std::string_view format, bool& table) {
    table = format.rfind("table", 0) == 0;
    if (table) {
        format.remove_prefix(5);
        while (!format.empty() && format.front() == ' ') {
            format.remove_prefix(1);
        }
    }
    return std::string(format);
}

/// The subset of Go templates the volume commands need: {{.Field}},
/// {{.A.B}}, {{json .}}, {{json .Field}}, and \t / \n escapes; "json" alone
/// prints the object as one line.
Result<std::string> render_format(std::string_view format, const json& value) {
    if (format == "json") {
        return value.dump();
    }
    std::string out;
    size_t i = 0;
    while (i < format.size()) {
        if (format.compare(i, 2, "{{") == 0) {
            size_t end = format.find("}}", i);
            if (end == std::string_view::npos) {
                return Error(Errc::invalid_argument,
                             fmt::format("template parsing error: unclosed action in \"{}\"",
                                         format));
            }
            std::string expr(format.substr(i + 2, end - i - 2));
            while (!expr.empty() && expr.front() == ' ') {
                expr.erase(0, 1);
            }
            while (!expr.empty() && expr.back() == ' ') {
                expr.pop_back();
            }
            bool as_json = expr.rfind("json ", 0) == 0;
            if (as_json) {
                expr.erase(0, 5);
                while (!expr.empty() && expr.front() == ' ') {
                    expr.erase(0, 1);
                }
            }
            if (expr.empty() || expr.front() != '.') {
                return Error(Errc::invalid_argument,
                             fmt::format("template: unsupported action \"{}\"", expr));
            }
            const json* cur = &value;
            size_t pos = 1;
            while (pos < expr.size()) {
                size_t dot = expr.find('.', pos);
                std::string key = expr.substr(pos, dot == std::string::npos ? dot : dot - pos);
                if (!cur->is_object() || !cur->contains(key)) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("template: can't evaluate field {}", key));
                }
                cur = &(*cur)[key];
                pos = dot == std::string::npos ? expr.size() : dot + 1;
            }
            if (as_json) {
                out += cur->dump();
            } else if (cur->is_string()) {
                out += cur->get<std::string>();
            } else if (cur->is_null()) {
                out += "<no value>";
            } else if (cur->is_object()) {
                std::string m = "map[";
                bool first = true;
                for (const auto& [k, v] : cur->items()) {
                    m += (first ? "" : " ") + k + ":" + (v.is_string() ? v.get<std::string>()
                                                                        : v.dump());
                    first = false;
                }
                out += m + "]";
            } else {
                out += cur->dump();
            }
            i = end + 2;
            continue;
        }
        if (format[i] == '\\' && i + 1 < format.size() &&
            (format[i + 1] == 't' || format[i + 1] == 'n')) {
            out += format[i + 1] == 't' ? '\t' : '\n';
            i += 2;
            continue;
        }
        out += format[i++];
    }
    return out;
}

/// Docker's tabwriter for `volume ls`: minimum width 10, padding 3.
void print_docker_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& r : rows) {
        widths.resize(std::max(widths.size(), r.size()), 0);
        for (size_t i = 0; i < r.size(); ++i) {
            widths[i] = std::max(widths[i], std::max<size_t>(r[i].size() + 3, 10));
        }
    }
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) {
                line.append(widths[i] - r[i].size(), ' ');
            }
        }
        std::printf("%s\n", line.c_str());
    }
}

bool parse_bool_filter(const std::string& v, bool* out) {
    if (v == "true" || v == "1") {
        *out = true;
        return true;
    }
    if (v == "false" || v == "0") {
        *out = false;
        return true;
    }
    return false;
}

Result<std::map<std::string, std::string>> parse_kv_list(const std::vector<std::string>& items,
                                                         std::string_view what) {
    std::map<std::string, std::string> out;
    for (const auto& item : items) {
        auto eq = item.find('=');
        if (what == "opt" && eq == std::string::npos) {
            return Error(Errc::invalid_argument,
                         fmt::format("invalid argument \"{}\" for \"-o, --opt\" flag: invalid key "
                                     "value pair format",
                                     item));
        }
        out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    }
    return out;
}

/// The ls object for templates: Docker's volume formatter fields.
json ls_fields(const volumes::Volume& v) {
    std::string labels;
    for (const auto& [k, val] : v.labels) {
        labels += (labels.empty() ? "" : ",") + k + "=" + val;
    }
    return json{{"Driver", v.driver},     {"Name", v.name},   {"Scope", "local"},
                {"Mountpoint", v.mountpoint.string()}, {"Labels", labels},
                {"Availability", "N/A"}, {"Group", "N/A"},  {"Size", "N/A"},
                {"Links", "N/A"},         {"Status", "N/A"}};
}

void add_create(CLI::App& vol, Context& ctx) {
    struct Opts {
        std::string name;
        std::string driver = "local";
        std::vector<std::string> opts;
        std::vector<std::string> labels;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vol.add_subcommand("create", "Create a volume");
    cmd->add_option("VOLUME", o->name, "Volume name (generated when omitted)");
    cmd->add_option("--name", o->name, "Volume name")->group("");
    cmd->add_option("-d,--driver", o->driver, "Specify volume driver name");
    cmd->add_option("-o,--opt", o->opts, "Set driver specific options (type, device, o)")
        ->allow_extra_args(false);
    cmd->add_option("--label", o->labels, "Set metadata for a volume")
        ->allow_extra_args(false);
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        auto store = volumes::VolumeStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_volume_error);
            return;
        }
        auto opts = parse_kv_list(o->opts, "opt");
        if (!opts) {
            ctx.exit_code = report(opts.error(), exit_volume_error);
            return;
        }
        volumes::CreateOptions co;
        co.name = o->name;
        co.driver = o->driver;
        co.options = *opts;
        co.labels = parse_kv_list(o->labels, "label").value_or(std::map<std::string, std::string>{});
        auto v = store->create(co);
        if (!v) {
            ctx.exit_code = report(v.error(), exit_volume_error);
            return;
        }
        std::printf("%s\n", v->name.c_str());
        ctx.exit_code = 0;
    });
}

void add_ls(CLI::App& vol, Context& ctx) {
    struct Opts {
        bool quiet = false;
        std::vector<std::string> filters;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vol.add_subcommand("ls", "List volumes");
    cmd->alias("list");
    cmd->add_flag("-q,--quiet", o->quiet, "Only display volume names");
    cmd->add_option("-f,--filter", o->filters, "Provide filter values (e.g. \"dangling=true\")")
        ->allow_extra_args(false);
    cmd->add_option("--format", o->format, "Format output using a custom template");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        auto store = volumes::VolumeStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_volume_error);
            return;
        }
        auto vols = store->list();
        if (!vols) {
            ctx.exit_code = report(vols.error(), exit_volume_error);
            return;
        }
        auto in_use = in_use_fn(paths, *store);
        std::vector<volumes::Volume> shown;
        for (const auto& v : *vols) {
            bool keep = true;
            // Filters of different keys must all match; values of one key any.
            std::map<std::string, std::vector<std::string>> by_key;
            for (const auto& f : o->filters) {
                auto eq = f.find('=');
                if (eq == std::string::npos) {
                    ctx.exit_code = report(
                        Error(Errc::invalid_argument,
                              fmt::format("bad format of filter (expected name=value)")),
                        exit_volume_error);
                    return;
                }
                by_key[f.substr(0, eq)].push_back(f.substr(eq + 1));
            }
            for (const auto& [key, values] : by_key) {
                bool any = false;
                for (const auto& val : values) {
                    if (key == "dangling") {
                        bool want = false;
                        if (!parse_bool_filter(val, &want)) {
                            ctx.exit_code = report(
                                Error(Errc::invalid_argument,
                                      fmt::format("invalid filter 'dangling={}'", val)),
                                exit_volume_error);
                            return;
                        }
                        any = any || (want == !in_use(v.name));
                    } else if (key == "name") {
                        any = any || v.name.find(val) != std::string::npos;
                    } else if (key == "driver") {
                        any = any || v.driver.find(val) != std::string::npos;
                    } else if (key == "label") {
                        auto e = val.find('=');
                        auto it = v.labels.find(val.substr(0, e));
                        any = any || (it != v.labels.end() &&
                                      (e == std::string::npos || it->second == val.substr(e + 1)));
                    } else {
                        ctx.exit_code = report(
                            Error(Errc::invalid_argument,
                                  fmt::format("invalid filter '{}'", key)),
                            exit_volume_error);
                        return;
                    }
                }
                keep = keep && any;
            }
            if (keep) {
                shown.push_back(v);
            }
        }
        if (o->quiet) {
            for (const auto& v : shown) {
                std::printf("%s\n", v.name.c_str());
            }
            ctx.exit_code = 0;
            return;
        }
        if (o->format.empty() || o->format == "table") {
            std::vector<std::vector<std::string>> rows{{"DRIVER", "VOLUME NAME"}};
            for (const auto& v : shown) {
                rows.push_back({v.driver, v.name});
            }
            print_docker_table(rows);
            ctx.exit_code = 0;
            return;
        }
        bool table = false;
        auto tmpl = strip_table_prefix(o->format, table);
        std::vector<std::vector<std::string>> rows;
        if (table) {
            json header{{"Driver", "DRIVER"}, {"Name", "VOLUME NAME"}, {"Scope", "SCOPE"},
                        {"Mountpoint", "MOUNTPOINT"}, {"Labels", "LABELS"},
                        {"Availability", "AVAILABILITY"}, {"Group", "GROUP"}, {"Size", "SIZE"},
                        {"Links", "LINKS"}, {"Status", "STATUS"}};
            auto h = render_format(tmpl, header);
            if (!h) {
                ctx.exit_code = report(h.error(), exit_volume_error);
                return;
            }
            std::printf("%s\n", h->c_str());
        }
        for (const auto& v : shown) {
            auto line = render_format(tmpl, ls_fields(v));
            if (!line) {
                ctx.exit_code = report(line.error(), exit_volume_error);
                return;
            }
            std::printf("%s\n", line->c_str());
        }
        ctx.exit_code = 0;
    });
}

void add_inspect(CLI::App& vol, Context& ctx) {
    struct Opts {
        std::vector<std::string> names;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vol.add_subcommand("inspect", "Display detailed information on one or more volumes");
    cmd->add_option("VOLUME", o->names, "Volume names")->required();
    cmd->add_option("-f,--format", o->format, "Format output using a custom template");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        auto store = volumes::VolumeStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_volume_error);
            return;
        }
        json out = json::array();
        int rc = 0;
        std::vector<std::string> errors;
        for (const auto& n : o->names) {
            auto v = store->get(n);
            if (!v) {
                errors.push_back(v.error().code() == Errc::not_found
                                     ? fmt::format("Error: No such volume: {}", n)
                                     : v.error().message());
                rc = exit_volume_error;
                continue;
            }
            out.push_back(v->inspect_json());
        }
        if (o->format.empty() || o->format == "json") {
            std::printf("%s\n", out.dump(4).c_str());
        } else {
            for (const auto& item : out) {
                auto line = render_format(o->format, item);
                if (!line) {
                    ctx.exit_code = report(line.error(), exit_volume_error);
                    return;
                }
                std::printf("%s\n", line->c_str());
            }
        }
        for (const auto& e : errors) {
            std::fprintf(stderr, "%s\n", e.c_str());
        }
        ctx.exit_code = rc;
    });
}

void add_rm(CLI::App& vol, Context& ctx) {
    struct Opts {
        std::vector<std::string> names;
        bool force = false;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vol.add_subcommand("rm", "Remove one or more volumes");
    cmd->alias("remove");
    cmd->add_option("VOLUME", o->names, "Volume names")->required();
    cmd->add_flag("-f,--force", o->force, "Do not error on volumes that do not exist");
    cmd->callback([&ctx, o] {
        auto paths = ctx.paths();
        auto store = volumes::VolumeStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_volume_error);
            return;
        }
        auto in_use = in_use_fn(paths, *store);
        int rc = 0;
        for (const auto& n : o->names) {
            auto r = store->remove(n, o->force, in_use);
            if (!r) {
                rc = report(r.error(), exit_volume_error);
                continue;
            }
            std::printf("%s\n", n.c_str());
        }
        ctx.exit_code = rc;
    });
}

void add_prune(CLI::App& vol, Context& ctx) {
    struct Opts {
        bool all = false;
        bool force = false;
        std::vector<std::string> filters;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vol.add_subcommand("prune", "Remove unused local volumes");
    cmd->add_flag("-a,--all", o->all, "Remove all unused volumes, not just anonymous ones");
    cmd->add_flag("-f,--force", o->force, "Do not prompt for confirmation");
    cmd->add_option("--filter", o->filters, "Provide filter values (e.g. \"label=<label>\")")
        ->allow_extra_args(false);
    cmd->callback([&ctx, o] {
        std::vector<std::string> labels;
        bool all = o->all;
        for (const auto& f : o->filters) {
            if (f.rfind("label=", 0) == 0) {
                labels.push_back(f.substr(6));
            } else if (f.rfind("label!=", 0) == 0) {
                labels.push_back(f.substr(7).insert(f.substr(7).find('=') == std::string::npos
                                                        ? f.size() - 7
                                                        : f.substr(7).find('='),
                                                    "!"));
            } else if (f == "all=true" || f == "all=1") {
                all = true;
            } else {
                ctx.exit_code = report(
                    Error(Errc::invalid_argument, fmt::format("invalid filter '{}'", f)),
                    exit_volume_error);
                return;
            }
        }
        if (!o->force) {
            std::fputs(all ? "WARNING! This will remove all local volumes not used by at least "
                             "one container.\n"
                           : "WARNING! This will remove anonymous local volumes not used by at "
                             "least one container.\n",
                       stdout);
            std::fputs("Are you sure you want to continue? [y/N] ", stdout);
            std::fflush(stdout);
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") {
                ctx.exit_code = 0;
                return;
            }
        }
        auto paths = ctx.paths();
        auto store = volumes::VolumeStore::open(paths);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_volume_error);
            return;
        }
        auto report_r = store->prune(all, in_use_fn(paths, *store), labels);
        if (!report_r) {
            ctx.exit_code = report(report_r.error(), exit_volume_error);
            return;
        }
        if (!report_r->removed.empty()) {
            std::printf("Deleted Volumes:\n");
            for (const auto& n : report_r->removed) {
                std::printf("%s\n", n.c_str());
            }
            std::printf("\n");
        }
        std::printf("Total reclaimed space: %s\n",
                    human_size(static_cast<double>(report_r->reclaimed_bytes)).c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace

void set_volume_usage(VolumeUsageFn fn) { usage_hook() = std::move(fn); }

std::set<std::string> volumes_in_use(const Paths& paths) {
    if (!usage_hook()) {
        return {};
    }
    return usage_hook()(paths);
}

void add_volume_commands(CLI::App& app, Context& ctx) {
    auto* vol = app.add_subcommand("volume", "Manage volumes");
    vol->require_subcommand(1);
    add_create(*vol, ctx);
    add_inspect(*vol, ctx);
    add_ls(*vol, ctx);
    add_prune(*vol, ctx);
    add_rm(*vol, ctx);
}

}  // namespace berth::cli
