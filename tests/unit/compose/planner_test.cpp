// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "compose/planner.hpp"

using namespace berth::compose;

namespace {

DesiredService svc(std::string name, std::string hash, int replicas = 1) {
    DesiredService d;
    d.name = std::move(name);
    d.config_hash = std::move(hash);
    d.replicas = replicas;
    return d;
}

ObservedContainer seen(std::string service, int number, std::string hash, bool running = true) {
    ObservedContainer o;
    o.service = std::move(service);
    o.number = number;
    o.name = "demo-" + o.service + "-" + std::to_string(number);
    o.id = "id-" + o.name;
    o.config_hash = std::move(hash);
    o.running = running;
    return o;
}

}  // namespace

TEST_CASE("planner creates every replica of a new project", "[compose][planner]") {
    auto plan = plan_up("demo", {svc("web", "h1", 2), svc("db", "h2")}, {}, {});
    REQUIRE(plan.services.size() == 2);
    const auto& web = plan.services.at("web");
    REQUIRE(web.size() == 2);
    CHECK(web[0].kind == ActionKind::create);
    CHECK(web[0].name == "demo-web-1");
    CHECK(web[1].name == "demo-web-2");
    CHECK(plan.services.at("db")[0].name == "demo-db-1");
    CHECK(plan.orphans.empty());
}

TEST_CASE("planner keeps up-to-date containers and starts stopped ones", "[compose][planner]") {
    auto plan = plan_up("demo", {svc("web", "h1"), svc("db", "h2")},
                        {seen("web", 1, "h1"), seen("db", 1, "h2", false)}, {});
    CHECK(plan.services.at("web")[0].kind == ActionKind::keep);
    CHECK(plan.services.at("web")[0].existing_id == "id-demo-web-1");
    CHECK(plan.services.at("db")[0].kind == ActionKind::start);
}

TEST_CASE("planner recreates on a config hash change only", "[compose][planner]") {
    auto plan = plan_up("demo", {svc("web", "new"), svc("db", "h2")},
                        {seen("web", 1, "old"), seen("db", 1, "h2")}, {});
    CHECK(plan.services.at("web")[0].kind == ActionKind::recreate);
    CHECK(plan.services.at("web")[0].name == "demo-web-1");
    CHECK(plan.services.at("db")[0].kind == ActionKind::keep);

    PlanOptions no_recreate;
    no_recreate.no_recreate = true;
    auto kept = plan_up("demo", {svc("web", "new")}, {seen("web", 1, "old")}, no_recreate);
    CHECK(kept.services.at("web")[0].kind == ActionKind::keep);

    PlanOptions force;
    force.force_recreate = true;
    auto forced = plan_up("demo", {svc("web", "h1")}, {seen("web", 1, "h1")}, force);
    CHECK(forced.services.at("web")[0].kind == ActionKind::recreate);
}

TEST_CASE("planner scales down from the highest number and fills gaps", "[compose][planner]") {
    auto down = plan_up("demo", {svc("web", "h", 1)},
                        {seen("web", 1, "h"), seen("web", 2, "h"), seen("web", 3, "h")}, {});
    const auto& a = down.services.at("web");
    REQUIRE(a.size() == 3);
    CHECK(a[0].kind == ActionKind::remove);
    CHECK(a[0].number == 2);
    CHECK(a[1].kind == ActionKind::remove);
    CHECK(a[1].number == 3);
    CHECK(a[2].kind == ActionKind::keep);
    CHECK(a[2].number == 1);

    auto up = plan_up("demo", {svc("web", "h", 3)}, {seen("web", 2, "h")}, {});
    const auto& b = up.services.at("web");
    REQUIRE(b.size() == 3);
    CHECK(b[0].kind == ActionKind::create);
    CHECK(b[0].number == 1);
    CHECK(b[1].kind == ActionKind::keep);
    CHECK(b[1].number == 2);
    CHECK(b[2].kind == ActionKind::create);
    CHECK(b[2].number == 3);
}

TEST_CASE("planner reports orphans and honours the service selection", "[compose][planner]") {
    PlanOptions only;
    only.services = {"web"};
    auto plan = plan_up("demo", {svc("web", "h"), svc("db", "h")},
                        {seen("old", 1, "x"), seen("web", 1, "h")}, only);
    REQUIRE(plan.orphans.size() == 1);
    CHECK(plan.orphans[0].name == "demo-old-1");
    CHECK(plan.services.count("db") == 0);
    CHECK(plan.services.at("web")[0].kind == ActionKind::keep);

    ObservedContainer oneoff = seen("old", 1, "x");
    oneoff.oneoff = true;
    CHECK(plan_up("demo", {svc("web", "h")}, {oneoff}, {}).orphans.empty());
}

TEST_CASE("container names use container_name when set", "[compose][planner]") {
    DesiredService d = svc("web", "h");
    CHECK(container_name("demo", d, 3) == "demo-web-3");
    d.container_name = "my-web";
    CHECK(container_name("demo", d, 1) == "my-web");
}
TEST_CASE("planner recreates a container whose service image was rebuilt", "[compose][planner]") {
    auto want = svc("web", "h1");
    want.image_id = "sha256:new";
    auto have = seen("web", 1, "h1");
    have.image_id = "sha256:old";
    auto plan = plan_up("demo", {want}, {have}, {});
    CHECK(plan.services.at("web")[0].kind == ActionKind::recreate);
    have.image_id = "sha256:new";
    auto same = plan_up("demo", {want}, {have}, {});
    CHECK(same.services.at("web")[0].kind == ActionKind::keep);
    have.image_id.clear();  // unknown: the config hash alone decides
    auto unknown = plan_up("demo", {want}, {have}, {});
    CHECK(unknown.services.at("web")[0].kind == ActionKind::keep);
}
