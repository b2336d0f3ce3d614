// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace berth::compose {

/// Durations are kept in nanoseconds, as Compose (Go) does.
using Duration = std::chrono::nanoseconds;

/// One published or exposed port, long syntax (short syntax and ranges are
/// already expanded: one entry per container port).
struct PortConfig {
    std::string name;
    std::uint32_t target = 0;
    std::string published;  ///< host port or range ("8080", "8000-8010"); empty: random
    std::string host_ip;
    std::string protocol = "tcp";
    std::string mode = "ingress";
    std::string app_protocol;
};

enum class MountType { bind, volume, tmpfs, image, npipe, cluster };

/// One mount of a service, long syntax; relative bind sources are absolute.
struct VolumeMount {
    MountType type = MountType::volume;
    std::string source;  ///< volume key, host path or image; empty for anonymous volumes
    std::string target;
    bool read_only = false;
    std::string consistency;
    // bind
    std::string bind_propagation;
    bool bind_create_host_path = false;
    std::string bind_selinux;
    std::string bind_recursive;
    // volume
    bool volume_nocopy = false;
    std::string volume_subpath;
    // tmpfs
    std::optional<std::int64_t> tmpfs_size;
    std::optional<std::uint32_t> tmpfs_mode;
    // image
    std::string image_subpath;
};

enum class DependencyCondition { service_started, service_healthy, service_completed_successfully };

/// A `depends_on` entry: long syntax with Compose's defaults.
struct Dependency {
    DependencyCondition condition = DependencyCondition::service_started;
    bool required = true;
    bool restart = false;
};

/// A service's attachment to one network.
struct ServiceNetwork {
    std::vector<std::string> aliases;
    std::string ipv4_address;
    std::string ipv6_address;
    std::string interface_name;
    std::string mac_address;
    std::vector<std::string> link_local_ips;
    std::map<std::string, std::string> driver_opts;
    std::optional<std::int64_t> priority;
    std::optional<std::int64_t> gw_priority;
};

struct Healthcheck {
    std::vector<std::string> test;  ///< ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]
    std::optional<Duration> interval;
    std::optional<Duration> timeout;
    std::optional<Duration> start_period;
    std::optional<Duration> start_interval;
    std::optional<std::uint64_t> retries;
    bool disable = false;
};

struct BuildConfig {
    std::string context;  ///< absolute path, or a URL / git reference kept as written
    std::string dockerfile;
    std::string dockerfile_inline;
    std::map<std::string, std::optional<std::string>> args;
    std::string target;
    std::map<std::string, std::string> labels;
    std::vector<std::string> cache_from;
    std::vector<std::string> cache_to;
    std::string network;
    std::vector<std::string> tags;
    std::vector<std::string> platforms;
    std::map<std::string, std::string> additional_contexts;
    bool no_cache = false;
    bool pull = false;
    std::optional<std::int64_t> shm_size;
};

/// A `secrets:` or `configs:` entry of a service, long syntax.
struct FileReference {
    std::string source;
    std::string target;
    std::string uid;
    std::string gid;
    std::optional<std::uint32_t> mode;
};

struct Ulimit {
    std::optional<std::int64_t> single;
    std::int64_t soft = 0;
    std::int64_t hard = 0;
};

struct DeviceMapping {
    std::string source;
    std::string target;
    std::string permissions;
};

struct Logging {
    std::string driver;
    std::map<std::string, std::string> options;
};

/// One service with every short syntax expanded and defaults applied. `raw`
/// holds the canonical JSON of the service (what `config --format json`
/// prints), which also carries the attributes not given typed fields here.
struct Service {
    std::string name;
    std::string image;
    std::optional<BuildConfig> build;
    std::optional<std::vector<std::string>> command;
    std::optional<std::vector<std::string>> entrypoint;
    /// null value: declared without a value and unset in the environment.
    std::map<std::string, std::optional<std::string>> environment;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    std::vector<PortConfig> ports;
    std::vector<std::string> expose;
    std::vector<VolumeMount> volumes;
    std::vector<std::string> volumes_from;
    std::map<std::string, Dependency> depends_on;
    std::map<std::string, ServiceNetwork> networks;
    std::string network_mode;
    std::string ipc;
    std::string pid;
    std::string uts;
    std::string cgroup;
    std::optional<Healthcheck> healthcheck;
    std::optional<std::int64_t> scale;  ///< from `scale` or `deploy.replicas`
    std::string restart;
    std::string container_name;
    std::string hostname;
    std::string domainname;
    std::string user;
    std::string working_dir;
    std::string platform;
    std::string pull_policy;
    std::string stop_signal;
    std::optional<Duration> stop_grace_period;
    bool privileged = false;
    bool read_only = false;
    bool tty = false;
    bool stdin_open = false;
    std::optional<bool> init;
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    std::vector<std::string> security_opt;
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;
    std::vector<std::string> dns_opt;
    std::vector<std::string> extra_hosts;  ///< "host=ip"
    std::vector<std::string> tmpfs;
    std::vector<std::string> links;
    std::vector<std::string> external_links;
    std::vector<std::string> group_add;
    std::vector<std::string> profiles;
    std::vector<DeviceMapping> devices;
    std::vector<FileReference> secrets;
    std::vector<FileReference> configs;
    std::map<std::string, Ulimit> ulimits;
    std::map<std::string, std::string> sysctls;
    std::optional<Logging> logging;
    std::optional<std::int64_t> mem_limit;
    std::optional<std::int64_t> mem_reservation;
    std::optional<std::int64_t> memswap_limit;
    std::optional<std::int64_t> shm_size;
    std::optional<double> cpus;
    std::optional<std::int64_t> cpu_shares;
    std::optional<std::int64_t> pids_limit;
    std::string cpuset;
    std::string runtime;
    std::string mac_address;
    nlohmann::json raw;
};

/// A top-level network; `name` is the engine name (`<project>_<key>` unless
/// set or external).
struct Network {
    std::string key;
    std::string name;
    std::string driver;
    std::map<std::string, std::string> driver_opts;
    bool external = false;
    bool internal = false;
    bool attachable = false;
    std::optional<bool> enable_ipv4;
    std::optional<bool> enable_ipv6;
    std::map<std::string, std::string> labels;
    nlohmann::json ipam;  ///< as written: driver, config[], options
    nlohmann::json raw;
};

struct Volume {
    std::string key;
    std::string name;
    std::string driver;
    std::map<std::string, std::string> driver_opts;
    bool external = false;
    std::map<std::string, std::string> labels;
    nlohmann::json raw;
};

/// A top-level secret or config: content from a file (absolute path), an
/// environment variable, inline content (configs), or external.
struct FileObject {
    std::string key;
    std::string name;
    std::string file;
    std::string environment;
    std::string content;
    bool external = false;
    std::map<std::string, std::string> labels;
    nlohmann::json raw;
};
using Secret = FileObject;
using Config = FileObject;

/// A resolved project: what `config` prints and what the planner consumes.
struct Project {
    std::string name;
    std::filesystem::path working_dir;
    std::vector<std::filesystem::path> config_files;
    std::vector<std::filesystem::path> env_files;
    std::map<std::string, Service> services;
    /// Services defined but left out by the active profiles.
    std::map<std::string, Service> disabled_services;
    std::map<std::string, Network> networks;
    std::map<std::string, Volume> volumes;
    std::map<std::string, Secret> secrets;
    std::map<std::string, Config> configs;
    /// Every profile named by any service (enabled or not), sorted.
    std::vector<std::string> all_profiles;
    /// The interpolation environment (shell over .env/--env-file).
    std::map<std::string, std::string> environment;
    /// Non-fatal findings (obsolete `version`, unset variables), for the CLI.
    std::vector<std::string> warnings;
    /// The canonical JSON of the whole project (`config --format json`).
    nlohmann::json raw;
};

/// The canonical JSON of a project, in the shape of `docker compose config
/// --format json` (a literal `$` is written `$$` when `escape_dollars`).
[[nodiscard]] nlohmann::json project_to_json(const Project& project, bool escape_dollars = true);
/// project_to_json(project, escape_dollars).dump(indent), without copying the
/// tree when nothing needs escaping.
[[nodiscard]] std::string project_json_text(const Project& project, bool escape_dollars, int indent);

/// sha256 (hex) of a service's canonical JSON with the fields Compose leaves
/// out of com.docker.compose.config-hash (build, pull_policy, scale,
/// deploy.replicas, depends_on, profiles) removed.
[[nodiscard]] std::string config_hash(const Service& service);

/// Parses a Go-style duration ("1m30s", "500ms", "2h"). Errc::invalid_argument.
[[nodiscard]] Result<Duration> parse_duration(std::string_view text);
/// Formats nanoseconds as Go does ("1m30s", "500ms", "0s").
[[nodiscard]] std::string format_duration(Duration d);
/// Parses a byte size ("2g", "512m", "1024", "1.5gb"). Errc::invalid_argument.
[[nodiscard]] Result<std::int64_t> parse_bytes(std::string_view text);

/// Builds the typed project from the canonical JSON (done by the loader).
[[nodiscard]] Result<Project> project_from_json(const nlohmann::json& canonical);
/// The same, keeping `canonical` as Project::raw without a copy.
[[nodiscard]] Result<Project> project_from_json(nlohmann::json&& canonical);

}  // namespace berth::compose
