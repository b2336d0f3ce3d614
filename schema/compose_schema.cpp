// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <cstdlib>

#include "schema/validator.hpp"

namespace berth::schema {

namespace detail {
extern const std::string_view compose_schema_json;
}  // namespace detail

std::string_view compose_schema_text() {
    return detail::compose_schema_json;
}

const Validator& compose_validator() {
    // The schema is part of the binary: failing to compile it is a build bug.
    // Never destroyed: freeing the compiled schema (its JSON tree and regexes)
    // at exit cost 8% of a `config` run and frees nothing the exit does not.
    static const Validator* validator = [] {
        auto parsed = nlohmann::json::parse(compose_schema_text(), nullptr, false);
        BERTH_ASSERT(!parsed.is_discarded());
        auto v = Validator::create(std::move(parsed));
        BERTH_ASSERT(v.has_value());
        return new Validator(std::move(v).value());
    }();
    return *validator;
}

}  // namespace berth::schema
