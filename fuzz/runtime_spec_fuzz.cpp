// SPDX-License-Identifier: Apache-2.0
// Fuzzes the runtime's config.json parsing: JSON -> typed Spec, mount options,
// and user resolution against passwd/group text. Must never crash or throw.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/runtime/spec.hpp"
#include "engine/runtime/user.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto config = nlohmann::json::parse(text, nullptr, false);
    if (!config.is_discarded()) {
        auto spec = berth::engine::runtime::parse_spec(config);
        if (spec) {
            for (const auto& m : spec->mounts) {
                auto f = berth::engine::runtime::parse_mount_options(m.options);
                (void)f;
            }
        }
    }
    // The same bytes as a user string and as passwd/group files.
    size_t cut = text.find('\n');
    std::string_view user = text.substr(0, cut);
    std::string_view files = cut == std::string_view::npos ? std::string_view{} : text.substr(cut);
    auto r = berth::engine::runtime::resolve_user(user, files, files, {});
    (void)r;
    return 0;
}
