// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/user.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace berth::engine::runtime {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (true) {
        size_t pos = s.find(sep, start);
        if (pos == std::string_view::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, pos - start));
        start = pos + 1;
    }
}

std::optional<uint32_t> number(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

struct PasswdEntry {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string home;
};

struct GroupEntry {
    std::string name;
    uint32_t gid = 0;
    std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
    std::vector<PasswdEntry> out;
    for (auto line : split(text, '\n')) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto f = split(line, ':');
        if (f.size() < 4) {
            continue;
        }
        auto uid = number(f[2]);
        auto gid = number(f[3]);
        if (!uid || !gid) {
            continue;
        }
        out.push_back({std::string(f[0]), *uid, *gid, f.size() > 5 ? std::string(f[5]) : ""});
    }
    return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
    std::vector<GroupEntry> out;
    for (auto line : split(text, '\n')) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        auto f = split(line, ':');
        if (f.size() < 3) {
            continue;
        }
        auto gid = number(f[2]);
        if (!gid) {
            continue;
        }
        GroupEntry g{std::string(f[0]), *gid, {}};
        if (f.size() > 3 && !f[3].empty()) {
            for (auto m : split(f[3], ',')) {
                if (!m.empty()) {
                    g.members.emplace_back(m);
                }
            }
        }
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace

Result<ResolvedUser> resolve_user(std::string_view user, std::string_view passwd,
                                  std::string_view group,
                                  const std::vector<gid_t>& additional_gids) {
    std::string_view user_part = user;
    std::optional<std::string_view> group_part;
    if (auto pos = user.find(':'); pos != std::string_view::npos) {
        user_part = user.substr(0, pos);
        group_part = user.substr(pos + 1);
    }
    if (user_part.empty()) {
        return Error(Errc::invalid_argument, fmt::format("invalid user \"{}\"", user));
    }
    auto users = parse_passwd(passwd);
    auto groups = parse_group(group);
    ResolvedUser r;
    r.home = "/";
    const PasswdEntry* entry = nullptr;
    if (auto uid = number(user_part)) {
        // A number is a uid, never a name: "1234" must not match a user named 1234.
        r.uid = *uid;
        for (const auto& e : users) {
            if (e.uid == *uid) {
                entry = &e;
                break;
            }
        }
    } else {
        for (const auto& e : users) {
            if (e.name == user_part) {
                entry = &e;
                break;
            }
        }
        if (entry == nullptr) {
            return Error(Errc::not_found,
                         fmt::format("unable to find user {}: no matching entries in passwd file",
                                     user_part));
        }
        r.uid = entry->uid;
    }
    if (entry != nullptr) {
        r.gid = entry->gid;
        if (!entry->home.empty()) {
            r.home = entry->home;
        }
    }
    if (group_part) {
        if (auto gid = number(*group_part)) {
            r.gid = *gid;
        } else {
            bool found = false;
            for (const auto& g : groups) {
                if (g.name == *group_part) {
                    r.gid = g.gid;
                    found = true;
                    break;
                }
            }
            if (!found) {
                return Error(Errc::not_found,
                             fmt::format("unable to find group {}: no matching entries in group file",
                                         *group_part));
            }
        }
    }
    if (entry != nullptr) {
        for (const auto& g : groups) {
            if (std::find(g.members.begin(), g.members.end(), entry->name) != g.members.end()) {
                r.groups.push_back(g.gid);
            }
        }
    }
    r.groups.insert(r.groups.end(), additional_gids.begin(), additional_gids.end());
    std::sort(r.groups.begin(), r.groups.end());
    r.groups.erase(std::unique(r.groups.begin(), r.groups.end()), r.groups.end());
    return r;
}

}  // namespace berth::engine::runtime
