// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "compose/yaml_tree.hpp"

namespace berth::compose::detail {

/// Rewrites the short syntaxes of one service (`path` is "services.web", for
/// errors) into their long forms: ports, volumes, depends_on, networks,
/// secrets, configs, devices, environment/labels/annotations/sysctls and build
/// args as mappings, env_file entries, build and extends strings, dns/tmpfs
/// strings, extra_hosts ("host=ip" list), healthcheck.test and command/
/// entrypoint strings (split like a shell). Errc::invalid_argument with the
/// node's mark for an invalid port, volume or device spec.
Result<void> canonicalize_service(Node& service, const std::string& path);

/// Makes the top-level sections mappings (null becomes {}), and each null
/// network/volume/secret/config definition an empty mapping.
void canonicalize_top_level(Node& root);

/// Merges `over` into `base` with the Compose merge rules (mappings merged by
/// key, sequences appended, command/entrypoint/healthcheck.test replaced,
/// ports/volumes/secrets/configs merged by their unique key, `!reset` removes,
/// `!override` replaces). `path` is the dotted path of `base` ("services.web").
void merge_into(Node& base, const Node& over, std::string_view path);

/// Removes `!reset` entries and clears `!override` tags in a subtree that is
/// used without a base.
void strip_merge_tags(Node& node);

/// Makes the relative paths of one service absolute against `dir`: build
/// context and additional contexts, env_file, label_file, bind mount
/// sources (with `~` from `home`), develop.watch paths.
void resolve_service_paths(Node& service, const std::filesystem::path& dir,
                           const std::string& home);

/// Same for top-level secrets' and configs' `file`.
void resolve_top_level_paths(Node& root, const std::filesystem::path& dir,
                             const std::string& home);

/// Absolute, lexically normal, without a trailing '/'.
std::string absolute_clean(const std::filesystem::path& dir, std::string_view path,
                           const std::string& home);

/// Splits a command line like a POSIX shell (quotes and backslashes, no
/// expansion). Errc::invalid_argument for an unterminated quote.
Result<std::vector<std::string>> split_shell_words(std::string_view text);

}  // namespace berth::compose::detail
