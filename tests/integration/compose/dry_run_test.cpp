// SPDX-License-Identifier: Apache-2.0
// Root test of issue 8's `--dry-run`: `up --dry-run` and `down --dry-run` print
// the plan (what would be created, recreated, kept or removed) and change
// nothing, on a fresh project and on a running one.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

using berth::testing::OuterNetns;
using berth::testing::RunResult;
using berth::testing::ScratchRoot;

namespace {

constexpr const char* compose_yaml = R"(services:
  db:
    image: busybox
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on: [db]
    environment:
      VERSION: "${VERSION:-1}"
volumes:
  data: {}
)";

RunResult berth_env(const ScratchRoot& scratch, std::vector<std::string> args,
                    const std::map<std::string, std::string>& extra = {}) {
    auto env = scratch.env();
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    args.insert(args.begin(), BERTH_BINARY);
    return berth::testing::run_process(args, env, {}, 120);
}

/// container name -> "id state" from `compose ps -a --format json`.
std::map<std::string, std::string> ps(const ScratchRoot& scratch, const std::string& file) {
    auto r = scratch.berth({"compose", "ps", "-a", "--format", "json", "-p", "dry", "-f", file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, std::string> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) {
            auto j = nlohmann::json::parse(line);
            out[j.at("Name").get<std::string>()] =
                j.at("ID").get<std::string>() + " " + j.at("State").get<std::string>();
        }
    }
    return out;
}

bool has(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("up --dry-run and down --dry-run print the plan and change nothing",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto dir = scratch.root().parent_path() / "project";
    std::filesystem::create_directories(dir);
    const auto file = (dir / "compose.yaml").string();
    std::ofstream(file) << compose_yaml;
    const auto baseline = berth::testing::take_census(scratch);

    // A fresh project: everything would be created, in dependency order.
    auto dry = scratch.berth({"up", "-d", "--dry-run", "-p", "dry", "-f", file});
    INFO(dry.out << dry.err);
    REQUIRE(dry.exit_code == 0);
    CHECK(has(dry.err, " DRY-RUN MODE -  Network dry_default  Create (missing)\n"));
    CHECK(has(dry.err, " DRY-RUN MODE -  Volume dry_data  Create (missing)\n"));
    CHECK(has(dry.err, " DRY-RUN MODE -  Container dry-db-1  Create (missing)\n"));
    CHECK(has(dry.err, " DRY-RUN MODE -  Container dry-web-1  Create (missing)\n"));
    CHECK(dry.err.find("dry-db-1") < dry.err.find("dry-web-1"));
    CHECK(ps(scratch, file).empty());
    CHECK_FALSE(has(scratch.berth({"network", "ls"}).out, "dry_default"));
    CHECK(scratch.berth({"volume", "ls", "-q"}).out.empty());
    {
        auto census = berth::testing::take_census(scratch);
        INFO("before:\n" << baseline.describe() << "after:\n" << census.describe());
        CHECK(census == baseline);
    }

    auto up = scratch.berth({"up", "-d", "-p", "dry", "-f", file});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    const auto running = ps(scratch, file);
    REQUIRE(running.size() == 2);
    const auto census_up = berth::testing::take_census(scratch);

    // A changed environment: web would be recreated, db kept; JSON lines too.
    auto changed = berth_env(scratch, {"up", "-d", "--dry-run", "-p", "dry", "-f", file},
                             {{"VERSION", "2"}});
    INFO(changed.err);
    REQUIRE(changed.exit_code == 0);
    CHECK(has(changed.err, " DRY-RUN MODE -  Container dry-db-1  Keep (up to date)\n"));
    CHECK(has(changed.err,
              " DRY-RUN MODE -  Container dry-web-1  Recreate (configuration changed)\n"));
    CHECK_FALSE(has(changed.err, "Network"));
    CHECK_FALSE(has(changed.err, "Volume"));
    auto json = berth_env(scratch,
                          {"up", "-d", "--dry-run", "--progress", "json", "-p", "dry", "-f", file},
                          {{"VERSION", "2"}});
    REQUIRE(json.exit_code == 0);
    std::vector<nlohmann::json> events;
    std::istringstream lines(json.err);
    for (std::string line; std::getline(lines, line);) {
        events.push_back(nlohmann::json::parse(line));
    }
    REQUIRE(events.size() == 2);
    CHECK(events[1]["id"] == "Container dry-web-1");
    CHECK(events[1]["status"] == "Recreate (configuration changed)");
    CHECK(events[1]["dry_run"] == true);

    // down --dry-run -v: dependents first, then the network and the volume.
    auto down_dry = scratch.berth({"down", "-v", "--dry-run", "-p", "dry", "-f", file});
    INFO(down_dry.err);
    REQUIRE(down_dry.exit_code == 0);
    CHECK(has(down_dry.err, " DRY-RUN MODE -  Container dry-web-1  Stop and remove\n"));
    CHECK(has(down_dry.err, " DRY-RUN MODE -  Container dry-db-1  Stop and remove\n"));
    CHECK(down_dry.err.find("dry-web-1") < down_dry.err.find("dry-db-1"));
    CHECK(has(down_dry.err, " DRY-RUN MODE -  Network dry_default  Remove\n"));
    CHECK(has(down_dry.err, " DRY-RUN MODE -  Volume dry_data  Remove\n"));

    // Nothing moved: same containers, same state, same host objects.
    CHECK(ps(scratch, file) == running);
    CHECK(scratch.berth({"volume", "ls", "-q"}).out == "dry_data\n");
    {
        auto census = berth::testing::take_census(scratch);
        INFO("up:\n" << census_up.describe() << "now:\n" << census.describe());
        CHECK(census == census_up);
    }

    auto down = scratch.berth({"down", "-v", "-p", "dry", "-f", file});
    INFO(down.err);
    REQUIRE(down.exit_code == 0);
    CHECK(ps(scratch, file).empty());
    // The network resolver leaves up to 2 s after the last network is gone.
    auto after = berth::testing::take_census(scratch);
    for (int i = 0; i < 80 && !(after == baseline); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        after = berth::testing::take_census(scratch);
    }
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}
