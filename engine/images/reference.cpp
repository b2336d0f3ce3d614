// SPDX-License-Identifier: Apache-2.0
#include "engine/images/reference.hpp"

#include <fmt/format.h>

#include <cctype>

namespace berth::engine::images {

namespace {

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_hex(std::string_view s) {
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'F')) {
            return false;
        }
    }
    return true;
}

/// path-component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool valid_path_component(std::string_view c) {
    if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) {
        return false;
    }
    size_t i = 0;
    while (i < c.size()) {
        if (is_lower_alnum(c[i])) {
            ++i;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        size_t j = i;
        while (j < c.size() && !is_lower_alnum(c[j])) {
            ++j;
        }
        std::string_view sep = c.substr(i, j - i);
        bool ok = sep == "." || sep == "_" || sep == "__" ||
                  sep.find_first_not_of('-') == std::string_view::npos;
        if (!ok) {
            return false;
        }
        i = j;
    }
    return true;
}

/// domain: label(.label)*(:port)?, label = [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
bool valid_domain(std::string_view d) {
    auto colon = d.rfind(':');
    std::string_view host = d;
    if (colon != std::string_view::npos) {
        std::string_view port = d.substr(colon + 1);
        if (port.empty() || port.size() > 5) {
            return false;
        }
        for (char c : port) {
            if (!std::isdigit(static_cast<unsigned char>(c))) {
                return false;
            }
        }
        host = d.substr(0, colon);
    }
    if (host.empty()) {
        return false;
    }
    size_t start = 0;
    while (start <= host.size()) {
        size_t dot = host.find('.', start);
        std::string_view label =
            host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
                return false;
            }
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return true;
}

/// tag: [\w][\w.-]{0,127}
bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128) {
        return false;
    }
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(t.front())) {
        return false;
    }
    for (char c : t) {
        if (!word(c) && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

bool valid_digest(std::string_view d) {
    auto colon = d.find(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    std::string_view algo = d.substr(0, colon);
    std::string_view hex = d.substr(colon + 1);
    if (algo == "sha256") {
        return hex.size() == 64 && is_hex(hex);
    }
    if (algo == "sha512") {
        return hex.size() == 128 && is_hex(hex);
    }
    return false;
}

Error bad(std::string_view text, std::string_view why) {
    return Error(Errc::invalid_argument,
                 fmt::format("invalid reference format \"{}\": {}", text, why));
}

}  // namespace

std::string Reference::name() const {
    return domain + "/" + path;
}

std::string Reference::full() const {
    std::string s = name();
    if (!tag.empty()) {
        s += ":" + tag;
    }
    if (!digest.empty()) {
        s += "@" + digest;
    }
    return s;
}

std::string Reference::name_tag() const {
    return tag.empty() ? std::string{} : name() + ":" + tag;
}

std::string Reference::name_digest() const {
    return digest.empty() ? std::string{} : name() + "@" + digest;
}

std::string Reference::familiar_name() const {
    if (domain == default_domain) {
        if (path.rfind("library/", 0) == 0 && path.find('/', 8) == std::string::npos) {
            return path.substr(8);
        }
        return path;
    }
    return name();
}

std::string Reference::registry_host() const {
    return domain == default_domain ? std::string("registry-1.docker.io") : domain;
}

bool is_full_id(std::string_view text) {
    if (text.rfind("sha256:", 0) == 0) {
        text.remove_prefix(7);
    }
    return text.size() == 64 && is_hex(text);
}

Result<Reference> parse_reference(std::string_view text) {
    if (text.empty()) {
        return bad(text, "empty");
    }
    if (text.size() > 512) {
        return bad(text.substr(0, 64), "too long");
    }
    Reference ref;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        std::string_view digest = rest.substr(at + 1);
        if (!valid_digest(digest)) {
            return bad(text, "invalid digest");
        }
        ref.digest = std::string(digest);
        rest = rest.substr(0, at);
    }
    auto slash = rest.rfind('/');
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        std::string_view tag = rest.substr(colon + 1);
        if (!valid_tag(tag)) {
            return bad(text, "invalid tag");
        }
        ref.tag = std::string(tag);
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) {
        return bad(text, "empty name");
    }
    // Docker's splitDockerDomain: the first component is a registry host when
    // it has a "." or ":", or is "localhost" (or has upper case letters).
    std::string_view remainder = rest;
    auto first = rest.find('/');
    if (first != std::string_view::npos) {
        std::string_view head = rest.substr(0, first);
        bool upper = false;
        for (char c : head) {
            upper = upper || (c >= 'A' && c <= 'Z');
        }
        if (head.find('.') != std::string_view::npos ||
            head.find(':') != std::string_view::npos || head == "localhost" || upper) {
            if (!valid_domain(head)) {
                return bad(text, "invalid registry host");
            }
            ref.domain = std::string(head);
            remainder = rest.substr(first + 1);
        }
    }
    if (ref.domain.empty() || ref.domain == "index.docker.io") {
        ref.domain = std::string(default_domain);
    }
    if (remainder.empty()) {
        return bad(text, "empty repository path");
    }
    size_t start = 0;
    while (true) {
        size_t next = remainder.find('/', start);
        std::string_view comp = remainder.substr(
            start, next == std::string_view::npos ? std::string_view::npos : next - start);
        if (!valid_path_component(comp)) {
            for (char c : comp) {
                if (c >= 'A' && c <= 'Z') {
                    return bad(text, "repository name must be lowercase");
                }
            }
            return bad(text, "invalid repository name");
        }
        if (next == std::string_view::npos) {
            break;
        }
        start = next + 1;
    }
    if (ref.domain == default_domain && remainder.find('/') == std::string_view::npos) {
        if (is_full_id(remainder)) {
            return bad(text, "cannot be a 64-byte hexadecimal string (an image id)");
        }
        ref.path = "library/" + std::string(remainder);
    } else {
        ref.path = std::string(remainder);
    }
    if (ref.name().size() > 255) {
        return bad(text.substr(0, 64), "repository name must not be more than 255 characters");
    }
    if (ref.tag.empty() && ref.digest.empty()) {
        ref.tag = "latest";
    }
    return ref;
}

std::string familiar(std::string_view qualified) {
    constexpr std::string_view lib = "docker.io/library/";
    constexpr std::string_view hub = "docker.io/";
    if (qualified.rfind(lib, 0) == 0) {
        std::string_view rest = qualified.substr(lib.size());
        // Only a single path component is shortened ("docker.io/library/a/b" stays).
        auto end = rest.find_first_of(":@");
        if (rest.substr(0, end).find('/') == std::string_view::npos) {
            return std::string(rest);
        }
        return std::string(qualified.substr(hub.size()));
    }
    if (qualified.rfind(hub, 0) == 0) {
        return std::string(qualified.substr(hub.size()));
    }
    return std::string(qualified);
}

}  // namespace berth::engine::images
