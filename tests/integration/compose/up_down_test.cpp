// SPDX-License-Identifier: Apache-2.0
// Root tests of issue 8: `berth up` / `down` / `compose ps` on examples/quickstart, inside
// a network namespace the test creates (the host's links and firewall are never touched).
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

const std::string quickstart = std::string(BERTH_SOURCE_DIR) + "/examples/quickstart/compose.yaml";

/// Runs berth on `scratch` with extra environment variables.
RunResult berth_env(const ScratchRoot& scratch, std::vector<std::string> args,
                    const std::map<std::string, std::string>& extra = {}) {
    auto env = scratch.env();
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    args.insert(args.begin(), BERTH_BINARY);
    return berth::testing::run_process(args, env, {}, 120);
}

/// service -> {id, state} from `compose ps -a --format json`.
std::map<std::string, std::pair<std::string, std::string>> ps(const ScratchRoot& scratch,
                                                              const std::string& file) {
    auto r = scratch.berth({"compose", "ps", "-a", "--format", "json", "-f", file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, std::pair<std::string, std::string>> out;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) {
            continue;
        }
        auto j = nlohmann::json::parse(line);
        out[j.at("Service").get<std::string>()] = {j.at("ID").get<std::string>(),
                                                   j.at("State").get<std::string>()};
    }
    return out;
}

/// `wget http://web/` from inside the api container, retried while httpd starts.
RunResult fetch_web(const ScratchRoot& scratch) {
    RunResult r;
    for (int i = 0; i < 30; ++i) {
        r = scratch.berth({"exec", "quickstart-api-1", "wget", "-q", "-O-", "http://web/"});
        if (r.exit_code == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
}

}  // namespace

TEST_CASE("quickstart: up -d, DNS by service name, idempotent up, recreate, down -v",
          "[compose][.root]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    {
        auto up = scratch.berth({"up", "-d", "-f", quickstart});
        INFO(up.out << up.err);
        REQUIRE(up.exit_code == 0);
        CHECK(up.err.find(" Network quickstart_default  Created") != std::string::npos);
        CHECK(up.err.find(" Volume quickstart_site  Created") != std::string::npos);
        CHECK(up.err.find(" Container quickstart-web-1  Started") != std::string::npos);
        CHECK(up.err.find(" Container quickstart-api-1  Started") != std::string::npos);
        // web starts before api (depends_on).
        CHECK(up.err.find("quickstart-web-1  Started") < up.err.find("quickstart-api-1  Starting"));

        auto first = ps(scratch, quickstart);
        REQUIRE(first.size() == 2);
        CHECK(first["web"].second == "running");
        CHECK(first["api"].second == "running");

        auto page = fetch_web(scratch);
        INFO(page.err);
        CHECK(page.exit_code == 0);
        CHECK(page.out == "hello from berth\n");

        // Nothing changed: nothing is recreated.
        auto again = scratch.berth({"up", "-d", "-f", quickstart});
        INFO(again.err);
        REQUIRE(again.exit_code == 0);
        CHECK(again.err.find(" Container quickstart-web-1  Running") != std::string::npos);
        CHECK(again.err.find(" Container quickstart-api-1  Running") != std::string::npos);
        CHECK(again.err.find("Creat") == std::string::npos);
        auto second = ps(scratch, quickstart);
        CHECK(second == first);

        // A changed environment value recreates only that service.
        auto changed = berth_env(scratch, {"up", "-d", "-f", quickstart}, {{"GREETING", "changed"}});
        INFO(changed.err);
        REQUIRE(changed.exit_code == 0);
        auto third = ps(scratch, quickstart);
        CHECK(third["web"].first != first["web"].first);
        CHECK(third["web"].second == "running");
        CHECK(third["api"].first == first["api"].first);
        auto page2 = fetch_web(scratch);
        CHECK(page2.out == "changed\n");

        auto ls = scratch.berth({"compose", "ls"});
        CHECK(ls.out.find("quickstart") != std::string::npos);
        CHECK(ls.out.find("running(2)") != std::string::npos);

        auto down = scratch.berth({"down", "-v", "-f", quickstart});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        CHECK(down.err.find(" Container quickstart-web-1  Removed") != std::string::npos);
        CHECK(down.err.find(" Network quickstart_default  Removed") != std::string::npos);
        CHECK(down.err.find(" Volume quickstart_site  Removed") != std::string::npos);

        CHECK(ps(scratch, quickstart).empty());
        auto vols = scratch.berth({"volume", "ls", "-q"});
        CHECK(vols.out.empty());
        auto nets = scratch.berth({"network", "ls"});
        CHECK(nets.out.find("quickstart") == std::string::npos);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("a failing dependency fails up naming the service, down removes what started",
          "[compose][.root]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto dir = scratch.root().parent_path() / "proj";
    std::filesystem::create_directories(dir);
    const auto file = (dir / "compose.yaml").string();
    {
        std::ofstream out(file);
        out << "name: failing\n"
               "services:\n"
               "  setup:\n"
               "    image: busybox\n"
               "    command: [\"sh\", \"-c\", \"exit 3\"]\n"
               "  app:\n"
               "    image: busybox\n"
               "    command: [\"sleep\", \"60\"]\n"
               "    stop_grace_period: 1s\n"
               "    depends_on:\n"
               "      setup:\n"
               "        condition: service_completed_successfully\n"
               "  side:\n"
               "    image: busybox\n"
               "    command: [\"sleep\", \"60\"]\n"
               "    stop_grace_period: 1s\n";
    }
    {
        auto up = scratch.berth({"up", "-d", "-f", file});
        INFO(up.err);
        CHECK(up.exit_code != 0);
        CHECK(up.err.find("app") != std::string::npos);
        CHECK(up.err.find("didn't complete successfully: exit 3") != std::string::npos);
        auto state = ps(scratch, file);
        CHECK(state["side"].second == "running");
        CHECK(state["setup"].second == "exited");
        CHECK(state.count("app") == 0);

        auto start = std::chrono::steady_clock::now();
        auto down = scratch.berth({"down", "-f", file});
        INFO(down.err);
        CHECK(down.exit_code == 0);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(8));
        CHECK(ps(scratch, file).empty());
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("attached up prints prefixed logs until the containers exit", "[compose][.root]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto dir = scratch.root().parent_path() / "attached";
    std::filesystem::create_directories(dir);
    const auto file = (dir / "compose.yaml").string();
    {
        std::ofstream out(file);
        out << "name: attached\n"
               "services:\n"
               "  hello:\n"
               "    image: busybox\n"
               "    command: [\"sh\", \"-c\", \"echo hi there; exit 0\"]\n"
               "    network_mode: none\n";
    }
    {
        auto up = scratch.berth({"up", "-f", file}, {}, 60);
        INFO(up.out << up.err);
        CHECK(up.exit_code == 0);
        CHECK(up.out.find("Attaching to hello-1") != std::string::npos);
        CHECK(up.out.find("hello-1  | hi there\n") != std::string::npos);
        CHECK(up.out.find("hello-1 exited with code 0") != std::string::npos);
        auto down = scratch.berth({"down", "-f", file});
        INFO(down.err);
        CHECK(down.exit_code == 0);
        CHECK(down.err.find("Network") == std::string::npos);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}
