// SPDX-License-Identifier: Apache-2.0
// A compose project whose files are large is loaded by berth re-executed with
// huge-page malloc (common/heap_tuning.hpp): the result is the same, the
// process sees the user's environment (GLIBC_TUNABLES included) and the
// re-execution happens once; a small project is loaded without it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/harness.hpp"

using berth::testing::RunResult;
using berth::testing::ScratchRoot;

namespace {

void write_project(const std::filesystem::path& file, int services) {
    std::ofstream out(file);
    out << "services:\n";
    for (int i = 0; i < services; ++i) {
        out << "  s" << i << ":\n"
            << "    image: busybox\n"
            << "    command: [\"sleep\", \"3600\"]\n"
            << "    environment:\n"
            << "      TUNE: \"${GLIBC_TUNABLES:-unset}\"\n"
            << "      MARK: \"${BERTH_HEAP_TUNED:-unset}${BERTH_HEAP_SAVED_TUNABLES:-}\"\n"
            << "      PAD: \"" << std::string(120, 'x') << "\"\n";
    }
}

RunResult config(const ScratchRoot& scratch, const std::filesystem::path& file,
                 const std::map<std::string, std::string>& extra) {
    auto env = scratch.env();
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    return berth::testing::run_process(
        {BERTH_BINARY, "--debug", "config", "--format", "json", "-f", file.native()}, env, {}, 120);
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("a large project is loaded with huge-page malloc and the user's environment",
          "[.root][root][compose]") {
    ScratchRoot scratch;
    const auto dir = scratch.root().parent_path() / "large";
    std::filesystem::create_directories(dir);
    const auto big = dir / "big.yaml";
    const auto small = dir / "small.yaml";
    write_project(big, 800);
    write_project(small, 3);
    REQUIRE(std::filesystem::file_size(big) > 128 * 1024);
    REQUIRE(std::filesystem::file_size(small) < 128 * 1024);
    const std::string note = "re-executing with huge-page malloc";

    for (const std::string& tunables : {std::string(), std::string("glibc.malloc.perturb=0")}) {
        INFO("GLIBC_TUNABLES=" << tunables);
        std::map<std::string, std::string> extra;
        if (!tunables.empty()) {
            extra["GLIBC_TUNABLES"] = tunables;
        }
        auto r = config(scratch, big, extra);
        INFO(r.err.substr(0, 2000));
        REQUIRE(r.exit_code == 0);
        CHECK(count(r.err, note) == 1);
        auto j = nlohmann::json::parse(r.out);
        REQUIRE(j["services"].size() == 800);
        for (const char* s : {"s0", "s799"}) {
            CHECK(j["services"][s]["environment"]["TUNE"] ==
                  (tunables.empty() ? "unset" : tunables));
            CHECK(j["services"][s]["environment"]["MARK"] == "unset");
        }
        auto r2 = config(scratch, small, extra);
        REQUIRE(r2.exit_code == 0);
        CHECK(count(r2.err, note) == 0);
        auto j2 = nlohmann::json::parse(r2.out);
        CHECK(j2["services"]["s2"]["environment"]["TUNE"] ==
              (tunables.empty() ? "unset" : tunables));
        // The same service loads to the same thing in both processes.
        CHECK(j2["services"]["s2"] == j["services"]["s2"]);
    }
}
