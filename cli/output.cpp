// SPDX-License-Identifier: Apache-2.0
#include "cli/output.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>

namespace berth::cli {

std::string human_duration(double seconds) {
    if (seconds < 1) {
        return "Less than a second";
    }
    if (seconds < 2) {
        return "1 second";
    }
    if (seconds < 60) {
        return fmt::format("{} seconds", static_cast<long>(seconds));
    }
    double minutes = seconds / 60;
    if (minutes < 2) {
        return "About a minute";
    }
    if (minutes < 46) {
        return fmt::format("{} minutes", static_cast<long>(minutes));
    }
    double hours = minutes / 60;
    if (hours < 1.5) {
        return "About an hour";
    }
    if (hours < 48) {
        return fmt::format("{} hours", static_cast<long>(std::round(hours)));
    }
    if (hours < 24 * 7 * 2) {
        return fmt::format("{} days", static_cast<long>(hours / 24));
    }
    if (hours < 24 * 30 * 2) {
        return fmt::format("{} weeks", static_cast<long>(hours / 24 / 7));
    }
    if (hours < 24 * 365 * 2) {
        return fmt::format("{} months", static_cast<long>(hours / 24 / 30));
    }
    return fmt::format("{} years", static_cast<long>(hours / 24 / 365));
}

double parse_time(std::string_view text) {
    if (text.size() < 19) {
        return 0;
    }
    struct tm tm {};
    std::string s(text);
    const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) {
        return 0;
    }
    double frac = 0;
    if (*end == '.') {
        frac = std::atof(end);
    }
    return static_cast<double>(::timegm(&tm)) + frac;
}

double now_seconds() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> widths;
    for (const auto& r : rows) {
        if (widths.size() < r.size()) {
            widths.resize(r.size(), 0);
        }
        for (size_t i = 0; i < r.size(); ++i) {
            widths[i] = std::max(widths[i], r[i].size());
        }
    }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) {
                line += std::string(widths[i] - r[i].size() + 3, ' ');
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        out += line + "\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

std::string strip_table_prefix(std::string_view format, bool& table) {
    table = false;
    if (format.substr(0, 6) == "table ") {
        table = true;
        return std::string(format.substr(6));
    }
    if (format == "table") {
        table = true;
        return {};
    }
    return std::string(format);
}

namespace {

const nlohmann::json* lookup(const nlohmann::json& value, std::string_view path) {
    const nlohmann::json* cur = &value;
    if (path == ".") {
        return cur;
    }
    size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] != '.') {
            return nullptr;
        }
        ++pos;
        auto next = path.find('.', pos);
        auto key = std::string(path.substr(pos, next == std::string_view::npos ? path.size() - pos : next - pos));
        if (!cur->is_object() || !cur->contains(key)) {
            return nullptr;
        }
        cur = &(*cur)[key];
        if (next == std::string_view::npos) {
            break;
        }
        pos = next;
    }
    return cur;
}

std::string plain(const nlohmann::json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_null()) {
        return "<no value>";
    }
    if (v.is_object()) {
        // Go prints maps as map[k:v ...].
        std::string out = "map[";
        bool first = true;
        for (const auto& [k, val] : v.items()) {
            out += (first ? "" : " ") + k + ":" + plain(val);
            first = false;
        }
        return out + "]";
    }
    if (v.is_array()) {
        std::string out = "[";
        bool first = true;
        for (const auto& val : v) {
            out += (first ? "" : " ") + plain(val);
            first = false;
        }
        return out + "]";
    }
    return v.dump();
}

}  // namespace

Result<std::string> render_format(std::string_view format, const nlohmann::json& value) {
    if (format == "json" || format == "{{json .}}") {
        return value.dump();
    }
    std::string out;
    size_t pos = 0;
    while (pos < format.size()) {
        auto open = format.find("{{", pos);
        std::string_view literal = format.substr(pos, open == std::string_view::npos ? format.size() - pos : open - pos);
        for (size_t i = 0; i < literal.size(); ++i) {
            if (literal[i] == '\\' && i + 1 < literal.size()) {
                char n = literal[i + 1];
                if (n == 't') {
                    out.push_back('\t');
                    ++i;
                    continue;
                }
                if (n == 'n') {
                    out.push_back('\n');
                    ++i;
                    continue;
                }
            }
            out.push_back(literal[i]);
        }
        if (open == std::string_view::npos) {
            break;
        }
        auto close = format.find("}}", open);
        if (close == std::string_view::npos) {
            return Error(Errc::invalid_argument, fmt::format("template: unclosed action in \"{}\"", format));
        }
        std::string_view action = format.substr(open + 2, close - open - 2);
        while (!action.empty() && action.front() == ' ') {
            action.remove_prefix(1);
        }
        while (!action.empty() && action.back() == ' ') {
            action.remove_suffix(1);
        }
        bool as_json = false;
        if (action.substr(0, 5) == "json ") {
            as_json = true;
            action.remove_prefix(5);
        }
        const nlohmann::json* v = lookup(value, action);
        if (v == nullptr) {
            return Error(Errc::invalid_argument,
                         fmt::format("template: can't evaluate field {} in \"{}\"", action, format));
        }
        out += as_json ? v->dump() : plain(*v);
        pos = close + 2;
    }
    return out;
}

std::string human_size(double bytes) {
    static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int i = 0;
    while (bytes >= 1000 && i < 5) {
        bytes /= 1000;
        ++i;
    }
    auto text = fmt::format("{:.4g}", bytes);
    return text + units[i];
}

std::string quote_command(const std::vector<std::string>& args, bool truncate) {
    std::string joined;
    for (const auto& a : args) {
        joined += (joined.empty() ? "" : " ") + a;
    }
    if (truncate && joined.size() > 20) {
        joined = joined.substr(0, 19) + "…";
    }
    return "\"" + joined + "\"";
}

}  // namespace berth::cli
