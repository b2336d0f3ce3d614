// SPDX-License-Identifier: Apache-2.0
#include "tests/support/harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/digest.hpp"
#include "common/fs.hpp"

extern char** environ;

namespace berth::testing {

namespace {

std::string read_small(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

RunResult run_process(const std::vector<std::string>& argv,
                      const std::map<std::string, std::string>& env, const std::string& input,
                      int timeout_s) {
    RunResult result;
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(err_pipe, O_CLOEXEC) != 0) {
        result.err = "pipe failed";
        return result;
    }
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv(*e);
        auto eq = kv.find('=');
        merged[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
    for (const auto& [k, v] : env) {
        merged[k] = v;
    }
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : merged) {
        env_strings.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (auto& a : args) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);

    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::setpgid(0, 0);
        ::execve(cargv[0], cargv.data(), envp.data());
        _exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (!input.empty()) {
        ssize_t ignored = ::write(in_pipe[1], input.data(), input.size());
        (void)ignored;
    }
    ::close(in_pipe[1]);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_count = 2;
    bool killed = false;
    while (open_count > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(std::min<long>(left, 1000)));
        if (n <= 0) {
            continue;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                char buf[8192];
                ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
                if (r <= 0) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_count;
                } else {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(r));
                }
            }
        }
    }
    for (auto& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (killed) {
        result.exit_code = 137;
    } else if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.exit_code = 128 + WTERMSIG(status);
    }
    return result;
}

ScratchRoot::ScratchRoot() {
    auto id = random_hex_id(8);
    base_ = std::filesystem::temp_directory_path() / ("berth-test-" + id);
    root_ = base_ / "root";
    run_ = base_ / "run";
    prefix_ = "bt" + id.substr(0, 6);
    std::filesystem::create_directories(root_);
    std::filesystem::create_directories(run_);
}

ScratchRoot::~ScratchRoot() {
    // Best effort: stop anything the test left running, then remove the tree.
    std::error_code ec;
    if (std::filesystem::exists(BERTH_BINARY, ec)) {
        auto ids = run_process({BERTH_BINARY, "ps", "-aq", "--no-trunc"}, env(), {}, 60);
        std::istringstream lines(ids.out);
        std::vector<std::string> argv{BERTH_BINARY, "rm", "-f", "-v"};
        for (std::string id; std::getline(lines, id);) {
            if (!id.empty()) {
                argv.push_back(id);
            }
        }
        if (argv.size() > 4) {
            run_process(argv, env(), {}, 60);
        }
    }
    // What `rm -f` cannot reach (a supervisor whose `up` was killed before its
    // record existed, say): the census lists every host object of this root.
    // The test has already compared its censuses; this only keeps the machine
    // clean for the next test.
    Census left = take_census(*this);
    for (const auto& p : left.processes) {
        ::kill(static_cast<pid_t>(std::stol(p.substr(0, p.find(' ')))), SIGKILL);
    }
    for (auto it = left.cgroups.rbegin(); it != left.cgroups.rend(); ++it) {
        std::ifstream procs(*it + "/cgroup.procs");
        for (pid_t pid = 0; procs >> pid;) {
            ::kill(pid, SIGKILL);
        }
    }
    if (!left.processes.empty() || !left.cgroups.empty()) {
        ::usleep(200000);  // let the kernel reap them before the rmdirs below
    }
    for (auto it = left.cgroups.rbegin(); it != left.cgroups.rend(); ++it) {
        ::rmdir(it->c_str());
    }
    for (const auto& line : left.mounts) {
        std::istringstream fields(line);
        std::string parent, dev, mroot, point;
        fields >> parent >> dev >> mroot >> point;
        ::umount2(point.c_str(), MNT_DETACH);
    }
    for (const auto& link : left.links) {
        run_process({"/usr/sbin/ip", "link", "del", link}, {}, {}, 10);
    }
    for (const auto& table : left.nft_tables) {
        run_process({"/usr/sbin/nft", "delete", "table", table}, {}, {}, 10);
    }
    auto r = fs::remove_tree(base_);
    (void)r;
    // The per-root cgroup parent (/<prefix> in each hierarchy) is shared by the
    // root's containers and stays after them, as Docker's /docker does; a test
    // root removes its own once it is empty (rmdir fails while it is not).
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
        ::rmdir((h.path() / prefix_).c_str());
    }
    ::rmdir((std::filesystem::path("/sys/fs/cgroup") / prefix_).c_str());
}

std::map<std::string, std::string> ScratchRoot::env() const {
    return {{"BERTH_ROOT", root_.native()}, {"BERTH_RUN", run_.native()}, {"BERTH_PREFIX", prefix_}};
}

RunResult ScratchRoot::berth(const std::vector<std::string>& args, const std::string& input,
                             int timeout_s) const {
    std::vector<std::string> argv{BERTH_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, env(), input, timeout_s);
}

std::string Census::describe() const {
    std::string out;
    auto add = [&out](const char* what, const std::set<std::string>& items) {
        for (const auto& i : items) {
            out += std::string(what) + ": " + i + "\n";
        }
    };
    add("mount", mounts);
    add("link", links);
    add("cgroup", cgroups);
    add("process", processes);
    add("run file", run_files);
    add("nft table", nft_tables);
    return out;
}

namespace {

/// Every cgroup directory below one named with the prefix (the per-container
/// cgroups live under /<prefix>/<id>). The prefix directory itself is shared
/// by all containers of a root, like Docker's /docker, and is not counted.
void collect_cgroups(const std::filesystem::path& dir, const std::string& prefix, int depth,
                     bool below_prefix, std::set<std::string>& out) {
    if (depth > 5) {
        return;
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (!e.is_directory(ec) || e.is_symlink(ec)) {
            continue;
        }
        auto name = e.path().filename().native();
        bool is_prefix = name == prefix;
        if (below_prefix) {
            out.insert(e.path().native());
        }
        if (below_prefix || is_prefix || depth < 2) {
            collect_cgroups(e.path(), prefix, depth + 1, below_prefix || is_prefix, out);
        }
    }
}

}  // namespace

Census take_census(const ScratchRoot& scratch) {
    Census c;
    const auto root = scratch.root().native();
    const auto run = scratch.run_root().native();
    {
        std::ifstream mi("/proc/self/mountinfo");
        std::string line;
        while (std::getline(mi, line)) {
            if (line.find(root) != std::string::npos || line.find(run) != std::string::npos) {
                c.mounts.insert(line.substr(line.find(' ') + 1));
            }
        }
    }
    std::error_code ec;
    // Links and tables of the network namespace the test runs in (a test in
    // OuterNetns has its own; /sys/class/net would show the host's).
    {
        std::istringstream lines(run_process({"/usr/sbin/ip", "-o", "link", "show"}, {}, {}, 10).out);
        for (std::string line; std::getline(lines, line);) {
            // "12: name@peer: <...>" or "12: name: <...>"
            auto a = line.find(": ");
            auto b = line.find_first_of(":@", a + 2);
            if (a == std::string::npos || b == std::string::npos) {
                continue;
            }
            auto name = line.substr(a + 2, b - a - 2);
            if (name.rfind(scratch.prefix(), 0) == 0) {
                c.links.insert(name);
            }
        }
        std::istringstream tables(run_process({"/usr/sbin/nft", "list", "tables"}, {}, {}, 10).out);
        for (std::string line; std::getline(tables, line);) {
            // "table inet <name>"
            auto sp = line.rfind(' ');
            if (line.rfind("table ", 0) == 0 && sp != std::string::npos &&
                line.substr(sp + 1).rfind(scratch.prefix(), 0) == 0) {
                c.nft_tables.insert(line.substr(6));
            }
        }
    }
    collect_cgroups("/sys/fs/cgroup", scratch.prefix(), 0, false, c.cgroups);
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().native();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        auto cmd = read_small(e.path() / "cmdline");
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        auto environ_text = read_small(e.path() / "environ");
        std::error_code ec2;
        auto cwd = std::filesystem::read_symlink(e.path() / "cwd", ec2).native();
        if (cmd.find(root) != std::string::npos || environ_text.find(root) != std::string::npos ||
            cwd.rfind(root, 0) == 0) {
            if (std::stoi(name) != ::getpid()) {
                c.processes.insert(name + " " + cmd);
            }
        }
    }
    if (std::filesystem::exists(scratch.run_root(), ec)) {
        // The compiled seccomp programs are a cache shared by all containers
        // (engine/runtime/seccomp.cpp), kept on purpose: not a leak.
        // Nor is the event journal (engine/containers/events.hpp), a log kept
        // on the runtime root like Docker's event ring.
        auto seccomp_cache = (scratch.run_root() / "seccomp").native() + "/";
        auto journal = (scratch.run_root() / "events.jsonl").native();
        for (const auto& e : std::filesystem::recursive_directory_iterator(scratch.run_root(), ec)) {
            if (!e.is_directory(ec) && e.path().native().rfind(seccomp_cache, 0) != 0 &&
                e.path().native().rfind(journal, 0) != 0) {
                c.run_files.insert(e.path().native());
            }
        }
    }
    return c;
}

Census settled_census(const ScratchRoot& scratch, const Census& baseline) {
    auto census = take_census(scratch);
    for (int i = 0; i < 80 && !(census == baseline); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        census = take_census(scratch);
    }
    return census;
}

bool have_root_namespaces(std::string* why) {
    if (::geteuid() != 0) {
        *why = "not running as root";
        return false;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0) {
            _exit(1);
        }
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            _exit(2);
        }
        if (::mount("tmpfs", "/mnt", "tmpfs", 0, nullptr) != 0) {
            _exit(3);
        }
        _exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *why = "cannot create namespaces or mounts (unshare/mount failed)";
        return false;
    }
    return true;
}

}  // namespace berth::testing
