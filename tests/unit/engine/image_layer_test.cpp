// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/digest.hpp"
#include "common/fs.hpp"
#include "engine/images/layer.hpp"
#include "tests/unit/engine/image_tar.hpp"

using namespace berth::engine::images;
using berth::testing::RawTar;
namespace stdfs = std::filesystem;

namespace {

/// A scratch dir with root/ (the snapshot) and outside/ (must stay empty).
struct Scratch {
    berth::fs::TempDir dir = berth::fs::TempDir::create(stdfs::temp_directory_path(),
                                                         "berth-layer-").value();
    stdfs::path root = dir.path() / "root";
    stdfs::path outside = dir.path() / "outside";
    Scratch() {
        stdfs::create_directory(root);
        stdfs::create_directory(outside);
        std::ofstream(outside / "sentinel") << "keep";
        ::chmod((outside / "sentinel").c_str(), 0640);
    }
    berth::Result<UnpackStats> unpack(const std::string& blob, uint64_t max = 1 << 30,
                                      bool gzip_check = true) {
        auto p = dir.path() / "blob";
        std::ofstream(p, std::ios::binary | std::ios::trunc) << blob;
        auto fd = berth::fs::open(p, O_RDONLY);
        REQUIRE(fd);
        auto rfd = berth::fs::open(root, O_RDONLY | O_DIRECTORY);
        REQUIRE(rfd);
        return unpack_layer(std::move(*fd), rfd->get(), "sha256:test", max, gzip_check);
    }
    /// The outside dir holds only the untouched sentinel.
    bool outside_intact() const {
        size_t n = 0;
        for (const auto& e : stdfs::directory_iterator(outside)) {
            (void)e;
            ++n;
        }
        struct stat st {};
        ::lstat((outside / "sentinel").c_str(), &st);
        return n == 1 && (st.st_mode & 07777) == 0640 && S_ISREG(st.st_mode);
    }
};

std::string gzip(const std::string& in) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, in.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

std::string zstd(const std::string& in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    out.resize(n);
    return out;
}

bool is_root() {
    return ::geteuid() == 0;
}

}  // namespace

TEST_CASE("layer paths are cleaned and never climb out", "[engine][images]") {
    auto p = clean_entry_path("./a/./b//c/");
    REQUIRE(p);
    CHECK(*p == std::vector<std::string>{"a", "b", "c"});
    auto abs = clean_entry_path("/etc/passwd");
    REQUIRE(abs);
    CHECK(*abs == std::vector<std::string>{"etc", "passwd"});
    auto inner = clean_entry_path("a/../b");
    REQUIRE(inner);
    CHECK(*inner == std::vector<std::string>{"b"});
    CHECK_FALSE(clean_entry_path("../etc/passwd"));
    CHECK_FALSE(clean_entry_path("a/../../x"));
    CHECK_FALSE(clean_entry_path(std::string("a\0b", 3)));
    auto root = clean_entry_path("./");
    REQUIRE(root);
    CHECK(root->empty());
}

TEST_CASE("whiteout names map to overlayfs whiteouts", "[engine][images]") {
    std::string t;
    CHECK(classify_whiteout(".wh.foo", &t) == WhiteoutKind::whiteout);
    CHECK(t == "foo");
    CHECK(classify_whiteout(".wh..wh..opq", &t) == WhiteoutKind::opaque);
    CHECK(classify_whiteout(".wh..wh.plnk", &t) == WhiteoutKind::meta);
    CHECK(classify_whiteout("foo.wh.", &t) == WhiteoutKind::none);
    CHECK(allowed_xattr("user.x"));
    CHECK(allowed_xattr("security.capability"));
    CHECK_FALSE(allowed_xattr("trusted.overlay.redirect"));
    CHECK_FALSE(allowed_xattr("security.selinux"));
}

TEST_CASE("layer unpack: files, links, modes, whiteouts", "[engine][images]") {
    Scratch s;
    std::string tar = RawTar()
                          .dir("etc/", 0755)
                          .file("etc/hosts", "127.0.0.1 x\n", 0600)
                          .file("bin/tool", "#!x", 04755)
                          .symlink("bin/sh", "/bin/tool")
                          .hardlink("bin/tool2", "bin/tool")
                          .file("tmp/.wh.gone", "")
                          .file("var/.wh..wh..opq", "")
                          .add("dev/null", '3', {}, 0666, {}, 0, 0, 1, 3)
                          .finish();
    auto st = s.unpack(tar);
    if (!is_root()) {
        WARN("not root: whiteouts and device nodes cannot be created; skipping the rest");
        return;
    }
    REQUIRE(st);
    CHECK(st->diff_id == berth::Digest::of(tar).str());
    CHECK(st->size == 12 + 3);
    struct stat sb {};
    REQUIRE(::lstat((s.root / "etc/hosts").c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 0600);
    REQUIRE(::lstat((s.root / "bin/tool").c_str(), &sb) == 0);
    CHECK((sb.st_mode & 07777) == 04755);
    CHECK(sb.st_nlink == 2);
    CHECK(stdfs::read_symlink(s.root / "bin/sh") == "/bin/tool");
    REQUIRE(::lstat((s.root / "tmp/gone").c_str(), &sb) == 0);
    CHECK(S_ISCHR(sb.st_mode));
    CHECK(sb.st_rdev == ::makedev(0, 0));
    char v[4] = {};
    CHECK(::getxattr((s.root / "var").c_str(), "trusted.overlay.opaque", v, sizeof v) == 1);
    CHECK(v[0] == 'y');
    REQUIRE(::lstat((s.root / "dev/null").c_str(), &sb) == 0);
    CHECK(S_ISCHR(sb.st_mode));
    CHECK(sb.st_rdev == ::makedev(1, 3));
    CHECK_FALSE(stdfs::exists(s.root / "tmp/.wh.gone"));
}

TEST_CASE("layer unpack: gzip and zstd streams check the diff id", "[engine][images]") {
    std::string tar = RawTar().file("a", "hello").finish();
    for (const auto& blob : {gzip(tar), zstd(tar), gzip(tar.substr(0, 700)) + gzip(tar.substr(700))}) {
        Scratch s;
        auto st = s.unpack(blob);
        REQUIRE(st);
        CHECK(st->diff_id == berth::Digest::of(tar).str());
        CHECK(berth::fs::read_file(s.root / "a").value() == "hello");
    }
}

TEST_CASE("layer unpack: a few KiB of input that decompress to megabytes",
          "[engine][images]") {
    // Megabytes of zeros compress to a few KiB: most of the output comes
    // out, 256 KiB at a time, after the decompressor has taken the last
    // input chunk (a guard: this passed before the session's changes too).
    std::string tar = RawTar()
                          .file("zeros", std::string(3 << 20, '\0'))
                          .file("after", "tail")
                          .finish();
    for (const auto& blob : {gzip(tar), zstd(tar)}) {
        Scratch s;
        auto st = s.unpack(blob);
        REQUIRE(st);
        CHECK(st->diff_id == berth::Digest::of(tar).str());
        CHECK(stdfs::file_size(s.root / "zeros") == (3u << 20));
        CHECK(berth::fs::read_file(s.root / "after").value() == "tail");
    }
}

TEST_CASE("layer unpack: gzip's CRC is checked unless the caller checks the diff id",
          "[engine][images]") {
    std::string tar = RawTar().file("a", "hello").finish();
    auto gz = gzip(tar);
    gz[gz.size() - 8] = static_cast<char>(gz[gz.size() - 8] ^ 0x5a);  // the CRC-32 trailer
    {
        Scratch s;
        auto r = s.unpack(gz);
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("corrupt gzip data") != std::string::npos);
    }
    {
        // The store compares the diff id instead (prepare_snapshot): the
        // content is intact, so it unpacks and hashes to the tar's digest.
        Scratch s;
        auto r = s.unpack(gz, 1 << 30, /*gzip_check=*/false);
        REQUIRE(r);
        CHECK(r->diff_id == berth::Digest::of(tar).str());
        CHECK(berth::fs::read_file(s.root / "a").value() == "hello");
    }
}

TEST_CASE("layer unpack: a sparse file keeps its trailing hole and its data",
          "[engine][images]") {
    // GNU tar writes the sparse map (the test's tool, not the engine's): 4 KiB
    // of data, then a hole to 1 MiB. libarchive hands the data blocks only,
    // so the unpacker must still give the file its full size.
    auto work = berth::fs::TempDir::create(stdfs::temp_directory_path(), "berth-sparse-");
    REQUIRE(work);
    auto src = work->path() / "src";
    stdfs::create_directory(src);
    {
        std::ofstream f(src / "holey", std::ios::binary);
        f << std::string(4096, 'd');
    }
    stdfs::resize_file(src / "holey", 1 << 20);
    auto tarball = work->path() / "sparse.tar";
    std::string cmd = "tar --sparse --format=gnu -C '" + src.native() + "' -cf '" +
                      tarball.native() + "' holey";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(tarball, std::ios::binary);
    std::string tar((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Scratch s;
    auto r = s.unpack(tar);
    REQUIRE(r);
    CHECK(stdfs::file_size(s.root / "holey") == (1u << 20));
    auto text = berth::fs::read_file(s.root / "holey");
    REQUIRE(text);
    CHECK(text->substr(0, 4096) == std::string(4096, 'd'));
    CHECK(text->substr(4096) == std::string((1 << 20) - 4096, '\0'));
}

TEST_CASE("layer unpack: a later entry replaces an earlier one in a subdirectory",
          "[engine][images]") {
    // The parent directory's fd is cached between entries: making room for
    // the new entry must neither close the fd in use nor leave a stale one.
    Scratch s;
    std::string tar = RawTar()
                          .file("d/f", "one")
                          .file("d/f", "two")
                          .file("d/x", "a file first")
                          .dir("d/x", 0750)
                          .file("d/x/in", "below")
                          .dir("d/y")
                          .file("d/y/old", "gone with its directory")
                          .symlink("d/y", "/etc")
                          .file("d/z", "after")
                          .file("e/f", "other dir")
                          .file("d/f", "three")
                          .finish();
    auto st = s.unpack(tar);
    REQUIRE(st);
    CHECK(berth::fs::read_file(s.root / "d/f").value() == "three");
    CHECK(stdfs::is_directory(stdfs::symlink_status(s.root / "d/x")));
    CHECK((stdfs::status(s.root / "d/x").permissions() & stdfs::perms::all) ==
          (stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec));
    CHECK(berth::fs::read_file(s.root / "d/x/in").value() == "below");
    CHECK(stdfs::is_symlink(s.root / "d/y"));
    CHECK(stdfs::read_symlink(s.root / "d/y") == "/etc");
    CHECK(berth::fs::read_file(s.root / "d/z").value() == "after");
    CHECK(berth::fs::read_file(s.root / "e/f").value() == "other dir");
    CHECK(s.outside_intact());
}

TEST_CASE("layer unpack: owners and modes as the archive says, whatever the umask",
          "[engine][images]") {
    Scratch s;
    mode_t old = ::umask(027);
    std::string tar = RawTar()
                          .add("g", '5', {}, 02775, {}, 0, 4321)
                          .add("g/f", '0', "x", 0664, {}, 0, 0)
                          .add("plain", '0', "y", 0644, {}, 0, 0)
                          .add("open", '0', "z", 0666, {}, 0, 0)
                          .add("owned", '0', "w", 0640, {}, 1234, 5678)
                          .add("suid", '0', "v", 04755, {}, 0, 0)
                          .finish();
    auto st = s.unpack(tar);
    ::umask(old);
    REQUIRE(st);
    auto mode = [&](const char* rel) {
        struct stat sb {};
        REQUIRE(::lstat((s.root / rel).c_str(), &sb) == 0);
        return sb.st_mode & 07777;
    };
    CHECK(mode("g") == 02775);
    CHECK(mode("g/f") == 0664);
    CHECK(mode("plain") == 0644);
    CHECK(mode("open") == 0666);
    CHECK(mode("owned") == 0640);
    CHECK(mode("suid") == 04755);
    if (is_root()) {
        struct stat sb {};
        REQUIRE(::lstat((s.root / "owned").c_str(), &sb) == 0);
        CHECK(sb.st_uid == 1234);
        CHECK(sb.st_gid == 5678);
        // g/f says 0:0: its setgid directory (group 4321) must not hand it
        // its group.
        REQUIRE(::lstat((s.root / "g").c_str(), &sb) == 0);
        CHECK(sb.st_gid == 4321);
        REQUIRE(::lstat((s.root / "g/f").c_str(), &sb) == 0);
        CHECK(sb.st_gid == 0);
    }
}

namespace {

/// Feeds `data` into `ch` in buffers filled `step` bytes at a time; returns
/// false when the reader went away first.
bool feed_channel(ChunkChannel& ch, const std::string& data, size_t step) {
    size_t pos = 0;
    while (pos < data.size()) {
        auto* b = ch.acquire();
        if (b == nullptr) {
            return false;
        }
        while (pos < data.size() && b->size < b->capacity) {
            size_t n = std::min({step, data.size() - pos, b->capacity - b->size});
            std::memcpy(b->data + b->size, data.data() + pos, n);
            b->size += n;
            pos += n;
        }
        ch.send(b);
    }
    ch.close();
    return true;
}

/// Unpacks `blob` into `s` through a two-buffer channel fed by another
/// thread `step` bytes at a time; `fed` says whether the feeder got
/// everything in.
berth::Result<UnpackStats> unpack_through_channel(Scratch& s, const std::string& blob,
                                                  size_t step, bool* fed) {
    auto ch = ChunkChannel::create(2);
    std::thread producer([&] { *fed = feed_channel(*ch, blob, step); });
    auto rfd = berth::fs::open(s.root, O_RDONLY | O_DIRECTORY);
    auto st = rfd ? unpack_layer(ch->reader("sha256:test"), rfd->get(), "sha256:test", 1 << 30)
                  : berth::Result<UnpackStats>(std::move(rfd).error());
    producer.join();
    return st;
}

}  // namespace

TEST_CASE("layer unpack: a chunk channel hands a layer over in order, and either end can stop",
          "[engine][images]") {
    // More data than the channel's two buffers hold: the producer waits for
    // the reader, which unpacks each buffer where it lies.
    std::string big(700 * 1024, '\0');
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    }
    std::string tar = RawTar().file("big", big).file("small", "tail").finish();
    std::string blob = gzip(tar);
    {
        Scratch s;
        bool fed = false;
        auto st = unpack_through_channel(s, blob, 16 * 1024, &fed);
        REQUIRE(st);
        CHECK(fed);
        CHECK(st->diff_id == berth::Digest::of(tar).str());
        CHECK(berth::fs::read_file(s.root / "big").value() == big);
        CHECK(berth::fs::read_file(s.root / "small").value() == "tail");
    }
    {
        // The reader fails early and goes: the producer is not left waiting.
        Scratch s;
        std::string garbage(3 << 20, 'x');
        garbage[0] = '\x1f';
        garbage[1] = '\x8b';
        bool fed = true;
        auto st = unpack_through_channel(s, garbage, 64 * 1024, &fed);
        CHECK_FALSE(st);
        CHECK_FALSE(fed);
    }
    {
        // The producer abandons the transfer: the reader fails, it does not
        // take the data so far for the whole layer.
        auto ch = ChunkChannel::create(2);
        auto reader = ch->reader("sha256:test");
        auto* b = ch->acquire();
        REQUIRE(b != nullptr);
        b->size = 3;
        std::memcpy(b->data, "abc", 3);
        ch->send(b);
        ch->close(/*abort=*/true);
        auto r = reader->read();
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == berth::Errc::cancelled);
    }
}

TEST_CASE("layer unpack: corrupt and truncated data are clear errors", "[engine][images]") {
    std::string tar = RawTar().file("a", std::string(5000, 'x')).file("b", "y").finish();
    {
        Scratch s;
        auto gz = gzip(tar);
        auto r = s.unpack(gz.substr(0, gz.size() / 2));
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("sha256:test") != std::string::npos);
    }
    {
        Scratch s;
        auto z = zstd(tar);
        auto r = s.unpack(z.substr(0, z.size() - 4));
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("truncated") != std::string::npos);
    }
    {
        Scratch s;
        auto r = s.unpack(tar.substr(0, 700));
        REQUIRE_FALSE(r);
    }
    {
        Scratch s;
        std::string junk = tar;
        junk[0x94] = 'Z';  // breaks the header checksum of the first entry
        auto r = s.unpack(junk);
        REQUIRE_FALSE(r);
    }
    {
        Scratch s;
        auto r = s.unpack(gzip(tar), 4096);
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("max_layer_bytes") != std::string::npos);
    }
    {
        Scratch s;  // an empty layer (just the end blocks) is valid
        auto r = s.unpack(std::string(1024, '\0'));
        REQUIRE(r);
        CHECK(r->entries == 0);
    }
}

TEST_CASE("layer unpack: hostile archives never write outside the root", "[engine][images]") {
    // Each case is one archive; the paths are relative to root/, and
    // root/../outside is the directory that must stay untouched.
    struct Case {
        const char* what;
        std::string tar;
        bool must_fail;
    };
    std::vector<Case> cases = {
        {"dot-dot entry", RawTar().file("../outside/evil", "x").finish(), true},
        {"deep dot-dot", RawTar().file("a/../../outside/evil", "x").finish(), true},
        {"symlink out, then write through it",
         RawTar().symlink("l", "../outside").file("l/evil", "x").finish(), true},
        {"absolute symlink, then write through it",
         RawTar().symlink("l", "/").file("l/tmp/evil", "x").finish(), true},
        {"hardlink to a path outside",
         RawTar().hardlink("h", "../outside/sentinel").finish(), true},
        {"hardlink through a symlink",
         RawTar().symlink("l", "../outside").hardlink("h", "l/sentinel").finish(), true},
        {"directory replaced by a symlink mid-archive",
         RawTar().dir("d").file("d/a", "1").symlink("d", "../outside").file("d/evil", "x").finish(),
         true},
        {"whiteout aimed outside", RawTar().file("../outside/.wh.sentinel", "").finish(), true},
        {"whiteout through a symlink",
         RawTar().symlink("l", "../outside").file("l/.wh.sentinel", "").finish(), true},
        {"opaque through a symlink",
         RawTar().symlink("l", "../outside").file("l/.wh..wh..opq", "").finish(), true},
        {"chmod through a symlink (row 17)",
         RawTar().symlink("s", "../outside/sentinel").file("s", "x", 04777).finish(), false},
        {"absolute entry lands inside", RawTar().file("/outside/evil", "x").finish(), false},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        Scratch s;
        auto r = s.unpack(c.tar);
        if (!is_root() && r) {
            continue;
        }
        if (c.must_fail) {
            CHECK_FALSE(r);
        }
        CHECK(s.outside_intact());
    }
    {
        Scratch s;  // the symlink is replaced by a regular file, sentinel untouched
        auto r = s.unpack(RawTar().symlink("s", "../outside/sentinel").file("s", "x", 04777).finish());
        REQUIRE(r);
        struct stat sb {};
        REQUIRE(::lstat((s.root / "s").c_str(), &sb) == 0);
        CHECK(S_ISREG(sb.st_mode));
        CHECK(s.outside_intact());
    }
    {
        Scratch s;
        auto r = s.unpack(RawTar().file("/outside/evil", "x").finish());
        REQUIRE(r);
        CHECK(stdfs::exists(s.root / "outside/evil"));
    }
}
