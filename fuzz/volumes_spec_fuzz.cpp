// SPDX-License-Identifier: Apache-2.0
// B6: libFuzzer target for volume specs (`-v`, `--mount`, `--tmpfs`, byte
// sizes) and mount validation. Invariants: a parsed mount has an absolute
// target that is not "/", and a bind an absolute source.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/assert.hpp"
#include "volumes/mount_spec.hpp"
#include "volumes/volume_store.hpp"

namespace {

void check(const berth::Result<berth::volumes::MountSpec>& m) {
    using berth::volumes::MountType;
    if (!m) {
        BERTH_ASSERT(!m.error().message().empty());
        return;
    }
    BERTH_ASSERT(!m->target.empty() && m->target.front() == '/');
    BERTH_ASSERT(berth::volumes::clean_container_path(m->target) != "/");
    if (m->type == MountType::bind) {
        BERTH_ASSERT(!m->source.empty() && m->source.front() == '/');
    }
    if (m->type == MountType::volume && !m->source.empty()) {
        BERTH_ASSERT(berth::volumes::validate_volume_name(m->source).has_value());
    }
    if (m->type == MountType::tmpfs) {
        BERTH_ASSERT(m->source.empty());
    }
    std::vector<berth::volumes::MountSpec> one{*m};
    BERTH_ASSERT(berth::volumes::validate_mounts(one).has_value());
    one.push_back(*m);
    BERTH_ASSERT(!berth::volumes::validate_mounts(one).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check(berth::volumes::parse_volume_flag(text));
    check(berth::volumes::parse_volume_flag(text, "/project"));
    check(berth::volumes::parse_mount_flag(text));
    check(berth::volumes::parse_tmpfs_flag(text));
    (void)berth::volumes::parse_byte_size(text);
    auto clean = berth::volumes::clean_container_path(text);
    BERTH_ASSERT(!clean.empty() && clean.front() == '/');
    BERTH_ASSERT(clean.find("/../") == std::string::npos);
    return 0;
}
