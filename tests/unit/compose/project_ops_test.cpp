// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "compose/project_ops.hpp"

using namespace berth::compose;

TEST_CASE("network_spec takes every ipam.config entry, IPv6 ones into the IPv6 fields",
          "[compose][project_ops]") {
    Project p;
    p.name = "demo";
    Network net;
    net.enable_ipv6 = true;
    net.ipam = nlohmann::json::parse(R"({"config": [
        {"subnet": "172.28.0.0/16", "gateway": "172.28.0.1", "ip_range": "172.28.5.0/24"},
        {"subnet": "fd00:1::/64", "gateway": "fd00:1::1"}]})");
    p.networks["front"] = net;
    auto spec = network_spec(p, "front", net);
    CHECK(spec.name == "demo_front");
    CHECK(spec.ipv6);
    CHECK(spec.subnet == "172.28.0.0/16");
    CHECK(spec.gateway == "172.28.0.1");
    CHECK(spec.ip_range == "172.28.5.0/24");
    CHECK(spec.subnet6 == "fd00:1::/64");
    CHECK(spec.gateway6 == "fd00:1::1");
    CHECK(!spec.ip_range6);
    CHECK(spec.labels.at("com.docker.compose.network") == "front");

    Network named;
    named.name = "shared";
    p.networks["back"] = named;
    CHECK(network_spec(p, "back", named).name == "shared");
    CHECK(network_name(p, "other") == "demo_other");
    CHECK(volume_name(p, "data") == "demo_data");
}
