// SPDX-License-Identifier: Apache-2.0
#include "compose/interpolate.hpp"

#include <fmt/format.h>

namespace berth::compose {

namespace {

bool is_name_start(char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

Error invalid(std::string_view text) {
    return Error(Errc::invalid_argument, fmt::format("invalid interpolation format \"{}\"", text));
}

/// Finds the `}` closing a `${` whose body starts at `pos`, skipping nested
/// `${...}` and `$$`. npos when unterminated.
std::size_t find_close(std::string_view text, std::size_t pos) {
    int depth = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
        char c = text[i];
        if (c == '$' && i + 1 < text.size()) {
            if (text[i + 1] == '$') {
                ++i;
                continue;
            }
            if (text[i + 1] == '{') {
                ++depth;
                ++i;
                continue;
            }
        }
        if (c == '}') {
            if (depth == 0) {
                return i;
            }
            --depth;
        }
    }
    return std::string_view::npos;
}

Result<std::string> substitute(std::string_view text, const Lookup& lookup,
                               UnsetVariables* unset, int depth) {
    if (depth > 64) {
        return Error(Errc::invalid_argument, "interpolation nested too deeply");
    }
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c != '$') {
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 >= text.size()) {
            return invalid(text);
        }
        char n = text[i + 1];
        if (n == '$') {
            out.push_back('$');
            i += 2;
            continue;
        }
        if (is_name_start(n)) {
            std::size_t j = i + 1;
            while (j < text.size() && is_name_char(text[j])) {
                ++j;
            }
            std::string name(text.substr(i + 1, j - i - 1));
            auto v = lookup(name);
            if (v) {
                out += *v;
            } else if (unset) {
                unset->insert(name);
            }
            i = j;
            continue;
        }
        if (n != '{') {
            return invalid(text);
        }
        std::size_t close = find_close(text, i + 2);
        if (close == std::string_view::npos) {
            return invalid(text);
        }
        std::string_view body = text.substr(i + 2, close - i - 2);
        std::size_t k = 0;
        if (body.empty() || !is_name_start(body[0])) {
            return invalid(text);
        }
        while (k < body.size() && is_name_char(body[k])) {
            ++k;
        }
        std::string name(body.substr(0, k));
        std::string_view rest = body.substr(k);
        auto value = lookup(name);
        i = close + 1;
        if (rest.empty()) {
            if (value) {
                out += *value;
            } else if (unset) {
                unset->insert(name);
            }
            continue;
        }
        bool colon = rest[0] == ':';
        if (colon) {
            rest.remove_prefix(1);
        }
        if (rest.empty()) {
            return invalid(text);
        }
        char op = rest[0];
        std::string_view word = rest.substr(1);
        // With ':' an empty value counts as unset.
        bool present = value && (!colon || !value->empty());
        auto expand_word = [&]() { return substitute(word, lookup, unset, depth + 1); };
        if (op == '-') {
            if (present) {
                out += *value;
            } else {
                auto w = expand_word();
                if (!w) {
                    return w;
                }
                out += *w;
            }
        } else if (op == '?') {
            if (!present) {
                auto w = expand_word();
                if (!w) {
                    return w;
                }
                std::string msg = fmt::format("required variable {} is missing a value", name);
                if (!w->empty()) {
                    msg += ": " + *w;
                }
                return Error(Errc::invalid_argument, std::move(msg));
            }
            out += *value;
        } else if (op == '+') {
            if (present) {
                auto w = expand_word();
                if (!w) {
                    return w;
                }
                out += *w;
            }
        } else {
            return invalid(text);
        }
    }
    return out;
}

Result<void> walk(Node& node, const Lookup& lookup, UnsetVariables* unset, std::string& path) {
    switch (node.kind) {
    case NodeKind::null:
        return {};
    case NodeKind::scalar: {
        if (node.value.find('$') == std::string::npos) {
            return {};
        }
        auto r = substitute(node.value, lookup, unset, 0);
        if (!r) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}: {}: {}", node.mark.str(), path, r.error().message()));
        }
        node.value = std::move(*r);
        return {};
    }
    case NodeKind::sequence: {
        for (std::size_t i = 0; i < node.items.size(); ++i) {
            std::size_t len = path.size();
            path += fmt::format("[{}]", i);
            auto r = walk(node.items[i], lookup, unset, path);
            path.resize(len);
            if (!r) {
                return r;
            }
        }
        return {};
    }
    case NodeKind::mapping: {
        for (auto& e : node.entries) {
            std::size_t len = path.size();
            if (!path.empty()) {
                path += '.';
            }
            path += e.key;
            auto r = walk(e.value, lookup, unset, path);
            path.resize(len);
            if (!r) {
                return r;
            }
        }
        return {};
    }
    }
    return {};
}

}  // namespace

Result<std::string> interpolate(std::string_view text, const Lookup& lookup,
                                UnsetVariables* unset) {
    return substitute(text, lookup, unset, 0);
}

Result<void> interpolate_tree(Node& root, const Lookup& lookup, UnsetVariables* unset) {
    std::string path;
    return walk(root, lookup, unset, path);
}

std::string dotted_path(const std::vector<std::string>& tokens) {
    std::string out;
    for (const auto& t : tokens) {
        bool index = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
        if (index) {
            out += "[" + t + "]";
        } else {
            if (!out.empty()) {
                out += '.';
            }
            out += t;
        }
    }
    return out;
}

}  // namespace berth::compose
