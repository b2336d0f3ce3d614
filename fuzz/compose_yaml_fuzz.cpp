// SPDX-License-Identifier: Apache-2.0
// B2: the compose YAML front end: parse (alias/depth budgets), typing, schema
// validation and short-syntax expansion of every service.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/assert.hpp"
#include "compose/internal/canonical.hpp"
#include "compose/yaml_tree.hpp"
#include "schema/validator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    berth::compose::YamlLimits limits;
    limits.max_nodes = 100'000;  // keeps each run fast; the logic is the same
    auto docs = berth::compose::parse_yaml(text, "fuzz.yaml", limits);
    if (!docs) {
        BERTH_ASSERT(!docs.error().message().empty());
        return 0;
    }
    for (auto& doc : *docs) {
        auto j = berth::compose::to_json(doc);
        if (!j) {
            continue;
        }
        auto errors = berth::schema::compose_validator().validate(*j, 5);
        for (const auto& e : errors) {
            const auto* n = berth::compose::find_path(doc, e.path);
            BERTH_ASSERT(n != nullptr);
        }
        if (!errors.empty() || !doc.is_mapping()) {
            continue;
        }
        berth::compose::detail::canonicalize_top_level(doc);
        if (auto* services = doc.get("services")) {
            for (auto& e : services->entries) {
                (void)berth::compose::detail::canonicalize_service(e.value, "services." + e.key);
            }
        }
    }
    return 0;
}
