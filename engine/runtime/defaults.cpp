// SPDX-License-Identifier: Apache-2.0
#include <glob.h>

#include <set>
#include <string_view>

#include "engine/runtime/runtime.hpp"

namespace berth::engine::runtime {
namespace detail {
extern const std::string_view docker_defaults_json;
}  // namespace detail

namespace {

using nlohmann::json;

std::string cap_name(const std::string& c) {
    std::string up;
    for (char ch : c) {
        up += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    }
    return up.rfind("CAP_", 0) == 0 ? up : "CAP_" + up;
}

/// moby's archMap for the host architecture.
json host_architectures() {
#if defined(__x86_64__)
    return json::array({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"});
#elif defined(__aarch64__)
    return json::array({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"});
#else
    return json::array();
#endif
}

}  // namespace

const json& docker_defaults() {
    // Parsed once; the data is compiled in, so a parse failure is a build bug.
    static const json parsed = json::parse(detail::docker_defaults_json);
    return parsed;
}

json seccomp_for_caps(const std::vector<std::string>& caps) {
    const json& d = docker_defaults();
    json profile = d["seccomp"];
    profile["architectures"] = host_architectures();
    std::set<std::string> granted;
    for (const auto& c : caps) {
        granted.insert(cap_name(c));
    }
    std::set<std::string> plain;
    for (const auto& rule : profile["syscalls"]) {
        if (!rule.contains("args") && rule["action"] == "SCMP_ACT_ALLOW") {
            for (const auto& n : rule["names"]) {
                plain.insert(n.get<std::string>());
            }
        }
    }
    for (const auto& group : d["seccompCapGated"]) {
        bool has = false;
        for (const auto& c : group["caps"]) {
            has = has || granted.count(c.get<std::string>()) > 0;
        }
        if (!has) {
            continue;
        }
        if (group.contains("replaces")) {
            std::set<std::string> rep;
            for (const auto& n : group["replaces"]) {
                rep.insert(n.get<std::string>());
            }
            json kept = json::array();
            for (auto& rule : profile["syscalls"]) {
                bool all_replaced = true;
                for (const auto& n : rule["names"]) {
                    all_replaced = all_replaced && rep.count(n.get<std::string>()) > 0;
                }
                if (!all_replaced) {
                    kept.push_back(rule);
                }
            }
            profile["syscalls"] = kept;
        }
        json names = json::array();
        for (const auto& n : group["names"]) {
            if (plain.insert(n.get<std::string>()).second) {
                names.push_back(n);
            }
        }
        if (!names.empty()) {
            profile["syscalls"].push_back({{"names", names}, {"action", "SCMP_ACT_ALLOW"}});
        }
    }
    return profile;
}

json default_spec(bool with_seccomp) {
    const json& d = docker_defaults();
    json caps = d["capabilities"];
    json spec;
    spec["ociVersion"] = "1.1.0";
    spec["process"] = {
        {"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"cwd", "/"},
        {"env", json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})},
        {"capabilities",
         {{"bounding", caps},
          {"effective", caps},
          {"permitted", caps},
          {"inheritable", json::array()},
          {"ambient", json::array()}}},
        {"noNewPrivileges", false},
    };
    spec["mounts"] = d["mounts"];
    json namespaces = json::array();
    for (const auto& n : d["namespaces"]) {
        namespaces.push_back({{"type", n}});
    }
    json masked = d["maskedPaths"];
    // moby masks every thermal_throttle directory that exists on the host.
    for (const auto& pattern : d["maskedPathGlobs"]) {
        glob_t g{};
        if (::glob(pattern.get<std::string>().c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; ++i) {
                masked.push_back(g.gl_pathv[i]);
            }
        }
        ::globfree(&g);
    }
    spec["linux"] = {
        {"namespaces", namespaces},
        {"maskedPaths", masked},
        {"readonlyPaths", d["readonlyPaths"]},
        {"resources", {{"devices", d["devicesCgroup"]}}},
    };
    if (with_seccomp) {
        spec["linux"]["seccomp"] = seccomp_for_caps(caps.get<std::vector<std::string>>());
    }
    return spec;
}

}  // namespace berth::engine::runtime
