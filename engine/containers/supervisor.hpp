// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::engine::containers {

/// The client's end of an attached start: the descriptors the supervisor
/// forwards the container's stdio to and from (-1: not attached). With a tty,
/// `pty_master`/`pty_slave` are a pair the caller made so it can resize it.
struct AttachFds {
    int in = -1;
    int out = -1;
    int err = -1;
    int pty_master = -1;
    int pty_slave = -1;
};

/// What the supervisor reports over the status pipe, one JSON object a line:
///   {"event":"started","pid":N}
///   {"event":"error","exit":125|126|127,"message":"..."}
///   {"event":"exited","exit_code":N}   (attached starts only, after cleanup)
struct StatusReader {
    UniqueFd fd;
    /// Reads the next event; Errc::unavailable at end of stream.
    Result<nlohmann::json> next();
    std::string buffer;
};

struct ContainerRecord;

/// What the caller of launch_supervisor already holds: a forked supervisor
/// starts from these instead of reading and parsing record.json and
/// bundle/config.json again (an exec'd one reads the files). Both must be
/// what the files hold. The forked supervisor moves `config` out of its own
/// copy of the caller's memory; the caller's object is untouched.
struct SupervisorSeed {
    const ContainerRecord* record = nullptr;
    nlohmann::json* config = nullptr;
};

/// Starts the supervisor of container `id`, whose bundle/config.json is
/// written. Double fork and setsid: the supervisor is not a child of the
/// caller and outlives it (F24). The caller must be single-threaded. Returns
/// the reader of its status pipe; the first event says whether the container
/// started.
Result<StatusReader> launch_supervisor(const Paths& paths, const std::string& id,
                                       const AttachFds& attach, const SupervisorSeed& seed = {});

/// The body of the supervisor process (also reachable as `berth
/// __supervise` for multi-threaded callers, which must exec). Never returns.
[[noreturn]] void run_supervisor(const Paths& paths, const std::string& id, int status_fd,
                                 const AttachFds& attach, const SupervisorSeed& seed = {});

/// The `berth __supervise` entry: called after execve by a launch from a
/// multi-threaded process. Never returns.
[[noreturn]] void exec_supervisor_main(const Paths& paths, const std::string& id, int status_fd,
                                       const AttachFds& attach);

/// The `berth __supervise-resume JSON` entry: berth-monitor hands a running
/// container back to the engine's supervisor (its exit, or a request the
/// monitor does not serve), in the same process. Never returns.
[[noreturn]] void resume_supervisor_main(const Paths& paths, const std::string& handoff);

/// Sends one request to a running supervisor's control socket and waits for
/// its reply (at most `timeout_ms`, or forever if negative). Requests:
///   {"op":"stop","timeout":S}  -> {"ok":true,"exit_code":N} once it exited
///   {"op":"kill","signal":N}   -> {"ok":true}
///   {"op":"wait"}              -> {"ok":true,"exit_code":N} once it exited
///   {"op":"pause"} / {"op":"unpause"} / {"op":"ping"} -> {"ok":true}
/// Errc::unavailable when no supervisor answers (it is gone).
Result<nlohmann::json> control_request(const Paths& paths, const std::string& id,
                                       const nlohmann::json& request, int timeout_ms = -1);

/// Path of a container's control socket: <run_root>/containers/<id>/ctl.sock,
/// in a 0700 directory that no container mounts (RELIABILITY row 27).
std::filesystem::path control_socket_path(const Paths& paths, const std::string& id);

}  // namespace berth::engine::containers
