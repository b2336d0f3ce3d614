// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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
