// SPDX-License-Identifier: Apache-2.0
#pragma once

// Thin libnl / sysctl wrappers: they act, they decide nothing. Each Netlink
// talks to the network namespace of the thread that opened it.

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::netns::detail {

template <auto Free>
struct CDeleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};
using NlSocket = std::unique_ptr<nl_sock, CDeleter<nl_socket_free>>;
using RtnlLink = std::unique_ptr<rtnl_link, CDeleter<rtnl_link_put>>;

/// A rtnetlink socket bound to the calling thread's network namespace.
class Netlink {
public:
    /// Errc from the failing connect.
    [[nodiscard]] static Result<Netlink> open();

    /// Ifindex of `name`; Errc::not_found when absent.
    [[nodiscard]] Result<int> ifindex(const std::string& name);
    /// Master ifindex of `name` (0 when none).
    [[nodiscard]] Result<int> master_of(const std::string& name);
    /// Creates a bridge; Errc::already_exists when a link of that name exists.
    [[nodiscard]] Result<void> create_bridge(const std::string& name, int mtu);
    /// Creates a veth pair `host_name` (here) and `peer_name` (inside the
    /// namespace `peer_ns_fd`), with `mtu` on both and `peer_mac` on the peer.
    [[nodiscard]] Result<void> create_veth(const std::string& host_name,
                                           const std::string& peer_name, int peer_ns_fd, int mtu,
                                           const std::string& peer_mac);
    /// Deletes a link by name; a missing link is success.
    [[nodiscard]] Result<void> delete_link(const std::string& name);
    [[nodiscard]] Result<void> set_up(int ifindex);
    [[nodiscard]] Result<void> set_master(int ifindex, int master_ifindex);
    /// Adds "a.b.c.d/len" or "v6addr/len" (without duplicate address
    /// detection) to the link; an existing identical address is success.
    [[nodiscard]] Result<void> add_address(int ifindex, const std::string& cidr);
    /// Adds a default route via `gateway` (IPv4 or IPv6) on `ifindex` in the
    /// main table.
    [[nodiscard]] Result<void> add_default_route(const std::string& gateway, int ifindex);
    /// Destinations of IPv4 routes in the main table ("10.0.0.0/8").
    [[nodiscard]] Result<std::vector<std::string>> ipv4_routes();
    /// Destinations of IPv6 routes in the main table ("fd00:1::/64").
    [[nodiscard]] Result<std::vector<std::string>> ipv6_routes();

private:
    Result<std::vector<std::string>> routes(int family);
    explicit Netlink(NlSocket s) : sock_(std::move(s)) {}
    NlSocket sock_;
};

/// Runs `fn` on a short-lived thread that has joined the network namespace
/// at `netns_path` (setns is per thread); returns its result.
[[nodiscard]] Result<void> run_in_netns(const std::filesystem::path& netns_path,
                                        const std::function<Result<void>()>& fn);

/// Writes `value` to /proc/sys/<key> (key like "net/ipv4/conf/eth0/accept_ra")
/// in the calling thread's network namespace.
[[nodiscard]] Result<void> write_sysctl(const std::string& key, const std::string& value);

/// Applies an nftables script through libnftables in one transaction.
[[nodiscard]] Result<void> nft_apply(const std::string& script);

}  // namespace berth::netns::detail
