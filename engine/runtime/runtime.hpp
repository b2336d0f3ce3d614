// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

/// The built-in OCI runtime: executes an OCI runtime-spec bundle
/// (bundle/config.json, runtime-spec 1.1) in-process, by forking from the
/// caller. The caller must be single-threaded (the CLI before any pool starts,
/// or a supervisor). Nothing here knows about images or compose.
///
/// Beyond the standard spec, the built-in runtime honours three annotations:
///   org.berth.rootfs.lowerdir  colon-separated lower dirs, top first
///   org.berth.rootfs.upperdir  the container's upper dir
///   org.berth.rootfs.workdir   overlayfs work dir
/// When present, it mounts that overlay at root.path *inside the new mount
/// namespace*, so no host mount exists for a running container and none can
/// leak. External runtimes (--runtime crun) get a bundle whose root.path was
/// mounted by the engine instead.
namespace berth::engine::runtime {

/// File descriptors that become the process's 0, 1 and 2; -1 means /dev/null.
/// When `terminal` is set in the process spec, `pty_slave` is used for all three
/// and becomes the controlling terminal (and /dev/console).
struct Stdio {
    int in = -1;
    int out = -1;
    int err = -1;
    int pty_slave = -1;
};

/// A process started by run() or exec().
struct Started {
    pid_t pid = -1;   ///< in the caller's pid namespace
    UniqueFd pidfd;   ///< pidfd_open(pid), CLOEXEC; owned by the caller
};

/// What the caller lets run() and exec() keep between calls.
struct Options {
    /// A root-only directory (under the runtime root) where compiled seccomp
    /// filters are cached by profile hash; empty: compile at every call.
    std::filesystem::path seccomp_cache;
};

/// Creates the container described by `bundle`/config.json with id `id`:
/// namespaces, cgroup (linux.cgroupsPath + linux.resources; v1 or v2 chosen at
/// run time), rootfs and mounts, pivot_root, masked/read-only paths, devices,
/// hostname, rlimits, oom_score_adj, user and groups, capabilities, no_new_privs,
/// seccomp, then execs process.args (looked up in the process's PATH).
/// Returns once the process has exec'ed. Errors from the child come back over
/// a CLOEXEC pipe: Errc::not_found for a missing executable (Docker exit 127),
/// Errc::permission_denied for one that cannot be executed (126), other
/// classes for setup failures (125). On failure nothing is left behind (no
/// cgroup, no process).
Result<Started> run(const std::filesystem::path& bundle, const std::string& id, const Stdio& stdio,
                    const Options& options = {});
/// The same with the bundle's config.json already read (a caller that holds
/// it, such as the supervisor, saves reading and parsing it again).
Result<Started> run(const std::filesystem::path& bundle, const nlohmann::json& config,
                    const std::string& id, const Stdio& stdio, const Options& options = {});

/// Starts `process` (an OCI "process" object) inside the running container whose
/// init is `init_pid`: joins its namespaces (user, mnt, pid, net, ipc, uts,
/// cgroup) and cgroup, applies the capabilities, no_new_privs, seccomp and user
/// of `process`, chdirs to process.cwd (verified inside the rootfs) and execs.
/// `config` is the container's config.json (for the cgroup path and defaults).
Result<Started> exec(pid_t init_pid, const nlohmann::json& config, const nlohmann::json& process,
                     const Stdio& stdio, const Options& options = {});

/// Sends `signal` to every process of the container (through its cgroup), or
/// only to the init when `all` is false.
Result<void> kill(const nlohmann::json& config, pid_t init_pid, int signal, bool all);

/// Freezes / thaws every process of the container (freezer cgroup v1, or
/// cgroup.freeze on v2).
Result<void> pause(const nlohmann::json& config);
Result<void> resume(const nlohmann::json& config);

/// Removes the container's cgroup after its processes are gone; kills any
/// process still in it first. Missing is success.
Result<void> destroy(const nlohmann::json& config);

/// Memory and pid figures of the container's cgroup, and whether the kernel
/// OOM-killed a process in it.
struct CgroupStats {
    uint64_t memory_bytes = 0;
    uint64_t memory_limit = 0;
    uint64_t pids = 0;
    bool oom_killed = false;
};
Result<CgroupStats> stats(const nlohmann::json& config);

/// The pids of every process in the container's cgroup, for `top`.
Result<std::vector<pid_t>> pids(const nlohmann::json& config);

/// Docker's default spec for a container: capabilities, masked and read-only
/// paths, default mounts and devices, the device cgroup allow-list, the default
/// seccomp profile, namespaces. Loaded from the frozen data files in
/// engine/runtime/ (RELIABILITY.md section 1). The caller fills in process,
/// root, hostname, extra mounts, resources and annotations. Without
/// `with_seccomp` the spec has no linux.seccomp (for a caller that computes the
/// profile for the container's own capabilities, seccomp_for_caps, rather than
/// build the default set's first and replace it).
nlohmann::json default_spec(bool with_seccomp = true);

/// The default seccomp profile (OCI linux.seccomp form) for a container whose
/// capability set is `caps` ("CAP_SYS_ADMIN" or "SYS_ADMIN"): moby's
/// capability-gated syscalls are added for each granted capability, and with
/// CAP_SYS_ADMIN the clone namespace-flag filter and the clone3 ENOSYS rule
/// are replaced by plain allows, exactly as moby's profile does.
nlohmann::json seccomp_for_caps(const std::vector<std::string>& caps);

/// The frozen data file itself (engine/runtime/docker_defaults.json), parsed.
const nlohmann::json& docker_defaults();

/// Which cgroup hierarchy the host uses, detected at run time.
enum class CgroupMode { v1, v2 };
CgroupMode detect_cgroup_mode();

}  // namespace berth::engine::runtime
