// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "engine/containers/store.hpp"

/// `cp` between the host and a running container's filesystem, without tar
/// and without running anything in the container.
///
/// The container side is reached through /proc/<init pid>/root, which shows
/// the container's root with its mounts (volumes included). Every path there
/// is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from that
/// root, and the tree below is walked one component at a time with
/// O_NOFOLLOW, so a symlink in the container can never lead to a host path.
///
/// Docker's rules: a file is copied to DEST (or into DEST when it is an
/// existing directory); a directory is copied as DEST when DEST does not
/// exist, into DEST/<name> when it does, and only its contents when SRC ends
/// with "/.". Symlinks are copied as links; devices, sockets and fifos are
/// skipped. Modes are kept; files are owned by the caller (root).
namespace berth::engine::containers {

/// Copies `container_path` of running container `record` to `host_path`.
/// Errc::failed_precondition when the container is not running,
/// Errc::not_found when the source does not exist.
Result<void> copy_from_container(const ContainerStore& store, const ContainerRecord& record,
                                 const std::string& container_path,
                                 const std::filesystem::path& host_path);

/// Copies `host_path` into running container `record` at `container_path`.
Result<void> copy_to_container(const ContainerStore& store, const ContainerRecord& record,
                               const std::filesystem::path& host_path,
                               const std::string& container_path);

/// `docker cp CONTAINER:SRC -`: writes `container_path` of running container
/// `record` to `out_fd` as a tar stream whose top entry is its base name
/// (files, directories and symlinks with their modes and owners). Staged in a
/// temp dir under the root's tmp/, removed afterwards.
Result<void> copy_from_container_tar(const ContainerStore& store, const ContainerRecord& record,
                                     const std::string& container_path, int out_fd);

/// `docker cp - CONTAINER:DEST`: extracts the tar stream read from `in_fd`
/// (plain, gzip or zstd; unpacked with the image unpacker's checks: no entry
/// leaves the staging dir) into the directory `container_path` of running
/// container `record`.
Result<void> copy_to_container_tar(const ContainerStore& store, const ContainerRecord& record,
                                   int in_fd, const std::string& container_path);

}  // namespace berth::engine::containers
