// SPDX-License-Identifier: Apache-2.0
#include "common/failpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace berth {

bool failpoint(std::string_view name) {
    const char* env = std::getenv("BERTH_FAILPOINT");
    if (env == nullptr || *env == '\0') {
        return false;
    }
    std::string_view all(env);
    while (!all.empty()) {
        auto comma = all.find(',');
        auto item = all.substr(0, comma);
        all = comma == std::string_view::npos ? std::string_view{} : all.substr(comma + 1);
        auto colon = item.find(':');
        if (item.substr(0, colon) != name) {
            continue;
        }
        auto action = colon == std::string_view::npos ? std::string_view("kill9") : item.substr(colon + 1);
        if (action == "kill9") {
            ::kill(::getpid(), SIGKILL);
        }
        if (action == "stop") {
            // Stops every thread of the process until SIGCONT.
            ::kill(::getpid(), SIGSTOP);
            return false;
        }
        return action == "error";
    }
    return false;
}

}  // namespace berth
