// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "volumes/mount_plan.hpp"
#include "volumes/volume_store.hpp"

using namespace berth;
using namespace berth::volumes;

namespace {

struct Scratch {
    fs::TempDir dir = fs::TempDir::create("/tmp", "berth-vol-unit-").value();
    Paths paths;
    Scratch() {
        paths.root = dir.path() / "root";
        paths.run_root = dir.path() / "run";
    }
    VolumeStore store() const { return VolumeStore::open(paths).value(); }
};

void write_file(const std::filesystem::path& p, const std::string& data) {
    std::ofstream(p) << data;
}

std::string read(const std::filesystem::path& p) { return fs::read_file(p).value(); }

CreateOptions opts_of(std::string name, std::map<std::string, std::string> labels = {},
                      std::map<std::string, std::string> options = {}, bool anonymous = false,
                      std::string driver = "local") {
    CreateOptions o;
    o.name = std::move(name);
    o.labels = std::move(labels);
    o.options = std::move(options);
    o.anonymous = anonymous;
    o.driver = std::move(driver);
    return o;
}

PrepareOptions for_container(std::string id) {
    PrepareOptions o;
    o.container_id = std::move(id);
    return o;
}

}  // namespace

TEST_CASE("create, get, list and inspect a volume", "[volumes]") {
    Scratch s;
    auto store = s.store();
    auto v = store.create(opts_of("data1", {{"tier", "db"}}));
    REQUIRE(v);
    CHECK(v->mountpoint == s.paths.volumes() / "data1" / "_data");
    CHECK(std::filesystem::is_directory(v->mountpoint));
    auto j = v->inspect_json();
    CHECK(j["Name"] == "data1");
    CHECK(j["Driver"] == "local");
    CHECK(j["Scope"] == "local");
    CHECK(j["Labels"]["tier"] == "db");
    CHECK(j["Options"].is_null());
    CHECK(j["Mountpoint"] == v->mountpoint.string());
    CHECK(j["CreatedAt"].get<std::string>().size() == 20);

    auto anon = store.create(opts_of("", {}, {}, true));
    REQUIRE(anon);
    CHECK(anon->name.size() == 64);
    CHECK(anon->labels.count(std::string(anonymous_label)) == 1);

    auto all = store.list();
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    std::set<std::string> names{(*all)[0].name, (*all)[1].name};
    CHECK(names.count("data1") == 1);

    auto got = store.get("data1");
    REQUIRE(got);
    CHECK(got->labels == v->labels);
    CHECK(store.get("nope").error().message() == "get nope: no such volume");
    CHECK(store.get("../etc").error().code() == Errc::not_found);
}

TEST_CASE("create is idempotent with the same options and refuses different ones", "[volumes]") {
    Scratch s;
    auto store = s.store();
    std::map<std::string, std::string> opts{{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m"}};
    auto a = store.create(opts_of("same", {}, opts));
    REQUIRE(a);
    write_file(a->mountpoint / "f", "keep");
    auto b = store.create(opts_of("same", {}, opts));
    REQUIRE(b);
    CHECK(b->created_at == a->created_at);
    CHECK(read(a->mountpoint / "f") == "keep");
    auto c = store.create(opts_of("same"));
    REQUIRE_FALSE(c);
    CHECK(c.error().code() == Errc::conflict);
    CHECK(read(a->mountpoint / "f") == "keep");
}

TEST_CASE("bad names, drivers and options leave nothing behind", "[volumes]") {
    Scratch s;
    auto store = s.store();
    auto bad = store.create(opts_of("-bad"));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == Errc::invalid_argument);
    CHECK(bad.error().message().find("create -bad: \"-bad\" includes invalid characters") == 0);
    CHECK_FALSE(store.create(opts_of("a/b")));
    CHECK_FALSE(store.create(opts_of("..")));
    auto driver = store.create(opts_of("okname", {}, {}, false, "rexray"));
    REQUIRE_FALSE(driver);
    CHECK(driver.error().message() ==
          "create okname: error looking up volume plugin rexray: plugin \"rexray\" not found");
    auto opt = store.create(opts_of("okname", {}, {{"size", "1g"}}));
    REQUIRE_FALSE(opt);
    CHECK(opt.error().message() == "create okname: invalid option: \"size\"");
    auto nodev = store.create(opts_of("okname", {}, {{"type", "tmpfs"}}));
    REQUIRE_FALSE(nodev);
    CHECK(nodev.error().message() == "create okname: missing required option: \"device\"");
    CHECK(store.list()->empty());
    // Only the volumes directory itself: no temp or half-made entries.
    CHECK(std::filesystem::is_empty(s.paths.volumes()));
}

TEST_CASE("rm refuses a volume in use and keeps its data", "[volumes]") {
    Scratch s;
    auto store = s.store();
    auto v = store.create(opts_of("busy")).value();
    write_file(v.mountpoint / "f", "data");
    auto in_use = [](const std::string& n) { return n == "busy"; };
    auto r = store.remove("busy", false, in_use);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::conflict);
    CHECK(r.error().message() == "remove busy: volume is in use");
    auto forced = store.remove("busy", true, in_use);
    CHECK_FALSE(forced);
    CHECK(read(v.mountpoint / "f") == "data");

    // A holder recorded by acquire() counts as in use too.
    REQUIRE(store.acquire("busy", "c1"));
    CHECK_FALSE(store.remove("busy", false, {}));
    REQUIRE(store.release("busy", "c1"));
    CHECK(store.holders("busy")->empty());
    REQUIRE(store.remove("busy", false, {}));
    CHECK_FALSE(std::filesystem::exists(s.paths.volumes() / "busy"));
    CHECK(store.remove("busy", false, {}).error().code() == Errc::not_found);
    CHECK(store.remove("busy", true, {}));
}

TEST_CASE("prune removes only unused anonymous volumes unless all", "[volumes]") {
    Scratch s;
    auto store = s.store();
    auto named = store.create(opts_of("named")).value();
    write_file(named.mountpoint / "f", "named data");
    auto anon_free = store.create(opts_of("", {}, {}, true)).value();
    write_file(anon_free.mountpoint / "f", "12345");
    auto anon_used = store.create(opts_of("", {}, {}, true)).value();
    auto used_named = store.create(opts_of("usednamed")).value();
    std::set<std::string> used{anon_used.name, used_named.name};
    auto in_use = [&](const std::string& n) { return used.count(n) != 0; };

    auto report = store.prune(false, in_use);
    REQUIRE(report);
    CHECK(report->removed == std::vector<std::string>{anon_free.name});
    CHECK(report->reclaimed_bytes == 5);
    CHECK(read(named.mountpoint / "f") == "named data");

    auto all = store.prune(true, in_use);
    REQUIRE(all);
    CHECK(all->removed == std::vector<std::string>{"named"});
    auto left = store.list().value();
    std::set<std::string> names;
    for (const auto& v : left) {
        names.insert(v.name);
    }
    CHECK(names == used);
}

TEST_CASE("prune honours label filters", "[volumes]") {
    Scratch s;
    auto store = s.store();
    REQUIRE(store.create(opts_of("keep1", {{"keep", "yes"}})));
    REQUIRE(store.create(opts_of("drop1", {{"env", "ci"}})));
    auto r = store.prune(true, {}, {"env=ci"});
    REQUIRE(r);
    CHECK(r->removed == std::vector<std::string>{"drop1"});
    auto r2 = store.prune(true, {}, {"keep!=yes"});
    REQUIRE(r2);
    CHECK(r2->removed.empty());
    CHECK(store.get("keep1"));
}

TEST_CASE("a volume's data survives removal and recreation of the mount plan", "[volumes]") {
    Scratch s;
    auto store = s.store();
    std::vector<MountSpec> mounts{parse_volume_flag("keep:/data").value(),
                                  parse_volume_flag("/scratch").value()};
    auto first = prepare_mounts(store, mounts, for_container("c1"));
    REQUIRE(first);
    REQUIRE(first->oci_mounts.size() == 2);
    CHECK(first->oci_mounts[0]["type"] == "bind");
    CHECK(first->oci_mounts[0]["destination"] == "/data");
    CHECK(first->oci_mounts[0]["options"] ==
          nlohmann::json::array({"rbind", "rprivate"}));
    REQUIRE(first->anonymous_volumes.size() == 1);
    auto data = std::filesystem::path(first->oci_mounts[0]["source"].get<std::string>());
    write_file(data / "db", "precious");
    REQUIRE(release_mounts(store, first->acquired_volumes, "c1"));
    // `rm -v` of the container removes its anonymous volume, never the named one.
    for (const auto& a : first->anonymous_volumes) {
        REQUIRE(store.remove(a, false, {}));
    }
    auto second = prepare_mounts(store, mounts, for_container("c2"));
    REQUIRE(second);
    CHECK(second->oci_mounts[0]["source"] == data.string());
    CHECK(read(data / "db") == "precious");
    CHECK(second->anonymous_volumes.size() == 1);
    CHECK(second->anonymous_volumes != first->anonymous_volumes);
    CHECK(store.get("keep")->populated);
}

TEST_CASE("mount plan: binds, tmpfs and refused sources", "[volumes]") {
    Scratch s;
    auto store = s.store();
    auto host = s.dir.path() / "host";
    std::filesystem::create_directories(host);
    std::vector<MountSpec> mounts{
        parse_mount_flag("type=bind,src=" + host.string() + ",dst=/h,ro,bind-propagation=rshared")
            .value(),
        parse_tmpfs_flag("/t:size=64m,mode=1777,exec").value(),
    };
    auto p = prepare_mounts(store, mounts, for_container("c"));
    REQUIRE(p);
    CHECK(p->oci_mounts[0] == nlohmann::json{{"destination", "/h"},
                                             {"type", "bind"},
                                             {"source", host.string()},
                                             {"options", {"rbind", "ro", "rshared"}}});
    CHECK(p->oci_mounts[1] ==
          nlohmann::json{{"destination", "/t"},
                         {"type", "tmpfs"},
                         {"source", "tmpfs"},
                         {"options", {"nosuid", "nodev", "mode=1777", "size=64m", "exec"}}});

    // --mount refuses a missing source; -v creates it.
    auto missing = (s.dir.path() / "missing").string();
    std::vector<MountSpec> strict{parse_mount_flag("type=bind,src=" + missing + ",dst=/m").value()};
    auto refused = prepare_mounts(store, strict, for_container("c"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message() ==
          "invalid mount config for type \"bind\": bind source path does not exist: " + missing);
    CHECK_FALSE(std::filesystem::exists(missing));
    std::vector<MountSpec> lenient{parse_volume_flag(missing + ":/m").value()};
    REQUIRE(prepare_mounts(store, lenient, for_container("c")));
    CHECK(std::filesystem::is_directory(missing));
}

TEST_CASE("a failing mount plan undoes its volumes", "[volumes]") {
    Scratch s;
    auto store = s.store();
    std::vector<MountSpec> mounts{
        parse_volume_flag("/anon").value(),
        parse_volume_flag("named2:/n").value(),
        parse_mount_flag("type=bind,src=/nonexistent-berth-path,dst=/x").value(),
    };
    auto p = prepare_mounts(store, mounts, for_container("c"));
    REQUIRE_FALSE(p);
    auto left = store.list().value();
    // The named volume stays (created on demand, like Docker), unused; the
    // anonymous one is gone.
    REQUIRE(left.size() == 1);
    CHECK(left[0].name == "named2");
    CHECK(store.holders("named2")->empty());
}

TEST_CASE("duplicate targets are refused before anything is created", "[volumes]") {
    Scratch s;
    auto store = s.store();
    std::vector<MountSpec> mounts{parse_volume_flag("/d").value(),
                                  parse_volume_flag("v2:/d/.").value()};
    auto p = prepare_mounts(store, mounts, for_container("c"));
    REQUIRE_FALSE(p);
    CHECK(p.error().message() == "Duplicate mount point: /d");
    CHECK(store.list()->empty());
}
