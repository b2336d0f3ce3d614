// SPDX-License-Identifier: Apache-2.0
// compose logs, exec, run and cp.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/compose_ops_support.hpp"
#include "cli/container_support.hpp"
#include "common/digest.hpp"
#include "compose/graph.hpp"
#include "compose/project_ops.hpp"
#include "engine/containers/copy.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/logfile.hpp"

extern char** environ;

namespace berth::cli::compose_ops {

namespace {

namespace ec = engine::containers;

/// Compose's log prefix colours, in order of the containers.
constexpr const char* rainbow[] = {"\x1b[36m",   "\x1b[33m",   "\x1b[32m",   "\x1b[35m",
                                   "\x1b[34m",   "\x1b[36;1m", "\x1b[33;1m", "\x1b[32;1m",
                                   "\x1b[35;1m", "\x1b[34;1m"};

struct LogsFlags {
    ProjectFlags project;
    std::vector<std::string> services;
    bool follow = false;
    bool timestamps = false;
    bool no_color = false;
    bool no_prefix = false;
    std::string tail = "all";
    std::string since;
    std::string until;
    int index = 0;
};

/// One line of output, before it is written.
struct Line {
    std::string time;
    size_t source = 0;  ///< index of the container, for a stable order
    bool err = false;
    std::string text;
};

void write_line(const std::string& prefix, bool timestamps, const ec::LogRecord& lr) {
    std::string text = lr.text;
    if (text.empty() || text.back() != '\n') {
        text += '\n';
    }
    std::string out = prefix;
    if (timestamps) {
        out += lr.time + " ";
    }
    out += text;
    std::FILE* f = lr.stream == "stderr" ? stderr : stdout;
    std::fwrite(out.data(), 1, out.size(), f);
    std::fflush(f);
}

int run_logs(const Context& ctx, const LogsFlags& f) {
    auto project = load(f.project);
    if (!project) {
        return fail(project.error());
    }
    if (auto r = check_services(*project, f.services); !r) {
        return fail(r.error());
    }
    auto list = containers(ctx.paths(), project->project.name, f.services);
    if (!list) {
        return fail(list.error());
    }
    if (f.index > 0) {
        std::erase_if(*list, [&](const compose::ProjectContainer& pc) { return pc.number != f.index; });
    }
    auto store = ec::ContainerStore::open(ctx.paths());
    if (!store) {
        return fail(store.error());
    }
    ec::LogReadOptions base;
    if (f.tail != "all" && f.tail != "-1") {
        try {
            base.tail = static_cast<size_t>(std::stoul(f.tail));
        } catch (const std::exception&) {
            return fail(Error(Errc::invalid_argument, fmt::format("invalid tail value: {}", f.tail)));
        }
    }
    for (auto [text, out] : {std::pair{&f.since, &base.since}, {&f.until, &base.until}}) {
        auto t = ec::parse_log_time(*text);
        if (!t) {
            return fail(t.error());
        }
        *out = *t;
    }
    size_t width = 0;
    for (const auto& pc : *list) {
        width = std::max(width, short_name(project->project.name, pc.record.name).size());
    }
    bool color = !f.no_color && ::isatty(1) != 0;
    std::vector<std::string> prefixes;
    for (size_t i = 0; i < list->size(); ++i) {
        if (f.no_prefix) {
            prefixes.emplace_back();
            continue;
        }
        auto p = fmt::format("{:<{}} | ", short_name(project->project.name, (*list)[i].record.name),
                             width + 1);
        prefixes.push_back(color ? fmt::format("{}{}\x1b[0m", rainbow[i % std::size(rainbow)], p)
                                 : p);
    }
    auto log_path = [&](const ec::ContainerRecord& rec) {
        return store->dir(rec.id) / (rec.id + "-json.log");
    };
    if (!f.follow) {
        // Every container's lines merged in time order (stable per container).
        std::vector<std::pair<Line, ec::LogRecord>> lines;
        for (size_t i = 0; i < list->size(); ++i) {
            auto r = ec::read_log(log_path((*list)[i].record), base, [&](const ec::LogRecord& lr) {
                lines.push_back({Line{lr.time, i, lr.stream == "stderr", {}}, lr});
                return true;
            });
            if (!r && r.error().code() != Errc::not_found) {
                return fail(r.error());
            }
        }
        std::stable_sort(lines.begin(), lines.end(),
                         [](const auto& a, const auto& b) { return a.first.time < b.first.time; });
        for (const auto& [line, lr] : lines) {
            write_line(prefixes[line.source], f.timestamps, lr);
        }
        return 0;
    }
    // Following: one reader per container, interleaved as lines arrive, until
    // every container has stopped.
    std::mutex out_mu;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (size_t i = 0; i < list->size(); ++i) {
        threads.emplace_back([&, i] {
            const auto& rec = (*list)[i].record;
            ec::LogReadOptions opts = base;
            opts.follow = true;
            const auto* s = &*store;
            opts.keep_following = [s, id = rec.id] {
                auto st = s->state(id);
                return st && is_live(*st);
            };
            auto r = ec::read_log(log_path(rec), opts, [&](const ec::LogRecord& lr) {
                std::lock_guard lk(out_mu);
                write_line(prefixes[i], f.timestamps, lr);
                return !std::ferror(stdout);
            });
            if (!r && r.error().code() != Errc::not_found) {
                std::lock_guard lk(out_mu);
                fail(r.error());
                failures.fetch_add(1);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    return failures.load() == 0 ? 0 : 1;
}

void define_logs(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<LogsFlags>();
    add_project_flags(cmd, f->project, false);  // -f is --follow here
    cmd->add_option("services", f->services, "Services");
    cmd->add_flag("-f,--follow", f->follow, "Follow log output");
    cmd->add_flag("-t,--timestamps", f->timestamps, "Show timestamps");
    cmd->add_flag("--no-color", f->no_color, "Produce monochrome output");
    cmd->add_flag("--no-log-prefix", f->no_prefix, "Don't print prefix in logs");
    cmd->add_option("-n,--tail", f->tail,
                    "Number of lines to show from the end of the logs for each container");
    cmd->add_option("--since", f->since,
                    "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)");
    cmd->add_option("--until", f->until,
                    "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative");
    cmd->add_option("--index", f->index, "index of the container if service has multiple replicas");
    cmd->callback([f, &ctx] { ctx.exit_code = run_logs(ctx, *f); });
}

struct ExecFlags {
    ProjectFlags project;
    bool no_tty = ::isatty(1) == 0;
    bool detach = false;
    bool privileged = false;
    bool interactive = true;
    std::vector<std::string> env;
    std::string user;
    std::string workdir;
    int index = 1;
};

/// -e values: KEY=VALUE as is, a bare KEY from this process's environment
/// (dropped when unset).
std::vector<std::string> env_values(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& e : values) {
        if (e.find('=') != std::string::npos) {
            out.push_back(e);
        } else if (const char* v = std::getenv(e.c_str()); v != nullptr) {
            out.push_back(e + "=" + v);
        }
    }
    return out;
}

void define_exec(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ExecFlags>();
    add_project_flags(cmd, f->project);
    cmd->add_flag("-T,--no-TTY", f->no_tty,
                  "Disable pseudo-TTY allocation. By default a TTY is allocated on a terminal");
    cmd->add_flag("-d,--detach", f->detach, "Detached mode: Run command in the background");
    cmd->add_flag("--privileged", f->privileged, "Give extended privileges to the process");
    cmd->add_flag("-i,--interactive", f->interactive, "Keep STDIN open even if not attached");
    cmd->add_option("-e,--env", f->env, "Set environment variables");
    cmd->add_option("-u,--user", f->user, "Run the command as this user");
    cmd->add_option("-w,--workdir", f->workdir, "Path to workdir directory for this command");
    cmd->add_option("--index", f->index, "Index of the container if service has multiple replicas");
    cmd->prefix_command();
    cmd->callback([f, cmd, &ctx] {
        auto rest = cmd->remaining();
        if (rest.size() < 2) {
            ctx.exit_code = fail(Error(Errc::invalid_argument,
                                       "exec requires at least 2 arguments: SERVICE COMMAND [ARGS...]"));
            return;
        }
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, {rest[0]}); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        auto paths = ctx.paths();
        auto pc = replica(paths, project->project.name, rest[0], f->index, true);
        if (!pc) {
            ctx.exit_code = fail(pc.error());
            return;
        }
        auto store = ec::ContainerStore::open(paths);
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        ec::ExecRequest req;
        req.cmd.assign(rest.begin() + 1, rest.end());
        req.env = env_values(f->env);
        req.user = f->user;
        req.working_dir = f->workdir;
        req.tty = !f->no_tty;
        req.interactive = f->interactive && !f->detach;
        req.detach = f->detach;
        req.privileged = f->privileged;
        ctx.exit_code = run_exec(*store, pc->record, req);
    });
}

struct RunFlags {
    ProjectFlags project;
    bool rm = false;
    bool detach = false;
    bool no_deps = false;
    bool service_ports = false;
    bool use_aliases = false;
    bool no_tty = ::isatty(1) == 0;
    bool interactive = true;
    bool quiet = false;
    bool remove_orphans = false;
    std::vector<std::string> env;
    std::vector<std::string> volumes;
    std::vector<std::string> publish;
    std::vector<std::string> labels;
    std::string entrypoint;
    bool entrypoint_set = false;
    std::string name;
    std::string user;
    std::string workdir;
};

/// Splits an --entrypoint value into words, honouring single and double quotes.
std::vector<std::string> split_words(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    bool in_word = false;
    char quote = 0;
    for (char c : text) {
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
            } else {
                cur += c;
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                out.push_back(std::move(cur));
                cur.clear();
                in_word = false;
            }
        } else {
            cur += c;
            in_word = true;
        }
    }
    if (in_word) {
        out.push_back(std::move(cur));
    }
    return out;
}

int run_run(const Context& ctx, const RunFlags& f, const std::vector<std::string>& rest) {
    if (rest.empty()) {
        return fail(Error(Errc::invalid_argument, "run requires at least 1 argument: SERVICE [COMMAND] [ARGS...]"));
    }
    auto loaded = load(f.project);
    if (!loaded) {
        return fail(loaded.error());
    }
    if (!loaded->from_file) {
        return fail(Error(Errc::not_found, "no configuration file provided: not found"));
    }
    auto& project = loaded->project;
    for (const auto& w : project.warnings) {
        warn(w);
    }
    const std::string& name = rest[0];
    if (project.services.count(name) == 0) {
        // Naming a service enables its profiles, as Compose does.
        auto it = project.disabled_services.find(name);
        if (it == project.disabled_services.end()) {
            return fail(Error(Errc::not_found, fmt::format("no such service: {}", name)));
        }
        project.services.emplace(name, it->second);
        project.disabled_services.erase(it);
    }
    const auto& service = project.services.at(name);
    auto paths = ctx.paths();
    auto hooks = engine_hooks(paths);
    if (!f.no_deps) {
        auto deps = compose::DependencyGraph::from(project).closure({name});
        deps.erase(name);
        if (!deps.empty()) {
            compose::UpOptions opts;
            opts.services = deps;
            if (auto r = compose::up(paths, project, opts, hooks, progress, warn); !r) {
                return fail(r.error());
            }
        }
    }
    if (auto r = compose::ensure_service_resources(paths, project, service, progress); !r) {
        return fail(r.error());
    }
    auto existing = compose::project_containers(paths, project.name);
    if (!existing) {
        return fail(existing.error());
    }
    std::map<std::string, std::string> first_ids;
    for (const auto& pc : *existing) {
        if (pc.number == 1 && is_live(pc.state)) {
            first_ids[pc.service] = pc.record.id;
        }
    }
    auto slug = random_hex_id();
    auto config = compose::oneoff_config(project, service, slug, f.service_ports, f.use_aliases,
                                         first_ids);
    if (!config) {
        return fail(config.error());
    }
    if (rest.size() > 1) {
        config->cmd.assign(rest.begin() + 1, rest.end());
    }
    if (f.entrypoint_set) {
        config->entrypoint = split_words(f.entrypoint);
    }
    for (const auto& e : env_values(f.env)) {
        auto key = e.substr(0, e.find('='));
        std::erase_if(config->env, [&](const std::string& old) {
            return old.substr(0, old.find('=')) == key;
        });
        config->env.push_back(e);
    }
    for (const auto& l : f.labels) {
        auto eq = l.find('=');
        config->labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
    }
    if (!f.user.empty()) {
        config->user = f.user;
    }
    if (!f.workdir.empty()) {
        config->working_dir = f.workdir;
    }
    config->publish.insert(config->publish.end(), f.publish.begin(), f.publish.end());
    config->tty = !f.no_tty && ::isatty(0) != 0;
    config->open_stdin = f.interactive && !f.detach;
    // One-off containers never restart; --rm of an attached run is done here
    // once the exit is known, of a detached one by the supervisor.
    config->restart = {};
    config->auto_remove = f.rm && f.detach;
    auto image = hooks.resolve_image(service.image);
    if (!image) {
        return fail(image.error().wrap(fmt::format("service \"{}\"", name)));
    }
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return fail(store.error());
    }
    auto id = random_hex_id();
    auto sm = compose::service_mounts(project, service);
    MountFlags mounts;
    mounts.volumes = f.volumes;
    mounts.mounts = sm.mounts;
    mounts.tmpfs = sm.tmpfs;
    if (auto r = prepare_container_mounts(paths, id, mounts, *image, *config); !r) {
        return fail(r.error());
    }
    std::string cname = f.name.empty() ? compose::oneoff_name(project, service, slug) : f.name;
    auto rec = ec::create_container(*store, *config, cname, *image, id);
    if (!rec) {
        release_container_mounts(paths, id, *config);
        return fail(rec.error());
    }
    if (f.detach) {
        auto started = ec::start_container(*store, *rec);
        if (!started) {
            return fail(started.error(), exit_code_for(started.error()));
        }
        std::printf("%s\n", rec->name.c_str());
        return 0;
    }
    int code = run_attached(*store, *rec, config->open_stdin);
    if (f.rm) {
        // The supervisor is done with it once the exit is recorded.
        auto w = ec::wait_container(*store, *rec);
        (void)w;
        if (auto r = ec::remove_container(*store, *rec, true, true); !r) {
            warn(fmt::format("remove {}: {}", rec->name, r.error().message()));
        }
    }
    return code;
}

void define_run(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<RunFlags>();
    add_project_flags(cmd, f->project, false);  // -p is --publish here
    cmd->add_flag("--rm", f->rm, "Automatically remove the container when it exits");
    cmd->add_flag("-d,--detach", f->detach, "Run container in background and print container ID");
    cmd->add_flag("--no-deps", f->no_deps, "Don't start linked services");
    cmd->add_flag("-P,--service-ports", f->service_ports,
                  "Run command with all service's ports enabled and mapped to the host");
    cmd->add_flag("--use-aliases", f->use_aliases,
                  "Use the service's network aliases in the network(s) the container connects to");
    cmd->add_flag("-T,--no-TTY", f->no_tty,
                  "Disable pseudo-TTY allocation (default: auto-detected)");
    cmd->add_flag("-i,--interactive", f->interactive, "Keep STDIN open even if not attached");
    cmd->add_flag("-q,--quiet", f->quiet, "Don't print anything to STDOUT");
    cmd->add_flag("--remove-orphans", f->remove_orphans,
                  "Remove containers for services not defined in the Compose file");
    cmd->add_option("-e,--env", f->env, "Set environment variables");
    cmd->add_option("-v,--volume", f->volumes, "Bind mount a volume");
    cmd->add_option("-p,--publish", f->publish, "Publish a container's port(s) to the host");
    cmd->add_option("-l,--label", f->labels, "Add or override a label");
    cmd->add_option("--entrypoint", f->entrypoint, "Override the entrypoint of the image")
        ->each([f](const std::string&) { f->entrypoint_set = true; });
    cmd->add_option("--name", f->name, "Assign a name to the container");
    cmd->add_option("-u,--user", f->user, "Run as specified username or uid");
    cmd->add_option("-w,--workdir", f->workdir, "Working directory inside the container");
    cmd->prefix_command();
    cmd->callback([f, cmd, &ctx] { ctx.exit_code = run_run(ctx, *f, cmd->remaining()); });
}

/// "SERVICE:PATH" split, or an empty service for a host path.
std::pair<std::string, std::string> split_cp_arg(const std::string& arg) {
    auto colon = arg.find(':');
    auto slash = arg.find('/');
    if (colon == std::string::npos || (slash != std::string::npos && slash < colon) ||
        colon == 0) {
        return {"", arg};
    }
    return {arg.substr(0, colon), arg.substr(colon + 1)};
}

void define_cp(CLI::App* cmd, Context& ctx) {
    struct Flags {
        ProjectFlags project;
        std::string src;
        std::string dst;
        int index = 0;
        bool all = false;
        bool archive = false;
        bool follow_link = false;
    };
    auto f = std::make_shared<Flags>();
    add_project_flags(cmd, f->project);
    cmd->add_option("source", f->src, "SERVICE:SRC_PATH or SRC_PATH")->required();
    cmd->add_option("destination", f->dst, "DEST_PATH or SERVICE:DEST_PATH")->required();
    cmd->add_option("--index", f->index, "Index of the container if service has multiple replicas");
    cmd->add_flag("--all", f->all, "Include containers created by the run command");
    cmd->add_flag("-a,--archive", f->archive, "Archive mode (copy all uid/gid information)");
    cmd->add_flag("-L,--follow-link", f->follow_link, "Always follow symbol link in SRC_PATH");
    cmd->callback([f, &ctx] {
        if (f->src == "-" && f->dst == "-") {
            ctx.exit_code = fail(Error(Errc::invalid_argument,
                                       "source and destination cannot both be \"-\""));
            return;
        }
        auto [src_service, src_path] = split_cp_arg(f->src);
        auto [dst_service, dst_path] = split_cp_arg(f->dst);
        if (src_service.empty() == dst_service.empty()) {
            ctx.exit_code = fail(Error(Errc::invalid_argument,
                                       src_service.empty()
                                           ? "copying between services is not supported"
                                           : "must specify at least one container source"));
            return;
        }
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        const auto& service = src_service.empty() ? dst_service : src_service;
        if (auto r = check_services(*project, {service}); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        auto paths = ctx.paths();
        auto store = ec::ContainerStore::open(paths);
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        // From a service: one replica (--index, default the first). Into a
        // service: every running replica unless --index names one.
        std::vector<compose::ProjectContainer> targets;
        if (f->index > 0 || dst_service.empty()) {
            auto pc = replica(paths, project->project.name, service,
                              f->index > 0 ? f->index : 1, true);
            if (!pc) {
                ctx.exit_code = fail(pc.error());
                return;
            }
            targets.push_back(std::move(*pc));
        } else {
            auto list = containers(paths, project->project.name, {service}, f->all);
            if (!list) {
                ctx.exit_code = fail(list.error());
                return;
            }
            for (auto& pc : *list) {
                if (is_live(pc.state)) {
                    targets.push_back(std::move(pc));
                }
            }
            if (targets.empty()) {
                ctx.exit_code = fail(Error(Errc::not_found,
                                           fmt::format("service \"{}\" is not running", service)));
                return;
            }
        }
        if (f->src == "-" && targets.size() > 1) {
            // Standard input can be read once: one replica per stream.
            ctx.exit_code = fail(Error(Errc::invalid_argument,
                                       fmt::format("service \"{}\" has {} running replicas: "
                                                   "choose one with --index to copy a tar "
                                                   "stream into",
                                                   service, targets.size())));
            return;
        }
        for (const auto& pc : targets) {
            // "-": a tar stream on standard input or output, as Docker's cp.
            auto r = f->src == "-"   ? ec::copy_to_container_tar(*store, pc.record, 0, dst_path)
                     : f->dst == "-" ? ec::copy_from_container_tar(*store, pc.record, src_path, 1)
                     : src_service.empty()
                         ? ec::copy_to_container(*store, pc.record, src_path, dst_path)
                         : ec::copy_from_container(*store, pc.record, src_path, dst_path);
            if (!r) {
                ctx.exit_code = fail(r.error());
                return;
            }
        }
        ctx.exit_code = 0;
    });
}

}  // namespace

void add_compose_exec_commands(CLI::App& group, Context& ctx) {
    define_logs(group.add_subcommand("logs", "View output from containers"), ctx);
    define_exec(group.add_subcommand("exec", "Execute a command in a running container"), ctx);
    define_run(group.add_subcommand("run", "Run a one-off command on a service"), ctx);
    define_cp(group.add_subcommand("cp", "Copy files/folders between a service container and "
                                         "the local filesystem"),
              ctx);
}

}  // namespace berth::cli::compose_ops
