// SPDX-License-Identifier: Apache-2.0
#pragma once

// Shared pieces of the netns root tests: a scratch root with its Paths and
// cleanup, plain namespaces standing in for containers, busybox inside them
// through nsenter, a small HTTP client, and waiting on conditions.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "common/fs.hpp"
#include "common/paths.hpp"
#include "common/unique_fd.hpp"
#include "netns/network.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

namespace berth::netns_test {

using berth::testing::run_process;

/// Link names from netlink in this namespace (/sys/class/net shows the links
/// of the namespace that mounted sysfs: the host's, with other tests' links).
inline std::string link_names() {
    std::string links;
    auto brief = run_process({"/usr/sbin/ip", "-br", "link"}).out;
    for (size_t at = 0; at < brief.size();) {
        auto end = brief.find('\n', at);
        if (end == std::string::npos) {
            end = brief.size();
        }
        auto line = brief.substr(at, end - at);
        links += line.substr(0, line.find(' ')) + "\n";
        at = end + 1;
    }
    return links;
}

/// What must be gone after a test: links, addresses, routes and nftables
/// rules of the outer namespace, plus the scratch census.
inline std::string outer_state() {
    auto links = link_names();
    auto addrs = run_process({"/usr/sbin/ip", "-o", "-4", "addr"}).out;
    auto routes = run_process({"/usr/sbin/ip", "route"}).out;
    auto rules = run_process({"/usr/sbin/nft", "list", "ruleset"}).out;
    return "links:\n" + links + "addrs:\n" + addrs + "routes:\n" + routes + "nft:\n" + rules;
}

/// A background process, killed (by its own pid) and reaped when destroyed.
class Background {
   public:
    Background(std::vector<std::string> argv, const std::string& out_file = "/dev/null") {
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            std::vector<char*> args;
            for (auto& a : argv) {
                args.push_back(a.data());
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Background() {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

   private:
    pid_t pid_ = -1;
};

/// Polls `cond` until it holds or 15 s pass; never asserts on time itself.
inline bool eventually(const std::function<bool()>& cond) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
}

inline testing::RunResult in_ns(const std::filesystem::path& ns, std::vector<std::string> cmd) {
    std::vector<std::string> argv{"/usr/bin/nsenter", "--net=" + ns.native(), "/usr/bin/busybox"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return run_process(argv, {}, {}, 20);
}

/// The IPv4 address nslookup printed for `name` asked at `server`, or "".
inline std::string resolve(const std::filesystem::path& ns, const std::string& name,
                           const std::string& server) {
    auto r = in_ns(ns, {"nslookup", "-timeout=2", name, server});
    if (r.exit_code != 0) {
        return {};
    }
    // busybox prints the server first, then "Name: x\nAddress: ip".
    auto at = r.out.find("Name:");
    if (at == std::string::npos) {
        return {};
    }
    auto addr = r.out.find("Address:", at);
    if (addr == std::string::npos) {
        return {};
    }
    auto start = r.out.find_first_not_of(" \t", addr + 8);
    auto end = r.out.find_first_of(" \n", start);
    return r.out.substr(start, end - start);
}

/// Runs `fn` on a thread inside the namespace at `ns`.
inline void on_thread_in(const std::filesystem::path& ns, const std::function<void()>& fn) {
    std::thread t([&] {
        UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.valid() && ::setns(fd.get(), CLONE_NEWNET) == 0) {
            fn();
        }
    });
    t.join();
}

/// GET / from ip:port (from inside `ns` when given; else from the outer
/// namespace) and returns the body, or "<failed: why>". busybox wget -T
/// crashes on Debian 12, so this is a small client with a 2 s bound on each
/// step, which only makes a hanging attempt fail sooner.
inline std::string http_get(const std::filesystem::path* ns, const std::string& ip, uint16_t port) {
    std::string out = "<failed: connect>";
    auto fetch = [&] {
        UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        timeval tv{2, 0};
        ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            return;
        }
        const char req[] = "GET /index.html HTTP/1.0\r\n\r\n";
        if (::send(s.get(), req, sizeof req - 1, MSG_NOSIGNAL) != sizeof req - 1) {
            return;
        }
        std::string resp;
        char buf[4096];
        for (ssize_t n; (n = ::recv(s.get(), buf, sizeof buf, 0)) > 0;) {
            resp.append(buf, static_cast<size_t>(n));
        }
        auto body = resp.find("\r\n\r\n");
        out = body == std::string::npos ? "<failed: no response>" : resp.substr(body + 4);
    };
    if (ns != nullptr) {
        on_thread_in(*ns, fetch);
    } else {
        fetch();
    }
    return out;
}

/// One scratch root, its Paths, and cleanup of the namespaces it made.
struct Fixture {
    testing::ScratchRoot scratch;
    Paths paths;
    std::vector<std::filesystem::path> namespaces;
    std::vector<std::string> attached;
    std::string www;

    Fixture() {
        paths.root = scratch.root();
        paths.run_root = scratch.run_root();
        paths.prefix = scratch.prefix();
        ::setenv("BERTH_EXE", BERTH_BINARY, 0);  // an explicit BERTH_EXE wins
        www = (scratch.root() / "www").native();
        std::filesystem::create_directories(www);
        std::ofstream(www + "/index.html") << "hello from berth\n";
    }
    ~Fixture() {
        for (const auto& c : attached) {
            auto r = netns::detach(paths, c);
            (void)r;
        }
        for (const auto& ns : namespaces) {
            auto r = netns::remove_netns(ns);
            (void)r;
        }
    }
    std::filesystem::path make_ns(const std::string& name) {
        auto p = netns::netns_dir(paths) / name;
        auto r = netns::create_netns(p);
        REQUIRE(r);
        namespaces.push_back(p);
        return p;
    }
    netns::Endpoint attach(const std::string& id, const std::filesystem::path& ns,
                           const std::string& network, std::vector<std::string> aliases = {},
                           std::vector<netns::PortBinding> ports = {}) {
        netns::AttachRequest req;
        req.container_id = id;
        req.container_name = id;
        req.hostname = id;
        req.netns_path = ns;
        req.networks.push_back({network, std::move(aliases), std::nullopt, std::nullopt});
        req.ports = std::move(ports);
        auto eps = netns::attach(paths, req);
        INFO((eps ? std::string() : eps.error().message()));
        REQUIRE(eps);
        attached.push_back(id);
        return eps->front();
    }
    /// Tears everything down, waits for the resolver to leave, and returns
    /// the census.
    void teardown() {
        for (const auto& c : attached) {
            REQUIRE(netns::detach(paths, c));
        }
        attached.clear();
        for (const auto& ns : namespaces) {
            REQUIRE(netns::remove_netns(ns));
        }
        namespaces.clear();
        auto nets = netns::read_networks(paths);
        REQUIRE(nets);
        for (const auto& n : *nets) {
            auto r = netns::remove_network(paths, n.id);
            INFO((r ? std::string() : r.error().message()));
            REQUIRE(r);
        }
        CHECK(eventually([&] { return testing::take_census(scratch).processes.empty(); }));
    }
};

inline netns::NetworkSpec spec(const std::string& name, bool internal = false) {
    netns::NetworkSpec s;
    s.name = name;
    s.internal = internal;
    return s;
}

}  // namespace berth::netns_test
