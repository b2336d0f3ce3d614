// SPDX-License-Identifier: Apache-2.0
// Root tests of issue 5: real bridges, veths, nftables and the resolver, all
// inside a network namespace the test itself creates (the machine's own links
// and firewall are never touched). Plain namespaces made by create_netns stand
// in for containers; busybox runs inside them through nsenter.
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

using namespace berth;
using berth::testing::OuterNetns;
using berth::testing::run_process;

namespace {

/// What must be gone after a test: links, addresses, routes and nftables
/// rules of the outer namespace, plus the scratch census.
std::string outer_state() {
    auto links = run_process({"/usr/bin/ls", "/sys/class/net"}).out;
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
bool eventually(const std::function<bool()>& cond) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
}

testing::RunResult in_ns(const std::filesystem::path& ns, std::vector<std::string> cmd) {
    std::vector<std::string> argv{"/usr/bin/nsenter", "--net=" + ns.native(), "/usr/bin/busybox"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return run_process(argv, {}, {}, 20);
}

/// The IPv4 address nslookup printed for `name` asked at `server`, or "".
std::string resolve(const std::filesystem::path& ns, const std::string& name,
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
void on_thread_in(const std::filesystem::path& ns, const std::function<void()>& fn) {
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
std::string http_get(const std::filesystem::path* ns, const std::string& ip, uint16_t port) {
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

netns::NetworkSpec spec(const std::string& name, bool internal = false) {
    netns::NetworkSpec s;
    s.name = name;
    s.internal = internal;
    return s;
}

}  // namespace

TEST_CASE("two endpoints resolve each other and exchange bytes over TCP and UDP",
          "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    const auto census_before = testing::take_census(f.scratch);
    {
        auto net = netns::create_network(f.paths, spec("front"));
        REQUIRE(net);
        auto a = f.make_ns("a");
        auto b = f.make_ns("b");
        auto ea = f.attach("web", a, "front", {"www"});
        auto eb = f.attach("client", b, "front", {"cli"});
        CHECK(ea.ifname == "eth0");
        CHECK(ea.dns_server == net->gateway);
        CHECK(ea.ipv4 != eb.ipv4);

        // Names, aliases and ids resolve on the gateway resolver.
        CHECK(eventually([&] { return resolve(b, "web", eb.dns_server) == ea.ipv4; }));
        CHECK(resolve(b, "www", eb.dns_server) == ea.ipv4);
        CHECK(eventually([&] { return resolve(a, "cli", ea.dns_server) == eb.ipv4; }));
        CHECK(resolve(a, "nosuchname.invalid", ea.dns_server).empty());

        // accept_ra=0 on berth's host-side interfaces (row 29), IPv6 off inside.
        auto ra = run_process({"/usr/bin/cat", "/proc/sys/net/ipv6/conf/" + net->bridge +
                                                   "/accept_ra"});
        CHECK(ra.out == "0\n");
        auto v6 = in_ns(a, {"ip", "-6", "addr", "show", "dev", "eth0"});
        CHECK(v6.out.find("inet6") == std::string::npos);

        // TCP: busybox httpd in a, wget from b.
        Background httpd({"/usr/bin/nsenter", "--net=" + a.native(), "/usr/bin/busybox", "httpd",
                          "-f", "-p", "80", "-h", f.www});
        CHECK(eventually([&] {
            return http_get(&b, ea.ipv4, 80) == "hello from berth\n";
        }));

        // UDP: a datagram from b arrives in a.
        std::string got;
        std::atomic<bool> bound{false};
        std::thread server([&] {
            on_thread_in(a, [&] {
                UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
                sockaddr_in sa{};
                sa.sin_family = AF_INET;
                sa.sin_port = htons(9000);
                bound = ::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
                timeval tv{5, 0};
                ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                char buf[64];
                ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
                if (n > 0) {
                    got.assign(buf, static_cast<size_t>(n));
                }
            });
        });
        CHECK(eventually([&] { return bound.load(); }));
        on_thread_in(b, [&] {
            UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(9000);
            ::inet_pton(AF_INET, ea.ipv4.c_str(), &sa.sin_addr);
            for (int i = 0; i < 5 && got.empty(); ++i) {
                ::sendto(s.get(), "ping-udp", 8, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
        server.join();
        CHECK(got == "ping-udp");
    }
    f.teardown();
    CHECK(outer_state() == before);
    auto census_after = testing::take_census(f.scratch);
    INFO(census_after.describe());
    CHECK(census_after == census_before);
}

TEST_CASE("networks are isolated and internal networks reach nothing outside",
          "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    {
        REQUIRE(netns::create_network(f.paths, spec("one")));
        REQUIRE(netns::create_network(f.paths, spec("two")));
        REQUIRE(netns::create_network(f.paths, spec("closed", true)));
        auto a = f.make_ns("a");
        auto b = f.make_ns("b");
        auto c = f.make_ns("c");
        auto ea = f.attach("a", a, "one");
        auto eb = f.attach("b", b, "two");
        auto ec = f.attach("c", c, "closed");
        // The uplink address of the outer namespace stands for "outside".
        CHECK(in_ns(a, {"ping", "-c", "1", "-W", "2", "198.51.100.1"}).exit_code == 0);
        CHECK(in_ns(c, {"ping", "-c", "1", "-W", "1", "198.51.100.1"}).exit_code != 0);
        // Inter-network traffic is dropped in both directions (row 28).
        for (int i = 0; i < 3; ++i) {
            CHECK(in_ns(a, {"ping", "-c", "1", "-W", "1", eb.ipv4}).exit_code != 0);
            CHECK(in_ns(b, {"ping", "-c", "1", "-W", "1", ea.ipv4}).exit_code != 0);
        }
        // An internal network's resolver forwards nothing (CVE-2024-29018).
        CHECK(eventually([&] { return resolve(c, "c", ec.dns_server) == ec.ipv4; }));
        CHECK(resolve(c, "example.com", ec.dns_server).empty());
        // Names of other networks are not visible.
        CHECK(resolve(a, "b", ea.dns_server).empty());
    }
    f.teardown();
    CHECK(outer_state() == before);
}

TEST_CASE("published ports answer on loopback and the host address, not to peers",
          "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    {
        REQUIRE(netns::create_network(f.paths, spec("pub")));
        auto a = f.make_ns("a");
        auto ports1 = netns::parse_port_spec("127.0.0.1:18080:80");
        auto ports2 = netns::parse_port_spec("18081:80");
        auto ports3 = netns::parse_port_spec("80");
        REQUIRE((ports1 && ports2 && ports3));
        std::vector<netns::PortBinding> ports{(*ports1)[0], (*ports2)[0], (*ports3)[0]};
        auto ea = f.attach("srv", a, "pub", {}, ports);
        REQUIRE(ea.ports.size() == 3);
        CHECK(ea.ports[0].host_port == 18080);
        const uint16_t random_port = ea.ports[2].host_port;
        CHECK(random_port != 0);
        auto listed = netns::container_ports(f.paths, "srv");
        REQUIRE(listed);
        CHECK(*listed == ea.ports);
        Background httpd({"/usr/bin/nsenter", "--net=" + a.native(), "/usr/bin/busybox", "httpd",
                          "-f", "-p", "80", "-h", f.www});
        const std::string want = "hello from berth\n";
        CHECK(eventually([&] { return http_get(nullptr, "127.0.0.1", 18080) == want; }));
        CHECK(http_get(nullptr, "198.51.100.1", 18081) == want);
        CHECK(http_get(nullptr, "127.0.0.1", 18081) == want);
        CHECK(http_get(nullptr, "127.0.0.1", random_port) == want);

        // A peer routed to the host (row 28): a veth from the outer namespace.
        auto peer = f.make_ns("peer");
        REQUIRE(run_process({"/usr/sbin/ip", "link", "add", "tpeer0", "type", "veth", "peer",
                             "name", "eth0", "netns", peer.native()})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "addr", "add", "198.18.0.1/24", "dev", "tpeer0"})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "set", "tpeer0", "up"}).exit_code == 0);
        REQUIRE(in_ns(peer, {"ip", "addr", "add", "198.18.0.2/24", "dev", "eth0"}).exit_code == 0);
        REQUIRE(in_ns(peer, {"ip", "link", "set", "eth0", "up"}).exit_code == 0);
        REQUIRE(in_ns(peer, {"ip", "route", "add", "default", "via", "198.18.0.1"}).exit_code == 0);
        CHECK(eventually([&] { return http_get(&peer, "198.18.0.1", 18081) == want; }));
        for (int i = 0; i < 5; ++i) {
            CHECK(http_get(&peer, "198.18.0.1", 18080) != want);
            CHECK(http_get(&peer, ea.ipv4, 80) != want);
        }

        // Bad input: a port held by another process, a port berth already
        // gave out; neither leaves a veth or a record behind.
        auto links_before = run_process({"/usr/bin/ls", "/sys/class/net"}).out;
        UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(18090);
        REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        REQUIRE(::listen(holder.get(), 1) == 0);
        auto b = f.make_ns("b");
        for (const auto& [port_spec, needle] :
             {std::pair{"18090:80", "18090"}, std::pair{"127.0.0.1:18081:80", "18081"}}) {
            netns::AttachRequest req;
            req.container_id = "busy";
            req.netns_path = b;
            req.networks.push_back({"pub", {}, std::nullopt, std::nullopt});
            req.ports = *netns::parse_port_spec(port_spec);
            auto r = netns::attach(f.paths, req);
            REQUIRE_FALSE(r);
            CHECK(r.error().code() == Errc::conflict);
            CHECK(r.error().message().find(needle) != std::string::npos);
            CHECK(run_process({"/usr/bin/ls", "/sys/class/net"}).out == links_before);
            CHECK(netns::read_networks(f.paths)->front().endpoints.count("busy") == 0);
        }

        // Damage: delete berth's table; the next reconcile restores it, and
        // reconciles are idempotent.
        const std::string table = f.paths.prefix;
        auto rules = run_process({"/usr/sbin/nft", "list", "table", "inet", table}).out;
        REQUIRE(run_process({"/usr/sbin/nft", "delete", "table", "inet", table}).exit_code == 0);
        CHECK(http_get(nullptr, "127.0.0.1", 18080) != want);
        REQUIRE(netns::reconcile(f.paths));
        for (int i = 0; i < 10; ++i) {
            REQUIRE(netns::reconcile(f.paths));
        }
        CHECK(run_process({"/usr/sbin/nft", "list", "table", "inet", table}).out == rules);
        CHECK(eventually([&] { return http_get(nullptr, "127.0.0.1", 18080) == want; }));
        // Damage: delete the bridge; reconcile rebuilds it and the veth.
        auto bridge = netns::read_networks(f.paths)->front().bridge;
        REQUIRE(run_process({"/usr/sbin/ip", "link", "del", bridge}).exit_code == 0);
        REQUIRE(netns::reconcile(f.paths));
        CHECK(eventually([&] { return http_get(nullptr, "127.0.0.1", 18080) == want; }));
        REQUIRE(run_process({"/usr/sbin/ip", "link", "del", "tpeer0"}).exit_code == 0);
    }
    f.teardown();
    CHECK(outer_state() == before);
}

TEST_CASE("connect and disconnect change what resolves; bad input is refused cleanly",
          "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    {
        auto n1 = netns::create_network(f.paths, spec("n1"));
        REQUIRE(n1);
        netns::NetworkSpec s2 = spec("n2");
        s2.subnet = "10.77.0.0/24";
        REQUIRE(netns::create_network(f.paths, s2));
        auto overlap = s2;
        overlap.name = "n3";
        overlap.subnet = "10.77.0.128/25";
        auto o = netns::create_network(f.paths, overlap);
        REQUIRE_FALSE(o);
        CHECK(o.error().message().find("n2") != std::string::npos);

        auto a = f.make_ns("a");
        auto b = f.make_ns("b");
        auto ea = f.attach("alpha", a, "n1");
        auto eb = f.attach("beta", b, "n2");
        CHECK(resolve(a, "beta", ea.dns_server).empty());

        netns::ContainerRef ref{"alpha", "alpha", "alpha", a};
        auto ep = netns::connect(f.paths, ref, {"n2", {"first"}, std::string("10.77.0.50"), {}});
        INFO((ep ? std::string() : ep.error().message()));
        REQUIRE(ep);
        CHECK(ep->ifname == "eth1");
        CHECK(ep->ipv4 == "10.77.0.50");
        CHECK(eventually([&] { return resolve(b, "first", eb.dns_server) == "10.77.0.50"; }));
        CHECK(resolve(a, "beta", ea.dns_server) == eb.ipv4);
        CHECK(netns::connect(f.paths, ref, {"n2", {}, std::nullopt, {}}).error().code() ==
              Errc::already_exists);

        auto busy = netns::remove_network(f.paths, "n2");
        REQUIRE_FALSE(busy);
        CHECK(busy.error().message().find("network n2 has active endpoints") != std::string::npos);

        REQUIRE(netns::disconnect(f.paths, "n2", "alpha"));
        CHECK(eventually([&] { return resolve(b, "first", eb.dns_server).empty(); }));
        CHECK(in_ns(a, {"ip", "link", "show", "eth1"}).exit_code != 0);
        CHECK(netns::disconnect(f.paths, "n2", "alpha").error().code() == Errc::not_found);

        // Static address outside the subnet, already taken; unknown network.
        netns::ContainerRef cref{"gamma", "gamma", "gamma", f.make_ns("c")};
        auto outside = netns::connect(f.paths, cref, {"n2", {}, std::string("10.78.0.5"), {}});
        REQUIRE_FALSE(outside);
        CHECK(outside.error().message().find("outside subnet 10.77.0.0/24") != std::string::npos);
        auto taken = netns::connect(f.paths, cref, {"n2", {}, eb.ipv4, {}});
        REQUIRE_FALSE(taken);
        CHECK(taken.error().code() == Errc::conflict);
        auto unknown = netns::connect(f.paths, cref, {"nope", {}, std::nullopt, {}});
        REQUIRE_FALSE(unknown);
        CHECK(unknown.error().message().find("network nope not found") != std::string::npos);
        auto nets = netns::read_networks(f.paths);
        for (const auto& n : *nets) {
            CHECK(n.endpoints.count("gamma") == 0);
        }
    }
    f.teardown();
    CHECK(outer_state() == before);
}

TEST_CASE("the default bridge network is created on first use", "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    {
        auto a = f.make_ns("a");
        auto ea = f.attach("solo", a, "bridge");
        CHECK(ea.dns_server.empty());
        auto n = netns::NetworkStore::open(f.paths)->get("bridge");
        REQUIRE(n);
        CHECK(n->bridge == f.paths.prefix + "0");
        CHECK(n->subnet == "172.17.0.0/16");
        CHECK(in_ns(a, {"ping", "-c", "1", "-W", "2", n->gateway}).exit_code == 0);
    }
    f.teardown();
    CHECK(outer_state() == before);
}

TEST_CASE("network commands create, list, repair and remove", "[netns][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    const auto census_before = testing::take_census(f.scratch);
    auto created = f.scratch.berth({"network", "create", "--subnet", "10.44.0.0/24", "--label",
                                    "team=a", "--internal", "cli1"});
    REQUIRE(created.exit_code == 0);
    const std::string id = created.out.substr(0, 64);
    auto dup = f.scratch.berth({"network", "create", "cli1"});
    CHECK(dup.exit_code == 125);
    CHECK(dup.err == "berth: network with name cli1 already exists\n");
    auto bad = f.scratch.berth({"network", "create", "--subnet", "10.44.0.0/33", "cli2"});
    CHECK(bad.exit_code == 125);
    CHECK(bad.err.find("invalid subnet \"10.44.0.0/33\"") != std::string::npos);

    auto ls = f.scratch.berth({"network", "ls", "--filter", "label=team=a", "--format",
                               "{{.Name}} {{.Internal}}"});
    CHECK(ls.out == "cli1 true\n");
    auto inspect = f.scratch.berth({"network", "inspect", "cli1", "--format",
                                    "{{.Id}} {{json .IPAM.Config}}"});
    CHECK(inspect.out ==
          id + " [{\"Gateway\":\"10.44.0.1\",\"Subnet\":\"10.44.0.0/24\"}]\n");

    // Damage (F16): the table and the bridge are restored by any network command.
    const std::string table = f.scratch.prefix();
    auto rules = run_process({"/usr/sbin/nft", "list", "table", "inet", table}).out;
    const std::string bridge = table + "-" + id.substr(0, 6);
    REQUIRE(run_process({"/usr/sbin/nft", "delete", "table", "inet", table}).exit_code == 0);
    REQUIRE(run_process({"/usr/sbin/ip", "link", "del", bridge}).exit_code == 0);
    CHECK(f.scratch.berth({"network", "ls", "-q"}).exit_code == 0);
    CHECK(run_process({"/usr/sbin/nft", "list", "table", "inet", table}).out == rules);
    CHECK(run_process({"/usr/sbin/ip", "-o", "-4", "addr", "show", "dev", bridge}).out.find(
              "10.44.0.1/24") != std::string::npos);

    auto rm = f.scratch.berth({"network", "rm", "cli1", "nope"});
    CHECK(rm.exit_code == 1);
    CHECK(rm.out == "cli1\n");
    CHECK(rm.err == "berth: network nope not found\n");
    CHECK(f.scratch.berth({"network", "ls", "-q"}).out.empty());
    CHECK(outer_state() == before);
    auto census_after = testing::take_census(f.scratch);
    INFO(census_after.describe());
    CHECK(census_after == census_before);
}
