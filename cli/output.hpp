// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::cli {

/// Docker's units.HumanDuration: "Less than a second", "5 seconds",
/// "About a minute", "3 hours", "2 weeks", ...
std::string human_duration(double seconds);

/// Seconds since the epoch of an RFC 3339 time ("" or invalid: 0).
double parse_time(std::string_view rfc3339);

/// Seconds since the epoch, now.
double now_seconds();

/// Prints rows as Docker does: columns padded to the widest cell and
/// separated by three spaces; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows);

/// Renders a Go-template-like format over `value`: "{{.Field}}" and
/// "{{.A.B}}" are replaced, "{{json .}}" / "{{json .Field}}" print JSON,
/// "\t" and "\n" escapes are honoured. "json" prints the whole value as one
/// line of JSON. Errc::invalid_argument for a template it cannot read.
Result<std::string> render_format(std::string_view format, const nlohmann::json& value);

/// A `--format` value starting with "table " prints a header row: returns the
/// template without that word, and sets `table`.
std::string strip_table_prefix(std::string_view format, bool& table);

/// Byte sizes as Docker's units.HumanSize ("1.23MB").
std::string human_size(double bytes);

/// Shortens a command line for the COMMAND column: quoted, cut at 20 with "…".
std::string quote_command(const std::vector<std::string>& args, bool truncate);

}  // namespace berth::cli
