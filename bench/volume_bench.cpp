// SPDX-License-Identifier: Apache-2.0
// Benchmark driver for the volumes library (built by bench/volume_bench.sh):
//   volume_bench lifecycle ROOT N   create + mount + first write + release + remove, N times
//   volume_bench copyup ROOT FILES  copy-up of an image directory of FILES files into a
//                                   new volume through prepare_mounts
// Prints one line of JSON per run with the median and total times.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "volumes/mount_plan.hpp"
#include "volumes/volume_store.hpp"

using namespace berth;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int fail(const Error& e) {
    std::fprintf(stderr, "volume_bench: %s\n", e.message().c_str());
    return 1;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

int lifecycle(const Paths& paths, int n, bool tmpfs) {
    auto store = volumes::VolumeStore::open(paths);
    if (!store) {
        return fail(store.error());
    }
    std::vector<double> times;
    auto all = Clock::now();
    for (int i = 0; i < n; ++i) {
        auto t = Clock::now();
        volumes::CreateOptions co;
        co.name = fmt::format("bench{}", i);
        if (tmpfs) {
            co.options = {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=16m"}};
        }
        auto v = store->create(co);
        if (!v) {
            return fail(v.error());
        }
        auto data = store->acquire(v->name, "bench");
        if (!data) {
            return fail(data.error());
        }
        int fd = ::open((*data / "first").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || ::write(fd, "hello\n", 6) != 6) {
            return fail(Error::from_errno(errno, "first write"));
        }
        ::close(fd);
        if (auto r = store->release(v->name, "bench"); !r) {
            return fail(r.error());
        }
        if (auto r = store->remove(v->name, false, {}); !r) {
            return fail(r.error());
        }
        times.push_back(ms_since(t));
    }
    std::printf("{\"bench\":\"volume_lifecycle%s\",\"runs\":%d,\"median_ms\":%.3f,"
                "\"total_ms\":%.1f}\n",
                tmpfs ? "_tmpfs" : "", n, median(times), ms_since(all));
    return 0;
}

int copyup(const Paths& paths, int files) {
    auto layer = paths.root / "bench-layer";
    std::filesystem::create_directories(layer / "data");
    for (int i = 0; i < files; ++i) {
        auto dir = layer / "data" / fmt::format("d{:03}", i / 100);
        if (i % 100 == 0) {
            std::filesystem::create_directories(dir);
        }
        int fd = ::open((dir / fmt::format("f{:05}", i)).c_str(),
                        O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        std::string body = fmt::format("file {} of the benchmark image\n", i);
        if (fd < 0 || ::write(fd, body.data(), body.size()) < 0) {
            return fail(Error::from_errno(errno, "make image"));
        }
        ::close(fd);
    }
    auto store = volumes::VolumeStore::open(paths);
    if (!store) {
        return fail(store.error());
    }
    std::vector<double> times;
    for (int run = 0; run < 5; ++run) {
        std::vector<volumes::MountSpec> mounts{
            volumes::parse_volume_flag(fmt::format("copy{}:/data", run)).value()};
        volumes::PrepareOptions po;
        po.container_id = "bench";
        po.image_layers = {layer};
        auto t = Clock::now();
        auto p = volumes::prepare_mounts(*store, mounts, po);
        if (!p) {
            return fail(p.error());
        }
        times.push_back(ms_since(t));
        if (auto r = volumes::release_mounts(*store, p->acquired_volumes, "bench"); !r) {
            return fail(r.error());
        }
        if (auto r = store->remove(fmt::format("copy{}", run), false, {}); !r) {
            return fail(r.error());
        }
    }
    std::printf("{\"bench\":\"volume_copyup\",\"files\":%d,\"runs\":5,\"median_ms\":%.1f}\n",
                files, median(times));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: volume_bench lifecycle|lifecycle-tmpfs|copyup ROOT N\n");
        return 2;
    }
    Paths paths;
    paths.root = std::filesystem::path(argv[2]) / "root";
    paths.run_root = std::filesystem::path(argv[2]) / "run";
    std::string mode = argv[1];
    int n = std::atoi(argv[3]);
    if (mode == "lifecycle" || mode == "lifecycle-tmpfs") {
        return lifecycle(paths, n, mode == "lifecycle-tmpfs");
    }
    if (mode == "copyup") {
        return copyup(paths, n);
    }
    std::fprintf(stderr, "volume_bench: unknown mode %s\n", mode.c_str());
    return 2;
}
