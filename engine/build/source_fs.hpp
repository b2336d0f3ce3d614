// SPDX-License-Identifier: Apache-2.0
#pragma once

// Read-only file trees the builder copies from: the build context (a host
// directory) and the merged view of an image's unpacked layers (COPY
// --from, /etc/passwd lookups, "is the destination a directory?").
//
// Paths are relative ("etc/passwd", "" for the root), cleaned, and never
// climb out. No symlink is ever followed on the host: every open goes through
// open_in_root (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) from the tree's root
// fd, so a hostile context or layer cannot make the builder read host files.

#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::engine::build {

class SourceFs {
public:
    virtual ~SourceFs() = default;
    /// lstat of `rel`; nullopt when absent (or hidden by a whiteout).
    [[nodiscard]] virtual std::optional<struct stat> stat(const std::string& rel) const = 0;
    /// The names in directory `rel`, sorted (merged over layers).
    [[nodiscard]] virtual Result<std::vector<std::string>> list(const std::string& rel) const = 0;
    /// Opens regular file `rel` for reading.
    [[nodiscard]] virtual Result<UniqueFd> open(const std::string& rel) const = 0;
    /// The target of symlink `rel`.
    [[nodiscard]] virtual Result<std::string> readlink(const std::string& rel) const = 0;
    /// Reads a whole small regular file (at most `max` bytes); nullopt if absent.
    [[nodiscard]] Result<std::optional<std::string>> read_small(const std::string& rel,
                                                                size_t max = 1 << 20) const;
    /// `rel` with symlinks resolved inside this tree (as a container would see
    /// them: absolute targets are relative to the tree's root; at most 40
    /// hops). Missing final components are kept as written.
    [[nodiscard]] Result<std::string> resolve(const std::string& rel) const;
};

/// A host directory (the build context).
[[nodiscard]] Result<std::unique_ptr<SourceFs>> open_directory(const std::filesystem::path& dir);

/// The merged view of overlay layers (snapshot dirs, bottom first): the
/// topmost layer holding a path wins; a whiteout (char device 0:0) hides it;
/// an opaque directory (trusted.overlay.opaque=y) hides lower entries below it.
[[nodiscard]] Result<std::unique_ptr<SourceFs>> open_layers(
    const std::vector<std::filesystem::path>& layers);

/// Lexically cleans a path ("/a/./b/../c/" -> "a/c"); "" for the root.
/// Errc::invalid_argument when it climbs above the root.
[[nodiscard]] Result<std::string> clean_relative(std::string_view path);

/// Expands a COPY/ADD source pattern (`*`, `?`, `[...]` per component, as
/// Go's filepath.Match) against `fs`. A pattern without wildcards yields
/// itself when it exists. `excluded` filters context paths (.dockerignore);
/// may be null.
[[nodiscard]] Result<std::vector<std::string>> glob(
    const SourceFs& fs, const std::string& pattern,
    const std::function<bool(const std::string&)>& excluded);

}  // namespace berth::engine::build
