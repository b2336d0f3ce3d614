// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/state.hpp"

#include <time.h>

#include <fmt/format.h>
#include <sstream>
#include <utility>

#include "common/fs.hpp"

namespace berth::engine::containers {

using nlohmann::json;

std::string_view to_string(Status s) {
    switch (s) {
        case Status::created: return "created";
        case Status::running: return "running";
        case Status::paused: return "paused";
        case Status::restarting: return "restarting";
        case Status::removing: return "removing";
        case Status::exited: return "exited";
        case Status::dead: return "dead";
    }
    return "dead";
}

Status status_from_string(std::string_view s) {
    for (auto st : {Status::created, Status::running, Status::paused, Status::restarting,
                    Status::removing, Status::exited, Status::dead}) {
        if (to_string(st) == s) {
            return st;
        }
    }
    return Status::dead;
}

void to_json(json& j, const ContainerState& s) {
    json log = json::array();
    for (const auto& h : s.health_log) {
        log.push_back({{"Start", h.start}, {"End", h.end}, {"ExitCode", h.exit_code}, {"Output", h.output}});
    }
    j = json{{"schema_version", 1},
             {"status", to_string(s.status)},
             {"pid", s.pid},
             {"pid_start_time", s.pid_start_time},
             {"supervisor_pid", s.supervisor_pid},
             {"supervisor_start_time", s.supervisor_start_time},
             {"boot_id", s.boot_id},
             {"exit_code", s.exit_code},
             {"oom_killed", s.oom_killed},
             {"error", s.error},
             {"started_at", s.started_at},
             {"finished_at", s.finished_at},
             {"restart_count", s.restart_count},
             {"stopped_by_user", s.stopped_by_user},
             {"health_status", s.health_status},
             {"health_failing_streak", s.health_failing_streak},
             {"health_log", log}};
}

void from_json(const json& j, ContainerState& s) {
    s.status = status_from_string(j.value("status", "dead"));
    s.pid = j.value("pid", 0);
    s.pid_start_time = j.value("pid_start_time", uint64_t{0});
    s.supervisor_pid = j.value("supervisor_pid", 0);
    s.supervisor_start_time = j.value("supervisor_start_time", uint64_t{0});
    s.boot_id = j.value("boot_id", "");
    s.exit_code = j.value("exit_code", 0);
    s.oom_killed = j.value("oom_killed", false);
    s.error = j.value("error", "");
    s.started_at = j.value("started_at", "");
    s.finished_at = j.value("finished_at", "");
    s.restart_count = j.value("restart_count", 0);
    s.stopped_by_user = j.value("stopped_by_user", false);
    s.health_status = j.value("health_status", "");
    s.health_failing_streak = j.value("health_failing_streak", 0);
    s.health_log.clear();
    for (const auto& h : j.value("health_log", json::array())) {
        s.health_log.push_back({h.value("Start", ""), h.value("End", ""), h.value("ExitCode", 0),
                                h.value("Output", "")});
    }
}

std::string now_rfc3339() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm {};
    ::gmtime_r(&ts.tv_sec, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

namespace {

/// State letter (field 3) and start time (field 22) of /proc/<pid>/stat;
/// {0, 0} when the process does not exist.
std::pair<char, uint64_t> proc_stat(pid_t pid) {
    if (pid <= 0) {
        return {0, 0};
    }
    // Not an ifstream: libstdc++ throws from underflow when read() fails, and
    // reading a process that is exiting fails with ESRCH.
    auto read = fs::read_file(fmt::format("/proc/{}/stat", pid));
    if (!read) {
        return {0, 0};
    }
    const std::string& text = *read;
    // The command name (field 2) may hold spaces and parentheses: skip past the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) {
        return {0, 0};
    }
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    char state = 0;
    // Fields after the name start at 3 (state); the start time is field 22.
    for (int i = 3; i <= 22; ++i) {
        if (!(rest >> field)) {
            return {0, 0};
        }
        if (i == 3) {
            state = field[0];
        }
    }
    return {state, std::stoull(field)};
}

}  // namespace

uint64_t process_start_time(pid_t pid) { return proc_stat(pid).second; }

bool process_matches(pid_t pid, uint64_t start_time) {
    if (pid <= 0 || start_time == 0) {
        return false;
    }
    // A zombie (or a dying task) has exited: it only waits to be reaped, by a
    // parent that may be gone (a killed supervisor's children go to init).
    auto [state, started] = proc_stat(pid);
    return started == start_time && state != 'Z' && state != 'X';
}

}  // namespace berth::engine::containers
