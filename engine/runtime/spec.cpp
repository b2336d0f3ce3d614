// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/spec.hpp"

#include <sys/mount.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include <utility>

namespace berth::engine::runtime {
namespace {

using nlohmann::json;

Error bad(const std::string& field, std::string_view why) {
    return Error(Errc::invalid_argument, fmt::format("config.json: {}: {}", field, why));
}

/// Reads `obj[key]` as T when present; the field path names it in errors.
template <typename T>
Result<std::optional<T>> opt(const json& obj, const char* key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::optional<T>{};
    }
    try {
        return std::optional<T>{it->get<T>()};
    } catch (const json::exception&) {
        return bad(path + "." + key, fmt::format("unexpected type {}", it->type_name()));
    }
}

Result<std::vector<std::string>> strings(const json& obj, const char* key,
                                         const std::string& path) {
    auto r = opt<std::vector<std::string>>(obj, key, path);
    if (!r) {
        return std::move(r).error();
    }
    return r->value_or(std::vector<std::string>{});
}

Result<User> parse_user(const json& j) {
    User u;
    if (!j.is_object()) {
        return u;
    }
    auto uid = opt<uint32_t>(j, "uid", "process.user");
    auto gid = opt<uint32_t>(j, "gid", "process.user");
    auto umask = opt<uint32_t>(j, "umask", "process.user");
    auto gids = opt<std::vector<uint32_t>>(j, "additionalGids", "process.user");
    auto name = opt<std::string>(j, "username", "process.user");
    if (!uid || !gid || !umask || !gids || !name) {
        return bad("process.user", "uid, gid, umask and additionalGids must be numbers");
    }
    u.uid = uid->value_or(0);
    u.gid = gid->value_or(0);
    if (*umask) {
        u.umask = static_cast<mode_t>(**umask);
    }
    for (auto g : gids->value_or(std::vector<uint32_t>{})) {
        u.additional_gids.push_back(g);
    }
    u.username = name->value_or("");
    return u;
}

Result<DeviceRule> parse_device_rule(const json& j, const std::string& path) {
    DeviceRule d;
    auto allow = opt<bool>(j, "allow", path);
    auto type = opt<std::string>(j, "type", path);
    auto major = opt<int64_t>(j, "major", path);
    auto minor = opt<int64_t>(j, "minor", path);
    auto access = opt<std::string>(j, "access", path);
    if (!allow || !type || !major || !minor || !access) {
        return bad(path, "wrong field type");
    }
    d.allow = allow->value_or(false);
    std::string t = type->value_or("a");
    if (t != "a" && t != "c" && t != "b") {
        return bad(path + ".type", fmt::format("unknown device type \"{}\"", t));
    }
    d.type = t[0];
    d.major = major->value_or(-1);
    d.minor = minor->value_or(-1);
    d.access = access->value_or("rwm");
    for (char c : d.access) {
        if (c != 'r' && c != 'w' && c != 'm') {
            return bad(path + ".access", fmt::format("invalid access \"{}\"", d.access));
        }
    }
    return d;
}

Result<Resources> parse_resources(const json& j) {
    Resources r;
    if (!j.is_object()) {
        return r;
    }
    try {
        if (auto m = j.find("memory"); m != j.end() && m->is_object()) {
            if (m->contains("limit") && !(*m)["limit"].is_null()) {
                r.memory_limit = (*m)["limit"].get<int64_t>();
            }
            if (m->contains("swap") && !(*m)["swap"].is_null()) {
                r.memory_swap = (*m)["swap"].get<int64_t>();
            }
        }
        if (auto c = j.find("cpu"); c != j.end() && c->is_object()) {
            if (c->contains("quota") && !(*c)["quota"].is_null()) {
                r.cpu_quota = (*c)["quota"].get<int64_t>();
            }
            if (c->contains("period") && !(*c)["period"].is_null()) {
                r.cpu_period = (*c)["period"].get<uint64_t>();
            }
            if (c->contains("shares") && !(*c)["shares"].is_null()) {
                r.cpu_shares = (*c)["shares"].get<uint64_t>();
            }
            if (c->contains("cpus") && !(*c)["cpus"].is_null()) {
                r.cpuset_cpus = (*c)["cpus"].get<std::string>();
            }
            if (c->contains("mems") && !(*c)["mems"].is_null()) {
                r.cpuset_mems = (*c)["mems"].get<std::string>();
            }
        }
        if (auto p = j.find("pids"); p != j.end() && p->is_object() && p->contains("limit")) {
            r.pids_limit = (*p)["limit"].get<int64_t>();
        }
    } catch (const json::exception& e) {
        return bad("linux.resources", e.what());
    }
    if (auto d = j.find("devices"); d != j.end() && d->is_array()) {
        for (size_t i = 0; i < d->size(); ++i) {
            auto rule = parse_device_rule((*d)[i], fmt::format("linux.resources.devices[{}]", i));
            if (!rule) {
                return std::move(rule).error();
            }
            r.devices.push_back(*rule);
        }
    }
    return r;
}

Result<Capabilities> parse_caps(const json& j) {
    Capabilities c;
    const std::string p = "process.capabilities";
    auto b = strings(j, "bounding", p);
    auto e = strings(j, "effective", p);
    auto i = strings(j, "inheritable", p);
    auto pe = strings(j, "permitted", p);
    auto a = strings(j, "ambient", p);
    for (auto* r : {&b, &e, &i, &pe, &a}) {
        if (!*r) {
            return std::move(*r).error();
        }
    }
    c.bounding = *b;
    c.effective = *e;
    c.inheritable = *i;
    c.permitted = *pe;
    c.ambient = *a;
    return c;
}

}  // namespace

const Namespace* Spec::find_namespace(const std::string& type) const {
    for (const auto& ns : linux.namespaces) {
        if (ns.type == type) {
            return &ns;
        }
    }
    return nullptr;
}

static Result<Process> parse_process_impl(const json& j) {
    Process p;
    if (!j.is_object()) {
        return bad("process", "must be an object");
    }
    auto args = strings(j, "args", "process");
    if (!args) {
        return std::move(args).error();
    }
    if (args->empty()) {
        return bad("process.args", "must be a non-empty array of strings");
    }
    p.args = *args;
    auto env = strings(j, "env", "process");
    if (!env) {
        return std::move(env).error();
    }
    p.env = *env;
    auto cwd = opt<std::string>(j, "cwd", "process");
    auto term = opt<bool>(j, "terminal", "process");
    auto nnp = opt<bool>(j, "noNewPrivileges", "process");
    auto oom = opt<int>(j, "oomScoreAdj", "process");
    if (!cwd || !term || !nnp || !oom) {
        return bad("process", "cwd, terminal, noNewPrivileges or oomScoreAdj has the wrong type");
    }
    p.cwd = cwd->value_or("/");
    if (p.cwd.empty() || p.cwd[0] != '/') {
        return bad("process.cwd", fmt::format("must be an absolute path, got \"{}\"", p.cwd));
    }
    p.terminal = term->value_or(false);
    p.no_new_privileges = nnp->value_or(false);
    p.oom_score_adj = *oom;
    if (auto u = j.find("user"); u != j.end()) {
        auto user = parse_user(*u);
        if (!user) {
            return std::move(user).error();
        }
        p.user = *user;
    }
    if (auto c = j.find("capabilities"); c != j.end() && c->is_object()) {
        auto caps = parse_caps(*c);
        if (!caps) {
            return std::move(caps).error();
        }
        p.capabilities = *caps;
    }
    if (auto r = j.find("rlimits"); r != j.end() && r->is_array()) {
        for (size_t i = 0; i < r->size(); ++i) {
            const auto& e = (*r)[i];
            Rlimit rl;
            try {
                rl.type = e.at("type").get<std::string>();
                rl.soft = e.at("soft").get<uint64_t>();
                rl.hard = e.at("hard").get<uint64_t>();
            } catch (const json::exception&) {
                return bad(fmt::format("process.rlimits[{}]", i), "needs type, soft and hard");
            }
            if (rlimit_resource(rl.type) < 0) {
                return bad(fmt::format("process.rlimits[{}].type", i),
                           fmt::format("unknown rlimit \"{}\"", rl.type));
            }
            if (rl.soft > rl.hard) {
                return bad(fmt::format("process.rlimits[{}]", i),
                           fmt::format("{} soft limit above hard limit", rl.type));
            }
            p.rlimits.push_back(rl);
        }
    }
    return p;
}

static Result<Seccomp> parse_seccomp_impl(const json& j) {
    Seccomp s;
    const std::string p = "linux.seccomp";
    if (!j.is_object()) {
        return bad(p, "must be an object");
    }
    auto da = opt<std::string>(j, "defaultAction", p);
    auto de = opt<unsigned>(j, "defaultErrnoRet", p);
    auto arches = strings(j, "architectures", p);
    auto flags = strings(j, "flags", p);
    if (!da || !de || !arches || !flags) {
        return bad(p, "wrong field type");
    }
    if (!*da) {
        return bad(p + ".defaultAction", "missing");
    }
    s.default_action = **da;
    s.default_errno_ret = *de;
    s.architectures = *arches;
    s.flags = *flags;
    if (auto sc = j.find("syscalls"); sc != j.end() && sc->is_array()) {
        for (size_t i = 0; i < sc->size(); ++i) {
            const auto& e = (*sc)[i];
            std::string path = fmt::format("{}.syscalls[{}]", p, i);
            SeccompRule r;
            auto names = strings(e, "names", path);
            auto action = opt<std::string>(e, "action", path);
            auto err = opt<unsigned>(e, "errnoRet", path);
            if (!names || !action || !err || !*action) {
                return bad(path, "needs names and action");
            }
            r.names = *names;
            r.action = **action;
            r.errno_ret = *err;
            if (auto a = e.find("args"); a != e.end() && a->is_array()) {
                for (const auto& arg : *a) {
                    SeccompArg sa;
                    try {
                        sa.index = arg.at("index").get<unsigned>();
                        sa.value = arg.at("value").get<uint64_t>();
                        sa.value_two = arg.value("valueTwo", uint64_t{0});
                        sa.op = arg.at("op").get<std::string>();
                    } catch (const json::exception&) {
                        return bad(path + ".args", "needs index, value and op");
                    }
                    if (sa.index > 5) {
                        return bad(path + ".args", fmt::format("index {} above 5", sa.index));
                    }
                    r.args.push_back(sa);
                }
            }
            s.syscalls.push_back(std::move(r));
        }
    }
    return s;
}

static Result<Spec> parse_spec_impl(const json& j) {
    Spec s;
    if (!j.is_object()) {
        return bad("(root)", "must be an object");
    }
    s.oci_version = j.value("ociVersion", std::string{});
    auto proc = j.find("process");
    if (proc == j.end()) {
        return bad("process", "missing");
    }
    auto p = parse_process_impl(*proc);
    if (!p) {
        return std::move(p).error();
    }
    s.process = std::move(*p);
    auto root = j.find("root");
    if (root == j.end() || !root->is_object() || !root->contains("path") ||
        !(*root)["path"].is_string()) {
        return bad("root.path", "missing");
    }
    s.root_path = (*root)["path"].get<std::string>();
    s.root_readonly = root->value("readonly", false);
    auto host = opt<std::string>(j, "hostname", "");
    if (!host) {
        return std::move(host).error();
    }
    s.hostname = host->value_or("");
    if (auto m = j.find("mounts"); m != j.end() && m->is_array()) {
        for (size_t i = 0; i < m->size(); ++i) {
            std::string path = fmt::format("mounts[{}]", i);
            const auto& e = (*m)[i];
            Mount mt;
            auto dst = opt<std::string>(e, "destination", path);
            auto type = opt<std::string>(e, "type", path);
            auto src = opt<std::string>(e, "source", path);
            auto o = strings(e, "options", path);
            if (!dst || !type || !src || !o || !*dst) {
                return bad(path, "needs a destination string");
            }
            mt.destination = **dst;
            if (mt.destination.empty() || mt.destination[0] != '/') {
                return bad(path + ".destination",
                           fmt::format("must be absolute, got \"{}\"", mt.destination));
            }
            mt.type = type->value_or("");
            mt.source = src->value_or("");
            mt.options = *o;
            s.mounts.push_back(std::move(mt));
        }
    }
    if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
        for (const auto& [k, v] : a->items()) {
            if (v.is_string()) {
                s.annotations[k] = v.get<std::string>();
            }
        }
    }
    auto lx = j.find("linux");
    if (lx == j.end() || !lx->is_object()) {
        return s;
    }
    const json& l = *lx;
    if (auto n = l.find("namespaces"); n != l.end() && n->is_array()) {
        for (const auto& e : *n) {
            Namespace ns;
            ns.type = e.value("type", std::string{});
            ns.path = e.value("path", std::string{});
            static const char* known[] = {"pid", "network", "mount", "ipc",
                                          "uts", "cgroup",  "user",  "time"};
            bool ok = false;
            for (const char* k : known) {
                ok = ok || ns.type == k;
            }
            if (!ok) {
                return bad("linux.namespaces", fmt::format("unknown type \"{}\"", ns.type));
            }
            s.linux.namespaces.push_back(ns);
        }
    }
    auto cg = opt<std::string>(l, "cgroupsPath", "linux");
    if (!cg) {
        return std::move(cg).error();
    }
    s.linux.cgroups_path = *cg;
    if (auto r = l.find("resources"); r != l.end()) {
        auto res = parse_resources(*r);
        if (!res) {
            return std::move(res).error();
        }
        s.linux.resources = std::move(*res);
    }
    if (auto d = l.find("devices"); d != l.end() && d->is_array()) {
        for (size_t i = 0; i < d->size(); ++i) {
            const auto& e = (*d)[i];
            Device dev;
            try {
                dev.path = e.at("path").get<std::string>();
                std::string t = e.at("type").get<std::string>();
                dev.type = t.empty() ? 'c' : t[0];
                if (t != "c" && t != "b" && t != "u" && t != "p") {
                    return bad(fmt::format("linux.devices[{}].type", i), "must be c, b, u or p");
                }
                dev.major = e.value("major", int64_t{0});
                dev.minor = e.value("minor", int64_t{0});
                dev.file_mode = e.value("fileMode", 0666u);
                dev.uid = e.value("uid", 0u);
                dev.gid = e.value("gid", 0u);
            } catch (const json::exception&) {
                return bad(fmt::format("linux.devices[{}]", i), "needs path and type");
            }
            s.linux.devices.push_back(dev);
        }
    }
    auto masked = strings(l, "maskedPaths", "linux");
    auto ro = strings(l, "readonlyPaths", "linux");
    auto prop = opt<std::string>(l, "rootfsPropagation", "linux");
    if (!masked || !ro || !prop) {
        return bad("linux", "maskedPaths, readonlyPaths or rootfsPropagation has the wrong type");
    }
    s.linux.masked_paths = *masked;
    s.linux.readonly_paths = *ro;
    s.linux.rootfs_propagation = prop->value_or("");
    if (auto sy = l.find("sysctl"); sy != l.end() && sy->is_object()) {
        for (const auto& [k, v] : sy->items()) {
            if (!v.is_string()) {
                return bad("linux.sysctl." + k, "must be a string");
            }
            s.linux.sysctl[k] = v.get<std::string>();
        }
    }
    if (auto sc = l.find("seccomp"); sc != l.end() && !sc->is_null()) {
        auto sec = parse_seccomp_impl(*sc);
        if (!sec) {
            return std::move(sec).error();
        }
        s.linux.seccomp = std::move(*sec);
    }
    return s;
}

// nlohmann throws on type mismatches inside value()/at(); the public entry
// points turn any such exception into Errc::invalid_argument.
Result<Process> parse_process(const json& j) {
    try {
        return parse_process_impl(j);
    } catch (const json::exception& e) {
        return bad("process", e.what());
    }
}

Result<Seccomp> parse_seccomp(const json& j) {
    try {
        return parse_seccomp_impl(j);
    } catch (const json::exception& e) {
        return bad("linux.seccomp", e.what());
    }
}

Result<Spec> parse_spec(const json& j) {
    try {
        return parse_spec_impl(j);
    } catch (const json::exception& e) {
        return bad("(root)", e.what());
    }
}

Result<MountFlags> parse_mount_options(const std::vector<std::string>& options) {
    struct Flag {
        const char* name;
        bool clear;
        unsigned long flag;
    };
    static const Flag flags[] = {
        {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},
        {"nosuid", false, MS_NOSUID},     {"suid", true, MS_NOSUID},
        {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
        {"noexec", false, MS_NOEXEC},     {"exec", true, MS_NOEXEC},
        {"sync", false, MS_SYNCHRONOUS},  {"async", true, MS_SYNCHRONOUS},
        {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
        {"mand", false, MS_MANDLOCK},     {"nomand", true, MS_MANDLOCK},
        {"noatime", false, MS_NOATIME},   {"atime", true, MS_NOATIME},
        {"nodiratime", false, MS_NODIRATIME}, {"diratime", true, MS_NODIRATIME},
        {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
        {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
    };
    struct Prop {
        const char* name;
        unsigned long flag;
    };
    static const Prop props[] = {
        {"private", MS_PRIVATE},           {"rprivate", MS_PRIVATE | MS_REC},
        {"shared", MS_SHARED},             {"rshared", MS_SHARED | MS_REC},
        {"slave", MS_SLAVE},               {"rslave", MS_SLAVE | MS_REC},
        {"unbindable", MS_UNBINDABLE},     {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    MountFlags out;
    for (const auto& o : options) {
        bool done = false;
        for (const auto& f : flags) {
            if (o == f.name) {
                out.flags = f.clear ? (out.flags & ~f.flag) : (out.flags | f.flag);
                done = true;
                break;
            }
        }
        for (const auto& p : props) {
            if (!done && o == p.name) {
                out.propagation = p.flag;
                done = true;
            }
        }
        if (done) {
            continue;
        }
        if (o == "bind") {
            out.bind = true;
        } else if (o == "rbind") {
            out.bind = true;
            out.recursive = true;
        } else if (o == "rro") {
            out.recursive_ro = true;
            out.flags |= MS_RDONLY;
        } else if (o == "tmpcopyup" || o == "rrw" || o == "idmap" || o == "ridmap") {
            return Error(Errc::unsupported, fmt::format("mount option \"{}\" is not supported", o));
        } else if (o.empty()) {
            return Error(Errc::invalid_argument, "empty mount option");
        } else {
            if (!out.data.empty()) {
                out.data += ',';
            }
            out.data += o;
        }
    }
    return out;
}

int rlimit_resource(const std::string& name) {
    static const std::pair<const char*, int> table[] = {
        {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
        {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
        {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
        {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
    };
    for (const auto& [n, r] : table) {
        if (name == n) {
            return r;
        }
    }
    return -1;
}

}  // namespace berth::engine::runtime
