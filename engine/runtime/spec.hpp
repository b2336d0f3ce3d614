// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

/// Typed form of the parts of an OCI runtime-spec 1.1 config.json that the
/// built-in runtime executes. Parsing is pure (no syscalls) and unit-tested;
/// unknown fields are ignored, wrong types are Errc::invalid_argument naming
/// the field.
namespace berth::engine::runtime {

/// process.user, plus the berth extension `username` ("name", "name:group",
/// "uid:gid"), resolved inside the container rootfs.
struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::optional<mode_t> umask;
    std::vector<gid_t> additional_gids;
    std::string username;
};

struct Rlimit {
    std::string type;  ///< "RLIMIT_NOFILE"
    uint64_t soft = 0;
    uint64_t hard = 0;
};

struct Capabilities {
    std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Process {
    bool terminal = false;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    std::optional<Capabilities> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;
};

struct Mount {
    std::string destination;
    std::string type;
    std::string source;
    std::vector<std::string> options;
};

struct Namespace {
    std::string type;  ///< pid, network, mount, ipc, uts, cgroup, user, time
    std::string path;  ///< empty: create a new one
};

/// One linux.resources.devices rule; -1 means any major/minor.
struct DeviceRule {
    bool allow = false;
    char type = 'a';  ///< a, c or b
    int64_t major = -1;
    int64_t minor = -1;
    std::string access = "rwm";
};

/// One linux.devices entry, created in the container's /dev.
struct Device {
    std::string path;
    char type = 'c';
    int64_t major = 0;
    int64_t minor = 0;
    mode_t file_mode = 0666;
    uid_t uid = 0;
    gid_t gid = 0;
};

struct Resources {
    std::optional<int64_t> memory_limit;
    std::optional<int64_t> memory_swap;  ///< OCI: memory + swap
    std::optional<int64_t> cpu_quota;
    std::optional<uint64_t> cpu_period;
    std::optional<uint64_t> cpu_shares;
    std::optional<std::string> cpuset_cpus;
    std::optional<std::string> cpuset_mems;
    std::optional<int64_t> pids_limit;
    std::vector<DeviceRule> devices;
};

struct SeccompArg {
    unsigned index = 0;
    uint64_t value = 0;
    uint64_t value_two = 0;
    std::string op;
};

struct SeccompRule {
    std::vector<std::string> names;
    std::string action;
    std::optional<unsigned> errno_ret;
    std::vector<SeccompArg> args;
};

struct Seccomp {
    std::string default_action;
    std::optional<unsigned> default_errno_ret;
    std::vector<std::string> architectures;
    std::vector<std::string> flags;
    std::vector<SeccompRule> syscalls;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::optional<std::string> cgroups_path;
    Resources resources;
    std::vector<Device> devices;
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::map<std::string, std::string> sysctl;
    std::optional<Seccomp> seccomp;
    std::string rootfs_propagation;
};

struct Spec {
    std::string oci_version;
    Process process;
    std::string root_path;
    bool root_readonly = false;
    std::string hostname;
    std::vector<Mount> mounts;
    Linux linux;
    std::map<std::string, std::string> annotations;

    /// The namespace entry of `type`, if the spec lists it.
    [[nodiscard]] const Namespace* find_namespace(const std::string& type) const;
};

/// Parses a whole config.json. Errc::invalid_argument names the field
/// ("config.json: process.args: must be a non-empty array of strings").
Result<Spec> parse_spec(const nlohmann::json& config);

/// Parses an OCI "process" object (also what exec() receives).
Result<Process> parse_process(const nlohmann::json& process);

/// Parses a linux.seccomp object.
Result<Seccomp> parse_seccomp(const nlohmann::json& seccomp);

/// mount(2) flags and data string of a list of OCI mount options.
struct MountFlags {
    unsigned long flags = 0;        ///< MS_* applied at mount time
    unsigned long propagation = 0;  ///< MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (+MS_REC)
    bool bind = false;
    bool recursive = false;  ///< rbind
    bool recursive_ro = false;  ///< "rro": read-only for every submount
    std::string data;           ///< comma-joined options the kernel parses itself
};

/// Splits OCI mount options into flags, propagation and the data string.
/// Errc::invalid_argument for an option the runtime does not support.
Result<MountFlags> parse_mount_options(const std::vector<std::string>& options);

/// Resource number of "RLIMIT_NOFILE" and friends; -1 when unknown.
int rlimit_resource(const std::string& name);

}  // namespace berth::engine::runtime
