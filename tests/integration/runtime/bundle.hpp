// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/runtime/runtime.hpp"
#include "tests/support/harness.hpp"

/// Busybox bundles for the runtime's integration tests: a rootfs made of the
/// host's busybox-static with its applet links, /etc/passwd and /etc/group,
/// and a config.json made from default_spec().
namespace berth::testing::runtime {

namespace rt = berth::engine::runtime;
namespace stdfs = std::filesystem;

inline void write_text(const stdfs::path& p, const std::string& text, mode_t mode = 0644) {
    stdfs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
}

/// The host's busybox-static (BERTH_BUSYBOX overrides, e.g. inside a VM).
inline std::string busybox_path() {
    const char* env = std::getenv("BERTH_BUSYBOX");
    return env != nullptr ? env : "/bin/busybox";
}

/// The applets of the host busybox, listed once.
inline const std::vector<std::string>& applets() {
    static const std::vector<std::string> list = [] {
        std::vector<std::string> out;
        auto r = run_process({busybox_path(), "--list"});
        std::istringstream in(r.out);
        for (std::string a; std::getline(in, a);) {
            if (!a.empty()) {
                out.push_back(a);
            }
        }
        return out;
    }();
    return list;
}

/// The static probe of probe.c, compiled once per test run.
inline stdfs::path probe_binary() {
    static const stdfs::path bin = [] {
        if (const char* prebuilt = std::getenv("BERTH_RUNTIME_PROBE")) {
            return stdfs::path(prebuilt);
        }
        stdfs::path out = stdfs::temp_directory_path() / ("berth-runtime-probe-" +
                                                          std::to_string(::getpid()));
        auto r = run_process({"/usr/bin/cc", "-static", "-O2", "-o", out.native(),
                              std::string(BERTH_SOURCE_DIR) +
                                  "/tests/integration/runtime/probe.c"});
        if (r.exit_code != 0) {
            return stdfs::path{};
        }
        static std::string to_remove;
        to_remove = out.native();
        std::atexit([] { ::unlink(to_remove.c_str()); });
        return out;
    }();
    return bin;
}

struct Bundle {
    stdfs::path dir;
    nlohmann::json config;

    [[nodiscard]] stdfs::path rootfs() const { return dir / "rootfs"; }
    void save() const { write_text(dir / "config.json", config.dump(2)); }
};

/// A bundle under the scratch root running `args`, in cgroup "/<prefix>-<name>".
inline Bundle make_bundle(const ScratchRoot& scratch, const std::string& name,
                          const std::vector<std::string>& args) {
    Bundle b;
    b.dir = scratch.root() / ("bundle-" + name);
    stdfs::path rootfs = b.dir / "rootfs";
    stdfs::create_directories(rootfs / "bin");
    stdfs::copy_file(busybox_path(), rootfs / "bin/busybox");
    for (const auto& a : applets()) {
        std::error_code ec;
        stdfs::create_symlink("busybox", rootfs / "bin" / a, ec);
    }
    for (const char* d : {"proc", "sys", "dev", "tmp", "etc", "mnt", "root"}) {
        stdfs::create_directories(rootfs / d);
    }
    ::chmod((rootfs / "tmp").c_str(), 01777);
    write_text(rootfs / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    write_text(rootfs / "etc/group", "root:x:0:\nnogroup:x:65534:\n");
    b.config = rt::default_spec();
    b.config["process"]["args"] = args;
    b.config["root"] = {{"path", "rootfs"}, {"readonly", false}};
    b.config["hostname"] = "berth-test";
    b.config["linux"]["cgroupsPath"] = "/" + scratch.prefix() + "-" + name;
    b.save();
    return b;
}

struct Outcome {
    int exit_code = -1;
    std::string out;
};

/// Waits for a started process through its pidfd (deadline 120 s, then kill).
inline int wait_started(const rt::Started& s) {
    pollfd p{s.pidfd.get(), POLLIN, 0};
    if (::poll(&p, 1, 120000) != 1) {
        ::kill(s.pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

inline std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

/// Runs the bundle with stdout and stderr on one pipe; returns the exit code
/// and output, or the run() error. The cgroup is destroyed afterwards.
inline Result<Outcome> run_bundle(const Bundle& b, const std::string& id) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return Error(Errc::internal, "pipe");
    }
    rt::Stdio stdio;
    stdio.out = fds[1];
    stdio.err = fds[1];
    auto started = rt::run(b.dir, id, stdio);
    ::close(fds[1]);
    if (!started) {
        ::close(fds[0]);
        return std::move(started).error();
    }
    Outcome o;
    o.out = read_all(fds[0]);
    ::close(fds[0]);
    o.exit_code = wait_started(*started);
    auto d = rt::destroy(b.config);
    (void)d;
    return o;
}

/// "CapEff:\t..." -> the value of one /proc/<pid>/status field in `text`.
inline std::string field(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name + ":", 0) == 0) {
            auto v = line.substr(name.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return "<missing " + name + ">";
}

}  // namespace berth::testing::runtime
