// SPDX-License-Identifier: Apache-2.0
// Parsing of `-p` / compose short-syntax port specs (pure).
#include <arpa/inet.h>

#include <fmt/format.h>

#include <charconv>

#include "netns/ipam.hpp"
#include "netns/network.hpp"

namespace berth::netns {

namespace {

struct Range {
    uint16_t first = 0;
    uint16_t last = 0;
};

bool parse_port(std::string_view text, uint16_t& out) {
    if (text.empty() || text.size() > 5) {
        return false;
    }
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size() || v == 0 || v > 65535) {
        return false;
    }
    out = static_cast<uint16_t>(v);
    return true;
}

bool parse_range(std::string_view text, Range& out) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos) {
        if (!parse_port(text, out.first)) {
            return false;
        }
        out.last = out.first;
        return true;
    }
    if (!parse_port(text.substr(0, dash), out.first) ||
        !parse_port(text.substr(dash + 1), out.last)) {
        return false;
    }
    return out.first <= out.last;
}

bool valid_host_ip(std::string_view ip, bool bracketed) {
    std::string s(ip);
    unsigned char buf[16];
    if (bracketed) {
        return ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
    }
    return Ipv4::parse(ip).has_value();
}

}  // namespace

Result<std::vector<PortBinding>> parse_port_spec(std::string_view spec) {
    auto bad = [&](std::string_view why) {
        return Error(Errc::invalid_argument, fmt::format("invalid port \"{}\": {}", spec, why));
    };
    if (spec.empty() || spec.size() > 128) {
        return bad("empty or too long");
    }
    std::string_view rest = spec;
    std::string protocol = "tcp";
    if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
        protocol = std::string(rest.substr(slash + 1));
        rest = rest.substr(0, slash);
        if (protocol != "tcp" && protocol != "udp") {
            return bad(fmt::format("unsupported protocol \"{}\" (tcp or udp)", protocol));
        }
    }
    std::string host_ip;
    bool has_host_ip = false;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
            return bad("unterminated IPv6 address");
        }
        host_ip = std::string(rest.substr(1, close - 1));
        if (!valid_host_ip(host_ip, true)) {
            return bad(fmt::format("invalid host IP \"{}\"", host_ip));
        }
        has_host_ip = true;
        rest = rest.substr(close + 2);
        if (rest.find(':') == std::string_view::npos) {
            return bad("a host port (or an empty one) must follow the host IP");
        }
    }
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (true) {
        auto colon = rest.find(':', start);
        parts.push_back(rest.substr(start, colon == std::string_view::npos ? rest.npos
                                                                           : colon - start));
        if (colon == std::string_view::npos) {
            break;
        }
        start = colon + 1;
    }
    std::string_view host_part, container_part;
    if (parts.size() == 1) {
        container_part = parts[0];
    } else if (parts.size() == 2) {
        host_part = parts[0];
        container_part = parts[1];
    } else if (parts.size() == 3 && !has_host_ip) {
        host_ip = std::string(parts[0]);
        if (!valid_host_ip(host_ip, false)) {
            return bad(fmt::format("invalid host IP \"{}\" (IPv6 needs brackets)", host_ip));
        }
        host_part = parts[1];
        container_part = parts[2];
    } else {
        return bad("too many colons");
    }
    Range container;
    if (!parse_range(container_part, container)) {
        return bad(fmt::format("invalid container port \"{}\"", container_part));
    }
    Range host;
    bool random = host_part.empty();
    if (!random && !parse_range(host_part, host)) {
        return bad(fmt::format("invalid host port \"{}\"", host_part));
    }
    std::vector<PortBinding> out;
    const unsigned count = unsigned{container.last} - container.first + 1;
    if (random) {
        for (unsigned i = 0; i < count; ++i) {
            out.push_back(PortBinding{host_ip, 0, 0, static_cast<uint16_t>(container.first + i),
                                      protocol});
        }
        return out;
    }
    const unsigned host_count = unsigned{host.last} - host.first + 1;
    if (count == 1) {
        // One container port and a host range: any one free port of the range.
        out.push_back(PortBinding{host_ip, host.first, host.last, container.first, protocol});
        return out;
    }
    if (host_count != count) {
        return bad("host and container port ranges differ in length");
    }
    for (unsigned i = 0; i < count; ++i) {
        auto hp = static_cast<uint16_t>(host.first + i);
        out.push_back(
            PortBinding{host_ip, hp, hp, static_cast<uint16_t>(container.first + i), protocol});
    }
    return out;
}

Result<NetworkMode> parse_network_mode(std::string_view text) {
    if (text.empty() || text == "bridge" || text == "default") {
        return NetworkMode{NetworkModeKind::bridge, std::string(default_network_name)};
    }
    if (text == "host") {
        return NetworkMode{NetworkModeKind::host, {}};
    }
    if (text == "none") {
        return NetworkMode{NetworkModeKind::none, {}};
    }
    for (auto [prefix, kind] : {std::pair{std::string_view("container:"), NetworkModeKind::container},
                                std::pair{std::string_view("service:"), NetworkModeKind::service}}) {
        if (text.substr(0, prefix.size()) == prefix) {
            auto target = text.substr(prefix.size());
            if (target.empty()) {
                return Error(Errc::invalid_argument,
                             fmt::format("invalid network mode \"{}\": missing name", text));
            }
            return NetworkMode{kind, std::string(target)};
        }
    }
    return NetworkMode{NetworkModeKind::bridge, std::string(text)};
}

}  // namespace berth::netns
