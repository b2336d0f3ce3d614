// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/spec.hpp"

#include <signal.h>
#include <sys/capability.h>

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <set>

namespace berth::engine::containers {

using nlohmann::json;

namespace {

constexpr const char* default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::vector<std::string> string_list(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_array()) {
        return {};
    }
    std::vector<std::string> out;
    for (const auto& v : j.at(key)) {
        if (v.is_string()) {
            out.push_back(v.get<std::string>());
        }
    }
    return out;
}

std::string string_field(const json& j, const char* key) {
    if (j.is_object() && j.contains(key) && j.at(key).is_string()) {
        return j.at(key).get<std::string>();
    }
    return {};
}

std::string normalize_cap(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (name != "ALL" && name.rfind("CAP_", 0) != 0) {
        name = "CAP_" + name;
    }
    return name;
}

std::vector<std::string> all_capabilities() {
    std::vector<std::string> out;
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        char* n = cap_to_name(static_cast<cap_value_t>(c));
        if (n != nullptr) {
            out.push_back(normalize_cap(n));
            cap_free(n);
        }
    }
    return out;
}

bool is_known_cap(const std::string& name) {
    cap_value_t v = 0;
    return cap_from_name(name.c_str(), &v) == 0;
}

size_t path_depth(const std::string& p) {
    return static_cast<size_t>(std::count(p.begin(), p.end(), '/'));
}

}  // namespace

Result<std::vector<std::string>> resolve_args(const ContainerRecord& record) {
    const auto& c = record.config;
    std::vector<std::string> entrypoint =
        c.entrypoint ? *c.entrypoint : string_list(record.image_config, "Entrypoint");
    std::vector<std::string> cmd = c.cmd;
    if (cmd.empty() && !c.entrypoint) {
        cmd = string_list(record.image_config, "Cmd");
    }
    std::vector<std::string> args = entrypoint;
    args.insert(args.end(), cmd.begin(), cmd.end());
    if (args.empty()) {
        return Error(Errc::invalid_argument,
                     fmt::format("create container {}: no command specified", record.name));
    }
    return args;
}

std::string resolve_hostname(const ContainerRecord& record) {
    return record.config.hostname.empty() ? record.id.substr(0, 12) : record.config.hostname;
}

std::vector<std::string> resolve_env(const ContainerRecord& record, const std::string& hostname) {
    std::vector<std::string> env;
    auto set = [&env](const std::string& kv) {
        auto key = kv.substr(0, kv.find('='));
        auto it = std::find_if(env.begin(), env.end(), [&](const std::string& e) {
            return e.substr(0, e.find('=')) == key;
        });
        if (it != env.end()) {
            *it = kv;
        } else {
            env.push_back(kv);
        }
    };
    set("HOSTNAME=" + hostname);
    for (const auto& e : string_list(record.image_config, "Env")) {
        set(e);
    }
    for (const auto& e : record.config.env) {
        set(e);
    }
    bool has_path = std::any_of(env.begin(), env.end(), [](const std::string& e) {
        return e.rfind("PATH=", 0) == 0;
    });
    if (!has_path) {
        // Docker adds the default PATH when neither the image nor the user set one.
        env.insert(env.begin(), std::string("PATH=") + default_path);
    }
    if (record.config.tty) {
        set("TERM=xterm");
    }
    return env;
}

Result<std::vector<std::string>> resolve_capabilities(const ContainerRecord& record,
                                                      const std::vector<std::string>& defaults) {
    const auto& c = record.config;
    if (c.privileged) {
        return all_capabilities();
    }
    std::set<std::string> adds, drops;
    for (const auto& a : c.cap_add) {
        auto n = normalize_cap(a);
        if (n != "ALL" && !is_known_cap(n)) {
            return Error(Errc::invalid_argument, fmt::format("unknown capability: \"{}\"", a));
        }
        adds.insert(n);
    }
    for (const auto& d : c.cap_drop) {
        auto n = normalize_cap(d);
        if (n != "ALL" && !is_known_cap(n)) {
            return Error(Errc::invalid_argument, fmt::format("unknown capability: \"{}\"", d));
        }
        drops.insert(n);
    }
    std::vector<std::string> base;
    if (adds.count("ALL") != 0) {
        base = all_capabilities();
    } else if (drops.count("ALL") == 0) {
        base = defaults;
    }
    // Docker: drops apply to the defaults, explicit adds win over drops.
    std::vector<std::string> out;
    for (const auto& b : base) {
        if (drops.count(b) == 0 || adds.count(b) != 0) {
            out.push_back(b);
        }
    }
    for (const auto& a : adds) {
        if (a != "ALL" && std::find(out.begin(), out.end(), a) == out.end()) {
            out.push_back(a);
        }
    }
    return out;
}

std::string resolve_stop_signal(const ContainerRecord& record) {
    if (!record.config.stop_signal.empty()) {
        return record.config.stop_signal;
    }
    auto image = string_field(record.image_config, "StopSignal");
    return image.empty() ? "SIGTERM" : image;
}

int parse_signal(std::string_view name) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (ec == std::errc() && ptr == name.data() + name.size()) {
        return (n > 0 && n < NSIG) ? n : 0;
    }
    std::string upper(name);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper.rfind("SIG", 0) == 0) {
        upper.erase(0, 3);
    }
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = sigabbrev_np(s);
        if (abbrev != nullptr && upper == abbrev) {
            return s;
        }
    }
    if (upper.rfind("RTMIN+", 0) == 0) {
        int off = 0;
        auto digits = std::string_view(upper).substr(6);
        auto [p2, e2] = std::from_chars(digits.data(), digits.data() + digits.size(), off);
        if (e2 == std::errc() && SIGRTMIN + off <= SIGRTMAX) {
            return SIGRTMIN + off;
        }
    }
    return 0;
}

Result<json> build_spec(const ContainerRecord& record, const SpecInputs& in) {
    const auto& c = record.config;
    json spec = in.base_spec;
    auto hostname = resolve_hostname(record);

    auto args = resolve_args(record);
    if (!args) {
        return std::move(args).error();
    }
    std::vector<std::string> argv = *args;
    if (c.init) {
        argv.insert(argv.begin(), {"/sbin/docker-init", "--"});
    }

    json& process = spec["process"];
    process["terminal"] = c.tty;
    process["args"] = argv;
    process["env"] = resolve_env(record, hostname);
    std::string cwd = c.working_dir.empty() ? string_field(record.image_config, "WorkingDir")
                                            : c.working_dir;
    process["cwd"] = cwd.empty() ? "/" : cwd;
    if (process["cwd"].get<std::string>()[0] != '/') {
        return Error(Errc::invalid_argument,
                     fmt::format("the working directory '{}' is invalid, it needs to be an absolute path",
                                 cwd));
    }
    std::string user = c.user.empty() ? string_field(record.image_config, "User") : c.user;
    // The runtime resolves names (and a numeric uid's groups) inside the
    // container's own /etc/passwd and /etc/group, after pivot_root.
    process["user"] = json{{"uid", 0}, {"gid", 0}, {"username", user.empty() ? "0" : user}};
    process["noNewPrivileges"] = c.no_new_privileges;
    if (c.oom_score_adj) {
        process["oomScoreAdj"] = *c.oom_score_adj;
    }
    if (!c.ulimits.empty()) {
        json rl = json::array();
        for (const auto& u : c.ulimits) {
            std::string type = u.name;
            std::transform(type.begin(), type.end(), type.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
            rl.push_back({{"type", "RLIMIT_" + type}, {"soft", u.soft}, {"hard", u.hard}});
        }
        process["rlimits"] = rl;
    }

    // Capabilities: the frozen defaults adjusted by the user's flags.
    std::vector<std::string> default_caps;
    if (process.contains("capabilities") && process["capabilities"].contains("bounding")) {
        default_caps = process["capabilities"]["bounding"].get<std::vector<std::string>>();
    }
    auto caps = resolve_capabilities(record, default_caps);
    if (!caps) {
        return std::move(caps).error();
    }
    process["capabilities"] = json{{"bounding", *caps},
                                   {"effective", *caps},
                                   {"permitted", *caps},
                                   {"inheritable", json::array()},
                                   {"ambient", json::array()}};

    spec["hostname"] = hostname;
    if (!c.domainname.empty()) {
        spec["domainname"] = c.domainname;
    }
    spec["root"] = json{{"path", "rootfs"}, {"readonly", c.read_only}};

    json& linux = spec["linux"];
    // The built-in runtime mounts this overlay inside the container's mount
    // namespace; for an external runtime the supervisor mounts it on the
    // bundle's rootfs first, and the runtime ignores the annotations.
    std::string lower;
    for (const auto& l : in.lowerdirs) {
        lower += (lower.empty() ? "" : ":") + l;
    }
    const char* key = in.external_runtime ? "org.berth.external.lowerdir" : "org.berth.rootfs.lowerdir";
    spec["annotations"][key] = lower;
    spec["annotations"][in.external_runtime ? "org.berth.external.upperdir" : "org.berth.rootfs.upperdir"] =
        (in.container_dir / "upper").native();
    spec["annotations"][in.external_runtime ? "org.berth.external.workdir" : "org.berth.rootfs.workdir"] =
        (in.container_dir / "work").native();
    spec["annotations"]["org.berth.container.id"] = record.id;
    spec["annotations"]["org.berth.container.name"] = record.name;

    // Namespaces: the defaults, with the network one chosen by the mode.
    json namespaces = json::array();
    for (const auto& ns : linux.value("namespaces", json::array())) {
        std::string type = ns.value("type", "");
        if (type == "network") {
            if (in.host_network) {
                continue;
            }
            if (in.netns_path) {
                namespaces.push_back({{"type", "network"}, {"path", *in.netns_path}});
                continue;
            }
        }
        if (type == "uts" && in.host_network && c.hostname.empty()) {
            // --network host shares the host's UTS namespace too, as Docker does.
            continue;
        }
        namespaces.push_back(ns);
    }
    linux["namespaces"] = namespaces;
    if (in.host_network && c.hostname.empty()) {
        spec.erase("hostname");
    }
    linux["cgroupsPath"] = in.cgroup_path;

    json& resources = linux["resources"];
    if (c.memory > 0) {
        resources["memory"]["limit"] = c.memory;
        int64_t swap = c.memory_swap == 0 ? 2 * c.memory : c.memory_swap;
        resources["memory"]["swap"] = swap;
    }
    if (c.nano_cpus > 0) {
        constexpr int64_t period = 100000;
        resources["cpu"]["period"] = period;
        resources["cpu"]["quota"] = c.nano_cpus * period / 1000000000;
    }
    if (c.cpu_shares > 0) {
        resources["cpu"]["shares"] = c.cpu_shares;
    }
    if (c.pids_limit > 0) {
        resources["pids"]["limit"] = c.pids_limit;
    }
    if (!c.sysctls.empty()) {
        linux["sysctl"] = c.sysctls;
    }

    // Mounts: the defaults, then the container's own files, then the user's,
    // parents before children as Docker sorts them.
    json mounts = spec.value("mounts", json::array());
    if (c.shm_size > 0) {
        for (auto& m : mounts) {
            if (m.value("destination", "") == "/dev/shm") {
                json opts = json::array();
                for (const auto& o : m.value("options", json::array())) {
                    if (o.get<std::string>().rfind("size=", 0) != 0) {
                        opts.push_back(o);
                    }
                }
                opts.push_back(fmt::format("size={}k", c.shm_size / 1024));
                m["options"] = opts;
            }
        }
    }
    for (const char* f : {"resolv.conf", "hostname", "hosts"}) {
        mounts.push_back({{"destination", std::string("/etc/") + f},
                          {"type", "bind"},
                          {"source", (in.container_dir / f).native()},
                          {"options", {"rbind", "rprivate"}}});
    }
    std::vector<json> user_mounts = c.mounts;
    std::stable_sort(user_mounts.begin(), user_mounts.end(), [](const json& a, const json& b) {
        return path_depth(a.value("destination", "")) < path_depth(b.value("destination", ""));
    });
    std::set<std::string> seen;
    for (const auto& m : user_mounts) {
        auto dest = m.value("destination", "");
        if (!seen.insert(dest).second) {
            return Error(Errc::invalid_argument, fmt::format("Duplicate mount point: {}", dest));
        }
        // A user mount replaces a default one on the same path (e.g. --tmpfs /dev/shm).
        for (auto it = mounts.begin(); it != mounts.end();) {
            if (it->value("destination", "") == dest) {
                it = mounts.erase(it);
            } else {
                ++it;
            }
        }
        mounts.push_back(m);
    }
    if (c.init) {
        mounts.push_back({{"destination", "/sbin/docker-init"},
                          {"type", "bind"},
                          {"source", in.init_binary.native()},
                          {"options", {"bind", "ro", "nosuid", "nodev"}}});
    }

    if (c.privileged) {
        linux.erase("seccomp");
        linux["maskedPaths"] = json::array();
        linux["readonlyPaths"] = json::array();
        resources["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
        for (auto& m : mounts) {
            auto dest = m.value("destination", "");
            if (dest == "/sys" || dest == "/sys/fs/cgroup") {
                json opts = json::array();
                for (const auto& o : m.value("options", json::array())) {
                    if (o != "ro") {
                        opts.push_back(o);
                    }
                }
                opts.push_back("rw");
                m["options"] = opts;
            }
        }
    } else if (c.seccomp == "unconfined") {
        linux.erase("seccomp");
    } else if (!c.seccomp.empty()) {
        try {
            linux["seccomp"] = json::parse(c.seccomp);
        } catch (const json::exception& e) {
            return Error(Errc::invalid_argument, fmt::format("parse seccomp profile: {}", e.what()));
        }
    } else if (in.seccomp_for_caps) {
        auto sc = in.seccomp_for_caps(*caps);
        if (!sc.is_null()) {
            linux["seccomp"] = sc;
        }
    }
    spec["mounts"] = mounts;
    return spec;
}

}  // namespace berth::engine::containers
