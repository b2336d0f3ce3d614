// SPDX-License-Identifier: Apache-2.0
#pragma once

// DNS wire format, just what the resolver needs (RFC 1035). Pure.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::netns::detail {

inline constexpr uint16_t dns_type_a = 1;
inline constexpr uint16_t dns_type_aaaa = 28;
inline constexpr uint8_t dns_rcode_noerror = 0;
inline constexpr uint8_t dns_rcode_formerr = 1;
inline constexpr uint8_t dns_rcode_servfail = 2;
inline constexpr uint8_t dns_rcode_nxdomain = 3;
inline constexpr uint8_t dns_rcode_notimp = 4;
inline constexpr uint8_t dns_rcode_refused = 5;

/// The single question of a query.
struct DnsQuery {
    uint16_t id = 0;
    uint16_t flags = 0;
    std::string name;  ///< lower-case, no trailing dot
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    size_t question_end = 0;  ///< offset after the question section
};

/// Parses a query with exactly one question; nullopt when malformed (too
/// short, a response, compressed or over-long names, QDCOUNT != 1).
[[nodiscard]] std::optional<DnsQuery> parse_dns_query(std::string_view packet);

/// A response to `query` (whose raw bytes are `packet`) with `rcode` and one
/// A record per address (IPv4, host byte order), TTL `ttl`.
[[nodiscard]] std::string build_dns_response(std::string_view packet, const DnsQuery& query,
                                             uint8_t rcode, const std::vector<uint32_t>& a_records,
                                             uint32_t ttl = 600);

/// The same with AAAA records too (16-byte addresses in network order),
/// after the A records. With neither, NOERROR means NODATA: the name exists.
[[nodiscard]] std::string build_dns_response(
    std::string_view packet, const DnsQuery& query, uint8_t rcode,
    const std::vector<uint32_t>& a_records,
    const std::vector<std::array<uint8_t, 16>>& aaaa_records, uint32_t ttl = 600);

/// A header-only error response (FORMERR) for a packet that did not parse;
/// empty when even the id is missing.
[[nodiscard]] std::string build_dns_error(std::string_view packet, uint8_t rcode);

}  // namespace berth::netns::detail
