// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace berth::detail {
/// Logs the broken invariant to stderr and aborts. Never returns.
[[noreturn]] void assert_fail(const char* expr, const char* file, int line) noexcept;
}  // namespace berth::detail

/// A broken invariant: log, then abort (STYLE.md section 5).
#define BERTH_ASSERT(expr)                                          \
    do {                                                            \
        if (!(expr)) {                                              \
            ::berth::detail::assert_fail(#expr, __FILE__, __LINE__); \
        }                                                           \
    } while (false)
