// SPDX-License-Identifier: Apache-2.0
// Image store and distribution against real components: Debian's
// docker-registry on 127.0.0.1 (plain and htpasswd-protected) and skopeo as
// an independent client; hostile archives generated here; interrupted loads
// (failpoints) and a full disk (tmpfs).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/digest.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"
#include "tests/unit/engine/image_tar.hpp"

using berth::testing::RawTar;
using berth::testing::RunResult;
using berth::testing::ScratchRoot;
using berth::testing::run_process;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

std::string slurp(const stdfs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write(const stdfs::path& p, const std::string& data) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

bool port_open(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

/// Debian's docker-registry on 127.0.0.1:<free port>, storage in a temp dir,
/// optionally with htpasswd auth; stopped by pid at the end.
class Registry {
public:
    explicit Registry(const stdfs::path& dir, bool auth = false) : dir_(dir) {
        stdfs::create_directories(dir_ / "data");
        port_ = free_port();
        std::string cfg = "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                          "    rootdirectory: " + (dir_ / "data").native() + "\n"
                          "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
        if (auth) {
            auto hp = run_process({"/usr/bin/htpasswd", "-Bbn", "berthuser", password()});
            REQUIRE(hp.exit_code == 0);
            write(dir_ / "htpasswd", hp.out);
            cfg += "auth:\n  htpasswd:\n    realm: berth-test\n    path: " +
                   (dir_ / "htpasswd").native() + "\n";
        }
        write(dir_ / "config.yml", cfg);
        pid_ = ::fork();
        if (pid_ == 0) {
            std::string log = (dir_ / "log").native();
            FILE* f = std::freopen(log.c_str(), "w", stderr);
            (void)f;
            ::execl("/usr/bin/docker-registry", "docker-registry", "serve",
                    (dir_ / "config.yml").c_str(), nullptr);
            ::_exit(127);
        }
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!port_open(port_) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        REQUIRE(port_open(port_));
    }
    ~Registry() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    static std::string password() { return "s3cret-Pa55word-xyz"; }

private:
    stdfs::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

/// A Docker archive (manifest.json + config + layer.tar files) with one image.
std::string docker_archive(const std::vector<std::string>& layers, const std::string& tag,
                           const std::string& bad_diff_id = {}) {
    json diff_ids = json::array();
    json paths = json::array();
    RawTar outer;
    for (size_t i = 0; i < layers.size(); ++i) {
        diff_ids.push_back(bad_diff_id.empty() ? berth::Digest::of(layers[i]).str() : bad_diff_id);
        std::string p = "l" + std::to_string(i) + "/layer.tar";
        paths.push_back(p);
        outer.file(p, layers[i]);
    }
    json cfg = {{"architecture", "amd64"},
                {"os", "linux"},
                {"created", "2024-01-01T00:00:00Z"},
                {"config", {{"Cmd", {"/bin/sh"}}}},
                {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    std::string ctext = cfg.dump();
    std::string cname = std::string(berth::Digest::of(ctext).hex()) + ".json";
    outer.file(cname, ctext);
    json man = json::array({{{"Config", cname}, {"RepoTags", {tag}}, {"Layers", paths}}});
    outer.file("manifest.json", man.dump());
    return outer.finish();
}

/// Everything under `dir`, for before/after comparisons.
std::set<std::string> tree(const stdfs::path& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir, ec);
         it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        out.insert(it->path().lexically_relative(dir).native());
    }
    return out;
}

std::set<std::string> store_state(const ScratchRoot& s) {
    auto a = tree(s.root() / "images");
    std::set<std::string> b;  // snapshot names only (their trees are large)
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(s.root() / "snapshots", ec)) {
        b.insert(e.path().filename().native());
    }
    std::set<std::string> out;
    for (const auto& x : a) {
        out.insert("images/" + x);
    }
    for (const auto& x : b) {
        out.insert("snapshots/" + x);
    }
    return out;
}

std::string images_q(const ScratchRoot& s) {
    auto r = s.berth({"images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"});
    REQUIRE(r.exit_code == 0);
    return r.out;
}

}  // namespace

TEST_CASE("busybox is seeded on first use and is an ordinary image",
          "[engine][images][.root]") {
    ScratchRoot s;
    auto inspect = s.berth({"image", "inspect", "busybox"});
    REQUIRE(inspect.exit_code == 0);
    auto doc = json::parse(inspect.out);
    REQUIRE(doc.size() == 1);
    CHECK(doc[0]["RepoTags"] == json::array({"busybox:latest"}));
    CHECK(doc[0]["Config"]["Cmd"] == json::array({"sh"}));
    CHECK(doc[0]["RootFS"]["Layers"].size() == 1);
    auto lower = doc[0]["GraphDriver"]["Data"]["LowerDir"].get<std::string>();
    CHECK(stdfs::exists(stdfs::path(lower) / "bin/busybox"));
    CHECK(stdfs::exists(stdfs::path(lower) / "bin/sh"));
    REQUIRE(s.berth({"tag", "busybox", "mine:1"}).exit_code == 0);
    CHECK(images_q(s).find("mine:1 " + doc[0]["Id"].get<std::string>()) != std::string::npos);
    auto hist = s.berth({"history", "busybox"});
    CHECK(hist.exit_code == 0);
    CHECK(hist.out.find("CMD [\"sh\"]") != std::string::npos);
    // removing the image by name, then using it again, seeds it again
    REQUIRE(s.berth({"rmi", "mine:1"}).exit_code == 0);
    auto rm = s.berth({"rmi", "busybox"});
    REQUIRE(rm.exit_code == 0);
    CHECK(rm.out.find("Deleted: " + doc[0]["Id"].get<std::string>()) != std::string::npos);
    CHECK(images_q(s).find("busybox") == std::string::npos);
    CHECK(s.berth({"image", "inspect", "busybox"}).exit_code == 0);
    auto missing = s.berth({"image", "inspect", "nosuch:1"});
    CHECK(missing.exit_code != 0);
    CHECK(missing.err.find("No such image: nosuch:1") != std::string::npos);
}

TEST_CASE("save is read by skopeo, and skopeo's archives load", "[engine][images][.root]") {
    ScratchRoot s;
    auto dir = s.root().parent_path();
    auto tar = (dir / "bb.tar").native();
    REQUIRE(s.berth({"tag", "busybox", "example/bb:v2"}).exit_code == 0);
    REQUIRE(s.berth({"save", "-o", tar, "example/bb:v2"}).exit_code == 0);
    auto insp = run_process({"/usr/bin/skopeo", "inspect", "docker-archive:" + tar});
    REQUIRE(insp.exit_code == 0);
    auto doc = json::parse(insp.out);
    CHECK(doc["Layers"].size() == 1);
    auto oci = run_process({"/usr/bin/skopeo", "inspect", "oci-archive:" + tar});
    CHECK(oci.exit_code == 0);

    auto sk_oci = (dir / "sk-oci.tar").native();
    auto sk_docker = (dir / "sk-docker.tar").native();
    REQUIRE(run_process({"/usr/bin/skopeo", "copy", "docker-archive:" + tar,
                         "oci-archive:" + sk_oci + ":sk/oci:3"})
                .exit_code == 0);
    REQUIRE(run_process({"/usr/bin/skopeo", "copy", "docker-archive:" + tar,
                         "docker-archive:" + sk_docker + ":sk/docker:4"})
                .exit_code == 0);
    auto l1 = s.berth({"load", "-i", sk_oci});
    CHECK(l1.exit_code == 0);
    CHECK(l1.out.find("Loaded image: sk/oci:3") != std::string::npos);
    auto l2 = s.berth({"load", "-i", sk_docker});
    CHECK(l2.exit_code == 0);
    CHECK(l2.out.find("Loaded image: sk/docker:4") != std::string::npos);
    auto list = images_q(s);
    CHECK(list.find("sk/oci:3") != std::string::npos);
    CHECK(list.find("sk/docker:4") != std::string::npos);
    // our own archive round-trips
    REQUIRE(s.berth({"rmi", "example/bb:v2"}).exit_code == 0);
    auto l3 = s.berth({"load", "-i", tar});
    CHECK(l3.exit_code == 0);
    CHECK(l3.out.find("Loaded image: example/bb:v2") != std::string::npos);
}

TEST_CASE("push to and pull from docker-registry, checked with skopeo",
          "[engine][images][.root]") {
    ScratchRoot s;
    Registry reg(s.root().parent_path() / "registry");
    std::string ref = reg.host() + "/berth/bb:1";
    REQUIRE(s.berth({"tag", "busybox", ref}).exit_code == 0);
    auto push = s.berth({"push", ref});
    REQUIRE(push.exit_code == 0);
    CHECK(push.out.find("digest: sha256:") != std::string::npos);
    auto insp = run_process({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "docker://" + ref});
    REQUIRE(insp.exit_code == 0);
    auto id = json::parse(s.berth({"image", "inspect", "busybox"}).out)[0]["Id"];
    CHECK(json::parse(insp.out)["Layers"].size() == 1);

    // skopeo copies it back out, and into another repository
    auto dir = s.root().parent_path();
    REQUIRE(run_process({"/usr/bin/skopeo", "copy", "--src-tls-verify=false", "docker://" + ref,
                         "oci-archive:" + (dir / "back.tar").native() + ":back:1"})
                .exit_code == 0);
    std::string other = reg.host() + "/skopeo/copied:7";
    REQUIRE(run_process({"/usr/bin/skopeo", "copy", "--src-tls-verify=false",
                         "--dest-tls-verify=false", "docker://" + ref, "docker://" + other})
                .exit_code == 0);

    // berth pulls what skopeo pushed into a fresh store
    ScratchRoot fresh;
    auto pull = fresh.berth({"pull", other});
    REQUIRE(pull.exit_code == 0);
    CHECK(pull.out.find("Digest: sha256:") != std::string::npos);
    auto pulled = json::parse(fresh.berth({"image", "inspect", other}).out);
    CHECK(pulled[0]["Id"] == id);
    CHECK(pulled[0]["RepoDigests"].size() == 1);
    // pulling again is a no-op
    auto again = fresh.berth({"pull", other});
    CHECK(again.exit_code == 0);
    CHECK(again.out.find("Image is up to date") != std::string::npos);

    // a missing tag is a clear error and leaves the store as it was
    auto before = store_state(fresh);
    auto missing = fresh.berth({"pull", reg.host() + "/skopeo/copied:nope"});
    CHECK(missing.exit_code != 0);
    CHECK(missing.err.find("404") != std::string::npos);
    CHECK(store_state(fresh) == before);

    // chunked upload of a pushed image
    ScratchRoot chunked;
    std::string ref2 = reg.host() + "/berth/chunked:1";
    REQUIRE(chunked.berth({"tag", "busybox", ref2}).exit_code == 0);
    auto env = chunked.env();
    env["BERTH_PUSH_CHUNK_SIZE"] = "65536";
    auto cp = run_process({BERTH_BINARY, "push", ref2}, env);
    REQUIRE(cp.exit_code == 0);
    CHECK(run_process({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "docker://" + ref2})
              .exit_code == 0);
}

// A pull publishes without a sync and records what the kernel has still to
// write back (ImageStore::note_unsynced). A later command of the same boot
// leaves a young record alone; after a (simulated) reboot the next command
// unpacks a layer again from its blob, or drops an image whose blob was lost.
TEST_CASE("a pull is published unsynced and checked after a simulated reboot",
          "[engine][images][.root]") {
    ScratchRoot s;
    Registry reg(s.root().parent_path() / "registry");
    std::string ref = reg.host() + "/berth/unsynced:1";
    REQUIRE(s.berth({"tag", "busybox", ref}).exit_code == 0);
    REQUIRE(s.berth({"push", ref}).exit_code == 0);

    ScratchRoot fresh;
    REQUIRE(fresh.berth({"pull", "-q", ref}).exit_code == 0);
    const auto dir = fresh.root() / "images" / "unsynced";
    auto records = [&] {
        std::vector<stdfs::path> out;
        for (const auto& e : stdfs::directory_iterator(dir)) {
            out.push_back(e.path());
        }
        return out;
    };
    std::string boot = slurp("/proc/sys/kernel/random/boot_id");
    boot.erase(boot.find_last_not_of(" \n") + 1);
    REQUIRE(records().size() == 1);
    CHECK(records()[0].filename().native().rfind(boot + "-", 0) == 0);
    auto rec = json::parse(slurp(records()[0]));
    auto id = json::parse(fresh.berth({"image", "inspect", ref}).out)[0]["Id"].get<std::string>();
    REQUIRE(rec["snapshots"].size() == 1);
    REQUIRE(rec["blobs"].size() == 2);  // the config and the layer
    CHECK(rec["blobs"][0] == id);
    const std::string layer = rec["blobs"][1];
    const std::string chain = rec["snapshots"][0];
    const auto busybox = fresh.root() / "snapshots" / chain.substr(7) / "fs" / "bin" / "busybox";
    const auto size = stdfs::file_size(busybox);
    REQUIRE(size > 100000);

    // the next command, well within the grace, leaves the record
    REQUIRE(fresh.berth({"images", "-q"}).exit_code == 0);
    REQUIRE(records().size() == 1);

    // a reboot after a power loss: the record is of another boot, the binary empty
    const std::string other = "00000000-0000-4000-8000-000000000000-1-0.json";
    auto reboot = [&] {
        auto r = rec;
        r["boot_id"] = "00000000-0000-4000-8000-000000000000";
        for (const auto& p : records()) {
            stdfs::remove(p);
        }
        write(dir / other, r.dump());
    };
    reboot();
    stdfs::resize_file(busybox, 0);
    auto ls = fresh.berth({"images", "--format", "{{.Repository}}:{{.Tag}}"});
    REQUIRE(ls.exit_code == 0);
    CHECK(ls.out.find("/berth/unsynced:1") != std::string::npos);
    CHECK(stdfs::file_size(busybox) == size);
    CHECK(records().empty());

    // the same, with the layer blob lost too: the image goes, a pull brings it back
    reboot();
    stdfs::resize_file(busybox, 0);
    stdfs::resize_file(fresh.root() / "images" / "blobs" / "sha256" / layer.substr(7), 10);
    ls = fresh.berth({"images", "--format", "{{.Repository}}:{{.Tag}}"});
    REQUIRE(ls.exit_code == 0);
    CHECK(ls.out.find("/berth/unsynced:1") == std::string::npos);
    CHECK(ls.err.find("pull it again") != std::string::npos);
    CHECK(records().empty());
    CHECK_FALSE(stdfs::exists(busybox));
    REQUIRE(fresh.berth({"pull", "-q", ref}).exit_code == 0);
    CHECK(stdfs::file_size(busybox) == size);
    auto run = fresh.berth({"run", "--rm", "--network", "none", ref, "true"});
    CHECK(run.exit_code == 0);
}

TEST_CASE("registry with htpasswd auth: login, 0600 credentials, no leaks",
          "[engine][images][.root]") {
    ScratchRoot s;
    Registry reg(s.root().parent_path() / "registry", true);
    auto cfgdir = s.root().parent_path() / "docker-config";
    auto env = s.env();
    env["DOCKER_CONFIG"] = cfgdir.native();
    std::string ref = reg.host() + "/secure/bb:1";
    REQUIRE(s.berth({"tag", "busybox", ref}).exit_code == 0);

    auto denied = run_process({BERTH_BINARY, "push", ref}, env);
    CHECK(denied.exit_code != 0);
    CHECK(denied.err.find("unauthorized") != std::string::npos);

    auto wrong = run_process({BERTH_BINARY, "login", reg.host(), "-u", "berthuser",
                              "--password-stdin"},
                             env, "wrong-password\n");
    CHECK(wrong.exit_code != 0);
    CHECK_FALSE(stdfs::exists(cfgdir / "config.json"));

    auto ok = run_process({BERTH_BINARY, "--debug", "login", reg.host(), "-u", "berthuser",
                           "--password-stdin"},
                          env, Registry::password() + "\n");
    REQUIRE(ok.exit_code == 0);
    CHECK(ok.out.find("Login Succeeded") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((cfgdir / "config.json").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto cfg = json::parse(slurp(cfgdir / "config.json"));
    CHECK(cfg["auths"].contains(reg.host()));

    auto push = run_process({BERTH_BINARY, "--debug", "push", ref}, env);
    REQUIRE(push.exit_code == 0);
    ScratchRoot other;
    auto oenv = other.env();
    oenv["DOCKER_CONFIG"] = cfgdir.native();
    auto pull = run_process({BERTH_BINARY, "--debug", "pull", ref}, oenv);
    REQUIRE(pull.exit_code == 0);
    for (const auto* out : {&ok.out, &ok.err, &push.out, &push.err, &pull.out, &pull.err}) {
        CHECK(out->find(Registry::password()) == std::string::npos);
    }
    // nothing under the state roots carries the password either
    for (const auto& root : {s.root(), other.root()}) {
        for (const auto& e : stdfs::recursive_directory_iterator(root)) {
            if (e.is_regular_file() && e.file_size() < (1 << 20)) {
                CHECK(slurp(e.path()).find(Registry::password()) == std::string::npos);
            }
        }
    }
    auto sk = run_process({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "--creds",
                           "berthuser:" + Registry::password(), "docker://" + ref});
    CHECK(sk.exit_code == 0);
    REQUIRE(run_process({BERTH_BINARY, "logout", reg.host()}, env).exit_code == 0);
    CHECK_FALSE(json::parse(slurp(cfgdir / "config.json"))["auths"].contains(reg.host()));
}

TEST_CASE("hostile and broken archives are refused and the store stays consistent",
          "[engine][images][.root]") {
    ScratchRoot s;
    auto dir = s.root().parent_path();
    REQUIRE(s.berth({"image", "inspect", "busybox"}).exit_code == 0);  // seed
    auto outside = dir / "outside";
    stdfs::create_directories(outside);
    write(outside / "sentinel", "keep");
    ::chmod((outside / "sentinel").c_str(), 0640);
    // the snapshot of layer N is <root>/snapshots/<hex>/fs: "../../../../outside"
    // from inside it is this directory
    std::string up = "../../../../outside";
    struct Case {
        const char* what;
        std::string layer;
    };
    std::vector<Case> cases = {
        {"dot-dot", RawTar().file(up + "/evil", "x").finish()},
        {"symlink out then through", RawTar().symlink("l", up).file("l/evil", "x").finish()},
        {"absolute symlink then through", RawTar().symlink("l", outside.native()).file("l/evil", "x").finish()},
        {"hardlink out", RawTar().hardlink("h", up + "/sentinel").finish()},
        {"whiteout out", RawTar().file(up + "/.wh.sentinel", "").finish()},
        {"dir replaced by symlink", RawTar().dir("d").symlink("d", up).file("d/evil", "x").finish()},
    };
    auto before = store_state(s);
    auto list_before = images_q(s);
    for (const auto& c : cases) {
        INFO(c.what);
        auto path = dir / "hostile.tar";
        write(path, docker_archive({c.layer}, "hostile:1"));
        auto r = s.berth({"load", "-i", path.native()});
        CHECK(r.exit_code != 0);
        CHECK(r.err.find("layer sha256:") != std::string::npos);
        CHECK(tree(outside) == std::set<std::string>{"sentinel"});
        struct stat st {};
        ::stat((outside / "sentinel").c_str(), &st);
        CHECK((st.st_mode & 07777) == 0640);
        CHECK(images_q(s) == list_before);
        CHECK(store_state(s) == before);
        CHECK(tree(s.root() / "tmp" / "images").empty());
    }
    // a symlink then a file of the same name with mode 4777 (row 17): loads,
    // the sentinel keeps its mode
    {
        auto path = dir / "chmod.tar";
        write(path, docker_archive({RawTar().symlink("s", outside.native() + "/sentinel")
                                        .file("s", "x", 04777)
                                        .finish()},
                                   "chmod:1"));
        CHECK(s.berth({"load", "-i", path.native()}).exit_code == 0);
        struct stat st {};
        ::stat((outside / "sentinel").c_str(), &st);
        CHECK((st.st_mode & 07777) == 0640);
        REQUIRE(s.berth({"rmi", "chmod:1"}).exit_code == 0);
    }
    // broken inputs
    std::string good_layer = RawTar().file("ok", "fine").finish();
    std::string good = docker_archive({good_layer}, "good:1");
    std::vector<std::pair<const char*, std::string>> broken = {
        {"truncated archive", good.substr(0, good.size() / 2)},
        {"garbage", std::string(4096, 'x')},
        {"diff id mismatch", docker_archive({good_layer}, "bad:1", "sha256:" + std::string(64, '0'))},
        {"corrupt layer", docker_archive({good_layer.substr(0, 700)}, "bad:2")},
    };
    before = store_state(s);
    for (const auto& [what, data] : broken) {
        INFO(what);
        write(dir / "broken.tar", data);
        auto r = s.berth({"load", "-i", (dir / "broken.tar").native()});
        CHECK(r.exit_code != 0);
        CHECK(!r.err.empty());
        CHECK(store_state(s) == before);
        CHECK(images_q(s) == list_before);
    }
    // an OCI archive whose blob is not what its name says
    {
        std::string cfg = R"({"rootfs":{"type":"layers","diff_ids":[]}})";
        std::string fake = "sha256:" + std::string(64, 'a');
        json man = {{"schemaVersion", 2},
                    {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                    {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                {"digest", fake}, {"size", cfg.size()}}},
                    {"layers", json::array()}};
        std::string mtext = man.dump();
        std::string mdig = berth::Digest::of(mtext).str();
        json index = {{"schemaVersion", 2},
                      {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                      {"digest", mdig}, {"size", mtext.size()}}}}};
        std::string data = RawTar()
                               .file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")
                               .file("blobs/sha256/" + std::string(64, 'a'), cfg)
                               .file("blobs/sha256/" + mdig.substr(7), mtext)
                               .file("index.json", index.dump())
                               .finish();
        write(dir / "oci.tar", data);
        auto r = s.berth({"load", "-i", (dir / "oci.tar").native()});
        CHECK(r.exit_code != 0);
        CHECK(r.err.find("digest mismatch") != std::string::npos);
        CHECK(store_state(s) == before);
    }
    // and the good one still loads afterwards
    write(dir / "good.tar", good);
    auto ok = s.berth({"load", "-i", (dir / "good.tar").native()});
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("Loaded image: good:1") != std::string::npos);
}

TEST_CASE("F25: a load killed midway leaves nothing and reruns cleanly",
          "[engine][images][.root]") {
    ScratchRoot s;
    auto dir = s.root().parent_path();
    std::string layer = RawTar().file("a", std::string(100000, 'a')).file("b", "b").finish();
    write(dir / "img.tar", docker_archive({layer}, "killed:1"));
    for (const char* fp : {"images_blob_commit", "images_snapshot_rename", "images_table_write"}) {
        INFO(fp);
        auto env = s.env();
        env["BERTH_FAILPOINT"] = std::string(fp) + ":kill9";
        auto r = run_process({BERTH_BINARY, "load", "-i", (dir / "img.tar").native()}, env);
        CHECK(r.exit_code == 137);
        CHECK(images_q(s).find("killed") == std::string::npos);
        auto again = s.berth({"load", "-i", (dir / "img.tar").native()});
        CHECK(again.exit_code == 0);
        CHECK(images_q(s).find("killed:1") != std::string::npos);
        // the next command cleaned the dead load's temp files
        CHECK(tree(s.root() / "tmp" / "images").empty());
        REQUIRE(s.berth({"rmi", "killed:1"}).exit_code == 0);
        CHECK(tree(s.root() / "snapshots").empty());
    }
}

TEST_CASE("F10: a full disk during unpack is reported and nothing is left",
          "[engine][images][.root]") {
    ScratchRoot s;
    auto dir = s.root().parent_path();
    auto small = dir / "small-root";
    stdfs::create_directories(small);
    REQUIRE(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=64m") == 0);
    struct Unmount {
        stdfs::path p;
        ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } unmount{small};
    auto env = s.env();
    env["BERTH_ROOT"] = small.native();
    REQUIRE(run_process({BERTH_BINARY, "image", "inspect", "busybox"}, env).exit_code == 0);
    struct statvfs before {};
    ::statvfs(small.c_str(), &before);
    // 80 MB of incompressible data: the blob alone does not fit next to the unpack
    std::mt19937_64 rng(42);
    std::string big(80 << 20, '\0');
    for (size_t i = 0; i + 8 <= big.size(); i += 8) {
        uint64_t v = rng();
        std::memcpy(&big[i], &v, 8);
    }
    write(dir / "big.tar", docker_archive({RawTar().file("big", big).finish()}, "big:1"));
    big.clear();
    auto r = run_process({BERTH_BINARY, "load", "-i", (dir / "big.tar").native()}, env);
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("No space left on device") != std::string::npos);
    auto list = run_process({BERTH_BINARY, "images", "--format", "{{.Repository}}"}, env);
    CHECK(list.out == "busybox\n");
    struct statvfs after {};
    ::statvfs(small.c_str(), &after);
    double used_before = static_cast<double>(before.f_blocks - before.f_bfree);
    double used_after = static_cast<double>(after.f_blocks - after.f_bfree);
    CHECK(used_after <= used_before * 1.01 + 64);
    // the existing image still verifies
    CHECK(run_process({BERTH_BINARY, "save", "-o", (dir / "bb.tar").native(), "busybox"}, env)
              .exit_code == 0);
    std::filesystem::remove(dir / "big.tar");
}

TEST_CASE("compose push and pull, up --pull and down --rmi against docker-registry",
          "[compose][images][.root][root]") {
    berth::testing::OuterNetns outer;  // the project's bridge stays in the test's netns
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    {
        Registry reg(s.root().parent_path() / "registry");
        const std::string remote = reg.host() + "/compose/app:1";
        const std::string built = reg.host() + "/compose/built:1";
        const auto dir = s.root().parent_path() / "project";
        stdfs::create_directories(dir);
        const auto file = (dir / "compose.yaml").native();
        const std::string sleep = "    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n";
        write(file, "name: rp\nservices:\n"
                    "  app:\n    image: " + remote + "\n" + sleep +
                    "  never:\n    image: busybox\n    pull_policy: never\n" + sleep +
                    "  built:\n    image: " + built +
                    "\n    build:\n      context: .\n      dockerfile_inline: \"FROM busybox\\nLABEL x=1\\n\"\n" +
                    sleep +
                    "  local:\n    build:\n      context: .\n      dockerfile_inline: \"FROM busybox\\nLABEL y=2\\n\"\n" +
                    sleep);
        // compose push sends the images the project builds (as Compose).
        REQUIRE(s.berth({"compose", "build", "--file", file}).exit_code == 0);
        auto push = s.berth({"compose", "push", "--file", file, "built"});
        INFO(push.err);
        REQUIRE(push.exit_code == 0);
        CHECK(run_process({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "docker://" + built})
                  .exit_code == 0);
        // The `app` image exists only in the registry.
        REQUIRE(s.berth({"tag", "busybox", remote}).exit_code == 0);
        REQUIRE(s.berth({"push", remote}).exit_code == 0);
        REQUIRE(s.berth({"rmi", remote}).exit_code == 0);
        // compose pull fetches it; a `never` service is skipped.
        auto pull = s.berth({"compose", "pull", "--file", file, "app", "never"});
        INFO(pull.err);
        REQUIRE(pull.exit_code == 0);
        CHECK(pull.err.find("app Pulled") != std::string::npos);
        CHECK(pull.err.find("never Skipped") != std::string::npos);
        REQUIRE(s.berth({"image", "inspect", remote}).exit_code == 0);
        // up --pull missing pulls what is not in the store before creating
        // (removed first: up would fail without the pull); busybox is present.
        REQUIRE(s.berth({"rmi", remote}).exit_code == 0);
        auto up = s.berth({"compose", "up", "--file", file, "-d", "--pull", "missing"});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        CHECK(up.err.find("app Pulling") != std::string::npos);
        CHECK(up.err.find("never Skipped") != std::string::npos);
        // --rmi local: only the image without a custom tag (rp-local).
        auto down = s.berth({"compose", "down", "--file", file, "--rmi", "local"});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        CHECK(s.berth({"image", "inspect", "rp-local"}).exit_code != 0);
        CHECK(s.berth({"image", "inspect", built}).exit_code == 0);
        CHECK(s.berth({"image", "inspect", remote}).exit_code == 0);
        // --rmi all: every service's image.
        REQUIRE(s.berth({"compose", "up", "--file", file, "-d", "--no-build", "app", "never"})
                    .exit_code == 0);
        auto all = s.berth({"compose", "down", "--file", file, "--rmi", "all"});
        INFO(all.err);
        REQUIRE(all.exit_code == 0);
        CHECK(s.berth({"image", "inspect", remote}).exit_code != 0);
        CHECK(s.berth({"image", "inspect", built}).exit_code != 0);
        // A bad --pull or --rmi value is refused.
        CHECK(s.berth({"compose", "up", "--file", file, "-d", "--pull", "sometimes"}).exit_code !=
              0);
        CHECK(s.berth({"compose", "down", "--file", file, "--rmi", "some"}).exit_code != 0);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}
