// SPDX-License-Identifier: Apache-2.0
#include "compose/yaml_emit.hpp"

#include <fmt/format.h>

#include "compose/yaml_tree.hpp"

namespace berth::compose {

namespace {

using json = nlohmann::json;

bool needs_quotes(const std::string& s) {
    if (s.empty()) {
        return true;
    }
    // Anything YAML would type as null, bool or number must stay a string.
    auto typed = scalar_to_json(Node::make_plain(s));
    if (!typed || !typed->is_string()) {
        return true;
    }
    static const std::string lead = "-?:,[]{}#&*!|>'\"%@` \t";
    if (lead.find(s.front()) != std::string::npos || s.back() == ' ' || s.back() == '\t') {
        return true;
    }
    if (s == "yes" || s == "no" || s == "on" || s == "off" || s == "y" || s == "n" ||
        s == "Yes" || s == "No" || s == "On" || s == "Off" || s == "YES" || s == "NO") {
        return true;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
        if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) {
            return true;
        }
        if (s[i] == '#' && i > 0 && s[i - 1] == ' ') {
            return true;
        }
    }
    return false;
}

std::string scalar(const json& v) {
    if (v.is_null()) {
        return "null";
    }
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        return needs_quotes(s) ? json(s).dump() : s;
    }
    return v.dump();
}

std::string key_text(const std::string& k) {
    return needs_quotes(k) ? json(k).dump() : k;
}

void emit(const json& v, int indent, std::string& out);

void emit_child(const json& v, int indent, std::string& out) {
    if ((v.is_object() || v.is_array()) && !v.empty()) {
        out += '\n';
        emit(v, indent, out);
        return;
    }
    out += ' ';
    if (v.is_object()) {
        out += "{}\n";
    } else if (v.is_array()) {
        out += "[]\n";
    } else {
        out += scalar(v) + '\n';
    }
}

void emit(const json& v, int indent, std::string& out) {
    std::string pad(static_cast<std::size_t>(indent), ' ');
    if (v.is_object()) {
        for (const auto& [k, x] : v.items()) {
            out += pad + key_text(k) + ':';
            emit_child(x, indent + 2, out);
        }
    } else if (v.is_array()) {
        for (const auto& x : v) {
            if (x.is_object() && !x.empty()) {
                // First key on the dash line, the rest aligned under it.
                std::string inner;
                emit(x, indent + 2, inner);
                out += pad + "- " + inner.substr(static_cast<std::size_t>(indent) + 2);
            } else if (x.is_array() && !x.empty()) {
                out += pad + "-\n";
                emit(x, indent + 2, out);
            } else {
                out += pad + "-";
                emit_child(x, indent + 2, out);
            }
        }
    } else {
        out += pad + scalar(v) + '\n';
    }
}

}  // namespace

std::string to_yaml(const nlohmann::json& value) {
    std::string out;
    emit(value, 0, out);
    return out;
}

}  // namespace berth::compose
