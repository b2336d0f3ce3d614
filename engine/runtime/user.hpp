// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

/// Resolution of a Docker-style user string against a container's own
/// /etc/passwd and /etc/group text. Pure functions: the runtime reads the files
/// inside the container rootfs (after pivot_root) and passes their content.
namespace berth::engine::runtime {

struct ResolvedUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  ///< supplementary groups, sorted, without duplicates
    std::string home;           ///< from passwd, "/" when unknown
};

/// Resolves `user` ("name", "uid", "name:group", "uid:gid", ...) as Docker does:
/// a numeric part is always an id (never looked up as a name, RELIABILITY row 5),
/// a name must exist; supplementary groups are the /etc/group entries listing
/// the user's name, plus `additional_gids`. Errc::not_found names the missing
/// user or group ("unable to find user foo: no matching entries in passwd file").
Result<ResolvedUser> resolve_user(std::string_view user, std::string_view passwd,
                                  std::string_view group,
                                  const std::vector<gid_t>& additional_gids);

}  // namespace berth::engine::runtime
