// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "compose/model.hpp"

namespace berth::compose {

/// What to load and how; mirrors the global compose options of the CLI.
struct LoadOptions {
    /// `-f` files (relative to `working_directory`); empty: COMPOSE_FILE, then
    /// compose.yaml / compose.yml / docker-compose.yml / docker-compose.yaml
    /// (and the matching override file) in the working directory or a parent.
    std::vector<std::filesystem::path> files;
    std::optional<std::string> project_name;                 ///< `-p`
    std::optional<std::filesystem::path> project_directory;  ///< `--project-directory`
    std::vector<std::string> profiles;                       ///< `--profile`; else COMPOSE_PROFILES
    std::vector<std::filesystem::path> env_files;            ///< `--env-file`; else <project>/.env
    /// The process environment, injected for testability (shell wins over .env).
    std::map<std::string, std::string> environment;
    /// The directory relative paths on the command line start from; empty: cwd.
    std::filesystem::path working_directory;
    bool interpolate = true;  ///< false: `--no-interpolate`
    bool normalize = true;    ///< false: `--no-normalize` (no implicit defaults)
    bool resolve_paths = true;
    bool consistency = true;  ///< check references (networks, volumes, depends_on, ...)
    /// Called with the project's top-level compose files once they are known
    /// and before any is read (the CLI uses it to size its heap).
    std::function<void(const std::vector<std::filesystem::path>&)> before_parse;
};

/// Loads a compose project: YAML (with line/column), interpolation, merge of
/// the files, extends, include, profiles, schema validation, short syntax
/// expansion, normalisation, consistency checks and the dependency graph
/// check. Errc::invalid_argument for any problem in the files, with a message
/// "file:line:col: path: what"; Errc::not_found when no compose file exists.
[[nodiscard]] Result<Project> load_project(const LoadOptions& options);

/// Compose's project name normalisation: lower case, only [a-z0-9_-], no
/// leading '_' or '-'.
[[nodiscard]] std::string normalize_project_name(std::string_view name);

}  // namespace berth::compose
