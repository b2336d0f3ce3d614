// SPDX-License-Identifier: Apache-2.0
// `run`, `create` and `start`.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/container_support.hpp"
#include "common/digest.hpp"
#include "common/duration.hpp"
#include "common/scope_exit.hpp"
#include "common/unique_fd.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/spec.hpp"

namespace berth::cli {

namespace ec = engine::containers;

namespace {

/// The flags `run` and `create` share.
struct CreateFlags {
    std::string name;
    std::vector<std::string> env;
    std::vector<std::string> env_files;
    std::string workdir;
    std::string user;
    std::string hostname;
    std::string domainname;
    std::string entrypoint;
    bool entrypoint_set = false;
    bool init = false;
    bool tty = false;
    bool interactive = false;
    std::string memory;
    std::string memory_swap;
    std::string cpus;
    int64_t cpu_shares = 0;
    int64_t pids_limit = 0;
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    bool privileged = false;
    bool read_only = false;
    MountFlags mounts;
    std::vector<std::string> labels;
    std::string restart = "no";
    std::string stop_signal;
    int stop_timeout = -1;
    std::string runtime;
    bool rm = false;
    std::vector<std::string> security_opts;
    std::vector<std::string> ulimits;
    int oom_score_adj = 0;
    bool oom_score_adj_set = false;
    std::string network = "bridge";
    std::vector<std::string> network_aliases;
    std::string ip;
    std::string ip6;
    std::vector<std::string> publish;
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;
    std::vector<std::string> dns_options;
    std::vector<std::string> add_hosts;
    std::string health_cmd;
    std::string health_interval;
    std::string health_timeout;
    std::string health_start_period;
    int health_retries = 0;
    bool no_healthcheck = false;
    std::vector<std::string> sysctls;
    std::string shm_size;
};

void add_create_flags(CLI::App* cmd, CreateFlags& f) {
    // -h is --hostname in Docker's run and create, so help is only --help.
    cmd->set_help_flag("--help", "Print this help message and exit");
    cmd->add_option("--name", f.name, "Assign a name to the container");
    cmd->add_option("-e,--env", f.env, "Set environment variables");
    cmd->add_option("--env-file", f.env_files, "Read in a file of environment variables");
    cmd->add_option("-w,--workdir", f.workdir, "Working directory inside the container");
    cmd->add_option("-u,--user", f.user, "Username or UID (format: <name|uid>[:<group|gid>])");
    cmd->add_option("-h,--hostname", f.hostname, "Container host name");
    cmd->add_option("--domainname", f.domainname, "Container NIS domain name");
    cmd->add_option("--entrypoint", f.entrypoint, "Overwrite the default ENTRYPOINT of the image")
        ->each([&f](const std::string&) { f.entrypoint_set = true; });
    cmd->add_flag("--init", f.init, "Run an init inside the container that forwards signals and reaps processes");
    cmd->add_flag("-t,--tty", f.tty, "Allocate a pseudo-TTY");
    cmd->add_flag("-i,--interactive", f.interactive, "Keep STDIN open even if not attached");
    cmd->add_option("-m,--memory", f.memory, "Memory limit");
    cmd->add_option("--memory-swap", f.memory_swap, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap");
    cmd->add_option("--cpus", f.cpus, "Number of CPUs");
    cmd->add_option("-c,--cpu-shares", f.cpu_shares, "CPU shares (relative weight)");
    cmd->add_option("--pids-limit", f.pids_limit, "Tune container pids limit (set -1 for unlimited)");
    cmd->add_option("--cap-add", f.cap_add, "Add Linux capabilities");
    cmd->add_option("--cap-drop", f.cap_drop, "Drop Linux capabilities");
    cmd->add_flag("--privileged", f.privileged, "Give extended privileges to this container");
    cmd->add_flag("--read-only", f.read_only, "Mount the container's root filesystem as read only");
    cmd->add_option("-v,--volume", f.mounts.volumes, "Bind mount a volume");
    cmd->add_option("--mount", f.mounts.mounts, "Attach a filesystem mount to the container");
    cmd->add_option("--tmpfs", f.mounts.tmpfs, "Mount a tmpfs directory");
    cmd->add_option("-l,--label", f.labels, "Set meta data on a container");
    cmd->add_option("--restart", f.restart, "Restart policy to apply when a container exits");
    cmd->add_option("--stop-signal", f.stop_signal, "Signal to stop the container");
    cmd->add_option("--stop-timeout", f.stop_timeout, "Timeout (in seconds) to stop a container");
    cmd->add_option("--runtime", f.runtime, "Path of an OCI runtime (runc, crun) to use instead of the built-in one");
    cmd->add_option("--security-opt", f.security_opts, "Security options (no-new-privileges, seccomp=unconfined|PROFILE.json)");
    cmd->add_option("--ulimit", f.ulimits, "Ulimit options (nofile=1024:2048)");
    cmd->add_option("--oom-score-adj", f.oom_score_adj, "Tune host's OOM preferences (-1000 to 1000)")
        ->each([&f](const std::string&) { f.oom_score_adj_set = true; });
    cmd->add_option("--network,--net", f.network, "Connect a container to a network (bridge, host, none, container:<name|id>, or a network)");
    cmd->add_option("--network-alias", f.network_aliases, "Add network-scoped alias for the container");
    cmd->add_option("--ip", f.ip, "IPv4 address (e.g., 172.30.100.104)");
    cmd->add_option("--ip6", f.ip6, "IPv6 address (e.g., 2001:db8::33)");
    cmd->add_option("-p,--publish", f.publish, "Publish a container's port(s) to the host");
    cmd->add_option("--dns", f.dns, "Set custom DNS servers");
    cmd->add_option("--dns-search", f.dns_search, "Set custom DNS search domains");
    cmd->add_option("--dns-option", f.dns_options, "Set DNS options");
    cmd->add_option("--add-host", f.add_hosts, "Add a custom host-to-IP mapping (host:ip)");
    cmd->add_option("--health-cmd", f.health_cmd, "Command to run to check health");
    cmd->add_option("--health-interval", f.health_interval, "Time between running the check");
    cmd->add_option("--health-timeout", f.health_timeout, "Maximum time to allow one check to run");
    cmd->add_option("--health-start-period", f.health_start_period, "Start period for the container to initialize");
    cmd->add_option("--health-retries", f.health_retries, "Consecutive failures needed to report unhealthy");
    cmd->add_flag("--no-healthcheck", f.no_healthcheck, "Disable any container-specified HEALTHCHECK");
    cmd->add_option("--sysctl", f.sysctls, "Sysctl options");
    cmd->add_option("--shm-size", f.shm_size, "Size of /dev/shm");
}

/// A Go duration ("30s", "1m30s", "500ms") in nanoseconds; "" is 0 (unset).
Result<int64_t> parse_duration_ns(const std::string& text) {
    if (text.empty()) {
        return int64_t{0};
    }
    return parse_go_duration(text);
}

Result<ec::ContainerConfig> config_from_flags(const CreateFlags& f, const std::string& image,
                                              const std::vector<std::string>& cmd) {
    ec::ContainerConfig c;
    c.image = image;
    c.cmd = cmd;
    if (f.entrypoint_set) {
        c.entrypoint = f.entrypoint.empty() ? std::vector<std::string>{}
                                            : std::vector<std::string>{f.entrypoint};
    }
    for (const auto& file : f.env_files) {
        auto vars = read_env_file(file);
        if (!vars) {
            return std::move(vars).error();
        }
        c.env.insert(c.env.end(), vars->begin(), vars->end());
    }
    for (const auto& e : f.env) {
        if (e.find('=') == std::string::npos) {
            if (const char* v = std::getenv(e.c_str()); v != nullptr) {
                c.env.push_back(e + "=" + v);
            }
            continue;
        }
        c.env.push_back(e);
    }
    c.working_dir = f.workdir;
    if (!c.working_dir.empty() && c.working_dir[0] != '/') {
        return Error(Errc::invalid_argument,
                     fmt::format("the working directory '{}' is invalid, it needs to be an absolute path",
                                 c.working_dir));
    }
    c.user = f.user;
    c.hostname = f.hostname;
    c.domainname = f.domainname;
    for (const auto& l : f.labels) {
        auto eq = l.find('=');
        c.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
    }
    c.tty = f.tty;
    c.open_stdin = f.interactive;
    c.init = f.init;
    c.read_only = f.read_only;
    c.privileged = f.privileged;
    c.auto_remove = f.rm;
    c.cap_add = f.cap_add;
    c.cap_drop = f.cap_drop;
    if (!f.memory.empty()) {
        auto m = ec::parse_bytes(f.memory);
        if (!m) {
            return Error(Errc::invalid_argument, fmt::format("invalid argument \"{}\" for \"-m, --memory\" flag: {}", f.memory, m.error().message()));
        }
        if (*m > 0 && *m < 6 * 1024 * 1024) {
            return Error(Errc::invalid_argument, "Minimum memory limit allowed is 6MB");
        }
        c.memory = *m;
    }
    if (!f.memory_swap.empty()) {
        if (f.memory_swap == "-1") {
            c.memory_swap = -1;
        } else {
            auto m = ec::parse_bytes(f.memory_swap);
            if (!m) {
                return Error(Errc::invalid_argument, fmt::format("invalid argument \"{}\" for \"--memory-swap\" flag", f.memory_swap));
            }
            if (c.memory > 0 && *m < c.memory) {
                return Error(Errc::invalid_argument, "Minimum memoryswap limit should be larger than memory limit, see usage");
            }
            c.memory_swap = *m;
        }
    }
    if (!f.cpus.empty()) {
        auto n = ec::parse_cpus(f.cpus);
        if (!n) {
            return std::move(n).error();
        }
        long online = ::sysconf(_SC_NPROCESSORS_ONLN);
        if (*n > static_cast<int64_t>(online) * 1000000000) {
            return Error(Errc::invalid_argument,
                         fmt::format("range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
                                     online, online));
        }
        c.nano_cpus = *n;
    }
    if (f.cpu_shares < 0) {
        return Error(Errc::invalid_argument, fmt::format("invalid CPU shares: {}", f.cpu_shares));
    }
    c.cpu_shares = f.cpu_shares;
    c.pids_limit = f.pids_limit < 0 ? 0 : f.pids_limit;
    for (const auto& opt : f.security_opts) {
        if (opt == "no-new-privileges" || opt == "no-new-privileges:true" || opt == "no-new-privileges=true") {
            c.no_new_privileges = true;
        } else if (opt == "no-new-privileges:false" || opt == "no-new-privileges=false") {
            c.no_new_privileges = false;
        } else if (opt.rfind("seccomp=", 0) == 0 || opt.rfind("seccomp:", 0) == 0) {
            auto value = opt.substr(8);
            if (value == "unconfined") {
                c.seccomp = "unconfined";
            } else {
                std::FILE* fp = std::fopen(value.c_str(), "r");
                if (fp == nullptr) {
                    return Error(Errc::not_found, fmt::format("opening seccomp profile ({}) failed: no such file or directory", value));
                }
                std::string text;
                char buf[4096];
                size_t n;
                while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) {
                    text.append(buf, n);
                }
                std::fclose(fp);
                c.seccomp = text;
            }
        } else if (opt.rfind("label", 0) == 0 || opt.rfind("apparmor", 0) == 0) {
            // No SELinux or AppArmor on this host: accepted and ignored, as Docker does there.
        } else {
            return Error(Errc::invalid_argument, fmt::format("invalid --security-opt: \"{}\"", opt));
        }
    }
    auto policy = ec::parse_restart_policy(f.restart);
    if (!policy) {
        return std::move(policy).error();
    }
    c.restart = *policy;
    if (f.rm && c.restart.name != ec::RestartPolicyName::no) {
        return Error(Errc::invalid_argument, "Conflicting options: --restart and --rm");
    }
    if (!f.stop_signal.empty() && ec::parse_signal(f.stop_signal) == 0) {
        return Error(Errc::invalid_argument, fmt::format("invalid signal: {}", f.stop_signal));
    }
    c.stop_signal = f.stop_signal;
    if (f.stop_timeout >= 0) {
        c.stop_timeout = f.stop_timeout;
    }
    c.runtime = f.runtime;
    for (const auto& u : f.ulimits) {
        auto eq = u.find('=');
        if (eq == std::string::npos) {
            return Error(Errc::invalid_argument, fmt::format("invalid ulimit argument: {}", u));
        }
        ec::Ulimit ul;
        ul.name = u.substr(0, eq);
        auto values = u.substr(eq + 1);
        auto colon = values.find(':');
        try {
            ul.soft = std::stoll(values.substr(0, colon));
            ul.hard = colon == std::string::npos ? ul.soft : std::stoll(values.substr(colon + 1));
        } catch (const std::exception&) {
            return Error(Errc::invalid_argument, fmt::format("invalid ulimit argument: {}", u));
        }
        if (ul.soft > ul.hard) {
            return Error(Errc::invalid_argument,
                         fmt::format("ulimit soft limit must be less than or equal to hard limit: {} > {}", ul.soft, ul.hard));
        }
        c.ulimits.push_back(ul);
    }
    if (f.oom_score_adj_set) {
        if (f.oom_score_adj < -1000 || f.oom_score_adj > 1000) {
            return Error(Errc::invalid_argument,
                         fmt::format("Invalid value {}, range for oom score adj is [-1000, 1000]", f.oom_score_adj));
        }
        c.oom_score_adj = f.oom_score_adj;
    }
    c.network_mode = f.network;
    c.network_aliases = f.network_aliases;
    c.ipv4_address = f.ip;
    c.ipv6_address = f.ip6;
    c.publish = f.publish;
    c.dns = f.dns;
    c.dns_search = f.dns_search;
    c.dns_options = f.dns_options;
    c.extra_hosts = f.add_hosts;
    if (f.no_healthcheck) {
        c.healthcheck = ec::HealthConfig{{"NONE"}, 0, 0, 0, 0, 0};
    } else if (!f.health_cmd.empty()) {
        ec::HealthConfig h;
        h.test = {"CMD-SHELL", f.health_cmd};
        for (auto [text, out] : {std::pair{&f.health_interval, &h.interval_ns},
                                 {&f.health_timeout, &h.timeout_ns},
                                 {&f.health_start_period, &h.start_period_ns}}) {
            auto d = parse_duration_ns(*text);
            if (!d) {
                return std::move(d).error();
            }
            *out = *d;
        }
        h.retries = f.health_retries;
        c.healthcheck = h;
    }
    for (const auto& s : f.sysctls) {
        auto eq = s.find('=');
        if (eq == std::string::npos) {
            return Error(Errc::invalid_argument, fmt::format("sysctl '{}' is not allowed", s));
        }
        c.sysctls[s.substr(0, eq)] = s.substr(eq + 1);
    }
    if (!f.shm_size.empty()) {
        auto m = ec::parse_bytes(f.shm_size);
        if (!m) {
            return std::move(m).error();
        }
        c.shm_size = *m;
    }
    return c;
}

/// Creates the container the flags describe; prints nothing.
Result<ec::ContainerRecord> create_from(const Paths& paths, const CreateFlags& f,
                                        const std::vector<std::string>& positional) {
    if (positional.empty()) {
        return Error(Errc::invalid_argument, "requires at least 1 argument: IMAGE [COMMAND] [ARG...]");
    }
    std::vector<std::string> cmd(positional.begin() + 1, positional.end());
    auto config = config_from_flags(f, positional[0], cmd);
    if (!config) {
        return std::move(config).error();
    }
    auto image = resolve_image(paths, positional[0]);
    if (!image) {
        return std::move(image).error();
    }
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto id = random_hex_id();
    if (auto r = prepare_container_mounts(paths, id, f.mounts, *image, *config); !r) {
        return std::move(r).error();
    }
    auto rec = ec::create_container(*store, *config, f.name, *image, id);
    if (!rec) {
        release_container_mounts(paths, id, *config);
    }
    return rec;
}

}  // namespace

void add_run_commands(CLI::App& app, Context& ctx) {
    // run
    {
        auto* cmd = app.add_subcommand("run", "Create and run a new container from an image");
        auto flags = std::make_shared<CreateFlags>();
        auto detach = std::make_shared<bool>(false);
        if (ctx.word != "create") {
            add_create_flags(cmd, *flags);
        }
        cmd->add_flag("-d,--detach", *detach, "Run container in background and print container ID");
        cmd->add_flag("--rm", flags->rm, "Automatically remove the container when it exits");
        cmd->prefix_command();
        cmd->callback([&ctx, cmd, flags, detach] {
            auto paths = ctx.paths();
            auto rec = create_from(paths, *flags, cmd->remaining());
            if (!rec) {
                ctx.exit_code = report(rec.error(), exit_engine_error);
                return;
            }
            auto store = ec::ContainerStore::open(paths);
            if (!store) {
                ctx.exit_code = report(store.error());
                return;
            }
            if (*detach) {
                auto started = ec::start_container(*store, *rec);
                if (!started) {
                    ctx.exit_code = report(started.error(), exit_code_for(started.error()));
                    return;
                }
                std::printf("%s\n", rec->id.c_str());
                return;
            }
            ctx.exit_code = run_attached(*store, *rec, flags->interactive);
        });
    }
    // create
    {
        auto* cmd = app.add_subcommand("create", "Create a new container");
        auto flags = std::make_shared<CreateFlags>();
        // `run` leaves out create's copy of the container options (and
        // `create` run's): building each option object costs start-up time.
        if (ctx.word != "run") {
            add_create_flags(cmd, *flags);
        }
        cmd->add_flag("--rm", flags->rm, "Automatically remove the container when it exits");
        cmd->prefix_command();
        cmd->callback([&ctx, cmd, flags] {
            auto rec = create_from(ctx.paths(), *flags, cmd->remaining());
            if (!rec) {
                ctx.exit_code = report(rec.error(), exit_engine_error);
                return;
            }
            std::printf("%s\n", rec->id.c_str());
        });
    }
    // start
    {
        auto* cmd = app.add_subcommand("start", "Start one or more stopped containers");
        auto refs = std::make_shared<std::vector<std::string>>();
        auto attach = std::make_shared<bool>(false);
        auto interactive = std::make_shared<bool>(false);
        cmd->add_option("containers", *refs, "Containers")->required();
        cmd->add_flag("-a,--attach", *attach, "Attach STDOUT/STDERR and forward signals");
        cmd->add_flag("-i,--interactive", *interactive, "Attach container's STDIN");
        cmd->callback([&ctx, refs, attach, interactive] {
            auto store = ec::ContainerStore::open(ctx.paths());
            if (!store) {
                ctx.exit_code = report(store.error());
                return;
            }
            for (const auto& ref : *refs) {
                auto rec = store->get(ref);
                if (!rec) {
                    ctx.exit_code = report(rec.error());
                    continue;
                }
                if (*attach && refs->size() == 1) {
                    ctx.exit_code = run_attached(*store, *rec, *interactive);
                    return;
                }
                auto started = ec::start_container(*store, *rec);
                if (!started) {
                    ctx.exit_code = report(started.error(), exit_code_for(started.error()));
                    continue;
                }
                std::printf("%s\n", ref.c_str());
            }
        });
    }
}

}  // namespace berth::cli
