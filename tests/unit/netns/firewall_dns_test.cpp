// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "netns/internal/dns_message.hpp"
#include "netns/internal/firewall.hpp"
#include "netns/internal/names.hpp"
#include "netns/internal/resolver.hpp"
#include "netns/ipam.hpp"

using namespace berth::netns;

namespace {

Network net(const std::string& name, const std::string& bridge, const std::string& subnet,
            const std::string& gateway, bool internal = false) {
    Network n;
    n.id = std::string(64, name[0]);
    n.name = name;
    n.bridge = bridge;
    n.subnet = subnet;
    n.gateway = gateway;
    n.internal = internal;
    return n;
}

EndpointRecord ep(const std::string& id, const std::string& ip,
                  std::vector<std::string> aliases = {}) {
    EndpointRecord e;
    e.container_id = id;
    e.container_name = id + "-name";
    e.ipv4 = ip;
    e.aliases = std::move(aliases);
    return e;
}

uint32_t ip(const char* s) { return Ipv4::parse(s)->value; }

}  // namespace

TEST_CASE("the ruleset is derived from the records only", "[netns][firewall]") {
    CHECK(detail::render_ruleset("bt", {}) ==
          "add table inet bt\ndelete table inet bt\nadd table netdev bt\ndelete table netdev bt\n");
    auto a = net("a", "bt-a", "10.1.0.0/24", "10.1.0.1");
    auto b = net("b", "bt-b", "10.2.0.0/24", "10.2.0.1", true);
    auto e = ep("c1", "10.1.0.2");
    e.ports.push_back(PortBinding{"127.0.0.1", 8080, 8080, 80, "tcp"});
    e.ports.push_back(PortBinding{"", 5353, 5353, 53, "udp"});
    a.endpoints["c1"] = e;
    auto rules = detail::render_ruleset("bt", {a, b});
    CHECK(rules == detail::render_ruleset("bt", {a, b}));
    // Loopback-only ports are DNATed for local clients only.
    CHECK(rules.find("chain published_prerouting {\n        udp dport 5353 dnat ip to "
                     "10.1.0.2:53\n    }") != std::string::npos);
    CHECK(rules.find("ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.1.0.2:80") !=
          std::string::npos);
    // Internal networks get no masquerade and drop what leaves them.
    CHECK(rules.find("ip saddr 10.1.0.0/24 oifname != \"bt-a\" masquerade") != std::string::npos);
    CHECK(rules.find("ip saddr 10.2.0.0/24 oifname != \"bt-b\" masquerade") == std::string::npos);
    CHECK(rules.find("iifname \"bt-b\" drop") != std::string::npos);
    // Every "to bridge: drop" comes before any "from bridge: accept".
    CHECK(rules.find("oifname \"bt-b\" drop") < rules.find("iifname \"bt-a\" accept"));
}

TEST_CASE("interface names fit IFNAMSIZ", "[netns]") {
    CHECK(detail::default_bridge_name("berth") == "berth0");
    CHECK(detail::bridge_name("bt123456", std::string(64, 'f')) == "bt123456-ffffff");
    auto v = detail::host_veth_name("bt123456", "container", "network");
    CHECK(v.size() <= 15);
    CHECK(v.rfind("bt123456v", 0) == 0);
    CHECK(v != detail::host_veth_name("bt123456", "container", "other"));
    CHECK_FALSE(detail::valid_ifname("a/b"));
    CHECK_FALSE(detail::valid_ifname(std::string(16, 'a')));
}

TEST_CASE("lookups are scoped to the networks the asker shares", "[netns][dns]") {
    auto front = net("front", "b1", "10.1.0.0/24", "10.1.0.1");
    auto back = net("back", "b2", "10.2.0.0/24", "10.2.0.1");
    auto other = net("other", "b3", "10.3.0.0/24", "10.3.0.1");
    front.endpoints["web1"] = ep("web1", "10.1.0.2", {"web"});
    front.endpoints["web2"] = ep("web2", "10.1.0.3", {"web"});
    front.endpoints["app"] = ep("app", "10.1.0.4");
    back.endpoints["app"] = ep("app", "10.2.0.2");
    back.endpoints["db"] = ep("db", "10.2.0.3", {"database"});
    other.endpoints["secret"] = ep("secret", "10.3.0.2");
    std::vector<Network> all{front, back, other};

    auto web = detail::lookup_name(all, front.id, ip("10.1.0.4"), "WEB");
    CHECK(web.known);
    CHECK(web.ipv4 == std::vector<uint32_t>{ip("10.1.0.2"), ip("10.1.0.3")});
    // app is on front and back: it sees db through back.
    CHECK(detail::lookup_name(all, front.id, ip("10.1.0.4"), "database").ipv4 ==
          std::vector<uint32_t>{ip("10.2.0.3")});
    // web1 is only on front: db stays unknown to it.
    CHECK_FALSE(detail::lookup_name(all, front.id, ip("10.1.0.2"), "db").known);
    CHECK_FALSE(detail::lookup_name(all, front.id, ip("10.1.0.4"), "secret-name").known);
    CHECK(detail::lookup_name(all, front.id, 0, "web1-name").known);
    CHECK(detail::lookup_name(all, front.id, 0, std::string(64, 'x')).known == false);
    auto default_bridge = net("bridge", "b0", "172.17.0.0/16", "172.17.0.1");
    default_bridge.dns_enabled = false;
    default_bridge.endpoints["x"] = ep("x", "172.17.0.2");
    CHECK_FALSE(detail::lookup_name({default_bridge}, default_bridge.id, 0, "x-name").known);
}

TEST_CASE("DNS messages parse and answer", "[netns][dns]") {
    // id 0x1234, RD, one question "Web.Local" A IN.
    std::string q("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                  "\x03Web\x05Local\x00\x00\x01\x00\x01",
                  12 + 11 + 4);
    auto parsed = detail::parse_dns_query(q);
    REQUIRE(parsed);
    CHECK(parsed->name == "web.local");
    CHECK(parsed->qtype == detail::dns_type_a);
    auto resp = detail::build_dns_response(q, *parsed, 0, {ip("10.0.0.7")});
    REQUIRE(resp.size() == q.size() + 16);
    CHECK(resp.substr(0, 2) == "\x12\x34");
    CHECK((static_cast<uint8_t>(resp[2]) & 0x80) != 0);  // QR
    CHECK(resp[7] == 1);                                  // ANCOUNT
    CHECK(resp.substr(resp.size() - 4) == std::string("\x0a\x00\x00\x07", 4));
    // Truncated, compressed and response packets are rejected.
    CHECK_FALSE(detail::parse_dns_query(q.substr(0, 20)));
    std::string compressed = q;
    compressed[12] = '\xc0';
    CHECK_FALSE(detail::parse_dns_query(compressed));
    std::string response = q;
    response[2] = '\x81';
    CHECK_FALSE(detail::parse_dns_query(response));
    CHECK(detail::build_dns_error("", detail::dns_rcode_formerr).empty());
}

TEST_CASE("endpoints of one network reach each other past the bridge", "[netns][firewall]") {
    auto a = net("a", "bt-a", "10.1.0.0/24", "10.1.0.1");
    auto b = net("b", "bt-b", "10.2.0.0/24", "10.2.0.1");
    auto e1 = ep("c1", "10.1.0.2");
    e1.host_ifname = "btv1";
    e1.mac = "02:42:0a:01:00:02";
    auto e2 = ep("c2", "10.1.0.3");
    e2.host_ifname = "btv2";
    e2.mac = "02:42:0a:01:00:03";
    auto e3 = ep("c3", "10.2.0.2");
    e3.host_ifname = "btv3";
    e3.mac = "02:42:0a:02:00:02";
    a.endpoints = {{"c1", e1}, {"c2", e2}};
    b.endpoints = {{"c3", e3}};
    auto rules = detail::render_ruleset("bt", {a, b});
    CHECK(rules.find("table netdev bt {\n    chain direct_0 {\n        type filter hook ingress "
                     "devices = { \"btv1\", \"btv2\" } priority -100; policy accept;\n"
                     "        ether daddr 02:42:0a:01:00:02 ip daddr 10.1.0.2 fwd to \"btv1\"\n"
                     "        ether daddr 02:42:0a:01:00:03 ip daddr 10.1.0.3 fwd to \"btv2\"\n"
                     "    }\n}\n") != std::string::npos);
    // A network with one endpoint needs no chain; nothing crosses networks.
    CHECK(rules.find("btv3") == std::string::npos);
    CHECK(rules.find("direct_1") == std::string::npos);
    // A veth that is gone (damage, a stopping container) is left out.
    auto without = detail::render_ruleset("bt", {a, b},
                                          [](const std::string& name) { return name != "btv2"; });
    CHECK(without.find("table netdev bt {") == std::string::npos);
}
