// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "netns/network.hpp"

using namespace berth;
using namespace berth::netns;

namespace {
struct Scratch {
    fs::TempDir dir = *fs::TempDir::create(std::filesystem::temp_directory_path(), "netns-store-");
    Paths paths() const {
        Paths p;
        p.root = dir.path() / "root";
        p.run_root = dir.path() / "run";
        p.prefix = "bt0test";
        return p;
    }
};
NetworkSpec make_spec(std::string name, std::optional<std::string> subnet = std::nullopt,
                      std::optional<std::string> gateway = std::nullopt,
                      std::string driver = "bridge") {
    NetworkSpec s;
    s.name = std::move(name);
    s.subnet = std::move(subnet);
    s.gateway = std::move(gateway);
    s.driver = std::move(driver);
    return s;
}
}  // namespace

TEST_CASE("network store creates, finds, lists and removes", "[netns][store]") {
    Scratch s;
    auto store = NetworkStore::open(s.paths());
    REQUIRE(store);
    NetworkSpec spec;
    spec.name = "front";
    spec.labels["a"] = "b";
    auto front = store->create(spec, {"172.17.0.0/16", "0.0.0.0/0"});
    REQUIRE(front);
    CHECK(front->subnet == "172.18.0.0/16");
    CHECK(front->gateway == "172.18.0.1");
    CHECK(front->bridge == "bt0test-" + front->id.substr(0, 6));
    CHECK(front->dns_enabled);

    auto dup = store->create(spec);
    REQUIRE_FALSE(dup);
    CHECK(dup.error().code() == Errc::already_exists);
    CHECK(dup.error().message() == "network with name front already exists");

    auto back = make_spec("back", "10.20.0.0/24");
    auto b = store->create(back);
    REQUIRE(b);
    CHECK(b->gateway == "10.20.0.1");

    auto overlap = make_spec("over", "10.20.0.128/25");
    auto o = store->create(overlap);
    REQUIRE_FALSE(o);
    CHECK(o.error().code() == Errc::conflict);
    CHECK(o.error().message().find("network back") != std::string::npos);

    auto route_overlap = make_spec("r", "192.168.1.0/24");
    auto ro = store->create(route_overlap, {"192.168.0.0/16"});
    REQUIRE_FALSE(ro);
    CHECK(ro.error().message().find("host route 192.168.0.0/16") != std::string::npos);

    CHECK(store->get("front")->id == front->id);
    CHECK(store->get(front->id)->name == "front");
    CHECK(store->get(front->id.substr(0, 12))->name == "front");
    CHECK(store->get("nope").error().message() == "network nope not found");

    auto all = store->list();
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].name == "back");
    CHECK((*all)[1].labels.at("a") == "b");

    // A record with an endpoint cannot be removed; prune keeps it too.
    auto f = *store->get("front");
    EndpointRecord ep;
    ep.container_id = "c1";
    ep.container_name = "web";
    ep.ipv4 = "172.18.0.2";
    ep.ports.push_back(PortBinding{"127.0.0.1", 8080, 8080, 80, "tcp"});
    f.endpoints["c1"] = ep;
    REQUIRE(store->save(f));
    auto busy = store->remove("front");
    REQUIRE_FALSE(busy);
    CHECK(busy.error().code() == Errc::failed_precondition);
    CHECK(busy.error().message() == "network front has active endpoints (web)");
    auto reread = store->get("front");
    REQUIRE(reread);
    CHECK(reread->endpoints.at("c1").ports.at(0) == ep.ports.at(0));
    CHECK(reread->created == f.created);

    auto pruned = store->prune();
    REQUIRE(pruned);
    CHECK(*pruned == std::vector<std::string>{"back"});
    CHECK(store->get("back").error().code() == Errc::not_found);
}

TEST_CASE("bad network specs are rejected without a record", "[netns][store]") {
    Scratch s;
    auto store = NetworkStore::open(s.paths());
    REQUIRE(store);
    CHECK(store->create(make_spec("bad name")).error().code() == Errc::invalid_argument);
    CHECK(store->create(make_spec("x", std::nullopt, std::nullopt, "overlay")).error().code() ==
          Errc::unsupported);
    CHECK(store->create(make_spec("x", "10.0.0.0/33"))
              .error()
              .code() == Errc::invalid_argument);
    CHECK(store->create(make_spec("x", std::nullopt, "10.0.0.1"))
              .error()
              .code() == Errc::invalid_argument);
    CHECK(store->list()->empty());
}

TEST_CASE("a garbled record is skipped, not fatal", "[netns][store]") {
    Scratch s;
    {
        auto store = NetworkStore::open(s.paths());
        REQUIRE(store);
        REQUIRE(store->create(make_spec("ok")));
    }
    REQUIRE(fs::write_atomic(s.paths().networks() / "garbage.json", "{not json"));
    auto all = read_networks(s.paths());
    REQUIRE(all);
    CHECK(all->size() == 1);
}
