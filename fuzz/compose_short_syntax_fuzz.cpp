// SPDX-License-Identifier: Apache-2.0
// B6: compose short syntaxes: port specs (127.0.0.1:8000-8010:80/udp), volume
// specs, devices, extra hosts and shell-split commands, one line each.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/assert.hpp"
#include "compose/internal/canonical.hpp"
#include "compose/yaml_tree.hpp"

using berth::compose::Node;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    for (const char* key : {"ports", "volumes", "devices", "extra_hosts"}) {
        Node svc = Node::make_mapping();
        Node list = Node::make_sequence();
        list.items.push_back(Node::make_string(text));
        svc.set(key, std::move(list));
        auto r = berth::compose::detail::canonicalize_service(svc, "services.fuzz");
        if (r && std::string_view(key) == "ports") {
            for (const auto& p : svc.get("ports")->items) {
                BERTH_ASSERT(p.get("target") != nullptr);
            }
        }
    }
    Node svc = Node::make_mapping();
    svc.set("command", Node::make_string(text));
    (void)berth::compose::detail::canonicalize_service(svc, "services.fuzz");
    return 0;
}
