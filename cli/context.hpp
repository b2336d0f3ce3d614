// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace berth::cli {

/// Docker's exit codes for the CLI itself (DESIGN.md "Compatibility").
inline constexpr int exit_engine_error = 125;
inline constexpr int exit_cannot_invoke = 126;
inline constexpr int exit_not_found = 127;

/// Global options and the state every command reads. Built by main before any
/// command runs; `paths()` is valid only inside a command's callback.
struct Context {
    std::string root_opt;
    std::string run_root_opt;
    std::string log_level = "warn";
    bool debug = false;
    /// The exit code the process ends with; commands set it.
    int exit_code = 0;
    /// The command word of this invocation (main's command_word), empty when
    /// there is none: a group may leave out the options of its other commands.
    std::string_view word;

    [[nodiscard]] Paths paths() const { return Paths::from(root_opt, run_root_opt); }
};

/// Prints "berth: <message>" on stderr; returns `code` for the caller to set.
int report(const Error& error, int code = exit_engine_error);

}  // namespace berth::cli
