// SPDX-License-Identifier: Apache-2.0
#include "engine/build/dockerignore.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "engine/build/internal/path.hpp"

namespace berth::engine::build {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}


std::vector<std::string> split_slash(std::string_view s) {
    std::vector<std::string> parts;
    size_t i = 0;
    for (;;) {
        size_t slash = s.find('/', i);
        if (slash == std::string_view::npos) {
            parts.emplace_back(s.substr(i));
            break;
        }
        parts.emplace_back(s.substr(i, slash - i));
        i = slash + 1;
    }
    return parts;
}

// ---- Go's path/filepath.Match, on one path component ----

/// Decodes one UTF-8 code point at s[0]; invalid bytes decode as U+FFFD, length 1.
uint32_t decode(std::string_view s, size_t* len) {
    auto c = static_cast<unsigned char>(s[0]);
    size_t n = 0;
    uint32_t r = 0;
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        r = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        r = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        r = c & 0x07;
    } else {
        *len = 1;
        return 0xFFFD;
    }
    if (s.size() < n) {
        *len = 1;
        return 0xFFFD;
    }
    for (size_t k = 1; k < n; ++k) {
        auto b = static_cast<unsigned char>(s[k]);
        if ((b & 0xC0) != 0x80) {
            *len = 1;
            return 0xFFFD;
        }
        r = (r << 6) | (b & 0x3F);
    }
    *len = n;
    return r;
}

/// getEsc: one (possibly escaped) character of a range; nullopt = bad pattern.
std::optional<uint32_t> get_esc(std::string_view& chunk) {
    if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') {
        return std::nullopt;
    }
    if (chunk[0] == '\\') {
        chunk.remove_prefix(1);
        if (chunk.empty()) {
            return std::nullopt;
        }
    }
    size_t n = 0;
    auto c0 = static_cast<unsigned char>(chunk[0]);
    uint32_t r = decode(chunk, &n);
    if (r == 0xFFFD && n == 1 && c0 >= 0x80) {
        return std::nullopt;
    }
    chunk.remove_prefix(n);
    if (chunk.empty()) {
        return std::nullopt;
    }
    return r;
}

/// scanChunk: splits off leading stars and the chunk up to the next star.
void scan_chunk(std::string_view& pattern, bool* star, std::string_view* chunk) {
    *star = false;
    while (!pattern.empty() && pattern[0] == '*') {
        pattern.remove_prefix(1);
        *star = true;
    }
    bool inrange = false;
    size_t i = 0;
    for (; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < pattern.size()) {
                ++i;
            }
        } else if (c == '[') {
            inrange = true;
        } else if (c == ']') {
            inrange = false;
        } else if (c == '*' && !inrange) {
            break;
        }
    }
    *chunk = pattern.substr(0, i);
    pattern.remove_prefix(i);
}

/// matchChunk: whether chunk matches a prefix of s; the rest in *rest.
/// Returns false (no match) or throws nothing: a bad pattern sets *bad.
bool match_chunk(std::string_view chunk, std::string_view s, std::string_view* rest, bool* bad) {
    bool failed = false;
    while (!chunk.empty()) {
        if (!failed && s.empty()) {
            failed = true;
        }
        char c = chunk[0];
        if (c == '[') {
            uint32_t r = 0;
            if (!failed) {
                size_t n = 0;
                r = decode(s, &n);
                s.remove_prefix(n);
            }
            chunk.remove_prefix(1);
            bool negated = false;
            if (!chunk.empty() && chunk[0] == '^') {
                negated = true;
                chunk.remove_prefix(1);
            }
            bool match = false;
            int nrange = 0;
            for (;;) {
                if (!chunk.empty() && chunk[0] == ']' && nrange > 0) {
                    chunk.remove_prefix(1);
                    break;
                }
                auto lo = get_esc(chunk);
                if (!lo) {
                    *bad = true;
                    return false;
                }
                uint32_t hi = *lo;
                if (chunk[0] == '-') {
                    chunk.remove_prefix(1);
                    auto h = get_esc(chunk);
                    if (!h) {
                        *bad = true;
                        return false;
                    }
                    hi = *h;
                }
                if (*lo <= r && r <= hi) {
                    match = true;
                }
                ++nrange;
            }
            if (match == negated) {
                failed = true;
            }
            continue;
        }
        if (c == '?') {
            if (!failed) {
                if (s[0] == '/') {
                    failed = true;
                }
                size_t n = 0;
                decode(s, &n);
                s.remove_prefix(n);
            }
            chunk.remove_prefix(1);
            continue;
        }
        if (c == '\\') {
            chunk.remove_prefix(1);
            if (chunk.empty()) {
                *bad = true;
                return false;
            }
        }
        if (!failed) {
            if (chunk[0] != s[0]) {
                failed = true;
            }
            s.remove_prefix(1);
        }
        chunk.remove_prefix(1);
    }
    if (failed) {
        return false;
    }
    *rest = s;
    return true;
}

/// Go's filepath.Match; *bad reports a malformed pattern.
bool go_match(std::string_view pattern, std::string_view name, bool* bad) {
    while (!pattern.empty()) {
        bool star = false;
        std::string_view chunk;
        scan_chunk(pattern, &star, &chunk);
        if (star && chunk.empty()) {
            return name.find('/') == std::string_view::npos;
        }
        std::string_view t;
        bool ok = match_chunk(chunk, name, &t, bad);
        if (*bad) {
            return false;
        }
        if (ok && (t.empty() || !pattern.empty())) {
            name = t;
            continue;
        }
        bool advanced = false;
        if (star) {
            for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
                ok = match_chunk(chunk, name.substr(i + 1), &t, bad);
                if (*bad) {
                    return false;
                }
                if (ok) {
                    if (pattern.empty() && !t.empty()) {
                        continue;
                    }
                    name = t;
                    advanced = true;
                    break;
                }
            }
        }
        if (advanced) {
            continue;
        }
        // Before failing, check that the rest of the pattern is well-formed.
        while (!pattern.empty()) {
            scan_chunk(pattern, &star, &chunk);
            std::string_view ignored;
            match_chunk(chunk, "", &ignored, bad);
            if (*bad) {
                return false;
            }
        }
        return false;
    }
    return name.empty();
}

bool component_matches(const std::string& pattern, std::string_view name) {
    bool bad = false;
    return go_match(pattern, name, &bad);
}

/// Whether the pattern components match the path components, `**` spanning
/// any number of components. A trailing `**` (after something) needs at least
/// one component, as Docker's prefix match "dir/" does. Dynamic programming
/// over (pattern part, path position), so that many `**` stay linear.
bool match_parts(const std::vector<std::string>& pat, const std::vector<std::string_view>& path) {
    if (pat.size() == 1 && pat[0] == "**") {
        return true;
    }
    std::vector<bool> reach(path.size() + 1, false);
    reach[0] = true;
    for (size_t i = 0; i < pat.size(); ++i) {
        std::vector<bool> next(path.size() + 1, false);
        if (pat[i] == "**") {
            if (i + 1 == pat.size()) {
                for (size_t j = 0; j < path.size(); ++j) {
                    if (reach[j]) {
                        return true;
                    }
                }
                return false;
            }
            bool on = false;
            for (size_t j = 0; j <= path.size(); ++j) {
                on = on || reach[j];
                next[j] = on;
            }
        } else {
            bool any = false;
            for (size_t j = 0; j < path.size(); ++j) {
                if (reach[j] && component_matches(pat[i], path[j])) {
                    next[j + 1] = true;
                    any = true;
                }
            }
            if (!any) {
                return false;
            }
        }
        reach = std::move(next);
    }
    return reach[path.size()];
}

std::vector<std::string_view> path_parts(std::string_view rel, std::string& storage) {
    storage = internal::clean_go_path(rel);
    std::string_view s = storage;
    while (!s.empty() && s.front() == '/') {
        s.remove_prefix(1);
    }
    std::vector<std::string_view> parts;
    if (s.empty() || s == ".") {
        return parts;
    }
    size_t i = 0;
    for (;;) {
        size_t slash = s.find('/', i);
        if (slash == std::string_view::npos) {
            parts.push_back(s.substr(i));
            break;
        }
        parts.push_back(s.substr(i, slash - i));
        i = slash + 1;
    }
    return parts;
}

}  // namespace

Result<DockerIgnore> DockerIgnore::parse(std::string_view text, const std::string& path) {
    DockerIgnore out;
    int line_no = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        std::string_view line =
            text.substr(start, nl == std::string_view::npos ? text.npos : nl - start);
        start = nl == std::string_view::npos ? text.size() : nl + 1;
        ++line_no;
        if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") {
            line.remove_prefix(3);
        }
        // Only a '#' in the first column starts a comment, as in Docker.
        if (!line.empty() && line.front() == '#') {
            continue;
        }
        std::string_view p = trim(line);
        if (p.empty()) {
            continue;
        }
        Pattern pat;
        if (p.front() == '!') {
            pat.exception = true;
            p = trim(p.substr(1));
            if (p.empty()) {
                return Error(Errc::invalid_argument,
                             fmt::format("{}:{}: illegal exclusion pattern: \"!\"", path, line_no));
            }
        }
        std::string cleaned = internal::clean_go_path(p);
        if (cleaned.size() > 1 && cleaned.front() == '/') {
            cleaned.erase(0, 1);
        }
        pat.text = cleaned;
        for (auto& part : split_slash(cleaned)) {
            // Consecutive "**" mean the same as one; folding them keeps matching linear.
            if (part == "**" && !pat.parts.empty() && pat.parts.back() == "**") {
                continue;
            }
            if (part != "**") {
                bool bad = false;
                (void)go_match(part, ".", &bad);
                if (bad) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("{}:{}: invalid pattern \"{}\": syntax error in "
                                             "pattern",
                                             path, line_no, p));
                }
            }
            pat.parts.push_back(std::move(part));
        }
        out.patterns_.push_back(std::move(pat));
    }
    return out;
}

bool DockerIgnore::excluded(std::string_view rel) const {
    std::string storage;
    auto parts = path_parts(rel, storage);
    if (parts.empty()) {
        return false;
    }
    // Docker's MatchesOrParentMatches: a pattern applies when it matches the
    // path or one of its parent directories; the last applying pattern wins.
    bool matched = false;
    for (const auto& p : patterns_) {
        if (p.exception != matched) {
            continue;
        }
        bool match = false;
        for (size_t len = parts.size(); len >= 1 && !match; --len) {
            std::vector<std::string_view> prefix(parts.begin(),
                                                 parts.begin() + static_cast<ptrdiff_t>(len));
            match = match_parts(p.parts, prefix);
        }
        if (match) {
            matched = !p.exception;
        }
    }
    return matched;
}

bool DockerIgnore::may_include_below(std::string_view rel) const {
    std::string storage;
    auto dir = path_parts(rel, storage);
    for (const auto& p : patterns_) {
        if (!p.exception) {
            continue;
        }
        // Walk the exception's components along the directory: if they stay
        // compatible up to its end (or hit "**"), something below may match.
        bool possible = true;
        for (size_t k = 0; k < dir.size(); ++k) {
            if (k >= p.parts.size()) {
                break;  // the exception names an ancestor: all below is re-included
            }
            if (p.parts[k] == "**") {
                break;
            }
            if (!component_matches(p.parts[k], dir[k])) {
                possible = false;
                break;
            }
        }
        if (possible) {
            return true;
        }
    }
    return false;
}

}  // namespace berth::engine::build
