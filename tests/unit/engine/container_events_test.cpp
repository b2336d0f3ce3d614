// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>

#include "common/fs.hpp"
#include "engine/containers/events.hpp"

using namespace berth;
using namespace berth::engine::containers;

namespace {

struct Journal {
    fs::TempDir dir = fs::TempDir::create("/tmp", "berth-events-unit-").value();
    Paths paths;
    Journal() {
        paths.root = dir.path() / "root";
        paths.run_root = dir.path() / "run";
    }
};

ContainerRecord container(const std::string& name) {
    ContainerRecord r;
    r.id = std::string(64, 'a');
    r.name = name;
    r.config.image = "busybox";
    r.config.labels = {{"com.docker.compose.project", "demo"},
                       {"com.docker.compose.service", "web"}};
    return r;
}

constexpr int64_t ns = 1000000000;

}  // namespace

TEST_CASE("events: a recorded event reads back in the Engine API's format",
          "[engine][events]") {
    Journal j;
    EventReader reader(events_path(j.paths));
    CHECK(reader.next().empty());  // no journal yet
    record_event(j.paths, container("demo-web-1"), "create");
    record_event(j.paths, container("demo-web-1"), "die", {{"exitCode", "3"}});
    auto events = reader.next();
    REQUIRE(events.size() == 2);
    CHECK(events[0].action == "create");
    CHECK(events[0].type == "container");
    CHECK(events[0].id == std::string(64, 'a'));
    CHECK(events[0].attributes.at("name") == "demo-web-1");
    CHECK(events[0].attributes.at("image") == "busybox");
    CHECK(events[0].attributes.at("com.docker.compose.project") == "demo");
    CHECK(events[1].attributes.at("exitCode") == "3");
    CHECK(events[1].time_nano >= events[0].time_nano);
    CHECK(reader.next().empty());  // nothing new

    // The line itself carries Docker's fields.
    std::ifstream in(events_path(j.paths));
    std::string line;
    std::getline(in, line);
    for (const char* key : {"\"status\":\"create\"", "\"Type\":\"container\"", "\"Action\":\"create\"",
                            "\"Actor\":{", "\"scope\":\"local\"", "\"timeNano\":", "\"from\":\"busybox\""}) {
        CHECK(line.find(key) != std::string::npos);
    }
}

TEST_CASE("events: a partial line waits, a garbled one is skipped, a rotation is followed",
          "[engine][events]") {
    Journal j;
    const auto path = events_path(j.paths);
    record_event(j.paths, container("one"), "start");
    EventReader reader(path);
    REQUIRE(reader.next().size() == 1);
    {
        std::ofstream out(path, std::ios::app);
        out << "not json\n" << Event{"container", "die", "x", {}, 1}.to_json_line().substr(0, 20);
    }
    CHECK(reader.next().empty());
    {
        std::ofstream out(path, std::ios::app);
        out << Event{"container", "die", "x", {}, 1}.to_json_line().substr(20);
    }
    auto finished = reader.next();
    REQUIRE(finished.size() == 1);
    CHECK(finished[0].action == "die");
    // Rotation as the writer does it: the reader finishes the old file first.
    record_event(j.paths, container("two"), "stop");
    auto older = path;
    older += ".1";
    std::filesystem::rename(path, older);
    record_event(j.paths, container("three"), "destroy");
    auto after = reader.next();
    REQUIRE(after.size() == 2);
    CHECK(after[0].attributes.at("name") == "two");
    CHECK(after[1].attributes.at("name") == "three");
    // A new reader starts with the older generation.
    EventReader fresh(path);
    CHECK(fresh.next().size() == 4);
}

TEST_CASE("events: --since and --until take Unix times, RFC 3339 and durations",
          "[engine][events]") {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    const int64_t now_ns = int64_t{1700000000} * ns;
    CHECK(parse_event_time("1700000000", now).value() == now_ns);
    CHECK(parse_event_time("1700000000.5", now).value() == now_ns + ns / 2);
    CHECK(parse_event_time("10m", now).value() == now_ns - 600 * ns);
    CHECK(parse_event_time("1h30m", now).value() == now_ns - 5400 * ns);
    CHECK(parse_event_time("1.5s", now).value() == now_ns - 3 * ns / 2);
    CHECK(parse_event_time("0s", now).value() == now_ns);
    CHECK(parse_event_time("2023-11-14T22:13:20Z", now).value() == now_ns);
    CHECK(parse_event_time("2023-11-14T23:13:20+01:00", now).value() == now_ns);
    CHECK(parse_event_time("2023-11-14T22:13:20.25Z", now).value() == now_ns + ns / 4);
    // Without a zone: local time, as Docker.
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    CHECK(parse_event_time("2023-11-14", now).value() == int64_t{1699920000} * ns);
    CHECK(parse_event_time("2023-11-14T22:13:20", now).value() == now_ns);
    for (const char* bad : {"", "yesterday", "10x", "2023-13-45", "2023-11-14T22:13", "1.2.3",
                            "2023-11-14T22:13:20Zjunk"}) {
        INFO(bad);
        auto r = parse_event_time(bad, now);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == Errc::invalid_argument);
    }
}
