// SPDX-License-Identifier: Apache-2.0
// Compose `build:` (issue 7): `compose build` builds services in parallel,
// `up` builds missing images, `up --build` rebuilds (cached when unchanged)
// and recreates containers whose image changed.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

using berth::testing::Census;
using berth::testing::OuterNetns;
using berth::testing::ScratchRoot;
using berth::testing::take_census;
namespace stdfs = std::filesystem;

namespace {

void write(const stdfs::path& p, const std::string& content) {
    stdfs::create_directories(p.parent_path());
    std::ofstream(p) << content;
}

}  // namespace

TEST_CASE("compose build: context, dockerfile, dockerfile_inline, args, target, up --build",
          "[build][compose][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    REQUIRE(s.berth({"run", "--rm", "busybox", "true"}).exit_code == 0);
    Census before = take_census(s);
    auto dir = s.root().parent_path() / "proj";
    write(dir / "api" / "Dockerfile.dev",
          "FROM busybox AS base\nARG FLAVOR=none\nCOPY msg.txt /msg.txt\n"
          "RUN echo \"$FLAVOR\" > /flavor\nFROM base AS final\nRUN exit 9\n");
    write(dir / "api" / "msg.txt", "v1\n");
    write(dir / "compose.yaml", R"(name: cb
services:
  api:
    build:
      context: ./api
      dockerfile: Dockerfile.dev
      target: base
      args:
        FLAVOR: spicy
      labels:
        org.example.built: "yes"
    command: ["sh", "-c", "cat /msg.txt /flavor; sleep 300"]
    stop_signal: SIGKILL
    network_mode: none
  web:
    image: cbweb:1
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        RUN echo inline > /inline
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    network_mode: none
    depends_on: [api]
)");
    auto file = (dir / "compose.yaml").native();
    auto b = s.berth({"compose", "build", "-f", file});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(b.err.find("[api ") != std::string::npos);
    CHECK(b.err.find("[web ") != std::string::npos);
    auto api = s.berth({"image", "inspect", "-f", "{{json .Config.Labels}}", "cb-api"});
    REQUIRE(api.exit_code == 0);
    CHECK(api.out.find("\"org.example.built\":\"yes\"") != std::string::npos);
    REQUIRE(s.berth({"image", "inspect", "cbweb:1"}).exit_code == 0);

    auto up = s.berth({"compose", "up", "-d", "-f", file});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    ::sleep(1);
    auto logs = s.berth({"compose", "logs", "--no-log-prefix", "--file", file, "api"});
    CHECK(logs.out == "v1\nspicy\n");
    auto ex = s.berth({"compose", "exec", "-T", "-f", file, "web", "cat", "/inline"});
    CHECK(ex.out == "inline\n");

    // Unchanged: up --build hits the cache and keeps the containers.
    auto again = s.berth({"compose", "up", "-d", "--build", "-f", file});
    REQUIRE(again.exit_code == 0);
    CHECK(again.err.find("CACHED") != std::string::npos);
    CHECK(again.err.find("Recreate") == std::string::npos);
    // A changed source: the image is rebuilt and the container recreated.
    write(dir / "api" / "msg.txt", "v2\n");
    auto changed = s.berth({"compose", "up", "-d", "--build", "-f", file});
    INFO(changed.err);
    REQUIRE(changed.exit_code == 0);
    ::sleep(1);
    auto logs2 = s.berth({"compose", "logs", "--no-log-prefix", "--file", file, "api"});
    CHECK(logs2.out == "v2\nspicy\n");
    // A failing build fails up with the service named, and starts nothing new.
    write(dir / "compose.yaml", "name: cb2\nservices:\n  bad:\n    build:\n      context: ./api\n"
                                "      dockerfile: Dockerfile.dev\n");
    auto bad = s.berth({"compose", "up", "-d", "-f", file});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("service \"bad\"") != std::string::npos);
    CHECK(bad.err.find("exit code: 9") != std::string::npos);
    write(dir / "compose.yaml", "name: cb\nservices: {}\n");
    REQUIRE(s.berth({"compose", "down", "-v", "--remove-orphans", "-f", file}).exit_code == 0);
    CHECK(s.berth({"ps", "-aq"}).out.empty());
    Census after = take_census(s);
    INFO("before:\n" << before.describe() << "after:\n" << after.describe());
    CHECK(after == before);
}
