// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

namespace berth::netns::detail {

/// Linux interface names: 1..15 bytes, no '/', ':', whitespace; not "." or "..".
[[nodiscard]] bool valid_ifname(std::string_view name);
/// `<prefix>0`: the default network's bridge (berth0).
[[nodiscard]] std::string default_bridge_name(std::string_view prefix);
/// `<prefix>-<first hex of id>`, at most 15 bytes.
[[nodiscard]] std::string bridge_name(std::string_view prefix, std::string_view network_id);
/// `<prefix>v<hash of container and network id>`, at most 15 bytes.
[[nodiscard]] std::string host_veth_name(std::string_view prefix, std::string_view container_id,
                                         std::string_view network_id);

}  // namespace berth::netns::detail
