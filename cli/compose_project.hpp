// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "compose/loader.hpp"

namespace berth::cli {

/// The global compose options every compose command takes.
struct ProjectFlags {
    std::vector<std::string> files;
    std::string project_name;
    std::string project_directory;
    std::vector<std::string> profiles;
    std::vector<std::string> env_files;
};

/// Adds -f/--file, -p/--project-name, --project-directory, --profile, --env-file.
void add_project_flags(CLI::App* cmd, ProjectFlags& flags);

/// The loader options for `flags`, with this process's environment.
compose::LoadOptions load_options(const ProjectFlags& flags);

}  // namespace berth::cli
