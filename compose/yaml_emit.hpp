// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace berth::compose {

/// Renders JSON as block-style YAML that reads back to the same JSON: object
/// keys in order, strings quoted whenever YAML would read them as another
/// type or they hold special characters, empty collections as {} and [].
[[nodiscard]] std::string to_yaml(const nlohmann::json& value);

}  // namespace berth::compose
