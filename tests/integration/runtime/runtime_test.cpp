// SPDX-License-Identifier: Apache-2.0
// The built-in OCI runtime on real busybox bundles: isolation (RELIABILITY
// section 1 and T-ISO), the escape rows of section 2 that concern the runtime,
// cgroup limits, exec, and the fd-leak check F28.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>

#include "common/fs.hpp"
#include "engine/runtime/internal/cgroup.hpp"
#include "tests/integration/runtime/bundle.hpp"

using namespace berth::testing;
using namespace berth::testing::runtime;
namespace rt = berth::engine::runtime;

namespace {

/// Docker's 14 default capabilities as the kernel prints them.
const std::string docker_caps = "00000000a80425fb";

/// Runs `script` with busybox sh in a fresh default bundle; checks nothing leaked.
struct Fixture {
    ScratchRoot scratch;
    Census before = take_census(scratch);

    Bundle bundle(const std::string& name, const std::string& script) {
        return make_bundle(scratch, name, {"/bin/sh", "-c", script});
    }
    Outcome run(const Bundle& b, const std::string& id) {
        auto r = run_bundle(b, id);
        if (!r) {
            FAIL("run failed: " << r.error().message());
        }
        UNSCOPED_INFO("container output:\n" << r->out);
        return *r;
    }
    ~Fixture() {
        Census after = take_census(scratch);
        CHECK(after.describe() == before.describe());
    }
};

std::map<std::string, int> parse_probe(const std::string& out) {
    std::map<std::string, int> m;
    std::istringstream in(out);
    std::string name;
    int err = 0;
    while (in >> name >> err) {
        m[name] = err;
    }
    return m;
}

}  // namespace

TEST_CASE("runtime: init is PID 1 with its own hostname and no host processes",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("pid1", "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'");
    auto o = f.run(b, "pid1");
    CHECK(o.exit_code == 0);
    std::istringstream in(o.out);
    std::string pid, host, count;
    std::getline(in, pid);
    std::getline(in, host);
    std::getline(in, count);
    CHECK(pid == "pid=1");
    CHECK(host == "berth-test");
    // sh, ls and grep at most: nothing from the host's pid namespace.
    CHECK(std::stoi(count) <= 3);
}

TEST_CASE("runtime: default capabilities, seccomp and no_new_privs",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("caps", "cat /proc/self/status");
    auto o = f.run(b, "caps");
    REQUIRE(o.exit_code == 0);
    CHECK(field(o.out, "CapEff") == docker_caps);
    CHECK(field(o.out, "CapPrm") == docker_caps);
    CHECK(field(o.out, "CapBnd") == docker_caps);
    CHECK(field(o.out, "CapInh") == "0000000000000000");
    CHECK(field(o.out, "CapAmb") == "0000000000000000");
    CHECK(field(o.out, "Seccomp") == "2");
    CHECK(field(o.out, "NoNewPrivs") == "0");

    b.config["process"]["noNewPrivileges"] = true;
    b.save();
    auto o2 = f.run(b, "caps-nnp");
    REQUIRE(o2.exit_code == 0);
    CHECK(field(o2.out, "NoNewPrivs") == "1");
    CHECK(field(o2.out, "Seccomp") == "2");
}

TEST_CASE("runtime: a non-root user has no capabilities (row 4)", "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("nonroot", "id -u; cat /proc/self/status");
    b.config["process"]["user"] = {{"uid", 0}, {"gid", 0}, {"username", "nobody"}};
    b.save();
    auto o = f.run(b, "nonroot");
    REQUIRE(o.exit_code == 0);
    CHECK(o.out.rfind("65534\n", 0) == 0);
    CHECK(field(o.out, "CapEff") == "0000000000000000");
    CHECK(field(o.out, "CapPrm") == "0000000000000000");
    CHECK(field(o.out, "CapInh") == "0000000000000000");
    CHECK(field(o.out, "CapAmb") == "0000000000000000");
    CHECK(field(o.out, "CapBnd") == docker_caps);
}

TEST_CASE("runtime: T-ISO syscalls fail with EPERM or ENOSYS", "[engine][runtime][.root]") {
    Fixture f;
    auto probe = probe_binary();
    REQUIRE(!probe.empty());
    auto b = f.bundle("tiso", "/probe; unshare -U true; echo unshare=$?; "
                              "mount -t tmpfs none /mnt; echo mount=$?; "
                              "swapon /bin/busybox; echo swapon=$?");
    std::filesystem::copy_file(probe, b.rootfs() / "probe");
    auto o = f.run(b, "tiso");
    REQUIRE(o.exit_code == 0);
    auto m = parse_probe(o.out);
    for (const char* name : {"unshare_user", "mount_tmpfs", "keyctl", "add_key", "io_uring_setup",
                             "socket_alg", "socket_vsock", "clone_newuser", "pivot_root", "swapon",
                             "userfaultfd"}) {
        INFO(name);
        REQUIRE(m.count(name) == 1);
        CHECK((m[name] == EPERM || m[name] == ENOSYS));
    }
    CHECK(m["clone3"] == ENOSYS);
    CHECK(m["socket_inet"] == 0);
    CHECK(o.out.find("unshare=0") == std::string::npos);
    CHECK(o.out.find("mount=0") == std::string::npos);
    CHECK(o.out.find("swapon=0") == std::string::npos);
}

TEST_CASE("runtime: masked and read-only paths, ro /sys and cgroupfs (rows 13, 14)",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("masked", "");
    std::string script;
    for (const auto& p : b.config["linux"]["maskedPaths"]) {
        std::string path = p.get<std::string>();
        script += "if [ -d " + path + " ]; then echo \"mask " + path + " dir $(ls -A " + path +
                  " | wc -l)\"; elif [ -e " + path + " ]; then echo \"mask " + path +
                  " $(stat -c %t:%T " + path + ") $(wc -c < " + path + ")\"; fi; ";
    }
    script += "echo 1 > /proc/sysrq-trigger; echo sysrq=$?; "
              "echo x > /proc/sys/kernel/domainname; echo sysctl=$?; "
              "touch /sys/x; echo sys=$?; mkdir /sys/fs/cgroup/x; echo cgmkdir=$?; "
              "mkdir /sys/fs/cgroup/memory/x; echo cgmkdir2=$?; "
              "echo 1 > /sys/fs/cgroup/memory/notify_on_release; echo notify=$?; "
              "hostname other; echo sethostname=$?; cat /proc/self/mountinfo";
    b.config["process"]["args"] = {"/bin/sh", "-c", script};
    b.save();
    auto o = f.run(b, "masked");
    REQUIRE(o.exit_code == 0);
    std::istringstream in(o.out);
    int files = 0;
    int dirs = 0;
    std::map<std::string, std::string> mount_opts;
    for (std::string line; std::getline(in, line);) {
        std::istringstream w(line);
        std::string a, path, kind, size;
        w >> a >> path >> kind >> size;
        if (a == "mask") {
            INFO(line);
            if (kind == "dir") {
                CHECK(size == "0");
                ++dirs;
            } else {
                CHECK(kind == "1:3");
                CHECK(size == "0");
                ++files;
            }
            continue;
        }
        std::istringstream mi(line);
        std::string id, parent, dev, root, point, opts;
        if (mi >> id >> parent >> dev >> root >> point >> opts) {
            mount_opts[point] = opts;
        }
    }
    CHECK(files >= 2);
    CHECK(dirs >= 1);
    for (const char* bad : {"sysrq=0", "sysctl=0", "sys=0", "cgmkdir=0", "cgmkdir2=0", "notify=0",
                            "sethostname=0"}) {
        CHECK(o.out.find(bad) == std::string::npos);
    }
    for (const char* ro : {"/sys", "/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/proc/sys",
                           "/proc/bus", "/proc/irq"}) {
        INFO(ro);
        if (std::string(ro) == "/sys/fs/cgroup/memory" &&
            rt::detect_cgroup_mode() == rt::CgroupMode::v2) {
            continue;
        }
        REQUIRE(mount_opts.count(ro) == 1);
        CHECK(mount_opts[ro].rfind("ro,", 0) == 0);
    }
}

TEST_CASE("runtime: mknod works but block and fuse devices cannot be opened",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("devices",
                      "mknod /tmp/sda b 8 0; echo mknod=$?; head -c 1 /tmp/sda; echo open=$?; "
                      "mknod /tmp/fuse c 10 229; cat /tmp/fuse; echo fuse=$?; "
                      "head -c 4 /dev/zero | wc -c; stat -c '%t:%T' /dev/null /dev/full /dev/tty; "
                      "readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin");
    auto o = f.run(b, "devices");
    REQUIRE(o.exit_code == 0);
    CHECK(o.out.find("mknod=0") != std::string::npos);
    CHECK(o.out.find("open=1") != std::string::npos);
    CHECK(o.out.find("fuse=1") != std::string::npos);
    CHECK(o.out.find("Operation not permitted") != std::string::npos);
    CHECK(o.out.find("\n4\n") != std::string::npos);
    CHECK(o.out.find("1:3\n1:7\n5:0\n") != std::string::npos);
    CHECK(o.out.find("pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n") != std::string::npos);
}

TEST_CASE("runtime: memory limit OOM-kills and stats report it", "[engine][runtime][.root][slow]") {
    Fixture f;
    auto b = make_bundle(f.scratch, "oom", {"/bin/tail", "/dev/zero"});
    b.config["linux"]["resources"]["memory"] = {{"limit", 16 * 1024 * 1024}};
    b.save();
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    rt::Stdio stdio;
    stdio.out = fds[1];
    auto s = rt::run(b.dir, "oom", stdio);
    ::close(fds[1]);
    REQUIRE(s);
    read_all(fds[0]);
    ::close(fds[0]);
    CHECK(wait_started(*s) == 137);
    auto st = rt::stats(b.config);
    REQUIRE(st);
    CHECK(st->oom_killed);
    CHECK(st->memory_limit == 16 * 1024 * 1024);
    REQUIRE(rt::destroy(b.config));
}

TEST_CASE("runtime: pids limit stops a fork bomb", "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("pids", "(for i in $(seq 1 40); do sleep 30 & done); "
                              "read n < /sys/fs/cgroup/pids/pids.current || "
                              "read n < /sys/fs/cgroup/pids.current; echo $n");
    b.config["linux"]["resources"]["pids"] = {{"limit", 10}};
    b.save();
    auto o = f.run(b, "pids");
    CHECK(o.out.find("can't fork") != std::string::npos);
    std::string last = o.out.substr(o.out.rfind('\n', o.out.size() - 2) + 1);
    CHECK(std::stoi(last) <= 10);
}

TEST_CASE("runtime: read-only rootfs refuses writes", "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("rofs", "touch /x; echo root=$?; touch /tmp/y; echo tmp=$?; "
                              "touch /dev/shm/z; echo shm=$?");
    b.config["root"]["readonly"] = true;
    b.save();
    auto o = f.run(b, "rofs");
    CHECK(o.out.find("Read-only file system") != std::string::npos);
    CHECK(o.out.find("root=1") != std::string::npos);
    CHECK(o.out.find("tmp=1") != std::string::npos);
    CHECK(o.out.find("shm=0") != std::string::npos);
}

TEST_CASE("runtime: missing or non-executable program errors", "[engine][runtime][.root]") {
    Fixture f;
    auto b = make_bundle(f.scratch, "noexe", {"nonexistent-program"});
    auto r = run_bundle(b, "noexe");
    REQUIRE(!r);
    CHECK(r.error().code() == berth::Errc::not_found);
    CHECK(r.error().message().find(
              "exec: \"nonexistent-program\": executable file not found in $PATH") !=
          std::string::npos);
    write_text(b.rootfs() / "bin/plain", "not a program\n", 0644);
    b.config["process"]["args"] = {"plain"};
    b.save();
    auto r2 = run_bundle(b, "noexe2");
    REQUIRE(!r2);
    CHECK(r2.error().code() == berth::Errc::permission_denied);
    CHECK(rt::destroy(b.config));
}

TEST_CASE("runtime: an rlimit above the hard limit fails naming it", "[engine][runtime][.root]") {
    Fixture f;
    rlimit cur{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &cur) == 0);
    REQUIRE(cur.rlim_max != RLIM_INFINITY);
    auto b = f.bundle("rlimit", "ulimit -n");
    nlohmann::json too_high = {{"type", "RLIMIT_NOFILE"},
                               {"soft", 1024},
                               {"hard", static_cast<uint64_t>(cur.rlim_max) + 1}};
    b.config["process"]["rlimits"] = nlohmann::json::array({too_high});
    b.save();
    auto r = run_bundle(b, "rlimit");
    REQUIRE(!r);
    CHECK(r.error().message().find("RLIMIT_NOFILE") != std::string::npos);
    nlohmann::json ok = {{"type", "RLIMIT_NOFILE"}, {"soft", 100}, {"hard", 200}};
    b.config["process"]["rlimits"] = nlohmann::json::array({ok});
    b.save();
    auto o = f.run(b, "rlimit2");
    CHECK(o.out == "100\n");
}

TEST_CASE("runtime: numeric users are ids and groups come from /etc/group (rows 5, 6)",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("users", "id -u; id -g; id -G; cat /secret; echo read=$?");
    write_text(b.rootfs() / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\n1234:x:0:0::/:/bin/sh\n"
               "alice:x:1000:1000::/home/alice:/bin/sh\n");
    write_text(b.rootfs() / "etc/group", "root:x:0:\nalice:x:1000:\ndeny:x:2000:alice\n");
    write_text(b.rootfs() / "secret", "top secret\n", 0604);
    REQUIRE(::chown((b.rootfs() / "secret").c_str(), 0, 2000) == 0);
    struct Case {
        std::string user;
        std::string expect;
    };
    for (const auto& c : {Case{"1234", "1234\n0\n0\n"}, Case{"1", "1\n0\n0\n"},
                          Case{"1:1", "1\n1\n1\n"}, Case{"alice", "1000\n1000\n1000 2000\n"}}) {
        INFO(c.user);
        b.config["process"]["user"] = {{"uid", 0}, {"gid", 0}, {"username", c.user}};
        b.save();
        auto o = f.run(b, "users");
        CHECK(o.out.rfind(c.expect, 0) == 0);
        if (c.user == "alice") {
            CHECK(o.out.find("Permission denied") != std::string::npos);
            CHECK(o.out.find("read=1") != std::string::npos);
        }
    }
}

TEST_CASE("runtime: /proc or /sys that is not an ordinary directory is refused (row 8)",
          "[engine][runtime][.root]") {
    Fixture f;
    for (int variant = 0; variant < 3; ++variant) {
        auto b = f.bundle("fakeproc" + std::to_string(variant), "true");
        auto rootfs = b.rootfs();
        if (variant == 0) {
            std::filesystem::remove(rootfs / "proc");
            std::filesystem::create_directories(rootfs / "bad-proc");
            std::filesystem::create_symlink("/bad-proc", rootfs / "proc");
        } else if (variant == 1) {
            std::filesystem::remove(rootfs / "proc");
            write_text(rootfs / "proc", "fake\n");
        } else {
            std::filesystem::remove(rootfs / "sys");
            std::filesystem::create_symlink("/tmp", rootfs / "sys");
        }
        auto r = run_bundle(b, "fakeproc");
        INFO(variant);
        REQUIRE(!r);
        CHECK(r.error().message().find("must be mounted on ordinary directory") !=
              std::string::npos);
        CHECK(rt::destroy(b.config));
    }
}

TEST_CASE("runtime: an image /dev symlink does not reach the host (row 12)",
          "[engine][runtime][.root]") {
    Fixture f;
    auto outside = f.scratch.root() / "outside";
    std::filesystem::create_directories(outside);
    auto b = f.bundle("devlink", "ls /dev/null /dev/ptmx >/dev/null && echo ok");
    std::filesystem::remove(b.rootfs() / "dev");
    std::filesystem::create_symlink(outside, b.rootfs() / "dev");
    auto r = run_bundle(b, "devlink");
    if (r) {
        CHECK(r->out == "ok\n");
    }
    CHECK(std::filesystem::is_empty(outside));
}

TEST_CASE("runtime: cwd is created, and magic-link cwds never escape (row 2)",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("cwd", "pwd");
    b.config["process"]["cwd"] = "/work/dir";
    b.save();
    auto o = f.run(b, "cwd");
    CHECK(o.out == "/work/dir\n");
    for (int n = 3; n <= 8; ++n) {
        b.config["process"]["cwd"] = "/proc/self/fd/" + std::to_string(n);
        b.save();
        auto r = run_bundle(b, "cwd-fd");
        if (r) {
            INFO(r->out);
            CHECK(r->out.rfind("/", 0) == 0);
            CHECK(r->out.find("berth-test-") == std::string::npos);
        }
        CHECK(rt::destroy(b.config));
    }
}

TEST_CASE("runtime: only stdio reaches the container (F28, row 2)", "[engine][runtime][.root]") {
    Fixture f;
    // A host fd without CLOEXEC must not leak either.
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);
    REQUIRE(leak >= 0);
    auto b = make_bundle(f.scratch, "fds", {"/bin/sleep", "120"});
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    rt::Stdio stdio;
    stdio.out = fds[1];
    auto s = rt::run(b.dir, "fds", stdio);
    ::close(fds[1]);
    ::close(leak);
    REQUIRE(s);
    int count = 0;
    for (const auto& e : std::filesystem::directory_iterator(
             "/proc/" + std::to_string(s->pid) + "/fd")) {
        auto target = std::filesystem::read_symlink(e.path()).string();
        INFO(e.path().filename().string() << " -> " << target);
        ++count;
        bool allowed = target.rfind("pipe:", 0) == 0 || target == "/dev/null" ||
                       target.rfind("socket:", 0) == 0 || target.rfind("anon_inode:", 0) == 0 ||
                       target.rfind("/dev/pts/", 0) == 0;
        CHECK(allowed);
    }
    CHECK(count == 3);
    REQUIRE(rt::kill(b.config, s->pid, SIGKILL, true));
    CHECK(wait_started(*s) == 137);
    ::close(fds[0]);
    REQUIRE(rt::destroy(b.config));
}

TEST_CASE("runtime: exec joins the namespaces and cgroup, leaks no fd",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = make_bundle(f.scratch, "exec", {"/bin/sleep", "120"});
    rt::Stdio none;
    auto init = rt::run(b.dir, "exec", none);
    REQUIRE(init);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    rt::Stdio stdio;
    stdio.out = fds[1];
    stdio.err = fds[1];
    nlohmann::json proc = {
        {"args", {"/bin/sh", "-c",
                  "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; "
                  "[ \"$(cat /proc/1/cgroup)\" = \"$(cat /proc/self/cgroup)\" ] && echo samecg; "
                  "for f in /proc/$$/fd/*; do echo \"fd $(readlink $f)\"; done; "
                  "grep -E '^(CapEff|Seccomp|NoNewPrivs)' /proc/self/status"}},
        {"cwd", "/"},
        {"env", {"PATH=/bin"}}};
    auto e = rt::exec(init->pid, b.config, proc, stdio);
    ::close(fds[1]);
    REQUIRE(e);
    auto pids = rt::pids(b.config);
    REQUIRE(pids);
    CHECK(std::find(pids->begin(), pids->end(), e->pid) != pids->end());
    std::string out = read_all(fds[0]);
    ::close(fds[0]);
    CHECK(wait_started(*e) == 0);
    CHECK(out.find("pid=1\n") == std::string::npos);
    CHECK(out.find("sleep 120") != std::string::npos);
    CHECK(out.find("berth-test") != std::string::npos);
    CHECK(out.find("samecg") != std::string::npos);
    CHECK(field(out, "CapEff") == docker_caps);
    CHECK(field(out, "Seccomp") == "2");
    std::istringstream in(out);
    int fd_lines = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("fd ", 0) == 0) {
            ++fd_lines;
            auto t = line.substr(3);
            INFO(t);
            // stdio plus the directory fd the shell's glob may hold open
            CHECK((t.rfind("pipe:", 0) == 0 || t == "/dev/null" || t.rfind("/proc/", 0) == 0));
        }
    }
    CHECK(fd_lines >= 3);
    CHECK(fd_lines <= 4);

    // pause, resume, stats, kill through the cgroup
    REQUIRE(rt::pause(b.config));
    REQUIRE(rt::resume(b.config));
    auto st = rt::stats(b.config);
    REQUIRE(st);
    CHECK(st->pids == 1);
    REQUIRE(rt::kill(b.config, init->pid, SIGKILL, true));
    CHECK(wait_started(*init) == 137);
    REQUIRE(rt::destroy(b.config));
}

TEST_CASE("runtime: exec with a bad user or program reports the error",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = make_bundle(f.scratch, "execerr", {"/bin/sleep", "120"});
    rt::Stdio none;
    auto init = rt::run(b.dir, "execerr", none);
    REQUIRE(init);
    nlohmann::json proc = {{"args", {"nope"}}, {"cwd", "/"}, {"env", {"PATH=/bin"}}};
    auto e = rt::exec(init->pid, b.config, proc, none);
    REQUIRE(!e);
    CHECK(e.error().code() == berth::Errc::not_found);
    proc["args"] = {"true"};
    proc["user"] = {{"uid", 0}, {"gid", 0}, {"username", "ghost"}};
    auto e2 = rt::exec(init->pid, b.config, proc, none);
    REQUIRE(!e2);
    CHECK(e2.error().message().find("ghost") != std::string::npos);
    REQUIRE(rt::kill(b.config, init->pid, SIGKILL, true));
    wait_started(*init);
    REQUIRE(rt::destroy(b.config));
}

TEST_CASE("runtime: terminal gets a pty as /dev/console (row 10)", "[engine][runtime][.root]") {
    Fixture f;
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(slave >= 0);
    auto b = f.bundle("tty", "stat -c 'console %t' /dev/console; tty >/dev/null && echo isatty");
    b.config["process"]["terminal"] = true;
    b.save();
    rt::Stdio stdio;
    stdio.pty_slave = slave;
    auto s = rt::run(b.dir, "tty", stdio);
    ::close(slave);
    if (!s) {
        FAIL(s.error().message());
    }
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(master, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(master);
    CHECK(wait_started(*s) == 0);
    CHECK(out.find("console 88") != std::string::npos);  // major 136
    CHECK(out.find("isatty") != std::string::npos);
    REQUIRE(rt::destroy(b.config));
}

TEST_CASE("runtime: debug script from BERTH_RT_DEBUG", "[.debug]") {
    Fixture f;
    const char* script = std::getenv("BERTH_RT_DEBUG");
    REQUIRE(script != nullptr);
    auto b = f.bundle("debug", script);
    if (const char* pids = std::getenv("BERTH_RT_PIDS")) {
        b.config["linux"]["resources"]["pids"] = {{"limit", std::atoi(pids)}};
        b.save();
    }
    auto o = f.run(b, "debug");
    std::printf("exit=%d\n%s", o.exit_code, o.out.c_str());
}

namespace {

/// crun refuses a hybrid layout while cgroup2 holds a controller; a v1
/// hugetlb hierarchy takes hugetlb out of it (a host change kept on purpose).
std::string crun_path() {
    const char* env = std::getenv("BERTH_CRUN");
    return env != nullptr ? env : "/usr/bin/crun";
}

bool crun_usable(std::string* why) {
    if (::access(crun_path().c_str(), X_OK) != 0) {
        *why = "no " + crun_path();
        return false;
    }
    if (rt::detect_cgroup_mode() == rt::CgroupMode::v1) {
        auto ctrl = berth::fs::read_file("/sys/fs/cgroup/unified/cgroup.controllers");
        if (ctrl && ctrl->find("hugetlb") != std::string::npos) {
            std::filesystem::create_directories("/sys/fs/cgroup/hugetlb");
            if (::mount("cgroup", "/sys/fs/cgroup/hugetlb", "cgroup", 0, "hugetlb") != 0) {
                *why = "cannot mount a v1 hugetlb hierarchy";
                return false;
            }
        }
    }
    return true;
}

std::vector<std::string> mount_points(const std::string& out) {
    std::vector<std::string> points;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        std::istringstream mi(line);
        std::string id, parent, dev, root, point;
        if (line.find(" - ") != std::string::npos && (mi >> id >> parent >> dev >> root >> point)) {
            points.push_back(point);
        }
    }
    std::sort(points.begin(), points.end());
    return points;
}

}  // namespace

TEST_CASE("runtime: the same bundle behaves the same under crun", "[engine][runtime][.root]") {
    Fixture f;
    std::string why;
    if (!crun_usable(&why)) {
        // crun is installed by scripts/install-deps.sh: its absence is a failure, not a skip.
        FAIL("crun comparison cannot run: " << why);
    }
    const std::string script =
        "id; hostname; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; "
        "echo mounts=$(wc -l < /proc/self/mountinfo); stat -c %t:%T /proc/keys; "
        "cat /proc/self/mountinfo";
    auto b = f.bundle("cmp", script);
    auto ours = f.run(b, "cmp");
    REQUIRE(ours.exit_code == 0);
    b.config["linux"]["cgroupsPath"] = "/" + f.scratch.prefix() + "-crun";
    b.save();
    auto theirs = run_process({crun_path(), "run", "--bundle", b.dir.native(),
                               f.scratch.prefix() + "-crun"});
    INFO("crun:\n" << theirs.out << theirs.err);
    REQUIRE(theirs.exit_code == 0);
    auto head = [](const std::string& text) {
        // everything before the mountinfo dump
        return text.substr(0, text.find("\n", text.find("\n", text.find("mounts=")) + 1));
    };
    CHECK(head(ours.out) == head(theirs.out));
    CHECK(mount_points(ours.out) == mount_points(theirs.out));
}

TEST_CASE("runtime: the cgroup v2 device program passes the BPF verifier",
          "[engine][runtime][.root]") {
    std::vector<rt::DeviceRule> rules;
    for (const auto& r : rt::docker_defaults()["devicesCgroup"]) {
        rt::DeviceRule d;
        d.allow = r["allow"].get<bool>();
        d.type = r.contains("type") ? r["type"].get<std::string>()[0] : 'a';
        d.major = r.value("major", int64_t{-1});
        d.minor = r.value("minor", int64_t{-1});
        d.access = r["access"].get<std::string>();
        rules.push_back(d);
    }
    CHECK(rt::detail::load_device_program(rules));
    // Allow-all first, a lone deny, and an empty list are valid programs too.
    CHECK(rt::detail::load_device_program({rt::DeviceRule{true, 'a', -1, -1, "rwm"}}));
    CHECK(rt::detail::load_device_program({rt::DeviceRule{false, 'c', 10, 229, "rwm"}}));
    CHECK(rt::detail::load_device_program({}));
}

TEST_CASE("runtime: overlay annotations mount the rootfs inside the container only",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = f.bundle("overlay", "echo hello > /written; ls /written /bin/busybox");
    auto lower = b.rootfs();
    auto upper = b.dir / "upper";
    auto work = b.dir / "work";
    auto merged = b.dir / "merged";
    for (const auto& d : {upper, work, merged}) {
        std::filesystem::create_directories(d);
    }
    b.config["root"]["path"] = "merged";
    b.config["annotations"] = {{"org.berth.rootfs.lowerdir", lower.native()},
                               {"org.berth.rootfs.upperdir", upper.native()},
                               {"org.berth.rootfs.workdir", work.native()}};
    b.save();
    auto o = f.run(b, "overlay");
    CHECK(o.exit_code == 0);
    CHECK(o.out == "/bin/busybox\n/written\n");
    CHECK(berth::fs::read_file(upper / "written").value_or("") == "hello\n");
    CHECK(!std::filesystem::exists(lower / "written"));
    CHECK(std::filesystem::is_empty(merged));  // no host mount was ever made there
}

TEST_CASE("runtime: a network namespace path is joined, a fresh one has lo up",
          "[engine][runtime][.root]") {
    Fixture f;
    int ready[2];
    REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    pid_t holder = ::fork();
    REQUIRE(holder >= 0);
    if (holder == 0) {
        if (::unshare(CLONE_NEWNET) != 0) {
            ::_exit(1);
        }
        char c = 1;
        (void)!::write(ready[1], &c, 1);
        ::pause();
        ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    std::string path = "/proc/" + std::to_string(holder) + "/ns/net";
    auto b = f.bundle("netns", "readlink /proc/self/ns/net");
    for (auto& ns : b.config["linux"]["namespaces"]) {
        if (ns["type"] == "network") {
            ns["path"] = path;
        }
    }
    b.save();
    auto o = f.run(b, "netns");
    CHECK(o.out == std::filesystem::read_symlink(path).string() + "\n");
    ::kill(holder, SIGKILL);
    ::waitpid(holder, nullptr, 0);

    auto fresh = f.bundle("netns-fresh", "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; "
                                         "ls /sys/class/net; cat /proc/sys/kernel/domainname");
    fresh.config["linux"]["sysctl"] = {{"kernel.domainname", "berth.test"}};
    fresh.save();
    auto o2 = f.run(fresh, "netns-fresh");
    CHECK(o2.out == "unknown\n0x9\nlo\nberth.test\n");
}

TEST_CASE("runtime: exec with a terminal gets the pty as its controlling tty",
          "[engine][runtime][.root]") {
    Fixture f;
    auto b = make_bundle(f.scratch, "exectty", {"/bin/sleep", "120"});
    rt::Stdio none;
    auto init = rt::run(b.dir, "exectty", none);
    REQUIRE(init);
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(slave >= 0);
    rt::Stdio stdio;
    stdio.pty_slave = slave;
    nlohmann::json proc = {{"args", {"/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo isatty; "
                                                      "[ -c /dev/tty ] && echo hastty; "
                                                      "set -- $(cat /proc/self/stat); "
                                                      "echo tty_nr=$7; sleep 1"}},
                           {"terminal", true},
                           {"cwd", "/"},
                           {"env", {"PATH=/bin"}}};
    auto e = rt::exec(init->pid, b.config, proc, stdio);
    ::close(slave);
    if (!e) {
        FAIL(e.error().message());
    }
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(master, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(master);
    INFO(out);
    CHECK(wait_started(*e) == 0);
    CHECK(out.find("isatty") != std::string::npos);
    CHECK(out.find("hastty") != std::string::npos);
    CHECK(out.find("tty_nr=") != std::string::npos);
    CHECK(out.find("tty_nr=0") == std::string::npos);  // a controlling terminal is set
    REQUIRE(rt::kill(b.config, init->pid, SIGKILL, true));
    wait_started(*init);
    REQUIRE(rt::destroy(b.config));
}
