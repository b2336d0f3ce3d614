// SPDX-License-Identifier: Apache-2.0
#include "common/heap_tuning.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/log.hpp"

namespace berth::heap {

namespace {

// Set in the environment of the re-executed process only, and removed by it
// at once: "1", and the caller's GLIBC_TUNABLES when it had one.
constexpr const char* marker = "BERTH_HEAP_TUNED";
constexpr const char* saved = "BERTH_HEAP_SAVED_TUNABLES";

// hugetlb=1: glibc madvise()s its heaps (the main one and each thread's) for
// transparent huge pages; the top pad makes the main heap grow by 32 MiB at a
// time, so that whole 2 MiB pages fit in each growth.
constexpr const char* settings = "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=33554432";
constexpr uint64_t threshold = 128 * 1024;

bool g_tuned = false;
char** g_argv = nullptr;

}  // namespace

void init(int /*argc*/, char** argv) {
    g_argv = argv;
    const char* m = std::getenv(marker);
    if (m == nullptr) {
        return;
    }
    g_tuned = std::string(m) == "1";
    if (const char* old = std::getenv(saved); old != nullptr) {
        ::setenv("GLIBC_TUNABLES", old, 1);
    } else {
        ::unsetenv("GLIBC_TUNABLES");
    }
    ::unsetenv(saved);
    ::unsetenv(marker);
}

bool tuned() { return g_tuned; }

void reexec_for_large_input(uint64_t input_bytes) {
    if (g_tuned || g_argv == nullptr || input_bytes < threshold) {
        return;
    }
    log::common().debug("input of {} bytes: re-executing with huge-page malloc", input_bytes);
    const char* old = std::getenv("GLIBC_TUNABLES");
    std::string value = old != nullptr && *old != '\0' ? std::string(old) + ":" + settings
                                                       : std::string(settings);
    if (old != nullptr) {
        ::setenv(saved, old, 1);
    }
    ::setenv(marker, "1", 1);
    ::setenv("GLIBC_TUNABLES", value.c_str(), 1);
    ::execv("/proc/self/exe", g_argv);
    // Not re-executed: go on as we are, with the environment as it was.
    if (old != nullptr) {
        ::setenv("GLIBC_TUNABLES", old, 1);
    } else {
        ::unsetenv("GLIBC_TUNABLES");
    }
    ::unsetenv(saved);
    ::unsetenv(marker);
}

}  // namespace berth::heap
