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
/// Commands whose own `-f` or `-p` mean something else (rm -f, logs -f,
/// run -p) pass `short_names` false: then only --file and --project-name.
void add_project_flags(CLI::App* cmd, ProjectFlags& flags, bool short_names = true);

/// The loader options for `flags`, with this process's environment.
compose::LoadOptions load_options(const ProjectFlags& flags);

}  // namespace berth::cli
