// SPDX-License-Identifier: Apache-2.0
// Root tests of the compose subcommands beyond up/down/ps/ls (issue 8,
// "Commands"): logs, exec, run, the lifecycle verbs, port, top, images, wait
// and cp, on a small busybox project inside a network namespace the test
// creates. Each test ends with down and a leak census.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
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

// db: a dependency; web: publishes a random host port and logs three lines;
// worker: two replicas; job: exits 3 at once. `init: true` makes stops fast.
const char* const project_yaml =
    "name: ops\n"
    "services:\n"
    "  db:\n"
    "    image: busybox\n"
    "    init: true\n"
    "    command: [\"sh\", \"-c\", \"echo db ready; echo db err >&2; exec sleep 300\"]\n"
    "  web:\n"
    "    image: busybox\n"
    "    init: true\n"
    "    command: [\"sh\", \"-c\", \"echo web one; echo web two; echo web three; exec httpd -f -p 80\"]\n"
    "    environment:\n"
    "      GREETING: hello\n"
    "    ports: [\"80\"]\n"
    "    depends_on: [db]\n"
    "  worker:\n"
    "    image: busybox\n"
    "    init: true\n"
    "    command: [\"sleep\", \"300\"]\n"
    "    scale: 2\n"
    "  job:\n"
    "    image: busybox\n"
    "    command: [\"sh\", \"-c\", \"exit 3\"]\n";

/// A scratch root, the project file in its own directory, and the census
/// taken before anything ran.
struct Fixture {
    OuterNetns outer;
    ScratchRoot scratch;
    berth::testing::Census baseline = berth::testing::take_census(scratch);
    std::filesystem::path dir = scratch.root().parent_path() / "ops";
    std::string file;

    Fixture() {
        std::filesystem::create_directories(dir);
        file = (dir / "compose.yaml").string();
        std::ofstream(file) << project_yaml;
    }

    /// `berth compose <verb> --file <file> <args>`.
    RunResult compose(std::vector<std::string> args, const std::string& input = {}) const {
        args.insert(args.begin() + 1, {"--file", file});
        args.insert(args.begin(), "compose");
        return scratch.berth(args, input, 120);
    }

    /// container name -> state, from `compose ps -a --format json`.
    std::map<std::string, std::string> states() const {
        auto r = compose({"ps", "-a", "--format", "json"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        std::map<std::string, std::string> out;
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            if (!line.empty()) {
                auto j = nlohmann::json::parse(line);
                out[j.at("Name").get<std::string>()] = j.at("State").get<std::string>();
            }
        }
        return out;
    }

    /// Polls `compose ps` until `name` is in `state` (at most 10 s).
    bool reaches(const std::string& name, const std::string& state) const {
        for (int i = 0; i < 100; ++i) {
            auto s = states();
            auto it = s.find(name);
            if ((it == s.end() && state.empty()) || (it != s.end() && it->second == state)) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }

    /// `compose logs <args>` once `expected` is in it (the container may not
    /// have written it yet), at most 10 s.
    RunResult logs_with(std::vector<std::string> args, const std::string& expected) const {
        args.insert(args.begin(), "logs");
        RunResult r;
        for (int i = 0; i < 100; ++i) {
            r = compose(args);
            if (r.exit_code != 0 || (r.out + r.err).find(expected) != std::string::npos) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return r;
    }

    void up() const {
        auto up = compose({"up", "-d", "db", "web", "worker"});
        INFO(up.out << up.err);
        REQUIRE(up.exit_code == 0);
    }

    /// down, then the census once the resolver (which lingers 2 s) is gone.
    void down_and_census() const {
        auto down = compose({"down", "-v"});
        INFO(down.err);
        CHECK(down.exit_code == 0);
        CHECK(states().empty());
        auto census = berth::testing::take_census(scratch);
        for (int i = 0; i < 80 && !(census == baseline); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            census = berth::testing::take_census(scratch);
        }
        INFO("before:\n" << baseline.describe() << "after:\n" << census.describe());
        CHECK(census == baseline);
    }
};

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("compose logs prefixes, tails and merges the services' output",
          "[compose][.root][root]") {
    Fixture fx;
    fx.up();

    auto all = fx.logs_with({"--no-color"}, "web three");
    INFO(all.out << all.err);
    REQUIRE(all.exit_code == 0);
    // Names padded to the widest ("worker-1"), then " | ".
    CHECK(all.out.find("web-1     | web one\nweb-1     | web two\nweb-1     | web three\n") !=
          std::string::npos);
    CHECK(all.out.find("db-1      | db ready\n") != std::string::npos);
    auto db_err = fx.logs_with({"--no-color", "db"}, "db err");
    CHECK(db_err.err.find("db-1  | db err\n") != std::string::npos);
    CHECK(db_err.out == "db-1  | db ready\n");

    auto tail = fx.compose({"logs", "--tail", "1", "web"});
    CHECK(tail.exit_code == 0);
    CHECK(tail.out == "web-1  | web three\n");

    auto bare = fx.compose({"logs", "--no-log-prefix", "web"});
    CHECK(bare.out == "web one\nweb two\nweb three\n");

    auto stamped = fx.compose({"logs", "-t", "--tail", "1", "web"});
    CHECK(std::regex_match(stamped.out,
                           std::regex("web-1  \\| \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z web three\n")));

    // Following ends when the followed containers stop.
    RunResult stop;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        stop = fx.compose({"stop", "web"});
    });
    auto followed = fx.compose({"logs", "-f", "--no-color", "web"});
    stopper.join();
    CHECK(stop.exit_code == 0);
    CHECK(followed.exit_code == 0);  // ended by itself, not killed by the harness timeout
    CHECK(followed.out.find("web-1  | web three\n") != std::string::npos);
    CHECK(fx.states()["ops-web-1"] == "exited");
    CHECK(fx.states()["ops-db-1"] == "running");

    auto unknown = fx.compose({"logs", "nosuch"});
    CHECK(unknown.exit_code != 0);
    CHECK(unknown.err.find("no such service: nosuch") != std::string::npos);
    fx.down_and_census();
}

TEST_CASE("compose exec runs in a replica with its env, -e, -w, --index and exit code",
          "[compose][.root][root]") {
    Fixture fx;
    fx.up();

    auto echo = fx.compose({"exec", "-T", "web", "sh", "-c", "echo $GREETING"});
    INFO(echo.err);
    CHECK(echo.exit_code == 0);
    CHECK(echo.out == "hello\n");

    auto code = fx.compose({"exec", "-T", "web", "sh", "-c", "exit 7"});
    CHECK(code.exit_code == 7);
    // Docker's codes for a program that is missing (127) or cannot run (126).
    CHECK(fx.compose({"exec", "-T", "web", "no-such-program"}).exit_code == 127);
    CHECK(fx.compose({"exec", "-T", "web", "/no/such"}).exit_code == 127);
    CHECK(fx.compose({"exec", "-T", "web", "/etc/passwd"}).exit_code == 126);

    auto envwd = fx.compose({"exec", "-T", "-e", "FOO=bar", "-w", "/tmp", "web", "sh", "-c",
                             "echo $FOO $(pwd)"});
    CHECK(envwd.exit_code == 0);
    CHECK(envwd.out == "bar /tmp\n");

    // Each replica is its own container: a file made in #2 is not in #1.
    auto mark = fx.compose({"exec", "-T", "--index", "2", "worker", "touch", "/tmp/two"});
    CHECK(mark.exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "--index", "2", "worker", "test", "-f", "/tmp/two"})
              .exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "worker", "test", "-f", "/tmp/two"}).exit_code == 1);

    auto no_third = fx.compose({"exec", "-T", "--index", "3", "worker", "true"});
    CHECK(no_third.exit_code == 1);
    CHECK(no_third.err.find("is not running container #3") != std::string::npos);

    auto not_running = fx.compose({"exec", "-T", "job", "true"});
    CHECK(not_running.exit_code == 1);
    CHECK(not_running.err.find("service \"job\" is not running") != std::string::npos);

    auto missing = fx.compose({"exec", "-T", "web", "/no/such/program"});
    CHECK(missing.exit_code != 0);  // the same code as `berth exec` gives
    CHECK(missing.err.find("/no/such/program") != std::string::npos);
    fx.down_and_census();
}

TEST_CASE("compose run makes one-off containers: deps, labels, --rm, exit code, -d",
          "[compose][.root][root]") {
    Fixture fx;
    {
        // --no-deps: nothing else is created.
        auto alone = fx.compose({"run", "--rm", "--no-deps", "-T", "web", "echo", "alone"});
        INFO(alone.out << alone.err);
        CHECK(alone.exit_code == 0);
        CHECK(alone.out == "alone\n");
        CHECK(fx.states().empty());
    }
    {
        // Dependencies start first; the exit code is the container's; --rm removes it.
        auto r = fx.compose({"run", "--rm", "-T", "-e", "FOO=x", "-w", "/tmp", "web", "sh", "-c",
                             "echo $FOO $GREETING $(pwd); exit 5"});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 5);
        CHECK(r.out == "x hello /tmp\n");
        CHECK(r.err.find(" Container ops-db-1  Started") != std::string::npos);
        auto s = fx.states();
        CHECK(s["ops-db-1"] == "running");
        CHECK(s.count("ops-web-1") == 0);
        auto oneoff = fx.scratch.berth(
            {"ps", "-a", "-q", "--filter", "label=com.docker.compose.oneoff=True"});
        CHECK(oneoff.exit_code == 0);
        CHECK(oneoff.out.empty());
    }
    {
        auto ep = fx.compose({"run", "--rm", "-T", "--entrypoint", "echo", "web", "via", "ep"});
        CHECK(ep.exit_code == 0);
        CHECK(ep.out == "via ep\n");
    }
    std::string name;
    {
        auto d = fx.compose({"run", "-d", "web", "sleep", "300"});
        INFO(d.err);
        REQUIRE(d.exit_code == 0);
        REQUIRE(!d.out.empty());
        name = d.out.substr(0, d.out.size() - 1);
        CHECK(std::regex_match(name, std::regex("ops-web-run-[0-9a-f]{12}")));
        auto labelled = fx.scratch.berth({"ps", "-q", "--no-trunc", "--filter",
                                          "label=com.docker.compose.oneoff=True", "--filter",
                                          "label=com.docker.compose.service=web"});
        CHECK(labelled.out.size() == 65);
        auto info = fx.scratch.berth({"inspect", "-f", "{{.State.Status}}", name});
        CHECK(info.out == "running\n");
        // A one-off container is not a replica: ps leaves it out.
        CHECK(fx.states().count(name) == 0);
    }
    {
        auto named = fx.compose({"run", "--rm", "-T", "--name", "custom-one", "web", "hostname"});
        CHECK(named.exit_code == 0);
        CHECK(!named.out.empty());
        CHECK(fx.scratch.berth({"inspect", "custom-one"}).exit_code != 0);
    }
    fx.down_and_census();
    CHECK(fx.scratch.berth({"inspect", name}).exit_code != 0);
}

TEST_CASE("compose stop, start, restart, pause, unpause, kill, wait and rm change states",
          "[compose][.root][root]") {
    Fixture fx;
    fx.up();
    auto before = fx.states();
    CHECK(before["ops-web-1"] == "running");
    CHECK(before["ops-worker-2"] == "running");

    auto stop = fx.compose({"stop", "web"});
    CHECK(stop.exit_code == 0);
    CHECK(stop.err.find(" Container ops-web-1  Stopped") != std::string::npos);
    auto s = fx.states();
    CHECK(s["ops-web-1"] == "exited");
    CHECK(s["ops-db-1"] == "running");

    auto start = fx.compose({"start", "web"});
    CHECK(start.exit_code == 0);
    CHECK(start.err.find(" Container ops-web-1  Started") != std::string::npos);
    CHECK(fx.states()["ops-web-1"] == "running");

    auto restart = fx.compose({"restart", "db"});
    CHECK(restart.exit_code == 0);
    CHECK(restart.err.find(" Container ops-db-1  Restarting") != std::string::npos);
    CHECK(restart.err.find(" Container ops-db-1  Started") != std::string::npos);
    CHECK(fx.states()["ops-db-1"] == "running");

    auto pause = fx.compose({"pause", "worker"});
    CHECK(pause.exit_code == 0);
    CHECK(pause.err.find(" Container ops-worker-2  Paused") != std::string::npos);
    s = fx.states();
    CHECK(s["ops-worker-1"] == "paused");
    CHECK(s["ops-worker-2"] == "paused");
    CHECK(fx.compose({"unpause", "worker"}).exit_code == 0);
    s = fx.states();
    CHECK(s["ops-worker-1"] == "running");
    CHECK(s["ops-worker-2"] == "running");

    auto kill = fx.compose({"kill", "-s", "KILL", "web"});
    CHECK(kill.exit_code == 0);
    CHECK(kill.err.find(" Container ops-web-1  Killed") != std::string::npos);
    auto killed = fx.compose({"wait", "web"});
    CHECK(killed.exit_code == 137);
    CHECK(killed.out == "container \"ops-web-1\" exited with status code 137\n");
    CHECK(fx.states()["ops-web-1"] == "exited");

    // The one-shot service: wait returns its exit code.
    CHECK(fx.compose({"up", "-d", "job"}).exit_code == 0);
    auto job = fx.compose({"wait", "job"});
    CHECK(job.exit_code == 3);
    CHECK(job.out.find("exited with status code 3") != std::string::npos);

    // rm asks first; "n" keeps the containers.
    auto asked = fx.compose({"rm", "web"}, "n\n");
    CHECK(asked.exit_code == 0);
    CHECK(asked.out.find("Going to remove ops-web-1") != std::string::npos);
    CHECK(fx.states().count("ops-web-1") == 1);
    // Only stopped containers are removed without -s.
    auto rm = fx.compose({"rm", "-f", "web", "db"});
    CHECK(rm.exit_code == 0);
    CHECK(rm.err.find(" Container ops-web-1  Removed") != std::string::npos);
    s = fx.states();
    CHECK(s.count("ops-web-1") == 0);
    CHECK(s["ops-db-1"] == "running");
    auto rms = fx.compose({"rm", "-f", "-s", "-v", "db"});
    CHECK(rms.exit_code == 0);
    CHECK(fx.states().count("ops-db-1") == 0);
    auto none = fx.compose({"rm", "-f", "db"});
    CHECK(none.exit_code == 0);
    CHECK(none.err.find("No stopped containers") != std::string::npos);

    // create makes containers without starting them; start then runs them.
    auto create = fx.compose({"create", "web"});
    INFO(create.err);
    CHECK(create.exit_code == 0);
    s = fx.states();
    CHECK(s["ops-web-1"] == "created");
    CHECK(s["ops-db-1"] == "created");
    CHECK(fx.compose({"start"}).exit_code == 0);
    s = fx.states();
    CHECK(s["ops-web-1"] == "running");
    CHECK(s["ops-db-1"] == "running");
    fx.down_and_census();
}

TEST_CASE("compose port, top, images, events and version report the project",
          "[compose][.root][root]") {
    Fixture fx;
    fx.up();

    auto port = fx.compose({"port", "web", "80"});
    INFO(port.err);
    REQUIRE(port.exit_code == 0);
    std::smatch m;
    REQUIRE(std::regex_match(port.out, m, std::regex("0\\.0\\.0\\.0:(\\d+)\n")));
    CHECK(std::stoi(m[1]) > 0);
    auto engine_port = fx.scratch.berth({"port", "ops-web-1"});
    CHECK(engine_port.out == "80/tcp -> 0.0.0.0:" + m[1].str() + "\n");
    auto wrong = fx.compose({"port", "web", "81"});
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.err.find("no port 81/tcp for container ops-web-1") != std::string::npos);
    CHECK(fx.compose({"port", "--protocol", "udp", "web", "80"}).exit_code == 1);

    auto top = fx.compose({"top", "web", "db"});
    INFO(top.err);
    CHECK(top.exit_code == 0);
    CHECK(top.out.find("ops-db-1\nUID") != std::string::npos);
    CHECK(top.out.find("ops-web-1\nUID") != std::string::npos);
    CHECK(top.out.find("httpd -f -p 80") != std::string::npos);
    CHECK(top.out.find("sleep 300") != std::string::npos);

    auto images = fx.compose({"images"});
    CHECK(images.exit_code == 0);
    CHECK(images.out.rfind("CONTAINER", 0) == 0);
    CHECK(std::regex_search(images.out, std::regex("ops-web-1 +busybox +latest +[0-9a-f]{12} ")));
    auto quiet = fx.compose({"images", "-q"});
    CHECK(std::regex_match(quiet.out, std::regex("[0-9a-f]{64}\n")));  // one image, once

    // events runs until interrupted (here: the harness's timeout kills it).
    RunResult stopped;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        stopped = fx.compose({"stop", "web"});
    });
    auto events = fx.scratch.berth({"compose", "events", "--file", fx.file, "--json"}, {}, 5);
    stopper.join();
    CHECK(stopped.exit_code == 0);
    bool saw_die = false;
    std::istringstream lines(events.out);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        saw_die |= j.at("action") == "die" && j.at("service") == "web" &&
                   j.at("attributes").at("name") == "ops-web-1";
    }
    CHECK(saw_die);

    // The journal replays: --since before the project came up and --until now
    // list what happened in order and return, a short-lived container's start
    // included; --until in the past ends at once.
    auto history = fx.scratch.berth(
        {"compose", "events", "--file", fx.file, "--json", "--since", "10m", "--until", "0s"}, {},
        10);
    INFO(history.err);
    CHECK(history.exit_code == 0);
    std::vector<std::string> web_actions;
    std::istringstream hist_lines(history.out);
    for (std::string line; std::getline(hist_lines, line);) {
        auto j = nlohmann::json::parse(line);
        CHECK(j.at("attributes").at("name").get<std::string>().rfind("ops-", 0) == 0);
        if (j.at("service") == "web") {
            web_actions.push_back(j.at("action").get<std::string>());
        }
    }
    CHECK(web_actions == std::vector<std::string>{"create", "start", "die", "stop"});
    auto only_worker = fx.scratch.berth({"compose", "events", "--file", fx.file, "--since",
                                         "10m", "--until", "0s", "worker"},
                                        {}, 10);
    CHECK(only_worker.exit_code == 0);
    CHECK(only_worker.out.find("container start") != std::string::npos);
    CHECK(only_worker.out.find("ops-web-1") == std::string::npos);
    auto bad_since = fx.scratch.berth({"compose", "events", "--file", fx.file, "--since", "soon"});
    CHECK(bad_since.exit_code == 1);
    CHECK(bad_since.err.find("--since: invalid time \"soon\"") != std::string::npos);

    auto version = fx.scratch.berth({"compose", "version", "--short"});
    CHECK(version.exit_code == 0);
    CHECK(std::regex_match(version.out, std::regex("\\d+\\.\\d+\\.\\d+\n")));
    fx.down_and_census();
}

TEST_CASE("compose cp copies files and trees both ways, into one replica with --index",
          "[compose][.root][root]") {
    Fixture fx;
    fx.up();
    auto host = fx.dir / "host";
    std::filesystem::create_directories(host / "tree" / "sub");
    std::ofstream(host / "note.txt") << "from host\n";
    std::ofstream(host / "tree" / "sub" / "leaf") << "leaf\n";

    auto in = fx.compose({"cp", (host / "note.txt").string(), "web:/tmp/note.txt"});
    INFO(in.err);
    CHECK(in.exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "web", "cat", "/tmp/note.txt"}).out == "from host\n");

    // A directory into an existing directory lands under its own name.
    CHECK(fx.compose({"cp", (host / "tree").string(), "web:/tmp"}).exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "web", "cat", "/tmp/tree/sub/leaf"}).out == "leaf\n");

    CHECK(fx.compose({"exec", "-T", "web", "sh", "-c",
                      "mkdir -p /tmp/made/deep && echo inside > /tmp/made/deep/f && "
                      "ln -s deep/f /tmp/made/link && head -c 200000 /dev/zero > /tmp/made/big"})
              .exit_code == 0);
    auto out = fx.compose({"cp", "web:/tmp/made", (host / "copied").string()});
    INFO(out.err);
    CHECK(out.exit_code == 0);
    CHECK(read_file(host / "copied" / "deep" / "f") == "inside\n");
    CHECK(std::filesystem::is_symlink(host / "copied" / "link"));
    CHECK(std::filesystem::read_symlink(host / "copied" / "link") == "deep/f");

    // A symlink in the container never leads out of it.
    CHECK(fx.compose({"exec", "-T", "web", "ln", "-s", "/", "/tmp/escape"}).exit_code == 0);
    auto esc = fx.compose({"cp", "web:/tmp/escape/etc/hostname", (host / "h").string()});
    CHECK(esc.exit_code == 0);
    CHECK(read_file(host / "h") != read_file("/etc/hostname"));

    auto one = fx.compose({"cp", "--index", "2", (host / "note.txt").string(), "worker:/tmp/n"});
    CHECK(one.exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "--index", "2", "worker", "cat", "/tmp/n"}).out ==
          "from host\n");
    CHECK(fx.compose({"exec", "-T", "--index", "1", "worker", "test", "-e", "/tmp/n"}).exit_code ==
          1);

    auto missing = fx.compose({"cp", "web:/no/such", (host / "x").string()});
    CHECK(missing.exit_code == 1);
    CHECK(!std::filesystem::exists(host / "x"));

    // "-": a tar stream on standard output, its top entry the source's name.
    auto streamed_out = fx.compose({"cp", "web:/tmp/made", "-"});
    INFO(streamed_out.err);
    CHECK(streamed_out.exit_code == 0);
    std::ofstream(host / "made.tar", std::ios::binary) << streamed_out.out;
    std::filesystem::create_directories(host / "untar");
    CHECK(berth::testing::run_process({"/usr/bin/tar", "-C", (host / "untar").string(), "-xf",
                                       (host / "made.tar").string()})
              .exit_code == 0);
    CHECK(read_file(host / "untar" / "made" / "deep" / "f") == "inside\n");
    CHECK(std::filesystem::read_symlink(host / "untar" / "made" / "link") == "deep/f");
    CHECK(std::filesystem::file_size(host / "untar" / "made" / "big") == 200000);  // several chunks
    // ... and on standard input (gzip too), into an existing directory only.
    std::filesystem::create_directories(host / "streamed");
    std::ofstream(host / "streamed" / "x.txt") << "via tar\n";
    auto tgz = berth::testing::run_process(
        {"/usr/bin/tar", "-C", host.string(), "-czf", "-", "streamed"});
    REQUIRE(tgz.exit_code == 0);
    auto streamed_in = fx.compose({"cp", "-", "web:/tmp"}, tgz.out);
    INFO(streamed_in.err);
    CHECK(streamed_in.exit_code == 0);
    CHECK(fx.compose({"exec", "-T", "web", "cat", "/tmp/streamed/x.txt"}).out == "via tar\n");
    auto no_dir = fx.compose({"cp", "-", "web:/no/such"}, tgz.out);
    CHECK(no_dir.exit_code == 1);
    CHECK(no_dir.err.find("could not find the directory /no/such") != std::string::npos);
    auto both = fx.compose({"cp", "-", "-"});
    CHECK(both.exit_code != 0);
    fx.down_and_census();
}
