// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <thread>

#include "common/result.hpp"
#include "common/scope_exit.hpp"

namespace berth::compose::detail {

/// From this many items (services) on, the loader splits work over two threads.
constexpr size_t parallel_from = 64;

/// Runs fn(i) for every i < n, the second half on a helper thread when n is
/// large; the first failure in index order is returned (exceptions too).
template <class F>
Result<void> for_each_split(size_t n, F&& fn) {
    if (n < parallel_from) {
        for (size_t i = 0; i < n; ++i) {
            if (auto r = fn(i); !r) {
                return r;
            }
        }
        return {};
    }
    size_t half = n / 2;
    std::optional<Error> second_error;
    std::exception_ptr thrown;
    std::thread helper([&] {
        try {
            for (size_t i = half; i < n; ++i) {
                if (auto r = fn(i); !r) {
                    second_error = std::move(r).error();
                    return;
                }
            }
        } catch (...) {
            thrown = std::current_exception();
        }
    });
    ScopeExit join([&] {
        if (helper.joinable()) {
            helper.join();
        }
    });
    std::optional<Error> first_error;
    for (size_t i = 0; i < half; ++i) {
        if (auto r = fn(i); !r) {
            first_error = std::move(r).error();
            break;
        }
    }
    helper.join();
    if (first_error) {
        return *first_error;
    }
    if (thrown) {
        std::rethrow_exception(thrown);
    }
    if (second_error) {
        return *second_error;
    }
    return {};
}

}  // namespace berth::compose::detail
