// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <set>

#include "netns/ipam.hpp"

using namespace berth;
using namespace berth::netns;

namespace {
Ipv4Prefix pfx(const char* s) { return *Ipv4Prefix::parse(s); }
Ipv4 ip(const char* s) { return *Ipv4::parse(s); }
}  // namespace

TEST_CASE("IPv4 addresses and prefixes parse strictly", "[netns][ipam]") {
    CHECK(ip("172.18.0.2").str() == "172.18.0.2");
    CHECK_FALSE(Ipv4::parse("256.1.1.1"));
    CHECK_FALSE(Ipv4::parse("1.2.3"));
    CHECK_FALSE(Ipv4::parse("1.2.3.4.5"));
    CHECK_FALSE(Ipv4::parse("01.2.3.4"));
    CHECK_FALSE(Ipv4::parse("a.b.c.d"));
    CHECK_FALSE(Ipv4::parse(""));
    CHECK_FALSE(Ipv4Prefix::parse("10.0.0.0/33"));
    CHECK_FALSE(Ipv4Prefix::parse("10.0.0.0"));
    CHECK(pfx("10.1.2.3/8").network().str() == "10.0.0.0");
    CHECK(pfx("10.1.2.3/8").broadcast().str() == "10.255.255.255");
    CHECK(pfx("10.0.0.0/8").overlaps(pfx("10.5.0.0/16")));
    CHECK(pfx("10.5.0.0/16").overlaps(pfx("10.0.0.0/8")));
    CHECK_FALSE(pfx("10.0.0.0/16").overlaps(pfx("10.1.0.0/16")));
}

TEST_CASE("default pools follow Docker's order", "[netns][ipam]") {
    auto pools = default_pool_subnets();
    REQUIRE(pools.size() == 15 + 16);
    CHECK(pools.front().str() == "172.17.0.0/16");
    CHECK(pools[14].str() == "172.31.0.0/16");
    CHECK(pools[15].str() == "192.168.0.0/20");
    CHECK(pools.back().str() == "192.168.240.0/20");
}

TEST_CASE("subnet allocation skips networks and host routes (F14)", "[netns][ipam]") {
    CHECK(allocate_subnet({})->str() == "172.17.0.0/16");
    // docker0 and a host route inside 172.18/16; the default route is ignored.
    auto s = allocate_subnet({pfx("172.17.0.0/16"), pfx("172.18.5.0/24"), pfx("0.0.0.0/0")});
    REQUIRE(s);
    CHECK(s->str() == "172.19.0.0/16");
    // A wide host route covering all of 172.16/12 pushes to 192.168.
    CHECK(allocate_subnet({pfx("172.16.0.0/12")})->str() == "192.168.0.0/20");
    // 50 allocations are pairwise disjoint, then the pools run out.
    std::vector<Ipv4Prefix> taken{pfx("192.168.16.0/24")};
    int made = 0;
    while (true) {
        auto next = allocate_subnet(taken);
        if (!next) {
            CHECK(next.error().code() == berth::Errc::unavailable);
            break;
        }
        for (const auto& t : taken) {
            CHECK_FALSE(t.overlaps(*next));
        }
        taken.push_back(*next);
        ++made;
    }
    CHECK(made == 30);
}

TEST_CASE("address plans validate gateway and ip-range", "[netns][ipam]") {
    auto plan = make_address_plan("n", pfx("10.9.0.0/24"), std::nullopt, std::nullopt);
    REQUIRE(plan);
    CHECK(plan->gateway.str() == "10.9.0.1");
    auto bad_gw = make_address_plan("n", pfx("10.9.0.0/24"), std::string("10.8.0.1"), std::nullopt);
    REQUIRE_FALSE(bad_gw);
    CHECK(bad_gw.error().message().find("network n") != std::string::npos);
    CHECK_FALSE(make_address_plan("n", pfx("10.9.0.0/24"), std::string("10.9.0.255"), std::nullopt));
    CHECK_FALSE(make_address_plan("n", pfx("10.9.0.1/24"), std::nullopt, std::nullopt));
    CHECK_FALSE(make_address_plan("n", pfx("10.9.0.0/24"), std::nullopt, std::string("10.9.1.0/25")));
    CHECK_FALSE(make_address_plan("n", pfx("10.9.0.0/24"), std::nullopt, std::string("10.9.0.0/23")));
    auto ranged = make_address_plan("n", pfx("10.9.0.0/24"), std::string("10.9.0.254"),
                                    std::string("10.9.0.128/25"));
    REQUIRE(ranged);
    CHECK(allocate_address("n", *ranged, {})->str() == "10.9.0.128");
}

TEST_CASE("address allocation: lowest free, exhaustion on /29 (F15)", "[netns][ipam]") {
    auto plan = *make_address_plan("small", pfx("10.0.0.0/29"), std::nullopt, std::nullopt);
    std::vector<Ipv4> used;
    for (int i = 0; i < 5; ++i) {
        auto a = allocate_address("small", plan, used);
        REQUIRE(a);
        used.push_back(*a);
    }
    CHECK(used.front().str() == "10.0.0.2");
    CHECK(used.back().str() == "10.0.0.6");
    auto full = allocate_address("small", plan, used);
    REQUIRE_FALSE(full);
    CHECK(full.error().code() == berth::Errc::unavailable);
    CHECK(full.error().message().find("small") != std::string::npos);
    used.erase(used.begin() + 2);  // free 10.0.0.4
    CHECK(allocate_address("small", plan, used)->str() == "10.0.0.4");
}

TEST_CASE("static addresses are checked", "[netns][ipam]") {
    auto plan = *make_address_plan("n", pfx("10.0.0.0/24"), std::nullopt, std::nullopt);
    CHECK(check_static_address("n", plan, "10.0.0.9", {})->str() == "10.0.0.9");
    auto outside = check_static_address("n", plan, "10.0.1.9", {});
    REQUIRE_FALSE(outside);
    CHECK(outside.error().message() == "network n: address 10.0.1.9 is outside subnet 10.0.0.0/24");
    CHECK(check_static_address("n", plan, "10.0.0.1", {}).error().code() ==
          berth::Errc::invalid_argument);
    CHECK(check_static_address("n", plan, "10.0.0.9", {ip("10.0.0.9")}).error().code() ==
          berth::Errc::conflict);
}

TEST_CASE("MAC addresses", "[netns][ipam]") {
    CHECK(mac_for(ip("172.17.0.2")) == "02:42:ac:11:00:02");
    CHECK(*parse_mac("02:42:AC:11:00:02") == "02:42:ac:11:00:02");
    CHECK_FALSE(parse_mac("01:00:5e:00:00:01"));  // multicast
    CHECK_FALSE(parse_mac("02:42:ac:11:00"));
    CHECK_FALSE(parse_mac("02-42-ac-11-00-02"));
}
