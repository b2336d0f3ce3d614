// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "netns/network.hpp"

using namespace berth::netns;

TEST_CASE("port specs in -p syntax", "[netns][ports]") {
    auto one = parse_port_spec("8080:80");
    REQUIRE(one);
    REQUIRE(one->size() == 1);
    CHECK((*one)[0] == PortBinding{"", 8080, 8080, 80, "tcp"});

    auto udp = parse_port_spec("127.0.0.1:8080:80/udp");
    REQUIRE(udp);
    CHECK((*udp)[0] == PortBinding{"127.0.0.1", 8080, 8080, 80, "udp"});

    auto random = parse_port_spec("80");
    REQUIRE(random);
    CHECK((*random)[0] == PortBinding{"", 0, 0, 80, "tcp"});

    auto ip_random = parse_port_spec("127.0.0.1::80");
    REQUIRE(ip_random);
    CHECK((*ip_random)[0] == PortBinding{"127.0.0.1", 0, 0, 80, "tcp"});

    auto v6 = parse_port_spec("[::1]:80:80");
    REQUIRE(v6);
    CHECK((*v6)[0] == PortBinding{"::1", 80, 80, 80, "tcp"});

    auto ranges = parse_port_spec("8000-8010:80-90");
    REQUIRE(ranges);
    REQUIRE(ranges->size() == 11);
    CHECK((*ranges)[10] == PortBinding{"", 8010, 8010, 90, "tcp"});

    auto host_range = parse_port_spec("8000-8010:80");
    REQUIRE(host_range);
    REQUIRE(host_range->size() == 1);
    CHECK((*host_range)[0] == PortBinding{"", 8000, 8010, 80, "tcp"});

    auto container_range = parse_port_spec("80-82");
    REQUIRE(container_range);
    CHECK(container_range->size() == 3);
}

TEST_CASE("bad port specs name the spec", "[netns][ports]") {
    for (const char* bad : {"", "0", "65536", "80a", "8080:80:80:80", "1.2.3.4:80", "abc:80:80",
                            "8080:80/sctp", "8080:80/", "90-80", "8000-8001:80-90", "8080:80-81",
                            "[::1:80:80", "[::1]80", "[zz]:80:80", "8080:", "-1:80",
                            "1-:80", "300.1.1.1:80:80"}) {
        auto r = parse_port_spec(bad);
        INFO(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == berth::Errc::invalid_argument);
        CHECK(r.error().message().find(std::string("\"") + bad + "\"") != std::string::npos);
    }
}

TEST_CASE("network modes", "[netns]") {
    CHECK(parse_network_mode("host")->kind == NetworkModeKind::host);
    CHECK(parse_network_mode("none")->kind == NetworkModeKind::none);
    auto c = parse_network_mode("container:web");
    REQUIRE(c);
    CHECK(c->kind == NetworkModeKind::container);
    CHECK(c->target == "web");
    CHECK(parse_network_mode("service:db")->kind == NetworkModeKind::service);
    CHECK_FALSE(parse_network_mode("container:"));
    auto named = parse_network_mode("front");
    CHECK(named->kind == NetworkModeKind::bridge);
    CHECK(named->target == "front");
    CHECK(parse_network_mode("bridge")->target == "bridge");
}
