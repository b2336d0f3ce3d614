// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/supervisor.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <optional>
#include <tuple>
#include <vector>

#include "common/fs.hpp"
#include "common/heap_tuning.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "engine/containers/control_client.hpp"
#include "engine/containers/events.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/logfile.hpp"
#include "engine/containers/network.hpp"
#include "engine/containers/spec.hpp"
#include "engine/containers/store.hpp"
#include "engine/runtime/runtime.hpp"

extern char** environ;

namespace berth::engine::containers {

using nlohmann::json;

std::filesystem::path control_socket_path(const Paths& paths, const std::string& id) {
    return paths.run_container(id) / "ctl.sock";
}

Result<json> StatusReader::next() {
    for (;;) {
        auto nl = buffer.find('\n');
        if (nl != std::string::npos) {
            auto line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            try {
                return json::parse(line);
            } catch (const json::exception& e) {
                return Error(Errc::internal, fmt::format("read supervisor status: {}", e.what()));
            }
        }
        char buf[4096];
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return Error(Errc::unavailable, "supervisor closed its status pipe");
        }
        buffer.append(buf, static_cast<size_t>(n));
    }
}

namespace {

/// A unix socket address for `path` that fits sun_path whatever the length of
/// the runtime root: the directory is opened and named through
/// /proc/self/fd/N, which the kernel resolves at bind and connect time.
struct SocketAddress {
    sockaddr_un addr{};
    UniqueFd dir;  ///< must stay open until bind/connect is done
};

Result<SocketAddress> short_socket_address(const std::filesystem::path& path) {
    SocketAddress out;
    out.addr.sun_family = AF_UNIX;
    if (path.native().size() < sizeof out.addr.sun_path) {
        std::strncpy(out.addr.sun_path, path.c_str(), sizeof out.addr.sun_path - 1);
        return out;
    }
    int dfd = ::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", path.parent_path().native()));
    }
    out.dir.reset(dfd);
    auto name = fmt::format("/proc/self/fd/{}/{}", dfd, path.filename().native());
    std::strncpy(out.addr.sun_path, name.c_str(), sizeof out.addr.sun_path - 1);
    return out;
}

int64_t mono_ms() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int pidfd_send(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

void write_line(int fd, const json& j) {
    if (fd < 0) {
        return;
    }
    auto text = j.dump() + "\n";
    ssize_t n = ::write(fd, text.data(), text.size());
    (void)n;
}

int exit_for(const Error& e) {
    switch (e.code()) {
        case Errc::not_found: return 127;
        case Errc::permission_denied: return 126;
        default: return 125;
    }
}

using Client = ControlClient;

/// The supervisor's whole state. One poll loop, single-threaded.
class Supervisor {
public:
    Supervisor(const Paths& paths, std::string id, int status_fd, const AttachFds& attach)
        : paths_(paths), id_(std::move(id)), status_fd_(status_fd), attach_(attach) {}

    /// `seed`: what a forking caller already holds (SupervisorSeed).
    [[noreturn]] void run(const SupervisorSeed& seed);
    /// Continues the work of a supervisor that had become berth-monitor:
    /// `h` is the monitor's hand-off (see hand_off()).
    [[noreturn]] void resume(const json& h);

private:
    [[noreturn]] void loop();
    /// True when nothing needs the engine until the container exits or a
    /// request comes: then the supervisor can become berth-monitor.
    bool can_hand_off() const;
    /// execve()s berth-monitor with the descriptors that matter; returns only
    /// if that failed (and then never tries again).
    void hand_off();
    /// Serves the complete requests in a client's buffer.
    void process_requests(Client& c);
    Result<void> setup(const SupervisorSeed& seed);
    Result<void> start_container();
    void on_exit();
    void finish();
    void handle_client(Client& c);
    void reply(Client& c, const json& j);
    void save_state();
    /// Reads once from `from` into the log and to `to`; false when nothing was read.
    bool forward(int from, std::string_view stream, int to);
    [[noreturn]] void exit_now(int code);
    /// Compiled seccomp filters are cached under the runtime root.
    runtime::Options runtime_options() const { return {paths_.run_root / "seccomp"}; }

    Paths paths_;
    std::string id_;
    int status_fd_;
    AttachFds attach_;
    std::optional<ContainerStore> store_;
    ContainerRecord record_;
    json config_;
    ContainerState state_;
    std::optional<LogWriter> log_;
    UniqueFd listen_;
    std::vector<Client> clients_;
    NetworkSetup net_;

    pid_t pid_ = -1;
    UniqueFd pidfd_;
    UniqueFd out_r_;
    UniqueFd err_r_;
    UniqueFd in_w_;
    UniqueFd pty_master_;
    bool attach_in_open_ = false;
    bool reported_exit_ = false;
    std::optional<int64_t> kill_deadline_;
    std::optional<int64_t> restart_at_;
    int64_t started_ms_ = 0;
    int64_t backoff_ms_ = 0;
    bool no_monitor_ = false;

    // Healthcheck (Docker's semantics; durations in ms).
    struct Probe {
        pid_t pid = -1;
        UniqueFd pidfd;
        UniqueFd out;
        std::string output;
        std::string start;
        int64_t deadline = 0;
    };
    std::optional<HealthConfig> health_;
    std::optional<int64_t> next_probe_;
    std::optional<Probe> probe_;
    void schedule_probe(bool first);
    Result<runtime::Started> run_external(const runtime::Stdio& stdio);
    void cleanup_external();
    std::filesystem::path external_rootfs_;
    void start_probe();
    void finish_probe(bool timed_out);
};

namespace {
constexpr int64_t ns_per_ms = 1000000;
constexpr int64_t default_health_interval_ms = 30000;
constexpr int64_t default_health_timeout_ms = 30000;
constexpr int64_t default_start_interval_ms = 5000;
constexpr int default_health_retries = 3;
constexpr size_t max_probe_output = 4096;
constexpr size_t kept_probe_results = 5;

/// The healthcheck in force: the container's own, else the image's; none for
/// ["NONE"] or an empty test.
std::optional<HealthConfig> effective_healthcheck(const ContainerRecord& rec) {
    HealthConfig h;
    if (rec.config.healthcheck) {
        h = *rec.config.healthcheck;
    } else if (rec.image_config.contains("Healthcheck") && rec.image_config["Healthcheck"].is_object()) {
        h = rec.image_config["Healthcheck"].get<HealthConfig>();
    }
    if (h.test.empty() || h.test[0] == "NONE") {
        return std::nullopt;
    }
    return h;
}
}  // namespace

void Supervisor::schedule_probe(bool first) {
    if (!health_) {
        return;
    }
    int64_t interval = health_->interval_ns > 0 ? health_->interval_ns / ns_per_ms : default_health_interval_ms;
    int64_t start_period = health_->start_period_ns / ns_per_ms;
    bool in_start_period = mono_ms() - started_ms_ < start_period;
    if (in_start_period || (first && health_->start_interval_ns > 0)) {
        int64_t si = health_->start_interval_ns > 0 ? health_->start_interval_ns / ns_per_ms
                                                    : default_start_interval_ms;
        interval = std::min(interval, si);
    }
    next_probe_ = mono_ms() + interval;
}

void Supervisor::start_probe() {
    std::vector<std::string> args;
    if (health_->test[0] == "CMD-SHELL") {
        args = {"/bin/sh", "-c", health_->test.size() > 1 ? health_->test[1] : ""};
    } else {
        args.assign(health_->test.begin() + (health_->test[0] == "CMD" ? 1 : 0), health_->test.end());
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        schedule_probe(false);
        return;
    }
    UniqueFd r(p[0]);
    UniqueFd w(p[1]);
    json process = config_["process"];
    process["args"] = args;
    process["terminal"] = false;
    process.erase("rlimits");
    process.erase("oomScoreAdj");
    runtime::Stdio stdio;
    stdio.out = w.get();
    stdio.err = w.get();
    Probe probe;
    probe.start = now_rfc3339();
    auto started = runtime::exec(pid_, config_, process, stdio, runtime_options());
    if (!started) {
        HealthResult res{probe.start, now_rfc3339(), -1, started.error().message()};
        state_.health_log.push_back(res);
        probe_.reset();
        finish_probe(false);
        return;
    }
    int64_t timeout = health_->timeout_ns > 0 ? health_->timeout_ns / ns_per_ms : default_health_timeout_ms;
    probe.pid = started->pid;
    probe.pidfd = std::move(started->pidfd);
    probe.out = std::move(r);
    probe.deadline = mono_ms() + timeout;
    probe_ = std::move(probe);
    next_probe_.reset();
}

void Supervisor::finish_probe(bool timed_out) {
    HealthResult res;
    if (probe_) {
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(probe_->out.get(), buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            if (probe_->output.size() < max_probe_output) {
                probe_->output.append(buf, static_cast<size_t>(n));
            }
        }
        if (timed_out) {
            pidfd_send(probe_->pidfd.get(), SIGKILL);
        }
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(probe_->pidfd.get()), &info, WEXITED);
        res.start = probe_->start;
        res.end = now_rfc3339();
        res.output = probe_->output.substr(0, max_probe_output);
        if (timed_out) {
            int64_t timeout = health_->timeout_ns > 0 ? health_->timeout_ns / ns_per_ms : default_health_timeout_ms;
            res.exit_code = -1;
            res.output = fmt::format("Health check exceeded timeout ({}ms)", timeout);
        } else {
            res.exit_code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
        }
        state_.health_log.push_back(res);
        probe_.reset();
    } else if (!state_.health_log.empty()) {
        res = state_.health_log.back();
    }
    while (state_.health_log.size() > kept_probe_results) {
        state_.health_log.erase(state_.health_log.begin());
    }
    int retries = health_->retries > 0 ? health_->retries : default_health_retries;
    bool in_start_period = mono_ms() - started_ms_ < health_->start_period_ns / ns_per_ms;
    if (res.exit_code == 0) {
        state_.health_status = "healthy";
        state_.health_failing_streak = 0;
    } else if (!in_start_period || state_.health_status == "healthy") {
        // Failures during the start period do not count (Docker).
        state_.health_failing_streak += 1;
        if (state_.health_failing_streak >= retries) {
            state_.health_status = "unhealthy";
        }
    }
    save_state();
    schedule_probe(false);
}

void Supervisor::save_state() {
    if (store_) {
        auto r = store_->write_state(id_, state_);
        if (!r) {
            log::engine().warn("container {}: {}", id_.substr(0, 12), r.error().message());
        }
    }
}

Result<void> Supervisor::setup(const SupervisorSeed& seed) {
    auto store = ContainerStore::open(paths_);
    if (!store) {
        return std::move(store).error();
    }
    store_.emplace(std::move(*store));
    if (seed.record != nullptr) {
        record_ = *seed.record;
    } else {
        auto rec = store_->get(id_);
        if (!rec) {
            return std::move(rec).error();
        }
        record_ = std::move(*rec);
    }
    if (seed.config != nullptr) {
        config_ = std::move(*seed.config);  // this process's copy (fork)
    } else {
        auto cfg = read_json(store_->dir(id_) / "bundle" / "config.json");
        if (!cfg) {
            return std::move(cfg).error();
        }
        config_ = std::move(*cfg);
    }
    auto prev = store_->state(id_);
    if (prev) {
        state_ = *prev;
    }
    state_.supervisor_pid = ::getpid();
    state_.supervisor_start_time = process_start_time(::getpid());
    state_.boot_id = current_boot_id();
    state_.stopped_by_user = false;
    auto log = LogWriter::open(store_->dir(id_) / (id_ + "-json.log"));
    if (!log) {
        return std::move(log).error();
    }
    log_.emplace(std::move(*log));

    auto run_dir = paths_.run_container(id_);
    if (auto r = fs::make_dirs(run_dir, 0700); !r) {
        return r;
    }
    ::chmod(run_dir.c_str(), 0700);
    auto sock_path = control_socket_path(paths_, id_);
    ::unlink(sock_path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, "create control socket");
    }
    listen_.reset(fd);
    auto addr = short_socket_address(sock_path);
    if (!addr) {
        return std::move(addr).error();
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr->addr), sizeof addr->addr) != 0 ||
        ::listen(fd, 16) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("listen on {}", sock_path.native()));
    }
    if (attach_.pty_master >= 0) {
        pty_master_.reset(attach_.pty_master);
        attach_.pty_master = -1;
    }
    attach_in_open_ = attach_.in >= 0;
    return {};
}

Result<void> Supervisor::start_container() {
    runtime::Stdio stdio;
    UniqueFd out_w, err_w, in_r, slave;
    bool tty = config_.value("process", json::object()).value("terminal", false);
    if (tty) {
        if (!pty_master_) {
            int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (m < 0 || ::grantpt(m) != 0 || ::unlockpt(m) != 0) {
                int err = errno;
                if (m >= 0) {
                    ::close(m);
                }
                return Error::from_errno(err, "allocate pty");
            }
            pty_master_.reset(m);
        }
        if (attach_.pty_slave >= 0) {
            slave.reset(::dup(attach_.pty_slave));
        } else {
            char name[128];
            if (::ptsname_r(pty_master_.get(), name, sizeof name) != 0) {
                int err = errno;
                return Error::from_errno(err, "open pty");
            }
            slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
        }
        stdio.pty_slave = slave.get();
    } else {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
            int err = errno;
            return Error::from_errno(err, "create stdout pipe");
        }
        out_r_.reset(p[0]);
        out_w.reset(p[1]);
        if (::pipe2(p, O_CLOEXEC) != 0) {
            int err = errno;
            return Error::from_errno(err, "create stderr pipe");
        }
        err_r_.reset(p[0]);
        err_w.reset(p[1]);
        stdio.out = out_w.get();
        stdio.err = err_w.get();
        if (record_.config.open_stdin) {
            if (::pipe2(p, O_CLOEXEC) != 0) {
                int err = errno;
                return Error::from_errno(err, "create stdin pipe");
            }
            in_r.reset(p[0]);
            in_w_.reset(p[1]);
            stdio.in = in_r.get();
        }
    }
    auto started = record_.config.runtime.empty()
                       ? runtime::run(store_->dir(id_) / "bundle", config_, id_, stdio,
                                      runtime_options())
                       : run_external(stdio);
    if (!started) {
        out_r_.reset();
        err_r_.reset();
        in_w_.reset();
        return std::move(started).error();
    }
    pid_ = started->pid;
    pidfd_ = std::move(started->pidfd);
    state_.status = Status::running;
    state_.pid = pid_;
    state_.pid_start_time = process_start_time(pid_);
    state_.started_at = now_rfc3339();
    state_.exit_code = 0;
    state_.oom_killed = false;
    state_.error.clear();
    started_ms_ = mono_ms();
    health_ = effective_healthcheck(record_);
    state_.health_log.clear();
    state_.health_failing_streak = 0;
    state_.health_status = health_ ? "starting" : "";
    probe_.reset();
    schedule_probe(true);
    save_state();
    record_event(paths_, record_, "start");
    return {};
}

Result<runtime::Started> Supervisor::run_external(const runtime::Stdio& stdio) {
    // An OCI runtime such as runc or crun runs the same bundle: the overlay is
    // mounted on the bundle's rootfs in the host's namespace first (and
    // unmounted when the container exits), as containerd does for them.
    auto bundle = store_->dir(id_) / "bundle";
    const auto& ann = config_.value("annotations", json::object());
    auto opts = fmt::format("lowerdir={},upperdir={},workdir={}", ann.value("org.berth.external.lowerdir", ""),
                            ann.value("org.berth.external.upperdir", ""),
                            ann.value("org.berth.external.workdir", ""));
    auto rootfs = bundle / "rootfs";
    ::umount2(rootfs.c_str(), MNT_DETACH);
    if (::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("mount rootfs of {}", id_.substr(0, 12)));
    }
    external_rootfs_ = rootfs;
    auto state_root = paths_.run_root / "external-runtime";
    if (auto r = fs::make_dirs(state_root, 0700); !r) {
        return std::move(r).error();
    }
    std::vector<std::string> args = {record_.config.runtime, "--root", state_root.native(), "run",
                                     "--bundle", bundle.native(), id_};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(devnull);
        return Error::from_errno(err, "fork runtime");
    }
    if (pid == 0) {
        int in = stdio.pty_slave >= 0 ? stdio.pty_slave : (stdio.in >= 0 ? stdio.in : devnull);
        int out = stdio.pty_slave >= 0 ? stdio.pty_slave : (stdio.out >= 0 ? stdio.out : devnull);
        int err = stdio.pty_slave >= 0 ? stdio.pty_slave : (stdio.err >= 0 ? stdio.err : devnull);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    ::close(devnull);
    runtime::Started started;
    started.pid = pid;
    started.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!started.pidfd) {
        int err = errno;
        return Error::from_errno(err, "watch runtime process");
    }
    return started;
}

void Supervisor::cleanup_external() {
    if (external_rootfs_.empty()) {
        return;
    }
    auto state_root = paths_.run_root / "external-runtime";
    pid_t pid = ::fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        ::execl(record_.config.runtime.c_str(), record_.config.runtime.c_str(), "--root",
                state_root.c_str(), "delete", "--force", id_.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    if (pid > 0) {
        int st = 0;
        ::waitpid(pid, &st, 0);
    }
    ::umount2(external_rootfs_.c_str(), MNT_DETACH);
    external_rootfs_.clear();
}

bool Supervisor::forward(int from, std::string_view stream, int to) {
    char buf[65536];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) {
        return false;
    }
    std::string_view data(buf, static_cast<size_t>(n));
    log_->write(stream, data);
    if (to >= 0) {
        while (!data.empty()) {
            ssize_t w = ::write(to, data.data(), data.size());
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                break;  // the client went away; keep logging
            }
            data.remove_prefix(static_cast<size_t>(w));
        }
    }
    return true;
}

void Supervisor::reply(Client& c, const json& j) { send_reply(c, j); }

void Supervisor::handle_client(Client& c) {
    if (receive(c)) {
        process_requests(c);
    }
}

void Supervisor::process_requests(Client& c) {
    auto nl = c.buffer.find('\n');
    if (nl == std::string::npos) {
        return;
    }
    json req;
    try {
        req = json::parse(c.buffer.substr(0, nl));
    } catch (const json::exception&) {
        reply(c, {{"ok", false}, {"error", "bad request"}});
        c.fd.reset();
        return;
    }
    c.buffer.erase(0, nl + 1);
    auto op = req.value("op", "");
    bool running = pid_ > 0;
    if (op == "ping") {
        reply(c, {{"ok", true}, {"pid", pid_}});
    } else if (op == "stop") {
        state_.stopped_by_user = true;
        restart_at_.reset();
        if (!running) {
            state_.status = Status::exited;
        }
        save_state();
        if (!running) {
            reply(c, {{"ok", true}, {"exit_code", state_.exit_code}});
            finish();
            return;
        }
        int timeout = req.value("timeout", 10);
        int sig = parse_signal(resolve_stop_signal(record_));
        if (state_.status == Status::paused) {
            auto r = runtime::resume(config_);
            (void)r;
            state_.status = Status::running;
        }
        if (sig == 0) {
            sig = SIGTERM;
        }
        if (timeout != 0) {
            pidfd_send(pidfd_.get(), sig);
        }
        int64_t deadline = timeout < 0 ? INT64_MAX : mono_ms() + int64_t{timeout} * 1000;
        if (!kill_deadline_ || deadline < *kill_deadline_) {
            kill_deadline_ = deadline;
        }
        c.waiting_exit = true;
    } else if (op == "kill") {
        int sig = req.value("signal", SIGKILL);
        if (!running) {
            reply(c, {{"ok", false}, {"error", fmt::format("container {} is not running", id_.substr(0, 12))}});
            return;
        }
        if (sig == SIGKILL) {
            // A kill by the user counts as a stop for the restart policy, as in Docker.
            state_.stopped_by_user = true;
            save_state();
        }
        pidfd_send(pidfd_.get(), sig);
        reply(c, {{"ok", true}});
    } else if (op == "wait") {
        if (!running && !restart_at_) {
            reply(c, {{"ok", true}, {"exit_code", state_.exit_code}});
        } else {
            c.waiting_exit = true;
        }
    } else if (op == "pause" || op == "unpause") {
        if (!running) {
            reply(c, {{"ok", false}, {"error", fmt::format("container {} is not running", id_.substr(0, 12))}});
            return;
        }
        auto r = op == "pause" ? runtime::pause(config_) : runtime::resume(config_);
        if (!r) {
            reply(c, {{"ok", false}, {"error", r.error().message()}});
            return;
        }
        state_.status = op == "pause" ? Status::paused : Status::running;
        save_state();
        reply(c, {{"ok", true}});
    } else {
        reply(c, {{"ok", false}, {"error", fmt::format("unknown request {}", op)}});
    }
}

void Supervisor::on_exit() {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
        return;  // not yet
    }
    if (probe_) {
        pidfd_send(probe_->pidfd.get(), SIGKILL);
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(probe_->pidfd.get()), &info, WEXITED);
        probe_.reset();
    }
    next_probe_.reset();
    // Drain what the container wrote before it exited.
    for (auto [fd, stream, to] : {std::tuple{out_r_.get(), "stdout", attach_.out},
                                  std::tuple{err_r_.get(), "stderr", attach_.err},
                                  std::tuple{pty_master_.get(), "stdout", attach_.out}}) {
        if (fd < 0) {
            continue;
        }
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
        for (int i = 0; i < 1024 && forward(fd, stream, to); ++i) {
        }
    }
    log_->flush("stdout");
    log_->flush("stderr");
    out_r_.reset();
    err_r_.reset();
    in_w_.reset();
    pidfd_.reset();
    pid_ = -1;
    kill_deadline_.reset();

    if (WIFEXITED(status)) {
        state_.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        state_.exit_code = 128 + WTERMSIG(status);
    }
    if (auto st = runtime::stats(config_); st) {
        state_.oom_killed = st->oom_killed;
    }
    cleanup_external();
    if (auto d = runtime::destroy(config_); !d) {
        log::engine().warn("container {}: {}", id_.substr(0, 12), d.error().message());
    }
    state_.finished_at = now_rfc3339();
    state_.pid = 0;
    state_.pid_start_time = 0;
    record_event(paths_, record_, "die", {{"exitCode", std::to_string(state_.exit_code)}});

    const auto& policy = record_.config.restart;
    bool restart = false;
    if (!state_.stopped_by_user) {
        switch (policy.name) {
            case RestartPolicyName::always:
            case RestartPolicyName::unless_stopped: restart = true; break;
            case RestartPolicyName::on_failure:
                restart = state_.exit_code != 0 &&
                          (policy.max_retries == 0 || state_.restart_count < policy.max_retries);
                break;
            case RestartPolicyName::no: break;
        }
    }
    // Report the first exit to an attached client, then stop forwarding.
    if (!reported_exit_ && status_fd_ >= 0 && (!restart || record_.config.auto_remove)) {
        // The exit is reported after cleanup (in finish) for --rm containers.
        if (!record_.config.auto_remove) {
            write_line(status_fd_, {{"event", "exited"}, {"exit_code", state_.exit_code}});
            ::close(status_fd_);
            status_fd_ = -1;
            reported_exit_ = true;
        }
    }
    if (restart) {
        // Docker's back-off: 100 ms doubling to one minute, reset after a run of 10 s.
        int64_t ran = mono_ms() - started_ms_;
        backoff_ms_ = ran >= 10000 || backoff_ms_ == 0 ? 100 : std::min<int64_t>(backoff_ms_ * 2, 60000);
        restart_at_ = mono_ms() + backoff_ms_;
        state_.status = Status::restarting;
        save_state();
        return;
    }
    state_.status = Status::exited;
    save_state();
    finish();
}

void Supervisor::finish() {
    detach_network(paths_, record_);
    if (record_.config.auto_remove && store_) {
        auto r = remove_container_files(*store_, record_, true);
        if (!r) {
            log::engine().warn("remove container {}: {}", id_.substr(0, 12), r.error().message());
        } else {
            record_event(paths_, record_, "destroy");
        }
    }
    for (auto& c : clients_) {
        if (c.fd && c.waiting_exit) {
            reply(c, {{"ok", true}, {"exit_code", state_.exit_code}});
        }
    }
    if (status_fd_ >= 0) {
        write_line(status_fd_, {{"event", "exited"}, {"exit_code", state_.exit_code}});
    }
    exit_now(0);
}

void Supervisor::exit_now(int code) {
    auto sock = control_socket_path(paths_, id_);
    ::unlink(sock.c_str());
    ::rmdir(paths_.run_container(id_).c_str());
    _exit(code);
}

void Supervisor::run(const SupervisorSeed& seed) {
    if (auto r = setup(seed); !r) {
        write_line(status_fd_, {{"event", "error"}, {"exit", 125}, {"message", r.error().message()}});
        _exit(1);
    }
    if (auto r = start_container(); !r) {
        state_.status = Status::exited;
        state_.exit_code = exit_for(r.error());
        state_.error = r.error().message();
        state_.finished_at = now_rfc3339();
        save_state();
        write_line(status_fd_,
                   {{"event", "error"}, {"exit", exit_for(r.error())}, {"message", r.error().message()}});
        ::close(status_fd_);
        status_fd_ = -1;
        detach_network(paths_, record_);
        if (record_.config.auto_remove && store_) {
            auto ignored = remove_container_files(*store_, record_, true);
            (void)ignored;
        }
        exit_now(1);
    }
    // A detached container: become berth-monitor, which reports the start
    // (so that whoever waits for it finds the supervisor in its small form).
    if (can_hand_off()) {
        hand_off();
    }
    write_line(status_fd_, {{"event", "started"}, {"pid", pid_}});
    if (attach_.out < 0 && attach_.err < 0 && attach_.in < 0) {
        ::close(status_fd_);
        status_fd_ = -1;
    }
    // The supervisor lives as long as its container: give back the heap that
    // the command it was forked from (and the start) used and freed.
    ::malloc_trim(0);
    loop();
}

namespace {

/// berth-monitor, installed next to the berth binary.
std::filesystem::path monitor_binary_path() {
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() / "berth-monitor";
}

/// After this long without exiting, a restarted container counts as settled
/// (Docker resets the restart back-off after the same 10 s), and its
/// supervisor becomes berth-monitor again: a crash loop never pays for the
/// two execve()s per cycle.
constexpr int64_t settled_ms = 10000;

}  // namespace

bool Supervisor::can_hand_off() const {
    if (no_monitor_ || pid_ <= 0 || !pidfd_ || !listen_ || state_.status != Status::running ||
        attach_.in >= 0 || attach_.out >= 0 || attach_.err >= 0 || kill_deadline_ ||
        restart_at_ || health_ || probe_ || !record_.config.runtime.empty()) {
        return false;
    }
    if (state_.restart_count > 0 && mono_ms() - started_ms_ < settled_ms) {
        return false;
    }
    // An exit not handled yet is handled here, not handed back and forth.
    pollfd exited{pidfd_.get(), POLLIN, 0};
    if (::poll(&exited, 1, 0) != 0) {
        return false;
    }
    // Clients: only those waiting for the exit (with nothing unread) move along.
    return std::all_of(clients_.begin(), clients_.end(), [](const Client& c) {
        return !c.fd || (c.waiting_exit && c.buffer.empty());
    });
}

void Supervisor::hand_off() {
    auto monitor = monitor_binary_path();
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec || ::access(monitor.c_str(), X_OK) != 0) {
        no_monitor_ = true;
        return;
    }
    json h = {{"id", id_},
              {"berth", self.native()},
              {"pid", pid_},
              {"pidfd", pidfd_.get()},
              {"out", out_r_ ? out_r_.get() : -1},
              {"err", err_r_ ? err_r_.get() : -1},
              {"pty", pty_master_ ? pty_master_.get() : -1},
              {"in", in_w_ ? in_w_.get() : -1},
              {"listen", listen_.get()},
              {"status", status_fd_},
              {"log", (store_->dir(id_) / (id_ + "-json.log")).native()},
              {"started_ms", started_ms_},
              {"backoff_ms", backoff_ms_},
              {"out_buf", log_->pending("stdout")},
              {"err_buf", log_->pending("stderr")}};
    std::vector<int> keep = {pidfd_.get(), listen_.get(), status_fd_};
    for (int fd : {out_r_.get(), err_r_.get(), pty_master_.get(), in_w_.get()}) {
        keep.push_back(fd);
    }
    json waiters = json::array();
    for (const auto& c : clients_) {
        if (c.fd) {
            waiters.push_back(c.fd.get());
            keep.push_back(c.fd.get());
        }
    }
    h["waiters"] = waiters;
    for (int fd : keep) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, 0);
        }
    }
    std::vector<std::string> args = {"berth-monitor", "__supervise-monitor", "--root",
                                     paths_.root.native(), "--run-root", paths_.run_root.native(),
                                     h.dump(-1, ' ', false, json::error_handler_t::replace)};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ::execve(monitor.c_str(), argv.data(), environ);
    int err = errno;
    for (int fd : keep) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    log::engine().warn("container {}: run {}: {}", id_.substr(0, 12), monitor.native(),
                       std::strerror(err));
    no_monitor_ = true;
}

void Supervisor::resume(const json& h) {
    auto fail = [&](const std::string& what) {
        log::engine().error("container {}: resume supervisor: {}", id_.substr(0, 12), what);
        _exit(1);
    };
    auto store = ContainerStore::open(paths_);
    if (!store) {
        fail(store.error().message());
    }
    store_.emplace(std::move(*store));
    auto rec = store_->get(id_);
    if (!rec) {
        fail(rec.error().message());
    }
    record_ = std::move(*rec);
    auto cfg = read_json(store_->dir(id_) / "bundle" / "config.json");
    if (!cfg) {
        fail(cfg.error().message());
    }
    config_ = std::move(*cfg);
    if (auto prev = store_->state(id_); prev) {
        state_ = *prev;
    }
    auto log = LogWriter::open(store_->dir(id_) / (id_ + "-json.log"));
    if (!log) {
        fail(log.error().message());
    }
    log_.emplace(std::move(*log));
    log_->restore(h.value("out_buf", ""), h.value("err_buf", ""));
    auto adopt = [](UniqueFd& into, int fd) {
        if (fd >= 0) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            into.reset(fd);
        }
    };
    adopt(listen_, h.value("listen", -1));
    adopt(pidfd_, h.value("pidfd", -1));
    adopt(out_r_, h.value("out", -1));
    adopt(err_r_, h.value("err", -1));
    adopt(pty_master_, h.value("pty", -1));
    adopt(in_w_, h.value("in", -1));
    pid_ = h.value("pid", -1);
    started_ms_ = h.value("started_ms", int64_t{0});
    backoff_ms_ = h.value("backoff_ms", int64_t{0});
    health_ = effective_healthcheck(record_);
    if (h.contains("waiters") && h["waiters"].is_array()) {
        for (const auto& fd : h["waiters"]) {
            Client c;
            adopt(c.fd, fd.get<int>());
            c.waiting_exit = true;
            clients_.push_back(std::move(c));
        }
    }
    if (h.contains("pending") && h["pending"].is_object()) {
        const auto& p = h["pending"];
        Client c;
        adopt(c.fd, p.value("fd", -1));
        c.buffer = p.value("request", "") + "\n";
        clients_.push_back(std::move(c));
        process_requests(clients_.back());
    }
    loop();
}

void Supervisor::loop() {
    for (;;) {
        if (can_hand_off()) {
            hand_off();
        }
        std::vector<pollfd> fds;
        enum Kind { k_listen, k_pid, k_out, k_err, k_pty, k_in, k_client, k_probe };
        std::vector<std::pair<Kind, size_t>> kinds;
        auto add = [&](int fd, Kind k, size_t idx = 0) {
            fds.push_back({fd, POLLIN, 0});
            kinds.emplace_back(k, idx);
        };
        add(listen_.get(), k_listen);
        if (pidfd_) {
            add(pidfd_.get(), k_pid);
        }
        if (out_r_) {
            add(out_r_.get(), k_out);
        }
        if (err_r_) {
            add(err_r_.get(), k_err);
        }
        if (pty_master_ && pid_ > 0) {
            add(pty_master_.get(), k_pty);
        }
        if (attach_in_open_ && (in_w_ || pty_master_) && pid_ > 0) {
            add(attach_.in, k_in);
        }
        for (size_t i = 0; i < clients_.size(); ++i) {
            if (clients_[i].fd) {
                add(clients_[i].fd.get(), k_client, i);
            }
        }
        if (probe_) {
            add(probe_->pidfd.get(), k_probe);
        }
        int timeout = -1;
        int64_t now = mono_ms();
        std::optional<int64_t> probe_deadline;
        if (probe_) {
            probe_deadline = probe_->deadline;
        }
        std::optional<int64_t> settle;
        if (pid_ > 0 && state_.restart_count > 0 && !no_monitor_ && now - started_ms_ < settled_ms) {
            settle = started_ms_ + settled_ms;
        }
        for (auto deadline : {kill_deadline_, restart_at_, next_probe_, probe_deadline, settle}) {
            if (deadline) {
                int64_t left = std::max<int64_t>(0, *deadline - now);
                timeout = timeout < 0 ? static_cast<int>(std::min<int64_t>(left, INT32_MAX))
                                      : std::min(timeout, static_cast<int>(left));
            }
        }
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            _exit(2);
        }
        now = mono_ms();
        if (kill_deadline_ && now >= *kill_deadline_ && pid_ > 0) {
            auto r = runtime::kill(config_, pid_, SIGKILL, true);
            if (!r) {
                pidfd_send(pidfd_.get(), SIGKILL);
            }
            kill_deadline_.reset();
        }
        if (probe_ && now >= probe_->deadline) {
            finish_probe(true);
        }
        if (next_probe_ && now >= *next_probe_ && pid_ > 0 && !probe_ && state_.status == Status::running) {
            start_probe();
        }
        if (restart_at_ && now >= *restart_at_ && pid_ <= 0) {
            restart_at_.reset();
            state_.restart_count += 1;
            if (auto r = start_container(); !r) {
                state_.status = Status::exited;
                state_.error = r.error().message();
                state_.exit_code = exit_for(r.error());
                save_state();
                finish();
            }
        }
        if (n <= 0) {
            continue;
        }
        bool exited = false;
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            auto [kind, idx] = kinds[i];
            switch (kind) {
                case k_listen: {
                    int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                    if (c >= 0) {
                        Client cl;
                        cl.fd.reset(c);
                        clients_.push_back(std::move(cl));
                    }
                    break;
                }
                case k_pid: exited = true; break;
                case k_out:
                    if ((fds[i].revents & POLLIN) != 0) {
                        forward(out_r_.get(), "stdout", attach_.out);
                    } else {
                        out_r_.reset();
                    }
                    break;
                case k_err:
                    if ((fds[i].revents & POLLIN) != 0) {
                        forward(err_r_.get(), "stderr", attach_.err);
                    } else {
                        err_r_.reset();
                    }
                    break;
                case k_pty:
                    if ((fds[i].revents & POLLIN) != 0) {
                        forward(pty_master_.get(), "stdout", attach_.out);
                    }
                    break;
                case k_in: {
                    char buf[65536];
                    ssize_t r = ::read(attach_.in, buf, sizeof buf);
                    int target = pty_master_ ? pty_master_.get() : in_w_.get();
                    if (r <= 0) {
                        attach_in_open_ = false;
                        in_w_.reset();  // EOF reaches the container's stdin
                    } else {
                        ssize_t w = ::write(target, buf, static_cast<size_t>(r));
                        (void)w;
                    }
                    break;
                }
                case k_client: handle_client(clients_[idx]); break;
                case k_probe:
                    if (probe_) {
                        finish_probe(false);
                    }
                    break;
            }
        }
        clients_.erase(std::remove_if(clients_.begin(), clients_.end(),
                                      [](const Client& c) { return !c.fd; }),
                       clients_.end());
        if (exited) {
            on_exit();
            if (!restart_at_) {
                continue;
            }
            for (auto& c : clients_) {
                (void)c;  // waiters stay until the final exit
            }
        }
    }
}

}  // namespace

[[noreturn]] void run_supervisor(const Paths& paths, const std::string& id, int status_fd,
                                 const AttachFds& attach, const SupervisorSeed& seed) {
    Supervisor sup(paths, id, status_fd, attach);
    sup.run(seed);
}

[[noreturn]] void resume_supervisor_main(const Paths& paths, const std::string& handoff) {
    json h = json::parse(handoff, nullptr, false);
    if (!h.is_object() || !h.contains("id")) {
        _exit(2);
    }
    ::prctl(PR_SET_NAME, "berth-sup", 0, 0, 0);
    Supervisor sup(paths, h.value("id", ""), -1, AttachFds{});
    sup.resume(h);
}

[[noreturn]] void exec_supervisor_main(const Paths& paths, const std::string& id, int status_fd,
                                       const AttachFds& attach) {
    // Entered by execve from launch_supervisor: a fresh single-threaded
    // process, spawned in its own session. Fork once more so that the
    // supervisor is nobody's child (the launcher reaps this one at once).
    if (pid_t daemon = ::fork(); daemon != 0) {
        _exit(daemon < 0 ? 1 : 0);
    }
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    std::vector<int> keep = {status_fd, attach.in, attach.out, attach.err, attach.pty_master,
                             attach.pty_slave};
    for (int fd = 0; fd <= 2; ++fd) {
        if (std::find(keep.begin(), keep.end(), fd) == keep.end()) {
            ::dup3(devnull, fd, 0);
        }
    }
    ::close(devnull);
    for (int fd : keep) {
        if (fd > 2) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::prctl(PR_SET_NAME, "berth-sup", 0, 0, 0);
    if (::chdir("/") != 0) {
        _exit(1);
    }
    run_supervisor(paths, id, status_fd, attach);
}

namespace {

/// True when this process runs more than one thread: then a forked child may
/// only call async-signal-safe functions before execve.
bool is_multithreaded() {
    auto status = fs::read_file("/proc/self/status");
    if (!status) {
        return true;
    }
    auto pos = status->find("\nThreads:");
    return pos == std::string::npos || std::atoi(status->c_str() + pos + 9) > 1;
}

}  // namespace

Result<StatusReader> launch_supervisor(const Paths& paths, const std::string& id,
                                       const AttachFds& attach, const SupervisorSeed& seed) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        int err = errno;
        return Error::from_errno(err, "create status pipe");
    }
    UniqueFd status_r(p[0]);
    UniqueFd status_w(p[1]);
    // A process running with huge-page malloc (common/heap_tuning.hpp) starts
    // supervisors by exec as well, so that none inherits those settings.
    if (is_multithreaded() || heap::tuned()) {
        // posix_spawn (vfork-like: the page tables of this large, threaded
        // process are not copied, which cost about 1 ms per supervisor): a
        // new session, the inherited fds without CLOEXEC (a dup2 onto itself
        // clears it, glibc >= 2.29), then the exec'd supervisor forks once
        // more to detach (exec_supervisor_main).
        std::vector<std::string> args = {
            "berth", "--root", paths.root.native(), "--run-root", paths.run_root.native(),
            "__supervise", id, std::to_string(status_w.get()),
            std::to_string(attach.in), std::to_string(attach.out), std::to_string(attach.err),
            std::to_string(attach.pty_master), std::to_string(attach.pty_slave)};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        std::vector<int> inherit = {status_w.get(), attach.in, attach.out, attach.err,
                                    attach.pty_master, attach.pty_slave};
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawnattr_init(&attr);
        ScopeExit free_spawn([&] {
            ::posix_spawn_file_actions_destroy(&actions);
            ::posix_spawnattr_destroy(&attr);
        });
        for (int fd : inherit) {
            if (fd >= 0) {
                ::posix_spawn_file_actions_adddup2(&actions, fd, fd);
            }
        }
        ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
        pid_t child = -1;
        if (int rc = ::posix_spawn(&child, "/proc/self/exe", &actions, &attr, argv.data(), environ);
            rc != 0) {
            return Error::from_errno(rc, "spawn supervisor");
        }
        status_w.reset();
        int st = 0;
        while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        StatusReader reader;
        reader.fd = std::move(status_r);
        return reader;
    }
    pid_t child = ::fork();
    if (child < 0) {
        int err = errno;
        return Error::from_errno(err, "fork supervisor");
    }
    if (child == 0) {
        ::setsid();
        pid_t grand = ::fork();
        if (grand != 0) {
            _exit(grand < 0 ? 1 : 0);
        }
        // The supervisor: keep only its status pipe, the attach descriptors and
        // stdio on /dev/null; everything else the CLI had open is closed, and
        // what the CLI inherited itself is closed at the next execve (of the
        // container's process or of berth-monitor).
        status_r.reset();
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        std::vector<int> keep = {status_w.get(), attach.in, attach.out, attach.err,
                                 attach.pty_master, attach.pty_slave};
        for (int fd = 0; fd <= 2; ++fd) {
            if (std::find(keep.begin(), keep.end(), fd) == keep.end()) {
                ::dup3(devnull, fd, 0);
            }
        }
        ::close(devnull);
        ::signal(SIGPIPE, SIG_IGN);
        ::signal(SIGINT, SIG_IGN);
        ::signal(SIGHUP, SIG_IGN);
        ::prctl(PR_SET_NAME, "berth-sup", 0, 0, 0);
        if (::chdir("/") != 0) {
            _exit(1);
        }
        int sfd = status_w.release();
        // Forked: the caller's record and spec are in this process already.
        run_supervisor(paths, id, sfd, attach, seed);
    }
    status_w.reset();
    int st = 0;
    while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    StatusReader reader;
    reader.fd = std::move(status_r);
    return reader;
}

Result<json> control_request(const Paths& paths, const std::string& id, const json& request,
                             int timeout_ms) {
    auto path = control_socket_path(paths, id);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, "create socket");
    }
    UniqueFd guard(fd);
    auto addr = short_socket_address(path);
    if (!addr) {
        return std::move(addr).error();
    }
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr->addr), sizeof addr->addr) != 0) {
        return Error(Errc::unavailable,
                     fmt::format("container {}: supervisor not reachable", id.substr(0, 12)));
    }
    auto text = request.dump() + "\n";
    if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) {
        return Error(Errc::unavailable, fmt::format("container {}: supervisor not reachable", id.substr(0, 12)));
    }
    std::string buf;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    for (;;) {
        auto nl = buf.find('\n');
        if (nl != std::string::npos) {
            try {
                return json::parse(buf.substr(0, nl));
            } catch (const json::exception& e) {
                return Error(Errc::internal, fmt::format("supervisor reply: {}", e.what()));
            }
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            return Error(Errc::unavailable, fmt::format("container {}: supervisor did not answer", id.substr(0, 12)));
        }
        pollfd pfd{fd, POLLIN, 0};
        int n = ::poll(&pfd, 1, timeout_ms < 0 ? -1 : static_cast<int>(std::min<int64_t>(left, INT32_MAX)));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            continue;
        }
        char tmp[4096];
        ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) {
            return Error(Errc::unavailable, fmt::format("container {}: supervisor went away", id.substr(0, 12)));
        }
        buf.append(tmp, static_cast<size_t>(r));
    }
}

}  // namespace berth::engine::containers
