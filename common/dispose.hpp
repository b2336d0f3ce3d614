// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace berth {

/// Destroys `value` (moved in) on a detached thread: for a large tree (a
/// compose project's nodes and JSON) whose freeing would otherwise hold up
/// the caller by milliseconds, when the caller has nothing else to do with
/// it. The process may exit before the freeing ends; nothing is lost then.
/// Without a thread to spare, the value is destroyed here.
template <class T>
void dispose_async(T&& value) {
    static_assert(!std::is_lvalue_reference_v<T>, "dispose_async takes an rvalue");
    try {
        std::thread([v = std::move(value)]() mutable {
            T dead = std::move(v);
            (void)dead;
        }).detach();
    } catch (const std::system_error&) {
    }
}

}  // namespace berth
