// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <span>
#include <string_view>

#include "common/result.hpp"

/// Copy-up: the image's content under a mount target, copied into a new volume.
namespace berth::volumes {

/// What copy_up copied.
struct CopyUpStats {
    uint64_t entries = 0;  ///< files, directories, links and nodes created
    uint64_t bytes = 0;    ///< regular-file bytes copied
};

/// Copies the merged view of `target` (an absolute container path) over the
/// overlay `layers` (bottom first; whiteouts are 0:0 character devices, opaque
/// directories carry trusted.overlay.opaque=y) into the directory `dest`,
/// preserving owners, modes, timestamps, xattrs (except trusted.overlay.*),
/// symlinks, hardlinks and device nodes. The root of `dest` takes the owner and
/// mode of the image directory.
///
/// Every lookup is relative to a layer's dirfd with openat2(RESOLVE_IN_ROOT |
/// RESOLVE_NO_SYMLINKS); a symlink on the way to `target` is not followed and
/// means "nothing to copy". Inside `dest` nothing is followed either.
/// Refuses (Errc::failed_precondition) when `dest` is not empty: copy-up never
/// overwrites data (RELIABILITY row 18). Returns zero stats when the image has
/// no directory at `target`.
[[nodiscard]] Result<CopyUpStats> copy_up(std::span<const std::filesystem::path> layers,
                                          std::string_view target,
                                          const std::filesystem::path& dest);

}  // namespace berth::volumes
