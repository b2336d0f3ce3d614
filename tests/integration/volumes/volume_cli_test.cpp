// SPDX-License-Identifier: Apache-2.0
// The volume commands through the built binary: Docker's output and exit codes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/harness.hpp"
#include "volumes/volume_store.hpp"

using namespace berth;
namespace fsys = std::filesystem;

TEST_CASE("volume create, ls, inspect, rm and prune behave as Docker's", "[volumes][.root]") {
    testing::ScratchRoot s;
    auto created = s.berth({"volume", "create", "--label", "tier=db", "dbdata"});
    REQUIRE(created.exit_code == 0);
    CHECK(created.out == "dbdata\n");
    auto generated = s.berth({"volume", "create"});
    REQUIRE(generated.exit_code == 0);
    CHECK(generated.out.size() == 65);

    auto ls = s.berth({"volume", "ls", "--filter", "label=tier=db"});
    REQUIRE(ls.exit_code == 0);
    CHECK(ls.out == "DRIVER    VOLUME NAME\nlocal     dbdata\n");
    auto quiet = s.berth({"volume", "ls", "-q", "-f", "dangling=true", "-f", "name=dbd"});
    CHECK(quiet.out == "dbdata\n");

    auto inspect = s.berth({"volume", "inspect", "dbdata"});
    REQUIRE(inspect.exit_code == 0);
    auto j = nlohmann::json::parse(inspect.out);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["Name"] == "dbdata");
    CHECK(j[0]["Driver"] == "local");
    CHECK(j[0]["Scope"] == "local");
    CHECK(j[0]["Labels"]["tier"] == "db");
    CHECK(j[0]["Options"].is_null());
    CHECK(j[0]["Mountpoint"] == (s.root() / "volumes" / "dbdata" / "_data").string());
    auto fmt = s.berth({"volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "dbdata"});
    CHECK(fmt.out == "dbdata local\n");
    auto missing = s.berth({"volume", "inspect", "nosuch"});
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("No such volume: nosuch") != std::string::npos);

    auto bad = s.berth({"volume", "create", "bad/name"});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("\"bad/name\" includes invalid characters for a local volume name") !=
          std::string::npos);
    auto plugin = s.berth({"volume", "create", "-d", "nfsplug", "v2"});
    CHECK(plugin.exit_code != 0);
    CHECK(plugin.err.find("plugin \"nfsplug\" not found") != std::string::npos);
    CHECK(s.berth({"volume", "ls", "-q"}).out.find("v2") == std::string::npos);

    // In use (a holder, as a running container has): rm and prune -a refuse it.
    Paths p;
    p.root = s.root();
    p.run_root = s.run_root();
    auto store = volumes::VolumeStore::open(p).value();
    REQUIRE(store.acquire("dbdata", "container1"));
    auto rm_busy = s.berth({"volume", "rm", "dbdata"});
    CHECK(rm_busy.exit_code == 1);
    CHECK(rm_busy.err.find("remove dbdata: volume is in use") != std::string::npos);
    auto dangling = s.berth({"volume", "ls", "-q", "-f", "dangling=false"});
    CHECK(dangling.out == "dbdata\n");

    // prune without -a keeps named volumes; with -a only unused ones go.
    auto prune = s.berth({"volume", "prune", "-f"});
    REQUIRE(prune.exit_code == 0);
    CHECK(prune.out == "Total reclaimed space: 0B\n");
    auto prune_all = s.berth({"volume", "prune", "-a", "-f"});
    REQUIRE(prune_all.exit_code == 0);
    CHECK(prune_all.out == "Deleted Volumes:\n" + generated.out + "\nTotal reclaimed space: 0B\n");
    CHECK(fsys::exists(s.root() / "volumes" / "dbdata" / "_data"));

    REQUIRE(store.release("dbdata", "container1"));
    auto rm = s.berth({"volume", "rm", "dbdata"});
    CHECK(rm.exit_code == 0);
    CHECK(rm.out == "dbdata\n");
    CHECK(s.berth({"volume", "rm", "dbdata"}).exit_code == 1);
    CHECK(s.berth({"volume", "rm", "-f", "dbdata"}).exit_code == 0);
    CHECK(s.berth({"volume", "ls", "-q"}).out.empty());
}
