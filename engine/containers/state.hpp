// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/boot_id.hpp"  // current_boot_id, for the records of this file

namespace berth::engine::containers {

/// Docker's container states.
enum class Status { created, running, paused, restarting, removing, exited, dead };

std::string_view to_string(Status s);
Status status_from_string(std::string_view s);

/// One healthcheck probe result, as in Docker's State.Health.Log.
struct HealthResult {
    std::string start;
    std::string end;
    int exit_code = 0;
    std::string output;
};

/// What the supervisor records about a container's process (state.json).
/// Written atomically by the supervisor only (and by the CLI when it finds the
/// supervisor dead).
struct ContainerState {
    Status status = Status::created;
    pid_t pid = 0;                 ///< container init in the host pid namespace
    uint64_t pid_start_time = 0;   ///< /proc/<pid>/stat field 22, guards against pid reuse
    pid_t supervisor_pid = 0;
    uint64_t supervisor_start_time = 0;
    std::string boot_id;           ///< kernel boot the pids belong to (F9: pids do not survive a reboot)
    int exit_code = 0;
    bool oom_killed = false;
    std::string error;
    std::string started_at;        ///< RFC 3339 with nanoseconds, UTC
    std::string finished_at;
    int restart_count = 0;
    bool stopped_by_user = false;  ///< `stop` was asked: policies other than always skip restarts
    std::string health_status;     ///< "", starting, healthy, unhealthy
    int health_failing_streak = 0;
    std::vector<HealthResult> health_log;
};

void to_json(nlohmann::json& j, const ContainerState& s);
void from_json(const nlohmann::json& j, ContainerState& s);

/// Current time as RFC 3339 with nanoseconds in UTC ("2026-11-27T19:45:12.123456789Z").
std::string now_rfc3339();

/// Start time of a process in clock ticks since boot (field 22 of
/// /proc/<pid>/stat), 0 when the process does not exist.
uint64_t process_start_time(pid_t pid);

/// True when `pid` is alive (not a zombie) and started at `start_time` (not a
/// reused pid).
bool process_matches(pid_t pid, uint64_t start_time);

}  // namespace berth::engine::containers
