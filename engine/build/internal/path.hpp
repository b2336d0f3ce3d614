// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

namespace berth::engine::build::internal {

/// Go's filepath.Clean for '/'-separated paths ("" -> ".", "a/./b/../c/" ->
/// "a/c", "/../x" -> "/x"; a relative path keeps leading ".."), as Docker
/// cleans .dockerignore patterns and RUN --mount paths.
[[nodiscard]] std::string clean_go_path(std::string_view p);

}  // namespace berth::engine::build::internal
