// SPDX-License-Identifier: Apache-2.0
// ps, stop, kill, rm, restart, wait, pause, unpause, top, logs, inspect, exec.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/container_support.hpp"
#include "cli/output.hpp"
#include "common/scope_exit.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/logfile.hpp"
#include "engine/containers/spec.hpp"
#include "engine/runtime/runtime.hpp"

namespace berth::cli {

namespace ec = engine::containers;
using nlohmann::json;

namespace {

bool is_live(ec::Status s) {
    return s == ec::Status::running || s == ec::Status::paused || s == ec::Status::restarting;
}

/// Opens the store and runs `fn` for each container named, reporting
/// failures per container as Docker does (and exiting 1 if any failed).
void for_each_container(Context& ctx, const std::vector<std::string>& refs,
                        const std::function<Result<void>(ec::ContainerStore&, const ec::ContainerRecord&)>& fn,
                        bool print_ref = true) {
    auto store = ec::ContainerStore::open(ctx.paths());
    if (!store) {
        ctx.exit_code = report(store.error());
        return;
    }
    for (const auto& ref : refs) {
        auto rec = store->get(ref);
        if (!rec) {
            report(rec.error());
            ctx.exit_code = 1;
            continue;
        }
        auto r = fn(*store, *rec);
        if (!r) {
            report(r.error());
            ctx.exit_code = 1;
            continue;
        }
        if (print_ref) {
            std::printf("%s\n", ref.c_str());
        }
    }
}

json ps_row(const ec::ContainerRecord& rec, const ec::ContainerState& st, bool no_trunc) {
    auto args = ec::resolve_args(rec);
    std::string labels;
    for (const auto& [k, v] : rec.config.labels) {
        labels += (labels.empty() ? "" : ",") + k + "=" + v;
    }
    double created = parse_time(rec.created);
    time_t secs = static_cast<time_t>(created);
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    std::string network = rec.config.network_mode;
    return {{"Command", quote_command(args ? *args : std::vector<std::string>{}, !no_trunc)},
            {"CreatedAt", fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC", tm.tm_year + 1900,
                                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)},
            {"ID", no_trunc ? rec.id : rec.short_id()},
            {"Image", rec.broken.empty() ? rec.config.image : std::string("<unreadable record>")},
            {"Labels", labels},
            {"LocalVolumes", std::to_string(rec.config.volumes.size())},
            {"Mounts", ""},
            {"Names", rec.name},
            {"Networks", network},
            {"Ports", fmt::format("{}", fmt::join(rec.config.publish, ", "))},
            {"RunningFor", human_duration(now_seconds() - created) + " ago"},
            {"Size", "0B"},
            {"State", std::string(ec::to_string(st.status))},
            {"Status", status_text(st)}};
}

bool matches_filters(const ec::ContainerRecord& rec, const ec::ContainerState& st,
                     const std::vector<std::string>& filters) {
    std::map<std::string, std::vector<std::string>> by_key;
    for (const auto& f : filters) {
        auto eq = f.find('=');
        by_key[f.substr(0, eq)].push_back(eq == std::string::npos ? "" : f.substr(eq + 1));
    }
    for (const auto& [key, values] : by_key) {
        bool any = false;
        for (const auto& v : values) {
            if (key == "status") {
                any |= ec::to_string(st.status) == v;
            } else if (key == "name") {
                any |= rec.name.find(v) != std::string::npos;
            } else if (key == "id") {
                any |= rec.id.rfind(v, 0) == 0;
            } else if (key == "label") {
                auto eq = v.find('=');
                auto k = v.substr(0, eq);
                auto it = rec.config.labels.find(k);
                any |= it != rec.config.labels.end() &&
                       (eq == std::string::npos || it->second == v.substr(eq + 1));
            } else if (key == "exited") {
                any |= st.status == ec::Status::exited && std::to_string(st.exit_code) == v;
            } else if (key == "ancestor") {
                any |= rec.config.image == v || rec.image_id.find(v) != std::string::npos;
            } else if (key == "health") {
                any |= (st.health_status.empty() ? "none" : st.health_status) == v;
            }
        }
        if (!any) {
            return false;
        }
    }
    return true;
}

void add_ps(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("ps", "List containers");
    struct Opts {
        bool all = false, quiet = false, no_trunc = false, latest = false;
        int last = -1;
        std::vector<std::string> filters;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_flag("-a,--all", o->all, "Show all containers (default shows just running)");
    cmd->add_flag("-q,--quiet", o->quiet, "Only display container IDs");
    cmd->add_flag("--no-trunc", o->no_trunc, "Don't truncate output");
    cmd->add_flag("-l,--latest", o->latest, "Show the latest created container");
    cmd->add_option("-n,--last", o->last, "Show n last created containers");
    cmd->add_option("-f,--filter", o->filters, "Filter output based on conditions provided");
    cmd->add_option("--format", o->format, "Format output: table, json, or a template");
    cmd->callback([&ctx, o] {
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        auto list = store->list();
        if (!list) {
            ctx.exit_code = report(list.error());
            return;
        }
        bool show_all = o->all || o->latest || o->last > 0 ||
                        std::any_of(o->filters.begin(), o->filters.end(),
                                    [](const std::string& f) { return f.rfind("status=", 0) == 0; });
        std::vector<json> rows;
        int count = 0;
        int limit = o->latest ? 1 : o->last;
        for (const auto& rec : *list) {
            if (limit > 0 && count >= limit) {
                break;
            }
            ++count;
            auto st = store->state(rec.id);
            if (!st) {
                continue;
            }
            if (!show_all && !is_live(st->status)) {
                continue;
            }
            if (!matches_filters(rec, *st, o->filters)) {
                continue;
            }
            rows.push_back(ps_row(rec, *st, o->no_trunc));
        }
        if (o->quiet) {
            for (const auto& r : rows) {
                std::printf("%s\n", r["ID"].get<std::string>().c_str());
            }
            return;
        }
        bool table = false;
        auto tmpl = strip_table_prefix(o->format, table);
        if (o->format.empty() || (table && tmpl.empty())) {
            std::vector<std::vector<std::string>> cells{
                {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}};
            for (const auto& r : rows) {
                cells.push_back({r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"],
                                 r["Ports"], r["Names"]});
            }
            print_table(cells);
            return;
        }
        for (const auto& r : rows) {
            auto text = render_format(tmpl, r);
            if (!text) {
                ctx.exit_code = report(text.error());
                return;
            }
            std::printf("%s\n", text->c_str());
        }
    });
}

void add_stop_like(CLI::App& app, Context& ctx) {
    {
        auto* cmd = app.add_subcommand("stop", "Stop one or more running containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        auto timeout = std::make_shared<int>(-1);
        auto signal = std::make_shared<std::string>();
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->add_option("-t,--timeout,--time", *timeout, "Seconds to wait before killing the container");
        cmd->add_option("-s,--signal", *signal, "Signal to send to the container");
        cmd->callback([&ctx, refs, timeout] {
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) -> Result<void> {
                auto r = ec::stop_container(store, rec, *timeout);
                if (!r) {
                    return std::move(r).error();
                }
                return {};
            });
        });
    }
    {
        auto* cmd = app.add_subcommand("restart", "Restart one or more containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        auto timeout = std::make_shared<int>(-1);
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->add_option("-t,--timeout,--time", *timeout, "Seconds to wait before killing the container");
        cmd->callback([&ctx, refs, timeout] {
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) -> Result<void> {
                auto r = ec::stop_container(store, rec, *timeout);
                if (!r) {
                    return std::move(r).error();
                }
                // The old supervisor finishes its cleanup before the new one starts.
                auto w = ec::wait_container(store, rec);
                (void)w;
                auto s = ec::start_container(store, rec);
                if (!s) {
                    return std::move(s).error();
                }
                return {};
            });
        });
    }
    {
        auto* cmd = app.add_subcommand("kill", "Kill one or more running containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        auto signal = std::make_shared<std::string>("KILL");
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->add_option("-s,--signal", *signal, "Signal to send to the container");
        cmd->callback([&ctx, refs, signal] {
            int sig = ec::parse_signal(*signal);
            if (sig == 0) {
                ctx.exit_code = report(Error(Errc::invalid_argument, fmt::format("invalid signal: {}", *signal)));
                return;
            }
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) {
                return ec::kill_container(store, rec, sig);
            });
        });
    }
    {
        auto* cmd = app.add_subcommand("rm", "Remove one or more containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        auto force = std::make_shared<bool>(false);
        auto volumes = std::make_shared<bool>(false);
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->add_flag("-f,--force", *force, "Force the removal of a running container (uses SIGKILL)");
        cmd->add_flag("-v,--volumes", *volumes, "Remove anonymous volumes associated with the container");
        cmd->callback([&ctx, refs, force, volumes] {
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) {
                return ec::remove_container(store, rec, *force, *volumes);
            });
        });
    }
    {
        auto* cmd = app.add_subcommand("wait", "Block until one or more containers stop, then print their exit codes");
        auto refs = std::make_shared<std::vector<std::string>>();
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->callback([&ctx, refs] {
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) -> Result<void> {
                auto code = ec::wait_container(store, rec);
                if (!code) {
                    return std::move(code).error();
                }
                std::printf("%d\n", *code);
                return {};
            }, false);
        });
    }
    for (bool pause : {true, false}) {
        auto* cmd = app.add_subcommand(pause ? "pause" : "unpause",
                                       pause ? "Pause all processes within one or more containers"
                                             : "Unpause all processes within one or more containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->callback([&ctx, refs, pause] {
            for_each_container(ctx, *refs, [&](ec::ContainerStore& store, const ec::ContainerRecord& rec) {
                return ec::pause_container(store, rec, pause);
            });
        });
    }
}

void add_inspect(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("inspect", "Return low-level information on containers");
    auto refs = std::make_shared<std::vector<std::string>>();
    auto format = std::make_shared<std::string>();
    cmd->add_option("containers", *refs, "Containers")->required();
    cmd->add_option("-f,--format", *format, "Format output using a template or json");
    cmd->callback([&ctx, refs, format] {
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        json all = json::array();
        for (const auto& ref : *refs) {
            auto rec = store->get(ref);
            if (!rec) {
                report(Error(Errc::not_found, fmt::format("No such object: {}", ref)));
                ctx.exit_code = 1;
                continue;
            }
            auto st = store->state(rec->id);
            all.push_back(inspect_json(*store, *rec, st ? *st : ec::ContainerState{}));
        }
        if (format->empty()) {
            std::printf("%s\n", all.dump(4).c_str());
            return;
        }
        for (const auto& item : all) {
            auto text = render_format(*format, item);
            if (!text) {
                ctx.exit_code = report(text.error());
                return;
            }
            std::printf("%s\n", text->c_str());
        }
    });
}

void add_logs(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("logs", "Fetch the logs of a container");
    struct Opts {
        std::string ref;
        bool follow = false, timestamps = false;
        std::string tail = "all", since, until;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("container", o->ref, "Container")->required();
    cmd->add_flag("-f,--follow", o->follow, "Follow log output");
    cmd->add_flag("-t,--timestamps", o->timestamps, "Show timestamps");
    cmd->add_option("-n,--tail", o->tail, "Number of lines to show from the end of the logs");
    cmd->add_option("--since", o->since, "Show logs since timestamp or relative (e.g. 42m)");
    cmd->add_option("--until", o->until, "Show logs before a timestamp or relative (e.g. 42m)");
    cmd->callback([&ctx, o] {
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        auto rec = store->get(o->ref);
        if (!rec) {
            ctx.exit_code = report(rec.error());
            return;
        }
        ec::LogReadOptions opts;
        if (o->tail != "all") {
            try {
                opts.tail = static_cast<size_t>(std::stoul(o->tail));
            } catch (const std::exception&) {
                ctx.exit_code = report(Error(Errc::invalid_argument, fmt::format("invalid tail value: {}", o->tail)));
                return;
            }
        }
        for (auto [text, out] : {std::pair{&o->since, &opts.since}, {&o->until, &opts.until}}) {
            auto t = ec::parse_log_time(*text);
            if (!t) {
                ctx.exit_code = report(t.error());
                return;
            }
            *out = *t;
        }
        opts.follow = o->follow;
        auto id = rec->id;
        auto* s = &*store;
        opts.keep_following = [s, id] {
            auto st = s->state(id);
            return st && is_live(st->status);
        };
        bool ts = o->timestamps;
        auto r = ec::read_log(store->dir(rec->id) / (rec->id + "-json.log"), opts,
                              [ts](const ec::LogRecord& lr) {
                                  std::FILE* f = lr.stream == "stderr" ? stderr : stdout;
                                  if (ts) {
                                      std::fprintf(f, "%s ", lr.time.c_str());
                                  }
                                  std::fwrite(lr.text.data(), 1, lr.text.size(), f);
                                  std::fflush(f);
                                  return !std::ferror(f);
                              });
        if (!r) {
            ctx.exit_code = report(r.error());
        }
    });
}

void add_top(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("top", "Display the running processes of a container");
    auto ref = std::make_shared<std::string>();
    cmd->add_option("container", *ref, "Container")->required();
    cmd->callback([&ctx, ref] {
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        auto rec = store->get(*ref);
        if (!rec) {
            ctx.exit_code = report(rec.error());
            return;
        }
        auto st = store->state(rec->id);
        if (!st || !is_live(st->status)) {
            ctx.exit_code = report(Error(Errc::failed_precondition,
                                         fmt::format("container {} is not running", rec->id)));
            return;
        }
        auto rows = top_rows(*store, *rec);
        if (!rows) {
            ctx.exit_code = report(rows.error());
            return;
        }
        print_table(*rows);
    });
}

void add_exec(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("exec", "Execute a command in a running container");
    struct Opts {
        bool interactive = false, tty = false, detach = false, privileged = false;
        std::vector<std::string> env, env_files;
        std::string user, workdir;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_flag("-i,--interactive", o->interactive, "Keep STDIN open even if not attached");
    cmd->add_flag("-t,--tty", o->tty, "Allocate a pseudo-TTY");
    cmd->add_flag("-d,--detach", o->detach, "Detached mode: run command in the background");
    cmd->add_flag("--privileged", o->privileged, "Give extended privileges to the command");
    cmd->add_option("-e,--env", o->env, "Set environment variables");
    cmd->add_option("--env-file", o->env_files, "Read in a file of environment variables");
    cmd->add_option("-u,--user", o->user, "Username or UID (format: <name|uid>[:<group|gid>])");
    cmd->add_option("-w,--workdir", o->workdir, "Working directory inside the container");
    cmd->prefix_command();
    cmd->callback([&ctx, cmd, o] {
        auto rest = cmd->remaining();
        if (rest.size() < 2) {
            ctx.exit_code = report(Error(Errc::invalid_argument, "\"exec\" requires at least 2 arguments: CONTAINER COMMAND [ARG...]"));
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error());
            return;
        }
        auto rec = store->get(rest[0]);
        if (!rec) {
            ctx.exit_code = report(rec.error());
            return;
        }
        ec::ExecRequest req;
        req.cmd.assign(rest.begin() + 1, rest.end());
        for (const auto& file : o->env_files) {
            auto vars = read_env_file(file);
            if (!vars) {
                ctx.exit_code = report(vars.error());
                return;
            }
            req.env.insert(req.env.end(), vars->begin(), vars->end());
        }
        req.env.insert(req.env.end(), o->env.begin(), o->env.end());
        req.user = o->user;
        req.working_dir = o->workdir;
        req.tty = o->tty;
        req.interactive = o->interactive;
        req.detach = o->detach;
        req.privileged = o->privileged;
        ctx.exit_code = run_exec(*store, *rec, req);
    });
}

void add_supervise(CLI::App& app, Context& ctx) {
    // Hidden: the supervisor entry used when a multi-threaded berth (the
    // compose orchestrator) starts a container and so must exec.
    auto* cmd = app.add_subcommand("__supervise", "");
    cmd->group("");
    auto args = std::make_shared<std::vector<std::string>>();
    cmd->add_option("args", *args)->expected(7);
    cmd->callback([&ctx, args] {
        const auto& a = *args;
        ec::AttachFds attach{std::stoi(a[2]), std::stoi(a[3]), std::stoi(a[4]), std::stoi(a[5]),
                             std::stoi(a[6])};
        ec::exec_supervisor_main(ctx.paths(), a[0], std::stoi(a[1]), attach);
    });
    // Hidden: berth-monitor handing a running container back to the engine.
    auto* resume = app.add_subcommand("__supervise-resume", "");
    resume->group("");
    auto handoff = std::make_shared<std::string>();
    resume->add_option("handoff", *handoff)->required();
    resume->callback([&ctx, handoff] { ec::resume_supervisor_main(ctx.paths(), *handoff); });
}

}  // namespace

void add_supervise_command(CLI::App& app, Context& ctx) { add_supervise(app, ctx); }

void add_container_commands(CLI::App& app, Context& ctx) {
    add_supervise(app, ctx);
    add_run_commands(app, ctx);
    add_ps(app, ctx);
    add_stop_like(app, ctx);
    add_exec(app, ctx);
    add_logs(app, ctx);
    add_inspect(app, ctx);
    add_top(app, ctx);
}

}  // namespace berth::cli
