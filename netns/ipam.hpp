// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::netns {

/// An IPv4 address in host byte order.
struct Ipv4 {
    uint32_t value = 0;

    /// Parses dotted-quad text ("172.18.0.2"); Errc::invalid_argument otherwise.
    [[nodiscard]] static Result<Ipv4> parse(std::string_view text);
    [[nodiscard]] std::string str() const;
    auto operator<=>(const Ipv4&) const = default;
};

/// An IPv4 prefix such as 172.18.0.0/16. `addr` keeps host bits as given
/// (so "172.18.0.1/16" can describe an interface address).
struct Ipv4Prefix {
    Ipv4 addr;
    int length = 0;

    /// Parses "a.b.c.d/n" (n in 0..32); Errc::invalid_argument otherwise.
    [[nodiscard]] static Result<Ipv4Prefix> parse(std::string_view text);
    [[nodiscard]] std::string str() const;
    [[nodiscard]] uint32_t mask() const {
        return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    }
    /// The prefix with host bits cleared.
    [[nodiscard]] Ipv4 network() const { return Ipv4{addr.value & mask()}; }
    [[nodiscard]] Ipv4 broadcast() const { return Ipv4{network().value | ~mask()}; }
    [[nodiscard]] bool contains(Ipv4 ip) const { return (ip.value & mask()) == network().value; }
    [[nodiscard]] bool overlaps(const Ipv4Prefix& other) const;
    /// True when host bits are zero.
    [[nodiscard]] bool is_canonical() const { return addr == network(); }
    auto operator<=>(const Ipv4Prefix&) const = default;
};

/// Docker's default address pools: 172.17.0.0/16 .. 172.31.0.0/16 as /16s, then
/// 192.168.0.0/16 split in /20s. Pure; in allocation order.
[[nodiscard]] std::vector<Ipv4Prefix> default_pool_subnets();

/// Picks the first default-pool subnet that overlaps none of `taken` (other
/// networks' subnets and the host's routes; a default route 0.0.0.0/0 is
/// ignored). Errc::unavailable when every pool subnet is in use. Pure.
[[nodiscard]] Result<Ipv4Prefix> allocate_subnet(const std::vector<Ipv4Prefix>& taken);

/// The address plan of one network: where container addresses come from.
struct AddressPlan {
    Ipv4Prefix subnet;
    Ipv4 gateway;
    std::optional<Ipv4Prefix> ip_range;  ///< dynamic addresses only from here
};

/// Validates subnet, gateway and ip-range as `network create` receives them
/// and fills the defaults (gateway = first host address). Errors name the
/// network: "network x: gateway 10.0.0.1 is outside subnet 172.18.0.0/16". Pure.
[[nodiscard]] Result<AddressPlan> make_address_plan(std::string_view network_name,
                                                    const Ipv4Prefix& subnet,
                                                    const std::optional<std::string>& gateway,
                                                    const std::optional<std::string>& ip_range);

/// Picks the lowest free address of `plan` (from the ip-range if set) that is
/// not the network address, the broadcast address, the gateway or in `used`.
/// Errc::unavailable ("no free address in network x") when exhausted. Pure.
[[nodiscard]] Result<Ipv4> allocate_address(std::string_view network_name,
                                            const AddressPlan& plan,
                                            const std::vector<Ipv4>& used);

/// Checks a static address (`--ip`): inside the subnet, not reserved, not in
/// `used`. Errc::invalid_argument or Errc::conflict naming the network. Pure.
[[nodiscard]] Result<Ipv4> check_static_address(std::string_view network_name,
                                                const AddressPlan& plan, std::string_view ip,
                                                const std::vector<Ipv4>& used);

/// A locally administered MAC derived from the address, as Docker does
/// (02:42:ac:11:00:02 for 172.17.0.2). Pure.
[[nodiscard]] std::string mac_for(Ipv4 ip);

/// Validates "aa:bb:cc:dd:ee:ff" (unicast); returns it lower-cased.
[[nodiscard]] Result<std::string> parse_mac(std::string_view text);

/// An IPv6 address, 16 bytes in network order.
struct Ipv6 {
    std::array<uint8_t, 16> bytes{};

    /// Parses RFC 4291 text ("fd00::2"; no zone, no brackets); Errc::invalid_argument
    /// otherwise.
    [[nodiscard]] static Result<Ipv6> parse(std::string_view text);
    /// RFC 5952 text ("fd00::2").
    [[nodiscard]] std::string str() const;
    auto operator<=>(const Ipv6&) const = default;
};

/// An IPv6 prefix such as fd00:1::/64; `addr` keeps host bits as given.
struct Ipv6Prefix {
    Ipv6 addr;
    int length = 0;

    /// Parses "addr/n" (n in 0..128); Errc::invalid_argument otherwise.
    [[nodiscard]] static Result<Ipv6Prefix> parse(std::string_view text);
    [[nodiscard]] std::string str() const;
    /// The prefix with host bits cleared.
    [[nodiscard]] Ipv6 network() const;
    [[nodiscard]] bool contains(const Ipv6& ip) const;
    [[nodiscard]] bool overlaps(const Ipv6Prefix& other) const;
    [[nodiscard]] bool is_canonical() const { return addr == network(); }
    auto operator<=>(const Ipv6Prefix&) const = default;
};

/// The IPv6 default pool, as Docker derives it (moby c395a33, RFC 4193
/// section 3.2.2): a ULA /48 `fdXX:XXXX:XXXX::/48` whose 40-bit global id is
/// taken from a digest of `seed` (berth passes its state root, so the pool
/// is stable for one installation and differs between installations). Pure.
[[nodiscard]] Ipv6Prefix default_pool6(std::string_view seed);

/// Picks the first /64 of `pool` that overlaps none of `taken` (other
/// networks' IPv6 subnets and the host's IPv6 routes; ::/0 and fe80::/10
/// are ignored). Errc::unavailable when the pool is exhausted. Pure.
[[nodiscard]] Result<Ipv6Prefix> allocate_subnet6(const Ipv6Prefix& pool,
                                                  const std::vector<Ipv6Prefix>& taken);

/// The IPv6 address plan of one network.
struct AddressPlan6 {
    Ipv6Prefix subnet;
    Ipv6 gateway;
    std::optional<Ipv6Prefix> ip_range;  ///< dynamic addresses only from here
};

/// Validates an IPv6 subnet (canonical, prefix length 16..120), gateway
/// (default: the subnet's ::1) and ip-range, naming the network. Pure.
[[nodiscard]] Result<AddressPlan6> make_address_plan6(std::string_view network_name,
                                                      const Ipv6Prefix& subnet,
                                                      const std::optional<std::string>& gateway,
                                                      const std::optional<std::string>& ip_range);

/// Picks the lowest free address of `plan` (from the ip-range if set),
/// never the subnet-router anycast address (host bits zero) or the gateway,
/// searching at most 65536 candidates. Errc::unavailable when none is free.
/// Pure.
[[nodiscard]] Result<Ipv6> allocate_address6(std::string_view network_name,
                                             const AddressPlan6& plan,
                                             const std::vector<Ipv6>& used);

/// Checks a static IPv6 address (`--ip6`, compose `ipv6_address`): inside the
/// subnet, not reserved, not in `used`. Errc::invalid_argument or
/// Errc::conflict naming the network. Pure.
[[nodiscard]] Result<Ipv6> check_static_address6(std::string_view network_name,
                                                 const AddressPlan6& plan, std::string_view ip,
                                                 const std::vector<Ipv6>& used);

}  // namespace berth::netns
