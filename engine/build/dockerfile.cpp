// SPDX-License-Identifier: Apache-2.0
#include "engine/build/dockerfile.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/build/internal/path.hpp"

namespace berth::engine::build {
namespace {

constexpr int end_of_input = -1;

bool is_space(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(int c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
char to_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), to_lower);
    return out;
}
std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), to_upper);
    return out;
}

std::string_view trim_left(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && is_space(static_cast<unsigned char>(s[i]))) {
        ++i;
    }
    return s.substr(i);
}
std::string_view trim_right(std::string_view s) {
    size_t n = s.size();
    while (n > 0 && is_space(static_cast<unsigned char>(s[n - 1]))) {
        --n;
    }
    return s.substr(0, n);
}
std::string_view trim(std::string_view s) {
    return trim_right(trim_left(s));
}

/// Splits at the first run of whitespace: {"RUN", "echo hi"}.
std::pair<std::string_view, std::string_view> split_first_word(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && !is_space(static_cast<unsigned char>(s[i]))) {
        ++i;
    }
    std::string_view head = s.substr(0, i);
    return {head, trim_left(s.substr(i))};
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
    std::vector<std::string_view> out;
    s = trim_left(s);
    while (!s.empty()) {
        auto [head, rest] = split_first_word(s);
        out.push_back(head);
        s = rest;
    }
    return out;
}

Error located(const std::string& path, int line, std::string_view msg) {
    return Error(Errc::invalid_argument, fmt::format("{}:{}: {}", path, line, msg));
}
Error invalid(std::string msg) {
    return Error(Errc::invalid_argument, std::move(msg));
}

/// Length of the UTF-8 sequence at s[i]; 1 for a byte that starts none.
size_t rune_len(std::string_view s, size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
    }
    if (i + n > s.size()) {
        return 1;
    }
    for (size_t k = 1; k < n; ++k) {
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
            return 1;
        }
    }
    return n;
}

/// The code point at s[i] (its length in *len); invalid bytes decode as themselves.
uint32_t decode_rune(std::string_view s, size_t i, size_t* len) {
    size_t n = rune_len(s, i);
    *len = n;
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 1) {
        return c;
    }
    uint32_t r = c & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) {
        r = (r << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    return r;
}

// ---- shell patterns for ${var#pat}, ${var%pat}, ${var/pat/repl} ----

/// One element of a shell glob: a literal code point, `?`, `*` or a bracket class.
struct GlobToken {
    enum class Kind { literal, any, star, klass } kind = Kind::literal;
    uint32_t ch = 0;
    bool negated = false;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;

    [[nodiscard]] bool matches(uint32_t r) const {
        switch (kind) {
            case Kind::literal:
                return r == ch;
            case Kind::any:
                return true;
            case Kind::star:
                return false;
            case Kind::klass: {
                bool in = std::any_of(ranges.begin(), ranges.end(), [r](const auto& lh) {
                    return lh.first <= r && r <= lh.second;
                });
                return in != negated;
            }
        }
        return false;
    }
};

Result<std::vector<GlobToken>> compile_glob(std::string_view pat) {
    std::vector<GlobToken> out;
    size_t i = 0;
    while (i < pat.size()) {
        char c = pat[i];
        GlobToken t;
        size_t n = 0;
        if (c == '*') {
            t.kind = GlobToken::Kind::star;
            ++i;
            if (out.empty() || out.back().kind != GlobToken::Kind::star) {
                out.push_back(t);
            }
            continue;
        }
        if (c == '?') {
            t.kind = GlobToken::Kind::any;
            ++i;
        } else if (c == '\\' && i + 1 < pat.size()) {
            t.ch = decode_rune(pat, i + 1, &n);
            i += 1 + n;
        } else if (c == '[') {
            size_t j = i + 1;
            t.kind = GlobToken::Kind::klass;
            if (j < pat.size() && (pat[j] == '!' || pat[j] == '^')) {
                t.negated = true;
                ++j;
            }
            bool closed = false;
            bool first = true;
            while (j < pat.size()) {
                if (pat[j] == ']' && !first) {
                    closed = true;
                    ++j;
                    break;
                }
                first = false;
                if (pat[j] == '\\' && j + 1 < pat.size()) {
                    ++j;
                }
                uint32_t lo = decode_rune(pat, j, &n);
                j += n;
                uint32_t hi = lo;
                if (j + 1 < pat.size() && pat[j] == '-' && pat[j + 1] != ']') {
                    ++j;
                    if (pat[j] == '\\' && j + 1 < pat.size()) {
                        ++j;
                    }
                    hi = decode_rune(pat, j, &n);
                    j += n;
                }
                t.ranges.emplace_back(lo, hi);
            }
            if (!closed) {
                return invalid(
                    fmt::format("invalid pattern ({}) in substitution: unterminated [", pat));
            }
            i = j;
        } else {
            t.ch = decode_rune(pat, i, &n);
            i += n;
        }
        out.push_back(std::move(t));
    }
    return out;
}

/// For every k in [0, s.size()]: whether s[0, k) matches the glob. O(tokens * size).
std::vector<bool> glob_prefix_matches(const std::vector<GlobToken>& glob, std::string_view s) {
    std::vector<bool> reach(s.size() + 1, false);
    reach[0] = true;
    for (const auto& t : glob) {
        std::vector<bool> next(s.size() + 1, false);
        if (t.kind == GlobToken::Kind::star) {
            bool on = false;
            for (size_t p = 0; p <= s.size(); ++p) {
                on = on || reach[p];
                next[p] = on;
            }
        } else {
            for (size_t p = 0; p < s.size();) {
                size_t n = 0;
                uint32_t r = decode_rune(s, p, &n);
                if (reach[p] && t.matches(r)) {
                    next[p + n] = true;
                }
                p += n;
            }
        }
        reach = std::move(next);
    }
    return reach;
}

/// True when k is not inside a multi-byte UTF-8 sequence.
bool is_rune_boundary(std::string_view s, size_t k) {
    return k == 0 || k >= s.size() || (static_cast<unsigned char>(s[k]) & 0xC0) != 0x80;
}

bool glob_matches_whole(const std::vector<GlobToken>& glob, std::string_view s) {
    return glob_prefix_matches(glob, s)[s.size()];
}

// ---- Docker's shell lexer (ShellWord) ----

struct LexOptions {
    char escape = '\\';
    bool skip_unset = false;   ///< leave unset variables as written
    bool raw_quotes = false;   ///< keep the quote characters
    bool raw_escapes = false;  ///< keep the escape characters
};

/// Collects words as the lexer produces them: unquoted whitespace splits,
/// quoted text never does.
class WordCollector {
   public:
    void add_char(char c) {
        if (is_space(static_cast<unsigned char>(c))) {
            if (in_word_ && !word_.empty()) {
                words_.push_back(std::move(word_));
                word_.clear();
                in_word_ = false;
            }
        } else {
            add_raw_char(c);
        }
    }
    void add_raw_char(char c) {
        word_ += c;
        in_word_ = true;
    }
    void add_string(std::string_view s) {
        for (char c : s) {
            add_char(c);
        }
    }
    void add_raw_string(std::string_view s) {
        word_ += s;
        in_word_ = true;
    }
    std::vector<std::string> take() {
        if (!word_.empty()) {
            words_.push_back(std::move(word_));
            word_.clear();
            in_word_ = false;
        }
        return std::move(words_);
    }

   private:
    std::vector<std::string> words_;
    std::string word_;
    bool in_word_ = false;
};

class ShellLexer {
   public:
    ShellLexer(std::string_view in, const VarLookup& lookup, LexOptions opt)
        : in_(in), lookup_(lookup), opt_(opt) {}

    Result<std::string> process(WordCollector* words) { return stop_on({}, words, nullptr, false); }

   private:
    int peek() const {
        return pos_ < in_.size() ? static_cast<unsigned char>(in_[pos_]) : end_of_input;
    }
    int next() {
        int c = peek();
        if (c != end_of_input) {
            ++pos_;
        }
        return c;
    }

    std::optional<std::string> get_env(std::string_view name) const {
        if (!lookup_) {
            return std::nullopt;
        }
        return lookup_(name);
    }

    /// Reads up to one of `stops` (consumed; reported in *stopped) or to the
    /// end of input when `stops` is empty.
    Result<std::string> stop_on(std::string_view stops, WordCollector* words, int* stopped,
                                bool keep_escapes) {
        WordCollector local;
        if (words == nullptr) {
            words = &local;
        }
        std::string result;
        while (peek() != end_of_input) {
            int ch = peek();
            if (!stops.empty() && stops.find(static_cast<char>(ch)) != std::string_view::npos) {
                next();
                if (stopped != nullptr) {
                    *stopped = ch;
                }
                return result;
            }
            if (ch == '\'' || ch == '"' || ch == '$') {
                auto part = ch == '\'' ? single_quote() : ch == '"' ? double_quote() : dollar();
                if (!part) {
                    return std::move(part).error();
                }
                result += *part;
                if (ch == '$') {
                    words->add_string(*part);
                } else {
                    words->add_raw_string(*part);
                }
                continue;
            }
            next();
            if (ch == static_cast<unsigned char>(opt_.escape)) {
                if (opt_.raw_escapes || keep_escapes) {
                    words->add_raw_char(static_cast<char>(ch));
                    result += static_cast<char>(ch);
                }
                ch = next();
                if (ch == end_of_input) {
                    break;
                }
                words->add_raw_char(static_cast<char>(ch));
            } else {
                words->add_char(static_cast<char>(ch));
            }
            result += static_cast<char>(ch);
        }
        if (!stops.empty()) {
            return invalid(fmt::format("unexpected end of statement while looking for matching {}",
                                       stops.front()));
        }
        return result;
    }

    Result<std::string> single_quote() {
        std::string result;
        int ch = next();
        if (opt_.raw_quotes) {
            result += static_cast<char>(ch);
        }
        for (;;) {
            ch = next();
            if (ch == end_of_input) {
                return invalid(
                    "unexpected end of statement while looking for matching single-quote");
            }
            if (ch == '\'') {
                if (opt_.raw_quotes) {
                    result += '\'';
                }
                return result;
            }
            result += static_cast<char>(ch);
        }
    }

    Result<std::string> double_quote() {
        std::string result;
        int ch = next();
        if (opt_.raw_quotes) {
            result += static_cast<char>(ch);
        }
        for (;;) {
            int p = peek();
            if (p == end_of_input) {
                return invalid(
                    "unexpected end of statement while looking for matching double-quote");
            }
            if (p == '"') {
                next();
                if (opt_.raw_quotes) {
                    result += '"';
                }
                return result;
            }
            if (p == '$') {
                auto v = dollar();
                if (!v) {
                    return std::move(v).error();
                }
                result += *v;
                continue;
            }
            ch = next();
            if (ch == static_cast<unsigned char>(opt_.escape)) {
                if (opt_.raw_escapes) {
                    result += static_cast<char>(ch);
                }
                int q = peek();
                if (q == end_of_input) {
                    continue;  // an escape at the very end is dropped; the quote error follows
                }
                // Only these can be escaped inside double quotes; any other
                // escape character stays as written.
                if (q == '"' || q == '$' || q == static_cast<unsigned char>(opt_.escape)) {
                    ch = next();
                } else if (opt_.raw_escapes) {
                    continue;
                }
            }
            result += static_cast<char>(ch);
        }
    }

    /// A variable name: letters, digits and '_'; or a run of digits; or one
    /// special parameter character (as Docker reads `$1`, `$@`, `$$`).
    std::string name() {
        std::string n;
        while (peek() != end_of_input) {
            int c = peek();
            if (n.empty() && is_digit(c)) {
                while (is_digit(peek())) {
                    n += static_cast<char>(next());
                }
                return n;
            }
            if (n.empty() && (c == '@' || c == '*' || c == '#' || c == '?' || c == '-' ||
                              c == '$' || c == '!')) {
                next();
                return std::string(1, static_cast<char>(c));
            }
            if (!(is_alpha(c) || is_digit(c) || c == '_')) {
                break;
            }
            n += static_cast<char>(next());
        }
        return n;
    }

    Result<std::string> dollar() {
        next();  // '$'
        if (peek() != '{') {
            std::string n = name();
            if (n.empty()) {
                return std::string("$");
            }
            auto v = get_env(n);
            if (!v && opt_.skip_unset) {
                return "$" + n;
            }
            return v.value_or("");
        }
        next();  // '{'
        // Bounds the recursion of nested words (`${a:-${b:-...}}`): a
        // hostile Dockerfile must fail, not exhaust the stack.
        if (++depth_ > max_nesting) {
            return invalid("syntax error: substitutions nested too deeply");
        }
        struct Leave {
            int& d;
            ~Leave() { --d; }
        } leave{depth_};
        int first = peek();
        if (first == end_of_input) {
            return invalid("syntax error: missing '}'");
        }
        if (first == '{' || first == '}' || first == ':') {
            return invalid("syntax error: bad substitution");
        }
        std::string n = name();
        int ch = next();
        if (ch == end_of_input) {
            return invalid("syntax error: missing '}'");
        }
        if (n.empty()) {
            return invalid("syntax error: bad substitution");
        }
        std::string op(1, static_cast<char>(ch));
        if (ch == '}') {
            auto v = get_env(n);
            if (!v && opt_.skip_unset) {
                return fmt::format("${{{}}}", n);
            }
            return v.value_or("");
        }
        bool null_is_unset = false;
        if (ch == ':') {
            null_is_unset = true;
            ch = next();
            if (ch == end_of_input) {
                return invalid("syntax error: missing '}'");
            }
            op += static_cast<char>(ch);
        }
        if (ch == '+' || ch == '-' || ch == '?' || ch == '#' || ch == '%') {
            bool pattern_op = ch == '#' || ch == '%';
            if (null_is_unset && pattern_op) {
                return invalid(fmt::format("unsupported modifier ({}) in substitution", op));
            }
            auto word = word_until("}", nullptr, pattern_op);
            if (!word) {
                return std::move(word).error();
            }
            auto value = get_env(n);
            if (!value && opt_.skip_unset) {
                return fmt::format("${{{}{}{}}}", n, op, *word);
            }
            bool unset = !value || (null_is_unset && value->empty());
            switch (ch) {
                case '-':
                    return unset ? *word : *value;
                case '+':
                    return unset ? std::string() : *word;
                case '?':
                    if (!value) {
                        return invalid(fmt::format(
                            "{}: {}", n, word->empty() ? "is not allowed to be unset" : *word));
                    }
                    if (unset) {
                        return invalid(fmt::format(
                            "{}: {}", n, word->empty() ? "is not allowed to be empty" : *word));
                    }
                    return *value;
                default:
                    return trim_pattern(static_cast<char>(ch), *word, value.value_or(""));
            }
        }
        if (ch == '/' && !null_is_unset) {
            bool all = false;
            if (peek() == '/') {
                next();
                all = true;
            }
            int stopped = 0;
            auto pattern = word_until("/}", &stopped, true);
            if (!pattern) {
                return std::move(pattern).error();
            }
            std::string replacement;
            if (stopped == '/') {
                auto r = word_until("}", nullptr, false);
                if (!r) {
                    return std::move(r).error();
                }
                replacement = std::move(*r);
            }
            auto value = get_env(n);
            if (!value && opt_.skip_unset) {
                return fmt::format("${{{}/{}{}/{}}}", n, all ? "/" : "", *pattern, replacement);
            }
            return replace_pattern(*pattern, replacement, value.value_or(""), all);
        }
        return invalid(fmt::format("unsupported modifier ({}) in substitution", op));
    }

    Result<std::string> word_until(std::string_view stops, int* stopped, bool keep_escapes) {
        auto word = stop_on(stops, nullptr, stopped, keep_escapes);
        if (!word && peek() == end_of_input) {
            return invalid("syntax error: missing '}'");
        }
        return word;
    }

    static Result<std::string> trim_pattern(char op, std::string_view word,
                                            const std::string& value) {
        bool greedy = false;
        if (!word.empty() && word.front() == op) {
            greedy = true;
            word.remove_prefix(1);
        }
        auto glob = compile_glob(word);
        if (!glob) {
            return std::move(glob).error();
        }
        if (op == '#') {
            auto ok = glob_prefix_matches(*glob, value);
            if (greedy) {
                for (size_t k = value.size() + 1; k-- > 0;) {
                    if (ok[k] && is_rune_boundary(value, k)) {
                        return value.substr(k);
                    }
                }
            } else {
                for (size_t k = 0; k <= value.size(); ++k) {
                    if (ok[k] && is_rune_boundary(value, k)) {
                        return value.substr(k);
                    }
                }
            }
            return value;
        }
        // '%': the shortest (or longest) suffix that matches.
        if (greedy) {
            for (size_t k = 0; k <= value.size(); ++k) {
                if (is_rune_boundary(value, k) &&
                    glob_matches_whole(*glob, std::string_view(value).substr(k))) {
                    return value.substr(0, k);
                }
            }
        } else {
            for (size_t k = value.size() + 1; k-- > 0;) {
                if (is_rune_boundary(value, k) &&
                    glob_matches_whole(*glob, std::string_view(value).substr(k))) {
                    return value.substr(0, k);
                }
            }
        }
        return value;
    }

    static Result<std::string> replace_pattern(std::string_view pattern,
                                               std::string_view replacement,
                                               const std::string& value, bool all) {
        if (pattern.empty()) {
            return value;
        }
        auto glob = compile_glob(pattern);
        if (!glob) {
            return std::move(glob).error();
        }
        std::string out;
        size_t p = 0;
        bool replaced = false;
        while (p < value.size()) {
            if (!replaced || all) {
                // The leftmost position where the pattern matches, longest match there.
                auto ok = glob_prefix_matches(*glob, std::string_view(value).substr(p));
                size_t len = 0;
                bool found = false;
                std::string_view tail = std::string_view(value).substr(p);
                for (size_t k = ok.size(); k-- > 1;) {
                    if (ok[k] && is_rune_boundary(tail, k)) {
                        len = k;
                        found = true;
                        break;
                    }
                }
                if (found) {
                    out += replacement;
                    p += len;
                    replaced = true;
                    continue;
                }
            }
            size_t n = rune_len(value, p);
            out += value.substr(p, n);
            p += n;
        }
        return out;
    }

    static constexpr int max_nesting = 256;

    std::string_view in_;
    size_t pos_ = 0;
    const VarLookup& lookup_;
    LexOptions opt_;
    int depth_ = 0;
};

const VarLookup& no_variables() {
    static const VarLookup lookup = [](std::string_view) -> std::optional<std::string> {
        return std::nullopt;
    };
    return lookup;
}

Result<std::vector<std::string>> lex_words(std::string_view text, const VarLookup& lookup,
                                           LexOptions opt) {
    WordCollector words;
    ShellLexer lexer(text, lookup, opt);
    auto r = lexer.process(&words);
    if (!r) {
        return std::move(r).error();
    }
    return words.take();
}

// ---- words as the parser keeps them (quotes and escapes still in) ----

/// Docker's parseWords: splits on unquoted whitespace and keeps quotes and
/// escape characters, for ENV/LABEL/ARG before each part is expanded.
std::vector<std::string> parse_words(std::string_view rest, char escape) {
    enum { in_spaces, in_word, in_quote } phase = in_spaces;
    std::vector<std::string> words;
    std::string word;
    char quote = 0;
    bool blank_ok = false;
    for (size_t pos = 0; pos <= rest.size(); ++pos) {
        char ch = pos < rest.size() ? rest[pos] : '\0';
        if (phase == in_spaces) {
            if (pos == rest.size()) {
                break;
            }
            if (is_space(static_cast<unsigned char>(ch))) {
                continue;
            }
            phase = in_word;
        }
        if (pos == rest.size()) {
            if (blank_ok || !word.empty()) {
                words.push_back(std::move(word));
            }
            break;
        }
        if (phase == in_word) {
            if (is_space(static_cast<unsigned char>(ch))) {
                phase = in_spaces;
                if (blank_ok || !word.empty()) {
                    words.push_back(std::move(word));
                }
                word.clear();
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = in_quote;
            }
            if (ch == escape) {
                if (pos + 1 == rest.size()) {
                    continue;
                }
                word += ch;
                ++pos;
                ch = rest[pos];
            }
            word += ch;
            continue;
        }
        // in_quote
        if (ch == quote) {
            phase = in_word;
        }
        if (ch == escape && quote != '\'') {
            if (pos + 1 == rest.size()) {
                phase = in_word;
                continue;
            }
            ++pos;
            word += ch;
            ch = rest[pos];
        }
        word += ch;
    }
    return words;
}

/// Docker's extractBuilderFlags: the leading `--name[=value]` words (quotes
/// removed, `\` escapes) and the rest of the line.
std::pair<std::string_view, std::vector<std::string>> extract_flags(std::string_view line) {
    enum { in_spaces, in_word, in_quote } phase = in_spaces;
    std::vector<std::string> words;
    std::string word;
    char quote = 0;
    bool blank_ok = false;
    for (size_t pos = 0; pos <= line.size(); ++pos) {
        char ch = pos < line.size() ? line[pos] : '\0';
        if (phase == in_spaces) {
            if (pos == line.size()) {
                break;
            }
            if (is_space(static_cast<unsigned char>(ch))) {
                continue;
            }
            if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') {
                return {line.substr(pos), std::move(words)};
            }
            phase = in_word;
        }
        if (pos == line.size()) {
            if (word != "--" && (blank_ok || !word.empty())) {
                words.push_back(std::move(word));
            }
            break;
        }
        if (phase == in_word) {
            if (is_space(static_cast<unsigned char>(ch))) {
                phase = in_spaces;
                if (word == "--") {
                    return {line.substr(pos), std::move(words)};
                }
                if (blank_ok || !word.empty()) {
                    words.push_back(std::move(word));
                }
                word.clear();
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = in_quote;
                continue;
            }
            if (ch == '\\') {
                if (pos + 1 == line.size()) {
                    continue;
                }
                ++pos;
                ch = line[pos];
            }
            word += ch;
            continue;
        }
        // in_quote
        if (ch == quote) {
            phase = in_word;
            continue;
        }
        if (ch == '\\') {
            if (pos + 1 == line.size()) {
                phase = in_word;
                continue;
            }
            ++pos;
            ch = line[pos];
        }
        word += ch;
    }
    return {std::string_view(), std::move(words)};
}

// ---- instructions ----

struct KeywordEntry {
    std::string_view name;  // lower case
    Keyword keyword;
};
constexpr std::array<KeywordEntry, 18> keywords{{
    {"from", Keyword::from},
    {"run", Keyword::run},
    {"cmd", Keyword::cmd},
    {"label", Keyword::label},
    {"maintainer", Keyword::maintainer},
    {"expose", Keyword::expose},
    {"env", Keyword::env},
    {"add", Keyword::add},
    {"copy", Keyword::copy},
    {"entrypoint", Keyword::entrypoint},
    {"volume", Keyword::volume},
    {"user", Keyword::user},
    {"workdir", Keyword::workdir},
    {"arg", Keyword::arg},
    {"onbuild", Keyword::onbuild},
    {"stopsignal", Keyword::stopsignal},
    {"healthcheck", Keyword::healthcheck},
    {"shell", Keyword::shell},
}};

std::optional<Keyword> find_keyword(std::string_view word) {
    std::string l = lower(word);
    for (const auto& e : keywords) {
        if (e.name == l) {
            return e.keyword;
        }
    }
    return std::nullopt;
}

bool allows_exec_form(Keyword k) {
    switch (k) {
        case Keyword::run:
        case Keyword::cmd:
        case Keyword::entrypoint:
        case Keyword::shell:
        case Keyword::copy:
        case Keyword::add:
        case Keyword::volume:
            return true;
        default:
            return false;
    }
}

bool allows_heredoc(Keyword k) {
    return k == Keyword::run || k == Keyword::copy || k == Keyword::add;
}

struct JsonArray {
    bool is_array = false;  ///< valid JSON, an array
    bool all_strings = false;
    std::vector<std::string> items;
};

JsonArray parse_json_array(std::string_view text) {
    JsonArray out;
    if (text.empty() || text.front() != '[') {
        return out;
    }
    auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_array()) {
        return out;
    }
    out.is_array = true;
    out.all_strings = true;
    for (const auto& item : j) {
        if (!item.is_string()) {
            out.all_strings = false;
            out.items.clear();
            break;
        }
        out.items.push_back(item.get<std::string>());
    }
    return out;
}

/// Docker's heredoc word: `^(\d*)<<(-?)([^<]*)$` with a non-empty single word after.
Result<std::optional<Heredoc>> parse_heredoc_word(std::string_view word) {
    size_t i = 0;
    while (i < word.size() && is_digit(static_cast<unsigned char>(word[i]))) {
        ++i;
    }
    if (word.substr(i, 2) != "<<") {
        return std::optional<Heredoc>();
    }
    i += 2;
    bool chomp = false;
    if (i < word.size() && word[i] == '-') {
        chomp = true;
        ++i;
    }
    std::string_view rest = word.substr(i);
    if (rest.empty() || rest.find('<') != std::string_view::npos) {
        return std::optional<Heredoc>();
    }
    LexOptions opt;
    opt.skip_unset = true;
    auto words = lex_words(rest, no_variables(), opt);
    if (!words) {
        return std::move(words).error();
    }
    if (words->size() != 1) {
        return std::optional<Heredoc>();
    }
    opt.raw_quotes = true;
    auto raw = lex_words(rest, no_variables(), opt);
    if (!raw) {
        return std::move(raw).error();
    }
    if (raw->size() != 1) {
        return std::optional<Heredoc>();
    }
    auto quotes = [](const std::string& s) {
        return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
    };
    Heredoc h;
    h.name = (*words)[0];
    h.expand = quotes((*words)[0]) == quotes((*raw)[0]);
    h.chomp_tabs = chomp;
    return std::optional<Heredoc>(std::move(h));
}

Result<std::vector<Heredoc>> heredocs_in(std::string_view text) {
    std::vector<Heredoc> out;
    if (text.find("<<") == std::string_view::npos) {
        return out;
    }
    LexOptions opt;
    opt.skip_unset = true;
    opt.raw_quotes = true;
    opt.raw_escapes = true;
    auto words = lex_words(text, no_variables(), opt);
    if (!words) {
        return out;  // as Docker: a line that does not lex has no heredocs
    }
    for (const auto& w : *words) {
        auto h = parse_heredoc_word(w);
        if (!h) {
            return std::move(h).error();
        }
        if (*h) {
            out.push_back(std::move(**h));
        }
    }
    return out;
}

/// Builds one instruction from its joined line (heredoc bodies not read yet).
Result<Instruction> make_instruction(std::string_view joined, int line, int end_line,
                                     const std::string& path, bool in_onbuild) {
    std::string_view whole = trim(joined);
    auto [word, rest] = split_first_word(whole);
    auto kw = find_keyword(word);
    if (!kw) {
        return located(path, line, fmt::format("unknown instruction: {}", upper(word)));
    }
    Instruction inst;
    inst.keyword = *kw;
    inst.line = line;
    inst.end_line = end_line;
    inst.original = std::string(whole);
    std::string_view name = keyword_name(*kw);
    if (in_onbuild) {
        if (*kw == Keyword::onbuild) {
            return located(path, line, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        }
        if (*kw == Keyword::from || *kw == Keyword::maintainer) {
            return located(path, line, fmt::format("{} isn't allowed as an ONBUILD trigger", name));
        }
    }

    auto [args, flag_words] = extract_flags(rest);
    for (const auto& fw : flag_words) {
        std::string_view f = fw;
        f.remove_prefix(2);  // every flag word starts with "--"
        Flag flag;
        auto eq = f.find('=');
        if (eq != std::string_view::npos) {
            flag.name = std::string(f.substr(0, eq));
            flag.value = std::string(f.substr(eq + 1));
            flag.has_value = true;
        } else {
            flag.name = std::string(f);
        }
        if (flag.name.empty()) {
            return located(path, line, fmt::format("{}: flag with an empty name: {}", name, fw));
        }
        inst.flags.push_back(std::move(flag));
    }
    inst.text = std::string(trim(args));

    if (inst.text.empty() && *kw != Keyword::cmd && *kw != Keyword::entrypoint) {
        return located(path, line, fmt::format("{} requires at least one argument", name));
    }
    if (allows_exec_form(*kw)) {
        auto json = parse_json_array(inst.text);
        if (json.is_array && !json.all_strings) {
            return located(path, line,
                           fmt::format("{}: when using JSON array syntax, arrays must be "
                                       "comprised of strings only",
                                       name));
        }
        if (json.is_array) {
            inst.exec = std::move(json.items);
        }
    }
    if (*kw == Keyword::shell) {
        if (!inst.exec) {
            return located(path, line, "SHELL requires the arguments to be in JSON form");
        }
        if (inst.exec->empty()) {
            return located(path, line, "SHELL requires at least one argument");
        }
    }
    if (*kw == Keyword::onbuild) {
        auto inner = make_instruction(inst.text, line, end_line, path, true);
        if (!inner) {
            return std::move(inner).error();
        }
        inst.onbuild.push_back(std::move(*inner));
    }
    if (allows_heredoc(*kw) && !inst.exec) {
        auto docs = heredocs_in(inst.text);
        if (!docs) {
            return located(path, line, docs.error().message());
        }
        inst.heredocs = std::move(*docs);
    }
    return inst;
}

/// Docker's `# name=value` parser directive (leading whitespace already gone).
std::optional<std::pair<std::string, std::string>> parse_directive(std::string_view s) {
    if (s.empty() || s.front() != '#') {
        return std::nullopt;
    }
    s.remove_prefix(1);
    s = trim_left(s);
    size_t i = 0;
    if (s.empty() || !is_alpha(static_cast<unsigned char>(s[0]))) {
        return std::nullopt;
    }
    while (i < s.size() && (is_alpha(static_cast<unsigned char>(s[i])) ||
                            is_digit(static_cast<unsigned char>(s[i])))) {
        ++i;
    }
    std::string key = lower(s.substr(0, i));
    s = trim_left(s.substr(i));
    if (s.empty() || s.front() != '=') {
        return std::nullopt;
    }
    std::string_view value = trim(s.substr(1));
    if (value.empty()) {
        return std::nullopt;
    }
    return std::make_pair(std::move(key), std::string(value));
}

std::string_view strip_cr(std::string_view s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_comment_line(std::string_view s) {
    s = trim_left(s);
    return !s.empty() && s.front() == '#';
}

/// Removes a trailing escape character (and the blanks after it): returns the
/// line without it and whether the instruction ends here.
std::pair<std::string_view, bool> trim_continuation(std::string_view s, char escape) {
    size_t n = s.size();
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        --n;
    }
    if (n > 0 && s[n - 1] == escape) {
        return {s.substr(0, n - 1), false};
    }
    return {s, true};
}

bool is_valid_stage_name(std::string_view name) {
    if (name.empty() || !(name[0] >= 'a' && name[0] <= 'z')) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_' || c == '.';
    });
}

Result<Stage> make_stage(Instruction from, const std::string& path) {
    Stage st;
    st.line = from.line;
    st.original = from.original;
    bool seen_platform = false;
    for (const auto& f : from.flags) {
        if (f.name != "platform") {
            return located(path, from.line, fmt::format("FROM: unknown flag: --{}", f.name));
        }
        if (seen_platform) {
            return located(path, from.line, "FROM: duplicate flag: --platform");
        }
        if (f.value.empty()) {
            return located(path, from.line, "FROM: --platform requires a value");
        }
        seen_platform = true;
        st.platform = f.value;
    }
    auto args = split_whitespace(from.text);
    if (args.size() != 1 && args.size() != 3) {
        return located(path, from.line, "FROM requires either one or three arguments");
    }
    if (args.size() == 3) {
        if (lower(args[1]) != "as") {
            return located(path, from.line, "FROM: the second argument should be AS");
        }
        st.name = lower(args[2]);
        if (!is_valid_stage_name(st.name)) {
            return located(path, from.line,
                           fmt::format("invalid name for build stage: \"{}\", name can't start "
                                       "with a number or contain symbols",
                                       args[2]));
        }
    }
    st.base = std::string(args[0]);
    return st;
}

}  // namespace

std::string_view keyword_name(Keyword k) {
    switch (k) {
        case Keyword::from:
            return "FROM";
        case Keyword::run:
            return "RUN";
        case Keyword::cmd:
            return "CMD";
        case Keyword::label:
            return "LABEL";
        case Keyword::maintainer:
            return "MAINTAINER";
        case Keyword::expose:
            return "EXPOSE";
        case Keyword::env:
            return "ENV";
        case Keyword::add:
            return "ADD";
        case Keyword::copy:
            return "COPY";
        case Keyword::entrypoint:
            return "ENTRYPOINT";
        case Keyword::volume:
            return "VOLUME";
        case Keyword::user:
            return "USER";
        case Keyword::workdir:
            return "WORKDIR";
        case Keyword::arg:
            return "ARG";
        case Keyword::onbuild:
            return "ONBUILD";
        case Keyword::stopsignal:
            return "STOPSIGNAL";
        case Keyword::healthcheck:
            return "HEALTHCHECK";
        case Keyword::shell:
            return "SHELL";
    }
    return "UNKNOWN";
}

Result<Dockerfile> parse_dockerfile(std::string_view text, const std::string& path) {
    Dockerfile df;
    df.path = path;

    std::vector<std::string_view> lines;
    for (size_t start = 0; start < text.size();) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    if (!lines.empty() && lines[0].substr(0, 3) == "\xEF\xBB\xBF") {
        lines[0].remove_prefix(3);
    }

    bool directives_done = false;
    std::set<std::string> seen_directives;
    std::set<std::string> stage_names;
    int last_line = 0;
    bool any_instruction = false;

    for (size_t i = 0; i < lines.size(); ++i) {
        const int line_no = static_cast<int>(i) + 1;
        std::string_view first = trim_left(strip_cr(lines[i]));
        if (!directives_done) {
            auto d = parse_directive(first);
            if (d && (d->first == "escape" || d->first == "syntax" || d->first == "check")) {
                if (!seen_directives.insert(d->first).second) {
                    return located(
                        path, line_no,
                        fmt::format("only one {} parser directive can be used", d->first));
                }
                if (d->first == "escape") {
                    if (d->second != "\\" && d->second != "`") {
                        return located(path, line_no,
                                       fmt::format("invalid escape token '{}' does not match ` "
                                                   "or \\",
                                                   d->second));
                    }
                    df.escape = d->second[0];
                } else if (d->first == "syntax") {
                    df.syntax = d->second;
                }
                continue;
            }
            directives_done = true;
        }
        if (first.empty() || first.front() == '#') {
            continue;
        }

        auto [head, ended] = trim_continuation(first, df.escape);
        std::string joined(head);
        while (!ended && i + 1 < lines.size()) {
            ++i;
            std::string_view cont = strip_cr(lines[i]);
            if (is_comment_line(cont) || trim_left(cont).empty()) {
                continue;
            }
            auto [part, end_here] = trim_continuation(cont, df.escape);
            joined += part;
            ended = end_here;
        }
        if (trim(joined).empty()) {
            continue;
        }
        auto inst = make_instruction(joined, line_no, static_cast<int>(i) + 1, path, false);
        if (!inst) {
            return std::move(inst).error();
        }
        Instruction* with_docs = inst->onbuild.empty() ? &*inst : &inst->onbuild.front();
        for (auto& doc : with_docs->heredocs) {
            bool terminated = false;
            while (i + 1 < lines.size()) {
                ++i;
                std::string_view body = lines[i];
                std::string_view candidate = strip_cr(body);
                if (doc.chomp_tabs) {
                    body = body.substr(std::min(body.find_first_not_of('\t'), body.size()));
                    candidate = candidate.substr(
                        std::min(candidate.find_first_not_of('\t'), candidate.size()));
                }
                if (candidate == doc.name) {
                    terminated = true;
                    break;
                }
                doc.content += body;
                doc.content += '\n';
            }
            if (!terminated) {
                return located(path, line_no, fmt::format("unterminated heredoc {}", doc.name));
            }
        }
        inst->end_line = static_cast<int>(i) + 1;
        if (!with_docs->heredocs.empty()) {
            with_docs->end_line = inst->end_line;
        }
        last_line = inst->line;
        any_instruction = true;

        if (inst->keyword == Keyword::from) {
            auto st = make_stage(*inst, path);
            if (!st) {
                return std::move(st).error();
            }
            if (!st->name.empty() && !stage_names.insert(st->name).second) {
                return located(path, line_no, fmt::format("duplicate stage name \"{}\"", st->name));
            }
            df.stages.push_back(std::move(*st));
            continue;
        }
        if (df.stages.empty()) {
            if (inst->keyword != Keyword::arg) {
                return located(path, line_no,
                               fmt::format("{}: no build stage in current context (an "
                                           "instruction before the first FROM)",
                                           keyword_name(inst->keyword)));
            }
            df.meta_args.push_back(std::move(*inst));
            continue;
        }
        df.stages.back().body.push_back(std::move(*inst));
    }
    if (!any_instruction) {
        return located(path, 1, "file with no instructions");
    }
    if (df.stages.empty()) {
        return located(path, last_line, "no FROM instruction: the Dockerfile has no build stage");
    }
    return df;
}

Result<std::string> expand_word(std::string_view word, const VarLookup& lookup, char escape) {
    LexOptions opt;
    opt.escape = escape;
    ShellLexer lexer(word, lookup, opt);
    return lexer.process(nullptr);
}

Result<std::vector<std::string>> split_words(std::string_view text, const VarLookup& lookup,
                                             char escape) {
    LexOptions opt;
    opt.escape = escape;
    return lex_words(text, lookup, opt);
}

Result<std::vector<KeyValue>> parse_key_values(const Instruction& inst, const VarLookup& lookup,
                                               char escape) {
    std::string_view name = keyword_name(inst.keyword);
    if (inst.keyword != Keyword::env && inst.keyword != Keyword::label &&
        inst.keyword != Keyword::arg) {
        return invalid(fmt::format("{} has no key=value arguments", name));
    }
    auto words = parse_words(inst.text, escape);
    if (words.empty()) {
        return invalid(fmt::format("{} requires at least one argument", name));
    }
    auto expand = [&](std::string_view w, std::string_view what) -> Result<std::string> {
        auto r = expand_word(w, lookup, escape);
        if (!r) {
            return std::move(r).error().wrap(fmt::format("{} {}", name, what));
        }
        return r;
    };
    std::vector<KeyValue> out;
    if (inst.keyword != Keyword::arg && words[0].find('=') == std::string::npos) {
        // The legacy form `ENV key value with spaces`: one key, the rest is its value.
        auto [key, value] = split_first_word(trim(inst.text));
        if (value.empty()) {
            return invalid(fmt::format("{} must have two arguments", name));
        }
        auto k = expand(key, "key");
        if (!k) {
            return std::move(k).error();
        }
        auto v = expand(value, fmt::format("value of {}", *k));
        if (!v) {
            return std::move(v).error();
        }
        if (k->empty()) {
            return invalid(fmt::format("{} names can not be blank", name));
        }
        out.push_back(KeyValue{std::move(*k), std::move(*v)});
        return out;
    }
    for (const auto& w : words) {
        auto eq = w.find('=');
        if (eq == std::string::npos && inst.keyword != Keyword::arg) {
            return invalid(fmt::format(
                "{}: syntax error - can't find = in \"{}\"; must be of the form name=value", name,
                w));
        }
        auto k = expand(std::string_view(w).substr(0, eq), "key");
        if (!k) {
            return std::move(k).error();
        }
        if (k->empty()) {
            return invalid(fmt::format("{} names can not be blank", name));
        }
        KeyValue kv{std::move(*k), std::nullopt};
        if (eq != std::string::npos) {
            auto v = expand(std::string_view(w).substr(eq + 1), fmt::format("value of {}", kv.key));
            if (!v) {
                return std::move(v).error();
            }
            kv.value = std::move(*v);
        }
        out.push_back(std::move(kv));
    }
    return out;
}

Result<std::map<std::string, std::vector<std::string>>> check_flags(
    const Instruction& inst, const std::vector<std::string_view>& allowed,
    const std::vector<std::string_view>& repeatable) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& f : inst.flags) {
        if (std::find(allowed.begin(), allowed.end(), f.name) == allowed.end()) {
            return invalid(fmt::format("unknown flag: --{}", f.name));
        }
        auto it = out.find(f.name);
        if (it != out.end() &&
            std::find(repeatable.begin(), repeatable.end(), f.name) == repeatable.end()) {
            return invalid(fmt::format("duplicate flag: --{}", f.name));
        }
        out[f.name].push_back(f.value);
    }
    return out;
}

// ---- RUN --mount ----

namespace {

/// One record of Go's encoding/csv: fields split on ',', a field that starts
/// with '"' is quoted ('""' is a literal quote).
Result<std::vector<std::string>> read_csv_record(std::string_view s) {
    std::vector<std::string> fields;
    size_t i = 0;
    for (;;) {
        std::string field;
        if (i < s.size() && s[i] == '"') {
            ++i;
            for (;;) {
                if (i >= s.size()) {
                    return invalid("extraneous or missing \" in quoted-field");
                }
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += s[i++];
            }
            if (i < s.size() && s[i] != ',') {
                return invalid("extraneous or missing \" in quoted-field");
            }
        } else {
            size_t comma = s.find(',', i);
            std::string_view raw =
                s.substr(i, comma == std::string_view::npos ? s.npos : comma - i);
            if (raw.find('"') != std::string_view::npos) {
                return invalid("bare \" in non-quoted-field");
            }
            field = std::string(raw);
            i += raw.size();
        }
        fields.push_back(std::move(field));
        if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
        }
        break;
    }
    return fields;
}


std::optional<bool> parse_go_bool(std::string_view v) {
    if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") {
        return true;
    }
    if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
        return false;
    }
    return std::nullopt;
}

std::optional<unsigned> parse_uint32(std::string_view v, unsigned base) {
    if (v.empty()) {
        return std::nullopt;
    }
    uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c >= static_cast<char>('0' + base)) {
            return std::nullopt;
        }
        n = n * base + static_cast<unsigned>(c - '0');
        if (n > std::numeric_limits<uint32_t>::max()) {
            return std::nullopt;
        }
    }
    return static_cast<unsigned>(n);
}

/// go-units RAMInBytes: "64m", "1.5g", "1024", "64MiB" (binary multiples).
std::optional<uint64_t> parse_mem_bytes(std::string_view v) {
    size_t i = 0;
    uint64_t whole = 0;
    size_t digits = 0;
    while (i < v.size() && is_digit(static_cast<unsigned char>(v[i]))) {
        whole = whole * 10 + static_cast<uint64_t>(v[i] - '0');
        if (whole > (uint64_t{1} << 53)) {
            return std::nullopt;
        }
        ++i;
        ++digits;
    }
    if (digits == 0) {
        return std::nullopt;
    }
    double frac = 0;
    if (i < v.size() && v[i] == '.') {
        ++i;
        double scale = 0.1;
        size_t fdigits = 0;
        while (i < v.size() && is_digit(static_cast<unsigned char>(v[i]))) {
            frac += scale * (v[i] - '0');
            scale /= 10;
            ++i;
            ++fdigits;
        }
        if (fdigits == 0) {
            return std::nullopt;
        }
    }
    if (i < v.size() && v[i] == ' ') {
        ++i;
    }
    uint64_t mult = 1;
    if (i < v.size()) {
        switch (to_lower(v[i])) {
            case 'k':
                mult = uint64_t{1} << 10;
                ++i;
                break;
            case 'm':
                mult = uint64_t{1} << 20;
                ++i;
                break;
            case 'g':
                mult = uint64_t{1} << 30;
                ++i;
                break;
            case 't':
                mult = uint64_t{1} << 40;
                ++i;
                break;
            case 'p':
                mult = uint64_t{1} << 50;
                ++i;
                break;
            default:
                break;
        }
    }
    if (i < v.size() && to_lower(v[i]) == 'i') {
        ++i;
    }
    if (i < v.size() && to_lower(v[i]) == 'b') {
        ++i;
    }
    if (i != v.size()) {
        return std::nullopt;
    }
    long double bytes = (static_cast<long double>(whole) + frac) * static_cast<long double>(mult);
    if (bytes >= static_cast<long double>(std::numeric_limits<int64_t>::max())) {
        return std::nullopt;
    }
    return static_cast<uint64_t>(bytes);
}

bool has_control_chars(std::string_view v) {
    return v.find('\0') != std::string_view::npos || v.find('\n') != std::string_view::npos;
}

bool is_cache_id_char(char c) {
    return is_alpha(static_cast<unsigned char>(c)) || is_digit(static_cast<unsigned char>(c)) ||
           c == '.' || c == '_' || c == '-';
}

/// A cache id derived from the target, as Docker keys caches by target by
/// default, but usable as one path component: every byte outside
/// [A-Za-z0-9-] becomes "_XX" (hex), so it never holds '/' or "..".
std::string cache_id_from_target(std::string_view target) {
    std::string out;
    for (char c : target) {
        if (is_alpha(static_cast<unsigned char>(c)) || is_digit(static_cast<unsigned char>(c)) ||
            c == '-') {
            out += c;
        } else {
            out += fmt::format("_{:02x}", static_cast<unsigned char>(c));
        }
    }
    return out;
}

}  // namespace

Result<RunMount> parse_run_mount(std::string_view value) {
    auto fail = [&](std::string msg) {
        return invalid(fmt::format("invalid --mount \"{}\": {}", value, msg));
    };
    if (value.empty()) {
        return fail("empty mount specification");
    }
    if (has_control_chars(value)) {
        return fail("contains a NUL or newline character");
    }
    auto fields = read_csv_record(value);
    if (!fields) {
        return fail(fields.error().message());
    }

    struct Field {
        std::string key;
        std::string value;
        bool has_value = false;
        std::string text;
    };
    std::vector<Field> parsed;
    RunMount m;
    std::string type = "bind";
    for (const auto& f : *fields) {
        Field p;
        p.text = f;
        auto eq = f.find('=');
        p.key = lower(std::string_view(f).substr(0, eq));
        if (eq != std::string::npos) {
            p.value = f.substr(eq + 1);
            p.has_value = true;
        }
        if (p.key == "type" && p.has_value) {
            type = lower(p.value);
        }
        parsed.push_back(std::move(p));
    }
    if (type == "bind") {
        m.type = RunMount::Type::bind;
    } else if (type == "cache") {
        m.type = RunMount::Type::cache;
    } else if (type == "tmpfs") {
        m.type = RunMount::Type::tmpfs;
    } else if (type == "secret" || type == "ssh") {
        return fail(fmt::format("mount type \"{}\" is not supported by berth", type));
    } else {
        return fail(fmt::format("unsupported mount type \"{}\"", type));
    }
    const bool is_cache = m.type == RunMount::Type::cache;
    const bool is_tmpfs = m.type == RunMount::Type::tmpfs;

    std::optional<bool> readwrite;
    std::optional<std::string> id;
    bool has_target = false;
    for (const auto& f : parsed) {
        auto unexpected = [&]() {
            return fail(fmt::format("unexpected key '{}' for mount type '{}'", f.key, type));
        };
        if (!f.has_value) {
            if (f.key == "readonly" || f.key == "ro") {
                readwrite = false;
            } else if (f.key == "readwrite" || f.key == "rw") {
                readwrite = true;
            } else {
                return fail(fmt::format("invalid field '{}' must be a key=value pair", f.text));
            }
            continue;
        }
        if (f.key == "type") {
            continue;
        }
        if (f.key == "from") {
            if (is_tmpfs) {
                return unexpected();
            }
            m.from = f.value;
        } else if (f.key == "source" || f.key == "src") {
            if (is_tmpfs) {
                return unexpected();
            }
            // Relative to the root of `from` (or the context): a leading '/'
            // means that root, and no ".." may climb above it.
            std::string_view rel = f.value;
            while (!rel.empty() && rel.front() == '/') {
                rel.remove_prefix(1);
            }
            std::string cleaned = internal::clean_go_path(rel);
            if (cleaned == ".." || cleaned.rfind("../", 0) == 0) {
                return fail(fmt::format("{} \"{}\" climbs out of its root", f.key, f.value));
            }
            m.source = cleaned == "." ? std::string() : cleaned;
        } else if (f.key == "target" || f.key == "dst" || f.key == "destination") {
            if (f.value.empty() || f.value.front() != '/') {
                return fail(fmt::format("{} \"{}\" must be an absolute path", f.key, f.value));
            }
            m.target = internal::clean_go_path(f.value);
            if (m.target == "/") {
                return fail(fmt::format("{} \"{}\" cannot be the root directory", f.key, f.value));
            }
            has_target = true;
        } else if (f.key == "readonly" || f.key == "ro" || f.key == "readwrite" || f.key == "rw") {
            auto b = parse_go_bool(f.value);
            if (!b) {
                return fail(fmt::format("invalid value for {}: \"{}\"", f.key, f.value));
            }
            readwrite = (f.key == "readwrite" || f.key == "rw") ? *b : !*b;
        } else if (f.key == "id") {
            if (!is_cache) {
                return unexpected();
            }
            const std::string& v = f.value;
            if (v.empty() || v.find("..") != std::string::npos ||
                !std::all_of(v.begin(), v.end(), is_cache_id_char)) {
                return fail(fmt::format(
                    "invalid cache id \"{}\": must be a plain name of [A-Za-z0-9._-], not a path",
                    v));
            }
            id = v;
        } else if (f.key == "sharing") {
            if (!is_cache) {
                return fail(fmt::format("invalid cache sharing set for {} mount", type));
            }
            std::string s = lower(f.value);
            if (!s.empty() && s != "shared" && s != "private" && s != "locked") {
                return fail(fmt::format("unsupported sharing value \"{}\"", f.value));
            }
            m.sharing = s.empty() ? "shared" : s;
        } else if (f.key == "mode" || f.key == "uid" || f.key == "gid") {
            if (!is_cache) {
                return unexpected();
            }
            auto n = parse_uint32(f.value, f.key == "mode" ? 8 : 10);
            if (!n) {
                return fail(fmt::format("invalid value for {}: \"{}\"", f.key, f.value));
            }
            (f.key == "mode" ? m.mode : f.key == "uid" ? m.uid : m.gid) = *n;
        } else if (f.key == "size") {
            if (!is_tmpfs) {
                return unexpected();
            }
            auto n = parse_mem_bytes(f.value);
            if (!n) {
                return fail(fmt::format("invalid value for size: \"{}\"", f.value));
            }
            m.size = *n;
        } else {
            // bind-propagation, required, env, ...: refused rather than ignored,
            // so that nothing the builder does not enforce passes silently.
            return fail(fmt::format("unexpected key '{}' in '{}'", f.key, f.text));
        }
    }
    if (!has_target) {
        return fail("target is required");
    }
    m.readwrite = readwrite.value_or(is_cache || is_tmpfs);
    if (is_cache) {
        m.id = id ? *id : cache_id_from_target(m.target);
    }
    return m;
}

}  // namespace berth::engine::build
