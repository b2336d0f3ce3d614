// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace berth::schema {

/// One place where an instance breaks its schema.
struct ValidationError {
    /// Path of the offending value from the instance root: object keys and
    /// array indexes (as decimal text).
    std::vector<std::string> path;
    /// Set when the error is about one key of the object at `path` (an
    /// additional property): callers point at the key.
    std::optional<std::string> key;
    /// The keyword that failed ("type", "additionalProperties", ...).
    std::string keyword;
    /// Human text without the location: "additional property 'depnds_on' is
    /// not allowed, did you mean 'depends_on'?".
    std::string message;
    /// The array-index positions in `path` (so `services.1` and `ports[1]`
    /// render differently).
    std::vector<bool> is_index;

    /// "services.web.ports[1]"; "(root)" for the root.
    [[nodiscard]] std::string dotted_path() const;
};

/// A JSON Schema (draft 7 subset) validator: type, enum, const, properties,
/// patternProperties, additionalProperties, propertyNames, required,
/// dependencies, minProperties, maxProperties, items (schema or tuple),
/// additionalItems, contains, minItems, maxItems, uniqueItems, minLength,
/// maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
/// multipleOf, allOf, anyOf, oneOf, not, if/then/else, boolean schemas and
/// `$ref` to JSON pointers inside the same document ("#", "#/definitions/x").
/// `format`, `default`, `title` and `description` are annotations only.
/// Immutable after creation: safe to share between threads.
class Validator {
public:
    /// Compiles `schema` (regexes are built once). Errc::invalid_argument for an
    /// invalid regex or a `$ref` that does not resolve.
    [[nodiscard]] static Result<Validator> create(nlohmann::json schema);

    /// The errors of `instance`, at most `max_errors`, most specific first.
    /// Empty when the instance is valid.
    [[nodiscard]] std::vector<ValidationError> validate(const nlohmann::json& instance,
                                                        std::size_t max_errors = 20) const;

    /// True when `instance` is valid.
    [[nodiscard]] bool is_valid(const nlohmann::json& instance) const;

    struct Impl;

private:
    explicit Validator(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

/// The text of berth's Compose JSON Schema (schema/compose-spec.json, embedded
/// at build time); `berth config --schema` prints it.
[[nodiscard]] std::string_view compose_schema_text();

/// The compose validator, built once on first use (thread-safe).
[[nodiscard]] const Validator& compose_validator();

/// The closest of `candidates` to `word` by edit distance, if close enough to
/// be a plausible typo ("depnds_on" -> "depends_on").
[[nodiscard]] std::optional<std::string> closest_match(std::string_view word,
                                                       const std::vector<std::string>& candidates);

}  // namespace berth::schema
