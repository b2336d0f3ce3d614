// SPDX-License-Identifier: Apache-2.0
// Containers end to end through the CLI: isolation, lifecycle, supervisor,
// bad input. Each test uses its own root and proves nothing leaked.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

using berth::testing::Census;
using berth::testing::RunResult;
using berth::testing::ScratchRoot;
using berth::testing::take_census;

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

/// Polls `cond` every 20 ms until it holds or `seconds` pass.
bool eventually(const std::function<bool()>& cond, double seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return cond();
}

nlohmann::json inspect(const ScratchRoot& root, const std::string& ref) {
    auto r = root.berth({"inspect", ref});
    if (r.exit_code != 0) {
        return nullptr;
    }
    return nlohmann::json::parse(r.out)[0];
}

/// Host objects of the scratch root before the test.
struct LeakGuard {
    explicit LeakGuard(const ScratchRoot& r) : root(r), before(take_census(r)) {}
    void check() {
        // Supervisors finish asynchronously after rm: give them a moment.
        Census after;
        eventually([&] {
            after = take_census(root);
            return after == before;
        });
        INFO(after.describe());
        CHECK(after == before);
    }
    const ScratchRoot& root;
    Census before;
};

std::string status_field(const std::string& status, const std::string& key) {
    std::istringstream in(status);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + ":", 0) == 0) {
            return trim(line.substr(key.size() + 1).erase(0, line.substr(key.size() + 1).find_first_not_of(" \t")));
        }
    }
    return {};
}

}  // namespace

TEST_CASE("run prints output, isolates PID and hostname, and exits with the command's code",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "--rm", "--network", "none", "--hostname", "box", "busybox", "sh", "-c",
                         "echo pid=$$; hostname; ps -o pid | wc -l; exit 3"});
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.out.find("pid=1\n") != std::string::npos);
    CHECK(r.out.find("box\n") != std::string::npos);
    // Only sh, ps and wc (plus the header line) exist in the container's PID namespace.
    auto lines = r.out.substr(r.out.rfind("box\n") + 4);
    CHECK(std::stoi(trim(lines)) <= 4);
    guard.check();
}

TEST_CASE("the default security profile is Docker's", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "--rm", "--network", "none", "busybox", "cat", "/proc/self/status"});
    REQUIRE(r.exit_code == 0);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP = 0x00000000a80425fb
    CHECK(status_field(r.out, "CapEff") == "00000000a80425fb");
    CHECK(status_field(r.out, "CapBnd") == "00000000a80425fb");
    CHECK(status_field(r.out, "CapInh") == "0000000000000000");
    CHECK(status_field(r.out, "Seccomp") == "2");
    CHECK(status_field(r.out, "NoNewPrivs") == "0");

    auto nnp = root.berth({"run", "--rm", "--network", "none", "--security-opt", "no-new-privileges",
                           "busybox", "cat", "/proc/self/status"});
    REQUIRE(nnp.exit_code == 0);
    CHECK(status_field(nnp.out, "NoNewPrivs") == "1");

    auto user = root.berth({"run", "--rm", "--network", "none", "-u", "nobody", "busybox", "cat",
                            "/proc/self/status"});
    REQUIRE(user.exit_code == 0);
    CHECK(status_field(user.out, "CapEff") == "0000000000000000");
    CHECK(status_field(user.out, "CapPrm") == "0000000000000000");

    auto drop = root.berth({"run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "CHOWN",
                            "busybox", "cat", "/proc/self/status"});
    REQUIRE(drop.exit_code == 0);
    CHECK(status_field(drop.out, "CapEff") == "0000000000000001");
    guard.check();
}

TEST_CASE("masked and read-only paths and a read-only rootfs refuse access",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "--rm", "--network", "none", "--read-only", "busybox", "sh", "-c",
                         "cat /proc/kcore | wc -c; ls /proc/scsi 2>/dev/null | wc -l; "
                         "echo x > /proc/sysrq-trigger && echo sysrq-writable; "
                         "touch /newfile && echo rootfs-writable; "
                         "touch /sys/fs/cgroup/x && echo cgroup-writable; "
                         "touch /tmp/x && echo tmp-writable; echo done"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("sysrq-writable") == std::string::npos);
    CHECK(r.out.find("rootfs-writable") == std::string::npos);
    CHECK(r.out.find("cgroup-writable") == std::string::npos);
    CHECK(r.out.find("tmp-writable") == std::string::npos);
    CHECK(r.out.rfind("0\n0\n", 0) == 0);  // kcore reads empty, /proc/scsi is empty
    CHECK(r.out.find("done") != std::string::npos);
    guard.check();
}

TEST_CASE("an unknown command exits 127 and a bad image 125, leaving nothing",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto missing = root.berth({"run", "--rm", "--network", "none", "busybox", "no-such-command"});
    CHECK(missing.exit_code == 127);
    CHECK(missing.err.find("no-such-command") != std::string::npos);
    auto noexec = root.berth({"run", "--rm", "--network", "none", "busybox", "/etc/passwd"});
    CHECK(noexec.exit_code == 126);
    // A missing absolute path is also 127, in Go's wording.
    auto absent = root.berth({"run", "--rm", "--network", "none", "busybox", "/no/such"});
    CHECK(absent.exit_code == 127);
    CHECK(absent.err.find("stat /no/such: no such file or directory") != std::string::npos);
    auto image = root.berth({"run", "--rm", "--network", "none", "no-such-image:1"});
    CHECK(image.exit_code == 125);
    CHECK(image.err.find("no-such-image") != std::string::npos);
    auto mem = root.berth({"run", "--rm", "--network", "none", "-m", "12q", "busybox", "true"});
    CHECK(mem.exit_code == 125);
    CHECK(mem.err.find("12q") != std::string::npos);
    auto cpus = root.berth({"run", "--rm", "--network", "none", "--cpus", "-1", "busybox", "true"});
    CHECK(cpus.exit_code == 125);
    auto bind = root.berth({"run", "--rm", "--network", "none", "--mount",
                            "type=bind,source=/nonexistent-berth-src,target=/x", "busybox", "true"});
    CHECK(bind.exit_code == 125);
    CHECK(bind.err.find("/nonexistent-berth-src") != std::string::npos);
    auto ps = root.berth({"ps", "-aq"});
    CHECK(trim(ps.out).empty());
    guard.check();
}

TEST_CASE("names are unique and a running container needs -f to be removed",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto a = root.berth({"run", "-d", "--network", "none", "--name", "web", "busybox", "sleep", "600"});
    REQUIRE(a.exit_code == 0);
    auto b = root.berth({"run", "-d", "--network", "none", "--name", "web", "busybox", "true"});
    CHECK(b.exit_code == 125);
    CHECK(b.err.find("is already in use") != std::string::npos);
    auto rm = root.berth({"rm", "web"});
    CHECK(rm.exit_code != 0);
    CHECK(rm.err.find("stop the container before removing or force remove") != std::string::npos);
    auto ps = root.berth({"ps", "--format", "{{.Names}} {{.State}}"});
    CHECK(trim(ps.out) == "web running");
    auto rmf = root.berth({"rm", "-f", "web"});
    CHECK(rmf.exit_code == 0);
    CHECK(trim(root.berth({"ps", "-aq"}).out).empty());
    guard.check();
}

TEST_CASE("logs keep stdout and stderr apart", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "--network", "none", "--name", "talker", "busybox", "sh", "-c",
                         "echo out1; echo err1 >&2; echo out2"});
    REQUIRE(r.exit_code == 0);
    auto logs = root.berth({"logs", "talker"});
    CHECK(logs.out == "out1\nout2\n");
    CHECK(logs.err == "err1\n");
    // stdout and stderr are separate pipes, so only each stream's own order is
    // defined: the last record is out2 or err1.
    auto tail = root.berth({"logs", "--tail", "1", "talker"});
    auto last = tail.out + tail.err;
    CHECK((last == "out2\n" || last == "err1\n"));
    auto ts = root.berth({"logs", "-t", "talker"});
    CHECK(ts.out.find("Z out1") != std::string::npos);
    CHECK(root.berth({"rm", "talker"}).exit_code == 0);
    guard.check();
}

TEST_CASE("stop escalates to SIGKILL after the timeout and records 137",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "-d", "--network", "none", "--name", "stubborn", "busybox", "sh", "-c",
                         "trap '' TERM; while true; do sleep 1; done"});
    REQUIRE(r.exit_code == 0);
    auto t0 = std::chrono::steady_clock::now();
    auto stop = root.berth({"stop", "-t", "1", "stubborn"});
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(stop.exit_code == 0);
    CHECK(took >= 0.9);
    auto info = inspect(root, "stubborn");
    REQUIRE(!info.is_null());
    CHECK(info["State"]["Status"] == "exited");
    CHECK(info["State"]["ExitCode"] == 137);
    CHECK(root.berth({"rm", "stubborn"}).exit_code == 0);
    guard.check();
}

TEST_CASE("restart policies restart and count", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto r = root.berth({"run", "-d", "--network", "none", "--name", "flaky", "--restart", "on-failure:3",
                         "busybox", "sh", "-c", "exit 2"});
    REQUIRE(r.exit_code == 0);
    bool done = eventually([&] {
        auto info = inspect(root, "flaky");
        return !info.is_null() && info["State"]["Status"] == "exited";
    }, 20);
    REQUIRE(done);
    auto info = inspect(root, "flaky");
    CHECK(info["RestartCount"] == 3);
    CHECK(info["State"]["ExitCode"] == 2);

    auto a = root.berth({"run", "-d", "--network", "none", "--name", "forever", "--restart", "always",
                         "busybox", "true"});
    REQUIRE(a.exit_code == 0);
    CHECK(eventually([&] {
        auto i = inspect(root, "forever");
        return !i.is_null() && i["RestartCount"].get<int>() >= 2;
    }, 20));
    // A stop by the user ends it for good.
    CHECK(root.berth({"stop", "forever"}).exit_code == 0);
    auto stopped = inspect(root, "forever");
    CHECK(stopped["State"]["Status"] == "exited");
    CHECK(root.berth({"rm", "-f", "flaky", "forever"}).exit_code == 0);
    guard.check();
}

TEST_CASE("exec joins the container's PID namespace and cgroup", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "host1", "busybox", "sleep", "600"}).exit_code == 0);
    auto pid1 = root.berth({"exec", "host1", "cat", "/proc/1/cmdline"});
    CHECK(pid1.exit_code == 0);
    CHECK(pid1.out.find("sleep") != std::string::npos);
    auto cg_init = root.berth({"exec", "host1", "cat", "/proc/1/cgroup"});
    auto cg_self = root.berth({"exec", "host1", "cat", "/proc/self/cgroup"});
    CHECK(cg_init.exit_code == 0);
    CHECK(cg_init.out == cg_self.out);
    auto code = root.berth({"exec", "host1", "sh", "-c", "exit 7"});
    CHECK(code.exit_code == 7);
    auto missing = root.berth({"exec", "host1", "nope"});
    CHECK(missing.exit_code == 127);
    CHECK(root.berth({"exec", "host1", "/no/such"}).exit_code == 127);
    CHECK(root.berth({"exec", "host1", "/etc"}).exit_code == 126);
    auto env = root.berth({"exec", "-e", "A=b", "-w", "/tmp", "host1", "sh", "-c", "echo $A; pwd"});
    CHECK(env.out == "b\n/tmp\n");
    CHECK(root.berth({"rm", "-f", "host1"}).exit_code == 0);
    guard.check();
}

TEST_CASE("flag --init reaps zombies and forwards signals", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    // The shell makes an orphan that exits at once; without an init reaping it, it
    // would stay a zombie of PID 1.
    auto r = root.berth({"run", "--rm", "--network", "none", "--init", "busybox", "sh", "-c",
                         "(sleep 0.1 &) ; sleep 0.5; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                         "ps -o stat | grep -c Z"});
    INFO(r.err);
    CHECK(r.exit_code == 1);  // grep -c finds no zombie: prints 0 and exits 1
    CHECK(r.out.find("/sbin/docker-init") != std::string::npos);
    CHECK(r.out.find("\n0\n") != std::string::npos);
    guard.check();
}

TEST_CASE("memory and pids limits hold", "[engine][container][.root][.cgroup]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto oom = root.berth({"run", "--network", "none", "--name", "hog", "-m", "32m", "--memory-swap", "32m",
                           "busybox", "sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo $x | wc -c"});
    CHECK(oom.exit_code == 137);
    auto info = inspect(root, "hog");
    CHECK(info["State"]["OOMKilled"] == true);
    CHECK(root.berth({"rm", "hog"}).exit_code == 0);

    // 40 background sleeps cannot all start under a limit of 20 tasks.
    auto fork = root.berth({"run", "--rm", "--network", "none", "--pids-limit", "20", "busybox", "sh", "-c",
                            "for i in $(seq 1 40); do sleep 3 & done"});
    INFO(fork.out << fork.err);
    CHECK(fork.err.find("can't fork") != std::string::npos);
    auto free = root.berth({"run", "--rm", "--network", "none", "--pids-limit", "60", "busybox", "sh", "-c",
                            "for i in $(seq 1 40); do sleep 1 & done; wait"});
    CHECK(free.err.find("can't fork") == std::string::npos);
    guard.check();
}

TEST_CASE("the supervisor outlives the CLI and a killed supervisor is survivable",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "lasting", "busybox", "sh", "-c",
                        "while true; do echo tick; sleep 0.2; done"}).exit_code == 0);
    auto info = inspect(root, "lasting");
    REQUIRE(!info.is_null());
    int pid = info["State"]["Pid"];
    CHECK(pid > 0);
    // The supervisor is not in this process's group or session (F24).
    std::ifstream state(root.root() / "containers" / info["Id"].get<std::string>() / "state.json");
    auto st = nlohmann::json::parse(state);
    int sup = st["supervisor_pid"];
    CHECK(::getsid(sup) != ::getsid(0));
    CHECK(::getpgid(sup) != ::getpgid(0));
    // Row 27: the control socket is a path in a 0700 directory, never abstract.
    auto sock_dir = root.run_root() / "containers" / info["Id"].get<std::string>();
    CHECK((std::filesystem::status(sock_dir).permissions() & std::filesystem::perms::others_all) ==
          std::filesystem::perms::none);
    CHECK(std::filesystem::is_socket(sock_dir / "ctl.sock"));
    // F3: kill -9 the supervisor; the container keeps running and stays manageable.
    REQUIRE(::kill(sup, SIGKILL) == 0);
    CHECK(eventually([&] { return ::kill(sup, 0) != 0; }));
    CHECK(::kill(pid, 0) == 0);
    auto ps = root.berth({"ps", "--format", "{{.Names}} {{.State}}"});
    CHECK(trim(ps.out) == "lasting running");
    CHECK(root.berth({"exec", "lasting", "true"}).exit_code == 0);
    CHECK(root.berth({"logs", "lasting"}).out.find("tick") != std::string::npos);
    auto stop = root.berth({"stop", "-t", "1", "lasting"});
    CHECK(stop.exit_code == 0);
    CHECK(eventually([&] { return ::kill(pid, 0) != 0; }));
    CHECK(root.berth({"rm", "lasting"}).exit_code == 0);
    guard.check();
}

namespace {

std::string comm_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string s;
    std::getline(in, s);
    return s;
}

int supervisor_of(const ScratchRoot& root, const nlohmann::json& info) {
    std::ifstream state(root.root() / "containers" / info["Id"].get<std::string>() / "state.json");
    return nlohmann::json::parse(state)["supervisor_pid"];
}

}  // namespace

TEST_CASE("a detached container's supervisor becomes berth-monitor and hands back to the engine",
          "[engine][container][.root][.cgroup]") {
    ScratchRoot root;
    LeakGuard guard(root);
    // An unfinished line ("part") is pending in the log writer while the
    // supervisor changes form; it must come out whole, once.
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "mon", "busybox", "sh", "-c",
                        "echo one; echo two >&2; printf part; trap 'echo ial; exit 3' TERM; "
                        "while true; do sleep 0.1; done"})
                .exit_code == 0);
    auto info = inspect(root, "mon");
    REQUIRE(!info.is_null());
    int sup = supervisor_of(root, info);
    int pid = info["State"]["Pid"];
    // `run -d` returns once the monitor reported the start: already in its small form.
    CHECK(comm_of(sup) == "berth-monitor");
    // Served by the monitor itself: ping (ps), and a signal other than SIGKILL.
    CHECK(trim(root.berth({"ps", "--format", "{{.Names}} {{.State}}"}).out) == "mon running");
    CHECK(root.berth({"kill", "-s", "USR2", "mon"}).exit_code == 0);
    CHECK(comm_of(sup) == "berth-monitor");
    // pause goes back to the engine, which stays while the container is paused...
    REQUIRE(root.berth({"pause", "mon"}).exit_code == 0);
    CHECK(comm_of(sup) == "berth-sup");
    CHECK(inspect(root, "mon")["State"]["Status"] == "paused");
    // ...and becomes the monitor again once it runs; same process throughout.
    REQUIRE(root.berth({"unpause", "mon"}).exit_code == 0);
    CHECK(eventually([&] { return comm_of(sup) == "berth-monitor"; }));
    CHECK(supervisor_of(root, inspect(root, "mon")) == sup);
    CHECK(inspect(root, "mon")["State"]["Pid"] == pid);
    // A waiter held by the monitor is answered by the engine after the stop.
    auto waiter = std::async(std::launch::async, [&] { return root.berth({"wait", "mon"}); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto stop = root.berth({"stop", "-t", "5", "mon"});
    CHECK(stop.exit_code == 0);
    auto waited = waiter.get();
    CHECK(waited.exit_code == 0);
    CHECK(trim(waited.out) == "3");
    auto after = inspect(root, "mon");
    CHECK(after["State"]["Status"] == "exited");
    CHECK(after["State"]["ExitCode"] == 3);
    CHECK(eventually([&] { return ::kill(sup, 0) != 0; }));
    auto out = root.berth({"logs", "mon"});
    CHECK(out.out == "one\npartial\n");
    CHECK(out.err == "two\n");
    CHECK(root.berth({"rm", "mon"}).exit_code == 0);
    guard.check();
}

TEST_CASE("a restarted container keeps the whole supervisor until it has run 10 s",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto marker = root.root() / "restarted-once";
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "rs", "--restart", "always", "-v",
                        root.root().native() + ":/host", "busybox", "sh", "-c",
                        "if [ -e /host/restarted-once ]; then exec sleep 600; fi; "
                        "touch /host/restarted-once; exit 1"})
                .exit_code == 0);
    CHECK(eventually([&] { return inspect(root, "rs")["RestartCount"] == 1; }));
    auto info = inspect(root, "rs");
    int sup = supervisor_of(root, info);
    CHECK(std::filesystem::exists(marker));
    CHECK(info["State"]["Status"] == "running");
    CHECK(comm_of(sup) == "berth-sup");
    CHECK(eventually([&] { return comm_of(sup) == "berth-monitor"; }, 15));
    CHECK(root.berth({"rm", "-f", "rs"}).exit_code == 0);
    CHECK(eventually([&] { return ::kill(sup, 0) != 0; }));
    std::filesystem::remove(marker);
    guard.check();
}

TEST_CASE("a container whose process and supervisor died reads as exited 255",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "victim", "busybox", "sleep", "600"}).exit_code == 0);
    auto info = inspect(root, "victim");
    int pid = info["State"]["Pid"];
    std::ifstream state(root.root() / "containers" / info["Id"].get<std::string>() / "state.json");
    int sup = nlohmann::json::parse(state)["supervisor_pid"];
    ::kill(sup, SIGKILL);
    ::kill(pid, SIGKILL);
    CHECK(eventually([&] { return ::kill(pid, 0) != 0 && ::kill(sup, 0) != 0; }));
    auto after = inspect(root, "victim");
    CHECK(after["State"]["Status"] == "exited");
    CHECK(after["State"]["ExitCode"] == 255);
    CHECK(root.berth({"rm", "victim"}).exit_code == 0);
    guard.check();
}

TEST_CASE("kill sends the chosen signal and refuses a stopped container", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "kk", "busybox", "sh", "-c",
                        "trap 'exit 42' USR1; while true; do sleep 0.1; done"}).exit_code == 0);
    CHECK(root.berth({"kill", "-s", "USR1", "kk"}).exit_code == 0);
    CHECK(eventually([&] { return inspect(root, "kk")["State"]["Status"] == "exited"; }));
    CHECK(inspect(root, "kk")["State"]["ExitCode"] == 42);
    auto again = root.berth({"kill", "kk"});
    CHECK(again.exit_code != 0);
    CHECK(again.err.find("is not running") != std::string::npos);
    CHECK(root.berth({"rm", "kk"}).exit_code == 0);
    guard.check();
}

TEST_CASE("pause freezes and unpause thaws", "[engine][container][.root][.cgroup]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "pp", "busybox", "sleep", "600"}).exit_code == 0);
    CHECK(root.berth({"pause", "pp"}).exit_code == 0);
    CHECK(inspect(root, "pp")["State"]["Status"] == "paused");
    CHECK(root.berth({"unpause", "pp"}).exit_code == 0);
    CHECK(inspect(root, "pp")["State"]["Status"] == "running");
    auto top = root.berth({"top", "pp"});
    CHECK(top.out.find("sleep 600") != std::string::npos);
    CHECK(root.berth({"rm", "-f", "pp"}).exit_code == 0);
    guard.check();
}

TEST_CASE("no descriptor of berth leaks into a container or an exec", "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "fds", "busybox", "sleep", "600"}).exit_code == 0);
    for (const char* who : {"1", "self"}) {
        auto r = root.berth({"exec", "fds", "sh", "-c", std::string("ls -l /proc/") + who + "/fd/"});
        INFO(r.out);
        std::istringstream in(r.out);
        for (std::string line; std::getline(in, line);) {
            auto arrow = line.find(" -> ");
            if (arrow == std::string::npos) {
                continue;
            }
            auto target = line.substr(arrow + 4);
            bool allowed = target.rfind("pipe:", 0) == 0 || target.rfind("socket:", 0) == 0 ||
                           target.rfind("anon_inode:", 0) == 0 || target == "/dev/null" ||
                           target.rfind("/dev/pts/", 0) == 0 || target.rfind("/proc/", 0) == 0;
            CHECK(allowed);
        }
    }
    CHECK(root.berth({"rm", "-f", "fds"}).exit_code == 0);
    guard.check();
}

TEST_CASE("bind mounts and tmpfs mounts are visible and read-only ones refuse writes",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto src = root.root().parent_path() / "bindsrc";
    std::filesystem::create_directories(src);
    std::ofstream(src / "hello.txt") << "from host\n";
    auto r = root.berth({"run", "--rm", "--network", "none", "-v", src.native() + ":/data:ro", "--tmpfs",
                         "/scratch:size=1m", "busybox", "sh", "-c",
                         "cat /data/hello.txt; touch /data/x 2>/dev/null && echo data-writable; "
                         "head -c 2000000 /dev/zero > /scratch/big 2>/dev/null || echo tmpfs-full"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("from host") != std::string::npos);
    CHECK(r.out.find("data-writable") == std::string::npos);
    CHECK(r.out.find("tmpfs-full") != std::string::npos);
    guard.check();
}

TEST_CASE("environment, user, workdir and entrypoint follow Docker's rules",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    auto env_file = root.root().parent_path() / "vars.env";
    std::ofstream(env_file) << "# comment\nFROM_FILE=yes\n\nOVERRIDE=file\n";
    auto r = root.berth({"run", "--rm", "--network", "none", "--env-file", env_file.native(), "-e",
                         "OVERRIDE=flag", "-w", "/tmp", "-u", "nobody", "busybox", "sh", "-c",
                         "echo $FROM_FILE $OVERRIDE $PATH; pwd; id -u; id -g"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "yes flag /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\n65534\n65534\n");
    auto ep = root.berth({"run", "--rm", "--network", "none", "--entrypoint", "echo", "busybox", "a", "b"});
    CHECK(ep.out == "a b\n");
    auto numeric = root.berth({"run", "--rm", "--network", "none", "-u", "1234:5678", "busybox", "id"});
    CHECK(trim(numeric.out).rfind("uid=1234 gid=5678", 0) == 0);
    guard.check();
}

TEST_CASE("healthchecks run in the supervisor and report status and results",
          "[engine][container][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "-d", "--network", "none", "--name", "hc", "--health-cmd",
                        "test -f /tmp/ok && echo fine", "--health-interval", "100ms",
                        "--health-retries", "2", "busybox", "sleep", "600"}).exit_code == 0);
    CHECK(eventually([&] { return inspect(root, "hc")["State"]["Health"]["Status"] == "unhealthy"; }));
    CHECK(inspect(root, "hc")["State"]["Health"]["FailingStreak"].get<int>() >= 2);
    CHECK(root.berth({"exec", "hc", "touch", "/tmp/ok"}).exit_code == 0);
    CHECK(eventually([&] { return inspect(root, "hc")["State"]["Health"]["Status"] == "healthy"; }));
    auto log = inspect(root, "hc")["State"]["Health"]["Log"];
    REQUIRE(!log.empty());
    CHECK(log.back()["ExitCode"] == 0);
    CHECK(log.back()["Output"] == "fine\n");
    CHECK(root.berth({"ps", "--format", "{{.Status}}"}).out.find("(healthy)") != std::string::npos);
    auto none = root.berth({"run", "-d", "--network", "none", "--name", "nohc", "--no-healthcheck",
                            "busybox", "sleep", "600"});
    REQUIRE(none.exit_code == 0);
    CHECK(!inspect(root, "nohc")["State"].contains("Health"));
    CHECK(root.berth({"rm", "-f", "hc", "nohc"}).exit_code == 0);
    guard.check();
}

TEST_CASE("the same bundle behaves the same under crun as under the built-in runtime",
          "[engine][container][.root]") {
    if (!std::filesystem::exists("/usr/bin/crun")) {
        FAIL("crun is not installed (scripts/install-deps.sh installs it)");
    }
    // crun refuses a hybrid cgroup layout while the cgroup2 hierarchy holds a
    // controller (hugetlb on the test machine): a v1 hugetlb hierarchy moves it out.
    std::ifstream ctrl("/sys/fs/cgroup/unified/cgroup.controllers");
    std::string controllers((std::istreambuf_iterator<char>(ctrl)), std::istreambuf_iterator<char>());
    if (controllers.find("hugetlb") != std::string::npos) {
        std::filesystem::create_directories("/sys/fs/cgroup/hugetlb");
        REQUIRE(::mount("cgroup", "/sys/fs/cgroup/hugetlb", "cgroup", 0, "hugetlb") == 0);
    }
    ScratchRoot root;
    LeakGuard guard(root);
    // Known differences, left out of the comparison: crun adds the /dev/core
    // symlink, and takes the numeric uid without resolving supplementary groups
    // from the image's /etc/group (the built-in runtime does, as Docker does).
    const std::string probe =
        "echo pid=$$; id -u; id -g; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "
        "/proc/self/status; cat /proc/self/mountinfo | wc -l; hostname; "
        "touch /sys/x 2>/dev/null || echo sys-ro; touch /proc/sys/x 2>/dev/null || echo procsys-ro; "
        "echo x > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro";
    auto builtin = root.berth({"run", "--rm", "--network", "none", "--hostname", "same", "busybox", "sh",
                               "-c", probe});
    auto crun = root.berth({"run", "--rm", "--network", "none", "--hostname", "same", "--runtime",
                            "/usr/bin/crun", "busybox", "sh", "-c", probe});
    INFO("built-in:\n" << builtin.out << builtin.err << "crun:\n" << crun.out << crun.err);
    REQUIRE(builtin.exit_code == 0);
    REQUIRE(crun.exit_code == 0);
    CHECK(builtin.out == crun.out);
    guard.check();
}

TEST_CASE("data in a named volume outlives its containers and a used volume is never removed",
          "[engine][container][volumes][.root]") {
    ScratchRoot root;
    LeakGuard guard(root);
    REQUIRE(root.berth({"run", "--network", "none", "--name", "writer", "-v", "keep:/data", "busybox", "sh",
                        "-c", "echo precious > /data/f"}).exit_code == 0);
    auto in_use = root.berth({"volume", "rm", "keep"});
    CHECK(in_use.exit_code != 0);
    CHECK(in_use.err.find("in use") != std::string::npos);
    auto prune = root.berth({"volume", "prune", "-a", "-f"});
    CHECK(prune.exit_code == 0);
    CHECK(root.berth({"rm", "writer"}).exit_code == 0);
    auto reader = root.berth({"run", "--rm", "--network", "none", "-v", "keep:/data:ro", "busybox", "sh", "-c",
                              "cat /data/f; touch /data/g 2>/dev/null || echo read-only"});
    CHECK(reader.out == "precious\nread-only\n");
    // An anonymous volume goes with `rm -v`; the named one stays.
    REQUIRE(root.berth({"run", "--network", "none", "--name", "anon", "-v", "/scratch", "busybox", "true"}).exit_code == 0);
    auto before = root.berth({"volume", "ls", "-q"});
    CHECK(root.berth({"rm", "-v", "anon"}).exit_code == 0);
    auto after = root.berth({"volume", "ls", "-q"});
    CHECK(trim(after.out) == "keep");
    CHECK(before.out.size() > after.out.size());
    CHECK(root.berth({"volume", "rm", "keep"}).exit_code == 0);
    guard.check();
}

TEST_CASE("inspect shows NetworkSettings as Docker does: addresses, aliases and bound ports",
          "[engine][container][netns][.root]") {
    berth::testing::OuterNetns outer;
    ScratchRoot root;
    LeakGuard guard(root);
    {
        REQUIRE(root.berth({"network", "create", "--ipv6", "front"}).exit_code == 0);
        REQUIRE(root.berth({"network", "create", "back"}).exit_code == 0);
        auto run = root.berth({"run", "-d", "--name", "web", "--network", "front",
                               "--network-alias", "site", "-p", "127.0.0.1::80", "-p",
                               "18181:81", "busybox", "httpd", "-f", "-p", "80"});
        INFO(run.err);
        REQUIRE(run.exit_code == 0);
        REQUIRE(root.berth({"network", "connect", "back", "web"}).exit_code == 0);
        auto j = inspect(root, "web");
        REQUIRE(j.is_object());
        const auto& ns = j.at("NetworkSettings");
        const auto& front = ns.at("Networks").at("front");
        const auto& back = ns.at("Networks").at("back");
        // The addresses are the ones the container's own interfaces carry.
        auto addrs = root.berth({"exec", "web", "ip", "-o", "addr"}).out;
        INFO(addrs);
        const auto ip4 = front.at("IPAddress").get<std::string>();
        const auto ip6 = front.at("GlobalIPv6Address").get<std::string>();
        CHECK_FALSE(ip4.empty());
        CHECK_FALSE(ip6.empty());
        CHECK(addrs.find("inet " + ip4 + "/" + std::to_string(front.at("IPPrefixLen").get<int>())) !=
              std::string::npos);
        CHECK(addrs.find("inet6 " + ip6 + "/") != std::string::npos);
        CHECK(addrs.find("inet " + back.at("IPAddress").get<std::string>() + "/") !=
              std::string::npos);
        CHECK(front.at("Gateway").get<std::string>() !=
              back.at("Gateway").get<std::string>());
        CHECK(front.at("Aliases") == nlohmann::json::array({"site"}));
        CHECK(front.at("DNSNames").at(0) == "web");
        auto ids = root.berth({"network", "inspect", "-f", "{{.Id}}", "front"});
        CHECK(front.at("NetworkID").get<std::string>() + "\n" == ids.out);
        CHECK(front.at("MacAddress").get<std::string>().size() == 17);
        // The random host port as bound, the same as `port` prints.
        const auto& p80 = ns.at("Ports").at("80/tcp").at(0);
        CHECK(p80.at("HostIp") == "127.0.0.1");
        auto port = root.berth({"port", "web"}).out;
        CHECK(port.find("80/tcp -> 127.0.0.1:" + p80.at("HostPort").get<std::string>()) !=
              std::string::npos);
        CHECK(ns.at("Ports").at("81/tcp").at(0) ==
              nlohmann::json({{"HostIp", "0.0.0.0"}, {"HostPort", "18181"}}));
        // HostConfig keeps the bindings as asked: the random port unresolved.
        CHECK(j.at("HostConfig").at("PortBindings").at("80/tcp").at(0) ==
              nlohmann::json({{"HostIp", "127.0.0.1"}, {"HostPort", ""}}));
        auto tmpl = root.berth({"inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}",
                                "web"});
        CHECK(tmpl.out == back.at("IPAddress").get<std::string>() + "\n");
        // Stopped: still on its networks, with no addresses.
        REQUIRE(root.berth({"stop", "-t", "1", "web"}).exit_code == 0);
        auto stopped = inspect(root, "web");
        CHECK(stopped.at("NetworkSettings").at("Networks").at("front").at("IPAddress") == "");
        auto none = root.berth({"run", "-d", "--name", "quiet", "--network", "none", "busybox",
                                "sleep", "60"});
        REQUIRE(none.exit_code == 0);
        CHECK(inspect(root, "quiet").at("NetworkSettings").at("Networks").contains("none"));
        REQUIRE(root.berth({"rm", "-f", "web", "quiet"}).exit_code == 0);
        REQUIRE(root.berth({"network", "rm", "front", "back"}).exit_code == 0);
    }
    guard.check();
}
