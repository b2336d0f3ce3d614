// SPDX-License-Identifier: Apache-2.0
#include "cli/compose_project.hpp"

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "common/heap_tuning.hpp"

extern char** environ;

namespace berth::cli {

void add_project_flags(CLI::App* cmd, ProjectFlags& f, bool short_names) {
    cmd->add_option(short_names ? "-f,--file" : "--file", f.files, "Compose configuration files");
    cmd->add_option(short_names ? "-p,--project-name" : "--project-name", f.project_name,
                    "Project name");
    cmd->add_option("--project-directory", f.project_directory,
                    "Alternate working directory (default: the first file's directory)");
    cmd->add_option("--profile", f.profiles, "Enable a profile");
    cmd->add_option("--env-file", f.env_files, "Alternate environment files");
}

compose::LoadOptions load_options(const ProjectFlags& f) {
    compose::LoadOptions lo;
    for (const auto& file : f.files) {
        lo.files.emplace_back(file);
    }
    if (!f.project_name.empty()) {
        lo.project_name = f.project_name;
    }
    if (!f.project_directory.empty()) {
        lo.project_directory = f.project_directory;
    }
    lo.profiles = f.profiles;
    for (const auto& e : f.env_files) {
        lo.env_files.emplace_back(e);
    }
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv(*e);
        auto eq = kv.find('=');
        if (eq != std::string_view::npos) {
            lo.environment.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
        }
    }
    // A large project is loaded with huge-page malloc (common/heap_tuning.hpp):
    // nothing has happened yet that a re-executed process would repeat.
    lo.before_parse = [](const std::vector<std::filesystem::path>& files) {
        uint64_t total = 0;
        for (const auto& file : files) {
            std::error_code ec;
            auto size = std::filesystem::file_size(file, ec);
            total += ec ? 0 : static_cast<uint64_t>(size);
        }
        heap::reexec_for_large_input(total);
    };
    return lo;
}

}  // namespace berth::cli
