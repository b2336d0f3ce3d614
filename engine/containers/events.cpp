// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/events.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace berth::engine::containers {

using nlohmann::json;

namespace {

constexpr off_t rotate_bytes = 4 * 1024 * 1024;

int64_t now_nano() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::string Event::to_json_line() const {
    json attrs = attributes;
    json j{{"status", action},
           {"id", id},
           {"from", attributes.count("image") != 0 ? attributes.at("image") : std::string()},
           {"Type", type},
           {"Action", action},
           {"Actor", {{"ID", id}, {"Attributes", attrs}}},
           {"scope", "local"},
           {"time", time_nano / 1000000000},
           {"timeNano", time_nano}};
    return j.dump() + "\n";
}

std::optional<Event> Event::parse(std::string_view line) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("Action") || !j.contains("Actor")) {
        return std::nullopt;
    }
    Event e;
    e.type = j.value("Type", "container");
    e.action = j.value("Action", "");
    const auto& actor = j["Actor"];
    if (!actor.is_object()) {
        return std::nullopt;
    }
    e.id = actor.value("ID", "");
    const auto attrs = actor.value("Attributes", json::object());
    for (const auto& [k, v] : attrs.items()) {
        if (v.is_string()) {
            e.attributes[k] = v.get<std::string>();
        }
    }
    e.time_nano = j.value("timeNano", int64_t{0});
    return e;
}

std::filesystem::path events_path(const Paths& paths) {
    return paths.run_root / "events.jsonl";
}

void record_event(const Paths& paths, const ContainerRecord& record, std::string_view action,
                  const std::map<std::string, std::string>& extra) {
    Event e;
    e.action = std::string(action);
    e.id = record.id;
    e.attributes = record.config.labels;
    e.attributes["name"] = record.name;
    e.attributes["image"] = record.config.image;
    for (const auto& [k, v] : extra) {
        e.attributes[k] = v;
    }
    e.time_nano = now_nano();
    const auto path = events_path(paths);
    const auto line = e.to_json_line();
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd && errno == ENOENT) {
        std::error_code ec;
        std::filesystem::create_directories(paths.run_root, ec);
        fd.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    }
    if (!fd) {
        log::engine().warn("event {} of {}: open {}: {}", action, record.name, path.native(),
                           std::strerror(errno));
        return;
    }
    // One write per line: O_APPEND keeps concurrent writers' lines whole.
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        log::engine().warn("event {} of {}: write {}: {}", action, record.name, path.native(),
                           std::strerror(errno));
        return;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && st.st_size > rotate_bytes) {
        // Whoever crosses the limit first rotates; a writer that still holds
        // the old file appends there, which readers finish before moving on.
        auto older = path;
        older += ".1";
        (void)::rename(path.c_str(), older.c_str());
    }
}

std::vector<Event> EventReader::drain(int fd) {
    std::vector<Event> out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        partial_.append(buf, static_cast<size_t>(n));
    }
    size_t start = 0;
    for (size_t nl = partial_.find('\n'); nl != std::string::npos;
         nl = partial_.find('\n', start)) {
        if (auto e = Event::parse(std::string_view(partial_).substr(start, nl - start))) {
            out.push_back(std::move(*e));
        }
        start = nl + 1;
    }
    partial_.erase(0, start);
    return out;
}

std::vector<Event> EventReader::next() {
    std::vector<Event> out;
    if (!started_) {
        started_ = true;
        auto older = path_;
        older += ".1";
        if (UniqueFd old(::open(older.c_str(), O_RDONLY | O_CLOEXEC)); old) {
            out = drain(old.get());
            partial_.clear();
        }
    }
    struct stat st {};
    const bool exists = ::stat(path_.c_str(), &st) == 0;
    if (fd_ && exists && st.st_ino != inode_) {
        // Rotated: finish the old file, then start the new one.
        auto rest = drain(fd_.get());
        out.insert(out.end(), rest.begin(), rest.end());
        partial_.clear();
        fd_.reset();
    }
    if (!fd_ && exists) {
        fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat opened {};
        if (fd_ && ::fstat(fd_.get(), &opened) == 0) {
            inode_ = opened.st_ino;
        }
    }
    if (fd_) {
        auto more = drain(fd_.get());
        out.insert(out.end(), more.begin(), more.end());
    }
    return out;
}

Result<int64_t> parse_event_time(std::string_view text,
                                 std::chrono::system_clock::time_point now) {
    const auto bad = [&] {
        return Error(Errc::invalid_argument,
                     fmt::format("invalid time \"{}\": expected a Unix time, an RFC 3339 date "
                                 "or date-time, or a duration such as 10m",
                                 text));
    };
    const std::string s(text);
    if (s.empty()) {
        return bad();
    }
    const int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    // A Unix time: digits, optionally with a fraction.
    if (s.find_first_not_of("0123456789.") == std::string::npos &&
        std::count(s.begin(), s.end(), '.') <= 1 && s.front() != '.') {
        auto dot = s.find('.');
        int64_t secs = std::strtoll(s.substr(0, dot).c_str(), nullptr, 10);
        int64_t frac = 0;
        if (dot != std::string::npos) {
            auto digits = s.substr(dot + 1, 9);
            digits.resize(9, '0');
            frac = std::strtoll(digits.c_str(), nullptr, 10);
        }
        return secs * 1000000000 + frac;
    }
    // A Go duration: (number unit)+, before now.
    {
        static const std::map<std::string, double> units{
            {"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
        size_t i = 0;
        double total = 0;
        bool ok = true;
        while (i < s.size() && ok) {
            size_t j = i;
            while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) {
                ++j;
            }
            size_t k = j;
            while (k < s.size() && !std::isdigit(static_cast<unsigned char>(s[k])) && s[k] != '.') {
                ++k;
            }
            auto unit = units.find(s.substr(j, k - j));
            if (j == i || unit == units.end()) {
                ok = false;
                break;
            }
            total += std::strtod(s.substr(i, j - i).c_str(), nullptr) * unit->second;
            i = k;
        }
        if (ok) {
            return now_ns - static_cast<int64_t>(std::llround(total));
        }
    }
    // RFC 3339: a date, or a date-time with Z, an offset, or neither (local time).
    std::tm tm{};
    const char* rest = ::strptime(s.c_str(), "%Y-%m-%d", &tm);
    if (rest == nullptr) {
        return bad();
    }
    int64_t frac = 0;
    bool local = true;
    int64_t offset = 0;
    if (*rest == 'T' || *rest == ' ') {
        rest = ::strptime(rest + 1, "%H:%M:%S", &tm);
        if (rest == nullptr) {
            return bad();
        }
        if (*rest == '.') {
            std::string digits;
            for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest) {
                digits += *rest;
            }
            digits = digits.substr(0, 9);
            digits.resize(9, '0');
            frac = std::strtoll(digits.c_str(), nullptr, 10);
        }
        if (*rest == 'Z' || *rest == 'z') {
            local = false;
            ++rest;
        } else if (*rest == '+' || *rest == '-') {
            int sign = *rest == '-' ? -1 : 1;
            int hh = 0;
            int mm = 0;
            if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) {
                return bad();
            }
            local = false;
            offset = sign * (hh * 3600 + mm * 60);
            rest += 6;
        }
    }
    if (*rest != '\0') {
        return bad();
    }
    tm.tm_isdst = -1;
    int64_t secs = local ? static_cast<int64_t>(std::mktime(&tm))
                         : static_cast<int64_t>(::timegm(&tm)) - offset;
    return secs * 1000000000 + frac;
}

}  // namespace berth::engine::containers
