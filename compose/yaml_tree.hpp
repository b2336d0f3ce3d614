// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace berth::compose {

/// Where a node was written: file, 1-based line and column. `file` is shared by
/// every node of one file; it may be null for nodes the loader synthesised.
struct Mark {
    std::shared_ptr<const std::string> file;
    int line = 0;
    int column = 0;

    /// "compose.yaml:14:7", or "compose.yaml" when the line is unknown.
    [[nodiscard]] std::string str() const;
};

enum class NodeKind : std::uint8_t { null, scalar, sequence, mapping };

/// The compose merge tags (`!reset`, `!override`); other tags are kept as none.
enum class NodeTag : std::uint8_t { none, reset, override_ };

struct Entry;

/// A YAML node with its position: the loader's working tree. Aliases are
/// already expanded and merge keys (`<<`) applied. Scalars keep their text and
/// whether they were quoted; typing (int, bool, null) happens in `to_json`.
struct Node {
    NodeKind kind = NodeKind::null;
    NodeTag tag = NodeTag::none;
    bool quoted = false;  ///< a quoted or block scalar: always a string
    Mark mark;
    std::string value;           ///< scalar text
    std::vector<Node> items;     ///< sequence items
    std::vector<Entry> entries;  ///< mapping entries in document order

    [[nodiscard]] static Node make_null(Mark m = {});
    [[nodiscard]] static Node make_string(std::string text, Mark m = {});
    /// A plain (unquoted) scalar: typed like YAML when converted to JSON.
    [[nodiscard]] static Node make_plain(std::string text, Mark m = {});
    [[nodiscard]] static Node make_sequence(Mark m = {});
    [[nodiscard]] static Node make_mapping(Mark m = {});

    [[nodiscard]] bool is_null() const { return kind == NodeKind::null; }
    [[nodiscard]] bool is_scalar() const { return kind == NodeKind::scalar; }
    [[nodiscard]] bool is_sequence() const { return kind == NodeKind::sequence; }
    [[nodiscard]] bool is_mapping() const { return kind == NodeKind::mapping; }

    /// The value of `key` in a mapping, or null when absent (or not a mapping).
    [[nodiscard]] const Node* get(std::string_view key) const;
    [[nodiscard]] Node* get(std::string_view key);
    [[nodiscard]] const Entry* entry(std::string_view key) const;
    /// Sets `key` (replacing an existing value, keeping its position).
    Node& set(std::string_view key, Node value, Mark key_mark = {});
    /// Removes `key`; true if it was there.
    bool erase(std::string_view key);
    /// Number of nodes in this subtree (this one included).
    [[nodiscard]] std::size_t count() const;
};

/// One key of a mapping, with the mark of the key itself (unknown-key errors
/// point at the key, not at its value).
struct Entry {
    std::string key;
    Mark key_mark;
    Node value;
};

/// Budgets that keep a hostile document from exhausting CPU, memory or stack
/// (RELIABILITY.md section 2 row 30).
struct YamlLimits {
    std::size_t max_bytes = 16u << 20;    ///< input size
    std::size_t max_nodes = 1'000'000;    ///< nodes after alias expansion
    int max_depth = 1000;                 ///< nesting of collections
};

/// Parses every document of `text` (named `file` in errors) into trees, with
/// aliases expanded under the budgets and merge keys applied. Rejects NUL
/// bytes, invalid UTF-8, duplicate keys, non-scalar keys, unknown anchors and
/// recursive aliases. Errc::invalid_argument with "file:line:col: message".
Result<std::vector<Node>> parse_yaml(std::string_view text, const std::string& file,
                                     const YamlLimits& limits = {});

/// Converts a tree to JSON: plain scalars become null, booleans, integers or
/// floats as YAML's core schema types them; quoted ones stay strings. Integers
/// out of 64-bit range are errors.
Result<nlohmann::json> to_json(const Node& node);

/// The JSON value of one scalar node (see to_json).
Result<nlohmann::json> scalar_to_json(const Node& node);

/// Builds a tree from JSON (marks empty); strings become quoted scalars.
Node from_json(const nlohmann::json& value);

/// Finds the node at a JSON-pointer-like token path; the deepest node reached
/// when the path leaves the tree.
const Node* find_path(const Node& root, const std::vector<std::string>& tokens);

}  // namespace berth::compose
