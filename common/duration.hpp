// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.hpp"

namespace berth {

/// Parses a Go duration as Docker and Compose take them ("30s", "1m30s",
/// "1.5h", "500ms", "-2s", "0"; units ns, us/µs/μs, ms, s, m, h) into
/// nanoseconds. Errc::invalid_argument "invalid duration \"X\"" otherwise
/// (no unit, unknown unit, overflow).
[[nodiscard]] Result<std::int64_t> parse_go_duration(std::string_view text);

}  // namespace berth
