// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace berth::fs {

/// How much a write must survive.
enum class Durability {
    /// fsync of the file and of its directory: survives a power loss.
    durable,
    /// Atomic against a killed process (rename), not against a power loss: for
    /// files regenerated at every start or reconciled on read (state.json,
    /// hosts, config.json), where an fsync on the start path costs milliseconds.
    process_crash,
};

/// Writes `data` to `path` atomically: a temp file in the same directory,
/// fsync, rename over `path`, fsync of the directory. Readers see the old or
/// the new content, never a mix. Errc from the failing syscall.
Result<void> write_atomic(const std::filesystem::path& path, std::string_view data,
                          mode_t mode = 0644, Durability durability = Durability::durable);

/// Reads a whole file. Errc::not_found when it does not exist.
Result<std::string> read_file(const std::filesystem::path& path);

/// Creates a directory and its parents with `mode` (umask applies only to
/// new ones). Existing directories are fine.
Result<void> make_dirs(const std::filesystem::path& path, mode_t mode = 0755);

/// Removes a tree. Missing is success. Does not cross mount points: a mount
/// found below `path` makes it fail with Errc::conflict, so that data on a
/// mount is never deleted by accident.
Result<void> remove_tree(const std::filesystem::path& path);

/// Opens a path with O_CLOEXEC added to `flags`.
Result<UniqueFd> open(const std::filesystem::path& path, int flags, mode_t mode = 0);

/// An exclusive flock on a lock file, released when this goes out of scope
/// (and by the kernel if the process dies, so a kill -9 never leaves it held).
class FileLock {
public:
    /// Blocks until the lock on `path` is held; creates the file if needed.
    [[nodiscard]] static Result<FileLock> acquire(const std::filesystem::path& path);
    /// Returns Errc::conflict at once when another process holds it.
    [[nodiscard]] static Result<FileLock> try_acquire(const std::filesystem::path& path);

private:
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

/// A fresh directory removed (with its contents) when this goes out of scope,
/// unless release() was called.
class TempDir {
public:
    /// Creates `<parent>/<prefix>XXXXXX` (mode 0700).
    [[nodiscard]] static Result<TempDir> create(const std::filesystem::path& parent,
                                                std::string_view prefix = "tmp-");
    TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
    TempDir& operator=(TempDir&&) = delete;
    TempDir(const TempDir&) = delete;
    ~TempDir();

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    /// Keeps the directory; returns its path.
    std::filesystem::path release() { return std::exchange(path_, {}); }

private:
    explicit TempDir(std::filesystem::path p) : path_(std::move(p)) {}
    std::filesystem::path path_;
};

}  // namespace berth::fs
