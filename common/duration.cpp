// SPDX-License-Identifier: Apache-2.0
#include "common/duration.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <string>

namespace berth {

Result<std::int64_t> parse_go_duration(std::string_view text) {
    auto bad = [&]() {
        return Error(Errc::invalid_argument, fmt::format("invalid duration \"{}\"", text));
    };
    std::string_view s = text;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") {
        return std::int64_t{0};
    }
    if (s.empty()) {
        return bad();
    }
    long double total = 0;
    while (!s.empty()) {
        std::size_t i = 0;
        while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
            ++i;
        }
        if (i == 0) {
            return bad();
        }
        std::string num(s.substr(0, i));
        if (num == "." || std::count(num.begin(), num.end(), '.') > 1) {
            return bad();
        }
        s.remove_prefix(i);
        std::size_t u = 0;
        while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') {
            ++u;
        }
        std::string_view unit = s.substr(0, u);
        s.remove_prefix(u);
        long double mult = 0;
        if (unit == "ns") {
            mult = 1;
        } else if (unit == "us" || unit == "µs" || unit == "μs") {
            mult = 1e3;
        } else if (unit == "ms") {
            mult = 1e6;
        } else if (unit == "s") {
            mult = 1e9;
        } else if (unit == "m") {
            mult = 60e9;
        } else if (unit == "h") {
            mult = 3600e9;
        } else {
            return bad();
        }
        total += std::strtold(num.c_str(), nullptr) * mult;
        if (total > 9.2e18L) {
            return bad();
        }
    }
    auto ns = static_cast<std::int64_t>(std::llround(static_cast<double>(total)));
    return neg ? -ns : ns;
}

}  // namespace berth
