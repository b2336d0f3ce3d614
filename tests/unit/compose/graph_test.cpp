// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "compose/graph.hpp"
#include "helpers.hpp"

using namespace berth::compose;
using berth::compose::testing::ProjectDir;

TEST_CASE("graph: topological order puts dependencies first", "[compose][graph]") {
    DependencyGraph g;
    g.add_edge("web", "api");
    g.add_edge("api", "db");
    g.add_edge("web", "cache");
    g.add_service("lone");
    auto order = g.topological_order();
    REQUIRE(order);
    CHECK(*order == std::vector<std::string>{"cache", "db", "api", "lone", "web"});
    CHECK(g.dependents("api") == std::set<std::string>{"web"});
    CHECK(g.closure({"web"}) == std::set<std::string>{"api", "cache", "db", "web"});
}

TEST_CASE("graph: a cycle is reported with its path", "[compose][graph]") {
    DependencyGraph g;
    g.add_edge("a", "b");
    g.add_edge("b", "c");
    g.add_edge("c", "a");
    auto cycle = g.find_cycle();
    REQUIRE(cycle);
    CHECK(*cycle == std::vector<std::string>{"a", "b", "c", "a"});
    auto order = g.topological_order();
    REQUIRE_FALSE(order);
    CHECK(order.error().message() == "dependency cycle (a -> b -> c -> a)");
}

TEST_CASE("graph: edges from links, volumes_from and service: namespaces", "[compose][graph]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n"
                           "  db: {image: db}\n"
                           "  a: {image: x, links: ['db:database']}\n"
                           "  b: {image: x, volumes_from: ['db:ro']}\n"
                           "  c: {image: x, network_mode: 'service:db'}\n"
                           "  d: {image: x, ipc: 'service:a', pid: 'service:b'}\n");
    REQUIRE(p);
    auto g = DependencyGraph::from(*p);
    CHECK(g.dependencies("a") == std::set<std::string>{"db"});
    CHECK(g.dependencies("b") == std::set<std::string>{"db"});
    CHECK(g.dependencies("c") == std::set<std::string>{"db"});
    CHECK(g.dependencies("d") == std::set<std::string>{"a", "b"});
    CHECK(p->services.at("a").depends_on.at("db").restart);
    CHECK_FALSE(p->services.at("b").depends_on.at("db").restart);
}

TEST_CASE("graph: a depends_on cycle fails the load", "[compose][graph]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n"
                           "  a: {image: x, depends_on: [b]}\n"
                           "  b: {image: x, network_mode: 'service:a'}\n");
    REQUIRE_FALSE(p);
    CHECK_THAT(p.error().message(), Catch::Contains("dependency cycle (a -> b -> a)"));
}
