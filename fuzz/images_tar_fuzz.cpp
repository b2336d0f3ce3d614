// SPDX-License-Identifier: Apache-2.0
// B5 (RELIABILITY.md section 3): the tar reader and the path resolver of the
// layer unpacker. Each input is unpacked into a fresh root inside a scratch
// directory that also holds a sentinel; whatever the archive holds, nothing
// may appear, change or disappear outside the root. Also checks that cleaned
// entry paths never contain "", "." or "..".
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/fs.hpp"
#include "engine/images/layer.hpp"

using namespace berth::engine::images;
namespace stdfs = std::filesystem;

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

size_t count_entries(const stdfs::path& dir) {
    size_t n = 0;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir, ec);
         it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size < 256) {
        if (auto p = clean_entry_path(text); p) {
            for (const auto& c : *p) {
                check(!c.empty() && c != "." && c != ".." && c.find('/') == std::string::npos);
            }
        }
    }
    static stdfs::path base = [] {
        auto dir = stdfs::exists("/dev/shm") ? stdfs::path("/dev/shm") : stdfs::temp_directory_path();
        auto t = berth::fs::TempDir::create(dir, "berth-tar-fuzz-");
        check(t.has_value());
        auto p = t->release();
        stdfs::create_directories(p / "outside");
        std::FILE* f = std::fopen((p / "outside" / "sentinel").c_str(), "w");
        std::fputs("keep", f);
        std::fclose(f);
        return p;
    }();
    auto root = base / "a" / "b" / "root";
    (void)berth::fs::remove_tree(base / "a");
    stdfs::create_directories(root);
    int mfd = ::memfd_create("layer", MFD_CLOEXEC);
    check(mfd >= 0);
    check(::write(mfd, data, size) == static_cast<ssize_t>(size));
    ::lseek(mfd, 0, SEEK_SET);
    auto rfd = berth::fs::open(root, O_RDONLY | O_DIRECTORY);
    check(rfd.has_value());
    (void)unpack_layer(berth::UniqueFd(mfd), rfd->get(), "fuzz", 64 << 20);
    // Nothing outside the root: the scratch holds exactly a/b/root and outside/sentinel.
    check(count_entries(base / "outside") == 1);
    check(stdfs::exists(base / "outside" / "sentinel"));
    size_t total = count_entries(base);
    size_t inside = count_entries(root);
    check(total == inside + 5);  // a, a/b, a/b/root, outside, outside/sentinel
    return 0;
}
