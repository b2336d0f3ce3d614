// SPDX-License-Identifier: Apache-2.0
#include "engine/build/internal/path.hpp"

#include <vector>

namespace berth::engine::build::internal {

std::string clean_go_path(std::string_view p) {
    if (p.empty()) {
        return ".";
    }
    bool rooted = p.front() == '/';
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i <= p.size()) {
        size_t slash = p.find('/', i);
        if (slash == std::string_view::npos) {
            slash = p.size();
        }
        std::string_view seg = p.substr(i, slash - i);
        i = slash + 1;
        if (seg.empty() || seg == ".") {
            continue;
        }
        if (seg == "..") {
            if (!out.empty() && out.back() != "..") {
                out.pop_back();
            } else if (!rooted) {
                out.push_back(seg);
            }
            continue;
        }
        out.push_back(seg);
    }
    std::string joined;
    for (size_t k = 0; k < out.size(); ++k) {
        if (k > 0) {
            joined += '/';
        }
        joined += out[k];
    }
    if (rooted) {
        return "/" + joined;
    }
    return joined.empty() ? "." : joined;
}

}  // namespace berth::engine::build::internal
