// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/logfile.hpp"

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <deque>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/containers/state.hpp"

namespace berth::engine::containers {

namespace {
std::string format_time(time_t secs, long nanos) {
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
}
}  // namespace

Result<LogWriter> LogWriter::open(const std::filesystem::path& path) {
    if (path.empty()) {
        return LogWriter(UniqueFd());
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open log {}", path.native()));
    }
    return LogWriter(UniqueFd(fd));
}

Result<std::string> parse_log_time(std::string_view text) {
    if (text.empty()) {
        return std::string();
    }
    // A duration before now: 10s, 5m, 1h30m.
    auto last = text.back();
    if (last == 's' || last == 'm' || last == 'h') {
        double total = 0;
        std::string_view rest = text;
        bool ok = true;
        while (!rest.empty()) {
            double v = 0;
            auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
            if (ec != std::errc() || ptr == rest.data() + rest.size()) {
                ok = false;
                break;
            }
            char unit = *ptr;
            size_t consumed = static_cast<size_t>(ptr - rest.data()) + 1;
            if (unit == 'm' && consumed < rest.size() && rest[consumed] == 's') {
                total += v / 1000;
                ++consumed;
            } else if (unit == 'h') {
                total += v * 3600;
            } else if (unit == 'm') {
                total += v * 60;
            } else if (unit == 's') {
                total += v;
            } else {
                ok = false;
                break;
            }
            rest.remove_prefix(consumed);
        }
        if (ok) {
            struct timespec ts {};
            ::clock_gettime(CLOCK_REALTIME, &ts);
            auto at = static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9 - total;
            auto secs = static_cast<time_t>(at);
            return format_time(secs, static_cast<long>((at - static_cast<double>(secs)) * 1e9));
        }
    }
    // A Unix timestamp, possibly with fractional seconds.
    if (text.find_first_not_of("0123456789.") == std::string_view::npos) {
        double v = 0;
        std::from_chars(text.data(), text.data() + text.size(), v);
        auto secs = static_cast<time_t>(v);
        return format_time(secs, static_cast<long>((v - static_cast<double>(secs)) * 1e9));
    }
    // RFC 3339 ("2026-11-27T19:45:12Z" or with fraction), or a date.
    struct tm tm {};
    std::string s(text);
    const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) {
        end = ::strptime(s.c_str(), "%Y-%m-%d", &tm);
    }
    if (end == nullptr) {
        return Error(Errc::invalid_argument, fmt::format("invalid time value \"{}\"", text));
    }
    long nanos = 0;
    if (*end == '.') {
        ++end;
        std::string frac;
        while (std::isdigit(static_cast<unsigned char>(*end)) != 0) {
            frac.push_back(*end++);
        }
        frac.resize(9, '0');
        nanos = std::stol(frac);
    }
    return format_time(::timegm(&tm), nanos);
}

Result<void> read_log(const std::filesystem::path& path, const LogReadOptions& options,
                      const std::function<bool(const LogRecord&)>& sink) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (!std::filesystem::exists(path)) {
            return {};  // nothing logged yet
        }
        return Error(Errc::permission_denied, fmt::format("open log {}", path.native()));
    }
    auto parse = [&](const std::string& line, LogRecord& rec) {
        try {
            auto j = nlohmann::json::parse(line);
            rec.text = j.value("log", "");
            rec.stream = j.value("stream", "stdout");
            rec.time = j.value("time", "");
            return true;
        } catch (const nlohmann::json::exception&) {
            return false;
        }
    };
    auto in_window = [&](const LogRecord& rec) {
        return (options.since.empty() || rec.time >= options.since) &&
               (options.until.empty() || rec.time <= options.until);
    };
    std::deque<LogRecord> tail;
    std::string line;
    std::string partial;
    while (std::getline(in, line)) {
        if (in.eof()) {
            partial = line;  // a record still being written
            break;
        }
        LogRecord rec;
        if (!parse(line, rec) || !in_window(rec)) {
            continue;
        }
        if (options.tail) {
            tail.push_back(std::move(rec));
            if (tail.size() > *options.tail) {
                tail.pop_front();
            }
        } else if (!sink(rec)) {
            return {};
        }
    }
    for (const auto& rec : tail) {
        if (!sink(rec)) {
            return {};
        }
    }
    if (!options.follow) {
        return {};
    }
    in.clear();
    for (;;) {
        bool more = options.keep_following ? options.keep_following() : false;
        while (std::getline(in, line)) {
            if (in.eof()) {
                partial += line;
                break;
            }
            std::string full = partial + line;
            partial.clear();
            LogRecord rec;
            if (parse(full, rec) && in_window(rec) && !sink(rec)) {
                return {};
            }
        }
        in.clear();
        if (!more) {
            return {};
        }
        // The supervisor appends whole records; a short poll keeps `logs -f` responsive.
        ::poll(nullptr, 0, 50);
    }
}

}  // namespace berth::engine::containers
