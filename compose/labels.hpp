// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

/// The labels Compose puts on the containers, networks and volumes it creates.
namespace berth::compose::labels {

inline constexpr std::string_view project = "com.docker.compose.project";
inline constexpr std::string_view service = "com.docker.compose.service";
inline constexpr std::string_view container_number = "com.docker.compose.container-number";
inline constexpr std::string_view config_hash = "com.docker.compose.config-hash";
inline constexpr std::string_view oneoff = "com.docker.compose.oneoff";
inline constexpr std::string_view working_dir = "com.docker.compose.project.working_dir";
inline constexpr std::string_view config_files = "com.docker.compose.project.config_files";
inline constexpr std::string_view depends_on = "com.docker.compose.depends_on";
inline constexpr std::string_view version = "com.docker.compose.version";
inline constexpr std::string_view image = "com.docker.compose.image";
inline constexpr std::string_view network = "com.docker.compose.network";
inline constexpr std::string_view volume = "com.docker.compose.volume";

/// The Compose version berth's labels claim to be compatible with.
inline constexpr std::string_view compose_version = "2.30.3";

}  // namespace berth::compose::labels
