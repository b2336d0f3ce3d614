// SPDX-License-Identifier: Apache-2.0
// run() and exec(): the forked processes that become a container's init or an
// exec'd process, and the pipe protocol that reports their setup failures.
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <set>

#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "engine/runtime/internal/cgroup.hpp"
#include "engine/runtime/internal/rootfs.hpp"
#include "engine/runtime/internal/seccomp.hpp"
#include "engine/runtime/runtime.hpp"
#include "engine/runtime/spec.hpp"
#include "engine/runtime/user.hpp"

namespace berth::engine::runtime {
namespace {

namespace stdfs = std::filesystem;
using detail::SeccompProgram;

/// What a failing child sends back before it exits.
struct ChildError {
    int32_t sys_errno = 0;
    int32_t code = 0;
    char message[2000] = {};
};

Error sys_error(std::string_view what) {
    int err = errno;
    return Error::from_errno(err, what);
}

[[noreturn]] void child_fail(int err_fd, const Error& e) {
    ChildError ce;
    ce.sys_errno = e.sys_errno();
    ce.code = static_cast<int32_t>(e.code());
    std::snprintf(ce.message, sizeof(ce.message), "%s", e.message().c_str());
    ssize_t n = ::write(err_fd, &ce, sizeof(ce));
    (void)n;
    ::_exit(125);
}

/// Reads the child's report: EOF without data means it exec'd.
Result<void> read_child_error(int err_fd) {
    ChildError ce;
    size_t got = 0;
    while (got < sizeof(ce)) {
        ssize_t n = ::read(err_fd, reinterpret_cast<char*>(&ce) + got, sizeof(ce) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    if (got == 0) {
        return {};
    }
    if (got != sizeof(ce)) {
        return Error(Errc::internal, "container setup: truncated error report");
    }
    ce.message[sizeof(ce.message) - 1] = '\0';
    return Error(static_cast<Errc>(ce.code), ce.message, ce.sys_errno);
}

struct Pipe {
    UniqueFd r, w;
};

Result<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return sys_error("create pipe");
    }
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

pid_t clone3_call(uint64_t flags, int* pidfd, int cgroup_fd = -1) {
    clone_args args{};
    if (cgroup_fd >= 0) {
        // cgroup v2: born in the container's cgroup, no migration (and no
        // threadgroup lock) at all.
        flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(cgroup_fd);
    }
    args.flags = flags;
    args.pidfd = reinterpret_cast<uint64_t>(pidfd);
    args.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof(args)));
}

/// Puts the caller's stdio fds on 0, 1 and 2 (-1: /dev/null); a pty becomes
/// the controlling terminal of a new session.
Result<void> make_ctty(int fd) {
    if (::setsid() < 0) {
        return sys_error("setsid");
    }
    if (::ioctl(fd, TIOCSCTTY, 0) != 0) {
        return sys_error("set controlling terminal");
    }
    return {};
}

Result<void> setup_stdio(const Stdio& stdio, bool terminal, bool ctty) {
    int src[3] = {stdio.in, stdio.out, stdio.err};
    if (terminal) {
        if (stdio.pty_slave < 0) {
            return Error(Errc::invalid_argument, "process.terminal is set but no pty was given");
        }
        if (ctty) {
            auto c = make_ctty(stdio.pty_slave);
            if (!c) {
                return c;
            }
        }
        src[0] = src[1] = src[2] = stdio.pty_slave;
    }
    // Move every source above 2 first, so that dup2 cannot clobber one.
    int moved[3];
    for (int i = 0; i < 3; ++i) {
        if (src[i] < 0) {
            moved[i] = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        } else {
            moved[i] = ::fcntl(src[i], F_DUPFD_CLOEXEC, 3);
        }
        if (moved[i] < 0) {
            return sys_error("prepare stdio");
        }
    }
    for (int i = 0; i < 3; ++i) {
        if (::dup2(moved[i], i) < 0) {
            return sys_error("set stdio");
        }
        ::close(moved[i]);
    }
    return {};
}

void reset_signals() {
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s = 1; s < NSIG; ++s) {
        if (s != SIGKILL && s != SIGSTOP) {
            ::signal(s, SIG_DFL);
        }
    }
}

Result<void> loopback_up() {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return sys_error("open socket for lo");
    }
    UniqueFd sock(s);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
        return sys_error("get flags of lo");
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
        return sys_error("bring lo up");
    }
    return {};
}

Result<void> apply_rlimits(const std::vector<Rlimit>& rlimits) {
    for (const auto& rl : rlimits) {
        int res = rlimit_resource(rl.type);
        rlimit cur{};
        if (::getrlimit(res, &cur) != 0) {
            return sys_error(fmt::format("get {}", rl.type));
        }
        // Raising a hard limit needs CAP_SYS_RESOURCE, which berth may lack: say so.
        if (cur.rlim_max != RLIM_INFINITY && rl.hard > cur.rlim_max) {
            return Error(Errc::permission_denied,
                         fmt::format("set {}: hard limit {} is above the current hard limit {} "
                                     "(raising it needs CAP_SYS_RESOURCE)",
                                     rl.type, rl.hard, cur.rlim_max));
        }
        rlimit nl{rl.soft, rl.hard};
        if (::setrlimit(res, &nl) != 0) {
            return sys_error(fmt::format("set {} to {}:{}", rl.type, rl.soft, rl.hard));
        }
    }
    return {};
}

std::string read_in_root(const std::string& path) {
    auto fd = detail::open_resolved(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0);
    if (!fd) {
        return {};
    }
    auto f = detail::open_resolved(fd->get(), path, O_RDONLY,
                                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (!f) {
        return {};
    }
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(f->get(), buf, sizeof(buf))) > 0 && out.size() < (1u << 20)) {
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<std::vector<cap_value_t>> cap_values(const std::vector<std::string>& names) {
    std::vector<cap_value_t> out;
    for (const auto& n : names) {
        cap_value_t v;
        std::string lower;
        for (char c : n) {
            lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        if (::cap_from_name(lower.c_str(), &v) != 0) {
            return Error(Errc::invalid_argument, fmt::format("unknown capability \"{}\"", n));
        }
        if (v <= static_cast<cap_value_t>(::cap_max_bits()) - 1) {
            out.push_back(v);
        }
    }
    return out;
}

bool has_env(const std::vector<std::string>& env, std::string_view key) {
    for (const auto& e : env) {
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
            return true;
        }
    }
    return false;
}

/// Finds args[0] in PATH, as Docker reports it.
Result<std::string> find_executable(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) {
        struct stat st {};
        if (::stat(name.c_str(), &st) != 0) {
            int err = errno;
            // Go's wording (lower case), as runc reports it: "no such file or directory".
            std::string why = std::strerror(err);
            if (!why.empty()) {
                why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
            }
            return Error(err == ENOENT ? Errc::not_found : Errc::permission_denied,
                         fmt::format("exec: \"{}\": stat {}: {}", name, name, why), err);
        }
        return name;
    }
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& e : env) {
        if (e.rfind("PATH=", 0) == 0) {
            path = e.substr(5);
        }
    }
    bool denied = false;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? std::string::npos
                                                                       : end - start);
        std::string cand = (dir.empty() ? "." : dir) + "/" + name;
        struct stat st {};
        if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            if (::access(cand.c_str(), X_OK) == 0) {
                return cand;
            }
            denied = true;
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    if (denied) {
        return Error(Errc::permission_denied,
                     fmt::format("exec: \"{}\": permission denied", name), EACCES);
    }
    return Error(Errc::not_found,
                 fmt::format("exec: \"{}\": executable file not found in $PATH", name), ENOENT);
}

/// Stdio slots that hold the host's /dev/null get the container's own
/// /dev/null instead (checked to be char 1:3), so that no host path shows.
void reopen_null_stdio() {
    int fd = ::open("/dev/null", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) ||
        st.st_rdev != makedev(1, 3)) {
        if (fd >= 0) {
            ::close(fd);
        }
        return;
    }
    for (int i = 0; i < 3; ++i) {
        struct stat cur {};
        if (::fstat(i, &cur) == 0 && S_ISCHR(cur.st_mode) && cur.st_rdev == makedev(1, 3) &&
            (cur.st_dev != st.st_dev || cur.st_ino != st.st_ino)) {
            ::dup2(fd, i);
        }
    }
    ::close(fd);
}

/// The common tail of run() and exec(), in the final process, with the
/// container's root already in place: user, cwd, rlimits, capabilities,
/// no_new_privs, seccomp, then execve. Returns only on failure.
Error finish_and_exec(const Process& proc, const SeccompProgram* seccomp, const std::string& hostname,
                      const std::vector<Rlimit>& rlimits) {
    (void)hostname;
    reopen_null_stdio();
    // User: resolved inside the container (rows 5 and 6).
    ResolvedUser user;
    user.uid = proc.user.uid;
    user.gid = proc.user.gid;
    user.groups = proc.user.additional_gids;
    user.home.assign(1, '/');
    std::string passwd = read_in_root("/etc/passwd");
    if (!proc.user.username.empty()) {
        auto r = resolve_user(proc.user.username, passwd, read_in_root("/etc/group"),
                              proc.user.additional_gids);
        if (!r) {
            return std::move(r).error();
        }
        user = *r;
    } else if (!passwd.empty()) {
        auto r = resolve_user(std::to_string(proc.user.uid), passwd, "", {});
        if (r) {
            user.home = r->home;
        }
    }
    std::vector<std::string> env = proc.env;
    if (!has_env(env, "HOME")) {
        env.push_back("HOME=" + user.home);
    }
    if (!has_env(env, "PATH")) {
        env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }
    // cwd: created like Docker, then verified to be inside the root (row 2).
    auto root = detail::open_resolved(AT_FDCWD, "/", O_PATH | O_DIRECTORY, 0);
    if (!root) {
        return std::move(root).error();
    }
    auto cwd = detail::ensure_in_root(root->get(), proc.cwd, true);
    if (!cwd) {
        return std::move(cwd).error().wrap(fmt::format("create cwd {}", proc.cwd));
    }
    if (::fchdir(cwd->get()) != 0) {
        return sys_error(fmt::format("chdir to {}", proc.cwd));
    }
    char buf[4096];
    if (::getcwd(buf, sizeof(buf)) == nullptr || buf[0] != '/') {
        return Error(Errc::permission_denied,
                     fmt::format("cwd {} is outside the container root", proc.cwd));
    }
    auto rl = apply_rlimits(rlimits);
    if (!rl) {
        return std::move(rl).error();
    }
    if (proc.user.umask) {
        ::umask(*proc.user.umask);
    }
    Capabilities caps;
    if (proc.capabilities) {
        caps = *proc.capabilities;
    }
    // A non-root user gets no capabilities unless ambient ones are asked for
    // (Docker since GHSA-2mm7-x5h6-5pvq; RELIABILITY row 4).
    if (user.uid != 0 && caps.ambient.empty()) {
        caps.effective.clear();
        caps.permitted.clear();
        caps.inheritable.clear();
    }
    auto bounding = cap_values(caps.bounding);
    auto effective = cap_values(caps.effective);
    auto permitted = cap_values(caps.permitted);
    auto inheritable = cap_values(caps.inheritable);
    auto ambient = cap_values(caps.ambient);
    for (auto* r : {&bounding, &effective, &permitted, &inheritable, &ambient}) {
        if (!*r) {
            return std::move(*r).error();
        }
    }
    auto exe = find_executable(proc.args[0], env);
    if (!exe) {
        return std::move(exe).error();
    }
    std::vector<char*> argv;
    for (const auto& a : proc.args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);
    // Only stdio survives the exec (row 2, F28).
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        return sys_error("mark fds close-on-exec");
    }
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while
    // still root, as runc does; the default profile allows what follows.
    if (seccomp != nullptr && !proc.no_new_privileges) {
        if (int e = detail::load_seccomp(*seccomp); e != 0) {
            return Error::from_errno(e, "load seccomp filter");
        }
    }
    for (cap_value_t c = 0; c < static_cast<cap_value_t>(::cap_max_bits()); ++c) {
        if (std::find(bounding->begin(), bounding->end(), c) == bounding->end() &&
            ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
            return sys_error("drop bounding capability");
        }
    }
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
        return sys_error("keep capabilities");
    }
    if (::setgroups(user.groups.size(), user.groups.data()) != 0) {
        return sys_error("setgroups");
    }
    if (::setresgid(user.gid, user.gid, user.gid) != 0) {
        return sys_error(fmt::format("setgid {}", user.gid));
    }
    if (::setresuid(user.uid, user.uid, user.uid) != 0) {
        return sys_error(fmt::format("setuid {}", user.uid));
    }
    ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    cap_t cs = ::cap_init();
    if (cs == nullptr) {
        return sys_error("cap_init");
    }
    auto set = [&](const std::vector<cap_value_t>& v, cap_flag_t flag) {
        if (!v.empty()) {
            ::cap_set_flag(cs, flag, static_cast<int>(v.size()), v.data(), CAP_SET);
        }
    };
    set(*effective, CAP_EFFECTIVE);
    set(*permitted, CAP_PERMITTED);
    set(*inheritable, CAP_INHERITABLE);
    int rc = ::cap_set_proc(cs);
    int err = errno;
    ::cap_free(cs);
    if (rc != 0) {
        return Error::from_errno(err, "set capabilities");
    }
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (cap_value_t c : *ambient) {
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) {
            return sys_error(fmt::format("raise ambient capability {}", c));
        }
    }
    if (proc.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return sys_error("set no_new_privs");
    }
    if (seccomp != nullptr && proc.no_new_privileges) {
        if (int e = detail::load_seccomp(*seccomp); e != 0) {
            return Error::from_errno(e, "load seccomp filter");
        }
    }
    reset_signals();
    ::execve(exe->c_str(), argv.data(), envp.data());
    int e = errno;
    if (e == EACCES || e == EPERM) {
        return Error(Errc::permission_denied,
                     fmt::format("exec: \"{}\": permission denied", proc.args[0]), e);
    }
    if (e == ENOENT) {
        return Error(Errc::not_found,
                     fmt::format("exec: \"{}\": no such file or directory", proc.args[0]), e);
    }
    return Error::from_errno(e, fmt::format("exec {}", proc.args[0]));
}

uint64_t ns_flag(const std::string& type) {
    if (type == "pid") {
        return CLONE_NEWPID;
    }
    if (type == "network") {
        return CLONE_NEWNET;
    }
    if (type == "mount") {
        return CLONE_NEWNS;
    }
    if (type == "ipc") {
        return CLONE_NEWIPC;
    }
    if (type == "uts") {
        return CLONE_NEWUTS;
    }
    if (type == "cgroup") {
        return CLONE_NEWCGROUP;
    }
    if (type == "time") {
        return CLONE_NEWTIME;
    }
    return 0;
}

/// The container's first process, between clone3 and execve.
[[noreturn]] void container_init(const Spec& spec, const stdfs::path& bundle, const Stdio& stdio,
                                 int sync_fd, int err_fd, const SeccompProgram* seccomp,
                                 const detail::Cgroup* join_cgroup) {
    auto fail = [&](Error e) { child_fail(err_fd, e); };
    char go = 0;
    if (::read(sync_fd, &go, 1) != 1) {
        ::_exit(125);  // the parent gave up; it reports the error
    }
    ::close(sync_fd);
    // cgroup v1: we move ourselves, before anything else runs here and while
    // the host's cgroupfs is still in view (see Cgroup::add_self).
    if (join_cgroup != nullptr) {
        if (auto a = join_cgroup->add_self(); !a) {
            fail(std::move(a).error().wrap("join cgroup"));
        }
    }
    auto s = setup_stdio(stdio, spec.process.terminal, true);
    if (!s) {
        fail(std::move(s).error());
    }
    for (const auto& ns : spec.linux.namespaces) {
        if (ns.path.empty()) {
            continue;
        }
        int fd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fail(sys_error(fmt::format("open {} namespace {}", ns.type, ns.path)));
        }
        if (::setns(fd, static_cast<int>(ns_flag(ns.type))) != 0) {
            fail(sys_error(fmt::format("join {} namespace {}", ns.type, ns.path)));
        }
        ::close(fd);
    }
    // The cgroup namespace is made after the parent moved us into the cgroup,
    // so that its root is the container's cgroup.
    if (const auto* ns = spec.find_namespace("cgroup"); ns != nullptr && ns->path.empty()) {
        if (::unshare(CLONE_NEWCGROUP) != 0) {
            fail(sys_error("create cgroup namespace"));
        }
    }
    if (const auto* ns = spec.find_namespace("network"); ns != nullptr && ns->path.empty()) {
        auto lo = loopback_up();
        if (!lo) {
            fail(std::move(lo).error());
        }
    }
    if (spec.process.oom_score_adj) {
        auto o = detail::write_proc_self("oom_score_adj", std::to_string(*spec.process.oom_score_adj));
        if (!o) {
            fail(std::move(o).error().wrap("set oom_score_adj"));
        }
    }
    if (spec.find_namespace("mount") == nullptr) {
        fail(Error(Errc::invalid_argument, "linux.namespaces: a mount namespace is required"));
    }
    auto rootfd = detail::prepare_rootfs(spec, bundle, spec.process.terminal ? 0 : -1);
    if (!rootfd) {
        fail(std::move(rootfd).error());
    }
    auto p = detail::pivot_into(rootfd->get(), spec.root_readonly);
    if (!p) {
        fail(std::move(p).error());
    }
    rootfd->reset();
    if (!spec.hostname.empty()) {
        if (const auto* ns = spec.find_namespace("uts"); ns == nullptr) {
            fail(Error(Errc::invalid_argument, "hostname needs a uts namespace"));
        }
        if (::sethostname(spec.hostname.data(), spec.hostname.size()) != 0) {
            fail(sys_error(fmt::format("set hostname {}", spec.hostname)));
        }
    }
    fail(finish_and_exec(spec.process, seccomp, spec.hostname, spec.process.rlimits));
    ::_exit(125);
}

Result<detail::Cgroup> cgroup_of(const nlohmann::json& config) {
    try {
        const auto& p = config.at("linux").at("cgroupsPath");
        return detail::Cgroup::at(p.get<std::string>());
    } catch (const nlohmann::json::exception&) {
        return Error(Errc::failed_precondition, "config has no linux.cgroupsPath");
    }
}

void kill_and_reap(pid_t pid, int pidfd) {
    if (pidfd >= 0) {
        ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    } else {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace

Result<Started> run(const stdfs::path& bundle, const std::string& id, const Stdio& stdio,
                    const Options& options) {
    auto config = read_json(bundle / "config.json");
    if (!config) {
        return std::move(config).error().wrap(fmt::format("run container {}", id));
    }
    return run(bundle, *config, id, stdio, options);
}

Result<Started> run(const stdfs::path& bundle, const nlohmann::json& config, const std::string& id,
                    const Stdio& stdio, const Options& options) {
    auto spec = parse_spec(config);
    if (!spec) {
        return std::move(spec).error().wrap(fmt::format("run container {}", id));
    }
    const Namespace* pidns = spec->find_namespace("pid");
    if (pidns != nullptr && !pidns->path.empty()) {
        return Error(Errc::unsupported,
                     fmt::format("run container {}: joining an existing pid namespace", id));
    }
    std::optional<SeccompProgram> seccomp;
    if (spec->linux.seccomp) {
        auto sc = detail::compile_seccomp(*spec->linux.seccomp, options.seccomp_cache);
        if (!sc) {
            return std::move(sc).error().wrap(fmt::format("run container {}", id));
        }
        seccomp = std::move(*sc);
    }
    std::optional<detail::Cgroup> cgroup;
    if (spec->linux.cgroups_path) {
        auto cg = detail::Cgroup::at(*spec->linux.cgroups_path);
        if (!cg) {
            return std::move(cg).error().wrap(fmt::format("run container {}", id));
        }
        cgroup = std::move(*cg);
    }
    // The cgroup is removed again on any failure below.
    bool keep_cgroup = false;
    auto drop_cgroup = [&] {
        if (cgroup && !keep_cgroup) {
            (void)cgroup->destroy();
        }
    };
    struct Guard {
        decltype(drop_cgroup)& f;
        ~Guard() { f(); }
    } guard{drop_cgroup};
    if (cgroup) {
        auto c = cgroup->create();
        if (!c) {
            return std::move(c).error().wrap(fmt::format("run container {}", id));
        }
        auto a = cgroup->apply(spec->linux.resources);
        if (!a) {
            return std::move(a).error().wrap(fmt::format("run container {}: set resources", id));
        }
    }
    auto sync = make_pipe();
    auto err = make_pipe();
    if (!sync || !err) {
        return Error(Errc::internal, fmt::format("run container {}: create pipes", id));
    }
    uint64_t flags = CLONE_PIDFD;
    for (const auto& ns : spec->linux.namespaces) {
        if (ns.path.empty() && ns.type != "cgroup") {
            flags |= ns_flag(ns.type);
        }
        if (ns.type == "user") {
            return Error(Errc::unsupported,
                         fmt::format("run container {}: user namespaces", id));
        }
    }
    // v2: the child is cloned into its cgroup; v1: it joins by itself.
    UniqueFd cgroup_dir;
    const detail::Cgroup* join_cgroup = nullptr;
    if (cgroup && cgroup->mode() == CgroupMode::v2) {
        auto dir = cgroup->open_dir();
        if (!dir) {
            return std::move(dir).error().wrap(fmt::format("run container {}: open cgroup", id));
        }
        cgroup_dir = std::move(*dir);
    } else if (cgroup) {
        join_cgroup = &*cgroup;
    }
    int pidfd = -1;
    pid_t pid = clone3_call(flags, &pidfd, cgroup_dir.get());
    if (pid < 0) {
        return sys_error(fmt::format("run container {}: clone", id));
    }
    if (pid == 0) {
        sync->w.reset();
        err->r.reset();
        container_init(*spec, bundle, stdio, sync->r.get(), err->w.get(),
                       seccomp ? &*seccomp : nullptr, join_cgroup);
    }
    UniqueFd owned_pidfd(pidfd);
    cgroup_dir.reset();
    sync->r.reset();
    err->w.reset();
    char go = 1;
    if (::write(sync->w.get(), &go, 1) != 1) {
        kill_and_reap(pid, pidfd);
        return sys_error(fmt::format("run container {}: start init", id));
    }
    sync->w.reset();
    auto result = read_child_error(err->r.get());
    if (!result) {
        kill_and_reap(pid, pidfd);
        return std::move(result).error().wrap(fmt::format("run container {}", id));
    }
    keep_cgroup = true;
    return Started{pid, std::move(owned_pidfd)};
}

Result<Started> exec(pid_t init_pid, const nlohmann::json& config,
                     const nlohmann::json& process, const Stdio& stdio, const Options& options) {
    auto spec = parse_spec(config);
    if (!spec) {
        return std::move(spec).error().wrap("exec");
    }
    auto proc = parse_process(process);
    if (!proc) {
        return std::move(proc).error().wrap("exec");
    }
    if (!process.contains("capabilities")) {
        proc->capabilities = spec->process.capabilities;
    }
    std::vector<Rlimit> rlimits = process.contains("rlimits") ? proc->rlimits
                                                              : spec->process.rlimits;
    std::optional<SeccompProgram> seccomp;
    if (spec->linux.seccomp) {
        auto sc = detail::compile_seccomp(*spec->linux.seccomp, options.seccomp_cache);
        if (!sc) {
            return std::move(sc).error().wrap("exec");
        }
        seccomp = std::move(*sc);
    }
    std::optional<detail::Cgroup> cgroup;
    if (spec->linux.cgroups_path) {
        auto cg = detail::Cgroup::at(*spec->linux.cgroups_path);
        if (!cg) {
            return std::move(cg).error().wrap("exec");
        }
        cgroup = std::move(*cg);
    }
    int ipfd = static_cast<int>(::syscall(SYS_pidfd_open, init_pid, 0));
    if (ipfd < 0) {
        return sys_error(fmt::format("exec: open container init {}", init_pid));
    }
    UniqueFd init_pidfd(ipfd);
    uint64_t join = 0;
    for (const char* type : {"mnt", "pid", "net", "ipc", "uts", "cgroup", "time"}) {
        struct stat mine {};
        struct stat theirs {};
        std::string t = type;
        if (::stat(("/proc/self/ns/" + t).c_str(), &mine) == 0 &&
            ::stat(fmt::format("/proc/{}/ns/{}", init_pid, t).c_str(), &theirs) == 0 &&
            mine.st_ino != theirs.st_ino) {
            join |= ns_flag(t == "mnt" ? "mount" : t == "net" ? "network" : t);
        }
    }
    auto err = make_pipe();
    auto pids = make_pipe();
    if (!err || !pids) {
        return Error(Errc::internal, "exec: create pipes");
    }
    pid_t helper = ::fork();
    if (helper < 0) {
        return sys_error("exec: fork");
    }
    if (helper == 0) {
        // The helper: not dumpable (row 3), holds only what it needs (row 2),
        // enters the cgroup and every namespace, then forks the final process,
        // which is born inside the pid namespace as a child of the caller.
        ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        err->r.reset();
        pids->r.reset();
        int efd = err->w.get();
        auto s = setup_stdio(stdio, proc->terminal, false);
        if (!s) {
            child_fail(efd, s.error());
        }
        if (cgroup) {
            auto a = cgroup->add_self();  // single-threaded: a fresh fork
            if (!a) {
                child_fail(efd, std::move(a).error().wrap("exec: join cgroup"));
            }
        }
        std::vector<int> keep = {efd, pids->w.get(), init_pidfd.get()};
        std::sort(keep.begin(), keep.end());
        unsigned next = 3;
        for (int k : keep) {
            if (static_cast<unsigned>(k) > next) {
                ::close_range(next, static_cast<unsigned>(k) - 1, 0);
            }
            next = static_cast<unsigned>(k) + 1;
        }
        ::close_range(next, ~0U, 0);
        if (join != 0 && ::setns(init_pidfd.get(), static_cast<int>(join)) != 0) {
            child_fail(efd, sys_error(fmt::format("exec: join namespaces of {}", init_pid)));
        }
        pid_t child = clone3_call(CLONE_PARENT, nullptr);
        if (child < 0) {
            child_fail(efd, sys_error("exec: fork into the container"));
        }
        if (child == 0) {
            ::close(pids->w.get());
            ::close(init_pidfd.get());
            if (proc->terminal) {
                auto c = make_ctty(0);
                if (!c) {
                    child_fail(efd, c.error());
                }
            }
            child_fail(efd, finish_and_exec(*proc, seccomp ? &*seccomp : nullptr, "", rlimits));
        }
        ssize_t n = ::write(pids->w.get(), &child, sizeof(child));
        ::_exit(n == sizeof(child) ? 0 : 125);
    }
    err->w.reset();
    pids->w.reset();
    pid_t child = -1;
    ssize_t n = ::read(pids->r.get(), &child, sizeof(child));
    int status = 0;
    while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
    }
    if (n != sizeof(child) || child <= 0) {
        auto r = read_child_error(err->r.get());
        if (!r) {
            return std::move(r).error();
        }
        return Error(Errc::internal, "exec: helper exited without starting the process");
    }
    // The final process is our child: it cannot be reaped by anyone else, so
    // its pid is stable for pidfd_open.
    int cpfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    UniqueFd child_pidfd(cpfd);
    auto r = read_child_error(err->r.get());
    if (!r) {
        int st = 0;
        while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        return std::move(r).error();
    }
    if (cpfd < 0) {
        return sys_error("exec: open pidfd");
    }
    return Started{child, std::move(child_pidfd)};
}

Result<void> kill(const nlohmann::json& config, pid_t init_pid, int signal, bool all) {
    if (all) {
        auto cg = cgroup_of(config);
        if (cg) {
            return cg->signal_all(signal);
        }
    }
    if (::kill(init_pid, signal) != 0) {
        return sys_error(fmt::format("signal container init {}", init_pid));
    }
    return {};
}

Result<void> pause(const nlohmann::json& config) {
    auto cg = cgroup_of(config);
    if (!cg) {
        return std::move(cg).error();
    }
    return cg->freeze(true);
}

Result<void> resume(const nlohmann::json& config) {
    auto cg = cgroup_of(config);
    if (!cg) {
        return std::move(cg).error();
    }
    return cg->freeze(false);
}

Result<void> destroy(const nlohmann::json& config) {
    auto cg = cgroup_of(config);
    if (!cg) {
        return cg.error().code() == Errc::failed_precondition ? Result<void>{}
                                                              : Result<void>{cg.error()};
    }
    return cg->destroy();
}

Result<CgroupStats> stats(const nlohmann::json& config) {
    auto cg = cgroup_of(config);
    if (!cg) {
        return std::move(cg).error();
    }
    return cg->stats();
}

Result<std::vector<pid_t>> pids(const nlohmann::json& config) {
    auto cg = cgroup_of(config);
    if (!cg) {
        return std::move(cg).error();
    }
    return cg->pids();
}

}  // namespace berth::engine::runtime
