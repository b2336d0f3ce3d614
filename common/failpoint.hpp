// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace berth {

/// A named fault point (RELIABILITY.md section 3). When the environment has
/// BERTH_FAILPOINT=<name>:kill9 the process SIGKILLs itself here; with
/// <name>:error the call returns true so the caller fails as if the step had.
/// Several points may be given, separated by commas. Costs one getenv when unset.
[[nodiscard]] bool failpoint(std::string_view name);

}  // namespace berth
