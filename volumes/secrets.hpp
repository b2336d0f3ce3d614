// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

/// Compose secrets and configs, turned into read-only files bound into a container.
namespace berth::volumes {

enum class SecretKind { secret, config };

/// Where the content comes from.
enum class SecretSource { file, environment, content };

/// One secret or config of a service.
struct SecretRequest {
    SecretKind kind = SecretKind::secret;
    /// The secret/config name (top-level key in compose); names the file.
    std::string name;
    SecretSource source = SecretSource::file;
    /// A host path (file), a variable name (environment) or the content itself.
    std::string value;
    /// Container path; empty: /run/secrets/<name> (secret) or /<name> (config).
    /// A relative secret target goes under /run/secrets/.
    std::string target;
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0444;
};

/// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// Writes each secret or config into `<container_dir>/secrets/` or `configs/`
/// (a directory created 0700, files written through a dirfd with O_NOFOLLOW,
/// then fchown/fchmod), and returns read-only bind mount entries
/// `{destination, type: "bind", source, options: [rbind, ro, nosuid, nodev,
/// noexec, rprivate]}`.
///
/// When `rootfs` is given (the container's root as the host sees it), each
/// target is resolved in it with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS):
/// a target or parent that the container turned into a symlink is refused
/// (Errc::permission_denied, RELIABILITY row 19). Targets with ".." that leave
/// "/" are refused as well. Errc::not_found for a missing file or variable,
/// naming the secret. On failure the files written so far are removed.
[[nodiscard]] Result<std::vector<nlohmann::json>> prepare_secret_or_config(
    const std::filesystem::path& container_dir, std::span<const SecretRequest> requests,
    const std::optional<std::filesystem::path>& rootfs = std::nullopt,
    const EnvLookup& env = {});

}  // namespace berth::volumes
