// SPDX-License-Identifier: Apache-2.0
//
// The json-file writer, in its own translation unit: besides the engine, the
// small `berth-monitor` executable compiles it, so it uses only the C library
// and nlohmann/json (no fmt, no engine state).
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/containers/logfile.hpp"

namespace berth::engine::containers {

namespace {

constexpr size_t max_record = 16 * 1024;

/// Now as RFC 3339 with nanoseconds in UTC, as Docker's json-file writes it
/// (the same text as state.hpp's now_rfc3339).
std::string log_time() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm {};
    ::gmtime_r(&ts.tv_sec, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
    return buf;
}

}  // namespace

void LogWriter::emit(std::string_view stream, std::string_view line) {
    if (!fd_) {
        return;
    }
    nlohmann::json rec{{"log", std::string(line)}, {"stream", std::string(stream)}, {"time", log_time()}};
    auto text = rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    // A full disk must not block or kill the supervisor (F11): drop the record.
    ssize_t n = ::write(fd_.get(), text.data(), text.size());
    (void)n;
}

void LogWriter::write(std::string_view stream, std::string_view data) {
    std::string& buf = stream == "stderr" ? err_buf_ : out_buf_;
    buf.append(data);
    size_t start = 0;
    for (;;) {
        auto nl = buf.find('\n', start);
        if (nl == std::string::npos) {
            break;
        }
        emit(stream, std::string_view(buf).substr(start, nl - start + 1));
        start = nl + 1;
    }
    buf.erase(0, start);
    while (buf.size() >= max_record) {
        emit(stream, std::string_view(buf).substr(0, max_record));
        buf.erase(0, max_record);
    }
}

void LogWriter::flush(std::string_view stream) {
    std::string& buf = stream == "stderr" ? err_buf_ : out_buf_;
    if (!buf.empty()) {
        emit(stream, buf);
        buf.clear();
    }
}

}  // namespace berth::engine::containers
