// SPDX-License-Identifier: Apache-2.0
#include "compose/yaml_tree.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace berth::compose {

std::string Mark::str() const {
    std::string name = file ? *file : std::string("<input>");
    if (line <= 0) {
        return name;
    }
    return fmt::format("{}:{}:{}", name, line, column);
}

Node Node::make_null(Mark m) {
    Node n;
    n.mark = std::move(m);
    return n;
}

Node Node::make_string(std::string text, Mark m) {
    Node n;
    n.kind = NodeKind::scalar;
    n.quoted = true;
    n.value = std::move(text);
    n.mark = std::move(m);
    return n;
}

Node Node::make_plain(std::string text, Mark m) {
    Node n = make_string(std::move(text), std::move(m));
    n.quoted = false;
    return n;
}

Node Node::make_sequence(Mark m) {
    Node n;
    n.kind = NodeKind::sequence;
    n.mark = std::move(m);
    return n;
}

Node Node::make_mapping(Mark m) {
    Node n;
    n.kind = NodeKind::mapping;
    n.mark = std::move(m);
    return n;
}

const Entry* Node::entry(std::string_view key) const {
    if (kind != NodeKind::mapping) {
        return nullptr;
    }
    for (const auto& e : entries) {
        if (e.key == key) {
            return &e;
        }
    }
    return nullptr;
}

const Node* Node::get(std::string_view key) const {
    const Entry* e = entry(key);
    return e ? &e->value : nullptr;
}

Node* Node::get(std::string_view key) {
    return const_cast<Node*>(std::as_const(*this).get(key));
}

Node& Node::set(std::string_view key, Node v, Mark key_mark) {
    if (kind != NodeKind::mapping) {
        kind = NodeKind::mapping;
        value.clear();
        items.clear();
    }
    for (auto& e : entries) {
        if (e.key == key) {
            e.value = std::move(v);
            return e.value;
        }
    }
    entries.push_back(Entry{std::string(key), std::move(key_mark), std::move(v)});
    return entries.back().value;
}

bool Node::erase(std::string_view key) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
        if (it->key == key) {
            entries.erase(it);
            return true;
        }
    }
    return false;
}

std::size_t Node::count() const {
    std::size_t n = 1;
    for (const auto& i : items) {
        n += i.count();
    }
    for (const auto& e : entries) {
        n += e.value.count();
    }
    return n;
}

namespace {

/// Thrown inside the event handler to stop yaml-cpp's parser; caught in parse_yaml.
struct Abort {
    std::string message;
    int line;
    int column;
};

Mark to_mark(const YAML::Mark& m, const std::shared_ptr<const std::string>& file) {
    return Mark{file, m.line + 1, m.column + 1};
}

/// go-yaml's allowedAliasRatio: small documents may be mostly aliases, large
/// ones only a little, so that a billion-laughs document fails early.
double allowed_alias_ratio(std::size_t decoded) {
    constexpr double lo = 400'000;
    constexpr double hi = 4'000'000;
    if (static_cast<double>(decoded) <= lo) {
        return 0.99;
    }
    if (static_cast<double>(decoded) >= hi) {
        return 0.10;
    }
    return 0.99 - 0.89 * ((static_cast<double>(decoded) - lo) / (hi - lo));
}

class TreeBuilder : public YAML::EventHandler {
public:
    TreeBuilder(std::shared_ptr<const std::string> file, const YamlLimits& limits)
        : file_(std::move(file)), limits_(limits) {}

    std::vector<Node> documents;

    void OnDocumentStart(const YAML::Mark&) override {
        stack_.clear();
        root_.reset();
    }
    void OnDocumentEnd() override {
        documents.push_back(root_ ? std::move(*root_) : Node{});
        root_.reset();
    }

    /// Nodes written in the text (not from aliases) are bounded by its size:
    /// past that, the YAML parser is repeating itself on malformed input
    /// (yaml-cpp 0.7 emits nulls without end for some; found by fuzzing).
    void set_text_size(std::size_t bytes) { max_own_nodes_ = 2 * bytes + 64; }

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        ++decoded_;
        if (decoded_ - alias_decoded_ > max_own_nodes_ || decoded_ > limits_.max_nodes) {
            fail(mark, "malformed document: the parser does not progress");
        }
        Node n = Node::make_null(to_mark(mark, file_));
        deliver(std::move(n), anchor, mark, false, {});
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (anchor >= anchors_.size() || !anchors_[anchor]) {
            fail(mark, "alias refers to an anchor that is not complete (recursive alias)");
        }
        const Stored& s = *anchors_[anchor];
        decoded_ += s.count;
        alias_decoded_ += s.count;
        if (decoded_ > limits_.max_nodes) {
            fail(mark, fmt::format("document expands to more than {} nodes (alias budget)",
                                   limits_.max_nodes));
        }
        if (alias_decoded_ > 100 && decoded_ > 1000 &&
            static_cast<double>(alias_decoded_) / static_cast<double>(decoded_) >
                allowed_alias_ratio(decoded_)) {
            fail(mark, "document has excessive aliasing (alias budget)");
        }
        Node copy = s.node;
        bool scalar_key = copy.is_scalar();
        std::string key_text = scalar_key ? copy.value : std::string{};
        deliver(std::move(copy), 0, mark, scalar_key, key_text, true);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        Node n;
        n.kind = NodeKind::scalar;
        n.mark = to_mark(mark, file_);
        n.value = value;
        // yaml-cpp tags plain scalars "?" and quoted/block ones "!".
        n.quoted = tag != "?" && tag != "!reset" && tag != "!override";
        if (tag == "!!str" || tag == "tag:yaml.org,2002:str") {
            n.quoted = true;
        }
        n.tag = tag_of(tag);
        if (n.tag != NodeTag::none && value.empty()) {
            n.kind = NodeKind::null;
            n.quoted = false;
        }
        ++decoded_;
        deliver(std::move(n), anchor, mark, true, value, false, tag == "?");
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        push(Node::make_sequence(to_mark(mark, file_)), tag, anchor, mark);
    }
    void OnSequenceEnd() override { pop(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        push(Node::make_mapping(to_mark(mark, file_)), tag, anchor, mark);
    }
    void OnMapEnd() override { pop(); }

private:
    struct Stored {
        Node node;
        std::size_t count;
    };
    struct Frame {
        Node node;
        YAML::anchor_t anchor = 0;
        std::size_t start_decoded = 0;
        bool has_key = false;
        bool key_is_merge = false;
        std::string key;
        Mark key_mark;
        std::vector<Node> merges;
        std::unordered_set<std::string> keys;
    };

    static NodeTag tag_of(const std::string& tag) {
        if (tag == "!reset") {
            return NodeTag::reset;
        }
        if (tag == "!override") {
            return NodeTag::override_;
        }
        return NodeTag::none;
    }

    [[noreturn]] void fail(const YAML::Mark& mark, std::string message) {
        throw Abort{std::move(message), mark.line + 1, mark.column + 1};
    }

    void push(Node n, const std::string& tag, YAML::anchor_t anchor, const YAML::Mark& mark) {
        if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
            fail(mark, fmt::format("document nested deeper than {} levels", limits_.max_depth));
        }
        ++decoded_;
        n.tag = tag_of(tag);
        Frame f;
        f.node = std::move(n);
        f.anchor = anchor;
        f.start_decoded = decoded_ - 1;
        stack_.push_back(std::move(f));
    }

    void pop() {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        if (f.node.is_mapping() && !f.merges.empty()) {
            apply_merges(f);
        }
        std::size_t count = decoded_ - f.start_decoded;
        if (f.anchor != 0) {
            store_anchor(f.anchor, f.node, count);
        }
        YAML::Mark m;
        m.line = f.node.mark.line - 1;
        m.column = f.node.mark.column - 1;
        deliver_value(std::move(f.node), m);
    }

    void apply_merges(Frame& f) {
        for (auto& src : f.merges) {
            std::vector<const Node*> maps;
            if (src.is_mapping()) {
                maps.push_back(&src);
            } else if (src.is_sequence()) {
                for (const auto& item : src.items) {
                    if (!item.is_mapping()) {
                        throw Abort{"merge key '<<' takes a mapping or a list of mappings",
                                    item.mark.line, item.mark.column};
                    }
                    maps.push_back(&item);
                }
            } else {
                throw Abort{"merge key '<<' takes a mapping or a list of mappings", src.mark.line,
                            src.mark.column};
            }
            for (const Node* m : maps) {
                for (const auto& e : m->entries) {
                    if (f.keys.insert(e.key).second) {
                        f.node.entries.push_back(e);
                    }
                }
            }
        }
    }

    void store_anchor(YAML::anchor_t anchor, const Node& n, std::size_t count) {
        if (anchors_.size() <= anchor) {
            anchors_.resize(anchor + 1);
        }
        anchors_[anchor] = Stored{n, count};
    }

    /// A finished scalar, null or alias arrives: it is a key or a value.
    void deliver(Node n, YAML::anchor_t anchor, const YAML::Mark& mark, bool can_be_key,
                 const std::string& key_text, bool from_alias = false, bool plain = false) {
        if (anchor != 0) {
            store_anchor(anchor, n, 1);
        }
        if (!stack_.empty() && stack_.back().node.is_mapping() && !stack_.back().has_key) {
            Frame& f = stack_.back();
            if (n.is_null()) {
                f.key.clear();
            } else if (!can_be_key) {
                fail(mark, "mapping keys must be strings");
            } else {
                f.key = key_text;
            }
            f.key_is_merge = plain && !from_alias && key_text == "<<";
            f.has_key = true;
            f.key_mark = to_mark(mark, file_);
            return;
        }
        deliver_value(std::move(n), mark);
    }

    void deliver_value(Node n, const YAML::Mark& mark) {
        if (stack_.empty()) {
            root_ = std::move(n);
            return;
        }
        Frame& f = stack_.back();
        if (f.node.is_sequence()) {
            f.node.items.push_back(std::move(n));
            return;
        }
        if (!f.has_key) {
            // A collection used as a mapping key.
            fail(mark, "mapping keys must be strings");
        }
        f.has_key = false;
        if (f.key_is_merge) {
            f.merges.push_back(std::move(n));
            return;
        }
        if (!f.keys.insert(f.key).second) {
            throw Abort{fmt::format("mapping key '{}' already defined", f.key), f.key_mark.line,
                        f.key_mark.column};
        }
        f.node.entries.push_back(Entry{std::move(f.key), std::move(f.key_mark), std::move(n)});
        f.key.clear();
    }

    std::shared_ptr<const std::string> file_;
    YamlLimits limits_;
    std::vector<Frame> stack_;
    std::optional<Node> root_;
    std::vector<std::optional<Stored>> anchors_;
    std::size_t decoded_ = 0;
    std::size_t alias_decoded_ = 0;
    std::size_t max_own_nodes_ = SIZE_MAX;
};

/// Rejects NUL bytes and invalid UTF-8, naming the line and column.
Result<void> check_text(std::string_view text, const std::string& file) {
    int line = 1;
    int col = 1;
    std::size_t i = 0;
    auto bad = [&](std::string_view what) {
        return Error(Errc::invalid_argument, fmt::format("{}:{}:{}: {}", file, line, col, what));
    };
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c == 0) {
            return bad("NUL byte in file");
        }
        if (c == '\n') {
            ++line;
            col = 1;
            ++i;
            continue;
        }
        std::size_t len = 1;
        if (c >= 0x80) {
            std::uint32_t cp = 0;
            if ((c & 0xE0) == 0xC0) {
                len = 2;
                cp = c & 0x1F;
            } else if ((c & 0xF0) == 0xE0) {
                len = 3;
                cp = c & 0x0F;
            } else if ((c & 0xF8) == 0xF0) {
                len = 4;
                cp = c & 0x07;
            } else {
                return bad("invalid UTF-8");
            }
            if (i + len > text.size()) {
                return bad("invalid UTF-8");
            }
            for (std::size_t k = 1; k < len; ++k) {
                auto cc = static_cast<unsigned char>(text[i + k]);
                if ((cc & 0xC0) != 0x80) {
                    return bad("invalid UTF-8");
                }
                cp = (cp << 6) | (cc & 0x3F);
            }
            bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                            (len == 4 && cp < 0x10000);
            if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                return bad("invalid UTF-8");
            }
        }
        i += len;
        ++col;
    }
    return {};
}

}  // namespace

Result<std::vector<Node>> parse_yaml(std::string_view text, const std::string& file,
                                     const YamlLimits& limits) {
    if (text.size() > limits.max_bytes) {
        return Error(Errc::invalid_argument,
                     fmt::format("{}: file is larger than {} bytes", file, limits.max_bytes));
    }
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
    auto ok = check_text(text, file);
    if (!ok) {
        return std::move(ok).error();
    }
    auto name = std::make_shared<const std::string>(file);
    TreeBuilder builder(name, limits);
    builder.set_text_size(text.size());
    try {
        std::istringstream in{std::string(text)};
        YAML::Parser parser(in);
        while (parser.HandleNextDocument(builder)) {
        }
    } catch (const Abort& a) {
        return Error(Errc::invalid_argument,
                     fmt::format("{}:{}:{}: {}", file, a.line, a.column, a.message));
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp's own guard (2000 parser frames, about 1000 levels) fired first.
        return Error(Errc::invalid_argument,
                     fmt::format("{}:{}:{}: document nested deeper than {} levels", file,
                                 e.mark.line + 1, e.mark.column + 1, limits.max_depth));
    } catch (const YAML::Exception& e) {
        return Error(Errc::invalid_argument, fmt::format("{}:{}:{}: {}", file, e.mark.line + 1,
                                                         e.mark.column + 1, e.msg));
    } catch (const std::exception& e) {
        return Error(Errc::invalid_argument, fmt::format("{}: {}", file, e.what()));
    }
    return std::move(builder.documents);
}

namespace {

bool is_digits(std::string_view s, int base) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        bool ok = false;
        if (base == 16) {
            ok = std::isxdigit(static_cast<unsigned char>(c)) != 0;
        } else if (base == 8) {
            ok = c >= '0' && c <= '7';
        } else if (base == 2) {
            ok = c == '0' || c == '1';
        } else {
            ok = c >= '0' && c <= '9';
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_float_text(std::string_view s) {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        ++i;
    }
    std::size_t digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        ++i;
        ++digits;
    }
    bool dot = false;
    if (i < s.size() && s[i] == '.') {
        dot = true;
        ++i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            ++i;
            ++digits;
        }
    }
    if (digits == 0) {
        return false;
    }
    bool exp = false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        exp = true;
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            ++i;
        }
        std::size_t ed = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            ++i;
            ++ed;
        }
        if (ed == 0) {
            return false;
        }
    }
    return i == s.size() && (dot || exp);
}

}  // namespace

Result<nlohmann::json> scalar_to_json(const Node& node) {
    if (node.is_null()) {
        return nlohmann::json(nullptr);
    }
    const std::string& s = node.value;
    if (node.quoted) {
        return nlohmann::json(s);
    }
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
        return nlohmann::json(nullptr);
    }
    if (s == "true" || s == "True" || s == "TRUE") {
        return nlohmann::json(true);
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return nlohmann::json(false);
    }
    std::string_view body = s;
    bool neg = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
        neg = body[0] == '-';
        body.remove_prefix(1);
    }
    int base = 10;
    if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
        base = 16;
    } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) {
        base = 8;
    } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
        base = 2;
    }
    std::string_view digits = base == 10 ? body : body.substr(2);
    // Like go-yaml (strconv base 0): a leading 0 means octal ("0644").
    if (base == 10 && digits.size() > 1 && digits[0] == '0' && is_digits(digits, 8)) {
        base = 8;
        digits.remove_prefix(1);
    }
    if (is_digits(digits, base)) {
        std::uint64_t u = 0;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
        if (ec != std::errc{} || p != digits.data() + digits.size()) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}: integer {} is out of range", node.mark.str(), s));
        }
        if (neg) {
            if (u > static_cast<std::uint64_t>(INT64_MAX) + 1) {
                return Error(Errc::invalid_argument,
                             fmt::format("{}: integer {} is out of range", node.mark.str(), s));
            }
            return nlohmann::json(static_cast<std::int64_t>(0 - u));
        }
        if (u > static_cast<std::uint64_t>(INT64_MAX)) {
            return nlohmann::json(u);
        }
        return nlohmann::json(static_cast<std::int64_t>(u));
    }
    if (is_float_text(s)) {
        double d = std::strtod(s.c_str(), nullptr);
        if (!std::isfinite(d)) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}: number {} is out of range", node.mark.str(), s));
        }
        return nlohmann::json(d);
    }
    return nlohmann::json(s);
}

Result<nlohmann::json> to_json(const Node& node) {
    switch (node.kind) {
    case NodeKind::null:
    case NodeKind::scalar:
        return scalar_to_json(node);
    case NodeKind::sequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& item : node.items) {
            auto v = to_json(item);
            if (!v) {
                return std::move(v).error();
            }
            arr.push_back(std::move(*v));
        }
        return arr;
    }
    case NodeKind::mapping: {
        nlohmann::json obj = nlohmann::json::object();
        for (const auto& e : node.entries) {
            auto v = to_json(e.value);
            if (!v) {
                return std::move(v).error();
            }
            obj[e.key] = std::move(*v);
        }
        return obj;
    }
    }
    return nlohmann::json(nullptr);
}

Node from_json(const nlohmann::json& value) {
    if (value.is_object()) {
        Node n = Node::make_mapping();
        for (const auto& [k, v] : value.items()) {
            n.entries.push_back(Entry{k, {}, from_json(v)});
        }
        return n;
    }
    if (value.is_array()) {
        Node n = Node::make_sequence();
        for (const auto& v : value) {
            n.items.push_back(from_json(v));
        }
        return n;
    }
    if (value.is_null()) {
        return Node::make_null();
    }
    if (value.is_string()) {
        return Node::make_string(value.get<std::string>());
    }
    return Node::make_plain(value.dump());
}

const Node* find_path(const Node& root, const std::vector<std::string>& tokens) {
    const Node* cur = &root;
    for (const auto& t : tokens) {
        const Node* next = nullptr;
        if (cur->is_mapping()) {
            next = cur->get(t);
        } else if (cur->is_sequence()) {
            std::size_t idx = 0;
            auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), idx);
            if (ec == std::errc{} && p == t.data() + t.size() && idx < cur->items.size()) {
                next = &cur->items[idx];
            }
        }
        if (!next) {
            return cur;
        }
        cur = next;
    }
    return cur;
}

}  // namespace berth::compose
