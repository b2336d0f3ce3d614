// SPDX-License-Identifier: Apache-2.0
// B4 (RELIABILITY.md section 3): manifests, indexes, image configs, references
// and WWW-Authenticate challenges from untrusted bytes. Any input must give a
// value or an Error, never a crash, and an accepted document must satisfy the
// validated invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/digest.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/registry.hpp"

using namespace berth::engine::images;

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void check_descriptor(const Descriptor& d) {
    check(berth::Digest::parse(d.digest).has_value());
    check(d.size >= 0 && d.size <= max_blob_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)document_kind(text, "application/vnd.oci.image.manifest.v1+json");
    if (auto m = parse_manifest(text); m) {
        check_descriptor(m->config);
        check(m->layers.size() <= max_layers);
        for (const auto& l : m->layers) {
            check_descriptor(l);
            check(layer_compression(l.media_type).has_value());
        }
    }
    if (auto idx = parse_index(text); idx) {
        check(idx->manifests.size() <= max_index_entries);
        for (const auto& d : idx->manifests) {
            check_descriptor(d);
        }
        if (auto pick = select_platform(*idx, host_platform()); pick) {
            check(pick->platform.has_value());
        }
    }
    if (auto c = parse_config(text); c) {
        for (const auto& id : c->diff_ids) {
            check(berth::Digest::parse(id).has_value());
        }
        (void)to_json(c->config);
    }
    if (size < 600) {
        if (auto r = parse_reference(text); r) {
            check(!r->domain.empty() && !r->path.empty());
            check(!r->tag.empty() || !r->digest.empty());
            // Normalisation is idempotent.
            auto again = parse_reference(r->full());
            check(again.has_value() && again->full() == r->full());
        }
        (void)parse_challenge(text);
        (void)parse_platform(text);
    }
    return 0;
}
