// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::engine::containers {

/// Writes Docker's json-file log format: one JSON object per line,
/// {"log":"text\n","stream":"stdout","time":"<RFC 3339 nano>"}. Output is cut
/// into records at each newline, and at 16 KiB without one (as Docker does).
class LogWriter {
public:
    /// Opens (appends to) `path`. An empty path discards everything.
    static Result<LogWriter> open(const std::filesystem::path& path);
    /// Writes to `fd` (opened for appending); an invalid fd discards everything.
    explicit LogWriter(UniqueFd fd) : fd_(std::move(fd)) {}

    /// Feeds bytes from a stream ("stdout" or "stderr"); complete lines are written.
    void write(std::string_view stream, std::string_view data);
    /// Writes what is buffered of a stream without a final newline.
    void flush(std::string_view stream);
    /// What is buffered of a stream (an unfinished line), and putting it back:
    /// the supervisor and its monitor hand it to each other across execve.
    [[nodiscard]] const std::string& pending(std::string_view stream) const {
        return stream == "stderr" ? err_buf_ : out_buf_;
    }
    void restore(std::string out, std::string err) {
        out_buf_ = std::move(out);
        err_buf_ = std::move(err);
    }

private:
    void emit(std::string_view stream, std::string_view line);
    UniqueFd fd_;
    std::string out_buf_;
    std::string err_buf_;
};

/// One record of a json-file log.
struct LogRecord {
    std::string stream;  ///< "stdout" or "stderr"
    std::string time;    ///< RFC 3339 nano
    std::string text;    ///< with its newline, if it had one
};

/// Options of `logs`.
struct LogReadOptions {
    std::optional<size_t> tail;  ///< only the last N records
    std::string since;           ///< RFC 3339 lower bound on time ("" = all)
    std::string until;
    bool follow = false;
    /// Polled while following: return false to stop (container gone for good).
    std::function<bool()> keep_following;
};

/// Reads the log at `path` and calls `sink` for each record, in order.
/// With follow, keeps reading appended records until keep_following() says no
/// and the file has been drained.
Result<void> read_log(const std::filesystem::path& path, const LogReadOptions& options,
                      const std::function<bool(const LogRecord&)>& sink);

/// Converts a time given to --since/--until (RFC 3339, a Unix timestamp, or a
/// duration like "10m" / "1h30m" before now) to RFC 3339 nano UTC.
Result<std::string> parse_log_time(std::string_view text);

}  // namespace berth::engine::containers
