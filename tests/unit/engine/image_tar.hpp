// SPDX-License-Identifier: Apache-2.0
#pragma once

// A raw ustar writer for tests: it writes whatever names and link targets it
// is given (../, absolute paths, links out), which is what hostile-archive
// tests need and what a careful tar library refuses to produce.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace berth::testing {

class RawTar {
public:
    /// Adds an entry. type: '0' file, '1' hardlink, '2' symlink, '3' char dev,
    /// '5' dir, '6' fifo.
    RawTar& add(std::string_view name, char type, std::string_view content = {},
                unsigned mode = 0644, std::string_view link = {}, unsigned uid = 0,
                unsigned gid = 0, unsigned devmajor = 0, unsigned devminor = 0) {
        char h[512];
        std::memset(h, 0, sizeof h);
        std::string n(name);
        if (n.size() > 100) {
            // ustar prefix/name split at a slash
            auto cut = n.rfind('/', 154);
            if (cut != std::string::npos) {
                std::memcpy(h + 345, n.data(), cut);
                n = n.substr(cut + 1);
            }
        }
        std::memcpy(h, n.data(), std::min<size_t>(n.size(), 100));
        octal(h + 100, 8, mode);
        octal(h + 108, 8, uid);
        octal(h + 116, 8, gid);
        octal(h + 124, 12, type == '0' ? content.size() : 0);
        octal(h + 136, 12, 1700000000);
        h[156] = type;
        std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
        std::memcpy(h + 257, "ustar", 6);
        std::memcpy(h + 263, "00", 2);
        octal(h + 329, 8, devmajor);
        octal(h + 337, 8, devminor);
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (unsigned char c : h) {
            sum += c;
        }
        std::snprintf(h + 148, 8, "%06o", sum);
        h[155] = ' ';
        data_.append(h, 512);
        if (type == '0') {
            data_.append(content);
            data_.append((512 - content.size() % 512) % 512, '\0');
        }
        return *this;
    }
    RawTar& file(std::string_view name, std::string_view content, unsigned mode = 0644) {
        return add(name, '0', content, mode);
    }
    RawTar& dir(std::string_view name, unsigned mode = 0755) { return add(name, '5', {}, mode); }
    RawTar& symlink(std::string_view name, std::string_view target) {
        return add(name, '2', {}, 0777, target);
    }
    RawTar& hardlink(std::string_view name, std::string_view target) {
        return add(name, '1', {}, 0644, target);
    }
    /// The archive with its two zero end blocks.
    [[nodiscard]] std::string finish() const { return data_ + std::string(1024, '\0'); }

private:
    static void octal(char* field, size_t width, uint64_t v) {
        char buf[32];
        int n = std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1),
                              static_cast<unsigned long long>(v));
        if (n > 0 && static_cast<size_t>(n) < width) {
            std::memcpy(field, buf, static_cast<size_t>(n));
        }
    }
    std::string data_;
};

}  // namespace berth::testing
