// SPDX-License-Identifier: Apache-2.0
// The example projects of examples/: each is brought up with `up -d --wait`, checked over
// the network, taken down with `down -v`, and must leave nothing behind. Run inside a
// network namespace the test creates, so published ports answer on its own loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
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

std::string example(const std::string& name) {
    return std::string(BERTH_SOURCE_DIR) + "/examples/" + name + "/compose.yaml";
}

/// service name -> number of containers, and name -> state, from `compose ps -a`.
std::map<std::string, std::string> states(const ScratchRoot& scratch, const std::string& file) {
    auto r = scratch.berth({"compose", "ps", "-a", "--format", "json", "-f", file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, std::string> out;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty()) {
            auto j = nlohmann::json::parse(line);
            out[j.at("Name").get<std::string>()] = j.at("State").get<std::string>();
        }
    }
    return out;
}

/// An HTTP GET from the test's own network namespace (busybox wget on the host),
/// retried for up to 5 s: a published port answers as soon as the rule is in place.
/// (No -T: Debian's busybox 1.35 wget crashes with a timeout option.)
RunResult host_get(const std::string& url) {
    RunResult r;
    for (int i = 0; i < 25; ++i) {
        r = berth::testing::run_process({"/usr/bin/busybox", "wget", "-q", "-O-", url});
        if (r.exit_code == 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
}

/// `up -d --wait`, the example's own checks, `down -v`, then: no container, volume or
/// network of the project, and the census as before.
template <typename Check>
void run_example(const std::string& name, const std::string& project, Check check) {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    const auto file = example(name);
    {
        auto up = scratch.berth({"up", "-d", "--wait", "--wait-timeout", "60", "-f", file});
        INFO(up.out << up.err);
        REQUIRE(up.exit_code == 0);
        check(scratch, file);
        auto down = scratch.berth({"down", "-v", "-f", file});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        CHECK(states(scratch, file).empty());
        CHECK(scratch.berth({"volume", "ls", "-q"}).out.empty());
        CHECK(scratch.berth({"network", "ls"}).out.find(project) == std::string::npos);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

}  // namespace

TEST_CASE("example quickstart: api reaches web by name", "[.root][root][compose]") {
    run_example("quickstart", "quickstart", [](const ScratchRoot& scratch, const std::string&) {
        RunResult r;
        for (int i = 0; i < 25; ++i) {
            r = scratch.berth({"exec", "quickstart-api-1", "wget", "-q", "-O-", "http://web/"});
            if (r.exit_code == 0) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        INFO(r.err);
        CHECK(r.out == "hello from berth\n");
    });
}

TEST_CASE("example healthcheck-chain: all healthy in order, web answers on its port",
          "[.root][root][compose]") {
    run_example("healthcheck-chain", "healthcheck-chain",
                [](const ScratchRoot& scratch, const std::string& file) {
                    // --wait returned: every service is healthy now.
                    auto r = scratch.berth({"compose", "ps", "--format", "json", "-f", file});
                    REQUIRE(r.exit_code == 0);
                    std::istringstream lines(r.out);
                    std::string line;
                    int healthy = 0;
                    while (std::getline(lines, line)) {
                        if (!line.empty()) {
                            auto j = nlohmann::json::parse(line);
                            CHECK(j.at("Health") == "healthy");
                            healthy += j.at("Health") == "healthy" ? 1 : 0;
                        }
                    }
                    CHECK(healthy == 3);
                    auto page = host_get("http://127.0.0.1:18480/");
                    INFO(page.err);
                    CHECK(page.out == "api: rows: 42\n");
                });
}

TEST_CASE("example volumes-secrets: volume, secret and config served over HTTP",
          "[.root][root][compose]") {
    run_example("volumes-secrets", "volumes-secrets",
                [](const ScratchRoot& scratch, const std::string& file) {
                    auto page = host_get("http://127.0.0.1:18481/");
                    INFO(page.err);
                    CHECK(page.out ==
                          "config: greeting=hello from a config\n"
                          "volume: stored in the volume\n"
                          "secret: 12 bytes, mode 400\n");
                    // The secret's value never shows, and the seed job finished.
                    CHECK(page.out.find("s3cr3t") == std::string::npos);
                    auto st = states(scratch, file);
                    CHECK(st["volumes-secrets-seed-1"] == "exited");
                    CHECK(st["volumes-secrets-app-1"] == "running");
                });
}

TEST_CASE("example scaled-workers: one name resolves to every replica",
          "[.root][root][compose]") {
    run_example("scaled-workers", "scaled-workers",
                [](const ScratchRoot& scratch, const std::string& file) {
                    auto st = states(scratch, file);
                    for (const char* n : {"scaled-workers-worker-1", "scaled-workers-worker-2",
                                          "scaled-workers-worker-3", "scaled-workers-client-1"}) {
                        CHECK(st[n] == "running");
                    }
                    // nslookup from the client: three addresses for "worker".
                    std::set<std::string> addresses;
                    for (int i = 0; i < 25 && addresses.size() < 3; ++i) {
                        auto r = scratch.berth(
                            {"exec", "scaled-workers-client-1", "nslookup", "worker"});
                        addresses.clear();
                        auto answer = r.out.find("Name:");
                        std::regex ip(R"(Address:\s*([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+))");
                        std::string rest = answer == std::string::npos ? "" : r.out.substr(answer);
                        for (std::sregex_iterator it(rest.begin(), rest.end(), ip), end;
                             it != end; ++it) {
                            addresses.insert((*it)[1]);
                        }
                        if (addresses.size() < 3) {
                            std::this_thread::sleep_for(std::chrono::milliseconds(200));
                        }
                    }
                    REQUIRE(addresses.size() == 3);
                    // Each address is a different replica, answering with its hostname.
                    std::set<std::string> hostnames;
                    for (const auto& a : addresses) {
                        auto r = scratch.berth({"exec", "scaled-workers-client-1", "wget", "-q",
                                                "-O-", "http://" + a + "/"});
                        CHECK(r.exit_code == 0);
                        hostnames.insert(r.out);
                    }
                    CHECK(hostnames.size() == 3);
                });
}
