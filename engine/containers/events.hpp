// SPDX-License-Identifier: Apache-2.0
#pragma once

// The event journal. berth has no daemon and so no event bus: every process
// that changes a container (the CLI, the orchestrator, the supervisor) appends
// one JSON line per event to <run root>/events.jsonl, in the Engine API's
// /events message format, and readers (`compose events`, with --since and
// --until) read and follow the file. Lines are appended with O_APPEND in one
// write each; past 4 MiB the file is renamed to events.jsonl.1 (one older
// generation is kept). Like Docker's, the journal lives on the runtime root
// and does not outlive a reboot.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "engine/containers/store.hpp"

namespace berth::engine::containers {

/// One event of the journal.
struct Event {
    std::string type = "container";
    std::string action;  ///< create, start, die, kill, stop, pause, unpause, destroy
    std::string id;
    std::map<std::string, std::string> attributes;  ///< name, image, labels, exitCode, signal
    int64_t time_nano = 0;                          ///< since the epoch

    /// The Engine API's event message (status, id, from, Type, Action, Actor, time, timeNano).
    [[nodiscard]] std::string to_json_line() const;
    /// Parses one journal line; nullopt for a line that is not an event.
    [[nodiscard]] static std::optional<Event> parse(std::string_view line);
};

/// The journal's path under the runtime root.
[[nodiscard]] std::filesystem::path events_path(const Paths& paths);

/// Appends `action` on `record` (attributes: name, image and its labels, plus
/// `extra`). Never fails the caller: a write error is logged.
void record_event(const Paths& paths, const ContainerRecord& record, std::string_view action,
                  const std::map<std::string, std::string>& extra = {});

/// Reads the journal from its start (the older generation first) and then
/// follows what is appended, across rotations.
class EventReader {
public:
    explicit EventReader(std::filesystem::path path) : path_(std::move(path)) {}
    /// The complete events appended since the last call (or, the first time,
    /// all of them). Partial trailing lines wait for the next call.
    [[nodiscard]] std::vector<Event> next();

private:
    std::vector<Event> drain(int fd);
    std::filesystem::path path_;
    UniqueFd fd_;
    ino_t inode_ = 0;
    bool started_ = false;
    std::string partial_;
};

/// Parses a --since/--until value as Docker does: a Unix time in seconds
/// (fractions allowed), an RFC 3339 date-time or date, or a Go duration
/// ("10m", "1h30m", "45s") before `now`. Errc::invalid_argument otherwise.
[[nodiscard]] Result<int64_t> parse_event_time(std::string_view text,
                                               std::chrono::system_clock::time_point now);

}  // namespace berth::engine::containers
