// SPDX-License-Identifier: Apache-2.0
// berth up / down and berth compose up / down / ps / ls.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "cli/commands.hpp"
#include "cli/compose_build.hpp"
#include "cli/compose_ops_support.hpp"
#include "cli/compose_project.hpp"
#include "cli/container_support.hpp"
#include "cli/output.hpp"
#include "cli/progress.hpp"
#include "compose/dry_run.hpp"
#include "compose/graph.hpp"
#include "compose/labels.hpp"
#include "compose/loader.hpp"
#include "compose/orchestrator.hpp"
#include "engine/containers/logfile.hpp"
#include "engine/images/store.hpp"
#include "netns/network.hpp"
#include "volumes/volume_store.hpp"

extern char** environ;

namespace berth::cli {

namespace {

namespace ec = engine::containers;
namespace lb = compose::labels;

/// `--progress`, `--ansi` and `--dry-run` of up and down.
struct OutputFlags {
    std::string progress;  ///< empty: COMPOSE_PROGRESS, else auto
    std::string ansi;      ///< empty: COMPOSE_ANSI, else auto
    bool dry_run = false;
};

struct UpFlags {
    ProjectFlags project;
    OutputFlags output;
    bool detach = false;
    bool force_recreate = false;
    bool no_recreate = false;
    bool no_start = false;
    bool remove_orphans = false;
    int timeout = -1;
    bool wait = false;
    int wait_timeout = 0;
    std::vector<std::string> scale;  ///< SERVICE=N
    bool no_deps = false;
    bool abort_on_exit = false;
    std::string exit_code_from;
    std::vector<std::string> attach;
    std::vector<std::string> no_attach;
    bool attach_dependencies = false;
    bool build = false;
    bool no_build = false;
    std::string pull;  ///< "" (each service's pull_policy "always" only), always, missing, never, build
    std::vector<std::string> services;
};

struct DownFlags {
    ProjectFlags project;
    OutputFlags output;
    bool volumes = false;
    bool remove_orphans = false;
    int timeout = -1;
    std::string rmi;  ///< "", "local" or "all"
};

struct PsFlags {
    ProjectFlags project;
    bool all = false;
    bool quiet = false;
    std::string format;
    std::vector<std::string> services;
};

struct LsFlags {
    bool all = false;
    bool quiet = false;
    std::string format;
};

Result<compose::Project> load(const ProjectFlags& f) {
    auto lo = load_options(f);
    return compose::load_project(lo);
}

/// The project to act on by labels: loaded, or only its name when there is no
/// file but -p was given.
Result<compose::Project> load_or_name(const ProjectFlags& f) {
    auto project = load(f);
    if (!project && !f.project_name.empty() && project.error().code() == Errc::not_found) {
        compose::Project p;
        p.name = compose::normalize_project_name(f.project_name);
        return p;
    }
    return project;
}

/// The progress printer of up/down on stderr, styled by --progress and --ansi
/// (or COMPOSE_PROGRESS and COMPOSE_ANSI) and whether stderr is a terminal.
Result<std::unique_ptr<ProgressPrinter>> progress_printer(const OutputFlags& f) {
    auto setting = [](const std::string& flag, const char* env) {
        const char* v = std::getenv(env);
        return !flag.empty() ? flag : (v != nullptr && *v != '\0' ? std::string(v) : "auto");
    };
    auto mode = parse_progress_mode(setting(f.progress, "COMPOSE_PROGRESS"));
    if (!mode) {
        return std::move(mode).error();
    }
    auto ansi = parse_ansi_mode(setting(f.ansi, "COMPOSE_ANSI"));
    if (!ansi) {
        return std::move(ansi).error();
    }
    const char* term = std::getenv("TERM");
    const char* no_color = std::getenv("NO_COLOR");
    auto style = resolve_progress_style(*mode, *ansi, ::isatty(2) != 0,
                                        term != nullptr ? term : "",
                                        no_color != nullptr && *no_color != '\0');
    struct winsize ws {};
    if (::ioctl(2, TIOCGWINSZ, &ws) == 0) {
        style.rows = ws.ws_row;
    }
    return std::make_unique<ProgressPrinter>(
        style,
        [](std::string_view text) {
            std::fwrite(text.data(), 1, text.size(), stderr);
            std::fflush(stderr);
        },
        [] { return ProgressPrinter::Clock::now(); }, f.dry_run);
}

void add_output_flags(CLI::App* cmd, OutputFlags& f) {
    cmd->add_option("--progress", f.progress,
                    "Set type of progress output (auto, tty, plain, json, quiet)");
    cmd->add_option("--ansi", f.ansi,
                    "Control when to print ANSI control characters (\"never\"|\"always\"|"
                    "\"auto\")");
    cmd->add_flag("--dry-run", f.dry_run, "Execute command in dry run mode");
}

/// The containers of `project` as the planner sees them.
Result<std::vector<compose::ObservedContainer>> observe_containers(const Paths& paths,
                                                                  const std::string& project,
                                                                  bool oneoff) {
    auto list = compose::project_containers(paths, project, oneoff);
    if (!list) {
        return std::move(list).error();
    }
    std::vector<compose::ObservedContainer> out;
    auto label_of = [](const ec::ContainerRecord& rec, std::string_view key) {
        auto it = rec.config.labels.find(std::string(key));
        return it == rec.config.labels.end() ? std::string() : it->second;
    };
    for (const auto& pc : *list) {
        compose::ObservedContainer o;
        o.id = pc.record.id;
        o.name = pc.record.name;
        o.service = pc.service;
        o.number = pc.number;
        o.config_hash = label_of(pc.record, lb::config_hash);
        o.image_id = pc.record.image_id;
        o.running = pc.state.status == ec::Status::running ||
                    pc.state.status == ec::Status::restarting ||
                    pc.state.status == ec::Status::paused;
        o.oneoff = label_of(pc.record, lb::oneoff) == "True";
        out.push_back(std::move(o));
    }
    return out;
}

/// What exists now for a dry run: the project's containers, all networks and
/// volumes, and with `project` the local image id of each service (never
/// pulled or seeded).
Result<compose::DryRunObserved> observe(const Paths& paths, const compose::Project& project,
                                        bool oneoff) {
    compose::DryRunObserved out;
    auto containers = observe_containers(paths, project.name, oneoff);
    if (!containers) {
        return std::move(containers).error();
    }
    out.containers = std::move(*containers);
    auto nets = netns::read_networks(paths);
    if (!nets) {
        return std::move(nets).error();
    }
    for (const auto& n : *nets) {
        out.networks.push_back({n.name, n.labels});
    }
    auto vstore = volumes::VolumeStore::open(paths);
    if (!vstore) {
        return std::move(vstore).error();
    }
    auto vols = vstore->list();
    if (!vols) {
        return std::move(vols).error();
    }
    for (const auto& v : *vols) {
        out.volumes.push_back({v.name, v.labels});
    }
    auto images = engine::images::ImageStore::open(paths);
    for (const auto& [name, svc] : project.services) {
        if (!images || svc.image.empty()) {
            continue;
        }
        if (auto image = images->find(svc.image)) {
            out.image_ids[name] = image->id;
        }
    }
    return out;
}

/// Prints a dry run's plan through `printer`, orphans as a warning.
void print_dry_run(ProgressPrinter& printer, const compose::DryRun& plan) {
    for (const auto& step : plan.steps) {
        printer.event(step.kind, step.name,
                      step.reason.empty() ? step.action
                                          : fmt::format("{} ({})", step.action, step.reason));
    }
    if (!plan.orphans.empty()) {
        std::string names;
        for (const auto& n : plan.orphans) {
            names += (names.empty() ? "" : " ") + n;
        }
        printer.warning(fmt::format("Found orphan containers ([{}]) for this project. If you "
                                    "removed or renamed this service in your compose file, you "
                                    "can run this command with the --remove-orphans flag to "
                                    "clean it up.",
                                    names));
    }
    printer.finish();
}

int fail(const Error& error) {
    std::fprintf(stderr, "berth: %s\n", error.message().c_str());
    return 1;
}

compose::EngineHooks engine_hooks(const Paths& paths) {
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

std::atomic<int> interrupted{0};

void on_interrupt(int) { interrupted.fetch_add(1); }

/// How attached `up` ends.
struct AttachOptions {
    std::set<std::string> services;  ///< the services followed and stopped (empty: all)
    std::set<std::string> shown;     ///< whose logs to show (all of `services`: empty)
    std::set<std::string> hidden;    ///< followed, logs not shown (`--no-attach`)
    bool abort_on_exit = false;      ///< stop everything when one container exits
    std::string exit_code_from;      ///< return this service's exit code (implies abort)
    int timeout = -1;
};

/// SIGKILLs the running containers of `services` (the second Ctrl+C).
void kill_all(const Paths& paths, const compose::Project& project,
              const std::set<std::string>& services) {
    auto store = ec::ContainerStore::open(paths);
    auto list = compose::project_containers(paths, project.name);
    if (!store || !list) {
        return;
    }
    for (const auto& pc : *list) {
        if (!services.empty() && services.count(pc.service) == 0) {
            continue;
        }
        auto r = ec::kill_container(*store, pc.record, SIGKILL);
        (void)r;  // Already stopped: nothing to kill.
    }
}

/// Attached `up`: follows the logs of the project's containers with a
/// "service-1  | " prefix until they all exit; the first SIGINT/SIGTERM stops
/// them gracefully, the second kills them. With abort_on_exit, the first
/// container to exit stops all of them.
int attach_logs(const Paths& paths, const compose::Project& project, const AttachOptions& ao,
                ProgressPrinter& printer) {
    auto list = compose::project_containers(paths, project.name);
    if (!list) {
        return fail(list.error());
    }
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return fail(store.error());
    }
    const auto& services = ao.services;
    const auto& shown = ao.shown;
    std::vector<compose::ProjectContainer> targets;
    size_t width = 0;
    std::string names;
    auto short_name = [&](const ec::ContainerRecord& rec) {
        std::string prefix = project.name + "-";
        return rec.name.rfind(prefix, 0) == 0 ? rec.name.substr(prefix.size()) : rec.name;
    };
    for (auto& pc : *list) {
        if (!services.empty() && services.count(pc.service) == 0 &&
            shown.count(pc.service) == 0) {
            continue;
        }
        if ((shown.empty() || shown.count(pc.service) != 0) && ao.hidden.count(pc.service) == 0) {
            width = std::max(width, short_name(pc.record).size());
            names += (names.empty() ? "" : ", ") + short_name(pc.record);
        }
        targets.push_back(std::move(pc));
    }
    std::printf("Attaching to %s\n", names.c_str());
    std::fflush(stdout);
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::mutex out_mu;
    std::atomic<bool> stop_following{false};
    std::atomic<size_t> finished{0};
    // The first container to exit (for --abort-on-container-exit) and the
    // exit code of --exit-code-from's container.
    std::optional<int> first_exit;
    std::optional<int> service_exit;
    std::vector<std::thread> threads;
    for (const auto& pc : targets) {
        bool show = (shown.empty() || shown.count(pc.service) != 0) &&
                    ao.hidden.count(pc.service) == 0;
        threads.emplace_back([&, rec = pc.record, service = pc.service, show] {
            auto prefix = fmt::format("{:<{}} | ", short_name(rec), width + 1);
            ec::LogReadOptions opts;
            opts.follow = true;
            const auto* s = &*store;
            opts.keep_following = [s, id = rec.id, &stop_following] {
                if (stop_following.load()) {
                    return false;
                }
                auto st = s->state(id);
                return st && (st->status == ec::Status::running ||
                              st->status == ec::Status::restarting ||
                              st->status == ec::Status::paused);
            };
            auto r = ec::read_log(store->dir(rec.id) / (rec.id + "-json.log"), opts,
                                  [&](const ec::LogRecord& lr) {
                                      if (!show) {
                                          return true;
                                      }
                                      std::lock_guard lk(out_mu);
                                      std::string text = lr.text;
                                      if (text.empty() || text.back() != '\n') {
                                          text += '\n';
                                      }
                                      std::fputs((prefix + text).c_str(), stdout);
                                      std::fflush(stdout);
                                      return true;
                                  });
            (void)r;
            auto st = store->state(rec.id);
            {
                std::lock_guard lk(out_mu);
                if (st && !stop_following.load()) {
                    if (show) {
                        std::printf("%s exited with code %d\n", short_name(rec).c_str(),
                                    st->exit_code);
                        std::fflush(stdout);
                    }
                    if (!first_exit) {
                        first_exit = st->exit_code;
                    }
                }
                if (st && service == ao.exit_code_from && !service_exit) {
                    service_exit = st->exit_code;
                }
            }
            finished.fetch_add(1);
        });
    }
    const bool abort_on_exit = ao.abort_on_exit || !ao.exit_code_from.empty();
    std::thread stopper;
    bool stopping = false;
    bool killed = false;
    bool aborted = false;
    while (finished.load() < threads.size()) {
        bool exited = false;
        {
            std::lock_guard lk(out_mu);
            exited = first_exit.has_value();
        }
        if (!stopping && (interrupted.load() > 0 || (abort_on_exit && exited))) {
            stopping = true;
            aborted = interrupted.load() == 0;
            std::fprintf(stderr, aborted ? "Aborting on container exit...\n"
                                         : "Gracefully stopping... (press Ctrl+C again to "
                                           "force)\n");
            stopper = std::thread([&] {
                auto r = compose::stop(paths, project, services, ao.timeout,
                                       printer.callback());
                printer.finish();
                if (!r) {
                    printer.warning(r.error().message());
                }
                stop_following.store(true);
            });
        }
        if (stopping && !killed && interrupted.load() > 1) {
            killed = true;
            std::fprintf(stderr, "Killing...\n");
            kill_all(paths, project, services);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& t : threads) {
        t.join();
    }
    if (stopper.joinable()) {
        stopper.join();
    }
    if (!ao.exit_code_from.empty()) {
        return service_exit.value_or(0);
    }
    if (aborted) {
        return first_exit.value_or(0);
    }
    return stopping ? 130 : 0;
}

/// Parses `--scale SERVICE=N` values.
Result<std::map<std::string, int>> parse_scale(const std::vector<std::string>& values) {
    std::map<std::string, int> out;
    for (const auto& v : values) {
        auto eq = v.find('=');
        const char* num = eq == std::string::npos ? nullptr : v.c_str() + eq + 1;
        char* end = nullptr;
        long n = num != nullptr && *num != '\0' ? std::strtol(num, &end, 10) : -1;
        if (eq == 0 || num == nullptr || end == nullptr || *end != '\0' || n < 0 ||
            n > 10000) {
            return Error(Errc::invalid_argument,
                         fmt::format("invalid --scale value \"{}\": expected SERVICE=N", v));
        }
        out[v.substr(0, eq)] = static_cast<int>(n);
    }
    return out;
}

int run_up(const Context& ctx, const UpFlags& f) {
    auto printer = progress_printer(f.output);
    if (!printer) {
        return fail(printer.error());
    }
    auto& progress = **printer;
    auto project = load(f.project);
    if (!project) {
        return fail(project.error());
    }
    for (const auto& w : project->warnings) {
        progress.warning(w);
    }
    auto scale = parse_scale(f.scale);
    if (!scale) {
        return fail(scale.error());
    }
    if (f.wait && (f.abort_on_exit || !f.exit_code_from.empty())) {
        return fail(Error(Errc::invalid_argument,
                          "--wait cannot be combined with --abort-on-container-exit or "
                          "--exit-code-from"));
    }
    if (f.detach && (f.abort_on_exit || !f.exit_code_from.empty() || !f.attach.empty() ||
                     !f.no_attach.empty() || f.attach_dependencies)) {
        return fail(Error(Errc::invalid_argument,
                          "--detach cannot be combined with --abort-on-container-exit, "
                          "--exit-code-from, --attach, --no-attach or --attach-dependencies"));
    }
    if (f.build && f.no_build) {
        return fail(Error(Errc::invalid_argument, "--build and --no-build are incompatible"));
    }
    // Pulls first: every image with --pull always (missing: those not in the
    // store); without --pull, only services whose pull_policy is "always" (a
    // missing image is otherwise an error at create, never a surprise pull).
    if (!f.output.dry_run) {
        std::vector<const compose::Service*> to_pull;
        for (const auto& [name, svc] : project->services) {
            bool selected = f.services.empty() ||
                            std::find(f.services.begin(), f.services.end(), name) != f.services.end();
            if (selected && (!f.pull.empty() || svc.pull_policy == "always")) {
                to_pull.push_back(&svc);
            }
        }
        if (!to_pull.empty()) {
            auto pulled = compose_ops::pull_service_images(
                ctx.paths(), to_pull, f.pull.empty() ? "always" : f.pull, !f.pull.empty(),
                f.output.progress == "quiet", false, true);
            if (!pulled) {
                return fail(pulled.error());
            }
        }
    }
    // Services with `build:` get their image here: always with --build, else
    // only when it is not in the store yet (as Compose does); never with --no-build.
    name_built_images(*project);
    if (!f.no_build && !f.output.dry_run) {
        ComposeBuildOptions bo;
        bo.only_missing = !f.build;
        if (const char* lim = std::getenv("COMPOSE_PARALLEL_LIMIT")) {
            bo.parallel = std::max(1, std::atoi(lim));
        }
        if (auto r = build_services(ctx.paths(), *project, bo); !r) {
            return fail(r.error());
        }
    }
    compose::UpOptions opts;
    opts.force_recreate = f.force_recreate;
    opts.no_recreate = f.no_recreate;
    opts.no_start = f.no_start;
    opts.remove_orphans = f.remove_orphans;
    opts.timeout = f.timeout;
    opts.services.insert(f.services.begin(), f.services.end());
    opts.no_deps = f.no_deps;
    opts.scale = std::move(*scale);
    for (const auto* names : {&f.attach, &f.no_attach}) {
        for (const auto& name : *names) {
            if (project->services.count(name) == 0) {
                return fail(Error(Errc::not_found, fmt::format("no such service: {}", name)));
            }
        }
    }
    if (!f.exit_code_from.empty() && project->services.count(f.exit_code_from) == 0) {
        return fail(Error(Errc::not_found, fmt::format("no such service: {}", f.exit_code_from)));
    }
    if (const char* limit = std::getenv("COMPOSE_PARALLEL_LIMIT"); limit && *limit) {
        opts.parallel_limit = std::max(1, std::atoi(limit));
    }
    auto paths = ctx.paths();
    if (f.output.dry_run) {
        auto observed = observe(paths, *project, false);
        if (!observed) {
            return fail(observed.error());
        }
        auto plan = compose::dry_run_up(*project, opts, *observed);
        if (!plan) {
            return fail(plan.error());
        }
        print_dry_run(progress, *plan);
        return 0;
    }
    Result<void> r;
    {
        ProgressTicker ticker(progress, std::chrono::milliseconds(100));
        r = compose::up(paths, *project, opts, engine_hooks(paths), progress.callback(),
                        [&progress](std::string_view w) { progress.warning(w); });
        if (r && f.wait && !f.no_start) {
            r = compose::wait_healthy(paths, *project, opts.services,
                                      std::chrono::seconds(std::max(f.wait_timeout, 0)),
                                      progress.callback());
        }
    }
    progress.finish();
    if (!r) {
        return fail(r.error());
    }
    if (f.wait && !f.no_start) {
        return 0;
    }
    if (f.detach || f.no_start) {
        return 0;
    }
    // As Compose: `up SERVICE...` follows those services (and, with
    // --attach-dependencies, what they depend on); --attach narrows the logs
    // shown, --no-attach hides some.
    AttachOptions ao;
    ao.services = opts.services;
    if (!ao.services.empty() && f.attach_dependencies) {
        ao.services = compose::DependencyGraph::from(*project).closure(ao.services);
    }
    if (!ao.services.empty() && !f.exit_code_from.empty()) {
        ao.services.insert(f.exit_code_from);
    }
    ao.shown.insert(f.attach.begin(), f.attach.end());
    ao.hidden.insert(f.no_attach.begin(), f.no_attach.end());
    ao.abort_on_exit = f.abort_on_exit;
    ao.exit_code_from = f.exit_code_from;
    ao.timeout = f.timeout;
    return attach_logs(paths, *project, ao, progress);
}

/// The images `down --rmi` removes: with `all` every service's image; with
/// `local` only those without a custom tag, i.e. the `<project>-<service>`
/// names of built services (Compose's rule). Services come from the model, or
/// from the project's containers when only the name was given.
std::set<std::string> images_to_remove(const compose::Project& project,
                                       const std::vector<compose::ProjectContainer>& containers,
                                       bool all) {
    std::set<std::string> out;
    for (const auto& [name, svc] : project.services) {
        if (svc.image.empty()) {
            if (svc.build) {
                out.insert(project.name + "-" + name);
            }
        } else if (all) {
            out.insert(svc.image);
        }
    }
    if (project.services.empty()) {
        for (const auto& pc : containers) {
            const auto& image = pc.record.config.image;
            if (all || image == project.name + "-" + pc.service) {
                out.insert(image);
            }
        }
    }
    return out;
}

/// Removes each image by name as `rmi` does (never one a container still
/// uses); a missing one is skipped.
Result<void> remove_images(const Paths& paths, const std::set<std::string>& images,
                           ProgressPrinter& progress) {
    auto store = engine::images::ImageStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto users = image_users(paths);
    auto report = progress.callback();
    std::vector<std::string> errors;
    for (const auto& ref : images) {
        if (!store->find(ref)) {
            continue;
        }
        report("Image", ref, "Removing");
        auto r = store->remove(ref, false, users);
        if (!r) {
            errors.push_back(fmt::format("image {}: {}", ref, r.error().message()));
            continue;
        }
        report("Image", ref, "Removed");
    }
    if (!errors.empty()) {
        return Error(Errc::conflict, fmt::format("{}", fmt::join(errors, "; ")));
    }
    return {};
}

int run_down(const Context& ctx, const DownFlags& f) {
    auto printer = progress_printer(f.output);
    if (!printer) {
        return fail(printer.error());
    }
    auto& progress = **printer;
    auto project = load_or_name(f.project);
    if (!project) {
        return fail(project.error());
    }
    compose::DownOptions opts;
    opts.volumes = f.volumes;
    opts.remove_orphans = f.remove_orphans;
    opts.timeout = f.timeout;
    if (f.output.dry_run) {
        auto observed = observe(ctx.paths(), *project, true);
        if (!observed) {
            return fail(observed.error());
        }
        print_dry_run(progress, compose::dry_run_down(*project, opts, *observed));
        return 0;
    }
    // --rmi: the images the services use, found before their containers go
    // (a project named without its file is known by its containers only).
    std::set<std::string> rmi_images;
    if (!f.rmi.empty()) {
        auto observed = compose::project_containers(ctx.paths(), project->name, true);
        if (!observed) {
            return fail(observed.error());
        }
        rmi_images = images_to_remove(*project, *observed, f.rmi == "all");
    }
    Result<void> r;
    {
        ProgressTicker ticker(progress, std::chrono::milliseconds(100));
        r = compose::down(ctx.paths(), *project, opts, progress.callback(),
                          [&progress](std::string_view w) { progress.warning(w); });
        if (r && !rmi_images.empty()) {
            r = remove_images(ctx.paths(), rmi_images, progress);
        }
    }
    progress.finish();
    if (!r) {
        return fail(r.error());
    }
    return 0;
}

std::vector<std::string> command_of(const ec::ContainerRecord& rec) {
    std::vector<std::string> args;
    const auto& ic = rec.image_config;
    if (rec.config.entrypoint) {
        args = *rec.config.entrypoint;
    } else if (ic.contains("Entrypoint") && ic["Entrypoint"].is_array()) {
        args = ic["Entrypoint"].get<std::vector<std::string>>();
    }
    if (!rec.config.cmd.empty()) {
        args.insert(args.end(), rec.config.cmd.begin(), rec.config.cmd.end());
    } else if (!rec.config.entrypoint && ic.contains("Cmd") && ic["Cmd"].is_array()) {
        auto cmd = ic["Cmd"].get<std::vector<std::string>>();
        args.insert(args.end(), cmd.begin(), cmd.end());
    }
    return args;
}

std::string label(const ec::ContainerRecord& rec, std::string_view key) {
    auto it = rec.config.labels.find(std::string(key));
    return it == rec.config.labels.end() ? std::string() : it->second;
}

int run_ps(const Context& ctx, const PsFlags& f) {
    auto project = load_or_name(f.project);
    if (!project) {
        return fail(project.error());
    }
    auto list = compose::project_containers(ctx.paths(), project->name);
    if (!list) {
        return fail(list.error());
    }
    std::set<std::string> only(f.services.begin(), f.services.end());
    std::vector<std::vector<std::string>> rows{
        {"NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"}};
    for (const auto& pc : *list) {
        const auto& rec = pc.record;
        bool running = pc.state.status == ec::Status::running ||
                       pc.state.status == ec::Status::restarting ||
                       pc.state.status == ec::Status::paused;
        if ((!f.all && !running) || (!only.empty() && only.count(pc.service) == 0)) {
            continue;
        }
        if (f.quiet) {
            std::printf("%s\n", rec.id.c_str());
            continue;
        }
        nlohmann::json publishers = nlohmann::json::array();
        std::vector<std::string> ports;
        for (const auto& p : rec.config.publish) {
            auto bindings = netns::parse_port_spec(p);
            if (!bindings) {
                continue;
            }
            for (const auto& b : *bindings) {
                std::string ip = b.host_ip.empty() ? "0.0.0.0" : b.host_ip;
                publishers.push_back({{"URL", ip},
                                      {"TargetPort", b.container_port},
                                      {"PublishedPort", b.host_port},
                                      {"Protocol", b.protocol}});
                ports.push_back(running && b.host_port != 0
                                    ? fmt::format("{}:{}->{}/{}", ip, b.host_port,
                                                  b.container_port, b.protocol)
                                    : fmt::format("{}/{}", b.container_port, b.protocol));
            }
        }
        std::string ports_text;
        for (const auto& p : ports) {
            ports_text += (ports_text.empty() ? "" : ", ") + p;
        }
        auto cmd = command_of(rec);
        double created = parse_time(rec.created);
        std::string status = status_text(pc.state);
        if (f.format == "json") {
            nlohmann::json j{{"ID", rec.id},
                             {"Name", rec.name},
                             {"Image", rec.config.image},
                             {"Command", quote_command(cmd, false)},
                             {"Project", project->name},
                             {"Service", pc.service},
                             {"Created", static_cast<int64_t>(created)},
                             {"State", std::string(ec::to_string(pc.state.status))},
                             {"Status", status},
                             {"Health", pc.state.health_status},
                             {"ExitCode", pc.state.exit_code},
                             {"Publishers", publishers}};
            std::printf("%s\n", j.dump().c_str());
            continue;
        }
        rows.push_back({rec.name, rec.config.image, quote_command(cmd, true), pc.service,
                        human_duration(now_seconds() - created) + " ago", status, ports_text});
    }
    if (!f.quiet && f.format != "json") {
        print_table(rows);
    }
    return 0;
}

int run_ls(const Context& ctx, const LsFlags& f) {
    auto list = compose::project_containers(ctx.paths(), "");
    if (!list) {
        return fail(list.error());
    }
    struct Entry {
        std::map<std::string, int> states;
        std::string files;
        bool running = false;
    };
    std::map<std::string, Entry> projects;
    for (const auto& pc : *list) {
        auto& e = projects[label(pc.record, lb::project)];
        e.states[std::string(ec::to_string(pc.state.status))]++;
        e.running = e.running || pc.state.status == ec::Status::running;
        if (e.files.empty()) {
            e.files = label(pc.record, lb::config_files);
        }
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "STATUS", "CONFIG FILES"}};
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, e] : projects) {
        if (!f.all && !e.running) {
            continue;
        }
        std::string status;
        for (const auto& [state, n] : e.states) {
            status += fmt::format("{}{}({})", status.empty() ? "" : ", ", state, n);
        }
        if (f.quiet) {
            std::printf("%s\n", name.c_str());
            continue;
        }
        rows.push_back({name, status, e.files});
        out.push_back({{"Name", name}, {"Status", status}, {"ConfigFiles", e.files}});
    }
    if (f.quiet) {
        return 0;
    }
    if (f.format == "json") {
        std::printf("%s\n", out.dump().c_str());
    } else {
        print_table(rows);
    }
    return 0;
}

void define_up(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<UpFlags>();
    add_project_flags(cmd, f->project);
    cmd->add_flag("-d,--detach", f->detach, "Detached mode: run containers in the background");
    cmd->add_flag("--force-recreate", f->force_recreate,
                  "Recreate containers even if their configuration has not changed");
    cmd->add_flag("--no-recreate", f->no_recreate, "Do not recreate existing containers");
    cmd->add_flag("--no-start", f->no_start, "Do not start the services after creating them");
    cmd->add_flag("--remove-orphans", f->remove_orphans,
                  "Remove containers for services not defined in the Compose file");
    cmd->add_option("-t,--timeout", f->timeout, "Shutdown timeout in seconds");
    cmd->add_flag("--wait", f->wait,
                  "Wait for services to be running|healthy. Implies detached mode");
    cmd->add_option("--wait-timeout", f->wait_timeout,
                    "Maximum duration in seconds to wait for the project to be running|healthy");
    cmd->add_option("--scale", f->scale,
                    "Scale SERVICE to NUM instances. Overrides the scale setting in the Compose "
                    "file if present")
        ->type_name("SERVICE=NUM")
        ->expected(1);
    cmd->add_flag("--no-deps", f->no_deps, "Don't start linked services");
    cmd->add_flag("--build", f->build, "Build images before starting containers");
    cmd->add_flag("--no-build", f->no_build, "Don't build an image, even if it's missing");
    cmd->add_option("--pull", f->pull,
                    "Pull image before running (\"always\"|\"missing\"|\"never\"|\"build\")")
        ->check(CLI::IsMember({"always", "missing", "never", "build"}));
    cmd->add_flag("--abort-on-container-exit", f->abort_on_exit,
                  "Stops all containers if any container was stopped");
    cmd->add_option("--exit-code-from", f->exit_code_from,
                    "Return the exit code of the selected service container. Implies "
                    "--abort-on-container-exit");
    cmd->add_option("--attach", f->attach, "Restrict attaching to the specified services")
        ->expected(1);
    cmd->add_option("--no-attach", f->no_attach, "Do not attach (stream logs) to the specified "
                                                  "services")
        ->expected(1);
    cmd->add_flag("--attach-dependencies", f->attach_dependencies,
                  "Automatically attach to log output of dependent services");
    cmd->add_option("services", f->services, "Services to start");
    add_output_flags(cmd, f->output);
    cmd->callback([f, &ctx] { ctx.exit_code = run_up(ctx, *f); });
}

void define_down(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<DownFlags>();
    add_project_flags(cmd, f->project);
    cmd->add_flag("-v,--volumes", f->volumes, "Remove named volumes and anonymous volumes");
    cmd->add_flag("--remove-orphans", f->remove_orphans,
                  "Remove containers for services not defined in the Compose file");
    cmd->add_option("-t,--timeout", f->timeout, "Shutdown timeout in seconds");
    cmd->add_option("--rmi", f->rmi,
                    "Remove images used by services. \"local\" remove only images that don't "
                    "have a custom tag (\"local\"|\"all\")")
        ->check(CLI::IsMember({"local", "all"}));
    add_output_flags(cmd, f->output);
    cmd->callback([f, &ctx] { ctx.exit_code = run_down(ctx, *f); });
}

void define_ps(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<PsFlags>();
    add_project_flags(cmd, f->project);
    cmd->add_flag("-a,--all", f->all, "Show all stopped containers");
    cmd->add_flag("-q,--quiet", f->quiet, "Only display IDs");
    cmd->add_option("--format", f->format, "Format the output: table or json");
    cmd->add_option("services", f->services, "Services to list");
    cmd->callback([f, &ctx] { ctx.exit_code = run_ps(ctx, *f); });
}

void define_ls(CLI::App* cmd, Context& ctx) {
    auto f = std::make_shared<LsFlags>();
    cmd->add_flag("-a,--all", f->all, "Show all stopped Compose projects");
    cmd->add_flag("-q,--quiet", f->quiet, "Only display project names");
    cmd->add_option("--format", f->format, "Format the output: table or json");
    cmd->callback([f, &ctx] { ctx.exit_code = run_ls(ctx, *f); });
}

}  // namespace

void add_compose_commands(CLI::App& app, Context& ctx) {
    define_up(app.add_subcommand("up", "Create and start containers of a compose project"), ctx);
    define_down(app.add_subcommand("down", "Stop and remove containers, networks of a project"),
                ctx);
    CLI::App* group = nullptr;
    for (auto* sub : app.get_subcommands([](CLI::App* a) { return a->get_name() == "compose"; })) {
        group = sub;
    }
    if (group == nullptr) {
        group = app.add_subcommand("compose", "Docker Compose compatible commands");
        group->require_subcommand(1);
    }
    define_up(group->add_subcommand("up", "Create and start containers"), ctx);
    define_down(group->add_subcommand("down", "Stop and remove containers, networks"), ctx);
    define_ps(group->add_subcommand("ps", "List containers of a project"), ctx);
    define_ls(group->add_subcommand("ls", "List running compose projects"), ctx);
    add_compose_ops(*group, ctx);
    add_compose_build(*group, ctx);
}

}  // namespace berth::cli
