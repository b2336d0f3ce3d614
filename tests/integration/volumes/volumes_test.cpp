// SPDX-License-Identifier: Apache-2.0
// Root-only tests of the volumes module: real mounts, owners, device nodes
// and trusted xattrs, under a scratch root.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "common/fs.hpp"
#include "tests/support/harness.hpp"
#include "volumes/copy_up.hpp"
#include "volumes/mount_plan.hpp"
#include "volumes/secrets.hpp"
#include "volumes/volume_store.hpp"

using namespace berth;
using namespace berth::volumes;
namespace fsys = std::filesystem;

namespace {

Paths paths_of(const testing::ScratchRoot& s) {
    Paths p;
    p.root = s.root();
    p.run_root = s.run_root();
    p.prefix = s.prefix();
    return p;
}

void write_file(const fsys::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary);
    out << data;
}

std::string slurp(const fsys::path& p) { return fs::read_file(p).value(); }

bool mounted_at(const fsys::path& p) {
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mi, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, point;
        fields >> id >> parent >> devno >> root >> point;
        if (point == p.native()) {
            return true;
        }
    }
    return false;
}

/// Runs `fn` in a forked child inside a private mount namespace; returns its
/// exit code (0 = success).
int in_private_mount_ns(const std::function<int()>& fn) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
            _exit(100);
        }
        _exit(fn());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

CreateOptions named(std::string name, std::map<std::string, std::string> options = {}) {
    CreateOptions o;
    o.name = std::move(name);
    o.options = std::move(options);
    return o;
}

/// A two-layer image under `base`: the lower holds /data with every kind of
/// file, the upper deletes one file (whiteout) and makes one directory opaque.
std::vector<fsys::path> make_image(const fsys::path& base) {
    auto lower = base / "layer0";
    auto upper = base / "layer1";
    fsys::create_directories(lower / "data/sub");
    fsys::create_directories(lower / "data/opq");
    fsys::create_directories(upper / "data/opq");
    write_file(lower / "data/a", "alpha");
    REQUIRE(::chown((lower / "data/a").c_str(), 1234, 5678) == 0);
    REQUIRE(::chmod((lower / "data/a").c_str(), 0640) == 0);
    REQUIRE(::setxattr((lower / "data/a").c_str(), "user.berth", "x1", 2, 0) == 0);
    REQUIRE(::symlink("a", (lower / "data/link").c_str()) == 0);
    REQUIRE(::lchown((lower / "data/link").c_str(), 42, 43) == 0);
    write_file(lower / "data/hard1", "same inode");
    REQUIRE(::link((lower / "data/hard1").c_str(), (lower / "data/hard2").c_str()) == 0);
    REQUIRE(::chmod((lower / "data/sub").c_str(), 0711) == 0);
    REQUIRE(::chown((lower / "data/sub").c_str(), 7, 8) == 0);
    write_file(lower / "data/sub/deep", "deep");
    REQUIRE(::chmod((lower / "data/sub/deep").c_str(), 04755) == 0);
    REQUIRE(::mkfifo((lower / "data/fifo").c_str(), 0620) == 0);
    REQUIRE(::chmod((lower / "data/fifo").c_str(), 0620) == 0);
    write_file(lower / "data/removed", "gone");
    write_file(lower / "data/opq/old", "hidden by opaque");
    write_file(lower / "outside", "not under /data");
    REQUIRE(::chmod((lower / "data").c_str(), 0750) == 0);
    REQUIRE(::chown((lower / "data").c_str(), 99, 98) == 0);
    // Upper layer: whiteout for /data/removed, opaque /data/opq with new content.
    REQUIRE(::mknod((upper / "data/removed").c_str(), S_IFCHR | 0000, makedev(0, 0)) == 0);
    REQUIRE(::setxattr((upper / "data/opq").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
    write_file(upper / "data/opq/new", "new");
    write_file(upper / "data/top", "from the upper layer");
    REQUIRE(::chmod((upper / "data").c_str(), 0750) == 0);
    REQUIRE(::chown((upper / "data").c_str(), 99, 98) == 0);
    return {lower, upper};
}

}  // namespace

TEST_CASE("driver_opts tmpfs volume is mounted on first use, holds its size, unmounted on release",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto before = testing::take_census(scratch);
    auto store = VolumeStore::open(paths_of(scratch)).value();
    auto v = store.create(named("small", {{"type", "tmpfs"}, {"device", "tmpfs"},
                                          {"o", "size=1m,mode=0750,nosuid"}}));
    REQUIRE(v);
    CHECK_FALSE(mounted_at(v->mountpoint));
    auto data = store.acquire("small", "c1");
    REQUIRE(data);
    CHECK(mounted_at(*data));
    struct stat st {};
    REQUIRE(::stat(data->c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    // A second holder shares the mount.
    REQUIRE(store.acquire("small", "c2"));

    // Fill it: 1 MiB limit means ENOSPC before 2 MiB were written.
    int fd = ::open((*data / "fill").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    std::string chunk(64 * 1024, 'x');
    int err = 0;
    size_t written = 0;
    for (int i = 0; i < 32; ++i) {
        ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n < 0) {
            err = errno;
            break;
        }
        written += static_cast<size_t>(n);
    }
    ::close(fd);
    CHECK(err == ENOSPC);
    CHECK(written <= 1024 * 1024);

    // In use: rm and prune refuse it.
    CHECK(store.remove("small", false, {}).error().code() == Errc::conflict);
    CHECK(store.prune(true, {})->removed.empty());

    REQUIRE(store.release("small", "c1"));
    CHECK(mounted_at(*data));
    REQUIRE(store.release("small", "c2"));
    CHECK_FALSE(mounted_at(*data));
    REQUIRE(store.remove("small", false, {}));
    auto after = testing::take_census(scratch);
    CHECK(after.mounts == before.mounts);
}

TEST_CASE("driver_opts bind volume mounts the device directory read-only", "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto store = VolumeStore::open(paths_of(scratch)).value();
    auto dev = scratch.root().parent_path() / "device";
    fsys::create_directories(dev);
    write_file(dev / "hello", "from the device");
    REQUIRE(store.create(named("bound", {{"type", "none"}, {"device", dev.string()},
                                         {"o", "bind,ro"}})));
    auto data = store.acquire("bound", "c1");
    REQUIRE(data);
    CHECK(slurp(*data / "hello") == "from the device");
    int fd = ::open((*data / "new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd < 0);
    CHECK(errno == EROFS);
    REQUIRE(store.release("bound", "c1"));
    CHECK_FALSE(mounted_at(*data));
    CHECK(slurp(dev / "hello") == "from the device");
}

TEST_CASE("a symlink swapped in for _data never redirects the driver mount (row 7)",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto before = testing::take_census(scratch);
    auto store = VolumeStore::open(paths_of(scratch)).value();
    auto v = store.create(named("racy", {{"type", "tmpfs"}, {"device", "tmpfs"}})).value();
    auto victim = scratch.root().parent_path() / "victim";
    fsys::create_directories(victim);
    fsys::remove(v.mountpoint);
    fsys::create_directory_symlink(victim, v.mountpoint);
    auto r = store.acquire("racy", "c1");
    REQUIRE_FALSE(r);
    CHECK_FALSE(mounted_at(victim));
    CHECK(testing::take_census(scratch).mounts == before.mounts);
    CHECK(store.holders("racy")->empty());
}

TEST_CASE("a read-only bind from the mount plan refuses writes with EROFS", "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto store = VolumeStore::open(paths_of(scratch)).value();
    auto host = scratch.root().parent_path() / "hostdir";
    auto target = scratch.root().parent_path() / "target";
    fsys::create_directories(host);
    fsys::create_directories(target);
    std::vector<MountSpec> mounts{parse_volume_flag(host.string() + ":/ro:ro").value()};
    PrepareOptions po;
    po.container_id = "c1";
    auto plan = prepare_mounts(store, mounts, po).value();
    REQUIRE(plan.oci_mounts.size() == 1);
    const auto& m = plan.oci_mounts[0];
    REQUIRE(m["options"] == nlohmann::json::array({"rbind", "ro", "rprivate"}));
    int rc = in_private_mount_ns([&] {
        // What a runtime does with this entry: bind, then remount read-only.
        auto src = m["source"].get<std::string>();
        if (::mount(src.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
            return 1;
        }
        if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) !=
            0) {
            return 2;
        }
        int fd = ::open((target / "x").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            return 3;
        }
        return errno == EROFS ? 0 : 4;
    });
    CHECK(rc == 0);
    CHECK_FALSE(fsys::exists(host / "x"));
    CHECK_FALSE(mounted_at(target));
}

TEST_CASE("copy-up preserves owners, modes, links, xattrs, whiteouts and opaque dirs",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto base = scratch.root().parent_path() / "image";
    auto layers = make_image(base);
    auto dest = scratch.root().parent_path() / "dest";
    fsys::create_directories(dest);
    auto stats = copy_up(layers, "/data", dest);
    REQUIRE(stats);
    CHECK(stats->entries >= 9);

    struct stat st {};
    REQUIRE(::stat(dest.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(st.st_uid == 99);
    CHECK(st.st_gid == 98);

    REQUIRE(::lstat((dest / "a").c_str(), &st) == 0);
    CHECK(st.st_uid == 1234);
    CHECK(st.st_gid == 5678);
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(slurp(dest / "a") == "alpha");
    char xv[8] = {};
    CHECK(::getxattr((dest / "a").c_str(), "user.berth", xv, sizeof xv) == 2);
    CHECK(std::string(xv, 2) == "x1");

    REQUIRE(::lstat((dest / "link").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK(st.st_uid == 42);
    CHECK(fsys::read_symlink(dest / "link") == "a");

    struct stat h1 {}, h2 {};
    REQUIRE(::lstat((dest / "hard1").c_str(), &h1) == 0);
    REQUIRE(::lstat((dest / "hard2").c_str(), &h2) == 0);
    CHECK(h1.st_ino == h2.st_ino);
    CHECK(h1.st_nlink == 2);

    REQUIRE(::lstat((dest / "sub").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0711);
    CHECK(st.st_uid == 7);
    REQUIRE(::lstat((dest / "sub/deep").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 04755);

    REQUIRE(::lstat((dest / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK((st.st_mode & 07777) == 0620);

    CHECK_FALSE(fsys::exists(dest / "removed"));
    CHECK(slurp(dest / "top") == "from the upper layer");
    CHECK(slurp(dest / "opq/new") == "new");
    CHECK_FALSE(fsys::exists(dest / "opq/old"));
    CHECK_FALSE(fsys::exists(dest / "outside"));
    // No overlay metadata leaks into the volume.
    CHECK(::getxattr((dest / "opq").c_str(), "trusted.overlay.opaque", xv, sizeof xv) < 0);

    // Never into a non-empty destination.
    auto again = copy_up(layers, "/data", dest);
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == Errc::failed_precondition);
}

TEST_CASE("copy-up does not follow a symlink in the image on the way to the target",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto layer = scratch.root().parent_path() / "evil";
    fsys::create_directories(layer);
    auto outside = scratch.root().parent_path() / "outside";
    fsys::create_directories(outside);
    write_file(outside / "secret", "host data");
    fsys::create_directory_symlink(outside, layer / "data");
    auto dest = scratch.root().parent_path() / "dest2";
    fsys::create_directories(dest);
    std::vector<fsys::path> layers{layer};
    auto stats = copy_up(layers, "/data", dest);
    REQUIRE(stats);
    CHECK(stats->entries == 0);
    CHECK(fsys::is_empty(dest));
}

TEST_CASE("copy-up through the mount plan happens once, only into a new empty volume (row 18)",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto store = VolumeStore::open(paths_of(scratch)).value();
    auto layers = make_image(scratch.root().parent_path() / "image");
    PrepareOptions po;
    po.container_id = "c1";
    po.image_layers = layers;

    // A volume that already holds data keeps exactly that data.
    auto existing = store.create(named("existing")).value();
    write_file(existing.mountpoint / "F", "known content");
    std::vector<MountSpec> m1{parse_volume_flag("existing:/data").value()};
    auto p1 = prepare_mounts(store, m1, po);
    REQUIRE(p1);
    CHECK(slurp(existing.mountpoint / "F") == "known content");
    CHECK_FALSE(fsys::exists(existing.mountpoint / "a"));
    REQUIRE(release_mounts(store, p1->acquired_volumes, "c1"));

    // A new volume is filled from the image...
    std::vector<MountSpec> m2{parse_volume_flag("fresh:/data").value()};
    auto p2 = prepare_mounts(store, m2, po);
    REQUIRE(p2);
    auto fresh = store.get("fresh").value();
    CHECK(fresh.populated);
    CHECK(slurp(fresh.mountpoint / "a") == "alpha");
    REQUIRE(release_mounts(store, p2->acquired_volumes, "c1"));
    // ...and once emptied by the user, it is never filled again.
    for (const auto& e : fsys::directory_iterator(fresh.mountpoint)) {
        fsys::remove_all(e.path());
    }
    auto p3 = prepare_mounts(store, m2, po);
    REQUIRE(p3);
    CHECK(fsys::is_empty(fresh.mountpoint));
    REQUIRE(release_mounts(store, p3->acquired_volumes, "c1"));

    // nocopy and anonymous volumes.
    std::vector<MountSpec> m4{parse_volume_flag("nocp:/data:nocopy").value(),
                              parse_volume_flag("/data/sub").value()};
    auto p4 = prepare_mounts(store, m4, po);
    REQUIRE(p4);
    CHECK(fsys::is_empty(store.get("nocp")->mountpoint));
    REQUIRE(p4->anonymous_volumes.size() == 1);
    auto anon = store.get(p4->anonymous_volumes[0]).value();
    CHECK(slurp(anon.mountpoint / "deep") == "deep");
    struct stat st {};
    REQUIRE(::stat(anon.mountpoint.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0711);
    REQUIRE(release_mounts(store, p4->acquired_volumes, "c1"));
}

TEST_CASE("secrets and configs are written with owner and mode and bound read-only",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto cdir = scratch.root() / "containers" / "c1";
    fsys::create_directories(cdir);
    auto src = scratch.root().parent_path() / "db_password.txt";
    write_file(src, "hunter2");
    std::vector<SecretRequest> reqs(3);
    reqs[0].name = "db_password";
    reqs[0].value = src.string();
    reqs[0].uid = 1000;
    reqs[0].gid = 1001;
    reqs[0].mode = 0400;
    reqs[1].kind = SecretKind::config;
    reqs[1].name = "nginx_conf";
    reqs[1].source = SecretSource::content;
    reqs[1].value = "server {}\n";
    reqs[1].target = "/etc/nginx/nginx.conf";
    reqs[2].name = "token";
    reqs[2].source = SecretSource::environment;
    reqs[2].value = "BERTH_TEST_TOKEN";
    EnvLookup env = [](const std::string& k) -> std::optional<std::string> {
        if (k == "BERTH_TEST_TOKEN") {
            return std::string("t0k3n");
        }
        return std::nullopt;
    };
    auto mounts = prepare_secret_or_config(cdir, reqs, std::nullopt, env);
    REQUIRE(mounts);
    REQUIRE(mounts->size() == 3);
    CHECK((*mounts)[0]["destination"] == "/run/secrets/db_password");
    CHECK((*mounts)[1]["destination"] == "/etc/nginx/nginx.conf");
    CHECK((*mounts)[2]["destination"] == "/run/secrets/token");
    for (const auto& m : *mounts) {
        CHECK(m["type"] == "bind");
        auto opts = m["options"];
        CHECK(std::find(opts.begin(), opts.end(), "ro") != opts.end());
    }
    auto secret_path = fsys::path((*mounts)[0]["source"].get<std::string>());
    struct stat st {};
    REQUIRE(::stat(secret_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0400);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 1001);
    CHECK(slurp(secret_path) == "hunter2");
    CHECK(slurp((*mounts)[2]["source"].get<std::string>()) == "t0k3n");

    // "Readable only with its mode": bound as a container would see it (the
    // host directories above it are 0700), uid 1000 reads it, 1002 gets EACCES.
    auto probe = scratch.root().parent_path() / "probe";
    write_file(probe, "");
    REQUIRE(::chmod(scratch.root().parent_path().c_str(), 0755) == 0);
    auto try_read = [&](uid_t uid) {
        return in_private_mount_ns([&] {
            if (::mount(secret_path.c_str(), probe.c_str(), nullptr, MS_BIND, nullptr) != 0) {
                return 101;
            }
            if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) {
                return 100;
            }
            int fd = ::open(probe.c_str(), O_RDONLY | O_CLOEXEC);
            return fd >= 0 ? 0 : (errno == EACCES ? 13 : 1);
        });
    };
    CHECK(try_read(1000) == 0);
    CHECK(try_read(1002) == 13);

    // Missing variable: an error naming the secret, nothing left behind.
    std::vector<SecretRequest> bad(1);
    bad[0].name = "nokey";
    bad[0].source = SecretSource::environment;
    bad[0].value = "BERTH_UNSET_VAR";
    auto r = prepare_secret_or_config(cdir, bad, std::nullopt, env);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "secret nokey: environment variable BERTH_UNSET_VAR is not set");
    CHECK_FALSE(fsys::exists(cdir / "secrets" / "nokey"));
}

TEST_CASE("a secret target the container turned into a symlink is refused (row 19)",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto cdir = scratch.root() / "containers" / "c2";
    auto rootfs = scratch.root().parent_path() / "rootfs";
    auto host_target = scratch.root().parent_path() / "host-target";
    fsys::create_directories(cdir);
    fsys::create_directories(rootfs / "shared");
    fsys::create_symlink(host_target, rootfs / "shared" / "foo");
    fsys::create_directory_symlink("/tmp", rootfs / "linkdir");
    std::vector<SecretRequest> reqs(1);
    reqs[0].kind = SecretKind::config;
    reqs[0].name = "cfg";
    reqs[0].source = SecretSource::content;
    reqs[0].value = "x";
    reqs[0].target = "/shared/foo";
    auto r = prepare_secret_or_config(cdir, reqs, rootfs);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::permission_denied);
    CHECK(r.error().message().find("/shared/foo is a symbolic link") != std::string::npos);
    CHECK_FALSE(fsys::exists(host_target));
    reqs[0].target = "/linkdir/cfg";
    CHECK_FALSE(prepare_secret_or_config(cdir, reqs, rootfs));
    reqs[0].target = "/../../etc/cfg";
    auto dots = prepare_secret_or_config(cdir, reqs, rootfs);
    REQUIRE_FALSE(dots);
    CHECK(dots.error().code() == Errc::invalid_argument);
    reqs[0].target = "/etc/app/cfg";
    auto ok = prepare_secret_or_config(cdir, reqs, rootfs);
    REQUIRE(ok);
    CHECK((*ok)[0]["destination"] == "/etc/app/cfg");
}

TEST_CASE("a stale driver mount left by a crash is unmounted by rm, never leaked",
          "[volumes][.root]") {
    testing::ScratchRoot scratch;
    auto before = testing::take_census(scratch);
    auto paths = paths_of(scratch);
    auto store = VolumeStore::open(paths).value();
    REQUIRE(store.create(named("crashy", {{"type", "tmpfs"}, {"device", "tmpfs"}})));
    auto data = store.acquire("crashy", "c1");
    REQUIRE(data);
    write_file(*data / "f", "x");
    // The crash: the holder record is lost (as on reboot of /run), the mount stays.
    fsys::remove(paths.run_root / "volumes" / "crashy.json");
    REQUIRE(mounted_at(*data));
    // A container record still naming it keeps it.
    auto refused = store.remove("crashy", false, [](const std::string&) { return true; });
    CHECK_FALSE(refused);
    CHECK(mounted_at(*data));
    REQUIRE(store.remove("crashy", false, {}));
    CHECK_FALSE(mounted_at(*data));
    CHECK(testing::take_census(scratch).mounts == before.mounts);
}
