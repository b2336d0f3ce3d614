// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

namespace berth {

/// Runs a callable when it goes out of scope unless cancel() was called: the
/// undo step of a multi-step action (STYLE.md section 6).
template <typename F>
class [[nodiscard]] ScopeExit {
public:
    explicit ScopeExit(F fn) noexcept : fn_(std::move(fn)) {}
    ScopeExit(ScopeExit&& other) noexcept : fn_(std::move(other.fn_)), active_(other.active_) {
        other.active_ = false;
    }
    ScopeExit(const ScopeExit&) = delete;
    ScopeExit& operator=(const ScopeExit&) = delete;
    ScopeExit& operator=(ScopeExit&&) = delete;
    ~ScopeExit() {
        if (active_) {
            fn_();
        }
    }
    /// Keeps what was done: the undo will not run.
    void cancel() noexcept { active_ = false; }

private:
    F fn_;
    bool active_ = true;
};

}  // namespace berth
