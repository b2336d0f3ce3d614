// SPDX-License-Identifier: Apache-2.0
// B2: compose interpolation (${VAR:-default}, nesting, $$, errors).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/assert.hpp"
#include "compose/interpolate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    berth::compose::Lookup lookup = [](std::string_view k) -> std::optional<std::string> {
        if (k == "SET") {
            return std::string("value");
        }
        if (k == "EMPTY") {
            return std::string();
        }
        if (k == "DOLLAR") {
            return std::string("$x${y}");
        }
        return std::nullopt;
    };
    berth::compose::UnsetVariables unset;
    auto r = berth::compose::interpolate(text, lookup, &unset);
    if (r && text.find('$') == std::string_view::npos) {
        BERTH_ASSERT(*r == text);
    }
    return 0;
}
