// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::engine::containers {

/// Docker's restart policies.
enum class RestartPolicyName { no, always, on_failure, unless_stopped };

struct RestartPolicy {
    RestartPolicyName name = RestartPolicyName::no;
    int max_retries = 0;  ///< on-failure:N; 0 means unlimited
};

/// Parses "no", "always", "unless-stopped", "on-failure[:N]" (Docker's syntax).
Result<RestartPolicy> parse_restart_policy(std::string_view text);
std::string to_string(const RestartPolicy& policy);

/// One -p binding as given by the user (parsed by netns at attach time).
struct Ulimit {
    std::string name;  ///< "nofile", "nproc", ... (without RLIMIT_)
    int64_t soft = 0;
    int64_t hard = 0;
};

/// A healthcheck as Docker's HealthConfig (durations in nanoseconds).
struct HealthConfig {
    std::vector<std::string> test;  ///< ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]
    int64_t interval_ns = 0;
    int64_t timeout_ns = 0;
    int64_t start_period_ns = 0;
    int64_t start_interval_ns = 0;
    int retries = 0;
    [[nodiscard]] bool empty() const { return test.empty(); }
};

/// Everything a user asked for when creating a container: Docker's Config and
/// HostConfig, reduced to what berth implements. Stored in record.json; the
/// OCI spec is derived from it and the image at start.
struct ContainerConfig {
    std::string image;  ///< the reference as given ("busybox")
    std::optional<std::vector<std::string>> entrypoint;  ///< --entrypoint (set, possibly empty)
    std::vector<std::string> cmd;                        ///< arguments after the image
    std::vector<std::string> env;                        ///< -e / --env-file, "K=V"
    std::string working_dir;
    std::string user;
    std::string hostname;
    std::string domainname;
    std::map<std::string, std::string> labels;
    bool tty = false;
    bool open_stdin = false;
    bool init = false;
    bool read_only = false;
    bool privileged = false;
    bool no_new_privileges = false;
    bool auto_remove = false;
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    std::string seccomp;  ///< "" default, "unconfined", or a profile's JSON text
    int64_t memory = 0;        ///< bytes, 0 = unlimited
    int64_t memory_swap = 0;   ///< bytes, 0 = same as memory (Docker), -1 unlimited
    int64_t nano_cpus = 0;     ///< --cpus * 1e9
    int64_t cpu_shares = 0;
    int64_t pids_limit = 0;    ///< 0 = unlimited
    std::optional<int> oom_score_adj;
    std::vector<Ulimit> ulimits;
    std::vector<nlohmann::json> mounts;  ///< OCI mount entries prepared at create (binds, volumes, tmpfs)
    std::vector<std::string> anonymous_volumes;  ///< created for this container; removed by rm -v
    std::vector<std::string> volumes;            ///< named volumes used (for "in use" checks)
    RestartPolicy restart;
    std::string stop_signal;  ///< "" = image's or SIGTERM
    std::optional<int> stop_timeout;  ///< seconds; default 10
    std::string network_mode = "bridge";  ///< bridge, none, host, container:<id>, or a network name
    std::vector<std::string> networks;    ///< user-defined networks (first is network_mode)
    std::vector<std::string> network_aliases;
    std::string ipv4_address;
    std::string ipv6_address;  ///< --ip6 on the first network ("" = allocated)
    std::vector<std::string> publish;  ///< -p specs as given
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;
    std::vector<std::string> dns_options;
    std::vector<std::string> extra_hosts;  ///< "host:ip"
    std::string runtime;  ///< path of an external OCI runtime, "" = built-in
    std::optional<HealthConfig> healthcheck;  ///< overrides the image's
    std::map<std::string, std::string> sysctls;
    int64_t shm_size = 0;
};

void to_json(nlohmann::json& j, const ContainerConfig& c);
void from_json(const nlohmann::json& j, ContainerConfig& c);
void to_json(nlohmann::json& j, const HealthConfig& h);
void from_json(const nlohmann::json& j, HealthConfig& h);

/// Parses Docker's memory sizes: "512", "64k", "32m", "1.5g" (binary units).
/// Errc::invalid_argument naming the value otherwise.
Result<int64_t> parse_bytes(std::string_view text);

/// Parses --cpus ("0.5", "2"): nano-CPUs. Rejects negative, zero is unlimited.
Result<int64_t> parse_cpus(std::string_view text);

}  // namespace berth::engine::containers
