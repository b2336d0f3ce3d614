// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/result.hpp"

namespace berth {

/// Reads and parses a JSON file. Errc::not_found when missing,
/// Errc::invalid_argument (naming the file) when it does not parse.
Result<nlohmann::json> read_json(const std::filesystem::path& path);

/// Serialises `value` (pretty when `indent` >= 0) and writes it atomically.
Result<void> write_json(const std::filesystem::path& path, const nlohmann::json& value,
                        int indent = -1, mode_t mode = 0644,
                        fs::Durability durability = fs::Durability::durable);

}  // namespace berth
