// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/lifecycle.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>

#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "engine/containers/events.hpp"
#include "engine/containers/network.hpp"
#include "engine/containers/spec.hpp"
#include "engine/runtime/runtime.hpp"
#include "volumes/mount_plan.hpp"
#include "volumes/volume_store.hpp"

namespace berth::engine::containers {

using nlohmann::json;

namespace {

Result<fs::FileLock> lock_container(const ContainerStore& store, const std::string& id) {
    return fs::FileLock::acquire(store.paths().locks() / "containers" / (id + ".lock"));
}

bool is_live(Status s) {
    return s == Status::running || s == Status::paused || s == Status::restarting;
}

/// The directories of a container beside its record; idempotent.
Result<void> make_container_dirs(const std::filesystem::path& dir) {
    for (const char* d : {"upper", "work", "bundle", "bundle/rootfs"}) {
        if (auto r = fs::make_dirs(dir / d, 0755); !r) {
            return r;
        }
    }
    ::chmod(dir.c_str(), 0711);
    return {};
}

Errc errc_for_exit(int code) {
    switch (code) {
        case 127: return Errc::not_found;
        case 126: return Errc::permission_denied;
        default: return Errc::internal;
    }
}

}  // namespace

std::filesystem::path init_binary_path() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return self.parent_path() / "berth-init";
}

Result<std::filesystem::path> ensure_init_layer(const Paths& paths) {
    auto dir = paths.root / "initlayer";
    if (std::filesystem::exists(dir / ".complete")) {
        return dir;
    }
    auto lock = fs::FileLock::acquire(paths.locks() / "initlayer.lock");
    if (!lock) {
        return std::move(lock).error();
    }
    if (std::filesystem::exists(dir / ".complete")) {
        return dir;
    }
    auto tmp = fs::TempDir::create(paths.root, ".initlayer-");
    if (!tmp) {
        return std::move(tmp).error();
    }
    const auto& t = tmp->path();
    ::chmod(t.c_str(), 0755);
    for (const char* d : {"dev", "dev/pts", "dev/shm", "proc", "sys", "etc"}) {
        if (::mkdir((t / d).c_str(), 0755) != 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("create init layer {}", d));
        }
    }
    for (const char* f : {".dockerenv", "etc/resolv.conf", "etc/hosts", "etc/hostname", "dev/console"}) {
        int fd = ::open((t / f).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            int err = errno;
            return Error::from_errno(err, fmt::format("create init layer {}", f));
        }
        ::close(fd);
    }
    if (::symlink("/proc/mounts", (t / "etc/mtab").c_str()) != 0) {
        int err = errno;
        return Error::from_errno(err, "create init layer etc/mtab");
    }
    if (auto r = fs::write_atomic(t / ".complete", ""); !r) {
        return std::move(r).error();
    }
    auto ignored = fs::remove_tree(dir);
    (void)ignored;
    if (::rename(t.c_str(), dir.c_str()) != 0) {
        int err = errno;
        return Error::from_errno(err, "install init layer");
    }
    tmp->release();
    return dir;
}

Result<ContainerRecord> create_container(ContainerStore& store, ContainerConfig config,
                                         std::string name, const ImageRef& image, std::string id) {
    ContainerRecord rec;
    rec.id = std::move(id);
    rec.name = std::move(name);
    rec.config = std::move(config);
    rec.image_id = image.id;
    rec.image_config = image.config;
    rec.layers = image.layers;
    // Validate what can be validated before anything is written.
    if (auto args = resolve_args(rec); !args) {
        return std::move(args).error();
    }
    auto created = store.create(std::move(rec));
    if (!created) {
        return created;
    }
    if (failpoint("container_create_after_record")) {
        return Error(Errc::internal, "failpoint container_create_after_record");
    }
    if (auto r = make_container_dirs(store.dir(created->id)); !r) {
        auto ignored = store.remove(*created);
        (void)ignored;
        return std::move(r).error();
    }
    record_event(store.paths(), *created, "create");
    return created;
}

Result<json> load_bundle_config(const ContainerStore& store, const std::string& id) {
    return read_json(store.dir(id) / "bundle" / "config.json");
}

Result<StartOutcome> start_container(ContainerStore& store, const ContainerRecord& record,
                                     const AttachFds& attach) {
    if (!record.broken.empty()) {
        return Error(Errc::failed_precondition,
                     fmt::format("container {} has an unreadable record ({}): it can only be "
                                 "removed (rm -f)",
                                 record.short_id(), record.broken));
    }
    auto lock = lock_container(store, record.id);
    if (!lock) {
        return std::move(lock).error();
    }
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (is_live(st->status)) {
        StartOutcome already;
        already.pid = st->pid;
        return already;
    }
    const auto& paths = store.paths();
    auto init_layer = ensure_init_layer(paths);
    if (!init_layer) {
        return std::move(init_layer).error();
    }
    if (failpoint("container_start_before_network")) {
        return Error(Errc::internal, "failpoint container_start_before_network");
    }
    auto net = attach_network(paths, record, store);
    if (!net) {
        return std::move(net).error().wrap(fmt::format("start container {}", record.name));
    }
    ScopeExit undo_net([&] { detach_network(paths, record); });
    if (failpoint("container_start_after_network")) {
        return Error(Errc::internal, "failpoint container_start_after_network");
    }
    auto dir = store.dir(record.id);
    // A create killed between the record and its directories left them out.
    if (auto r = make_container_dirs(dir); !r) {
        return std::move(r).error();
    }
    auto hostname = resolve_hostname(record);
    for (const auto& [file, content] :
         {std::pair<const char*, std::string>{"hostname", hostname + "\n"},
          {"hosts", net->hosts},
          {"resolv.conf", net->resolv_conf}}) {
        if (auto r = fs::write_atomic(dir / file, content, 0644, fs::Durability::process_crash); !r) {
            return std::move(r).error();
        }
    }
    SpecInputs in;
    in.container_dir = dir;
    in.lowerdirs.push_back(init_layer->native());
    for (auto it = record.layers.rbegin(); it != record.layers.rend(); ++it) {
        in.lowerdirs.push_back(*it);
    }
    in.cgroup_path = fmt::format("/{}/{}", paths.prefix, record.id);
    in.netns_path = net->netns_path;
    in.host_network = net->host;
    in.init_binary = init_binary_path();
    in.external_runtime = !record.config.runtime.empty();
    // The profile comes from seccomp_for_caps for the container's capabilities.
    in.base_spec = runtime::default_spec(false);
    in.seccomp_for_caps = [](const std::vector<std::string>& caps) {
        return runtime::seccomp_for_caps(caps);
    };
    if (record.config.init && !std::filesystem::exists(in.init_binary)) {
        return Error(Errc::not_found,
                     fmt::format("start container {}: init binary {} not found", record.name,
                                 in.init_binary.native()));
    }
    auto spec = build_spec(record, in);
    if (!spec) {
        return std::move(spec).error().wrap(fmt::format("start container {}", record.name));
    }
    // Regenerated at every start: no fsync on the start path.
    if (auto r = write_json(dir / "bundle" / "config.json", *spec, 2, 0644,
                            fs::Durability::process_crash);
        !r) {
        return std::move(r).error();
    }
    if (failpoint("container_start_before_supervisor")) {
        return Error(Errc::internal, "failpoint container_start_before_supervisor");
    }
    auto reader = launch_supervisor(paths, record.id, attach, SupervisorSeed{&record, &*spec});
    if (!reader) {
        return std::move(reader).error();
    }
    // From here the supervisor owns the network setup and undoes it itself.
    undo_net.cancel();
    if (failpoint("container_start_after_supervisor")) {
        return Error(Errc::internal, "failpoint container_start_after_supervisor");
    }
    auto ev = reader->next();
    if (!ev) {
        return Error(Errc::internal,
                     fmt::format("start container {}: supervisor died during start", record.name));
    }
    if (ev->value("event", "") == "error") {
        int code = ev->value("exit", 125);
        return Error(errc_for_exit(code), ev->value("message", "start failed"));
    }
    StartOutcome out;
    out.pid = ev->value("pid", 0);
    out.status = std::move(*reader);
    return out;
}

namespace {

/// Stops a container whose supervisor is gone (F3): signal the process
/// directly, after checking it is still the same process (F7).
Result<int> stop_unsupervised(ContainerStore& store, const ContainerRecord& record,
                              ContainerState st, int timeout) {
    auto config = load_bundle_config(store, record.id);
    if (process_matches(st.pid, st.pid_start_time)) {
        int sig = parse_signal(resolve_stop_signal(record));
        if (timeout != 0) {
            ::kill(st.pid, sig == 0 ? SIGTERM : sig);
        }
        for (int waited = 0; timeout < 0 || waited < timeout * 20; ++waited) {
            if (!process_matches(st.pid, st.pid_start_time)) {
                break;
            }
            ::poll(nullptr, 0, 50);
        }
        if (process_matches(st.pid, st.pid_start_time)) {
            if (config) {
                auto r = runtime::kill(*config, st.pid, SIGKILL, true);
                (void)r;
            }
            ::kill(st.pid, SIGKILL);
            st.exit_code = 137;
            while (process_matches(st.pid, st.pid_start_time)) {
                ::poll(nullptr, 0, 10);
            }
        } else {
            st.exit_code = sig == SIGKILL ? 137 : 128 + (sig == 0 ? SIGTERM : sig);
        }
    }
    if (config) {
        auto r = runtime::destroy(*config);
        (void)r;
    }
    detach_network(store.paths(), record);
    st.status = Status::exited;
    st.pid = 0;
    st.stopped_by_user = true;
    st.finished_at = now_rfc3339();
    if (auto r = store.write_state(record.id, st); !r) {
        return std::move(r).error();
    }
    return st.exit_code;
}

}  // namespace

Result<int> stop_container(ContainerStore& store, const ContainerRecord& record, int timeout) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (!is_live(st->status)) {
        return st->exit_code;
    }
    if (timeout < 0) {
        timeout = record.config.stop_timeout.value_or(10);
    }
    auto reply = control_request(store.paths(), record.id, {{"op", "stop"}, {"timeout", timeout}});
    if (reply && reply->value("ok", false)) {
        record_event(store.paths(), record, "stop");
        return reply->value("exit_code", 0);
    }
    if (reply) {
        return Error(Errc::internal, fmt::format("stop container {}: {}", record.name,
                                                 reply->value("error", "failed")));
    }
    if (reply.error().code() != Errc::unavailable) {
        return std::move(reply).error();
    }
    return stop_unsupervised(store, record, *st, timeout);
}

Result<void> kill_container(ContainerStore& store, const ContainerRecord& record, int signal) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (!is_live(st->status) || st->status == Status::restarting) {
        return Error(Errc::failed_precondition,
                     fmt::format("cannot kill container: {}: container {} is not running",
                                 record.name, record.id));
    }
    auto reply = control_request(store.paths(), record.id, {{"op", "kill"}, {"signal", signal}});
    if (reply) {
        if (!reply->value("ok", false)) {
            return Error(Errc::failed_precondition, reply->value("error", "kill failed"));
        }
        record_event(store.paths(), record, "kill", {{"signal", std::to_string(signal)}});
        return {};
    }
    if (!process_matches(st->pid, st->pid_start_time)) {
        return Error(Errc::failed_precondition,
                     fmt::format("cannot kill container: {}: container is not running", record.name));
    }
    if (::kill(st->pid, signal) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("kill container {}", record.name));
    }
    return {};
}

namespace {

/// Releases every volume `id` holds; with `anonymous`, also removes the
/// anonymous ones nobody else holds (`rm -v` of a container whose record is
/// unreadable).
void release_held_volumes(volumes::VolumeStore& vstore, const std::string& id, bool anonymous) {
    auto all = vstore.list();
    if (!all) {
        log::engine().warn("release volumes of {}: {}", id.substr(0, 12), all.error().message());
        return;
    }
    for (const auto& v : *all) {
        auto holders = vstore.holders(v.name);
        if (!holders || std::find(holders->begin(), holders->end(), id) == holders->end()) {
            continue;
        }
        if (auto r = vstore.release(v.name, id); !r) {
            log::engine().warn("release volume {}: {}", v.name, r.error().message());
            continue;
        }
        if (anonymous && v.anonymous && holders->size() == 1) {
            auto r = vstore.remove(v.name, true, [](const std::string&) { return false; });
            if (!r) {
                log::engine().warn("remove volume {}: {}", v.name, r.error().message());
            }
        }
    }
}

}  // namespace

Result<void> remove_container_files(const ContainerStore& store, const ContainerRecord& record,
                                    bool volumes) {
    // Volumes first, the record last: a process killed in between leaves the
    // record, and the rerun releases again (idempotent) instead of leaving
    // holders (and anonymous volumes) that no record names any more (F2).
    auto vstore = volumes::VolumeStore::open(store.paths());
    if (!vstore) {
        return std::move(vstore).error();
    }
    if (!record.broken.empty()) {
        // The record cannot say which volumes it used: the holders can.
        release_held_volumes(*vstore, record.id, volumes);
        return store.remove(record);
    }
    auto released = volumes::release_mounts(*vstore, record.config.volumes, record.id);
    if (!released) {
        log::engine().warn("release volumes of {}: {}", record.short_id(), released.error().message());
    }
    if (volumes) {
        for (const auto& name : record.config.anonymous_volumes) {
            auto r = vstore->remove(name, true, [](const std::string&) { return false; });
            if (!r) {
                log::engine().warn("remove volume {}: {}", name, r.error().message());
            }
        }
    }
    if (failpoint("container_remove_before_record")) {
        return Error(Errc::internal, "failpoint container_remove_before_record");
    }
    return store.remove(record);
}

Result<void> remove_container(ContainerStore& store, const ContainerRecord& record, bool force,
                              bool volumes) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (is_live(st->status)) {
        if (!force) {
            return Error(Errc::conflict,
                         fmt::format("cannot remove container \"/{}\": container is running: stop the "
                                     "container before removing or force remove",
                                     record.name));
        }
        auto stopped = stop_container(store, record, 0);
        if (!stopped) {
            return std::move(stopped).error();
        }
    }
    auto lock = lock_container(store, record.id);
    if (!lock) {
        return std::move(lock).error();
    }
    // The supervisor may still be finishing (network detach): wait for it.
    auto fin = store.state(record.id);
    if (fin && process_matches(fin->supervisor_pid, fin->supervisor_start_time)) {
        // The pidfd first, then the start time: the pidfd then names that very
        // process, and poll wakes when it exits (at most 2 s, as before).
        UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, fin->supervisor_pid, 0)));
        if (pidfd && process_matches(fin->supervisor_pid, fin->supervisor_start_time)) {
            pollfd pfd{pidfd.get(), POLLIN, 0};
            while (::poll(&pfd, 1, 2000) < 0 && errno == EINTR) {
            }
        }
    }
    if (auto config = load_bundle_config(store, record.id); config) {
        auto r = runtime::destroy(*config);
        (void)r;
    }
    detach_network(store.paths(), record);
    if (auto r = remove_container_files(store, record, volumes); !r) {
        return r;
    }
    record_event(store.paths(), record, "destroy");
    return {};
}

Result<int> wait_container(ContainerStore& store, const ContainerRecord& record) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (!is_live(st->status)) {
        return st->exit_code;
    }
    auto reply = control_request(store.paths(), record.id, {{"op", "wait"}});
    if (reply && reply->value("ok", false)) {
        return reply->value("exit_code", 0);
    }
    // No supervisor: wait for the process itself.
    while (process_matches(st->pid, st->pid_start_time)) {
        ::poll(nullptr, 0, 50);
    }
    auto after = store.state(record.id);
    return after ? after->exit_code : 255;
}

Result<void> pause_container(ContainerStore& store, const ContainerRecord& record, bool pause) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (pause && st->status == Status::paused) {
        return Error(Errc::failed_precondition, fmt::format("container {} is already paused", record.id));
    }
    if (!pause && st->status != Status::paused) {
        return Error(Errc::failed_precondition, fmt::format("container {} is not paused", record.id));
    }
    if (!is_live(st->status)) {
        return Error(Errc::failed_precondition, fmt::format("container {} is not running", record.id));
    }
    auto reply = control_request(store.paths(), record.id, {{"op", pause ? "pause" : "unpause"}});
    if (!reply) {
        return std::move(reply).error();
    }
    if (!reply->value("ok", false)) {
        return Error(Errc::failed_precondition, reply->value("error", "failed"));
    }
    record_event(store.paths(), record, pause ? "pause" : "unpause");
    return {};
}

Result<runtime::Started> start_exec(ContainerStore& store, const ContainerRecord& record,
                                    const ExecRequest& request) {
    auto st = store.state(record.id);
    if (!st) {
        return std::move(st).error();
    }
    if (st->status == Status::paused) {
        return Error(Errc::failed_precondition,
                     fmt::format("container {} is paused, unpause the container before exec", record.id));
    }
    if (st->status != Status::running || !process_matches(st->pid, st->pid_start_time)) {
        return Error(Errc::failed_precondition, fmt::format("container {} is not running", record.id));
    }
    auto config = load_bundle_config(store, record.id);
    if (!config) {
        return std::move(config).error();
    }
    json process = (*config)["process"];
    process["args"] = request.cmd;
    process["terminal"] = request.tty;
    std::vector<std::string> env = process.value("env", std::vector<std::string>{});
    for (const auto& e : request.env) {
        auto key = e.substr(0, e.find('='));
        auto it = std::find_if(env.begin(), env.end(),
                               [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
        if (it != env.end()) {
            *it = e;
        } else {
            env.push_back(e);
        }
    }
    process["env"] = env;
    if (!request.working_dir.empty()) {
        process["cwd"] = request.working_dir;
    }
    if (!request.user.empty()) {
        process["user"] = json{{"uid", 0}, {"gid", 0}, {"username", request.user}};
    }
    process.erase("rlimits");
    process.erase("oomScoreAdj");
    if (request.privileged) {
        ContainerRecord priv = record;
        priv.config.privileged = true;
        auto caps = resolve_capabilities(priv, {});
        if (caps) {
            process["capabilities"] = json{{"bounding", *caps}, {"effective", *caps},
                                           {"permitted", *caps}, {"inheritable", json::array()},
                                           {"ambient", json::array()}};
        }
    }
    runtime::Stdio stdio;
    UniqueFd devnull;
    if (request.detach) {
        devnull.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
        stdio.in = stdio.out = stdio.err = devnull.get();
    } else if (request.tty && request.pty_slave >= 0) {
        stdio.pty_slave = request.pty_slave;
    } else {
        stdio.in = request.interactive ? 0 : -1;
        stdio.out = 1;
        stdio.err = 2;
    }
    return runtime::exec(st->pid, *config, process, stdio,
                         runtime::Options{store.paths().run_root / "seccomp"});
}

Result<int> exec_container(ContainerStore& store, const ContainerRecord& record,
                           const ExecRequest& request) {
    auto started = start_exec(store, record, request);
    if (!started) {
        return std::move(started).error();
    }
    if (request.detach) {
        return 0;
    }
    return wait_exec(*started);
}

Result<int> wait_exec(const runtime::Started& started) {
    siginfo_t info{};
    for (;;) {
        int r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(started.pidfd.get()), &info,
                         WEXITED);
        if (r == 0) {
            break;
        }
        if (errno != EINTR) {
            int err = errno;
            return Error::from_errno(err, "wait for exec process");
        }
    }
    if (info.si_code == CLD_EXITED) {
        return info.si_status;
    }
    return 128 + info.si_status;
}

}  // namespace berth::engine::containers
