// SPDX-License-Identifier: Apache-2.0
// The compose subcommands beyond up/down/ps/ls: create, start, stop, restart,
// kill, rm, pause, unpause, top, port, images, wait, version, events, pull,
// push (logs, exec, run and cp are in cmd_compose_exec.cpp).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli/commands.hpp"
#include "cli/compose_ops_support.hpp"
#include "cli/container_support.hpp"
#include "cli/output.hpp"
#include "compose/graph.hpp"
#include "compose/labels.hpp"
#include "engine/containers/events.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/spec.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/registry.hpp"
#include "engine/images/store.hpp"
#include "netns/network.hpp"

namespace berth::cli {

namespace {

namespace ec = engine::containers;
namespace im = engine::images;
namespace lb = compose::labels;
using namespace compose_ops;
using nlohmann::json;

/// Flags every per-service command takes.
struct ServiceFlags {
    ProjectFlags project;
    std::vector<std::string> services;
};

void add_service_flags(CLI::App* cmd, ServiceFlags& f, const char* what = "Services",
                       bool short_file = true) {
    add_project_flags(cmd, f.project, short_file);
    cmd->add_option("services", f.services, what);
}

/// Loads the project and lists its containers of the services named.
struct Selection {
    LoadedProject project;
    std::vector<compose::ProjectContainer> containers;
};

Result<Selection> select(const Context& ctx, const ServiceFlags& f, bool oneoff = false) {
    auto project = load(f.project);
    if (!project) {
        return std::move(project).error();
    }
    if (auto r = check_services(*project, f.services); !r) {
        return std::move(r).error();
    }
    auto list = containers(ctx.paths(), project->project.name, f.services, oneoff);
    if (!list) {
        return std::move(list).error();
    }
    return Selection{std::move(*project), std::move(*list)};
}

/// Runs `action` on each selected container at once, with progress lines
/// "<doing>" then "<done>"; the first error is reported and exits 1.
int for_each_parallel(const std::vector<compose::ProjectContainer>& targets,
                      std::string_view doing, std::string_view done,
                      const std::function<Result<void>(const compose::ProjectContainer&)>& action) {
    std::mutex mu;
    std::vector<std::string> errors;
    std::vector<std::thread> threads;
    threads.reserve(targets.size());
    for (const auto& pc : targets) {
        threads.emplace_back([&, pc] {
            {
                std::lock_guard lk(mu);
                progress("Container", pc.record.name, doing);
            }
            auto r = action(pc);
            std::lock_guard lk(mu);
            if (!r) {
                errors.push_back(fmt::format("{}: {}", pc.record.name, r.error().message()));
                return;
            }
            progress("Container", pc.record.name, done);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    if (errors.empty()) {
        return 0;
    }
    std::sort(errors.begin(), errors.end());
    for (const auto& e : errors) {
        std::fprintf(stderr, "berth: %s\n", e.c_str());
    }
    return 1;
}

/// Starts the containers of `sel` that are not running, services in
/// dependency order.
int start_in_order(const Context& ctx, const Selection& sel) {
    auto store = ec::ContainerStore::open(ctx.paths());
    if (!store) {
        return fail(store.error());
    }
    std::set<std::string> names;
    for (const auto& pc : sel.containers) {
        names.insert(pc.service);
    }
    for (const auto& service : service_order(sel.project, names)) {
        std::vector<compose::ProjectContainer> group;
        for (const auto& pc : sel.containers) {
            if (pc.service == service && !is_live(pc.state)) {
                group.push_back(pc);
            }
        }
        int rc = for_each_parallel(group, "Starting", "Started", [&](const auto& pc) -> Result<void> {
            auto r = ec::start_container(*store, pc.record);
            if (!r) {
                return std::move(r).error();
            }
            return {};
        });
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void define_create(CLI::App* cmd, Context& ctx) {
    struct Flags : ServiceFlags {
        bool force_recreate = false, no_recreate = false, remove_orphans = false;
    };
    auto f = std::make_shared<Flags>();
    add_service_flags(cmd, *f);
    cmd->add_flag("--force-recreate", f->force_recreate,
                  "Recreate containers even if their configuration has not changed");
    cmd->add_flag("--no-recreate", f->no_recreate, "Do not recreate existing containers");
    cmd->add_flag("--remove-orphans", f->remove_orphans,
                  "Remove containers for services not defined in the Compose file");
    cmd->callback([f, &ctx] {
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (!project->from_file) {
            ctx.exit_code = fail(Error(Errc::not_found, "no configuration file provided: not found"));
            return;
        }
        for (const auto& w : project->project.warnings) {
            warn(w);
        }
        compose::UpOptions opts;
        opts.no_start = true;
        opts.force_recreate = f->force_recreate;
        opts.no_recreate = f->no_recreate;
        opts.remove_orphans = f->remove_orphans;
        opts.services.insert(f->services.begin(), f->services.end());
        auto paths = ctx.paths();
        auto r = compose::up(paths, project->project, opts, engine_hooks(paths), progress, warn);
        ctx.exit_code = r ? 0 : fail(r.error());
    });
}

void define_start(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    add_service_flags(cmd, *f);
    cmd->callback([f, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        for (const auto& s : f->services) {
            bool any = std::any_of(sel->containers.begin(), sel->containers.end(),
                                   [&](const auto& pc) { return pc.service == s; });
            if (!any) {
                ctx.exit_code = fail(Error(Errc::not_found,
                                           fmt::format("service \"{}\" has no container to start", s)));
                return;
            }
        }
        ctx.exit_code = start_in_order(ctx, *sel);
    });
}

void define_stop(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    auto timeout = std::make_shared<int>(-1);
    add_service_flags(cmd, *f);
    cmd->add_option("-t,--timeout", *timeout, "Specify a shutdown timeout in seconds");
    cmd->callback([f, timeout, &ctx] {
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, f->services); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        std::set<std::string> services(f->services.begin(), f->services.end());
        auto r = compose::stop(ctx.paths(), project->project, services, *timeout, progress);
        ctx.exit_code = r ? 0 : fail(r.error());
    });
}

void define_restart(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    auto timeout = std::make_shared<int>(-1);
    auto no_deps = std::make_shared<bool>(false);
    add_service_flags(cmd, *f);
    cmd->add_option("-t,--timeout", *timeout, "Specify a shutdown timeout in seconds");
    cmd->add_flag("--no-deps", *no_deps, "Don't restart dependent services");
    cmd->callback([f, timeout, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        std::set<std::string> names;
        for (const auto& pc : sel->containers) {
            names.insert(pc.service);
        }
        // Compose's restart does not apply changes of the file: it restarts
        // the containers as they are, dependencies first.
        for (const auto& service : service_order(sel->project, names)) {
            std::vector<compose::ProjectContainer> group;
            for (const auto& pc : sel->containers) {
                if (pc.service == service) {
                    group.push_back(pc);
                }
            }
            int rc = for_each_parallel(group, "Restarting", "Started", [&](const auto& pc) -> Result<void> {
                if (auto r = ec::stop_container(*store, pc.record, *timeout); !r) {
                    return std::move(r).error();
                }
                // The old supervisor finishes its cleanup before the new one starts.
                auto w = ec::wait_container(*store, pc.record);
                (void)w;
                auto s = ec::start_container(*store, pc.record);
                if (!s) {
                    return std::move(s).error();
                }
                return {};
            });
            if (rc != 0) {
                ctx.exit_code = rc;
                return;
            }
        }
        ctx.exit_code = 0;
    });
}

void define_kill(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    auto signal = std::make_shared<std::string>("SIGKILL");
    auto remove_orphans = std::make_shared<bool>(false);
    add_service_flags(cmd, *f);
    cmd->add_option("-s,--signal", *signal, "SIGNAL to send to the container");
    cmd->add_flag("--remove-orphans", *remove_orphans,
                  "Remove containers for services not defined in the Compose file");
    cmd->callback([f, signal, &ctx] {
        int sig = ec::parse_signal(*signal);
        if (sig == 0) {
            ctx.exit_code = fail(Error(Errc::invalid_argument, fmt::format("invalid signal: {}", *signal)));
            return;
        }
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        std::vector<compose::ProjectContainer> running;
        for (const auto& pc : sel->containers) {
            if (pc.state.status == ec::Status::running || pc.state.status == ec::Status::paused) {
                running.push_back(pc);
            }
        }
        if (running.empty()) {
            std::fprintf(stderr, "no container to kill\n");
        }
        ctx.exit_code = for_each_parallel(running, "Killing", "Killed", [&](const auto& pc) {
            return ec::kill_container(*store, pc.record, sig);
        });
    });
}

void define_rm(CLI::App* cmd, Context& ctx) {
    struct Flags : ServiceFlags {
        bool force = false, stop = false, volumes = false;
    };
    auto f = std::make_shared<Flags>();
    add_service_flags(cmd, *f, "Services", false);  // -f is --force here
    cmd->add_flag("-f,--force", f->force, "Don't ask to confirm removal");
    cmd->add_flag("-s,--stop", f->stop, "Stop the containers, if required, before removing");
    cmd->add_flag("-v,--volumes", f->volumes, "Remove any anonymous volumes attached to containers");
    cmd->callback([f, &ctx] {
        auto sel = select(ctx, *f, true);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        if (f->stop) {
            std::vector<compose::ProjectContainer> running;
            for (const auto& pc : sel->containers) {
                if (is_live(pc.state)) {
                    running.push_back(pc);
                }
            }
            int rc = for_each_parallel(running, "Stopping", "Stopped", [&](const auto& pc) -> Result<void> {
                auto r = ec::stop_container(*store, pc.record);
                if (!r) {
                    return std::move(r).error();
                }
                return {};
            });
            if (rc != 0) {
                ctx.exit_code = rc;
                return;
            }
        }
        std::vector<compose::ProjectContainer> stopped;
        for (const auto& pc : sel->containers) {
            auto st = store->state(pc.record.id);
            if (st && !is_live(*st)) {
                stopped.push_back(pc);
            }
        }
        if (stopped.empty()) {
            std::fprintf(stderr, "No stopped containers\n");
            ctx.exit_code = 0;
            return;
        }
        if (!f->force) {
            std::string names;
            for (const auto& pc : stopped) {
                names += (names.empty() ? "" : ", ") + pc.record.name;
            }
            std::fprintf(stdout, "Going to remove %s\n? Are you sure? [yN] ", names.c_str());
            std::fflush(stdout);
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") {
                ctx.exit_code = 0;
                return;
            }
        }
        ctx.exit_code = for_each_parallel(stopped, "Removing", "Removed", [&](const auto& pc) {
            return ec::remove_container(*store, pc.record, false, f->volumes);
        });
    });
}

void define_pause(CLI::App* cmd, Context& ctx, bool pause) {
    auto f = std::make_shared<ServiceFlags>();
    add_service_flags(cmd, *f);
    cmd->callback([f, pause, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        auto want = pause ? ec::Status::running : ec::Status::paused;
        std::vector<compose::ProjectContainer> targets;
        for (const auto& pc : sel->containers) {
            if (pc.state.status == want) {
                targets.push_back(pc);
            }
        }
        ctx.exit_code = for_each_parallel(targets, pause ? "Pausing" : "Unpausing",
                                          pause ? "Paused" : "Unpaused", [&](const auto& pc) {
                                              return ec::pause_container(*store, pc.record, pause);
                                          });
    });
}

void define_top(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    add_service_flags(cmd, *f);
    cmd->callback([f, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = ec::ContainerStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        ctx.exit_code = 0;
        for (const auto& pc : sel->containers) {
            if (!is_live(pc.state)) {
                continue;
            }
            auto rows = top_rows(*store, pc.record);
            if (!rows) {
                ctx.exit_code = fail(rows.error());
                continue;
            }
            std::printf("%s\n", pc.record.name.c_str());
            print_table(*rows);
            std::printf("\n");
        }
    });
}

void define_port(CLI::App* cmd, Context& ctx) {
    struct Flags {
        ProjectFlags project;
        std::string service;
        std::string private_port;
        std::string protocol = "tcp";
        int index = 1;
    };
    auto f = std::make_shared<Flags>();
    add_project_flags(cmd, f->project);
    cmd->add_option("service", f->service, "Service")->required();
    cmd->add_option("private_port", f->private_port, "Container port")->required();
    cmd->add_option("--protocol", f->protocol, "tcp or udp")
        ->check(CLI::IsMember({"tcp", "udp"}));
    cmd->add_option("--index", f->index, "Index of the container if service has multiple replicas");
    cmd->callback([f, &ctx] {
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, {f->service}); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        int port = std::atoi(f->private_port.c_str());
        if (port <= 0 || port > 65535 || std::to_string(port) != f->private_port) {
            ctx.exit_code = fail(Error(Errc::invalid_argument,
                                       fmt::format("invalid port: {}", f->private_port)));
            return;
        }
        auto paths = ctx.paths();
        auto pc = replica(paths, project->project.name, f->service, f->index, false);
        if (!pc) {
            ctx.exit_code = fail(pc.error());
            return;
        }
        auto ports = netns::container_ports(paths, pc->record.id);
        if (!ports) {
            ctx.exit_code = fail(ports.error());
            return;
        }
        for (const auto& p : *ports) {
            if (p.container_port == port && p.protocol == f->protocol) {
                std::printf("%s:%u\n", p.host_ip.empty() ? "0.0.0.0" : p.host_ip.c_str(),
                            p.host_port);
                ctx.exit_code = 0;
                return;
            }
        }
        ctx.exit_code = fail(Error(Errc::not_found,
                                   fmt::format("no port {}/{} for container {}", port, f->protocol,
                                               pc->record.name)));
    });
}

void define_images(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    auto quiet = std::make_shared<bool>(false);
    auto format = std::make_shared<std::string>("table");
    add_service_flags(cmd, *f);
    cmd->add_flag("-q,--quiet", *quiet, "Only display IDs");
    cmd->add_option("--format", *format, "Format the output: table or json")
        ->check(CLI::IsMember({"table", "json"}));
    cmd->callback([f, quiet, format, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        std::vector<std::vector<std::string>> rows{
            {"CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"}};
        json out = json::array();
        std::set<std::string> ids;
        for (const auto& pc : sel->containers) {
            const auto& rec = pc.record;
            std::string fam = im::familiar(rec.config.image);
            auto colon = fam.rfind(':');
            auto slash = fam.rfind('/');
            std::string repo = fam;
            std::string tag = "latest";
            if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
                repo = fam.substr(0, colon);
                tag = fam.substr(colon + 1);
            }
            int64_t size = 0;
            if (auto img = store->find(rec.image_id); img) {
                size = img->size;
            }
            std::string hex = rec.image_id.substr(rec.image_id.find(':') + 1);
            if (*quiet) {
                if (ids.insert(rec.image_id).second) {
                    std::printf("%s\n", hex.c_str());
                }
                continue;
            }
            rows.push_back({rec.name, repo, tag, hex.substr(0, 12),
                            human_size(static_cast<double>(size))});
            out.push_back({{"ID", rec.image_id},
                           {"ContainerName", rec.name},
                           {"Repository", repo},
                           {"Tag", tag},
                           {"Size", size}});
        }
        if (*quiet) {
            ctx.exit_code = 0;
            return;
        }
        if (*format == "json") {
            std::printf("%s\n", out.dump().c_str());
        } else {
            print_table(rows);
        }
        ctx.exit_code = 0;
    });
}

void define_wait(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<ServiceFlags>();
    auto down_project = std::make_shared<bool>(false);
    add_project_flags(cmd, f->project);
    cmd->add_option("services", f->services, "Services")->required();
    cmd->add_flag("--down-project", *down_project,
                  "Drops project when the first container stops");
    cmd->callback([f, down_project, &ctx] {
        auto sel = select(ctx, *f);
        if (!sel) {
            ctx.exit_code = fail(sel.error());
            return;
        }
        auto paths = ctx.paths();
        auto store = ec::ContainerStore::open(paths);
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        std::mutex mu;
        std::condition_variable cv;
        size_t finished = 0;
        int status = 0;
        bool failed = false;
        std::vector<std::thread> threads;
        for (const auto& pc : sel->containers) {
            threads.emplace_back([&, rec = pc.record] {
                auto code = ec::wait_container(*store, rec);
                std::lock_guard lk(mu);
                if (!code) {
                    std::fprintf(stderr, "berth: %s\n", code.error().message().c_str());
                    failed = true;
                } else {
                    std::printf("container \"%s\" exited with status code %d\n", rec.name.c_str(),
                                *code);
                    std::fflush(stdout);
                    status = *code;
                }
                ++finished;
                cv.notify_all();
            });
        }
        if (*down_project && !threads.empty()) {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return finished > 0; });
            lk.unlock();
            auto r = compose::down(paths, sel->project.project, compose::DownOptions{}, progress,
                                   warn);
            if (!r) {
                failed = true;
                std::fprintf(stderr, "berth: %s\n", r.error().message().c_str());
            }
        }
        for (auto& t : threads) {
            t.join();
        }
        // Compose exits 42 when the wait itself failed, else with the last status.
        ctx.exit_code = failed ? 42 : status;
    });
}

void define_version(CLI::App* cmd, Context& ctx) {
    auto short_flag = std::make_shared<bool>(false);
    auto format = std::make_shared<std::string>("pretty");
    cmd->add_flag("--short", *short_flag, "Shows only Compose's version number");
    cmd->add_option("-f,--format", *format, "Format the output: pretty or json")
        ->check(CLI::IsMember({"pretty", "json"}));
    cmd->callback([short_flag, format, &ctx] {
        // Scripts compare Compose versions to know what a tool supports: the
        // version berth's behaviour and labels follow.
        std::string v(lb::compose_version);
        if (*short_flag) {
            std::printf("%s\n", v.c_str());
        } else if (*format == "json") {
            std::printf("%s\n", json{{"version", "v" + v}}.dump().c_str());
        } else {
            std::printf("berth compose version v%s (berth %s)\n", v.c_str(), BERTH_VERSION);
        }
        ctx.exit_code = 0;
    });
}

/// Seconds since the epoch with microseconds, as Compose prints event times.
std::string event_time(std::chrono::system_clock::time_point t) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    ::localtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return fmt::format("{}.{:06}", buf, us % 1000000);
}

void define_events(CLI::App* cmd, Context& ctx) {
    struct Flags {
        ServiceFlags svc;
        bool json = false;
        std::string since;
        std::string until;
    };
    auto f = std::make_shared<Flags>();
    add_service_flags(cmd, f->svc);
    cmd->add_flag("--json", f->json, "Output events as a stream of json objects");
    cmd->add_option("--since", f->since, "Show all events created since timestamp");
    cmd->add_option("--until", f->until, "Stream events until this timestamp");
    cmd->callback([f, &ctx] {
        auto project = load(f->svc.project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, f->svc.services); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        const auto start = std::chrono::system_clock::now();
        const int64_t start_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
        auto parse_flag = [&](const char* flag,
                              const std::string& text) -> Result<std::optional<int64_t>> {
            if (text.empty()) {
                return std::optional<int64_t>{};
            }
            auto t = ec::parse_event_time(text, start);
            if (!t) {
                return std::move(t).error().wrap(flag);
            }
            return std::optional<int64_t>(*t);
        };
        auto since_flag = parse_flag("--since", f->since);
        auto until_flag = parse_flag("--until", f->until);
        for (const auto* r : {&since_flag, &until_flag}) {
            if (!*r) {
                ctx.exit_code = fail(r->error());
                return;
            }
        }
        // Without --since only what happens from now on, as Compose.
        const int64_t since = since_flag->value_or(start_ns);
        const std::optional<int64_t> until = *until_flag;
        const std::set<std::string> services(f->svc.services.begin(), f->svc.services.end());
        const std::string project_label(lb::project);
        const std::string service_label(lb::service);
        auto emit = [&](const ec::Event& e) {
            std::map<std::string, std::string> attrs{
                {"image", e.attributes.count("image") != 0 ? e.attributes.at("image") : ""},
                {"name", e.attributes.count("name") != 0 ? e.attributes.at("name") : ""}};
            for (const auto* extra : {"exitCode", "signal"}) {
                if (auto it = e.attributes.find(extra); it != e.attributes.end()) {
                    attrs[extra] = it->second;
                }
            }
            const auto when = std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds(e.time_nano)));
            if (f->json) {
                json j{{"time", event_time(when)},
                       {"type", e.type},
                       {"action", e.action},
                       {"id", e.id},
                       {"service", e.attributes.at(service_label)},
                       {"attributes", attrs}};
                std::printf("%s\n", j.dump().c_str());
            } else {
                std::string a;
                for (const auto& [k, v] : attrs) {
                    a += (a.empty() ? "" : ", ") + k + "=" + v;
                }
                std::printf("%s %s %s %s (%s)\n", event_time(when).c_str(), e.type.c_str(),
                            e.action.c_str(), e.id.c_str(), a.c_str());
            }
            std::fflush(stdout);
        };
        // The journal that every berth process appends to (engine/containers/
        // events.hpp): replayed from --since, then followed until --until or
        // until interrupted.
        ec::EventReader reader(ec::events_path(ctx.paths()));
        for (;;) {
            for (const auto& e : reader.next()) {
                auto p = e.attributes.find(project_label);
                auto s = e.attributes.find(service_label);
                if (p == e.attributes.end() || p->second != project->project.name ||
                    s == e.attributes.end() ||
                    (!services.empty() && services.count(s->second) == 0) ||
                    e.time_nano < since || (until && e.time_nano > *until)) {
                    continue;
                }
                emit(e);
            }
            const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
            if (until && now_ns > *until) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ctx.exit_code = 0;
    });
}

im::RegistryOptions registry_options() {
    im::RegistryOptions o;
    if (const char* env = std::getenv("BERTH_INSECURE_REGISTRIES"); env != nullptr) {
        std::string s(env);
        size_t start = 0;
        while (start < s.size()) {
            auto comma = s.find(',', start);
            o.insecure_registries.push_back(s.substr(start, comma - start));
            start = comma == std::string::npos ? s.size() : comma + 1;
        }
    }
    return o;
}

/// The services a pull/push acts on: those named (with their dependencies
/// when `include_deps`), else all.
std::vector<const compose::Service*> chosen_services(const compose::Project& project,
                                                     const std::vector<std::string>& names,
                                                     bool include_deps) {
    std::set<std::string> wanted(names.begin(), names.end());
    if (include_deps && !wanted.empty()) {
        wanted = compose::DependencyGraph::from(project).closure(wanted);
    }
    std::vector<const compose::Service*> out;
    for (const auto& [name, svc] : project.services) {
        if (wanted.empty() || wanted.count(name) != 0) {
            out.push_back(&svc);
        }
    }
    return out;
}

}  // namespace

Result<void> compose_ops::pull_service_images(
    const Paths& paths, const std::vector<const compose::Service*>& services,
    const std::string& policy, bool policy_overrides, bool quiet, bool ignore_failures,
    bool ignore_buildable) {
    auto store = im::ImageStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto opts = registry_options();
    for (const auto* svc : services) {
        if (svc->image.empty() || (ignore_buildable && svc->build)) {
            continue;
        }
        // `up --pull X` overrides the service's pull_policy; `pull --policy X`
        // yields to a service that never pulls or wants only missing images.
        std::string effective = policy;
        if (!policy_overrides) {
            if (svc->pull_policy == "never" || svc->pull_policy == "build") {
                effective = "never";
            } else if (svc->pull_policy == "missing" || svc->pull_policy == "if_not_present") {
                effective = "missing";
            }
        }
        if (effective == "build" || effective == "never" ||
            (effective == "missing" && store->find(svc->image))) {
            if (!quiet) {
                std::fprintf(stderr, " %s Skipped\n", svc->name.c_str());
            }
            continue;
        }
        if (!quiet) {
            std::fprintf(stderr, " %s Pulling\n", svc->name.c_str());
        }
        auto r = im::pull(*store, svc->image, opts);
        if (!r) {
            if (ignore_failures) {
                compose_ops::warn(fmt::format("{}: {}", svc->name, r.error().message()));
                continue;
            }
            return std::move(r).error().wrap(fmt::format("pull {}", svc->image));
        }
        if (!quiet) {
            std::fprintf(stderr, " %s Pulled\n", svc->name.c_str());
        }
    }
    return {};
}

namespace {

void define_pull(CLI::App* cmd, Context& ctx) {
    struct Flags : ServiceFlags {
        bool ignore_failures = false, include_deps = false, quiet = false, ignore_buildable = false;
        std::string policy = "always";
    };
    auto f = std::make_shared<Flags>();
    add_service_flags(cmd, *f);
    cmd->add_flag("--ignore-pull-failures", f->ignore_failures,
                  "Pull what it can and ignores images with pull failures");
    cmd->add_flag("--include-deps", f->include_deps, "Also pull services declared as dependencies");
    cmd->add_flag("--ignore-buildable", f->ignore_buildable, "Ignore images that can be built");
    cmd->add_flag("-q,--quiet", f->quiet, "Pull without printing progress information");
    cmd->add_option("--policy", f->policy, "Apply pull policy (\"missing\"|\"always\")")
        ->check(CLI::IsMember({"missing", "always"}));
    cmd->callback([f, &ctx] {
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, f->services); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        auto r = pull_service_images(ctx.paths(),
                                     chosen_services(project->project, f->services, f->include_deps),
                                     f->policy, false, f->quiet, f->ignore_failures,
                                     f->ignore_buildable);
        ctx.exit_code = r ? 0 : fail(r.error());
    });
}

void define_push(CLI::App* cmd, Context& ctx) {
    struct Flags : ServiceFlags {
        bool ignore_failures = false, include_deps = false, quiet = false;
    };
    auto f = std::make_shared<Flags>();
    add_service_flags(cmd, *f);
    cmd->add_flag("--ignore-push-failures", f->ignore_failures,
                  "Push what it can and ignores images with push failures");
    cmd->add_flag("--include-deps", f->include_deps, "Also push images of services declared as dependencies");
    cmd->add_flag("-q,--quiet", f->quiet, "Push without printing progress information");
    cmd->callback([f, &ctx] {
        auto project = load(f->project);
        if (!project) {
            ctx.exit_code = fail(project.error());
            return;
        }
        if (auto r = check_services(*project, f->services); !r) {
            ctx.exit_code = fail(r.error());
            return;
        }
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = fail(store.error());
            return;
        }
        auto opts = registry_options();
        ctx.exit_code = 0;
        for (const auto* svc : chosen_services(project->project, f->services, f->include_deps)) {
            // As Compose: only images the project builds are pushed.
            if (!svc->build || svc->image.empty()) {
                continue;
            }
            if (!f->quiet) {
                std::fprintf(stderr, " %s Pushing\n", svc->name.c_str());
            }
            auto r = im::push(*store, svc->image, opts);
            if (!r) {
                if (f->ignore_failures) {
                    warn(fmt::format("{}: {}", svc->name, r.error().message()));
                    continue;
                }
                ctx.exit_code = fail(r.error().wrap(fmt::format("push {}", svc->image)));
                return;
            }
            if (!f->quiet) {
                std::fprintf(stderr, " %s Pushed\n", svc->name.c_str());
            }
        }
    });
}

}  // namespace

void add_compose_ops(CLI::App& group, Context& ctx) {
    define_create(group.add_subcommand("create", "Creates containers for a service"), ctx);
    define_start(group.add_subcommand("start", "Start services"), ctx);
    define_stop(group.add_subcommand("stop", "Stop services"), ctx);
    define_restart(group.add_subcommand("restart", "Restart service containers"), ctx);
    define_kill(group.add_subcommand("kill", "Force stop service containers"), ctx);
    define_rm(group.add_subcommand("rm", "Removes stopped service containers"), ctx);
    define_pause(group.add_subcommand("pause", "Pause services"), ctx, true);
    define_pause(group.add_subcommand("unpause", "Unpause services"), ctx, false);
    define_top(group.add_subcommand("top", "Display the running processes"), ctx);
    define_port(group.add_subcommand("port", "Print the public port for a port binding"), ctx);
    define_images(group.add_subcommand("images", "List images used by the created containers"),
                  ctx);
    define_wait(group.add_subcommand("wait", "Block until containers of all (or specified) "
                                             "services stop"),
                ctx);
    define_version(group.add_subcommand("version", "Show the Docker Compose version information"),
                   ctx);
    define_events(group.add_subcommand("events", "Receive real time events from containers"), ctx);
    define_pull(group.add_subcommand("pull", "Pull service images"), ctx);
    define_push(group.add_subcommand("push", "Push service images"), ctx);
    compose_ops::add_compose_exec_commands(group, ctx);
}

}  // namespace berth::cli
