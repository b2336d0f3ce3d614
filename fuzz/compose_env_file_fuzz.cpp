// SPDX-License-Identifier: Apache-2.0
// B6: the env-file parser (dotenv and raw formats).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "common/assert.hpp"
#include "compose/env_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    berth::compose::Lookup lookup = [](std::string_view k) -> std::optional<std::string> {
        if (k == "HOME") {
            return std::string("/root");
        }
        return std::nullopt;
    };
    for (auto format : {berth::compose::EnvFormat::dotenv, berth::compose::EnvFormat::raw}) {
        auto r = berth::compose::parse_env_file(text, "fuzz.env", lookup, format);
        if (!r) {
            continue;
        }
        std::set<std::string> keys;
        for (const auto& [k, v] : *r) {
            BERTH_ASSERT(!k.empty());
            BERTH_ASSERT(keys.insert(k).second);  // duplicates are folded
        }
    }
    return 0;
}
