// SPDX-License-Identifier: Apache-2.0
#include "cli/container_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>

#include "cli/output.hpp"
#include "cli/commands.hpp"
#include "cli/volume_usage.hpp"
#include "common/digest.hpp"
#include "common/fs.hpp"
#include "common/scope_exit.hpp"
#include "common/unique_fd.hpp"
#include "engine/containers/network.hpp"
#include "engine/containers/spec.hpp"
#include "engine/images/store.hpp"
#include "engine/runtime/runtime.hpp"
#include "netns/network.hpp"
#include "volumes/mount_plan.hpp"
#include "volumes/mount_spec.hpp"
#include "volumes/volume_store.hpp"

namespace berth::cli {

using nlohmann::json;
namespace ec = engine::containers;

Result<ec::ImageRef> resolve_image(const Paths& paths, const std::string& ref) {
    auto store = engine::images::ImageStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto image = store->resolve(ref);
    if (!image) {
        if (image.error().code() == Errc::not_found) {
            return Error(Errc::not_found,
                         fmt::format("Unable to find image '{}' locally: {}", ref, image.error().message()));
        }
        return std::move(image).error();
    }
    ec::ImageRef out;
    out.id = image->id;
    out.config = image->raw_config.value("config", json::object());
    for (const auto& l : image->layers) {
        out.layers.push_back(l.native());
    }
    return out;
}

Result<void> prepare_container_mounts(const Paths& paths, const std::string& id,
                                      const MountFlags& flags, const ec::ImageRef& image,
                                      ec::ContainerConfig& config) {
    std::vector<volumes::MountSpec> specs;
    for (const auto& v : flags.volumes) {
        auto m = volumes::parse_volume_flag(v);
        if (!m) {
            return std::move(m).error();
        }
        specs.push_back(std::move(*m));
    }
    for (const auto& v : flags.mounts) {
        auto m = volumes::parse_mount_flag(v);
        if (!m) {
            return std::move(m).error();
        }
        specs.push_back(std::move(*m));
    }
    for (const auto& v : flags.tmpfs) {
        auto m = volumes::parse_tmpfs_flag(v);
        if (!m) {
            return std::move(m).error();
        }
        specs.push_back(std::move(*m));
    }
    // Docker creates an anonymous volume for each image VOLUME not covered by a mount.
    if (image.config.contains("Volumes") && image.config["Volumes"].is_object()) {
        for (const auto& [path, unused] : image.config["Volumes"].items()) {
            (void)unused;
            auto target = volumes::clean_container_path(path);
            bool covered = std::any_of(specs.begin(), specs.end(),
                                       [&](const volumes::MountSpec& m) { return m.target == target; });
            if (!covered) {
                volumes::MountSpec m;
                m.type = volumes::MountType::volume;
                m.target = target;
                specs.push_back(std::move(m));
            }
        }
    }
    if (specs.empty()) {
        return {};
    }
    if (auto r = volumes::validate_mounts(specs); !r) {
        return r;
    }
    auto vstore = volumes::VolumeStore::open(paths);
    if (!vstore) {
        return std::move(vstore).error();
    }
    volumes::PrepareOptions opts;
    opts.container_id = id;
    for (const auto& l : image.layers) {
        opts.image_layers.emplace_back(l);
    }
    auto prepared = volumes::prepare_mounts(*vstore, specs, opts);
    if (!prepared) {
        return std::move(prepared).error();
    }
    config.mounts = prepared->oci_mounts;
    config.volumes = prepared->acquired_volumes;
    config.anonymous_volumes = prepared->anonymous_volumes;
    return {};
}

void release_container_mounts(const Paths& paths, const std::string& id,
                              const ec::ContainerConfig& config) {
    auto vstore = volumes::VolumeStore::open(paths);
    if (!vstore) {
        return;
    }
    auto r = volumes::release_mounts(*vstore, config.volumes, id);
    (void)r;
    for (const auto& name : config.anonymous_volumes) {
        auto rm = vstore->remove(name, true, [](const std::string&) { return false; });
        (void)rm;
    }
}

int exit_code_for(const Error& error) {
    switch (error.code()) {
        case Errc::not_found:
            // A missing executable is 127; a missing image or container is an engine error.
            return error.message().find("executable file not found") != std::string::npos ||
                           error.message().find("no such file or directory") != std::string::npos
                       ? exit_not_found
                       : exit_engine_error;
        case Errc::permission_denied:
            return error.message().find("exec") != std::string::npos ? exit_cannot_invoke
                                                                     : exit_engine_error;
        default: return exit_engine_error;
    }
}

void install_usage_hooks() {
    set_network_container_lookup([](const Paths& paths, std::string_view ref) -> Result<netns::ContainerRef> {
        auto store = ec::ContainerStore::open(paths);
        if (!store) {
            return std::move(store).error();
        }
        auto rec = store->get(ref);
        if (!rec) {
            return std::move(rec).error();
        }
        auto st = store->state(rec->id);
        const auto& mode = rec->config.network_mode;
        if (!st || st->status != ec::Status::running) {
            return Error(Errc::failed_precondition,
                         fmt::format("container {} is not running", rec->name));
        }
        if (mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0) {
            return Error(Errc::failed_precondition,
                         fmt::format("container {} uses network mode {}: it cannot join networks",
                                     rec->name, mode));
        }
        netns::ContainerRef out;
        out.id = rec->id;
        out.name = rec->name;
        out.hostname = ec::resolve_hostname(*rec);
        out.netns_path = ec::netns_path_of(paths, rec->id);
        return out;
    });
    set_volume_usage([](const Paths& paths) {
        std::set<std::string> used;
        auto store = ec::ContainerStore::open(paths);
        if (!store) {
            return used;
        }
        auto list = store->list();
        if (!list) {
            return used;
        }
        for (const auto& rec : *list) {
            used.insert(rec.config.volumes.begin(), rec.config.volumes.end());
        }
        return used;
    });
}

Result<std::vector<std::string>> read_env_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Error(Errc::not_found, fmt::format("open {}: no such file or directory", path));
    }
    std::vector<std::string> out;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') {
            continue;
        }
        line.erase(0, start);
        auto eq = line.find('=');
        auto key = line.substr(0, eq);
        if (key.empty() || key.find_first_of(" \t") != std::string::npos) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}:{}: variable '{}' contains whitespaces", path, lineno, key));
        }
        if (eq == std::string::npos) {
            if (const char* v = std::getenv(key.c_str()); v != nullptr) {
                out.push_back(key + "=" + v);
            }
            continue;
        }
        out.push_back(line);
    }
    return out;
}

std::string status_text(const ec::ContainerState& st) {
    double now = now_seconds();
    switch (st.status) {
        case ec::Status::created: return "Created";
        case ec::Status::running:
        case ec::Status::paused: {
            auto text = "Up " + human_duration(now - parse_time(st.started_at));
            if (st.status == ec::Status::paused) {
                text += " (Paused)";
            } else if (!st.health_status.empty()) {
                text += st.health_status == "starting" ? " (health: starting)"
                                                       : " (" + st.health_status + ")";
            }
            return text;
        }
        case ec::Status::restarting:
            return fmt::format("Restarting ({}) {} ago", st.exit_code,
                               human_duration(now - parse_time(st.finished_at)));
        case ec::Status::removing: return "Removal In Progress";
        case ec::Status::exited:
            if (st.finished_at.empty()) {
                return fmt::format("Exited ({})", st.exit_code);
            }
            return fmt::format("Exited ({}) {} ago", st.exit_code,
                               human_duration(now - parse_time(st.finished_at)));
        case ec::Status::dead: return "Dead";
    }
    return "Unknown";
}

namespace {

/// "80/tcp" -> [{"HostIp", "HostPort"}] of `bindings`, one entry per port of
/// a range; HostPort "" for a port chosen at attach, HostIp `any_ip` for all
/// addresses ("" in HostConfig, "0.0.0.0" in NetworkSettings, as Docker).
void add_port_bindings(json& out, const std::vector<netns::PortBinding>& bindings,
                       const std::string& any_ip = "") {
    for (const auto& b : bindings) {
        const int count = b.host_port_end > b.host_port ? b.host_port_end - b.host_port + 1 : 1;
        for (int i = 0; i < count; ++i) {
            auto key = fmt::format("{}/{}", b.container_port + i, b.protocol);
            if (!out.contains(key) || out[key].is_null()) {
                out[key] = json::array();
            }
            out[key].push_back({{"HostIp", b.host_ip.empty() ? any_ip : b.host_ip},
                                {"HostPort", b.host_port == 0 ? std::string()
                                                              : std::to_string(b.host_port + i)}});
        }
    }
}

/// Docker's HostConfig.PortBindings from the -p specs as given.
json port_bindings_json(const ec::ContainerConfig& c) {
    json out = json::object();
    for (const auto& spec : c.publish) {
        if (auto parsed = netns::parse_port_spec(spec)) {
            add_port_bindings(out, *parsed);
        }
    }
    return out;
}

/// The prefix length of "a.b.c.d/n" or "x::/n", 0 without one.
int prefix_length(const std::string& cidr) {
    auto slash = cidr.find('/');
    return slash == std::string::npos ? 0 : std::atoi(cidr.c_str() + slash + 1);
}

/// Docker's NetworkSettings: one entry per network the container is on, with
/// the addresses its endpoint holds (empty while it is not running), and the
/// published ports as bound (random host ports resolved).
json network_settings_json(const ec::ContainerStore& store, const ec::ContainerRecord& rec,
                           bool running) {
    const auto& c = rec.config;
    json ports = json::object();
    const auto exposed = rec.image_config.value("ExposedPorts", json::object());
    for (const auto& [port, v] : exposed.items()) {
        ports[port] = nullptr;
    }
    json networks = json::object();
    auto empty_endpoint = [](const std::string& network_id) {
        return json{{"IPAMConfig", nullptr}, {"Links", nullptr}, {"Aliases", nullptr},
                    {"MacAddress", ""}, {"NetworkID", network_id}, {"EndpointID", ""},
                    {"Gateway", ""}, {"IPAddress", ""}, {"IPPrefixLen", 0},
                    {"IPv6Gateway", ""}, {"GlobalIPv6Address", ""}, {"GlobalIPv6PrefixLen", 0},
                    {"DriverOpts", nullptr}, {"DNSNames", nullptr}};
    };
    std::string sandbox_key;
    if (c.network_mode == "none" || c.network_mode == "host") {
        networks[c.network_mode] = empty_endpoint("");
    } else if (c.network_mode.rfind("container:", 0) != 0) {
        auto all = netns::read_networks(store.paths());
        std::vector<std::string> names = c.networks;
        if (names.empty()) {
            names.push_back(c.network_mode);
        }
        // And those joined later with `network connect`, while it runs.
        if (all) {
            for (const auto& n : *all) {
                if (n.endpoints.count(rec.id) != 0 &&
                    std::find(names.begin(), names.end(), n.name) == names.end() &&
                    std::find(names.begin(), names.end(), n.id) == names.end()) {
                    names.push_back(n.name);
                }
            }
        }
        for (const auto& name : names) {
            const netns::Network* n = nullptr;
            if (all) {
                for (const auto& candidate : *all) {
                    if (candidate.name == name || candidate.id == name) {
                        n = &candidate;
                    }
                }
            }
            auto entry = empty_endpoint(n != nullptr ? n->id : "");
            auto ep = n != nullptr ? n->endpoints.find(rec.id) : decltype(n->endpoints.end()){};
            if (n != nullptr && ep != n->endpoints.end() && running) {
                const auto& e = ep->second;
                entry["Aliases"] = e.aliases;
                entry["MacAddress"] = e.mac;
                entry["EndpointID"] = Digest::of(n->id + "/" + rec.id).hex();
                entry["Gateway"] = n->gateway;
                entry["IPAddress"] = e.ipv4;
                entry["IPPrefixLen"] = prefix_length(n->subnet);
                if (!e.ipv6.empty()) {
                    entry["IPv6Gateway"] = n->gateway6;
                    entry["GlobalIPv6Address"] = e.ipv6;
                    entry["GlobalIPv6PrefixLen"] = prefix_length(n->subnet6);
                }
                json dns = json::array({rec.name, rec.id.substr(0, 12)});
                for (const auto& a : e.aliases) {
                    if (a != rec.name && a != rec.id.substr(0, 12)) {
                        dns.push_back(a);
                    }
                }
                entry["DNSNames"] = dns;
                add_port_bindings(ports, e.ports, "0.0.0.0");
                sandbox_key = e.netns_path;
            }
            networks[n != nullptr ? n->name : name] = entry;
        }
    }
    json out = {{"Bridge", ""},
                {"SandboxID", sandbox_key.empty() ? "" : Digest::of(sandbox_key).hex()},
                {"SandboxKey", sandbox_key},
                {"Ports", ports},
                {"Networks", networks}};
    // The top-level address fields describe the default `bridge` network only.
    json top = networks.contains("bridge") ? networks["bridge"] : empty_endpoint("");
    for (const auto* key : {"EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                            "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress"}) {
        out[key] = top[key];
    }
    return out;
}

}  // namespace

json inspect_json(const ec::ContainerStore& store, const ec::ContainerRecord& rec,
                  const ec::ContainerState& st) {
    const auto& c = rec.config;
    auto args = ec::resolve_args(rec);
    std::vector<std::string> argv = args ? *args : std::vector<std::string>{};
    std::string path = argv.empty() ? "" : argv[0];
    std::vector<std::string> rest = argv.empty() ? std::vector<std::string>{}
                                                 : std::vector<std::string>(argv.begin() + 1, argv.end());
    auto hostname = ec::resolve_hostname(rec);
    json health = nullptr;
    if (!st.health_status.empty()) {
        json log = json::array();
        for (const auto& h : st.health_log) {
            log.push_back({{"Start", h.start}, {"End", h.end}, {"ExitCode", h.exit_code}, {"Output", h.output}});
        }
        health = {{"Status", st.health_status}, {"FailingStreak", st.health_failing_streak}, {"Log", log}};
    }
    bool running = st.status == ec::Status::running || st.status == ec::Status::paused ||
                   st.status == ec::Status::restarting;
    json state = {{"Status", std::string(ec::to_string(st.status))},
                  {"Running", running},
                  {"Paused", st.status == ec::Status::paused},
                  {"Restarting", st.status == ec::Status::restarting},
                  {"OOMKilled", st.oom_killed},
                  {"Dead", st.status == ec::Status::dead},
                  {"Pid", running ? st.pid : 0},
                  {"ExitCode", st.exit_code},
                  {"Error", st.error},
                  {"StartedAt", st.started_at.empty() ? "0001-01-01T00:00:00Z" : st.started_at},
                  {"FinishedAt", st.finished_at.empty() ? "0001-01-01T00:00:00Z" : st.finished_at}};
    if (!health.is_null()) {
        state["Health"] = health;
    }
    json mounts = json::array();
    for (const auto& m : c.mounts) {
        auto opts = m.value("options", std::vector<std::string>{});
        bool ro = std::find(opts.begin(), opts.end(), "ro") != opts.end();
        mounts.push_back({{"Type", m.value("type", "") == "tmpfs" ? "tmpfs" : "bind"},
                          {"Source", m.value("source", "")},
                          {"Destination", m.value("destination", "")},
                          {"RW", !ro}});
    }
    json env = json::array();
    for (const auto& e : ec::resolve_env(rec, hostname)) {
        env.push_back(e);
    }
    auto dir = store.dir(rec.id);
    json config = {{"Hostname", hostname},
                   {"Domainname", c.domainname},
                   {"User", c.user},
                   {"AttachStdin", false},
                   {"Tty", c.tty},
                   {"OpenStdin", c.open_stdin},
                   {"Env", env},
                   {"Cmd", c.cmd.empty() && !c.entrypoint ? rec.image_config.value("Cmd", json(nullptr)) : json(c.cmd)},
                   {"Image", c.image},
                   {"WorkingDir", c.working_dir.empty() ? rec.image_config.value("WorkingDir", "") : c.working_dir},
                   {"Entrypoint", c.entrypoint ? json(*c.entrypoint) : rec.image_config.value("Entrypoint", json(nullptr))},
                   {"Labels", c.labels},
                   {"StopSignal", ec::resolve_stop_signal(rec)}};
    if (c.stop_timeout) {
        config["StopTimeout"] = *c.stop_timeout;
    }
    json host_config = {{"NetworkMode", c.network_mode},
                        {"RestartPolicy", {{"Name", ec::to_string(c.restart).substr(0, ec::to_string(c.restart).find(':'))},
                                           {"MaximumRetryCount", c.restart.max_retries}}},
                        {"AutoRemove", c.auto_remove},
                        {"Privileged", c.privileged},
                        {"ReadonlyRootfs", c.read_only},
                        {"CapAdd", c.cap_add},
                        {"CapDrop", c.cap_drop},
                        {"Init", c.init},
                        {"Memory", c.memory},
                        {"MemorySwap", c.memory_swap},
                        {"NanoCpus", c.nano_cpus},
                        {"CpuShares", c.cpu_shares},
                        {"PidsLimit", c.pids_limit},
                        {"Runtime", c.runtime.empty() ? "berth" : c.runtime},
                        {"Dns", c.dns},
                        {"ExtraHosts", c.extra_hosts},
                        {"PortBindings", port_bindings_json(c)}};
    return {{"Id", rec.id},
            {"Created", rec.created},
            {"Path", path},
            {"Args", rest},
            {"State", state},
            {"Image", rec.image_id},
            {"ResolvConfPath", (dir / "resolv.conf").native()},
            {"HostnamePath", (dir / "hostname").native()},
            {"HostsPath", (dir / "hosts").native()},
            {"LogPath", (dir / (rec.id + "-json.log")).native()},
            {"Name", "/" + rec.name},
            {"RestartCount", st.restart_count},
            {"Driver", "overlay2"},
            {"Platform", rec.platform},
            {"Mounts", mounts},
            {"NetworkSettings", network_settings_json(store, rec, running)},
            {"Config", config},
            {"HostConfig", host_config},
            {"GraphDriver", {{"Name", "overlay2"},
                             {"Data", {{"UpperDir", (dir / "upper").native()},
                                       {"WorkDir", (dir / "work").native()}}}}}};
}

namespace {

std::string read_proc(pid_t pid, const char* what) {
    // Not an ifstream: a read error (ESRCH from an exiting process) would throw.
    auto text = fs::read_file(fmt::format("/proc/{}/{}", pid, what));
    return text ? *text : std::string();
}

}  // namespace

Result<std::vector<std::vector<std::string>>> top_rows(const ec::ContainerStore& store,
                                                       const ec::ContainerRecord& rec) {
    auto config = ec::load_bundle_config(store, rec.id);
    if (!config) {
        return std::move(config).error();
    }
    auto pids = engine::runtime::pids(*config);
    if (!pids) {
        return std::move(pids).error();
    }
    // Read from the host's /proc only: never run a program (ps) or load
    // anything from the container (RELIABILITY row 16).
    std::vector<std::vector<std::string>> rows{{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}};
    long ticks = ::sysconf(_SC_CLK_TCK);
    for (pid_t pid : *pids) {
        auto stat = read_proc(pid, "stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(stat.substr(close + 2));
        std::vector<std::string> f;
        for (std::string w; rest >> w;) {
            f.push_back(w);
        }
        if (f.size() < 20) {
            continue;
        }
        auto status = read_proc(pid, "status");
        std::string uid = "0";
        auto pos = status.find("\nUid:");
        if (pos != std::string::npos) {
            std::istringstream u(status.substr(pos + 5));
            u >> uid;
        }
        auto cmdline = read_proc(pid, "cmdline");
        for (auto& ch : cmdline) {
            if (ch == '\0') {
                ch = ' ';
            }
        }
        while (!cmdline.empty() && cmdline.back() == ' ') {
            cmdline.pop_back();
        }
        long cpu = (std::stol(f[11]) + std::stol(f[12])) / ticks;
        rows.push_back({uid, std::to_string(pid), f[1], "0", "-", "?",
                        fmt::format("{:02}:{:02}:{:02}", cpu / 3600, (cpu / 60) % 60, cpu % 60), cmdline});
    }
    return rows;
}

int run_exec(ec::ContainerStore& store, const ec::ContainerRecord& rec, ec::ExecRequest req) {
    if (!req.tty || req.detach) {
        auto code = ec::exec_container(store, rec, req);
        return code ? *code : report(code.error(), exit_code_for(code.error()));
    }
    // With a tty: a pty whose master this process forwards.
    int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0 || ::ptsname_r(m, name, sizeof name) != 0) {
        return report(Error::from_errno(errno, "allocate pty"));
    }
    UniqueFd master(m);
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    struct winsize ws {};
    if (::ioctl(0, TIOCGWINSZ, &ws) == 0) {
        ::ioctl(master.get(), TIOCSWINSZ, &ws);
    }
    struct termios saved {};
    bool raw = req.interactive && ::isatty(0) != 0 && ::tcgetattr(0, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        ::cfmakeraw(&t);
        ::tcsetattr(0, TCSANOW, &t);
    }
    ScopeExit restore([&] {
        if (raw) {
            ::tcsetattr(0, TCSANOW, &saved);
        }
    });
    req.pty_slave = slave.get();
    auto started = ec::start_exec(store, rec, req);
    slave.reset();
    if (!started) {
        return report(started.error(), exit_code_for(started.error()));
    }
    bool in_open = req.interactive;
    for (;;) {
        pollfd fds[3] = {{master.get(), POLLIN, 0}, {started->pidfd.get(), POLLIN, 0}, {0, POLLIN, 0}};
        int n = ::poll(fds, in_open ? 3 : 2, -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        char buf[65536];
        if ((fds[0].revents & POLLIN) != 0) {
            ssize_t r = ::read(master.get(), buf, sizeof buf);
            if (r > 0) {
                ssize_t w = ::write(1, buf, static_cast<size_t>(r));
                (void)w;
            }
        }
        if (in_open && (fds[2].revents & (POLLIN | POLLHUP)) != 0) {
            ssize_t r = ::read(0, buf, sizeof buf);
            if (r <= 0) {
                in_open = false;
            } else {
                ssize_t w = ::write(master.get(), buf, static_cast<size_t>(r));
                (void)w;
            }
        }
        if ((fds[1].revents & POLLIN) != 0) {
            // Drain what is left on the pty, then report the exit.
            ::fcntl(master.get(), F_SETFL, O_NONBLOCK);
            for (;;) {
                ssize_t r = ::read(master.get(), buf, sizeof buf);
                if (r <= 0) {
                    break;
                }
                ssize_t w = ::write(1, buf, static_cast<size_t>(r));
                (void)w;
            }
            auto code = ec::wait_exec(*started);
            return code ? *code : report(code.error());
        }
    }
}

namespace {

std::atomic<int> pending_signal{0};
std::atomic<bool> window_changed{false};

void on_signal(int sig) { pending_signal.store(sig); }
void on_winch(int) { window_changed.store(true); }

void copy_window_size(int from, int to) {
    struct winsize ws {};
    if (::ioctl(from, TIOCGWINSZ, &ws) == 0) {
        ::ioctl(to, TIOCSWINSZ, &ws);
    }
}

}  // namespace

/// Starts `rec` attached to this terminal and waits for its exit, forwarding
/// signals (without a tty) and window size changes (with one). Returns the
/// container's exit code.
int run_attached(ec::ContainerStore& store, const ec::ContainerRecord& rec, bool stdin_open) {
    ec::AttachFds attach;
    attach.out = 1;
    attach.err = 2;
    attach.in = stdin_open ? 0 : -1;
    UniqueFd master, slave;
    struct termios saved {};
    bool raw = false;
    if (rec.config.tty) {
        int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        char name[128];
        if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0 || ::ptsname_r(m, name, sizeof name) != 0) {
            return report(Error::from_errno(errno, "allocate pty"));
        }
        master.reset(m);
        slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
        attach.pty_master = master.get();
        attach.pty_slave = slave.get();
        attach.err = -1;
        if (::isatty(0) != 0) {
            copy_window_size(0, master.get());
            if (stdin_open && ::tcgetattr(0, &saved) == 0) {
                struct termios t = saved;
                ::cfmakeraw(&t);
                ::tcsetattr(0, TCSANOW, &t);
                raw = true;
            }
        }
    }
    ScopeExit restore([&] {
        if (raw) {
            ::tcsetattr(0, TCSANOW, &saved);
        }
    });
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: the wait below returns EINTR
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) {
        ::sigaction(sig, &sa, nullptr);
    }
    struct sigaction wa {};
    wa.sa_handler = on_winch;
    ::sigaction(SIGWINCH, &wa, nullptr);

    auto started = ec::start_container(store, rec, attach);
    slave.reset();
    if (!started) {
        return report(started.error(), exit_code_for(started.error()));
    }
    pid_t pid = started->pid;
    auto& status = started->status;
    for (;;) {
        auto ev = status.next();
        if (ev) {
            if (ev->value("event", "") == "exited") {
                return ev->value("exit_code", 0);
            }
            continue;
        }
        if (ev.error().code() == Errc::unavailable && errno != EINTR) {
            // The supervisor went away without reporting: read the recorded state.
            auto st = store.state(rec.id);
            return st ? st->exit_code : exit_engine_error;
        }
        int sig = pending_signal.exchange(0);
        if (sig != 0 && !rec.config.tty) {
            ::kill(pid, sig);  // Docker's sig-proxy: signals go to the container
        }
        if (window_changed.exchange(false) && master) {
            copy_window_size(0, master.get());
        }
    }
}

}  // namespace berth::cli
