// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "common/digest.hpp"
#include "common/dynlib.hpp"
#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/result.hpp"

using namespace berth;

TEST_CASE("errno maps to its error class and names the object", "[common]") {
    auto e = Error::from_errno(ENOENT, "open /x");
    CHECK(e.code() == Errc::not_found);
    CHECK(e.sys_errno() == ENOENT);
    CHECK(e.message() == "open /x: No such file or directory");
    CHECK(Error::from_errno(EEXIST, "a").code() == Errc::already_exists);
    CHECK(Error::from_errno(EBUSY, "a").code() == Errc::conflict);
    CHECK(Error::from_errno(EACCES, "a").code() == Errc::permission_denied);
    CHECK(std::move(e).wrap("start container c").message() ==
          "start container c: open /x: No such file or directory");
}

TEST_CASE("Result holds a value or an error", "[common]") {
    Result<int> ok = 4;
    REQUIRE(ok);
    CHECK(*ok == 4);
    Result<int> bad = Error(Errc::conflict, "busy");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == Errc::conflict);
    CHECK(bad.value_or(7) == 7);
    Result<void> fine;
    CHECK(fine);
    Result<void> failed = Error(Errc::internal, "x");
    CHECK_FALSE(failed);
}

TEST_CASE("sha256 digests match known vectors and parse strictly", "[common]") {
    CHECK(Digest::of("").str() ==
          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(Digest::of("abc").hex() ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(Digest::parse(Digest::of("abc").str()));
    CHECK_FALSE(Digest::parse("sha256:ABC"));
    CHECK_FALSE(Digest::parse("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(random_hex_id().size() == 64);
    CHECK(random_hex_id(12).size() == 12);
    CHECK(random_hex_id() != random_hex_id());
}

TEST_CASE("sha256 agrees whether Nettle or an already loaded libcrypto hashes", "[common]") {
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>((i * 131) % 251);
    }
    constexpr const char* want =
        "sha256:5284e39777f0fb0c39b67ddfcb272296d137b4a527ccef0c3ee01a7a4ed2f044";
    auto digest = [&](std::string* impl) {
        Sha256 h;
        *impl = h.implementation();
        for (size_t pos = 0; pos < big.size(); pos += 100000) {
            h.update(std::string_view(big).substr(pos, 100000));
        }
        return h.finish().str();
    };
    std::string impl;
    if (std::string(Sha256().implementation()) == "nettle") {
        CHECK(digest(&impl) == want);
        CHECK(impl == "nettle");
    }
    // What a registry transfer does: libcurl brings libcrypto into the process.
    (void)dynlib::symbol("libcrypto.so.3", "EVP_MD_CTX_new");
    CHECK(digest(&impl) == want);
    CHECK(impl == "openssl");
    CHECK(Digest::of("abc").hex() ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("atomic writes replace content and leave no temp file", "[common]") {
    auto dir = fs::TempDir::create(std::filesystem::temp_directory_path(), "berth-unit-");
    REQUIRE(dir);
    auto file = dir->path() / "state.json";
    REQUIRE(write_json(file, nlohmann::json{{"a", 1}}));
    REQUIRE(write_json(file, nlohmann::json{{"a", 2}}));
    auto back = read_json(file);
    REQUIRE(back);
    CHECK((*back)["a"] == 2);
    int entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir->path())) {
        ++entries;
    }
    CHECK(entries == 1);
    auto missing = read_json(dir->path() / "nope.json");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == Errc::not_found);
}

TEST_CASE("a held file lock refuses a second holder until released", "[common]") {
    auto dir = fs::TempDir::create(std::filesystem::temp_directory_path(), "berth-unit-");
    REQUIRE(dir);
    auto path = dir->path() / "locks" / "p.lock";
    {
        auto first = fs::FileLock::acquire(path);
        REQUIRE(first);
        auto second = fs::FileLock::try_acquire(path);
        REQUIRE_FALSE(second);
        CHECK(second.error().code() == Errc::conflict);
    }
    CHECK(fs::FileLock::try_acquire(path));
}

TEST_CASE("a temp dir is removed with its content", "[common]") {
    std::filesystem::path kept;
    {
        auto dir = fs::TempDir::create(std::filesystem::temp_directory_path(), "berth-unit-");
        REQUIRE(dir);
        kept = dir->path();
        REQUIRE(fs::make_dirs(kept / "a" / "b"));
        REQUIRE(fs::write_atomic(kept / "a" / "b" / "f", "x"));
    }
    CHECK_FALSE(std::filesystem::exists(kept));
}

TEST_CASE("failpoints fire only when named", "[common]") {
    ::setenv("BERTH_FAILPOINT", "other:error,here:error", 1);
    CHECK(failpoint("here"));
    CHECK_FALSE(failpoint("elsewhere"));
    ::unsetenv("BERTH_FAILPOINT");
    CHECK_FALSE(failpoint("here"));
}
