// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace berth::log {

/// Creates the per-module loggers (berth.cli, berth.compose, berth.engine,
/// berth.netns, berth.volumes, berth.schema, berth.common) writing to stderr at
/// `level` ("trace".."off"). Called once by main; until then the accessors
/// return loggers at level warn.
void setup(std::string_view level);

spdlog::logger& cli();
spdlog::logger& compose();
spdlog::logger& engine();
spdlog::logger& netns();
spdlog::logger& volumes();
spdlog::logger& schema();
spdlog::logger& common();

}  // namespace berth::log
