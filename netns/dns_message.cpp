// SPDX-License-Identifier: Apache-2.0
#include "netns/internal/dns_message.hpp"

namespace berth::netns::detail {

namespace {

uint16_t get16(std::string_view p, size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(p[at]) << 8) | static_cast<uint8_t>(p[at + 1]));
}

void put16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v & 0xffff));
}

}  // namespace

std::optional<DnsQuery> parse_dns_query(std::string_view p) {
    if (p.size() < 12 || p.size() > 4096) {
        return std::nullopt;
    }
    DnsQuery q;
    q.id = get16(p, 0);
    q.flags = get16(p, 2);
    if ((q.flags & 0x8000) != 0 || get16(p, 4) != 1) {
        return std::nullopt;
    }
    size_t at = 12;
    while (true) {
        if (at >= p.size()) {
            return std::nullopt;
        }
        auto len = static_cast<uint8_t>(p[at]);
        ++at;
        if (len == 0) {
            break;
        }
        if ((len & 0xc0) != 0 || at + len > p.size()) {
            return std::nullopt;
        }
        if (!q.name.empty()) {
            q.name.push_back('.');
        }
        for (size_t i = 0; i < len; ++i) {
            char c = p[at + i];
            if (c >= 'A' && c <= 'Z') {
                c = static_cast<char>(c - 'A' + 'a');
            }
            q.name.push_back(c);
        }
        at += len;
        if (q.name.size() > 253) {
            return std::nullopt;
        }
    }
    if (at + 4 > p.size()) {
        return std::nullopt;
    }
    q.qtype = get16(p, at);
    q.qclass = get16(p, at + 2);
    q.question_end = at + 4;
    return q;
}

std::string build_dns_response(std::string_view packet, const DnsQuery& query, uint8_t rcode,
                               const std::vector<uint32_t>& a_records, uint32_t ttl) {
    return build_dns_response(packet, query, rcode, a_records, {}, ttl);
}

std::string build_dns_response(std::string_view packet, const DnsQuery& query, uint8_t rcode,
                               const std::vector<uint32_t>& a_records,
                               const std::vector<std::array<uint8_t, 16>>& aaaa_records,
                               uint32_t ttl) {
    std::string out;
    put16(out, query.id);
    // QR, opcode copied, AA, RD copied, RA.
    uint16_t flags = static_cast<uint16_t>(0x8000 | (query.flags & 0x7800) | 0x0400 |
                                           (query.flags & 0x0100) | 0x0080 | (rcode & 0x0f));
    put16(out, flags);
    put16(out, 1);
    put16(out, static_cast<uint16_t>(a_records.size() + aaaa_records.size()));
    put16(out, 0);
    put16(out, 0);
    out.append(packet.substr(12, query.question_end - 12));
    for (uint32_t ip : a_records) {
        put16(out, 0xc00c);  // pointer to the question name
        put16(out, dns_type_a);
        put16(out, 1);
        put32(out, ttl);
        put16(out, 4);
        put32(out, ip);
    }
    for (const auto& ip : aaaa_records) {
        put16(out, 0xc00c);
        put16(out, dns_type_aaaa);
        put16(out, 1);
        put32(out, ttl);
        put16(out, 16);
        out.append(reinterpret_cast<const char*>(ip.data()), ip.size());
    }
    return out;
}

std::string build_dns_error(std::string_view packet, uint8_t rcode) {
    if (packet.size() < 2) {
        return {};
    }
    std::string out(packet.substr(0, 2));
    uint16_t flags = packet.size() >= 4 ? get16(packet, 2) : 0;
    put16(out, static_cast<uint16_t>(0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0x0f)));
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
    return out;
}

}  // namespace berth::netns::detail
