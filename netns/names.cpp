// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include "common/digest.hpp"
#include "netns/internal/names.hpp"

namespace berth::netns::detail {

namespace {

constexpr size_t max_ifname = 15;

std::string fit(std::string_view prefix, std::string_view sep, std::string_view tail) {
    std::string p(prefix.substr(0, std::min<size_t>(prefix.size(), 8)));
    std::string out = p + std::string(sep) + std::string(tail);
    out.resize(std::min(out.size(), max_ifname));
    return out;
}

}  // namespace

bool valid_ifname(std::string_view name) {
    if (name.empty() || name.size() > max_ifname || name == "." || name == "..") {
        return false;
    }
    for (char c : name) {
        if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') {
            return false;
        }
    }
    return true;
}

std::string default_bridge_name(std::string_view prefix) { return fit(prefix, "", "0"); }

std::string bridge_name(std::string_view prefix, std::string_view network_id) {
    return fit(prefix, "-", network_id.substr(0, 6));
}

std::string host_veth_name(std::string_view prefix, std::string_view container_id,
                           std::string_view network_id) {
    auto d = Digest::of(fmt::format("{}/{}", container_id, network_id));
    return fit(prefix, "v", d.hex().substr(0, 6));
}

}  // namespace berth::netns::detail
