// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>

#include "common/fs.hpp"
#include "compose/loader.hpp"

namespace berth::compose::testing {

/// A temporary project folder (named "demo") holding the files a test writes.
class ProjectDir {
public:
    ProjectDir() : tmp_(make()) {
        dir_ = tmp_.path() / "demo";
        std::filesystem::create_directories(dir_);
    }

    [[nodiscard]] const std::filesystem::path& path() const { return dir_; }

    /// Writes `text` to `name` (relative to the folder), creating folders.
    void write(const std::string& name, const std::string& text) const {
        auto p = dir_ / name;
        std::filesystem::create_directories(p.parent_path());
        REQUIRE(fs::write_atomic(p, text));
    }

    /// Loads the project with `files` (default lookup when empty).
    [[nodiscard]] Result<Project> load(std::vector<std::string> files = {},
                                       std::map<std::string, std::string> env = {},
                                       LoadOptions base = {}) const {
        base.working_directory = dir_;
        for (auto& f : files) {
            base.files.emplace_back(f);
        }
        env.try_emplace("HOME", "/home/tester");
        base.environment = std::move(env);
        return load_project(base);
    }

    /// Writes compose.yaml with `yaml` and loads it.
    [[nodiscard]] Result<Project> load_yaml(const std::string& yaml,
                                            std::map<std::string, std::string> env = {}) const {
        write("compose.yaml", yaml);
        return load({}, std::move(env));
    }

private:
    static fs::TempDir make() {
        auto t = fs::TempDir::create(std::filesystem::temp_directory_path(), "berth-compose-");
        REQUIRE(t);
        return std::move(t).value();
    }
    fs::TempDir tmp_;
    std::filesystem::path dir_;
};

/// The error text of a failed load ("" when it succeeded).
inline std::string error_of(const Result<Project>& r) {
    return r ? std::string{} : r.error().message();
}

}  // namespace berth::compose::testing
