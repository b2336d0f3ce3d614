// SPDX-License-Identifier: Apache-2.0
#include "compose/orchestrator.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <thread>

#include "common/digest.hpp"
#include "common/failpoint.hpp"
#include "common/fs.hpp"
#include "common/scope_exit.hpp"
#include "compose/executor.hpp"
#include "compose/graph.hpp"
#include "compose/labels.hpp"
#include "compose/planner.hpp"
#include "compose/project_ops.hpp"
#include "netns/network.hpp"
#include "volumes/mount_plan.hpp"
#include "volumes/secrets.hpp"
#include "volumes/volume_store.hpp"

namespace berth::compose {

namespace ec = engine::containers;

namespace {

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) {
            out += sep;
        }
        out += p;
    }
    return out;
}

std::string_view condition_name(DependencyCondition c) {
    switch (c) {
    case DependencyCondition::service_healthy:
        return "service_healthy";
    case DependencyCondition::service_completed_successfully:
        return "service_completed_successfully";
    case DependencyCondition::service_started:
        break;
    }
    return "service_started";
}

/// The service's networks, engine names, highest priority first then by key.
std::vector<std::pair<std::string, const ServiceNetwork*>> service_networks(
    const Project& project, const Service& service) {
    std::vector<std::pair<std::string, const ServiceNetwork*>> keyed;
    for (const auto& [key, sn] : service.networks) {
        keyed.emplace_back(key, &sn);
    }
    if (keyed.empty() && service.network_mode.empty()) {
        static const ServiceNetwork none;
        keyed.emplace_back("default", &none);
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
        auto pa = a.second->priority.value_or(0);
        auto pb = b.second->priority.value_or(0);
        return pa != pb ? pa > pb : a.first < b.first;
    });
    std::vector<std::pair<std::string, const ServiceNetwork*>> out;
    for (const auto& [key, sn] : keyed) {
        auto it = project.networks.find(key);
        std::string name = it != project.networks.end() && !it->second.name.empty()
                               ? it->second.name
                               : fmt::format("{}_{}", project.name, key);
        out.emplace_back(std::move(name), sn);
    }
    return out;
}


ProjectContainer to_project_container(ec::ContainerRecord record, ec::ContainerState state) {
    ProjectContainer pc;
    const auto& l = record.config.labels;
    if (auto it = l.find(std::string(labels::service)); it != l.end()) {
        pc.service = it->second;
    }
    if (auto it = l.find(std::string(labels::container_number)); it != l.end()) {
        pc.number = std::atoi(it->second.c_str());
    }
    pc.record = std::move(record);
    pc.state = std::move(state);
    return pc;
}

bool is_running(const ec::ContainerState& s) {
    return s.status == ec::Status::running || s.status == ec::Status::restarting ||
           s.status == ec::Status::paused;
}

/// Serialises the callbacks, which several threads call.
struct Reporter {
    const ProgressFn& progress;
    const WarnFn& warn;
    std::mutex mu;

    void operator()(std::string_view kind, std::string_view name, std::string_view status) {
        std::lock_guard lock(mu);
        if (progress) {
            progress(kind, name, status);
        }
    }
    void warning(std::string_view message) {
        std::lock_guard lock(mu);
        if (warn) {
            warn(message);
        }
    }
};

Result<void> ensure_networks(const Paths& paths, const Project& project, Reporter& report) {
    std::set<std::string> used;
    for (const auto& [name, svc] : project.services) {
        (void)name;
        if (!svc.network_mode.empty()) {
            continue;
        }
        if (svc.networks.empty()) {
            used.insert("default");
        }
        for (const auto& [key, sn] : svc.networks) {
            (void)sn;
            used.insert(key);
        }
    }
    auto existing = netns::read_networks(paths);
    if (!existing) {
        return std::move(existing).error();
    }
    auto exists = [&](const std::string& name) {
        return std::any_of(existing->begin(), existing->end(),
                           [&](const netns::Network& n) { return n.name == name || n.id == name; });
    };
    for (const auto& key : used) {
        Network net;
        if (auto it = project.networks.find(key); it != project.networks.end()) {
            net = it->second;
        }
        auto spec = network_spec(project, key, net);
        net.name = spec.name;
        if (exists(net.name)) {
            continue;
        }
        if (net.external) {
            return Error(Errc::not_found,
                         fmt::format("network {} declared as external, but could not be found",
                                     net.name));
        }
        report("Network", net.name, "Creating");
        if (failpoint("compose_up_before_network")) {
            return Error(Errc::internal, "failpoint compose_up_before_network");
        }
        auto created = netns::create_network(paths, spec);
        if (!created && created.error().code() != Errc::already_exists) {
            return std::move(created).error().wrap(fmt::format("network {}", net.name));
        }
        if (failpoint("compose_up_after_network")) {
            return Error(Errc::internal, "failpoint compose_up_after_network");
        }
        report("Network", net.name, "Created");
    }
    return {};
}

Result<void> ensure_volumes(const Paths& paths, const Project& project, Reporter& report) {
    auto store = volumes::VolumeStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    for (const auto& [key, vol] : project.volumes) {
        std::string name = volume_name(project, key);
        if (store->get(name)) {
            continue;
        }
        if (vol.external) {
            return Error(Errc::not_found,
                         fmt::format("external volume \"{}\" not found", name));
        }
        volumes::CreateOptions opts;
        opts.name = name;
        if (!vol.driver.empty()) {
            opts.driver = vol.driver;
        }
        opts.options = vol.driver_opts;
        opts.labels = vol.labels;
        opts.labels[std::string(labels::project)] = project.name;
        opts.labels[std::string(labels::volume)] = key;
        opts.labels[std::string(labels::version)] = std::string(labels::compose_version);
        report("Volume", name, "Creating");
        if (failpoint("compose_up_before_volume")) {
            return Error(Errc::internal, "failpoint compose_up_before_volume");
        }
        auto created = store->create(opts);
        if (!created) {
            return std::move(created).error().wrap(fmt::format("volume {}", name));
        }
        if (failpoint("compose_up_after_volume")) {
            return Error(Errc::internal, "failpoint compose_up_after_volume");
        }
        report("Volume", name, "Created");
    }
    return {};
}

/// Stops then removes a container (and its anonymous volumes when asked).
Result<void> stop_and_remove(ec::ContainerStore& store, const ec::ContainerRecord& rec,
                             int timeout, bool volumes, Reporter& report) {
    auto st = store.state(rec.id);
    if (st && is_running(*st)) {
        report("Container", rec.name, "Stopping");
        if (auto r = ec::stop_container(store, rec, timeout); !r) {
            return std::move(r).error().wrap(fmt::format("stop {}", rec.name));
        }
        report("Container", rec.name, "Stopped");
    }
    if (failpoint("compose_remove_after_stop")) {
        return Error(Errc::internal, "failpoint compose_remove_after_stop");
    }
    report("Container", rec.name, "Removing");
    if (auto r = ec::remove_container(store, rec, true, volumes); !r) {
        return std::move(r).error().wrap(fmt::format("remove {}", rec.name));
    }
    report("Container", rec.name, "Removed");
    return {};
}

/// The services whose containers `service` shares a namespace with
/// (`service:X` in network_mode, ipc, pid, uts, cgroup) or takes volumes from.
std::set<std::string> shared_namespace_or_volumes(const Service& service) {
    std::set<std::string> out;
    for (const auto* mode : {&service.network_mode, &service.ipc, &service.pid, &service.uts,
                             &service.cgroup}) {
        if (mode->rfind("service:", 0) == 0) {
            out.insert(mode->substr(8));
        }
    }
    for (const auto& spec : service.volumes_from) {
        if (spec.rfind("container:", 0) == 0) {
            continue;
        }
        out.insert(spec.substr(0, spec.find(':')));
    }
    return out;
}

/// Shared state of one `up` run across the service workers.
struct UpRun {
    std::mutex mu;
    std::map<std::string, std::vector<ec::ContainerRecord>> records;
    std::map<std::string, std::string> first_ids;  ///< service -> id of replica 1
    /// service -> (number, id) of its lowest-numbered container, for volumes_from.
    std::map<std::string, std::pair<int, std::string>> service_ids;
    /// Services whose containers were recreated by this run.
    std::set<std::string> recreated;
};

}  // namespace

std::filesystem::path project_lock_path(const Paths& paths, std::string_view name) {
    return paths.locks() / "projects" / fmt::format("{}.lock", name);
}

Result<std::vector<ProjectContainer>> project_containers(const Paths& paths,
                                                         std::string_view project, bool oneoff) {
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto all = store->list();
    if (!all) {
        return std::move(all).error();
    }
    std::vector<ProjectContainer> out;
    for (auto& rec : *all) {
        const auto& l = rec.config.labels;
        auto it = l.find(std::string(labels::project));
        if (it == l.end() || (!project.empty() && it->second != project)) {
            continue;
        }
        auto of = l.find(std::string(labels::oneoff));
        if (!oneoff && of != l.end() && of->second == "True") {
            continue;
        }
        auto st = store->state(rec.id);
        out.push_back(to_project_container(std::move(rec), st ? *st : ec::ContainerState{}));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.record.config.labels.at(std::string(labels::project));
        const auto& pb = b.record.config.labels.at(std::string(labels::project));
        return pa != pb ? pa < pb : a.record.name < b.record.name;
    });
    return out;
}

Result<ec::ContainerConfig> container_config(
    const Project& project, const Service& service, int number,
    const std::map<std::string, std::string>& service_container_ids) {
    ec::ContainerConfig c;
    if (service.image.empty()) {
        return Error(Errc::unsupported,
                     fmt::format("service \"{}\" has no image (build is not supported by up yet)",
                                 service.name));
    }
    c.image = service.image;
    c.entrypoint = service.entrypoint;
    if (service.command) {
        c.cmd = *service.command;
    }
    for (const auto& [k, v] : service.environment) {
        if (v) {
            c.env.push_back(fmt::format("{}={}", k, *v));
        }
    }
    c.working_dir = service.working_dir;
    c.user = service.user;
    c.hostname = service.hostname;
    c.domainname = service.domainname;
    c.labels = service.labels;
    std::vector<std::string> files;
    for (const auto& f : project.config_files) {
        files.push_back(f.string());
    }
    std::vector<std::string> deps;
    for (const auto& [name, d] : service.depends_on) {
        deps.push_back(fmt::format("{}:{}:{}", name, condition_name(d.condition),
                                   d.restart ? "true" : "false"));
    }
    c.labels[std::string(labels::project)] = project.name;
    c.labels[std::string(labels::service)] = service.name;
    c.labels[std::string(labels::container_number)] = std::to_string(number);
    c.labels[std::string(labels::config_hash)] = service_config_hash(project, service);
    c.labels[std::string(labels::oneoff)] = "False";
    c.labels[std::string(labels::working_dir)] = project.working_dir.string();
    c.labels[std::string(labels::config_files)] = join(files, ",");
    c.labels[std::string(labels::depends_on)] = join(deps, ",");
    c.labels[std::string(labels::version)] = std::string(labels::compose_version);
    c.labels[std::string(labels::image)] = service.image;
    c.tty = service.tty;
    c.open_stdin = service.stdin_open;
    c.init = service.init.value_or(false);
    c.read_only = service.read_only;
    c.privileged = service.privileged;
    c.cap_add = service.cap_add;
    c.cap_drop = service.cap_drop;
    c.memory = service.mem_limit.value_or(0);
    c.memory_swap = service.memswap_limit.value_or(0);
    c.nano_cpus = service.cpus ? static_cast<int64_t>(*service.cpus * 1e9) : 0;
    c.cpu_shares = service.cpu_shares.value_or(0);
    c.pids_limit = service.pids_limit.value_or(0);
    c.shm_size = service.shm_size.value_or(0);
    for (const auto& [name, u] : service.ulimits) {
        ec::Ulimit ul;
        ul.name = name;
        ul.soft = u.single ? *u.single : u.soft;
        ul.hard = u.single ? *u.single : u.hard;
        c.ulimits.push_back(ul);
    }
    if (!service.restart.empty()) {
        auto policy = ec::parse_restart_policy(service.restart);
        if (!policy) {
            return std::move(policy).error();
        }
        c.restart = *policy;
    }
    c.stop_signal = service.stop_signal;
    if (service.stop_grace_period) {
        c.stop_timeout = static_cast<int>(
            std::chrono::duration_cast<std::chrono::seconds>(*service.stop_grace_period).count());
    }
    const auto& mode = service.network_mode;
    if (!mode.empty()) {
        if (mode.rfind("service:", 0) == 0) {
            auto it = service_container_ids.find(mode.substr(8));
            if (it == service_container_ids.end()) {
                return Error(Errc::failed_precondition,
                             fmt::format("service {} is not running", mode.substr(8)));
            }
            c.network_mode = "container:" + it->second;
        } else {
            c.network_mode = mode;
        }
    } else {
        auto nets = service_networks(project, service);
        c.network_aliases.push_back(service.name);
        for (size_t i = 0; i < nets.size(); ++i) {
            if (i == 0) {
                c.network_mode = nets[i].first;
                c.ipv4_address = nets[i].second->ipv4_address;
                c.ipv6_address = nets[i].second->ipv6_address;
            } else {
                c.networks.push_back(nets[i].first);
            }
            for (const auto& a : nets[i].second->aliases) {
                if (std::find(c.network_aliases.begin(), c.network_aliases.end(), a) ==
                    c.network_aliases.end()) {
                    c.network_aliases.push_back(a);
                }
            }
        }
    }
    for (const auto& p : service.ports) {
        std::string spec;
        if (!p.host_ip.empty()) {
            spec = p.host_ip + ":" + p.published + ":";
        } else if (!p.published.empty()) {
            spec = p.published + ":";
        }
        spec += fmt::format("{}/{}", p.target, p.protocol.empty() ? "tcp" : p.protocol);
        c.publish.push_back(std::move(spec));
    }
    c.dns = service.dns;
    c.dns_search = service.dns_search;
    c.dns_options = service.dns_opt;
    for (const auto& h : service.extra_hosts) {
        auto eq = h.find('=');
        c.extra_hosts.push_back(eq == std::string::npos ? h
                                                        : h.substr(0, eq) + ":" + h.substr(eq + 1));
    }
    if (service.healthcheck) {
        const auto& h = *service.healthcheck;
        ec::HealthConfig hc;
        if (h.disable) {
            hc.test = {"NONE"};
        } else {
            hc.test = h.test;
            hc.interval_ns = h.interval ? h.interval->count() : 0;
            hc.timeout_ns = h.timeout ? h.timeout->count() : 0;
            hc.start_period_ns = h.start_period ? h.start_period->count() : 0;
            hc.start_interval_ns = h.start_interval ? h.start_interval->count() : 0;
            hc.retries = h.retries ? static_cast<int>(*h.retries) : 0;
        }
        if (!hc.test.empty()) {
            c.healthcheck = hc;
        }
    }
    c.sysctls = service.sysctls;
    return c;
}

namespace {

/// The last healthcheck output of a container, trimmed, for error messages.
std::string last_probe_output(const ec::ContainerState& st) {
    if (st.health_log.empty()) {
        return {};
    }
    std::string out = st.health_log.back().output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
        out.pop_back();
    }
    return out;
}

std::string unhealthy_message(const std::string& container, const ec::ContainerState& st) {
    auto out = last_probe_output(st);
    return out.empty() ? fmt::format("container {} is unhealthy", container)
                       : fmt::format("container {} is unhealthy: last probe output: {}",
                                     container, out);
}

Result<std::uint32_t> parse_id(const std::string& text, std::string_view what,
                               const std::string& ctx) {
    if (text.empty()) {
        return 0u;
    }
    std::uint32_t v = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9' || v > 100'000'000u) {
            return Error(Errc::invalid_argument,
                         fmt::format("{}: {} \"{}\" is not a number", ctx, what, text));
        }
        v = v * 10 + static_cast<std::uint32_t>(ch - '0');
    }
    return v;
}

/// True when `path` is `dir` or below it (container paths, already clean).
bool path_under(const std::string& path, const std::string& dir) {
    if (dir == "/") {
        return true;
    }
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                           path[dir.size()] == '/');
}

/// Writes the service's secrets and configs into the container's directory
/// and appends their read-only bind mounts to `config.mounts`. A target below
/// a bind or volume mount of the container is checked inside that mount's
/// source, where another container may have planted a symlink (RELIABILITY row
/// 19a): such a target is refused. The runtime resolves every mount target
/// inside the container's root, so a link planted later still cannot reach
/// the host.
Result<void> add_secret_mounts(const ec::ContainerStore& store, const Project& project,
                               const Service& service, const std::string& id,
                               ec::ContainerConfig& config) {
    if (service.secrets.empty() && service.configs.empty()) {
        return {};
    }
    volumes::EnvLookup env = [&project](const std::string& key) -> std::optional<std::string> {
        auto it = project.environment.find(key);
        if (it == project.environment.end()) {
            return std::nullopt;
        }
        return it->second;
    };
    std::vector<volumes::SecretRequest> requests;
    auto collect = [&](volumes::SecretKind kind, const std::map<std::string, FileObject>& defs,
                       const std::vector<FileReference>& refs) -> Result<void> {
        const char* what = kind == volumes::SecretKind::secret ? "secret" : "config";
        for (const auto& ref : refs) {
            auto ctx = fmt::format("service \"{}\": {} {}", service.name, what, ref.source);
            auto it = defs.find(ref.source);
            if (it == defs.end()) {
                return Error(Errc::not_found, fmt::format("{}: undefined", ctx));
            }
            const auto& def = it->second;
            volumes::SecretRequest r;
            r.kind = kind;
            // One file per reference: a secret used twice may differ in mode or owner.
            r.name = fmt::format("{}-{}", requests.size(), ref.source);
            if (def.external) {
                return Error(Errc::unsupported,
                             fmt::format("{}: external {}s need a swarm; use file, "
                                         "environment{}",
                                         ctx, what,
                                         kind == volumes::SecretKind::config ? " or content" : ""));
            }
            if (!def.file.empty()) {
                r.source = volumes::SecretSource::file;
                r.value = def.file;
            } else if (!def.environment.empty()) {
                r.source = volumes::SecretSource::environment;
                r.value = def.environment;
            } else {
                r.source = volumes::SecretSource::content;
                r.value = def.content;
            }
            r.target = ref.target;
            if (r.target.empty()) {
                r.target = kind == volumes::SecretKind::secret ? "/run/secrets/" + ref.source
                                                               : "/" + ref.source;
            }
            auto uid = parse_id(ref.uid, "uid", ctx);
            if (!uid) {
                return std::move(uid).error();
            }
            auto gid = parse_id(ref.gid, "gid", ctx);
            if (!gid) {
                return std::move(gid).error();
            }
            r.uid = *uid;
            r.gid = *gid;
            r.mode = ref.mode.value_or(0444);
            requests.push_back(std::move(r));
        }
        return {};
    };
    if (auto r = collect(volumes::SecretKind::secret, project.secrets, service.secrets); !r) {
        return r;
    }
    if (auto r = collect(volumes::SecretKind::config, project.configs, service.configs); !r) {
        return r;
    }
    auto dir = store.dir(id);
    if (auto r = fs::make_dirs(dir, 0700); !r) {
        return r;
    }
    std::vector<nlohmann::json> added;
    for (const auto& req : requests) {
        // The absolute target as the volumes module computes it (relative
        // secret targets go under /run/secrets).
        std::string target = req.target;
        if (target.front() != '/') {
            target = (req.kind == volumes::SecretKind::secret ? "/run/secrets/" : "/") + target;
        }
        target = volumes::clean_container_path(target);
        // The deepest bind or volume mount that covers the target.
        const nlohmann::json* cover = nullptr;
        std::string cover_dest;
        for (const auto& m : config.mounts) {
            if (m.value("type", "") != "bind") {
                continue;
            }
            auto dest = volumes::clean_container_path(m.value("destination", ""));
            if (dest != target && path_under(target, dest) &&
                (cover == nullptr || dest.size() > cover_dest.size())) {
                cover = &m;
                cover_dest = dest;
            }
        }
        std::error_code ec_stat;
        std::optional<std::filesystem::path> root;
        volumes::SecretRequest checked = req;
        if (cover != nullptr &&
            std::filesystem::is_directory(cover->value("source", ""), ec_stat)) {
            root = std::filesystem::path(cover->value("source", ""));
            checked.target = cover_dest == "/" ? target : target.substr(cover_dest.size());
        }
        auto mounts = volumes::prepare_secret_or_config(dir, std::span(&checked, 1), root, env);
        if (!mounts) {
            return std::move(mounts).error().wrap(fmt::format("service \"{}\"", service.name));
        }
        for (auto& m : *mounts) {
            m["destination"] = target;
            added.push_back(std::move(m));
        }
    }
    for (auto& m : added) {
        config.mounts.push_back(std::move(m));
    }
    return {};
}

/// Adds the mounts of the containers named by `volumes_from` (binds and
/// volumes; not tmpfs and not their secrets), with `:ro`/`:rw` applied, and
/// acquires their volumes for container `id`. `service_ids` maps a service to
/// its first container.
Result<void> add_volumes_from(const ec::ContainerStore& store, const Service& service,
                              const std::string& id,
                              const std::map<std::string, std::string>& service_ids,
                              ec::ContainerConfig& config) {
    if (service.volumes_from.empty()) {
        return {};
    }
    auto vstore = volumes::VolumeStore::open(store.paths());
    if (!vstore) {
        return std::move(vstore).error();
    }
    std::set<std::string> taken;
    for (const auto& m : config.mounts) {
        taken.insert(volumes::clean_container_path(m.value("destination", "")));
    }
    for (const auto& spec : service.volumes_from) {
        auto ctx = fmt::format("service \"{}\": volumes_from {}", service.name, spec);
        auto from = volumes::parse_volumes_from(spec);
        if (!from) {
            return std::move(from).error().wrap(ctx);
        }
        std::string ref = from->container;
        if (spec.rfind("container:", 0) != 0) {
            auto it = service_ids.find(from->container);
            if (it == service_ids.end()) {
                return Error(Errc::failed_precondition,
                             fmt::format("{}: service {} has no container", ctx, from->container));
            }
            ref = it->second;
        }
        auto source = store.get(ref);
        if (!source) {
            return std::move(source).error().wrap(ctx);
        }
        auto own_files = store.dir(source->id).native() + "/";
        for (const auto& m : source->config.mounts) {
            auto dest = volumes::clean_container_path(m.value("destination", ""));
            auto src = m.value("source", "");
            if (m.value("type", "") == "tmpfs" || src.rfind(own_files, 0) == 0 ||
                !taken.insert(dest).second) {
                continue;
            }
            nlohmann::json copy = m;
            if (from->read_only) {
                nlohmann::json opts = nlohmann::json::array();
                for (const auto& o : m.value("options", nlohmann::json::array())) {
                    if (o != "ro" && o != "rw") {
                        opts.push_back(o);
                    }
                }
                opts.push_back(*from->read_only ? "ro" : "rw");
                copy["options"] = std::move(opts);
            }
            config.mounts.push_back(std::move(copy));
        }
        for (const auto& name : source->config.volumes) {
            if (std::find(config.volumes.begin(), config.volumes.end(), name) !=
                config.volumes.end()) {
                continue;
            }
            auto acquired = vstore->acquire(name, id);
            if (!acquired) {
                return std::move(acquired).error().wrap(ctx);
            }
            config.volumes.push_back(name);
        }
    }
    return {};
}

/// Waits until a dependency's containers satisfy `condition`.
/// Whether `dep`'s containers meet `condition` now: true when they do, false
/// while they may still, an error when they cannot any more. Never blocks: the
/// graph run asks again at its poll interval.
Result<bool> condition_met(ec::ContainerStore& store, const std::string& dep,
                           DependencyCondition condition,
                           const std::vector<ec::ContainerRecord>& records) {
    for (const auto& rec : records) {
        if (condition == DependencyCondition::service_started) {
            continue;
        }
        auto st = store.state(rec.id);
        if (!st) {
            return std::move(st).error();
        }
        if (condition == DependencyCondition::service_completed_successfully) {
            if (is_running(*st) || st->status == ec::Status::restarting) {
                return false;
            }
            if (st->exit_code != 0) {
                return Error(Errc::failed_precondition,
                             fmt::format("service \"{}\" didn't complete successfully: exit {}",
                                         dep, st->exit_code));
            }
            continue;
        }
        if (st->health_status == "healthy") {
            continue;
        }
        if (st->health_status == "unhealthy") {
            return Error(Errc::failed_precondition,
                         fmt::format("dependency failed to start: {}",
                                     unhealthy_message(rec.name, *st)));
        }
        if (!is_running(*st)) {
            return Error(Errc::failed_precondition,
                         fmt::format("dependency failed to start: container {} exited ({})",
                                     rec.name, st->exit_code));
        }
        if (st->health_status.empty()) {
            return Error(Errc::failed_precondition,
                         fmt::format("container {} has no healthcheck configured", rec.name));
        }
        return false;
    }
    return true;
}

/// `containers/.compose-creating-<project>-<id>` marks a container of the
/// project that has no record yet; it exists before the container directory does.
std::filesystem::path creating_marker(const Paths& paths, std::string_view project,
                                      const std::string& id) {
    return paths.containers() / fmt::format(".compose-creating-{}-{}", project, id);
}

/// Undoes what a killed `up` left of containers it was creating: the directory
/// of a creating marker of `project` whose container has no record, and the
/// volumes held for it (anonymous ones are removed), and the marker (or the
/// temporary file of its atomic write). Runs under the project lock, so no
/// create of the project is in progress.
void sweep_half_created(const Paths& paths, std::string_view project) {
    const auto marker_prefix = fmt::format(".compose-creating-{}-", project);
    const auto tmp_prefix = ".tmp-" + marker_prefix;
    std::error_code ec;
    std::vector<std::string> ids;
    for (const auto& e : std::filesystem::directory_iterator(paths.containers(), ec)) {
        auto file = e.path().filename().string();
        if (file.rfind(marker_prefix, 0) == 0 && file.size() == marker_prefix.size() + 64) {
            ids.push_back(file.substr(marker_prefix.size()));
        } else if (file.rfind(tmp_prefix, 0) == 0 && file.size() > tmp_prefix.size() + 65 &&
                   file[tmp_prefix.size() + 64] == '-') {
            ::unlink(e.path().c_str());
        }
    }
    std::optional<volumes::VolumeStore> vstore;
    std::vector<volumes::Volume> vols;
    if (!ids.empty()) {
        if (auto v = volumes::VolumeStore::open(paths); v) {
            if (auto l = v->list(); l) {
                vols = std::move(*l);
            }
            vstore.emplace(std::move(*v));
        }
    }
    for (const auto& id : ids) {
        if (!std::filesystem::exists(paths.container(id) / "record.json", ec)) {
            for (const auto& v : vols) {
                auto holders = vstore->holders(v.name);
                if (!holders ||
                    std::find(holders->begin(), holders->end(), id) == holders->end()) {
                    continue;
                }
                auto released = vstore->release(v.name, id);
                (void)released;
                bool anonymous =
                    v.anonymous || v.labels.count(std::string(volumes::anonymous_label)) != 0;
                if (anonymous && holders->size() == 1) {
                    auto removed =
                        vstore->remove(v.name, true, [](const std::string&) { return false; });
                    (void)removed;
                }
            }
            auto removed = fs::remove_tree(paths.container(id));
            (void)removed;
        }
        ::unlink(creating_marker(paths, project, id).c_str());
    }
}

/// Creates one container of `service`: mounts prepared first, then
/// volumes_from, secrets and configs. On failure nothing is left; a kill
/// leaves the creating marker for sweep_half_created.
Result<ec::ContainerRecord> create_one(ec::ContainerStore& store, const Project& project,
                                       const Service& service, const ContainerAction& action,
                                       const ec::ImageRef& image, const EngineHooks& hooks,
                                       const std::map<std::string, std::string>& first_ids,
                                       const std::map<std::string, std::string>& service_ids,
                                       const std::map<std::string, std::string>& reuse = {}) {
    auto config = container_config(project, service, action.number, first_ids);
    if (!config) {
        return std::move(config).error();
    }
    if (failpoint("compose_up_before_container")) {
        return Error(Errc::internal, "failpoint compose_up_before_container");
    }
    auto id = random_hex_id();
    auto [mounts, tmpfs] = service_mounts(project, service);
    // A recreated container keeps the anonymous volumes of the one it replaces.
    std::vector<std::string> reused;
    for (size_t i = 0; i < service.volumes.size() && i < mounts.size(); ++i) {
        const auto& v = service.volumes[i];
        auto it = reuse.find(v.target);
        if (v.type == MountType::volume && v.source.empty() && it != reuse.end()) {
            mounts[i].replace(0, std::string_view("type=volume,").size(),
                              fmt::format("type=volume,source={},", it->second));
            reused.push_back(it->second);
        }
    }
    const auto marker = creating_marker(store.paths(), project.name, id);
    if (auto r = fs::write_atomic(marker, project.name); !r) {
        return std::move(r).error();
    }
    ScopeExit unmark([&] { ::unlink(marker.c_str()); });
    if (auto r = hooks.prepare_mounts(id, mounts, tmpfs, image, *config); !r) {
        auto removed = fs::remove_tree(store.dir(id));
        (void)removed;
        return std::move(r).error();
    }
    ScopeExit undo([&] {
        hooks.release_mounts(id, *config);
        auto removed = fs::remove_tree(store.dir(id));
        (void)removed;
    });
    if (auto r = add_volumes_from(store, service, id, service_ids, *config); !r) {
        return std::move(r).error();
    }
    if (auto r = add_secret_mounts(store, project, service, id, *config); !r) {
        return std::move(r).error();
    }
    if (failpoint("container_create_after_secrets")) {
        return Error(Errc::internal, "failpoint container_create_after_secrets");
    }
    // Listed as anonymous in the record only: a failed create must release the
    // reused volumes, never remove them.
    auto recorded = *config;
    recorded.anonymous_volumes.insert(recorded.anonymous_volumes.end(), reused.begin(),
                                      reused.end());
    auto rec = ec::create_container(store, std::move(recorded), action.name, image, id);
    if (rec) {
        undo.cancel();
    }
    return rec;
}

}  // namespace

Result<void> up(const Paths& paths, const Project& project, const UpOptions& options,
                const EngineHooks& hooks, const ProgressFn& progress, const WarnFn& warn) {
    std::error_code ec_dir;
    std::filesystem::create_directories(project_lock_path(paths, project.name).parent_path(),
                                        ec_dir);
    auto lock = fs::FileLock::acquire(project_lock_path(paths, project.name));
    if (!lock) {
        return std::move(lock).error();
    }
    sweep_half_created(paths, project.name);
    Reporter report{progress, warn, {}};
    auto graph = DependencyGraph::from(project);
    auto order = graph.topological_order();
    if (!order) {
        return std::move(order).error();
    }
    std::set<std::string> selected;
    for (const auto& s : options.services) {
        if (project.services.count(s) == 0) {
            return Error(Errc::not_found, fmt::format("no such service: {}", s));
        }
    }
    if (options.services.empty()) {
        for (const auto& [name, svc] : project.services) {
            (void)svc;
            selected.insert(name);
        }
    } else if (options.no_deps) {
        selected = options.services;
    } else {
        selected = graph.closure(options.services);
    }
    for (const auto& [name, n] : options.scale) {
        auto it = project.services.find(name);
        if (it == project.services.end()) {
            return Error(Errc::not_found, fmt::format("no such service: {}", name));
        }
        if (n < 0) {
            return Error(Errc::invalid_argument,
                         fmt::format("service \"{}\": invalid scale {}", name, n));
        }
    }
    auto desired = desired_services(project, options.scale);
    for (const auto& d : desired) {
        if (d.replicas > 1 && !d.container_name.empty()) {
            return Error(Errc::invalid_argument,
                         fmt::format("service \"{}\" sets container_name \"{}\": it cannot have "
                                     "{} replicas (container names are unique)",
                                     d.name, d.container_name, d.replicas));
        }
    }
    // Images first, one at a time (seeding the built-in image is not concurrent).
    std::map<std::string, ec::ImageRef> images;
    for (const auto& name : selected) {
        const auto& svc = project.services.at(name);
        if (svc.image.empty()) {
            return Error(Errc::unsupported,
                         fmt::format("service \"{}\" has no image (build is not supported yet)",
                                     name));
        }
        auto image = hooks.resolve_image(svc.image);
        if (!image) {
            return std::move(image).error().wrap(fmt::format("service \"{}\"", name));
        }
        for (auto& d : desired) {
            if (d.name == name) {
                d.image_id = image->id;
            }
        }
        images[name] = std::move(*image);
    }
    if (auto r = ensure_networks(paths, project, report); !r) {
        return r;
    }
    if (auto r = ensure_volumes(paths, project, report); !r) {
        return r;
    }
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto existing = project_containers(paths, project.name);
    if (!existing) {
        return std::move(existing).error();
    }
    std::vector<ObservedContainer> observed;
    UpRun run;
    for (const auto& pc : *existing) {
        ObservedContainer o;
        o.id = pc.record.id;
        o.name = pc.record.name;
        o.service = pc.service;
        o.number = pc.number;
        auto it = pc.record.config.labels.find(std::string(labels::config_hash));
        o.config_hash = it != pc.record.config.labels.end() ? it->second : std::string();
        o.image_id = pc.record.image_id;
        o.running = is_running(pc.state);
        bool running = o.running;
        observed.push_back(std::move(o));
        if (pc.number == 1 && running) {
            run.first_ids[pc.service] = pc.record.id;
        }
        auto& lowest = run.service_ids[pc.service];
        if (lowest.first == 0 || pc.number < lowest.first) {
            lowest = {pc.number, pc.record.id};
        }
        if (selected.count(pc.service) == 0) {
            run.records[pc.service].push_back(pc.record);
        }
    }
    PlanOptions popts;
    popts.force_recreate = options.force_recreate;
    popts.no_recreate = options.no_recreate;
    popts.services = selected;
    auto plan = plan_up(project.name, desired, observed, popts);
    if (!plan.orphans.empty()) {
        if (options.remove_orphans) {
            for (const auto& o : plan.orphans) {
                auto rec = store->get(o.id);
                if (rec) {
                    if (auto r = stop_and_remove(*store, *rec, options.timeout, false, report);
                        !r) {
                        return r;
                    }
                }
            }
        } else {
            std::vector<std::string> names;
            for (const auto& o : plan.orphans) {
                names.push_back(o.name);
            }
            report.warning(fmt::format(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this "
                "service in your compose file, you can run this command with the "
                "--remove-orphans flag to clean it up.",
                join(names, " ")));
        }
    }
    // The gate of a service: each dependency's condition, asked without
    // blocking once the dependency's own actions are done.
    auto gate = [&](const std::string& name) -> Result<bool> {
        const auto& svc = project.services.at(name);
        if (options.no_start) {
            return true;
        }
        for (const auto& dep : graph.dependencies(name)) {
            if (selected.count(dep) == 0) {
                continue;
            }
            std::vector<ec::ContainerRecord> dep_records;
            {
                std::lock_guard lk(run.mu);
                dep_records = run.records[dep];
            }
            auto cond = DependencyCondition::service_started;
            if (auto it = svc.depends_on.find(dep); it != svc.depends_on.end()) {
                cond = it->second.condition;
            }
            auto met = condition_met(*store, dep, cond, dep_records);
            if (!met || !*met) {
                return met;
            }
        }
        return true;
    };
    auto work = [&](const std::string& name) -> Result<void> {
        const auto& svc = project.services.at(name);
        std::map<std::string, std::string> first_ids;
        std::map<std::string, std::string> service_ids;
        // A container that shares a namespace or the volumes of a recreated
        // one must be recreated too; `depends_on: {restart: true}` restarts.
        bool must_recreate = false;
        bool must_restart = false;
        {
            std::lock_guard lk(run.mu);
            first_ids = run.first_ids;
            for (const auto& [svc_name, entry] : run.service_ids) {
                service_ids[svc_name] = entry.second;
            }
            for (const auto& dep : shared_namespace_or_volumes(svc)) {
                must_recreate = must_recreate || run.recreated.count(dep) != 0;
            }
            for (const auto& [dep, d] : svc.depends_on) {
                must_restart = must_restart || (d.restart && run.recreated.count(dep) != 0);
            }
        }
        auto actions = plan.services.find(name);
        if (actions == plan.services.end()) {
            return {};
        }
        for (auto a : actions->second) {
            std::optional<ec::ContainerRecord> rec;
            bool start = !options.no_start;
            if (must_recreate && !options.no_recreate &&
                (a.kind == ActionKind::keep || a.kind == ActionKind::start)) {
                a.kind = ActionKind::recreate;
            }
            if (a.kind == ActionKind::keep && must_restart && !options.no_start) {
                auto old = store->get(a.existing_id);
                if (!old) {
                    return std::move(old).error();
                }
                report("Container", a.name, "Restarting");
                if (auto r = ec::stop_container(*store, *old, options.timeout); !r) {
                    return std::move(r).error().wrap(fmt::format("stop {}", old->name));
                }
                a.kind = ActionKind::start;
            }
            switch (a.kind) {
            case ActionKind::remove: {
                auto old = store->get(a.existing_id);
                if (old) {
                    if (auto r = stop_and_remove(*store, *old, options.timeout, false, report);
                        !r) {
                        return r;
                    }
                }
                continue;
            }
            case ActionKind::keep: {
                auto old = store->get(a.existing_id);
                if (!old) {
                    return std::move(old).error();
                }
                rec = *old;
                report("Container", a.name, "Running");
                start = false;
                break;
            }
            case ActionKind::start: {
                auto old = store->get(a.existing_id);
                if (!old) {
                    return std::move(old).error();
                }
                rec = *old;
                break;
            }
            case ActionKind::recreate: {
                auto old = store->get(a.existing_id);
                std::map<std::string, std::string> reuse;  // target -> anonymous volume
                if (old) {
                    for (const auto& vol : old->config.anonymous_volumes) {
                        auto data = "/volumes/" + vol + "/_data";
                        for (const auto& m : old->config.mounts) {
                            auto src = m.value("source", "");
                            if (src.size() > data.size() &&
                                src.compare(src.size() - data.size(), data.size(), data) == 0) {
                                reuse[m.value("destination", "")] = vol;
                            }
                        }
                    }
                }
                if (old) {
                    report("Container", old->name, "Recreate");
                    auto st = store->state(old->id);
                    if (st && is_running(*st)) {
                        if (auto r = ec::stop_container(*store, *old, options.timeout); !r) {
                            return std::move(r).error().wrap(fmt::format("stop {}", old->name));
                        }
                    }
                    if (auto r = ec::remove_container(*store, *old, true, false); !r) {
                        return std::move(r).error().wrap(fmt::format("remove {}", old->name));
                    }
                }
                auto created = create_one(*store, project, svc, a, images.at(name), hooks,
                                          first_ids, service_ids, reuse);
                if (!created) {
                    return std::move(created).error();
                }
                rec = *created;
                if (failpoint("compose_up_after_create")) {
                    return Error(Errc::internal, "failpoint compose_up_after_create");
                }
                report("Container", a.name, "Recreated");
                std::lock_guard lk(run.mu);
                run.recreated.insert(name);
                break;
            }
            case ActionKind::create: {
                report("Container", a.name, "Creating");
                auto created = create_one(*store, project, svc, a, images.at(name), hooks,
                                          first_ids, service_ids);
                if (!created) {
                    return std::move(created).error();
                }
                rec = *created;
                if (failpoint("compose_up_after_create")) {
                    return Error(Errc::internal, "failpoint compose_up_after_create");
                }
                report("Container", a.name, "Created");
                break;
            }
            }
            if (start) {
                report("Container", a.name, "Starting");
                if (auto r = ec::start_container(*store, *rec); !r) {
                    return std::move(r).error();
                }
                report("Container", a.name, "Started");
                if (failpoint("compose_up_after_start")) {
                    return Error(Errc::internal, "failpoint compose_up_after_start");
                }
            }
            std::lock_guard lk(run.mu);
            run.records[name].push_back(*rec);
            if (a.number == 1) {
                run.first_ids[name] = rec->id;
            }
            auto& lowest = run.service_ids[name];
            if (lowest.first == 0 || a.number <= lowest.first) {
                lowest = {a.number, rec->id};
            }
        }
        return {};
    };
    std::vector<GraphNode> nodes;
    for (const auto& name : *order) {
        if (selected.count(name) == 0) {
            continue;
        }
        nodes.push_back(GraphNode{name, graph.dependencies(name),
                                  [&gate, name] { return gate(name); },
                                  [&work, name] { return work(name); }});
    }
    GraphRunOptions gopts;
    gopts.parallel_limit = options.parallel_limit;
    const auto failures = run_graph(std::move(nodes), gopts);
    if (!failures.empty()) {
        // Every real failure (not a dependency that failed), in service order;
        // the class is the first one's.
        std::vector<std::string> messages;
        std::optional<Errc> code;
        for (const auto& [name, err] : failures) {
            if (err.message().rfind("dependency failed to start: service", 0) != 0) {
                messages.push_back(fmt::format("service \"{}\": {}", name, err.message()));
                code = code.value_or(err.code());
            }
        }
        if (!messages.empty()) {
            return Error(*code, join(messages, "; "));
        }
        const auto& [name, err] = *failures.begin();
        return Error(err.code(), fmt::format("service \"{}\": {}", name, err.message()));
    }
    return {};
}

/// One node per container of `targets`, each after the containers of the
/// services that depend on its service (the dependency graph reversed), with
/// `action` as its work. Containers of services the project does not know
/// (orphans) have no edges.
std::vector<GraphNode> reverse_nodes(
    const Project& project, const std::vector<ec::ContainerRecord>& targets,
    const std::function<Result<void>(const ec::ContainerRecord&)>& action) {
    auto graph = DependencyGraph::from(project);
    std::map<std::string, std::set<std::string>> by_service;  // service -> container names
    auto service_of = [](const ec::ContainerRecord& rec) {
        auto it = rec.config.labels.find(std::string(labels::service));
        return it == rec.config.labels.end() ? std::string() : it->second;
    };
    for (const auto& rec : targets) {
        by_service[service_of(rec)].insert(rec.name);
    }
    std::vector<GraphNode> nodes;
    for (const auto& rec : targets) {
        GraphNode node;
        node.name = rec.name;
        const auto service = service_of(rec);
        if (project.services.count(service) != 0) {
            for (const auto& dependent : graph.dependents(service)) {
                if (auto it = by_service.find(dependent); it != by_service.end()) {
                    node.after.insert(it->second.begin(), it->second.end());
                }
            }
        }
        node.action = [action, rec] { return action(rec); };
        nodes.push_back(std::move(node));
    }
    return nodes;
}

/// Runs the nodes of reverse_nodes(); every container is tried even when one
/// of its dependents failed, and the errors come back joined.
Result<void> run_reverse(std::vector<GraphNode> nodes) {
    GraphRunOptions gopts;
    // Stopping is mostly waiting for a grace period: all of a level at once.
    gopts.parallel_limit = 256;
    gopts.propagate_failure = false;
    auto failures = run_graph(std::move(nodes), gopts);
    if (failures.empty()) {
        return {};
    }
    std::vector<std::string> errors;
    for (const auto& [name, err] : failures) {
        errors.push_back(err.message());
    }
    std::sort(errors.begin(), errors.end());
    return Error(Errc::internal, join(errors, "; "));
}

Result<void> stop(const Paths& paths, const Project& project,
                  const std::set<std::string>& services, int timeout,
                  const ProgressFn& progress) {
    WarnFn no_warn;
    Reporter report{progress, no_warn, {}};
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto containers = project_containers(paths, project.name);
    if (!containers) {
        return std::move(containers).error();
    }
    std::vector<ec::ContainerRecord> targets;
    for (const auto& pc : *containers) {
        if (is_running(pc.state) && (services.empty() || services.count(pc.service) != 0)) {
            targets.push_back(pc.record);
        }
    }
    return run_reverse(reverse_nodes(project, targets, [&](const ec::ContainerRecord& rec) {
        report("Container", rec.name, "Stopping");
        if (auto r = ec::stop_container(*store, rec, timeout); !r) {
            return Result<void>(std::move(r).error());
        }
        report("Container", rec.name, "Stopped");
        return Result<void>{};
    }));
}

Result<void> wait_healthy(const Paths& paths, const Project& project,
                          const std::set<std::string>& services,
                          std::chrono::milliseconds timeout, const ProgressFn& progress) {
    WarnFn no_warn;
    Reporter report{progress, no_warn, {}};
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto containers = project_containers(paths, project.name);
    if (!containers) {
        return std::move(containers).error();
    }
    std::set<std::string> jobs;
    for (const auto& [name, svc] : project.services) {
        (void)name;
        for (const auto& [dep, d] : svc.depends_on) {
            if (d.condition == DependencyCondition::service_completed_successfully) {
                jobs.insert(dep);
            }
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<ec::ContainerRecord> pending;
    for (const auto& pc : *containers) {
        if (services.empty() || services.count(pc.service) != 0) {
            report("Container", pc.record.name, "Waiting");
            pending.push_back(pc.record);
        }
    }
    while (!pending.empty()) {
        std::vector<ec::ContainerRecord> still;
        for (const auto& rec : pending) {
            auto st = store->state(rec.id);
            if (!st) {
                return std::move(st).error();
            }
            auto service = rec.config.labels.at(std::string(labels::service));
            bool running = is_running(*st);
            if (jobs.count(service) != 0 || !running) {
                if (running) {
                    still.push_back(rec);
                } else if (st->exit_code == 0 && st->status == ec::Status::exited) {
                    report("Container", rec.name, "Exited");
                } else {
                    return Error(Errc::failed_precondition,
                                 fmt::format("container {} exited ({})", rec.name,
                                             st->exit_code));
                }
                continue;
            }
            if (st->health_status.empty() || st->health_status == "healthy") {
                report("Container", rec.name, "Healthy");
                continue;
            }
            if (st->health_status == "unhealthy") {
                return Error(Errc::failed_precondition, unhealthy_message(rec.name, *st));
            }
            still.push_back(rec);
        }
        pending = std::move(still);
        if (pending.empty()) {
            break;
        }
        if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
            std::vector<std::string> parts;
            for (const auto& rec : pending) {
                auto st = store->state(rec.id);
                auto out = st ? last_probe_output(*st) : std::string();
                parts.push_back(out.empty()
                                    ? fmt::format("container {} is not ready", rec.name)
                                    : fmt::format("container {} is not ready: last probe "
                                                  "output: {}",
                                                  rec.name, out));
            }
            return Error(Errc::unavailable,
                         fmt::format("application not healthy after {}: {}",
                                     format_duration(timeout), join(parts, "; ")));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return {};
}

Result<void> down(const Paths& paths, const Project& project, const DownOptions& options,
                  const ProgressFn& progress, const WarnFn& warn) {
    std::error_code ec_dir;
    std::filesystem::create_directories(project_lock_path(paths, project.name).parent_path(),
                                        ec_dir);
    auto lock = fs::FileLock::acquire(project_lock_path(paths, project.name));
    if (!lock) {
        return std::move(lock).error();
    }
    sweep_half_created(paths, project.name);
    Reporter report{progress, warn, {}};
    auto store = ec::ContainerStore::open(paths);
    if (!store) {
        return std::move(store).error();
    }
    auto containers = project_containers(paths, project.name, true);
    if (!containers) {
        return std::move(containers).error();
    }
    std::vector<ec::ContainerRecord> targets;
    std::vector<std::string> orphans;
    for (const auto& pc : *containers) {
        bool known = project.services.count(pc.service) != 0 ||
                     project.disabled_services.count(pc.service) != 0;
        if (!known && !options.remove_orphans) {
            orphans.push_back(pc.record.name);
            continue;
        }
        targets.push_back(pc.record);
    }
    if (!orphans.empty()) {
        report.warning(fmt::format(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this "
            "service in your compose file, you can run this command with the --remove-orphans "
            "flag to clean it up.",
            join(orphans, " ")));
    }
    // Anonymous volumes go once every container is gone: a volumes_from user
    // may still hold the one of another container.
    std::vector<std::string> anonymous;
    for (const auto& rec : targets) {
        anonymous.insert(anonymous.end(), rec.config.anonymous_volumes.begin(),
                         rec.config.anonymous_volumes.end());
    }
    // The graph in reverse: a container goes once the containers of the
    // services that depend on it are gone; all of one level at once, so a
    // level costs one grace period at most.
    auto nodes = reverse_nodes(project, targets, [&](const ec::ContainerRecord& rec) {
        // With -v each container takes its anonymous volumes along before its
        // record goes, so a killed down leaves none unnamed (F2); one still
        // held through volumes_from stays for the pass below.
        return stop_and_remove(*store, rec, options.timeout, options.volumes, report);
    });
    if (auto r = run_reverse(std::move(nodes)); !r) {
        return r;
    }
    if (options.volumes && !anonymous.empty()) {
        auto vstore = volumes::VolumeStore::open(paths);
        if (!vstore) {
            return std::move(vstore).error();
        }
        std::sort(anonymous.begin(), anonymous.end());
        for (const auto& name : anonymous) {
            if (auto r = vstore->remove(name, true, [](const std::string&) { return false; }); !r) {
                return std::move(r).error().wrap(fmt::format("volume {}", name));
            }
        }
    }
    if (!orphans.empty()) {
        // Networks are still in use by the orphans.
        return {};
    }
    auto nets = netns::read_networks(paths);
    if (!nets) {
        return std::move(nets).error();
    }
    std::vector<std::string> net_names;
    for (const auto& n : *nets) {
        auto it = n.labels.find(std::string(labels::project));
        if (it != n.labels.end() && it->second == project.name) {
            net_names.push_back(n.name);
        }
    }
    std::sort(net_names.begin(), net_names.end());
    if (failpoint("compose_down_before_network")) {
        return Error(Errc::internal, "failpoint compose_down_before_network");
    }
    for (const auto& name : net_names) {
        report("Network", name, "Removing");
        if (auto r = netns::remove_network(paths, name); !r) {
            return std::move(r).error().wrap(fmt::format("network {}", name));
        }
        report("Network", name, "Removed");
    }
    if (options.volumes) {
        if (failpoint("compose_down_before_volume")) {
            return Error(Errc::internal, "failpoint compose_down_before_volume");
        }
        auto vstore = volumes::VolumeStore::open(paths);
        if (!vstore) {
            return std::move(vstore).error();
        }
        auto vols = vstore->list();
        if (!vols) {
            return std::move(vols).error();
        }
        std::set<std::string> external;
        for (const auto& [key, v] : project.volumes) {
            (void)key;
            if (v.external) {
                external.insert(v.name);
            }
        }
        for (const auto& v : *vols) {
            auto it = v.labels.find(std::string(labels::project));
            if (it == v.labels.end() || it->second != project.name || external.count(v.name)) {
                continue;
            }
            report("Volume", v.name, "Removing");
            if (auto r = vstore->remove(v.name, false, [](const std::string&) { return false; });
                !r) {
                return std::move(r).error().wrap(fmt::format("volume {}", v.name));
            }
            report("Volume", v.name, "Removed");
        }
    }
    return {};
}

}  // namespace berth::compose
