// SPDX-License-Identifier: Apache-2.0
#include "common/dynlib.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace berth::dynlib {

namespace {
std::atomic<unsigned> g_loads{0};
}  // namespace

unsigned loads() {
    return g_loads.load(std::memory_order_acquire);
}

void* symbol(const char* soname, const char* name) {
    static std::mutex mu;
    static std::map<std::string, void*> handles;
    void* handle = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu);
        auto& h = handles[soname];
        if (h == nullptr) {
            h = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
            if (h == nullptr) {
                const char* why = ::dlerror();
                std::fprintf(stderr, "berth: cannot load %s: %s\n", soname,
                             why != nullptr ? why : "unknown error");
                std::exit(125);
            }
            g_loads.fetch_add(1, std::memory_order_release);
        }
        handle = h;
    }
    void* sym = ::dlsym(handle, name);
    if (sym == nullptr) {
        std::fprintf(stderr, "berth: %s has no symbol %s\n", soname, name);
        std::exit(125);
    }
    return sym;
}

}  // namespace berth::dynlib
