// SPDX-License-Identifier: Apache-2.0
#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <mutex>

namespace berth::log {

namespace {
constexpr std::array<const char*, 7> names = {"berth.cli",     "berth.compose", "berth.engine",
                                              "berth.netns",   "berth.volumes", "berth.schema",
                                              "berth.common"};

spdlog::logger& get(size_t i) {
    static std::once_flag once;
    std::call_once(once, [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        for (const char* n : names) {
            auto lg = std::make_shared<spdlog::logger>(n, sink);
            lg->set_level(spdlog::level::warn);
            lg->set_pattern("%^%l%$ %n: %v");
            spdlog::register_logger(lg);
        }
    });
    return *spdlog::get(names[i]);
}
}  // namespace

void setup(std::string_view level) {
    auto lvl = spdlog::level::from_str(std::string(level));
    for (size_t i = 0; i < names.size(); ++i) {
        get(i).set_level(lvl);
    }
}

spdlog::logger& cli() { return get(0); }
spdlog::logger& compose() { return get(1); }
spdlog::logger& engine() { return get(2); }
spdlog::logger& netns() { return get(3); }
spdlog::logger& volumes() { return get(4); }
spdlog::logger& schema() { return get(5); }
spdlog::logger& common() { return get(6); }

}  // namespace berth::log
