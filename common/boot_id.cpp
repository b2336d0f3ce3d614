// SPDX-License-Identifier: Apache-2.0
#include "common/boot_id.hpp"

#include "common/fs.hpp"

namespace berth {

const std::string& current_boot_id() {
    static const std::string id = [] {
        auto text = fs::read_file("/proc/sys/kernel/random/boot_id");
        std::string out = text ? *text : std::string();
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
            out.pop_back();
        }
        return out;
    }();
    return id;
}

}  // namespace berth
