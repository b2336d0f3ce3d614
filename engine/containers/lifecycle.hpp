// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "engine/containers/store.hpp"
#include "engine/containers/supervisor.hpp"
#include "engine/runtime/runtime.hpp"

/// The container lifecycle: create, start, stop, kill, remove, wait, pause,
/// exec. Used by the CLI and by the compose orchestrator (through the engine
/// API). Every operation takes the container's lock, and a failed one leaves
/// nothing behind.
namespace berth::engine::containers {

/// The image a container is created from, resolved by the caller.
struct ImageRef {
    std::string id;                     ///< "sha256:..."
    nlohmann::json config;              ///< the image config's "config" object
    std::vector<std::string> layers;    ///< snapshot dirs, bottom first
};

/// Reserves the name and writes the record of a new container, and creates its
/// directories. Nothing runs yet.
/// `id` may be given (mounts prepared before the record need it) or empty.
Result<ContainerRecord> create_container(ContainerStore& store, ContainerConfig config,
                                         std::string name, const ImageRef& image,
                                         std::string id = {});

/// The result of start_container.
struct StartOutcome {
    pid_t pid = 0;
    /// For attached starts: the status pipe, whose next event is "exited".
    StatusReader status;
};

/// Starts a created or exited container under a new supervisor. With attach
/// descriptors, the supervisor forwards stdio and the returned reader reports
/// the exit. Errors carry Docker's exit codes through their class
/// (not_found 127, permission_denied 126, others 125).
Result<StartOutcome> start_container(ContainerStore& store, const ContainerRecord& record,
                                     const AttachFds& attach = {});

/// Stops a running container: its stop signal, then SIGKILL after `timeout`
/// seconds (negative: the container's own or 10). Returns the exit code.
/// Stopping a stopped container succeeds.
Result<int> stop_container(ContainerStore& store, const ContainerRecord& record, int timeout = -1);

/// Sends `signal` to the container's init. Errc::failed_precondition when it
/// is not running.
Result<void> kill_container(ContainerStore& store, const ContainerRecord& record, int signal);

/// Removes a container. A running one needs `force` (then it is killed).
/// With `volumes`, its anonymous volumes are removed too.
Result<void> remove_container(ContainerStore& store, const ContainerRecord& record, bool force,
                              bool volumes);

/// Removes the files, name and (with `volumes`) anonymous volumes of a
/// container that is not running. Used by remove_container and by the
/// supervisor for --rm.
Result<void> remove_container_files(const ContainerStore& store, const ContainerRecord& record,
                                    bool volumes);

/// Blocks until the container is not running; returns its exit code.
Result<int> wait_container(ContainerStore& store, const ContainerRecord& record);

/// Freezes or thaws a running container.
Result<void> pause_container(ContainerStore& store, const ContainerRecord& record, bool pause);

/// What `exec` runs.
struct ExecRequest {
    std::vector<std::string> cmd;
    std::vector<std::string> env;
    std::string user;
    std::string working_dir;
    bool tty = false;
    bool interactive = false;
    bool detach = false;
    bool privileged = false;
    int pty_slave = -1;  ///< with tty: the slave of a pty the caller made (it forwards the master)
};

/// Starts an exec process and returns it without waiting (see exec_container).
Result<runtime::Started> start_exec(ContainerStore& store, const ContainerRecord& record,
                                    const ExecRequest& request);

/// Waits for a process started by start_exec; returns its exit code (128+signal if killed).
Result<int> wait_exec(const runtime::Started& process);

/// Runs a process inside a running container with the caller's stdio (or a
/// new pty when tty). Returns its exit code (0 at once when detached).
/// Errc::not_found 127 / permission_denied 126 when the command cannot run.
Result<int> exec_container(ContainerStore& store, const ContainerRecord& record,
                           const ExecRequest& request);

/// The container's OCI config.json as last written (for runtime calls).
Result<nlohmann::json> load_bundle_config(const ContainerStore& store, const std::string& id);

/// The read-only init layer shared by all containers (RELIABILITY section 1):
/// empty /dev/pts, /dev/shm, /proc, /sys; empty files /.dockerenv,
/// /etc/resolv.conf, /etc/hosts, /etc/hostname, /dev/console; /etc/mtab ->
/// /proc/mounts. Created once under <root>/initlayer.
Result<std::filesystem::path> ensure_init_layer(const Paths& paths);

/// The static init binary used for --init (build/berth-init next to berth).
std::filesystem::path init_binary_path();

}  // namespace berth::engine::containers
