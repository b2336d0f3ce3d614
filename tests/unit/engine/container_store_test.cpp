// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/fs.hpp"
#include "engine/containers/store.hpp"

using namespace berth;
using namespace berth::engine::containers;

namespace {

struct Scratch {
    fs::TempDir dir = fs::TempDir::create("/tmp", "berth-ctr-unit-").value();
    Paths paths;
    Scratch() {
        paths.root = dir.path() / "root";
        paths.run_root = dir.path() / "run";
    }
    ContainerStore store() const { return ContainerStore::open(paths).value(); }
};

ContainerRecord named(std::string name) {
    ContainerRecord r;
    r.name = std::move(name);
    r.config.image = "busybox";
    return r;
}

std::string id_of(char c) { return std::string(64, c); }

}  // namespace

TEST_CASE("container names: of twenty concurrent creates with one name exactly one wins",
          "[engine][containers]") {
    Scratch s;
    auto store = s.store();
    constexpr int n = 20;
    std::vector<Result<ContainerRecord>> results(n, Error(Errc::internal, "not run"));
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            results[i] = store.create(named("same"));
        });
    }
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    int won = 0;
    std::string winner;
    for (const auto& r : results) {
        if (r) {
            ++won;
            winner = r->id;
        } else {
            INFO(r.error().message());
            CHECK(r.error().code() == Errc::conflict);
        }
    }
    REQUIRE(won == 1);
    CHECK(store.list()->size() == 1);
    CHECK(store.get("same")->id == winner);
    // Nothing but the one reservation is left in the names directory.
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(s.paths.root / "names")) {
        names.push_back(e.path().filename());
    }
    CHECK(names == std::vector<std::string>{"same"});
}

TEST_CASE("container names: a reservation whose creator died is reclaimed, a held one is not",
          "[engine][containers]") {
    Scratch s;
    auto store = s.store();
    const auto file = s.paths.root / "names" / "web";
    SECTION("creator died between reserving and writing the record") {
        std::ofstream(file) << id_of('a');
        auto r = store.create(named("web"));
        INFO((r ? "" : r.error().message()));
        REQUIRE(r);
        CHECK(fs::read_file(file).value() == r->id);
    }
    SECTION("creator still between reserving and writing: its lock is held") {
        std::ofstream(file) << id_of('b');
        UniqueFd held(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(::flock(held.get(), LOCK_EX) == 0);
        auto r = store.create(named("web"));
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == Errc::conflict);
        CHECK(r.error().message().find("already in use") != std::string::npos);
        CHECK(fs::read_file(file).value() == id_of('b'));
    }
    SECTION("an empty reservation (torn by a power loss) whose lock is free") {
        std::ofstream{file};
        CHECK(store.create(named("web")));
    }
}

TEST_CASE("a container with a garbled record is listed as broken, keeps its name, and is removable",
          "[engine][containers]") {
    Scratch s;
    auto store = s.store();
    auto rec = store.create(named("garbled"));
    REQUIRE(rec);
    std::ofstream(s.paths.container(rec->id) / "record.json") << "{\"id\": [garbage";
    auto all = store.list();
    REQUIRE(all);
    REQUIRE(all->size() == 1);
    CHECK(all->front().id == rec->id);
    CHECK(all->front().name == "garbled");
    CHECK_FALSE(all->front().broken.empty());
    auto by_name = store.get("garbled");
    REQUIRE(by_name);
    CHECK(by_name->id == rec->id);
    CHECK_FALSE(by_name->broken.empty());
    auto by_prefix = store.get(rec->id.substr(0, 12));
    REQUIRE(by_prefix);
    CHECK_FALSE(by_prefix->broken.empty());
    // Its name stays taken: the container still exists.
    auto again = store.create(named("garbled"));
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == Errc::conflict);
    REQUIRE(store.remove(*by_name));
    CHECK(store.list()->empty());
    CHECK(store.create(named("garbled")));
}

TEST_CASE("a running state recorded in another boot reads as exited (255)",
          "[engine][containers]") {
    Scratch s;
    auto store = s.store();
    auto rec = store.create(named("booted"));
    REQUIRE(rec);
    // Pids that are alive now (this process) but recorded with another boot id:
    // after a reboot they may name unrelated processes.
    ContainerState st;
    st.status = Status::running;
    st.pid = ::getpid();
    st.pid_start_time = process_start_time(::getpid());
    st.supervisor_pid = ::getpid();
    st.supervisor_start_time = st.pid_start_time;
    REQUIRE_FALSE(current_boot_id().empty());
    st.boot_id = current_boot_id();
    REQUIRE(store.write_state(rec->id, st));
    CHECK(store.state(rec->id)->status == Status::running);
    st.boot_id = "00000000-0000-0000-0000-000000000000";
    REQUIRE(store.write_state(rec->id, st));
    auto now = store.state(rec->id);
    REQUIRE(now);
    CHECK(now->status == Status::exited);
    CHECK(now->exit_code == 255);
    CHECK(now->pid == 0);
    CHECK(now->supervisor_pid == 0);
}

TEST_CASE("a zombie is not a live process, whatever its start time", "[engine][containers]") {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::_exit(0);
    }
    // Not reaped yet: /proc still shows it, in state Z.
    uint64_t started = 0;
    for (int i = 0; i < 200; ++i) {
        auto stat = fs::read_file("/proc/" + std::to_string(child) + "/stat");
        if (stat && stat->find(") Z ") != std::string::npos) {
            started = process_start_time(child);
            break;
        }
        ::usleep(5000);
    }
    REQUIRE(started != 0);
    CHECK_FALSE(process_matches(child, started));
    CHECK(process_matches(::getpid(), process_start_time(::getpid())));
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(process_start_time(child) == 0);
}
