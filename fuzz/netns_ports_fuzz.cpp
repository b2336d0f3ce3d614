// SPDX-License-Identifier: Apache-2.0
// B6: libFuzzer target for `-p` port specs and the resolver's DNS query parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/assert.hpp"
#include "netns/internal/dns_message.hpp"
#include "netns/network.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto ports = berth::netns::parse_port_spec(text);
    if (ports) {
        BERTH_ASSERT(!ports->empty());
        for (const auto& p : *ports) {
            BERTH_ASSERT(p.container_port != 0);
            BERTH_ASSERT(p.protocol == "tcp" || p.protocol == "udp");
            BERTH_ASSERT(p.host_port <= p.host_port_end || p.host_port_end == 0);
        }
    }
    auto q = berth::netns::detail::parse_dns_query(text);
    if (q) {
        auto resp = berth::netns::detail::build_dns_response(text, *q, 0, {0x0a000001});
        BERTH_ASSERT(resp.size() >= 12);
    }
    return 0;
}
