// SPDX-License-Identifier: Apache-2.0
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "compose/executor.hpp"

using namespace berth::compose;
using berth::Errc;
using berth::Error;
using berth::Result;

namespace {

/// Records the order in which actions start and end, and the most that ran at once.
struct Trace {
    std::mutex mu;
    std::vector<std::string> events;
    std::atomic<int> running{0};
    std::atomic<int> most{0};

    std::function<Result<void>()> action(const std::string& name,
                                         std::chrono::milliseconds busy = {}) {
        return [this, name, busy]() -> Result<void> {
            int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            {
                std::lock_guard lk(mu);
                events.push_back("start " + name);
            }
            std::this_thread::sleep_for(busy);
            {
                std::lock_guard lk(mu);
                events.push_back("end " + name);
            }
            --running;
            return {};
        };
    }

    [[nodiscard]] std::ptrdiff_t at(const std::string& event) {
        std::lock_guard lk(mu);
        auto it = std::find(events.begin(), events.end(), event);
        REQUIRE(it != events.end());
        return it - events.begin();
    }
};

}  // namespace

TEST_CASE("graph run: a node starts after its dependencies end, independent ones overlap",
          "[compose][executor]") {
    Trace t;
    using namespace std::chrono_literals;
    std::vector<GraphNode> nodes{
        {"db", {}, {}, t.action("db", 60ms)},
        {"cache", {}, {}, t.action("cache", 60ms)},
        {"api", {"db", "cache"}, {}, t.action("api")},
        {"web", {"api", "not-in-the-run"}, {}, t.action("web")},
    };
    auto failures = run_graph(std::move(nodes), {});
    CHECK(failures.empty());
    CHECK(t.at("end db") < t.at("start api"));
    CHECK(t.at("end cache") < t.at("start api"));
    CHECK(t.at("end api") < t.at("start web"));
    CHECK(t.most.load() == 2);  // db and cache at once
}

TEST_CASE("graph run: a node does not wait for a level, only for its own dependencies",
          "[compose][executor]") {
    Trace t;
    using namespace std::chrono_literals;
    // fast -> after_fast must not wait for slow, which is on the same level as fast.
    std::vector<GraphNode> nodes{
        {"slow", {}, {}, t.action("slow", 300ms)},
        {"fast", {}, {}, t.action("fast")},
        {"after_fast", {"fast"}, {}, t.action("after_fast")},
    };
    auto failures = run_graph(std::move(nodes), {});
    CHECK(failures.empty());
    CHECK(t.at("end after_fast") < t.at("end slow"));
}

TEST_CASE("graph run: the parallel limit bounds the actions running at once",
          "[compose][executor]") {
    Trace t;
    using namespace std::chrono_literals;
    std::vector<GraphNode> nodes;
    for (int i = 0; i < 8; ++i) {
        nodes.push_back({"n" + std::to_string(i), {}, {}, t.action("n" + std::to_string(i), 20ms)});
    }
    GraphRunOptions opts;
    opts.parallel_limit = 3;
    CHECK(run_graph(std::move(nodes), opts).empty());
    CHECK(t.most.load() <= 3);
    CHECK(t.most.load() >= 2);
    std::lock_guard lk(t.mu);
    CHECK(t.events.size() == 16);
}

TEST_CASE("graph run: a gate is polled until it opens, and its error fails the node",
          "[compose][executor]") {
    Trace t;
    std::atomic<int> asked{0};
    GraphRunOptions opts;
    opts.poll = std::chrono::milliseconds(5);
    std::vector<GraphNode> nodes{
        {"db", {}, {}, t.action("db")},
        {"api", {"db"}, [&]() -> Result<bool> { return ++asked >= 3; }, t.action("api")},
        {"bad", {"db"},
         []() -> Result<bool> { return Error(Errc::failed_precondition, "db is unhealthy"); },
         t.action("bad")},
        {"after_bad", {"bad"}, {}, t.action("after_bad")},
    };
    auto failures = run_graph(std::move(nodes), opts);
    CHECK(asked.load() == 3);
    CHECK(t.at("end db") < t.at("start api"));
    REQUIRE(failures.size() == 2);
    CHECK(failures.at("bad").message() == "db is unhealthy");
    CHECK(failures.at("after_bad").message() == "dependency failed to start: service bad");
    std::lock_guard lk(t.mu);
    CHECK(std::find(t.events.begin(), t.events.end(), "start bad") == t.events.end());
    CHECK(std::find(t.events.begin(), t.events.end(), "start after_bad") == t.events.end());
}

TEST_CASE("graph run: without propagation a failed node's dependents still run",
          "[compose][executor]") {
    Trace t;
    GraphRunOptions opts;
    opts.propagate_failure = false;
    std::vector<GraphNode> nodes{
        {"web", {}, {}, []() -> Result<void> { return Error(Errc::internal, "stop failed"); }},
        {"db", {"web"}, {}, t.action("db")},
    };
    auto failures = run_graph(std::move(nodes), opts);
    REQUIRE(failures.size() == 1);
    CHECK(failures.at("web").message() == "stop failed");
    CHECK(t.at("end db") >= 0);
}

TEST_CASE("graph run: nodes on a cycle fail, the others run", "[compose][executor]") {
    Trace t;
    std::vector<GraphNode> nodes{
        {"a", {"b"}, {}, t.action("a")},
        {"b", {"a"}, {}, t.action("b")},
        {"c", {}, {}, t.action("c")},
        {"throws", {}, {}, []() -> Result<void> { throw std::runtime_error("boom"); }},
    };
    auto failures = run_graph(std::move(nodes), {});
    CHECK(failures.count("a") == 1);
    CHECK(failures.count("b") == 1);
    CHECK(failures.at("throws").message() == "boom");
    CHECK(failures.count("c") == 0);
    std::lock_guard lk(t.mu);
    CHECK(t.events == std::vector<std::string>{"start c", "end c"});
}
