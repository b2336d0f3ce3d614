// SPDX-License-Identifier: Apache-2.0
// Times the built-in runtime: N runs of a bundle (each run() + wait + destroy),
// printing every duration in milliseconds and the median. Also prints
// default_spec() for building bundles by hand (--default-spec).
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/json_file.hpp"
#include "engine/runtime/runtime.hpp"

namespace rt = berth::engine::runtime;

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--default-spec") {
        std::printf("%s\n", rt::default_spec().dump(2).c_str());
        return 0;
    }
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s BUNDLE N | --default-spec\n", argv[0]);
        return 2;
    }
    std::string bundle = argv[1];
    int n = std::atoi(argv[2]);
    auto config = berth::read_json(std::string(bundle) + "/config.json");
    if (!config) {
        std::fprintf(stderr, "%s\n", config.error().message().c_str());
        return 1;
    }
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto s = rt::run(bundle, "bench-" + std::to_string(i), rt::Stdio{});
        if (!s) {
            std::fprintf(stderr, "run %d: %s\n", i, s.error().message().c_str());
            return 1;
        }
        int status = 0;
        while (::waitpid(s->pid, &status, 0) < 0) {
        }
        auto d = rt::destroy(*config);
        if (!d) {
            std::fprintf(stderr, "destroy: %s\n", d.error().message().c_str());
            return 1;
        }
        auto t1 = std::chrono::steady_clock::now();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::fprintf(stderr, "run %d: container exited with status %d\n", i, status);
            return 1;
        }
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    for (double v : ms) {
        std::printf("%.3f\n", v);
    }
    std::printf("median_ms %.3f\n", sorted.empty() ? 0.0 : sorted[sorted.size() / 2]);
    return 0;
}
