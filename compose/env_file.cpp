// SPDX-License-Identifier: Apache-2.0
#include "compose/env_file.hpp"

#include <map>

#include <fmt/format.h>

namespace berth::compose {

namespace {

bool is_key_char(char c) {
    return c == '_' || c == '.' || c == '-' || c == '[' || c == ']' || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string trim(std::string_view s) {
    std::size_t b = 0;
    std::size_t e = s.size();
    while (b < e && (is_blank(s[b]) || s[b] == '\n')) {
        ++b;
    }
    while (e > b && (is_blank(s[e - 1]) || s[e - 1] == '\n')) {
        --e;
    }
    return std::string(s.substr(b, e - b));
}

void put(EnvList& out, std::map<std::string, std::size_t>& index, std::string key,
         std::string value) {
    auto it = index.find(key);
    if (it != index.end()) {
        out[it->second].second = std::move(value);
        return;
    }
    index.emplace(key, out.size());
    out.emplace_back(std::move(key), std::move(value));
}

Result<EnvList> parse_raw(std::string_view text, const std::string& file, const Lookup& lookup) {
    EnvList out;
    std::map<std::string, std::size_t> index;
    std::size_t pos = 0;
    int line_no = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        std::string t = trim(line);
        if (t.empty() || t[0] == '#') {
            continue;
        }
        std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            auto v = lookup(t);
            if (v) {
                put(out, index, t, *v);
            }
            continue;
        }
        std::string key = trim(line.substr(0, eq));
        if (key.empty()) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}:{}: missing variable name", file, line_no));
        }
        put(out, index, key, std::string(line.substr(eq + 1)));
    }
    return out;
}

}  // namespace

Result<EnvList> parse_env_file(std::string_view text, const std::string& file,
                               const Lookup& lookup, EnvFormat format) {
    if (format == EnvFormat::raw) {
        return parse_raw(text, file, lookup);
    }
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
    EnvList out;
    std::map<std::string, std::size_t> index;
    auto scoped = [&](std::string_view name) -> std::optional<std::string> {
        auto it = index.find(std::string(name));
        if (it != index.end()) {
            return out[it->second].second;
        }
        return lookup(name);
    };
    auto fail = [&](int line, std::string_view what) {
        return Error(Errc::invalid_argument, fmt::format("{}:{}: {}", file, line, what));
    };

    std::size_t i = 0;
    int line = 1;
    const std::size_t n = text.size();
    while (i < n) {
        // Skip blank space and empty lines.
        while (i < n && (is_blank(text[i]) || text[i] == '\n')) {
            if (text[i] == '\n') {
                ++line;
            }
            ++i;
        }
        if (i >= n) {
            break;
        }
        if (text[i] == '#') {
            while (i < n && text[i] != '\n') {
                ++i;
            }
            continue;
        }
        if (text.substr(i, 7) == "export " || text.substr(i, 7) == "export\t") {
            i += 7;
            while (i < n && is_blank(text[i])) {
                ++i;
            }
        }
        std::size_t key_start = i;
        while (i < n && is_key_char(text[i])) {
            ++i;
        }
        std::string key(text.substr(key_start, i - key_start));
        while (i < n && is_blank(text[i])) {
            ++i;
        }
        if (key.empty()) {
            char c = i < n && text[i] != '\n' ? text[i] : ' ';
            return fail(line, fmt::format("unexpected character '{}' in variable name", c));
        }
        if (i >= n || text[i] == '\n' || text[i] == '#') {
            // A bare KEY: inherit from the environment.
            auto v = lookup(key);
            if (v) {
                put(out, index, key, *v);
            }
            while (i < n && text[i] != '\n') {
                ++i;
            }
            continue;
        }
        if (text[i] != '=' && text[i] != ':') {
            return fail(line, fmt::format("unexpected character '{}' in variable name '{}'",
                                          text[i], key));
        }
        ++i;
        while (i < n && is_blank(text[i]) && text[i] != '\r') {
            ++i;
        }
        std::string value;
        int start_line = line;
        if (i < n && (text[i] == '\'' || text[i] == '"')) {
            char q = text[i++];
            std::string raw;
            bool closed = false;
            while (i < n) {
                char c = text[i];
                if (c == '\\' && q == '"' && i + 1 < n) {
                    char e = text[i + 1];
                    switch (e) {
                    case 'n':
                        raw += '\n';
                        break;
                    case 't':
                        raw += '\t';
                        break;
                    case 'r':
                        raw += '\r';
                        break;
                    case '\\':
                        raw += '\\';
                        break;
                    case '"':
                        raw += '"';
                        break;
                    case '$':
                        // Kept escaped so that expansion leaves a literal '$'.
                        raw += "$$";
                        break;
                    default:
                        raw += '\\';
                        raw += e;
                        break;
                    }
                    i += 2;
                    continue;
                }
                if (c == q) {
                    closed = true;
                    ++i;
                    break;
                }
                if (c == '\n') {
                    ++line;
                }
                if (q == '"' && c == '$' && i + 1 < n && text[i + 1] == '$') {
                    raw += "$$";
                    i += 2;
                    continue;
                }
                raw += c;
                ++i;
            }
            if (!closed) {
                return fail(start_line, fmt::format("unterminated quoted value for {}", key));
            }
            if (q == '"') {
                auto v = interpolate(raw, scoped);
                value = v ? std::move(*v) : raw;
            } else {
                value = std::move(raw);
            }
            // The rest of the line may hold only blanks and a comment.
            while (i < n && is_blank(text[i])) {
                ++i;
            }
            if (i < n && text[i] != '\n' && text[i] != '#') {
                return fail(line, fmt::format("unexpected text after the quoted value of {}", key));
            }
            while (i < n && text[i] != '\n') {
                ++i;
            }
        } else {
            std::size_t vs = i;
            while (i < n && text[i] != '\n') {
                ++i;
            }
            std::string_view raw = text.substr(vs, i - vs);
            // An inline comment starts at " #".
            for (std::size_t k = 0; k < raw.size(); ++k) {
                if (raw[k] == '#' && k > 0 && is_blank(raw[k - 1])) {
                    raw = raw.substr(0, k);
                    break;
                }
            }
            std::string t = trim(raw);
            auto v = interpolate(t, scoped);
            value = v ? std::move(*v) : t;
        }
        put(out, index, std::move(key), std::move(value));
    }
    return out;
}

}  // namespace berth::compose
