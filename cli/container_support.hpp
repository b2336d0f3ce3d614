// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "cli/context.hpp"
#include "common/paths.hpp"
#include "common/result.hpp"
#include "engine/containers/lifecycle.hpp"
#include "engine/containers/store.hpp"

namespace berth::cli {

/// Resolves an image reference through the image store (seeding the built-in
/// busybox on first use) into what a container is created from.
Result<engine::containers::ImageRef> resolve_image(const Paths& paths, const std::string& ref);

/// The mount flags of run/create, before parsing.
struct MountFlags {
    std::vector<std::string> volumes;  ///< -v
    std::vector<std::string> mounts;   ///< --mount
    std::vector<std::string> tmpfs;    ///< --tmpfs
};

/// Parses the mount flags, adds anonymous volumes for the image's VOLUME
/// entries not covered, and prepares them for container `id` (volumes created
/// and acquired, copy-up done). Fills config.mounts, config.volumes and
/// config.anonymous_volumes. On failure nothing is left.
Result<void> prepare_container_mounts(const Paths& paths, const std::string& id,
                                      const MountFlags& flags,
                                      const engine::containers::ImageRef& image,
                                      engine::containers::ContainerConfig& config);

/// Undoes prepare_container_mounts (create failed after it).
void release_container_mounts(const Paths& paths, const std::string& id,
                              const engine::containers::ContainerConfig& config);

/// Maps an engine error to Docker's CLI exit code (125, 126, 127).
int exit_code_for(const Error& error);

/// Installs the hooks through which the volume and image commands learn what
/// containers use. Called once by main.
void install_usage_hooks();

/// Reads a Docker env file: KEY=VALUE lines, # comments, a bare KEY takes the
/// value from the environment (and is dropped when unset).
Result<std::vector<std::string>> read_env_file(const std::string& path);

/// Docker's "Status" column text for a container ("Up 5 seconds", "Exited (0) 2 minutes ago").
std::string status_text(const engine::containers::ContainerState& state);

/// The `inspect` JSON of a container, with Docker's field names.
nlohmann::json inspect_json(const engine::containers::ContainerStore& store,
                            const engine::containers::ContainerRecord& record,
                            const engine::containers::ContainerState& state);

/// The `top` table of a running container (header row first), read from the
/// host's /proc for the pids of its cgroup.
Result<std::vector<std::vector<std::string>>> top_rows(
    const engine::containers::ContainerStore& store,
    const engine::containers::ContainerRecord& record);

/// Runs `request` in `record` as `exec` does: with the caller's stdio, or with
/// request.tty on a new pty this process forwards (stdin too when
/// interactive). Reports errors; returns the exit code to end with.
int run_exec(engine::containers::ContainerStore& store,
             const engine::containers::ContainerRecord& record,
             engine::containers::ExecRequest request);

/// Starts `record` attached to this terminal and waits for its exit,
/// forwarding signals (without a tty) and window size changes (with one).
/// Reports errors; returns the container's exit code (or Docker's CLI code).
int run_attached(engine::containers::ContainerStore& store,
                 const engine::containers::ContainerRecord& record, bool stdin_open);

}  // namespace berth::cli
