// SPDX-License-Identifier: Apache-2.0
// Root tests of issue 5: real bridges, veths, nftables and the resolver, all
// inside a network namespace the test itself creates (the machine's own links
// and firewall are never touched). Plain namespaces made by create_netns stand
// in for containers; busybox runs inside them through nsenter.
#include <catch2/catch.hpp>

#include "tests/integration/netns/netns_fixture.hpp"

using namespace berth;
using namespace berth::netns_test;
using berth::testing::OuterNetns;
using berth::testing::run_process;

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
        auto links_before = link_names();
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
            CHECK(link_names() == links_before);
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

TEST_CASE("connect and disconnect change what resolves, bad input is refused cleanly",
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
