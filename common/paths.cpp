// SPDX-License-Identifier: Apache-2.0
#include "common/paths.hpp"

#include <cstdlib>

namespace berth {

Paths Paths::from(const std::string& root_opt, const std::string& run_opt) {
    Paths p;
    if (!root_opt.empty()) {
        p.root = root_opt;
    } else if (const char* env = std::getenv("BERTH_ROOT"); env != nullptr && *env != '\0') {
        p.root = env;
    }
    if (!run_opt.empty()) {
        p.run_root = run_opt;
    } else if (const char* env = std::getenv("BERTH_RUN"); env != nullptr && *env != '\0') {
        p.run_root = env;
    }
    if (const char* env = std::getenv("BERTH_PREFIX"); env != nullptr && *env != '\0') {
        p.prefix = env;
    }
    p.root = std::filesystem::absolute(p.root).lexically_normal();
    p.run_root = std::filesystem::absolute(p.run_root).lexically_normal();
    return p;
}

}  // namespace berth
