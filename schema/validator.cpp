// SPDX-License-Identifier: Apache-2.0
#include "schema/validator.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

#include <fmt/format.h>

namespace berth::schema {

namespace {

using json = nlohmann::json;

/// A compiled `pattern`: simple shapes are matched by hand (they are the
/// common ones and std::regex is slow), the rest by std::regex.
struct Pattern {
    enum class Kind { prefix, nonempty, char_class, regex } kind = Kind::regex;
    std::string prefix;
    bool allowed[256] = {};
    std::regex re;

    [[nodiscard]] bool search(const std::string& s) const {
        switch (kind) {
        case Kind::prefix:
            return s.compare(0, prefix.size(), prefix) == 0;
        case Kind::nonempty:
            return !s.empty() && s.find('\n') != 0;
        case Kind::char_class:
            if (s.empty()) {
                return false;
            }
            for (unsigned char c : s) {
                if (!allowed[c]) {
                    return false;
                }
            }
            return true;
        case Kind::regex:
            return std::regex_search(s, re);
        }
        return false;
    }
};

/// Recognises `^[...]+$` made of ranges and plain characters.
bool compile_char_class(const std::string& p, Pattern& out) {
    if (p.size() < 6 || p.rfind("^[", 0) != 0 || p.substr(p.size() - 3) != "]+$") {
        return false;
    }
    std::string body = p.substr(2, p.size() - 5);
    if (body.empty() || body[0] == '^') {
        return false;
    }
    for (std::size_t i = 0; i < body.size(); ++i) {
        char c = body[i];
        if (c == '\\' || c == '[' || c == ']') {
            return false;
        }
        if (i + 2 < body.size() && body[i + 1] == '-') {
            for (int x = static_cast<unsigned char>(c); x <= static_cast<unsigned char>(body[i + 2]);
                 ++x) {
                out.allowed[x] = true;
            }
            i += 2;
            continue;
        }
        out.allowed[static_cast<unsigned char>(c)] = true;
    }
    out.kind = Pattern::Kind::char_class;
    return true;
}

Result<Pattern> compile_pattern(const std::string& p) {
    Pattern out;
    if (p == ".+" || p == "^.+$") {
        out.kind = Pattern::Kind::nonempty;
        return out;
    }
    if (p.size() > 1 && p[0] == '^' &&
        p.find_first_of(".[]()*+?{}|\\$^", 1) == std::string::npos) {
        out.kind = Pattern::Kind::prefix;
        out.prefix = p.substr(1);
        return out;
    }
    if (compile_char_class(p, out)) {
        return out;
    }
    try {
        out.re = std::regex(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return Error(Errc::invalid_argument, fmt::format("invalid pattern \"{}\": {}", p, e.what()));
    }
    return out;
}

std::size_t utf8_length(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) {
        if ((c & 0xC0) != 0x80) {
            ++n;
        }
    }
    return n;
}

std::string type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null:
        return "null";
    case json::value_t::boolean:
        return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
        return "integer";
    case json::value_t::number_float:
        return "number";
    case json::value_t::string:
        return "string";
    case json::value_t::array:
        return "array";
    case json::value_t::object:
        return "object";
    default:
        return "unknown";
    }
}

bool has_type(const json& v, const std::string& t) {
    if (t == "null") {
        return v.is_null();
    }
    if (t == "boolean") {
        return v.is_boolean();
    }
    if (t == "string") {
        return v.is_string();
    }
    if (t == "array") {
        return v.is_array();
    }
    if (t == "object") {
        return v.is_object();
    }
    if (t == "number") {
        return v.is_number();
    }
    if (t == "integer") {
        if (v.is_number_integer()) {
            return true;
        }
        if (v.is_number_float()) {
            double d = v.get<double>();
            return std::isfinite(d) && std::floor(d) == d;
        }
        return false;
    }
    return false;
}

std::string quote_list(const json& values) {
    std::string out;
    for (const auto& v : values) {
        if (!out.empty()) {
            out += ", ";
        }
        out += v.dump();
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1);
    std::vector<std::size_t> cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
            // Adjacent transposition counts as one edit.
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                cur[j] = std::min(cur[j], prev[j - 1]);
            }
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates) {
    std::optional<std::string> best;
    std::size_t best_d = 0;
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (!best || d < best_d) {
            best = c;
            best_d = d;
        }
    }
    std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    if (best && best_d <= limit && best_d < word.size()) {
        return best;
    }
    return std::nullopt;
}

std::string ValidationError::dotted_path() const {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        bool idx = i < is_index.size() && is_index[i];
        if (idx) {
            out += "[" + path[i] + "]";
        } else {
            if (!out.empty()) {
                out += '.';
            }
            out += path[i];
        }
    }
    return out.empty() ? "(root)" : out;
}

struct Validator::Impl {
    json root;
    std::map<std::string, Pattern> patterns;

    struct Ctx {
        std::vector<std::string> path;
        std::vector<bool> is_index;
        std::vector<ValidationError>* errors;
        std::size_t max_errors;
        int depth = 0;
    };

    void add(Ctx& c, std::string keyword, std::string message,
             std::optional<std::string> key = std::nullopt) const {
        if (c.errors->size() >= c.max_errors) {
            return;
        }
        c.errors->push_back(
            ValidationError{c.path, std::move(key), std::move(keyword), std::move(message),
                            c.is_index});
    }

    const Pattern& pattern(const std::string& p) const { return patterns.at(p); }

    const json* resolve(const std::string& ref) const {
        if (ref.empty() || ref[0] != '#') {
            return nullptr;
        }
        try {
            // The fragment is URI-encoded ("%25" for '%').
            std::string frag;
            for (std::size_t i = 1; i < ref.size(); ++i) {
                if (ref[i] == '%' && i + 2 < ref.size() &&
                    std::isxdigit(static_cast<unsigned char>(ref[i + 1])) != 0 &&
                    std::isxdigit(static_cast<unsigned char>(ref[i + 2])) != 0) {
                    frag += static_cast<char>(std::stoi(ref.substr(i + 1, 2), nullptr, 16));
                    i += 2;
                } else {
                    frag += ref[i];
                }
            }
            json::json_pointer ptr(frag);
            if (!root.contains(ptr)) {
                return nullptr;
            }
            return &root.at(ptr);
        } catch (const std::exception&) {
            return nullptr;
        }
    }

    /// Validates into a fresh list; used by the combinators.
    std::vector<ValidationError> sub(const json& schema, const json& v, const Ctx& c) const {
        std::vector<ValidationError> errs;
        Ctx s{c.path, c.is_index, &errs, 64, c.depth};
        check(schema, v, s);
        return errs;
    }

    void child(const json& schema, const json& v, Ctx& c, const std::string& token,
               bool index) const {
        c.path.push_back(token);
        c.is_index.push_back(index);
        check(schema, v, c);
        c.path.pop_back();
        c.is_index.pop_back();
    }

    /// Picks the errors to report when no branch of anyOf/oneOf matched.
    void report_branches(const json& branches, const json& v, Ctx& c) const {
        std::vector<std::vector<ValidationError>> all;
        for (const auto& b : branches) {
            all.push_back(sub(b, v, c));
        }
        // A branch whose type matched (no type error at this very path) says
        // the most; among those, the one whose first error is deepest.
        const std::vector<ValidationError>* best = nullptr;
        std::size_t best_depth = 0;
        for (const auto& errs : all) {
            if (errs.empty()) {
                continue;
            }
            bool type_here = std::any_of(errs.begin(), errs.end(), [&](const ValidationError& e) {
                return e.keyword == "type" && e.path.size() == c.path.size();
            });
            if (type_here) {
                continue;
            }
            std::size_t d = 0;
            for (const auto& e : errs) {
                d = std::max(d, e.path.size() + (e.key ? 1 : 0));
            }
            if (!best || d > best_depth) {
                best = &errs;
                best_depth = d;
            }
        }
        if (best) {
            for (const auto& e : *best) {
                if (c.errors->size() < c.max_errors) {
                    c.errors->push_back(e);
                }
            }
            return;
        }
        std::vector<std::string> types;
        for (const auto& b : branches) {
            if (b.is_object() && b.contains("type")) {
                const json& t = b["type"];
                if (t.is_string()) {
                    types.push_back(t.get<std::string>());
                } else if (t.is_array()) {
                    for (const auto& x : t) {
                        types.push_back(x.get<std::string>());
                    }
                }
            } else if (b.is_object() && b.contains("$ref")) {
                const json* r = resolve(b["$ref"].get<std::string>());
                if (r && r->is_object() && r->contains("type") && (*r)["type"].is_string()) {
                    types.push_back((*r)["type"].get<std::string>());
                }
            }
        }
        std::sort(types.begin(), types.end());
        types.erase(std::unique(types.begin(), types.end()), types.end());
        if (!types.empty()) {
            std::string list;
            for (std::size_t i = 0; i < types.size(); ++i) {
                if (i > 0) {
                    list += i + 1 == types.size() ? " or " : ", ";
                }
                list += types[i];
            }
            add(c, "type", fmt::format("must be a {}, not a {}", list, type_name(v)));
        } else {
            add(c, "anyOf", "does not match any allowed form");
        }
    }

    void check(const json& schema, const json& v, Ctx& c) const {
        if (c.errors->size() >= c.max_errors) {
            return;
        }
        if (schema.is_boolean()) {
            if (!schema.get<bool>()) {
                add(c, "false", "no value is allowed here");
            }
            return;
        }
        if (!schema.is_object()) {
            return;
        }
        if (++c.depth > 200) {
            --c.depth;
            add(c, "$ref", "schema recursion too deep");
            return;
        }
        auto it = schema.find("$ref");
        if (it != schema.end() && it->is_string()) {
            const json* target = resolve(it->get<std::string>());
            if (target) {
                check(*target, v, c);
            }
            // In draft 7, $ref makes sibling keywords ignored.
            --c.depth;
            return;
        }
        check_keywords(schema, v, c);
        --c.depth;
    }

    void check_keywords(const json& schema, const json& v, Ctx& c) const {
        std::size_t before = c.errors->size();
        if (auto t = schema.find("type"); t != schema.end()) {
            bool ok = false;
            std::string expected;
            if (t->is_string()) {
                ok = has_type(v, t->get<std::string>());
                expected = t->get<std::string>();
            } else if (t->is_array()) {
                for (const auto& x : *t) {
                    ok = ok || has_type(v, x.get<std::string>());
                    expected += expected.empty() ? "" : " or ";
                    expected += x.get<std::string>();
                }
            }
            if (!ok) {
                add(c, "type", fmt::format("must be a {}, not a {}", expected, type_name(v)));
                return;
            }
        }
        if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
            if (std::find(e->begin(), e->end(), v) == e->end()) {
                std::string shown = v.is_string() ? v.get<std::string>() : v.dump();
                add(c, "enum", fmt::format("invalid value \"{}\", must be one of {}", shown,
                                           quote_list(*e)));
            }
        }
        if (auto k = schema.find("const"); k != schema.end()) {
            if (!(*k == v)) {
                add(c, "const", fmt::format("must be {}", k->dump()));
            }
        }
        if (v.is_number()) {
            check_number(schema, v, c);
        }
        if (v.is_string()) {
            check_string(schema, v, c);
        }
        if (v.is_array()) {
            check_array(schema, v, c);
        }
        if (v.is_object()) {
            check_object(schema, v, c);
        }
        if (auto a = schema.find("allOf"); a != schema.end() && a->is_array()) {
            for (const auto& s : *a) {
                check(s, v, c);
            }
        }
        if (auto a = schema.find("anyOf"); a != schema.end() && a->is_array()) {
            bool any = false;
            for (const auto& s : *a) {
                if (sub(s, v, c).empty()) {
                    any = true;
                    break;
                }
            }
            if (!any) {
                report_branches(*a, v, c);
            }
        }
        if (auto a = schema.find("oneOf"); a != schema.end() && a->is_array()) {
            int matched = 0;
            for (const auto& s : *a) {
                if (sub(s, v, c).empty()) {
                    ++matched;
                }
            }
            if (matched == 0) {
                report_branches(*a, v, c);
            } else if (matched > 1) {
                add(c, "oneOf", "matches more than one allowed form");
            }
        }
        if (auto n = schema.find("not"); n != schema.end()) {
            if (sub(*n, v, c).empty()) {
                add(c, "not", "matches a form that is not allowed");
            }
        }
        if (auto i = schema.find("if"); i != schema.end()) {
            bool cond = sub(*i, v, c).empty();
            auto branch = schema.find(cond ? "then" : "else");
            if (branch != schema.end()) {
                check(*branch, v, c);
            }
        }
        (void)before;
    }

    void check_number(const json& schema, const json& v, Ctx& c) const {
        double d = v.get<double>();
        auto num = [&](const char* k) -> std::optional<double> {
            auto it = schema.find(k);
            if (it != schema.end() && it->is_number()) {
                return it->get<double>();
            }
            return std::nullopt;
        };
        auto show = [&]() { return v.dump(); };
        if (auto m = num("minimum"); m && d < *m) {
            add(c, "minimum", fmt::format("{} is less than the minimum {}", show(), *m));
        }
        if (auto m = num("maximum"); m && d > *m) {
            add(c, "maximum", fmt::format("{} is greater than the maximum {}", show(), *m));
        }
        if (auto m = num("exclusiveMinimum"); m && d <= *m) {
            add(c, "exclusiveMinimum", fmt::format("{} must be greater than {}", show(), *m));
        }
        if (auto m = num("exclusiveMaximum"); m && d >= *m) {
            add(c, "exclusiveMaximum", fmt::format("{} must be less than {}", show(), *m));
        }
        if (auto m = num("multipleOf"); m && *m > 0) {
            double q = d / *m;
            if (!std::isfinite(q) || std::fabs(q - std::round(q)) > 1e-9) {
                add(c, "multipleOf", fmt::format("{} is not a multiple of {}", show(), *m));
            }
        }
    }

    void check_string(const json& schema, const json& v, Ctx& c) const {
        const auto& s = v.get_ref<const std::string&>();
        if (auto it = schema.find("minLength"); it != schema.end() && it->is_number()) {
            if (utf8_length(s) < it->get<std::size_t>()) {
                add(c, "minLength", fmt::format("must be at least {} characters long",
                                                it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("maxLength"); it != schema.end() && it->is_number()) {
            if (utf8_length(s) > it->get<std::size_t>()) {
                add(c, "maxLength", fmt::format("must be at most {} characters long",
                                                it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("pattern"); it != schema.end() && it->is_string()) {
            if (!pattern(it->get<std::string>()).search(s)) {
                add(c, "pattern", fmt::format("invalid value \"{}\", must match {}", s,
                                              it->get<std::string>()));
            }
        }
    }

    void check_array(const json& schema, const json& v, Ctx& c) const {
        if (auto it = schema.find("minItems"); it != schema.end() && it->is_number()) {
            if (v.size() < it->get<std::size_t>()) {
                add(c, "minItems", fmt::format("must have at least {} items",
                                               it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("maxItems"); it != schema.end() && it->is_number()) {
            if (v.size() > it->get<std::size_t>()) {
                add(c, "maxItems", fmt::format("must have at most {} items",
                                               it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("uniqueItems");
            it != schema.end() && it->is_boolean() && it->get<bool>()) {
            for (std::size_t i = 0; i < v.size(); ++i) {
                for (std::size_t j = i + 1; j < v.size(); ++j) {
                    if (v[i] == v[j]) {
                        c.path.push_back(std::to_string(j));
                        c.is_index.push_back(true);
                        add(c, "uniqueItems", fmt::format("duplicate item {}", v[j].dump()));
                        c.path.pop_back();
                        c.is_index.pop_back();
                        i = v.size();
                        break;
                    }
                }
            }
        }
        auto items = schema.find("items");
        if (items != schema.end()) {
            if (items->is_array()) {
                std::size_t n = std::min(items->size(), v.size());
                for (std::size_t i = 0; i < n; ++i) {
                    child((*items)[i], v[i], c, std::to_string(i), true);
                }
                auto extra = schema.find("additionalItems");
                if (extra != schema.end()) {
                    for (std::size_t i = n; i < v.size(); ++i) {
                        child(*extra, v[i], c, std::to_string(i), true);
                    }
                }
            } else {
                for (std::size_t i = 0; i < v.size(); ++i) {
                    child(*items, v[i], c, std::to_string(i), true);
                }
            }
        }
        if (auto it = schema.find("contains"); it != schema.end()) {
            bool found = false;
            for (const auto& x : v) {
                if (sub(*it, x, c).empty()) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                add(c, "contains", "has no item of the required form");
            }
        }
    }

    void check_object(const json& schema, const json& v, Ctx& c) const {
        auto props = schema.find("properties");
        auto pats = schema.find("patternProperties");
        auto addl = schema.find("additionalProperties");
        if (auto it = schema.find("required"); it != schema.end() && it->is_array()) {
            for (const auto& r : *it) {
                if (r.is_string() && !v.contains(r.get<std::string>())) {
                    add(c, "required",
                        fmt::format("missing required property '{}'", r.get<std::string>()));
                }
            }
        }
        if (auto it = schema.find("minProperties"); it != schema.end() && it->is_number()) {
            if (v.size() < it->get<std::size_t>()) {
                add(c, "minProperties", fmt::format("must have at least {} properties",
                                                    it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("maxProperties"); it != schema.end() && it->is_number()) {
            if (v.size() > it->get<std::size_t>()) {
                add(c, "maxProperties", fmt::format("must have at most {} properties",
                                                    it->get<std::size_t>()));
            }
        }
        if (auto it = schema.find("dependencies"); it != schema.end() && it->is_object()) {
            for (const auto& [k, dep] : it->items()) {
                if (!v.contains(k)) {
                    continue;
                }
                if (dep.is_array()) {
                    for (const auto& r : dep) {
                        if (!v.contains(r.get<std::string>())) {
                            add(c, "dependencies",
                                fmt::format("property '{}' requires property '{}'", k,
                                            r.get<std::string>()));
                        }
                    }
                } else {
                    check(dep, v, c);
                }
            }
        }
        auto names = schema.find("propertyNames");
        for (const auto& [k, val] : v.items()) {
            if (names != schema.end()) {
                std::vector<ValidationError> errs = sub(*names, json(k), c);
                if (!errs.empty()) {
                    add(c, "propertyNames", fmt::format("invalid property name '{}'", k), k);
                }
            }
            bool matched = false;
            if (props != schema.end() && props->is_object()) {
                auto p = props->find(k);
                if (p != props->end()) {
                    matched = true;
                    child(*p, val, c, k, false);
                }
            }
            if (pats != schema.end() && pats->is_object()) {
                for (const auto& [pat, ps] : pats->items()) {
                    if (pattern(pat).search(k)) {
                        matched = true;
                        child(ps, val, c, k, false);
                    }
                }
            }
            if (matched || addl == schema.end()) {
                continue;
            }
            if (addl->is_boolean()) {
                if (!addl->get<bool>()) {
                    std::string msg = fmt::format("additional property '{}' is not allowed", k);
                    if (props != schema.end() && props->is_object()) {
                        std::vector<std::string> known;
                        for (const auto& [pk, pv] : props->items()) {
                            known.push_back(pk);
                        }
                        if (auto m = closest_match(k, known)) {
                            msg += fmt::format(", did you mean '{}'?", *m);
                        }
                    }
                    add(c, "additionalProperties", std::move(msg), k);
                }
            } else {
                child(*addl, val, c, k, false);
            }
        }
    }

    Result<void> compile(const json& s) {
        if (s.is_array()) {
            for (const auto& x : s) {
                auto r = compile(x);
                if (!r) {
                    return r;
                }
            }
            return {};
        }
        if (!s.is_object()) {
            return {};
        }
        for (const auto& [k, val] : s.items()) {
            if (k == "pattern" && val.is_string()) {
                auto p = compile_pattern(val.get<std::string>());
                if (!p) {
                    return std::move(p).error();
                }
                patterns.emplace(val.get<std::string>(), std::move(*p));
            } else if (k == "patternProperties" && val.is_object()) {
                for (const auto& [pat, sub_schema] : val.items()) {
                    auto p = compile_pattern(pat);
                    if (!p) {
                        return std::move(p).error();
                    }
                    patterns.emplace(pat, std::move(*p));
                    auto r = compile(sub_schema);
                    if (!r) {
                        return r;
                    }
                }
                continue;
            } else if (k == "$ref" && val.is_string()) {
                if (!resolve(val.get<std::string>())) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("unresolvable $ref \"{}\"", val.get<std::string>()));
                }
            } else if (k == "enum" || k == "const") {
                continue;
            }
            if (k == "properties" || k == "definitions" || k == "dependencies") {
                if (val.is_object()) {
                    for (const auto& [pk, pv] : val.items()) {
                        auto r = compile(pv);
                        if (!r) {
                            return r;
                        }
                    }
                }
                continue;
            }
            if (val.is_object() || val.is_array()) {
                auto r = compile(val);
                if (!r) {
                    return r;
                }
            }
        }
        return {};
    }
};

Result<Validator> Validator::create(nlohmann::json schema) {
    auto impl = std::make_shared<Impl>();
    impl->root = std::move(schema);
    auto r = impl->compile(impl->root);
    if (!r) {
        return std::move(r).error().wrap("compile schema");
    }
    return Validator(std::move(impl));
}

std::vector<ValidationError> Validator::validate(const nlohmann::json& instance,
                                                 std::size_t max_errors) const {
    std::vector<ValidationError> errors;
    Impl::Ctx c{{}, {}, &errors, max_errors, 0};
    impl_->check(impl_->root, instance, c);
    // Most specific (deepest) first, stable otherwise.
    std::stable_sort(errors.begin(), errors.end(),
                     [](const ValidationError& a, const ValidationError& b) {
                         return a.path.size() + (a.key ? 1 : 0) > b.path.size() + (b.key ? 1 : 0);
                     });
    return errors;
}

bool Validator::is_valid(const nlohmann::json& instance) const {
    return validate(instance, 1).empty();
}

}  // namespace berth::schema
