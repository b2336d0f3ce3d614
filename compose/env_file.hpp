// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "compose/interpolate.hpp"

namespace berth::compose {

/// How an env file is read: `dotenv` (quotes, escapes, comments, `export`,
/// variable expansion) or `raw` (each line is KEY=VALUE, taken literally).
enum class EnvFormat { dotenv, raw };

/// Variables in file order; a later duplicate replaces an earlier one.
using EnvList = std::vector<std::pair<std::string, std::string>>;

/// Parses the text of an env file (`file` names it in errors). In dotenv
/// format: blank lines and `#` lines are skipped, `export ` is dropped, a
/// value may be single-quoted (literal), double-quoted (escapes \n \t \r \\ \"
/// and variables expanded; may span lines) or bare (trimmed, an inline ` #`
/// comment removed, variables expanded). Variables expand from earlier
/// entries of the file first, then `lookup`. A line holding only KEY takes
/// the value from `lookup` and is skipped when unset. Errc::invalid_argument
/// with "file:line: message".
Result<EnvList> parse_env_file(std::string_view text, const std::string& file,
                               const Lookup& lookup, EnvFormat format = EnvFormat::dotenv);

}  // namespace berth::compose
