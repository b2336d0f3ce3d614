// SPDX-License-Identifier: Apache-2.0
// IPv6 IPAM, AAAA answers and the IPv6 rules of the nftables table (pure).
#include <catch2/catch.hpp>

#include "common/fs.hpp"
#include "netns/internal/dns_message.hpp"
#include "netns/internal/firewall.hpp"
#include "netns/internal/resolver.hpp"
#include "netns/ipam.hpp"
#include "netns/network.hpp"

using namespace berth;
using namespace berth::netns;

namespace {

Ipv6Prefix pfx6(const char* s) {
    return *Ipv6Prefix::parse(s);
}
Ipv6 ip6(const char* s) {
    return *Ipv6::parse(s);
}

Network dual(const std::string& name, const std::string& subnet, const std::string& subnet6) {
    Network n;
    n.id = std::string(64, name[0]);
    n.name = name;
    n.bridge = "bt-" + name;
    n.subnet = subnet;
    n.gateway = Ipv4{Ipv4Prefix::parse(subnet)->network().value + 1}.str();
    if (!subnet6.empty()) {
        n.ipv6 = true;
        n.subnet6 = subnet6;
        n.gateway6 = make_address_plan6(name, pfx6(subnet6.c_str()), {}, {})->gateway.str();
    }
    return n;
}

EndpointRecord ep(const std::string& id, const std::string& v4, const std::string& v6) {
    EndpointRecord e;
    e.container_id = id;
    e.container_name = id;
    e.ipv4 = v4;
    e.ipv6 = v6;
    return e;
}

}  // namespace

TEST_CASE("IPv6 addresses and prefixes parse strictly", "[netns][ipam][ipv6]") {
    CHECK(ip6("FD00:0:0::2").str() == "fd00::2");
    CHECK_FALSE(Ipv6::parse("fd00::g"));
    CHECK_FALSE(Ipv6::parse("[fd00::1]"));
    CHECK_FALSE(Ipv6::parse("fe80::1%eth0"));
    CHECK_FALSE(Ipv6::parse("10.0.0.1"));
    CHECK_FALSE(Ipv6::parse(""));
    CHECK_FALSE(Ipv6Prefix::parse("fd00::/129"));
    CHECK_FALSE(Ipv6Prefix::parse("fd00::"));
    CHECK(pfx6("fd00:1:2:3:4::5/64").network().str() == "fd00:1:2:3::");
    CHECK(pfx6("fd00:1:2:3::/64").contains(ip6("fd00:1:2:3:ffff::1")));
    CHECK_FALSE(pfx6("fd00:1:2:3::/64").contains(ip6("fd00:1:2:4::1")));
    CHECK(pfx6("fd00::/8").overlaps(pfx6("fd12:3456::/64")));
    CHECK(pfx6("fd12:3456::/64").overlaps(pfx6("fd00::/8")));
    CHECK_FALSE(pfx6("fd00:1::/64").overlaps(pfx6("fd00:2::/64")));
    CHECK(pfx6("fd00:1::/60").overlaps(pfx6("fd00:1:0:f::/64")));
}

TEST_CASE("the IPv6 default pool is a stable ULA /48 split in /64s", "[netns][ipam][ipv6]") {
    auto pool = default_pool6("/var/lib/berth");
    CHECK(pool.length == 48);
    CHECK(pool.addr.bytes[0] == 0xfd);
    CHECK(pool.is_canonical());
    CHECK(pool == default_pool6("/var/lib/berth"));
    CHECK(pool != default_pool6("/tmp/other-root"));
    CHECK(pfx6("fd00::/8").contains(pool.addr));

    auto first = allocate_subnet6(pool, {});
    REQUIRE(first);
    CHECK(first->length == 64);
    CHECK(first->network() == pool.network());
    // Taken subnets and host routes are skipped; fe80::/10 and ::/0 are not obstacles.
    auto second = allocate_subnet6(pool, {*first, pfx6("fe80::/64"), pfx6("::/0")});
    REQUIRE(second);
    CHECK_FALSE(second->overlaps(*first));
    CHECK(pool.contains(second->addr));
    // Fifty allocations are pairwise disjoint (F14 for IPv6).
    std::vector<Ipv6Prefix> taken;
    for (int i = 0; i < 50; ++i) {
        auto s = allocate_subnet6(pool, taken);
        REQUIRE(s);
        for (const auto& t : taken) {
            CHECK_FALSE(t.overlaps(*s));
        }
        taken.push_back(*s);
    }
    // A route covering the whole pool exhausts it.
    auto none = allocate_subnet6(pool, {pfx6("fd00::/8")});
    REQUIRE_FALSE(none);
    CHECK(none.error().code() == Errc::unavailable);
}

TEST_CASE("IPv6 address plans and allocation", "[netns][ipam][ipv6]") {
    auto plan = make_address_plan6("v6", pfx6("fd00:a::/64"), {}, {});
    REQUIRE(plan);
    CHECK(plan->gateway.str() == "fd00:a::1");
    auto a = allocate_address6("v6", *plan, {});
    REQUIRE(a);
    CHECK(a->str() == "fd00:a::2");
    CHECK(allocate_address6("v6", *plan, {*a})->str() == "fd00:a::3");

    auto host_bits = make_address_plan6("v6", pfx6("fd00:a::1/64"), {}, {});
    REQUIRE_FALSE(host_bits);
    CHECK(host_bits.error().message().find("host bits are set") != std::string::npos);
    CHECK_FALSE(make_address_plan6("v6", pfx6("fd00:a::/124"), {}, {}));
    auto bad_gw = make_address_plan6("v6", pfx6("fd00:a::/64"), std::string("fd00:b::1"), {});
    REQUIRE_FALSE(bad_gw);
    CHECK(bad_gw.error().message().find("network v6: gateway fd00:b::1") != std::string::npos);

    auto ranged = make_address_plan6("v6", pfx6("fd00:a::/64"), std::string("fd00:a::ff"),
                                     std::string("fd00:a::100/120"));
    REQUIRE(ranged);
    CHECK(allocate_address6("v6", *ranged, {})->str() == "fd00:a::100");
    CHECK_FALSE(make_address_plan6("v6", pfx6("fd00:a::/64"), {}, std::string("fd00:b::/120")));

    // Exhaustion of a /120: ::0 is reserved, ::1 is the gateway, 254 remain.
    auto tiny = make_address_plan6("tiny", pfx6("fd00:c::/120"), {}, {});
    REQUIRE(tiny);
    std::vector<Ipv6> used;
    for (int i = 0; i < 254; ++i) {
        auto next = allocate_address6("tiny", *tiny, used);
        REQUIRE(next);
        used.push_back(*next);
    }
    auto full = allocate_address6("tiny", *tiny, used);
    REQUIRE_FALSE(full);
    CHECK(full.error().code() == Errc::unavailable);
    CHECK(full.error().message().find("network tiny") != std::string::npos);

    // Static addresses.
    CHECK(check_static_address6("v6", *plan, "fd00:a::99", {})->str() == "fd00:a::99");
    auto outside = check_static_address6("v6", *plan, "fd00:b::5", {});
    REQUIRE_FALSE(outside);
    CHECK(outside.error().message() ==
          "network v6: address fd00:b::5 is outside subnet fd00:a::/64");
    CHECK(check_static_address6("v6", *plan, "fd00:a::1", {}).error().code() ==
          Errc::invalid_argument);
    CHECK(check_static_address6("v6", *plan, "fd00:a::2", {ip6("fd00:a::2")}).error().code() ==
          Errc::conflict);
    CHECK_FALSE(check_static_address6("v6", *plan, "nonsense", {}));
}

TEST_CASE("IPv6 networks get masquerade for their subnet unless internal",
          "[netns][firewall][ipv6]") {
    auto a = dual("a", "10.1.0.0/24", "fd00:a::/64");
    auto b = dual("b", "10.2.0.0/24", "fd00:b::/64");
    b.internal = true;
    auto c = dual("c", "10.3.0.0/24", "");
    auto rules = netns::detail::render_ruleset("bt", {a, b, c});
    CHECK(rules.find("ip6 saddr fd00:a::/64 oifname != \"bt-a\" masquerade") != std::string::npos);
    CHECK(rules.find("fd00:b::/64") == std::string::npos);
    CHECK(rules.find("ip6 saddr") == rules.rfind("ip6 saddr"));
    // Isolation matches interfaces, so it applies to both families.
    CHECK(rules.find("oifname \"bt-a\" drop") != std::string::npos);
    CHECK(rules.find("oifname \"bt-a\" drop") < rules.find("iifname \"bt-c\" accept"));
}

TEST_CASE("AAAA lookups answer IPv6 addresses, and a name without them is NODATA",
          "[netns][dns][ipv6]") {
    auto v6 = dual("front", "10.1.0.0/24", "fd00:a::/64");
    v6.endpoints["web"] = ep("web", "10.1.0.2", "fd00:a::2");
    v6.endpoints["old"] = ep("old", "10.1.0.3", "");
    auto web = netns::detail::lookup_name({v6}, v6.id, Ipv4::parse("10.1.0.3")->value, "web");
    CHECK(web.known);
    REQUIRE(web.ipv6.size() == 1);
    CHECK(web.ipv6[0] == ip6("fd00:a::2").bytes);
    auto old = netns::detail::lookup_name({v6}, v6.id, 0, "old");
    CHECK(old.known);
    CHECK(old.ipv6.empty());
    CHECK(old.ipv4.size() == 1);

    // id 0x4242, RD, "web" AAAA IN.
    std::string q(
        "\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        "\x03web\x00\x00\x1c\x00\x01",
        12 + 5 + 4);
    auto parsed = netns::detail::parse_dns_query(q);
    REQUIRE(parsed);
    CHECK(parsed->qtype == netns::detail::dns_type_aaaa);
    auto resp = netns::detail::build_dns_response(q, *parsed, netns::detail::dns_rcode_noerror, {},
                                                  web.ipv6);
    REQUIRE(resp.size() == q.size() + 12 + 16);
    CHECK(resp[7] == 1);  // ANCOUNT
    CHECK((static_cast<uint8_t>(resp[3]) & 0x0f) == 0);
    CHECK(resp.substr(q.size() + 2, 2) == std::string("\x00\x1c", 2));
    CHECK(resp.substr(q.size() + 10, 2) == std::string("\x00\x10", 2));
    CHECK(resp.substr(resp.size() - 16) ==
          std::string(reinterpret_cast<const char*>(web.ipv6[0].data()), 16));
    // NODATA: NOERROR and no answer records.
    auto nodata =
        netns::detail::build_dns_response(q, *parsed, netns::detail::dns_rcode_noerror, {}, {});
    CHECK(nodata.size() == q.size());
    CHECK(nodata[7] == 0);
    CHECK((static_cast<uint8_t>(nodata[3]) & 0x0f) == netns::detail::dns_rcode_noerror);
}

TEST_CASE("the store plans IPv6 subnets only for --ipv6 networks", "[netns][store][ipv6]") {
    auto dir = fs::TempDir::create(std::filesystem::temp_directory_path(), "netns-ipv6-");
    REQUIRE(dir);
    Paths paths;
    paths.root = dir->path() / "root";
    paths.run_root = dir->path() / "run";
    paths.prefix = "bt0v6";
    auto store = NetworkStore::open(paths);
    REQUIRE(store);

    NetworkSpec plain;
    plain.name = "plain";
    auto p = store->create(plain);
    REQUIRE(p);
    CHECK_FALSE(p->ipv6);
    CHECK(p->subnet6.empty());

    NetworkSpec given;
    given.name = "given";
    given.ipv6 = true;
    given.subnet6 = "fd00:beef::/64";
    auto g = store->create(given);
    REQUIRE(g);
    CHECK(g->subnet6 == "fd00:beef::/64");
    CHECK(g->gateway6 == "fd00:beef::1");

    // An IPv6 subnet in the IPv4 field (compose ipam config) lands in subnet6.
    NetworkSpec mixed;
    mixed.name = "mixed";
    mixed.ipv6 = true;
    mixed.subnet = "fd00:cafe::/64";
    auto m = store->create(mixed);
    REQUIRE(m);
    CHECK(m->subnet6 == "fd00:cafe::/64");
    CHECK_FALSE(m->subnet.empty());
    CHECK(m->subnet.find(':') == std::string::npos);

    // Without a subnet: a /64 of this root's ULA pool, disjoint from the rest.
    NetworkSpec autov6;
    autov6.name = "auto";
    autov6.ipv6 = true;
    auto a = store->create(autov6, {"fd00:dead::/64", "fe80::/64"});
    REQUIRE(a);
    auto sa = Ipv6Prefix::parse(a->subnet6);
    REQUIRE(sa);
    CHECK(sa->length == 64);
    CHECK(default_pool6(paths.root.native()).contains(sa->addr));

    auto overlap = given;
    overlap.name = "overlap";
    overlap.subnet6 = "fd00:beef::/48";
    auto o = store->create(overlap);
    REQUIRE_FALSE(o);
    CHECK(o.error().code() == Errc::conflict);
    CHECK(o.error().message() ==
          "network overlap: subnet fd00:beef::/48 overlaps subnet fd00:beef::/64 of network given");
    auto route = given;
    route.name = "route";
    route.subnet6 = "fd00:dead::/64";
    auto r = store->create(route, {"fd00:dead::/64"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("overlaps host route fd00:dead::/64") != std::string::npos);

    auto no_flag = plain;
    no_flag.name = "noflag";
    no_flag.subnet6 = "fd00:1::/64";
    auto nf = store->create(no_flag);
    REQUIRE_FALSE(nf);
    CHECK(nf.error().message().find("needs --ipv6") != std::string::npos);

    // The record keeps the IPv6 plan across a reload.
    auto again = store->get("given");
    REQUIRE(again);
    CHECK(again->ipv6);
    CHECK(again->gateway6 == "fd00:beef::1");
}
