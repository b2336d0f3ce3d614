// SPDX-License-Identifier: Apache-2.0
#include "netns/ipam.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "common/digest.hpp"

namespace berth::netns {

namespace {

bool parse_uint(std::string_view text, unsigned max, unsigned& out) {
    if (text.empty() || text.size() > 3) {
        return false;
    }
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size() || v > max) {
        return false;
    }
    // Leading zeros are ambiguous (octal in inet_aton): reject them.
    if (text.size() > 1 && text[0] == '0') {
        return false;
    }
    out = v;
    return true;
}

}  // namespace

Result<Ipv4> Ipv4::parse(std::string_view text) {
    uint32_t value = 0;
    std::string_view rest = text;
    for (int i = 0; i < 4; ++i) {
        auto dot = rest.find('.');
        auto part = i < 3 ? rest.substr(0, dot) : rest;
        if ((i < 3 && dot == std::string_view::npos)) {
            return Error(Errc::invalid_argument, fmt::format("invalid IPv4 address \"{}\"", text));
        }
        unsigned octet = 0;
        if (!parse_uint(part, 255, octet)) {
            return Error(Errc::invalid_argument, fmt::format("invalid IPv4 address \"{}\"", text));
        }
        value = (value << 8) | octet;
        if (i < 3) {
            rest = rest.substr(dot + 1);
        }
    }
    return Ipv4{value};
}

std::string Ipv4::str() const {
    return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                       value & 0xff);
}

Result<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return Error(Errc::invalid_argument, fmt::format("invalid subnet \"{}\"", text));
    }
    auto ip = Ipv4::parse(text.substr(0, slash));
    unsigned len = 0;
    if (!ip || !parse_uint(text.substr(slash + 1), 32, len)) {
        return Error(Errc::invalid_argument, fmt::format("invalid subnet \"{}\"", text));
    }
    return Ipv4Prefix{*ip, static_cast<int>(len)};
}

std::string Ipv4Prefix::str() const { return fmt::format("{}/{}", addr.str(), length); }

bool Ipv4Prefix::overlaps(const Ipv4Prefix& other) const {
    int shorter = std::min(length, other.length);
    uint32_t m = shorter == 0 ? 0 : ~uint32_t{0} << (32 - shorter);
    return (addr.value & m) == (other.addr.value & m);
}

std::vector<Ipv4Prefix> default_pool_subnets() {
    std::vector<Ipv4Prefix> out;
    for (uint32_t b = 17; b <= 31; ++b) {
        out.push_back(Ipv4Prefix{Ipv4{(172u << 24) | (b << 16)}, 16});
    }
    for (uint32_t i = 0; i < 16; ++i) {
        out.push_back(Ipv4Prefix{Ipv4{(192u << 24) | (168u << 16) | (i << 12)}, 20});
    }
    return out;
}

Result<Ipv4Prefix> allocate_subnet(const std::vector<Ipv4Prefix>& taken) {
    for (const auto& candidate : default_pool_subnets()) {
        bool free = std::none_of(taken.begin(), taken.end(), [&](const Ipv4Prefix& t) {
            return t.length > 0 && t.overlaps(candidate);
        });
        if (free) {
            return candidate;
        }
    }
    return Error(Errc::unavailable,
                 "all predefined address pools have been fully subnetted");
}

Result<AddressPlan> make_address_plan(std::string_view network_name, const Ipv4Prefix& subnet,
                                      const std::optional<std::string>& gateway,
                                      const std::optional<std::string>& ip_range) {
    if (!subnet.is_canonical()) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: invalid subnet {}: host bits are set (use {}/{})",
                                 network_name, subnet.str(), subnet.network().str(),
                                 subnet.length));
    }
    if (subnet.length > 30 || subnet.length < 8) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: subnet {} must have a prefix length between 8 "
                                 "and 30",
                                 network_name, subnet.str()));
    }
    AddressPlan plan;
    plan.subnet = subnet;
    if (gateway) {
        auto gw = Ipv4::parse(*gateway);
        if (!gw) {
            return std::move(gw).error().wrap(fmt::format("network {}: gateway", network_name));
        }
        if (!subnet.contains(*gw) || *gw == subnet.network() || *gw == subnet.broadcast()) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: gateway {} is not a host address of subnet {}",
                                     network_name, gw->str(), subnet.str()));
        }
        plan.gateway = *gw;
    } else {
        plan.gateway = Ipv4{subnet.network().value + 1};
    }
    if (ip_range) {
        auto range = Ipv4Prefix::parse(*ip_range);
        if (!range) {
            return std::move(range).error().wrap(fmt::format("network {}: ip-range", network_name));
        }
        if (!range->is_canonical() || range->length < subnet.length ||
            !subnet.contains(range->addr)) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: ip-range {} is not inside subnet {}",
                                     network_name, range->str(), subnet.str()));
        }
        plan.ip_range = *range;
    }
    return plan;
}

namespace {

bool reserved(const AddressPlan& plan, Ipv4 ip) {
    return ip == plan.subnet.network() || ip == plan.subnet.broadcast() || ip == plan.gateway;
}

}  // namespace

Result<Ipv4> allocate_address(std::string_view network_name, const AddressPlan& plan,
                              const std::vector<Ipv4>& used) {
    std::set<Ipv4> taken(used.begin(), used.end());
    const Ipv4Prefix& pool = plan.ip_range ? *plan.ip_range : plan.subnet;
    uint64_t first = pool.network().value;
    uint64_t last = pool.broadcast().value;
    for (uint64_t v = first; v <= last; ++v) {
        Ipv4 ip{static_cast<uint32_t>(v)};
        if (!plan.subnet.contains(ip) || reserved(plan, ip) || taken.count(ip) != 0) {
            continue;
        }
        return ip;
    }
    return Error(Errc::unavailable, fmt::format("no free address in network {} ({})",
                                                network_name, pool.str()));
}

Result<Ipv4> check_static_address(std::string_view network_name, const AddressPlan& plan,
                                  std::string_view ip_text, const std::vector<Ipv4>& used) {
    auto ip = Ipv4::parse(ip_text);
    if (!ip) {
        return std::move(ip).error().wrap(fmt::format("network {}", network_name));
    }
    if (!plan.subnet.contains(*ip)) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: address {} is outside subnet {}", network_name,
                                 ip->str(), plan.subnet.str()));
    }
    if (reserved(plan, *ip)) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: address {} is reserved (network, broadcast or "
                                 "gateway)",
                                 network_name, ip->str()));
    }
    if (std::find(used.begin(), used.end(), *ip) != used.end()) {
        return Error(Errc::conflict, fmt::format("network {}: address {} is already in use",
                                                 network_name, ip->str()));
    }
    return *ip;
}

std::string mac_for(Ipv4 ip) {
    return fmt::format("02:42:{:02x}:{:02x}:{:02x}:{:02x}", ip.value >> 24, (ip.value >> 16) & 0xff,
                       (ip.value >> 8) & 0xff, ip.value & 0xff);
}

Result<std::string> parse_mac(std::string_view text) {
    auto bad = [&] { return Error(Errc::invalid_argument, fmt::format("invalid MAC address \"{}\"", text)); };
    if (text.size() != 17) {
        return bad();
    }
    std::string out(text);
    for (size_t i = 0; i < out.size(); ++i) {
        char c = out[i];
        if (i % 3 == 2) {
            if (c != ':') {
                return bad();
            }
            continue;
        }
        if (c >= 'A' && c <= 'F') {
            out[i] = static_cast<char>(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return bad();
        }
    }
    unsigned first = static_cast<unsigned>(std::stoul(out.substr(0, 2), nullptr, 16));
    if ((first & 1u) != 0) {
        return Error(Errc::invalid_argument,
                     fmt::format("invalid MAC address \"{}\": multicast", text));
    }
    return out;
}

Result<Ipv6> Ipv6::parse(std::string_view text) {
    Ipv6 out;
    std::string owned(text);
    if (text.empty() || text.size() > 45 || ::inet_pton(AF_INET6, owned.c_str(), out.bytes.data()) != 1) {
        return Error(Errc::invalid_argument, fmt::format("invalid IPv6 address \"{}\"", text));
    }
    return out;
}

std::string Ipv6::str() const {
    char buf[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

Result<Ipv6Prefix> Ipv6Prefix::parse(std::string_view text) {
    auto slash = text.find('/');
    auto bad = [&] {
        return Error(Errc::invalid_argument, fmt::format("invalid IPv6 subnet \"{}\"", text));
    };
    if (slash == std::string_view::npos) {
        return bad();
    }
    auto ip = Ipv6::parse(text.substr(0, slash));
    unsigned len = 0;
    if (!ip || !parse_uint(text.substr(slash + 1), 128, len)) {
        return bad();
    }
    return Ipv6Prefix{*ip, static_cast<int>(len)};
}

std::string Ipv6Prefix::str() const { return fmt::format("{}/{}", addr.str(), length); }

namespace {

Ipv6 masked(const Ipv6& ip, int length) {
    Ipv6 out = ip;
    for (int i = 0; i < 16; ++i) {
        int bits = std::clamp(length - i * 8, 0, 8);
        out.bytes[static_cast<size_t>(i)] &= static_cast<uint8_t>(0xff00u >> bits);
    }
    return out;
}

/// `base` plus `n` in its low 64 bits (no carry into the high half).
Ipv6 plus(const Ipv6& base, uint64_t n) {
    Ipv6 out = base;
    uint64_t low = 0;
    for (size_t i = 8; i < 16; ++i) {
        low = (low << 8) | out.bytes[i];
    }
    low += n;
    for (size_t i = 16; i-- > 8;) {
        out.bytes[i] = static_cast<uint8_t>(low & 0xff);
        low >>= 8;
    }
    return out;
}

bool ignored_route6(const Ipv6Prefix& p) {
    // The default route, and link-local fe80::/10 which every interface has.
    return p.length == 0 || (p.addr.bytes[0] == 0xfe && (p.addr.bytes[1] & 0xc0) == 0x80);
}

}  // namespace

Ipv6 Ipv6Prefix::network() const { return masked(addr, length); }

bool Ipv6Prefix::contains(const Ipv6& ip) const { return masked(ip, length) == network(); }

bool Ipv6Prefix::overlaps(const Ipv6Prefix& other) const {
    int shorter = std::min(length, other.length);
    return masked(addr, shorter) == masked(other.addr, shorter);
}

Ipv6Prefix default_pool6(std::string_view seed) {
    auto d = Digest::of(fmt::format("berth ula {}", seed));
    auto hex = d.hex();
    Ipv6Prefix p;
    p.addr.bytes[0] = 0xfd;
    for (size_t i = 0; i < 5; ++i) {
        p.addr.bytes[i + 1] =
            static_cast<uint8_t>(std::stoul(std::string(hex.substr(i * 2, 2)), nullptr, 16));
    }
    p.length = 48;
    return p;
}

Result<Ipv6Prefix> allocate_subnet6(const Ipv6Prefix& pool, const std::vector<Ipv6Prefix>& taken) {
    if (pool.length > 64) {
        return Error(Errc::invalid_argument,
                     fmt::format("IPv6 pool {} is smaller than a /64", pool.str()));
    }
    // Subnet ids in bits pool.length..63; at most 65536 candidates are tried.
    const int id_bits = 64 - pool.length;
    const uint64_t count = id_bits >= 16 ? 65536 : (uint64_t{1} << id_bits);
    for (uint64_t id = 0; id < count; ++id) {
        Ipv6Prefix candidate{pool.network(), 64};
        uint64_t high = 0;
        for (size_t i = 0; i < 8; ++i) {
            high = (high << 8) | candidate.addr.bytes[i];
        }
        high |= id;
        for (size_t i = 8; i-- > 0;) {
            candidate.addr.bytes[i] = static_cast<uint8_t>(high & 0xff);
            high >>= 8;
        }
        bool free = std::none_of(taken.begin(), taken.end(), [&](const Ipv6Prefix& t) {
            return !ignored_route6(t) && t.overlaps(candidate);
        });
        if (free) {
            return candidate;
        }
    }
    return Error(Errc::unavailable,
                 fmt::format("the IPv6 address pool {} has been fully subnetted", pool.str()));
}

Result<AddressPlan6> make_address_plan6(std::string_view network_name, const Ipv6Prefix& subnet,
                                        const std::optional<std::string>& gateway,
                                        const std::optional<std::string>& ip_range) {
    if (!subnet.is_canonical()) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: invalid subnet {}: host bits are set (use {}/{})",
                                 network_name, subnet.str(), subnet.network().str(),
                                 subnet.length));
    }
    if (subnet.length < 16 || subnet.length > 120) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: IPv6 subnet {} must have a prefix length between "
                                 "16 and 120",
                                 network_name, subnet.str()));
    }
    AddressPlan6 plan;
    plan.subnet = subnet;
    if (gateway) {
        auto gw = Ipv6::parse(*gateway);
        if (!gw) {
            return std::move(gw).error().wrap(fmt::format("network {}: gateway", network_name));
        }
        if (!subnet.contains(*gw) || *gw == subnet.network()) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: gateway {} is not a host address of subnet {}",
                                     network_name, gw->str(), subnet.str()));
        }
        plan.gateway = *gw;
    } else {
        plan.gateway = plus(subnet.network(), 1);
    }
    if (ip_range) {
        auto range = Ipv6Prefix::parse(*ip_range);
        if (!range) {
            return std::move(range).error().wrap(fmt::format("network {}: ip-range", network_name));
        }
        if (!range->is_canonical() || range->length < subnet.length ||
            !subnet.contains(range->addr)) {
            return Error(Errc::invalid_argument,
                         fmt::format("network {}: ip-range {} is not inside subnet {}",
                                     network_name, range->str(), subnet.str()));
        }
        plan.ip_range = *range;
    }
    return plan;
}

namespace {

bool reserved6(const AddressPlan6& plan, const Ipv6& ip) {
    return ip == plan.subnet.network() || ip == plan.gateway;
}

}  // namespace

Result<Ipv6> allocate_address6(std::string_view network_name, const AddressPlan6& plan,
                               const std::vector<Ipv6>& used) {
    std::set<Ipv6> taken(used.begin(), used.end());
    const Ipv6Prefix& pool = plan.ip_range ? *plan.ip_range : plan.subnet;
    const int host_bits = 128 - pool.length;
    const uint64_t count = host_bits >= 16 ? 65536 : (uint64_t{1} << host_bits);
    for (uint64_t i = 0; i < count; ++i) {
        Ipv6 ip = plus(pool.network(), i);
        if (!plan.subnet.contains(ip) || reserved6(plan, ip) || taken.count(ip) != 0) {
            continue;
        }
        return ip;
    }
    return Error(Errc::unavailable, fmt::format("no free IPv6 address in network {} ({})",
                                                network_name, pool.str()));
}

Result<Ipv6> check_static_address6(std::string_view network_name, const AddressPlan6& plan,
                                   std::string_view ip_text, const std::vector<Ipv6>& used) {
    auto ip = Ipv6::parse(ip_text);
    if (!ip) {
        return std::move(ip).error().wrap(fmt::format("network {}", network_name));
    }
    if (!plan.subnet.contains(*ip)) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: address {} is outside subnet {}", network_name,
                                 ip->str(), plan.subnet.str()));
    }
    if (reserved6(plan, *ip)) {
        return Error(Errc::invalid_argument,
                     fmt::format("network {}: address {} is reserved (subnet-router anycast or "
                                 "gateway)",
                                 network_name, ip->str()));
    }
    if (std::find(used.begin(), used.end(), *ip) != used.end()) {
        return Error(Errc::conflict, fmt::format("network {}: address {} is already in use",
                                                 network_name, ip->str()));
    }
    return *ip;
}

}  // namespace berth::netns
