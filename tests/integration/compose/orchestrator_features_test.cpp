// SPDX-License-Identifier: Apache-2.0
// Root tests of issues 6 and 8: compose secrets and configs, volumes_from, `up --wait`,
// `--scale`, `--no-deps`, `--exit-code-from` and `depends_on: {restart: true}`, each on a
// small project in a scratch root, inside a network namespace the test creates.
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

/// Writes `text` as <scratch base>/<dir>/compose.yaml and returns its path.
std::string write_project(const ScratchRoot& scratch, const std::string& dir,
                          const std::string& text) {
    auto d = scratch.root().parent_path() / dir;
    std::filesystem::create_directories(d);
    auto file = d / "compose.yaml";
    std::ofstream(file) << text;
    return file.string();
}

RunResult berth_env(const ScratchRoot& scratch, std::vector<std::string> args,
                    const std::map<std::string, std::string>& extra = {}, int timeout_s = 120) {
    auto env = scratch.env();
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    args.insert(args.begin(), BERTH_BINARY);
    return berth::testing::run_process(args, env, {}, timeout_s);
}

/// name -> JSON object of `compose ps -a --format json`.
std::map<std::string, nlohmann::json> ps(const ScratchRoot& scratch, const std::string& file) {
    auto r = scratch.berth({"compose", "ps", "-a", "--format", "json", "-f", file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, nlohmann::json> out;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty()) {
            auto j = nlohmann::json::parse(line);
            out[j.at("Name").get<std::string>()] = j;
        }
    }
    return out;
}

/// `berth exec NAME sh -c SCRIPT`.
RunResult sh(const ScratchRoot& scratch, const std::string& container, const std::string& script) {
    return scratch.berth({"exec", container, "sh", "-c", script});
}

std::string started_at(const ScratchRoot& scratch, const std::string& container) {
    auto r = scratch.berth({"inspect", container});
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    return j.at(0).at("State").at("StartedAt").get<std::string>();
}

}  // namespace

TEST_CASE("compose secrets and configs are read-only files with their owner and mode",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto base = scratch.root().parent_path();
    std::filesystem::create_directories(base / "files");
    std::ofstream(base / "files" / "token.txt") << "file-secret";
    auto file = write_project(scratch, "secrets",
                              "name: sec\n"
                              "services:\n"
                              "  app:\n"
                              "    image: busybox\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    init: false\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    secrets:\n"
                              "      - token\n"
                              "      - source: token\n"
                              "        target: token_for_app\n"
                              "        uid: \"1000\"\n"
                              "        gid: \"1001\"\n"
                              "        mode: 0440\n"
                              "      - from_env\n"
                              "    configs:\n"
                              "      - inline\n"
                              "      - source: inline\n"
                              "        target: /etc/app/app.conf\n"
                              "        mode: 0600\n"
                              "secrets:\n"
                              "  token:\n"
                              "    file: ../files/token.txt\n"
                              "  from_env:\n"
                              "    environment: SEC_VALUE\n"
                              "configs:\n"
                              "  inline:\n"
                              "    content: \"level=${LEVEL:-3}\"\n");
    {
        auto up = berth_env(scratch, {"up", "-d", "-f", file}, {{"SEC_VALUE", "from-the-env"}});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        const std::string c = "sec-app-1";
        CHECK(sh(scratch, c, "cat /run/secrets/token").out == "file-secret");
        CHECK(sh(scratch, c, "stat -c '%a %u %g' /run/secrets/token").out == "444 0 0\n");
        CHECK(sh(scratch, c, "cat /run/secrets/token_for_app").out == "file-secret");
        CHECK(sh(scratch, c, "stat -c '%a %u %g' /run/secrets/token_for_app").out ==
              "440 1000 1001\n");
        CHECK(sh(scratch, c, "cat /run/secrets/from_env").out == "from-the-env");
        CHECK(sh(scratch, c, "cat /inline").out == "level=3");
        CHECK(sh(scratch, c, "stat -c '%a' /inline").out == "444\n");
        CHECK(sh(scratch, c, "cat /etc/app/app.conf").out == "level=3");
        CHECK(sh(scratch, c, "stat -c '%a' /etc/app/app.conf").out == "600\n");
        // Read-only, even for root in the container.
        auto write = sh(scratch, c, "echo x > /run/secrets/token");
        CHECK(write.exit_code != 0);
        CHECK(write.err.find("Read-only file system") != std::string::npos);
        CHECK(sh(scratch, c, "echo x > /etc/app/app.conf").exit_code != 0);
        // Only the mode's readers can read: uid 1000 reads the 0440 one, not the 0600 one.
        CHECK(scratch.berth({"exec", "-u", "1000", c, "cat", "/run/secrets/token_for_app"}).out ==
              "file-secret");
        CHECK(scratch.berth({"exec", "-u", "1000", c, "cat", "/etc/app/app.conf"}).exit_code !=
              0);
        CHECK(scratch.berth({"exec", "-u", "1234", c, "cat", "/run/secrets/token_for_app"})
                  .exit_code != 0);

        // Same file: nothing recreated. Changed inline content: recreated.
        auto id = ps(scratch, file).at(c).at("ID");
        auto again = berth_env(scratch, {"up", "-d", "-f", file}, {{"SEC_VALUE", "from-the-env"}});
        REQUIRE(again.exit_code == 0);
        CHECK(ps(scratch, file).at(c).at("ID") == id);
        auto changed = berth_env(scratch, {"up", "-d", "-f", file},
                                 {{"SEC_VALUE", "from-the-env"}, {"LEVEL", "9"}});
        INFO(changed.err);
        REQUIRE(changed.exit_code == 0);
        CHECK(ps(scratch, file).at(c).at("ID") != id);
        CHECK(sh(scratch, c, "cat /inline").out == "level=9");

        // A missing variable names the secret and leaves no container behind.
        auto down = scratch.berth({"down", "-f", file});
        REQUIRE(down.exit_code == 0);
        auto missing = scratch.berth({"up", "-d", "-f", file});
        CHECK(missing.exit_code != 0);
        CHECK(missing.err.find("from_env") != std::string::npos);
        CHECK(missing.err.find("SEC_VALUE") != std::string::npos);
        CHECK(ps(scratch, file).empty());
        REQUIRE(scratch.berth({"down", "-v", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("a config target that a container turned into a symlink is refused (row 19a)",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    const auto canary = scratch.root().parent_path() / "host-target";
    auto file = write_project(scratch, "planted",
                              "name: planted\n"
                              "services:\n"
                              "  planter:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    command: [\"ln\", \"-s\", \"" +
                                  canary.string() +
                                  "\", \"/shared/foo\"]\n"
                                  "    volumes: [\"shared:/shared\"]\n"
                                  "  victim:\n"
                                  "    image: busybox\n"
                                  "    network_mode: none\n"
                                  "    command: [\"sleep\", \"300\"]\n"
                                  "    volumes: [\"shared:/shared\"]\n"
                                  "    depends_on:\n"
                                  "      planter: {condition: service_completed_successfully}\n"
                                  "    configs:\n"
                                  "      - source: conf\n"
                                  "        target: /shared/foo\n"
                                  "configs:\n"
                                  "  conf:\n"
                                  "    content: \"attacker wants this on the host\"\n"
                                  "volumes:\n"
                                  "  shared: {}\n");
    {
        auto up = scratch.berth({"up", "-d", "-f", file});
        INFO(up.err);
        CHECK(up.exit_code != 0);
        CHECK(up.err.find("symbolic link") != std::string::npos);
        CHECK(up.err.find("victim") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(canary)));
        CHECK(ps(scratch, file).count("planted-victim-1") == 0);
        REQUIRE(scratch.berth({"down", "-v", "-f", file}).exit_code == 0);
        CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(canary)));
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("volumes_from shares a service's or a container's mounts, :ro read-only",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "vf",
                              "name: vf\n"
                              "services:\n"
                              "  data:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sh\", \"-c\", \"echo shared > /data/f; "
                              "echo anon > /anon/f; exec sleep 300\"]\n"
                              "    volumes: [\"store:/data\", \"/anon\"]\n"
                              "  reader:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    volumes_from: [\"data:ro\"]\n"
                              "  writer:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    depends_on: [data]\n"
                              "    volumes_from: [\"container:vf-data-1\"]\n"
                              "volumes:\n"
                              "  store: {}\n");
    {
        auto up = scratch.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        RunResult r;
        for (int i = 0; i < 50; ++i) {
            r = sh(scratch, "vf-reader-1", "cat /data/f /anon/f");
            if (r.exit_code == 0) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        CHECK(r.out == "shared\nanon\n");
        auto ro = sh(scratch, "vf-reader-1", "echo no > /data/g");
        CHECK(ro.exit_code != 0);
        CHECK(ro.err.find("Read-only file system") != std::string::npos);
        // container:NAME keeps the source's own mode (read-write here).
        CHECK(sh(scratch, "vf-writer-1", "echo yes > /data/g && cat /data/f").out == "shared\n");
        CHECK(sh(scratch, "vf-data-1", "cat /data/g").out == "yes\n");
        // The volume is in use by all three: refused while they exist.
        auto vols = scratch.berth({"volume", "ls", "-q"});
        CHECK(vols.out.find("vf_store") != std::string::npos);
        CHECK(scratch.berth({"volume", "rm", "vf_store"}).exit_code != 0);
        auto down = scratch.berth({"down", "-v", "-f", file});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        CHECK(scratch.berth({"volume", "ls", "-q"}).out.empty());
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("up --wait fails with the last probe output of a service that is never healthy",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "sick",
                              "name: sick\n"
                              "services:\n"
                              "  ok:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    healthcheck:\n"
                              "      test: [\"CMD\", \"true\"]\n"
                              "      interval: 300ms\n"
                              "  bad:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    healthcheck:\n"
                              "      test: [\"CMD-SHELL\", \"echo db-not-ready-$$((1+1)); exit 1\"]\n"
                              "      interval: 300ms\n"
                              "      retries: 2\n");
    auto slow = write_project(scratch, "slow",
                              "name: slow\n"
                              "services:\n"
                              "  starting:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    healthcheck:\n"
                              "      test: [\"CMD-SHELL\", \"echo still-warming; exit 1\"]\n"
                              "      interval: 300ms\n"
                              "      start_period: 5m\n");
    {
        auto up = scratch.berth({"up", "-d", "--wait", "--wait-timeout", "60", "-f", file});
        INFO(up.err);
        CHECK(up.exit_code != 0);
        CHECK(up.err.find("sick-bad-1 is unhealthy") != std::string::npos);
        CHECK(up.err.find("db-not-ready-2") != std::string::npos);
        auto state = ps(scratch, file);
        CHECK(state.at("sick-bad-1").at("Health") == "unhealthy");
        CHECK(state.at("sick-ok-1").at("Health") == "healthy");

        // Still starting when the deadline passes: the timeout error has the output too.
        auto timed = scratch.berth({"up", "-d", "--wait", "--wait-timeout", "2", "-f", slow});
        INFO(timed.err);
        CHECK(timed.exit_code != 0);
        CHECK(timed.err.find("application not healthy after 2s") != std::string::npos);
        CHECK(timed.err.find("still-warming") != std::string::npos);

        REQUIRE(scratch.berth({"down", "-f", file}).exit_code == 0);
        REQUIRE(scratch.berth({"down", "-f", slow}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("up --scale adds and removes replicas, --no-deps leaves dependencies alone",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "scale",
                              "name: scl\n"
                              "services:\n"
                              "  dep:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "  w:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    depends_on: [dep]\n");
    {
        auto only = scratch.berth({"up", "-d", "--no-deps", "-f", file, "w"});
        INFO(only.err);
        REQUIRE(only.exit_code == 0);
        auto state = ps(scratch, file);
        CHECK(state.size() == 1);
        CHECK(state.count("scl-w-1") == 1);

        auto up = scratch.berth({"up", "-d", "--scale", "w=3", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        state = ps(scratch, file);
        CHECK(state.size() == 4);
        for (const char* n : {"scl-dep-1", "scl-w-1", "scl-w-2", "scl-w-3"}) {
            REQUIRE(state.count(n) == 1);
            CHECK(state.at(n).at("State") == "running");
        }
        auto first = state.at("scl-w-1").at("ID");

        auto down1 = scratch.berth({"up", "-d", "--scale", "w=1", "-f", file});
        INFO(down1.err);
        REQUIRE(down1.exit_code == 0);
        state = ps(scratch, file);
        CHECK(state.size() == 2);
        REQUIRE(state.count("scl-w-1") == 1);
        CHECK(state.at("scl-w-1").at("ID") == first);

        auto zero = scratch.berth({"up", "-d", "--scale", "w=0", "-f", file});
        REQUIRE(zero.exit_code == 0);
        state = ps(scratch, file);
        CHECK(state.size() == 1);
        CHECK(state.count("scl-dep-1") == 1);

        auto bad = scratch.berth({"up", "-d", "--scale", "nope=2", "-f", file});
        CHECK(bad.exit_code != 0);
        CHECK(bad.err.find("no such service: nope") != std::string::npos);
        REQUIRE(scratch.berth({"down", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("depends_on restart: true restarts a dependent when its dependency is recreated",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "restart",
                              "name: rst\n"
                              "services:\n"
                              "  db:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    environment: {VERSION: \"${VERSION:-1}\"}\n"
                              "  app:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    depends_on:\n"
                              "      db: {condition: service_started, restart: true}\n"
                              "  other:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n"
                              "    depends_on:\n"
                              "      db: {condition: service_started}\n");
    {
        REQUIRE(scratch.berth({"up", "-d", "-f", file}).exit_code == 0);
        auto before = ps(scratch, file);
        auto app_started = started_at(scratch, "rst-app-1");
        auto other_started = started_at(scratch, "rst-other-1");
        // StartedAt has a resolution of a second or better: make sure it can differ.
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));

        auto up = berth_env(scratch, {"up", "-d", "-f", file}, {{"VERSION", "2"}});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        CHECK(up.err.find("rst-app-1  Restarting") != std::string::npos);
        CHECK(up.err.find("rst-other-1  Restarting") == std::string::npos);
        auto after = ps(scratch, file);
        CHECK(after.at("rst-db-1").at("ID") != before.at("rst-db-1").at("ID"));
        // Restarted, not recreated; the one without restart: true is left alone.
        CHECK(after.at("rst-app-1").at("ID") == before.at("rst-app-1").at("ID"));
        CHECK(after.at("rst-app-1").at("State") == "running");
        CHECK(started_at(scratch, "rst-app-1") != app_started);
        CHECK(started_at(scratch, "rst-other-1") == other_started);
        REQUIRE(scratch.berth({"down", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("attached up --exit-code-from stops everything and returns that service's code",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "exitcode",
                              "name: exc\n"
                              "services:\n"
                              "  job:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    command: [\"sh\", \"-c\", \"sleep 1; echo job done; exit 7\"]\n"
                              "  server:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    stop_grace_period: 1s\n"
                              "    command: [\"sleep\", \"300\"]\n");
    {
        auto up = scratch.berth({"up", "--exit-code-from", "job", "-f", file}, {}, 60);
        INFO(up.out << up.err);
        CHECK(up.exit_code == 7);
        CHECK(up.out.find("job-1     | job done") != std::string::npos);
        CHECK(up.err.find("Aborting on container exit") != std::string::npos);
        auto state = ps(scratch, file);
        CHECK(state.at("exc-server-1").at("State") == "exited");
        CHECK(state.at("exc-job-1").at("ExitCode") == 7);
        REQUIRE(scratch.berth({"down", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("stop and down go in reverse dependency order: dependents first, a level at a time",
          "[.root][root][compose]") {
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    const auto out_dir = scratch.root().parent_path() / "order";
    std::filesystem::create_directories(out_dir);
    // Each service notes its SIGTERM in /out/order; api and web take 0.5 s to
    // do so, so a dependency signalled at the same time would note it first.
    auto service = [&](const std::string& name, const std::string& delay,
                       const std::string& deps) {
        return "  " + name +
               ":\n"
               "    image: busybox\n"
               "    network_mode: none\n"
               "    stop_grace_period: 5s\n" +
               (deps.empty() ? std::string() : "    depends_on: [" + deps + "]\n") +
               "    volumes: [\"" + out_dir.string() +
               ":/out\"]\n"
               "    command: [\"sh\", \"-c\", \"trap '" + delay + "echo " + name +
               " >> /out/order; exit 0' TERM; while :; do sleep 0.1; done\"]\n";
    };
    auto file = write_project(scratch, "rev",
                              "name: rev\nservices:\n" + service("db", "", "") +
                                  service("api", "sleep 0.5; ", "db") +
                                  service("web", "sleep 0.5; ", "api") +
                                  service("lone", "", ""));
    const auto order_file = out_dir / "order";
    auto order = [&] {
        std::ifstream in(order_file);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    auto up = scratch.berth({"up", "-d", "-f", file});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    auto stop = scratch.berth({"compose", "stop", "-f", file});
    INFO(stop.err);
    CHECK(stop.exit_code == 0);
    // lone has no dependents: it goes with web, at once.
    CHECK(order() == "lone\nweb\napi\ndb\n");
    std::filesystem::remove(order_file);
    up = scratch.berth({"up", "-d", "-f", file});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    auto down = scratch.berth({"down", "-f", file});
    INFO(down.err);
    CHECK(down.exit_code == 0);
    CHECK(order() == "lone\nweb\napi\ndb\n");
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("attached up follows the named services, --attach-dependencies adds theirs, "
          "--no-attach hides some",
          "[.root][root][compose]") {
    ScratchRoot scratch;
    const auto baseline = berth::testing::take_census(scratch);
    auto file = write_project(scratch, "attach",
                              "name: att\n"
                              "services:\n"
                              "  db:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    init: true\n"
                              "    command: [\"sh\", \"-c\", \"echo db says hi; exec sleep 300\"]\n"
                              "  app:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    depends_on: [db]\n"
                              "    command: [\"sh\", \"-c\", \"sleep 1; echo app done\"]\n"
                              "  side:\n"
                              "    image: busybox\n"
                              "    network_mode: none\n"
                              "    init: true\n"
                              "    command: [\"sh\", \"-c\", \"echo side says hi; exec sleep "
                              "300\"]\n");
    {
        auto only = scratch.berth({"up", "--exit-code-from", "app", "-f", file, "app"}, {}, 60);
        INFO(only.out << only.err);
        CHECK(only.exit_code == 0);
        CHECK(only.out.find("Attaching to app-1\n") != std::string::npos);
        CHECK(only.out.find("app-1  | app done") != std::string::npos);
        CHECK(only.out.find("db says hi") == std::string::npos);
        auto deps = scratch.berth(
            {"up", "--attach-dependencies", "--exit-code-from", "app", "-f", file, "app"}, {}, 60);
        INFO(deps.out << deps.err);
        CHECK(deps.exit_code == 0);
        CHECK(deps.out.find("db-1   | db says hi") != std::string::npos);
        CHECK(deps.out.find("app-1  | app done") != std::string::npos);
        CHECK(deps.out.find("side says hi") == std::string::npos);
        auto hidden =
            scratch.berth({"up", "--no-attach", "db", "--exit-code-from", "app", "-f", file}, {}, 60);
        INFO(hidden.out << hidden.err);
        CHECK(hidden.exit_code == 0);
        CHECK(hidden.out.find("side-1  | side says hi") != std::string::npos);
        CHECK(hidden.out.find("app-1   | app done") != std::string::npos);
        CHECK(hidden.out.find("db says hi") == std::string::npos);
        CHECK(hidden.out.find("Attaching to app-1, side-1\n") != std::string::npos);
        auto bad = scratch.berth({"up", "--no-attach", "nope", "-f", file});
        CHECK(bad.exit_code != 0);
        CHECK(bad.err.find("no such service: nope") != std::string::npos);
        auto detached = scratch.berth({"up", "-d", "--attach-dependencies", "-f", file});
        CHECK(detached.exit_code != 0);
        CHECK(detached.err.find("--attach-dependencies") != std::string::npos);
        REQUIRE(scratch.berth({"down", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(scratch, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}
