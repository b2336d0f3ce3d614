// SPDX-License-Identifier: Apache-2.0
// RELIABILITY.md section 3 B1: every hand-written bad compose file in
// tests/fixtures/compose/bad/ fails to load with "file:line:col: ..." and the
// reason its NNN-name.yaml.expect file gives.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>

#include "common/fs.hpp"
#include "compose/loader.hpp"

namespace fs = std::filesystem;
using namespace berth::compose;

TEST_CASE("every bad compose file is rejected with file, line, column and reason",
          "[compose][bad]") {
    fs::path dir = fs::path(BERTH_SOURCE_DIR) / "tests" / "fixtures" / "compose" / "bad";
    REQUIRE(fs::is_directory(dir));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".yaml") {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 170);
    const std::regex located(R"(\.yaml:\d+:\d+: )");
    for (const auto& f : files) {
        auto expect = berth::fs::read_file(f.string() + ".expect");
        REQUIRE(expect);
        std::string reason = expect->substr(0, expect->find('\n'));
        LoadOptions o;
        o.files = {f};
        o.working_directory = dir;
        o.environment = {{"HOME", "/home/tester"}};
        auto p = load_project(o);
        INFO(f.filename().string());
        REQUIRE_FALSE(p.has_value());
        const std::string& msg = p.error().message();
        INFO(msg);
        CHECK(p.error().code() != berth::Errc::internal);
        CHECK(msg.find(f.filename().string()) != std::string::npos);
        CHECK(std::regex_search(msg, located));
        CHECK(msg.find(reason) != std::string::npos);
    }
}
