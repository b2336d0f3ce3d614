// SPDX-License-Identifier: Apache-2.0
// Root tests of IPv6 networks (issue 5): addresses, routes, masquerade and
// isolation for IPv6; no IPv6 inside containers of other networks and no
// router advertisements accepted on berth's host interfaces (row 29); AAAA
// answers, NODATA and DNS over TCP from the resolver. All inside a network
// namespace the test creates.
#include <catch2/catch.hpp>

#include "tests/integration/netns/netns_fixture.hpp"

using namespace berth;
using namespace berth::netns_test;
using berth::testing::OuterNetns;
using berth::testing::run_process;

namespace {

constexpr uint16_t qtype_a = 1;
constexpr uint16_t qtype_aaaa = 28;

/// IPv6 state of the outer namespace, next to outer_state()'s IPv4 view.
/// Link-local addresses of the uplink may still be in duplicate address
/// detection at the start ("tentative"); that flag is not state of berth's.
std::string outer_state6() {
    auto addrs = run_process({"/usr/sbin/ip", "-o", "-6", "addr"}).out;
    for (auto at = addrs.find("tentative "); at != std::string::npos;
         at = addrs.find("tentative ")) {
        addrs.erase(at, 10);
    }
    return "addrs6:\n" + addrs + "routes6:\n" + run_process({"/usr/sbin/ip", "-6", "route"}).out;
}

/// A query for `name` of `qtype` (id 0x5151, RD).
std::string dns_query(const std::string& name, uint16_t qtype) {
    std::string q("\x51\x51\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    size_t at = 0;
    while (at <= name.size()) {
        auto dot = name.find('.', at);
        if (dot == std::string::npos) {
            dot = name.size();
        }
        q.push_back(static_cast<char>(dot - at));
        q += name.substr(at, dot - at);
        at = dot + 1;
    }
    q.push_back('\0');
    q.push_back(static_cast<char>(qtype >> 8));
    q.push_back(static_cast<char>(qtype & 0xff));
    q += std::string("\x00\x01", 2);
    return q;
}

/// What came back: rcode, answer count, and the raw message.
struct DnsReply {
    int rcode = -1;  ///< -1: no reply
    int answers = 0;
    std::string raw;
};

DnsReply parse_reply(const std::string& raw) {
    DnsReply r;
    if (raw.size() < 12 || raw.substr(0, 2) != "\x51\x51") {
        return r;
    }
    r.raw = raw;
    r.rcode = static_cast<uint8_t>(raw[3]) & 0x0f;
    r.answers = (static_cast<uint8_t>(raw[6]) << 8) | static_cast<uint8_t>(raw[7]);
    return r;
}

/// Sends one query from inside `ns` to server:53 over UDP or TCP (3 s bound).
DnsReply ask(const std::filesystem::path& ns, const std::string& server, const std::string& name,
             uint16_t qtype, bool tcp) {
    DnsReply out;
    on_thread_in(ns, [&] {
        UniqueFd s(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
        timeval tv{3, 0};
        ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(53);
        ::inet_pton(AF_INET, server.c_str(), &sa.sin_addr);
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            return;
        }
        std::string q = dns_query(name, qtype);
        if (tcp) {
            std::string framed;
            framed.push_back(static_cast<char>(q.size() >> 8));
            framed.push_back(static_cast<char>(q.size() & 0xff));
            q = framed + q;
        }
        if (::send(s.get(), q.data(), q.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(q.size())) {
            return;
        }
        std::string got;
        char buf[4096];
        if (!tcp) {
            ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
            if (n > 0) {
                got.assign(buf, static_cast<size_t>(n));
            }
        } else {
            for (ssize_t n; (n = ::recv(s.get(), buf, sizeof buf, 0)) > 0;) {
                got.append(buf, static_cast<size_t>(n));
                if (got.size() >= 2 &&
                    got.size() >= 2 + ((size_t{static_cast<uint8_t>(got[0])} << 8) |
                                       size_t{static_cast<uint8_t>(got[1])})) {
                    break;
                }
            }
            got = got.size() >= 2 ? got.substr(2) : std::string();
        }
        out = parse_reply(got);
    });
    return out;
}

bool contains_v6(const DnsReply& r, const std::string& addr) {
    auto want = netns::Ipv6::parse(addr);
    return want && r.raw.find(std::string(reinterpret_cast<const char*>(want->bytes.data()), 16)) !=
                       std::string::npos;
}

std::string read_in(const std::filesystem::path& ns, const std::string& file) {
    return in_ns(ns, {"cat", file}).out;
}

netns::Endpoint attach6(Fixture& f, const std::string& id, const std::filesystem::path& ns,
                        const std::string& network, std::optional<std::string> ip6) {
    netns::AttachRequest req;
    req.container_id = id;
    req.container_name = id;
    req.hostname = id;
    req.netns_path = ns;
    netns::AttachRequest::Net net{network, {}, std::nullopt, std::nullopt};
    net.ipv6 = std::move(ip6);
    req.networks.push_back(net);
    auto eps = netns::attach(f.paths, req);
    INFO((eps ? std::string() : eps.error().message()));
    REQUIRE(eps);
    f.attached.push_back(id);
    return eps->front();
}

}  // namespace

TEST_CASE("IPv6 networks: addresses, routes, masquerade, isolation and AAAA",
          "[netns][ipv6][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    const auto before6 = outer_state6();
    Fixture f;
    const auto census_before = testing::take_census(f.scratch);
    {
        netns::NetworkSpec six = spec("six");
        six.ipv6 = true;
        six.subnet6 = "fd00:b1::/64";
        auto n6 = netns::create_network(f.paths, six);
        REQUIRE(n6);
        CHECK(n6->gateway6 == "fd00:b1::1");
        netns::NetworkSpec other = spec("other6");
        other.ipv6 = true;  // subnet from the ULA default pool
        auto o6 = netns::create_network(f.paths, other);
        REQUIRE(o6);
        CHECK(o6->subnet6.rfind("fd", 0) == 0);
        CHECK_FALSE(netns::Ipv6Prefix::parse(o6->subnet6)
                        ->overlaps(*netns::Ipv6Prefix::parse(n6->subnet6)));
        REQUIRE(netns::create_network(f.paths, spec("four")));

        auto a = f.make_ns("a");
        auto b = f.make_ns("b");
        auto c = f.make_ns("c");
        auto d = f.make_ns("d");
        auto ea = attach6(f, "a6", a, "six", std::string("fd00:b1::99"));
        auto eb = attach6(f, "b6", b, "six", std::nullopt);
        auto ec = attach6(f, "c4", c, "four", std::nullopt);
        auto ed = attach6(f, "d6", d, "other6", std::nullopt);
        CHECK(ea.ipv6 == "fd00:b1::99");
        CHECK(ea.gateway6 == "fd00:b1::1");
        CHECK(ea.prefix_length6 == 64);
        CHECK(eb.ipv6 == "fd00:b1::2");
        CHECK(ec.ipv6.empty());

        // A static address of a network without IPv6 is refused, naming it.
        auto e = f.make_ns("e");
        netns::AttachRequest bad;
        bad.container_id = "e";
        bad.netns_path = e;
        netns::AttachRequest::Net want{"four", {}, std::nullopt, std::nullopt};
        want.ipv6 = "fd00:b1::7";
        bad.networks.push_back(want);
        auto refused = netns::attach(f.paths, bad);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message().find("network four") != std::string::npos);

        // Addresses and the default route inside the container.
        auto addr = in_ns(a, {"ip", "-6", "addr", "show", "dev", "eth0"}).out;
        CHECK(addr.find("fd00:b1::99/64") != std::string::npos);
        auto route = in_ns(a, {"ip", "-6", "route", "show", "default"}).out;
        CHECK(route.find("via fd00:b1::1 dev eth0") != std::string::npos);
        CHECK(in_ns(b, {"ping6", "-c", "1", "-W", "2", "fd00:b1::99"}).exit_code == 0);
        CHECK(in_ns(a, {"ping6", "-c", "1", "-W", "2", "fd00:b1::1"}).exit_code == 0);

        // Row 29: a network without IPv6 leaves only ::1 in the container.
        CHECK(read_in(c, "/proc/sys/net/ipv6/conf/eth0/disable_ipv6") == "1\n");
        auto c6 = in_ns(c, {"ip", "-6", "addr"}).out;
        CHECK(c6.find("::1/128") != std::string::npos);
        CHECK(c6.find("eth0") == std::string::npos);
        // accept_ra=0 on the bridge and host veths, of either kind of network.
        auto nets = netns::read_networks(f.paths);
        REQUIRE(nets);
        for (const auto& n : *nets) {
            auto ra =
                run_process({"/usr/bin/cat", "/proc/sys/net/ipv6/conf/" + n.bridge + "/accept_ra"});
            CHECK(ra.out == "0\n");
            for (const auto& [id, ep] : n.endpoints) {
                auto hra = run_process(
                    {"/usr/bin/cat", "/proc/sys/net/ipv6/conf/" + ep.host_ifname + "/accept_ra"});
                CHECK(hra.out == "0\n");
            }
        }

        // Isolation holds for IPv6 between networks.
        for (int i = 0; i < 3; ++i) {
            CHECK(in_ns(d, {"ping6", "-c", "1", "-W", "1", "fd00:b1::99"}).exit_code != 0);
            CHECK(in_ns(a, {"ping6", "-c", "1", "-W", "1", ed.ipv6}).exit_code != 0);
        }

        // Masquerade: a peer beyond the outer namespace with no route back
        // to fd00:b1::/64 answers only when the source was rewritten.
        auto peer = f.make_ns("peer");
        REQUIRE(run_process({"/usr/sbin/ip", "link", "add", "tpeer6", "type", "veth", "peer",
                             "name", "eth0", "netns", peer.native()})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "-6", "addr", "add", "2001:db8:77::1/64", "dev",
                             "tpeer6", "nodad"})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "set", "tpeer6", "up"}).exit_code == 0);
        REQUIRE(run_process({"/usr/bin/nsenter", "--net=" + peer.native(), "/usr/sbin/ip", "-6",
                             "addr", "add", "2001:db8:77::2/64", "dev", "eth0", "nodad"})
                    .exit_code == 0);
        REQUIRE(in_ns(peer, {"ip", "link", "set", "eth0", "up"}).exit_code == 0);
        CHECK(eventually([&] {
            return in_ns(a, {"ping6", "-c", "1", "-W", "1", "2001:db8:77::2"}).exit_code == 0;
        }));
        REQUIRE(run_process({"/usr/sbin/ip", "link", "del", "tpeer6"}).exit_code == 0);

        // The resolver: AAAA for a dual-stack name, NODATA (not NXDOMAIN) for
        // a name without IPv6, NXDOMAIN for an unknown name; UDP and TCP.
        REQUIRE(
            eventually([&] { return ask(b, eb.dns_server, "a6", qtype_aaaa, false).rcode == 0; }));
        for (bool tcp : {false, true}) {
            INFO("tcp=" << tcp);
            auto aaaa = ask(b, eb.dns_server, "a6", qtype_aaaa, tcp);
            CHECK(aaaa.rcode == 0);
            CHECK(aaaa.answers == 1);
            CHECK(contains_v6(aaaa, "fd00:b1::99"));
            auto a4 = ask(b, eb.dns_server, "a6", qtype_a, tcp);
            CHECK(a4.rcode == 0);
            CHECK(a4.answers == 1);
            auto nodata = ask(c, ec.dns_server, "c4", qtype_aaaa, tcp);
            CHECK(nodata.rcode == 0);
            CHECK(nodata.answers == 0);
            // An unknown name is forwarded: NXDOMAIN from upstream, or
            // SERVFAIL where no upstream is reachable; never NOERROR.
            auto missing = ask(b, eb.dns_server, "nosuch", qtype_aaaa, tcp);
            CHECK(missing.rcode > 0);
            CHECK(missing.answers == 0);
        }
        // A name the resolver forwards gets an answer over TCP too (the
        // upstream may be unreachable here: then SERVFAIL, never silence).
        CHECK(ask(b, eb.dns_server, "example.invalid", qtype_a, true).rcode >= 0);
    }
    f.teardown();
    CHECK(outer_state() == before);
    CHECK(outer_state6() == before6);
    auto census_after = testing::take_census(f.scratch);
    INFO(census_after.describe());
    CHECK(census_after == census_before);
}

TEST_CASE("network create --ipv6 and inspect show the IPv6 IPAM like Docker",
          "[netns][ipv6][.root]") {
    OuterNetns outer;
    const auto before = outer_state();
    Fixture f;
    const auto census_before = testing::take_census(f.scratch);
    auto created =
        f.scratch.berth({"network", "create", "--ipv6", "--subnet", "10.66.0.0/24", "--subnet",
                         "fd00:66::/64", "--gateway", "fd00:66::fe", "dual"});
    INFO(created.err);
    REQUIRE(created.exit_code == 0);
    auto inspect = f.scratch.berth(
        {"network", "inspect", "dual", "--format", "{{.EnableIPv6}} {{json .IPAM.Config}}"});
    CHECK(inspect.out ==
          "true [{\"Gateway\":\"10.66.0.1\",\"Subnet\":\"10.66.0.0/24\"},"
          "{\"Gateway\":\"fd00:66::fe\",\"Subnet\":\"fd00:66::/64\"}]\n");
    auto auto6 = f.scratch.berth({"network", "create", "--ipv6", "auto6"});
    REQUIRE(auto6.exit_code == 0);
    auto cfg =
        f.scratch.berth({"network", "inspect", "auto6", "--format", "{{json .IPAM.Config}}"});
    INFO(cfg.out);
    CHECK(cfg.out.find("\"Subnet\":\"fd") != std::string::npos);
    CHECK(cfg.out.find("::/64\"") != std::string::npos);
    auto no_flag = f.scratch.berth({"network", "create", "--subnet", "fd00:67::/64", "nov6"});
    CHECK(no_flag.exit_code == 125);
    CHECK(no_flag.err.find("needs --ipv6") != std::string::npos);
    auto twice = f.scratch.berth(
        {"network", "create", "--ipv6", "--subnet", "fd00:1::/64", "--subnet", "fd00:2::/64", "x"});
    CHECK(twice.exit_code == 125);
    auto bridge = netns::NetworkStore::open(f.paths)->get("dual")->bridge;
    auto addr = run_process({"/usr/sbin/ip", "-6", "addr", "show", "dev", bridge}).out;
    CHECK(addr.find("fd00:66::fe/64") != std::string::npos);

    // Containers.*.IPv6Address once something is attached.
    auto a = f.make_ns("a");
    auto ea = f.attach("cx", a, "dual");
    CHECK(ea.ipv6 == "fd00:66::1");
    auto eps = f.scratch.berth({"network", "inspect", "dual", "--format", "{{json .Containers}}"});
    INFO(eps.out);
    CHECK(eps.out.find("\"IPv6Address\":\"fd00:66::1/64\"") != std::string::npos);
    f.teardown();
    CHECK(outer_state() == before);
    auto census_after = testing::take_census(f.scratch);
    INFO(census_after.describe());
    CHECK(census_after == census_before);
}
