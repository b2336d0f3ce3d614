// SPDX-License-Identifier: Apache-2.0
#pragma once

// .dockerignore, with Docker's pattern semantics (pure, no I/O).
//
// One pattern per line; `#` lines and blank lines are skipped; each pattern
// is trimmed and cleaned like Go's filepath.Clean, a leading "/" dropped.
// Matching is Go's filepath.Match per path component (`*`, `?`, `[...]`,
// `\` escapes) plus `**` matching any number of directories. A pattern that
// matches a directory also excludes everything below it. `!pattern` is an
// exception: the last pattern that matches a path decides. Paths are
// relative to the context root, "/"-separated, without "./".

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::engine::build {

class DockerIgnore {
public:
    /// Parses the file text; `path` names it in errors (an invalid pattern,
    /// such as an unterminated `[`: Errc::invalid_argument "path:line: ...").
    [[nodiscard]] static Result<DockerIgnore> parse(std::string_view text,
                                                    const std::string& path);

    /// True when `rel` (a path inside the context) is excluded.
    [[nodiscard]] bool excluded(std::string_view rel) const;

    /// True when some exception pattern could re-include a path below the
    /// directory `rel` even though `rel` itself is excluded, so that a walk
    /// must still descend into it.
    [[nodiscard]] bool may_include_below(std::string_view rel) const;

    [[nodiscard]] bool empty() const noexcept { return patterns_.empty(); }

    struct Pattern {
        std::string text;  ///< cleaned, without the leading '!'
        bool exception = false;
        std::vector<std::string> parts;  ///< split on '/'
    };

private:
    std::vector<Pattern> patterns_;
};

}  // namespace berth::engine::build
