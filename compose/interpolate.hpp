// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "compose/yaml_tree.hpp"

namespace berth::compose {

/// Looks a variable up: its value, or nullopt when unset.
using Lookup = std::function<std::optional<std::string>(std::string_view)>;

/// Names of variables that were used while unset (compose warns about them).
using UnsetVariables = std::set<std::string>;

/// Substitutes `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`,
/// `${VAR:+a}`, `${VAR+a}` (defaults nest) and turns `$$` into `$`, as the
/// Compose Specification's interpolation section says. An unset variable
/// without a default becomes "" and is added to `unset`. Errc::invalid_argument
/// for a malformed template ("invalid interpolation format ...") or a required
/// variable that is unset ("required variable X is missing a value: e").
Result<std::string> interpolate(std::string_view text, const Lookup& lookup,
                                UnsetVariables* unset = nullptr);

/// Interpolates every scalar value (never a key) of `root` in place. Errors
/// name the node: "compose.yaml:3:12: services.web.image: required variable ...".
Result<void> interpolate_tree(Node& root, const Lookup& lookup, UnsetVariables* unset = nullptr);

/// A JSON-path-like rendering of tokens: services.web.ports[1].
std::string dotted_path(const std::vector<std::string>& tokens);

}  // namespace berth::compose
