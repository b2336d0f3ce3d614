// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "common/boot_id.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/paths.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/store.hpp"
#include "tests/unit/engine/image_tar.hpp"

using namespace berth::engine::images;
namespace stdfs = std::filesystem;

namespace {

struct StoreFixture {
    berth::fs::TempDir dir =
        berth::fs::TempDir::create(stdfs::temp_directory_path(), "berth-store-").value();
    berth::Paths paths;
    StoreFixture() {
        paths.root = dir.path() / "root";
        paths.run_root = dir.path() / "run";
    }
    ImageStore open() { return ImageStore::open(paths).value(); }
};

/// Stores a one-layer image whose only file is `name` with `content`.
berth::Result<Image> add_image(ImageStore& store, const std::string& name,
                               const std::string& content, const std::string& tag) {
    std::string tar = berth::testing::RawTar().file(name, content).finish();
    auto layer = store.put_blob(tar);
    REQUIRE(layer);
    nlohmann::json cfg = {{"architecture", "amd64"},
                          {"os", "linux"},
                          {"created", "2020-01-01T00:00:00Z"},
                          {"config", {{"Cmd", {"/" + name}}, {"Labels", {{"tag", tag}}}}},
                          {"rootfs", {{"type", "layers"}, {"diff_ids", {layer->str()}}}}};
    auto c = store.put_blob(cfg.dump());
    REQUIRE(c);
    nlohmann::json man = {
        {"schemaVersion", 2},
        {"mediaType", media::oci_manifest},
        {"config", {{"mediaType", media::oci_config}, {"digest", c->str()}, {"size", cfg.dump().size()}}},
        {"layers", {{{"mediaType", media::oci_layer}, {"digest", layer->str()}, {"size", tar.size()}}}}};
    auto m = store.put_blob(man.dump());
    REQUIRE(m);
    return store.commit_image(m->str(), {tag});
}

}  // namespace

TEST_CASE("store: busybox is seeded on first use", "[engine][images]") {
    StoreFixture f;
    auto store = f.open();
    auto none = store.find("busybox");
    REQUIRE_FALSE(none);
    CHECK(none.error().code() == berth::Errc::not_found);
    CHECK(none.error().message() == "No such image: busybox");

    auto img = store.resolve("busybox");
    REQUIRE(img);
    CHECK(img->repo_tags == std::vector<std::string>{"docker.io/library/busybox:latest"});
    CHECK(img->config.cmd == std::vector<std::string>{"sh"});
    REQUIRE(img->config.env.size() == 1);
    CHECK(img->config.env[0].rfind("PATH=/usr/local/sbin:", 0) == 0);
    REQUIRE(img->layers.size() == 1);
    auto fs = img->layers[0];
    struct stat bb {};
    struct stat sh {};
    REQUIRE(::lstat((fs / "bin/busybox").c_str(), &bb) == 0);
    CHECK((bb.st_mode & 0111) != 0);
    // every applet is a hard link to the one binary
    bool found_sh = ::lstat((fs / "bin/sh").c_str(), &sh) == 0;
    REQUIRE(found_sh);
    CHECK(sh.st_ino == bb.st_ino);
    auto passwd = berth::fs::read_file(fs / "etc/passwd");
    REQUIRE(passwd);
    CHECK(passwd->find("root:x:0:0:") != std::string::npos);
    CHECK(passwd->find("nobody:x:65534:65534:") != std::string::npos);
    CHECK(berth::fs::read_file(fs / "etc/group")->find("nogroup:x:65534:") != std::string::npos);
    struct stat tmp {};
    REQUIRE(::lstat((fs / "tmp").c_str(), &tmp) == 0);
    CHECK((tmp.st_mode & 07777) == 01777);
    CHECK(img->size > 0);

    // the same reference in every form, and the id forms
    for (const char* ref : {"busybox:latest", "docker.io/library/busybox", "library/busybox"}) {
        auto again = store.resolve(ref);
        REQUIRE(again);
        CHECK(again->id == img->id);
    }
    CHECK(store.find(img->id)->id == img->id);
    CHECK(store.find(img->id.substr(7, 12))->id == img->id);
    CHECK(store.find(img->id.substr(7))->id == img->id);
    CHECK(store.find("busybox@" + img->manifest_digest)->id == img->id);

    // deterministic: a second store seeds the same image id
    StoreFixture g;
    auto other = g.open();
    CHECK(other.resolve("busybox")->id == img->id);

    auto hist = store.history("busybox");
    REQUIRE(hist);
    REQUIRE(hist->size() == 2);
    CHECK(hist->front().id == img->id);
    CHECK(hist->front().empty_layer);
    CHECK(hist->back().size > 0);
}

TEST_CASE("store: concurrent first use seeds once", "[engine][images]") {
    StoreFixture f;
    std::vector<std::string> ids(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < ids.size(); ++i) {
        threads.emplace_back([&, i] {
            auto store = ImageStore::open(f.paths);
            if (store) {
                auto img = store->resolve("busybox");
                if (img) {
                    ids[i] = img->id;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& id : ids) {
        CHECK(!id.empty());
        CHECK(id == ids[0]);
    }
    auto store = f.open();
    CHECK(store.list()->size() == 1);
    size_t snapshots = 0;
    for (const auto& e : stdfs::directory_iterator(f.paths.snapshots())) {
        (void)e;
        ++snapshots;
    }
    CHECK(snapshots == 1);
    // nothing is left in the temp area
    CHECK(stdfs::is_empty(f.paths.tmp() / "images"));
}

TEST_CASE("store: tag, rmi and prune", "[engine][images]") {
    StoreFixture f;
    auto store = f.open();
    auto a = add_image(store, "a", "AAA", "app:v1");
    REQUIRE(a);
    REQUIRE(store.tag("app:v1", "localhost:5000/app:v2"));
    auto img = store.find("app:v1");
    REQUIRE(img);
    CHECK(img->repo_tags.size() == 2);
    CHECK_FALSE(store.tag("app:v1", "app@sha256:" + std::string(64, 'a')));
    CHECK_FALSE(store.tag("nosuch", "x:y"));

    // removing by id with two repositories needs force
    auto conflict = store.remove(a->id, false);
    REQUIRE_FALSE(conflict);
    CHECK(conflict.error().code() == berth::Errc::conflict);

    // a running container blocks even -f; a stopped one blocks without -f
    ImageUsersFn running = [&]() -> berth::Result<std::vector<ImageUser>> {
        return std::vector<ImageUser>{{a->id, "c1", true}};
    };
    ImageUsersFn stopped = [&]() -> berth::Result<std::vector<ImageUser>> {
        return std::vector<ImageUser>{{a->id, "c2", false}};
    };
    auto r1 = store.remove(a->id, true, running);
    REQUIRE_FALSE(r1);
    CHECK(r1.error().message().find("running container c1") != std::string::npos);
    CHECK_FALSE(store.remove(a->id, false, stopped));

    auto untag = store.remove("localhost:5000/app:v2", false);
    REQUIRE(untag);
    CHECK(*untag == std::vector<std::string>{"Untagged: localhost:5000/app:v2"});
    CHECK(store.find("app:v1"));

    // the same layer is shared by a second image with the same content
    auto b = add_image(store, "a", "AAA", "other:1");
    REQUIRE(b);
    CHECK(b->layers == a->layers);  // same chain, one snapshot

    auto del = store.remove("app:v1", false);
    REQUIRE(del);
    REQUIRE(del->size() >= 2);
    CHECK((*del)[0] == "Untagged: app:v1");
    CHECK((*del)[1] == "Deleted: " + a->id);
    CHECK_FALSE(store.find("app:v1"));
    CHECK(stdfs::exists(b->layers[0]));  // still used by other:1

    // moving a tag leaves a dangling image, which prune removes
    auto c = add_image(store, "c", "CCC", "other:1");
    REQUIRE(c);
    auto dangling = store.find(b->id);
    REQUIRE(dangling);
    CHECK(dangling->repo_tags.empty());
    int64_t freed = 0;
    auto pruned = store.prune(false, {}, &freed);
    REQUIRE(pruned);
    CHECK_FALSE(store.find(b->id));
    CHECK(freed == 3);
    CHECK_FALSE(stdfs::exists(b->layers[0]));
    CHECK(store.find("other:1"));
    auto all = store.prune(true, {}, nullptr);
    REQUIRE(all);
    CHECK(store.list()->empty());
    CHECK(stdfs::is_empty(f.paths.snapshots()));
}

TEST_CASE("store: blobs are verified and never half-written", "[engine][images]") {
    StoreFixture f;
    auto store = f.open();
    std::string data = "hello";
    auto bad = store.put_blob(data, "sha256:" + std::string(64, '0'));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("digest mismatch") != std::string::npos);
    CHECK(stdfs::is_empty(f.paths.images() / "blobs" / "sha256"));
    CHECK(stdfs::is_empty(f.paths.tmp() / "images"));
    auto ok = store.put_blob(data);
    REQUIRE(ok);
    CHECK(store.read_blob(ok->str()).value() == data);
    {
        std::FILE* fp = std::fopen(store.blob_path(ok->str()).c_str(), "w");
        std::fputs("hellx", fp);
        std::fclose(fp);
    }
    auto corrupt = store.read_blob(ok->str());
    REQUIRE_FALSE(corrupt);
    CHECK(corrupt.error().message().find("corrupt") != std::string::npos);

    // a layer whose content does not match the config's diff id is not registered
    std::string tar = berth::testing::RawTar().file("x", "1").finish();
    auto layer = store.put_blob(tar);
    REQUIRE(layer);
    nlohmann::json cfg = {{"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + std::string(64, 'e')}}}}};
    auto cd = store.put_blob(cfg.dump());
    nlohmann::json man = {
        {"schemaVersion", 2},
        {"config", {{"mediaType", media::oci_config}, {"digest", cd->str()}, {"size", 1}}},
        {"layers", {{{"mediaType", media::oci_layer}, {"digest", layer->str()}, {"size", tar.size()}}}}};
    auto md = store.put_blob(man.dump());
    auto img = store.commit_image(md->str(), {"bad:1"});
    REQUIRE_FALSE(img);
    CHECK(img.error().message().find("diff id mismatch") != std::string::npos);
    CHECK(store.list()->empty());
    CHECK(stdfs::is_empty(f.paths.snapshots()));
    CHECK(stdfs::is_empty(f.paths.tmp() / "images"));
}

namespace {

/// The records of unsynced batches in the store.
std::vector<stdfs::path> unsynced_records(const berth::Paths& paths) {
    std::vector<stdfs::path> out;
    for (const auto& e : stdfs::directory_iterator(paths.images() / "unsynced")) {
        out.push_back(e.path());
    }
    return out;
}

/// Makes the one record in the store look written in an earlier boot.
void record_from_earlier_boot(const berth::Paths& paths) {
    auto records = unsynced_records(paths);
    REQUIRE(records.size() == 1);
    auto rec = berth::read_json(records[0]).value();
    const std::string old_boot = "00000000-0000-4000-8000-000000000000";
    REQUIRE(old_boot != berth::current_boot_id());
    rec["boot_id"] = old_boot;
    REQUIRE(berth::write_json(paths.images() / "unsynced" / (old_boot + "-1-0.json"), rec));
    stdfs::remove(records[0]);
}

}  // namespace

TEST_CASE("store: unsynced batches are synced later in this boot and checked after a reboot",
          "[engine][images]") {
    StoreFixture f;
    auto store = f.open();
    auto a = add_image(store, "a", "alpha", "a:1");
    auto b = add_image(store, "b", "beta", "b:1");
    REQUIRE(a);
    REQUIRE(b);
    // Each image's one layer is an uncompressed tar: blob digest, diff id and
    // chain id are the same.
    const std::string la = a->diff_ids.at(0);
    const std::string lb = b->diff_ids.at(0);
    // committing an image records the layers it unpacked, one record each time
    auto committed = unsynced_records(f.paths);
    REQUIRE(committed.size() == 2);
    auto first = berth::read_json(committed[0]).value();
    CHECK(first["blobs"].empty());
    CHECK((first["snapshots"] == nlohmann::json::array({la}) ||
           first["snapshots"] == nlohmann::json::array({lb})));
    REQUIRE(store.settle_unsynced(std::chrono::seconds(0))->synced == 2);

    SECTION("this boot: kept while young, synced and dropped once older than the grace") {
        REQUIRE(store.note_unsynced({la}, {la}));
        auto records = unsynced_records(f.paths);
        REQUIRE(records.size() == 1);
        CHECK(records[0].filename().native().rfind(berth::current_boot_id() + "-", 0) == 0);
        auto rec = berth::read_json(records[0]).value();
        CHECK(rec["blobs"] == nlohmann::json::array({la}));
        CHECK(rec["snapshots"] == nlohmann::json::array({la}));
        auto young = store.settle_unsynced(std::chrono::seconds(60));
        REQUIRE(young);
        CHECK(young->synced == 0);
        CHECK(unsynced_records(f.paths).size() == 1);
        auto due = store.settle_unsynced(std::chrono::seconds(0));
        REQUIRE(due);
        CHECK(due->synced == 1);
        CHECK(due->recovered == 0);
        CHECK(unsynced_records(f.paths).empty());
        CHECK(berth::fs::read_file(a->layers[0] / "a").value() == "alpha");
        // nothing to record is no record
        REQUIRE(store.note_unsynced({}, {}));
        CHECK(unsynced_records(f.paths).empty());
    }

    SECTION("another boot, blob intact: the snapshot is unpacked again from it") {
        REQUIRE(store.note_unsynced({la}, {la}));
        record_from_earlier_boot(f.paths);
        // what a power loss leaves of a file never written back
        REQUIRE(::truncate((a->layers[0] / "a").c_str(), 0) == 0);
        auto r = store.settle_unsynced();
        REQUIRE(r);
        CHECK(r->recovered == 1);
        CHECK(r->reunpacked == std::vector<std::string>{a->id});
        CHECK(r->removed.empty());
        CHECK(berth::fs::read_file(a->layers[0] / "a").value() == "alpha");
        CHECK(store.find("a:1")->id == a->id);
        CHECK(store.find("b:1")->id == b->id);
        CHECK(unsynced_records(f.paths).empty());
        CHECK(stdfs::is_empty(f.paths.tmp() / "images"));
    }

    SECTION("another boot, blob lost: the image goes, the others stay; open() settles") {
        REQUIRE(store.note_unsynced({lb}, {lb}));
        record_from_earlier_boot(f.paths);
        REQUIRE(::truncate(store.blob_path(lb).c_str(), 3) == 0);
        auto reopened = ImageStore::open(f.paths);
        REQUIRE(reopened);
        auto gone = reopened->find("b:1");
        REQUIRE_FALSE(gone);
        CHECK(gone.error().code() == berth::Errc::not_found);
        CHECK_FALSE(stdfs::exists(reopened->blob_path(lb)));
        CHECK_FALSE(stdfs::exists(b->layers[0].parent_path()));
        CHECK_FALSE(stdfs::exists(reopened->blob_path(b->id)));
        CHECK(reopened->find("a:1")->id == a->id);
        CHECK(berth::fs::read_file(a->layers[0] / "a").value() == "alpha");
        CHECK(unsynced_records(f.paths).empty());
        // and the image can be stored again
        auto again = add_image(*reopened, "b", "beta", "b:1");
        REQUIRE(again);
        CHECK(again->id == b->id);
    }

    SECTION("another boot, torn record: dropped, nothing else touched") {
        const std::string name = "00000000-0000-4000-8000-000000000000-7-0.json";
        REQUIRE(berth::fs::write_atomic(f.paths.images() / "unsynced" / name, ""));
        REQUIRE(berth::fs::write_atomic(f.paths.images() / "unsynced" / (".tmp-" + name + "-x"), "{"));
        // names that are not digests are never taken as paths
        stdfs::create_directories(f.dir.path() / "victim");
        nlohmann::json hostile = {{"boot_id", "x"},
                                  {"blobs", {"../../../victim"}},
                                  {"snapshots", {"../../victim", "sha256:../../victim"}}};
        REQUIRE(berth::write_json(f.paths.images() / "unsynced" / ("x-" + name), hostile));
        auto r = store.settle_unsynced();
        REQUIRE(r);
        CHECK(r->recovered == 2);
        CHECK(r->reunpacked.empty());
        CHECK(r->removed.empty());
        CHECK(unsynced_records(f.paths).empty());
        CHECK(store.list()->size() == 2);
        CHECK(stdfs::exists(f.dir.path() / "victim"));
    }
}
