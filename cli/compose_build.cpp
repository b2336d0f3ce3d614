// SPDX-License-Identifier: Apache-2.0
#include "cli/compose_build.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/build/builder.hpp"
#include "engine/images/store.hpp"

namespace berth::cli {

namespace eb = engine::build;

void name_built_images(compose::Project& project) {
    for (auto& [name, svc] : project.services) {
        if (svc.build && svc.image.empty()) {
            svc.image = project.name + "-" + name;
        }
    }
}

Result<void> build_services(const Paths& paths, const compose::Project& project,
                            const ComposeBuildOptions& options) {
    std::optional<engine::images::ImageStore> store;
    if (options.only_missing) {
        auto opened = engine::images::ImageStore::open(paths);
        if (!opened) {
            return std::move(opened).error();
        }
        store.emplace(std::move(*opened));
    }
    std::vector<const compose::Service*> todo;
    for (const auto& [name, svc] : project.services) {
        if (!svc.build || (!options.services.empty() && options.services.count(name) == 0)) {
            continue;
        }
        if (store && store->find(svc.image)) {
            continue;
        }
        todo.push_back(&svc);
    }
    for (const auto& s : options.services) {
        auto it = project.services.find(s);
        if (it == project.services.end()) {
            return Error(Errc::not_found, fmt::format("no such service: {}", s));
        }
    }
    if (todo.empty()) {
        return {};
    }
    std::mutex print;
    std::mutex errors_mu;
    std::vector<std::string> errors;
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (;;) {
            size_t i = next.fetch_add(1);
            if (i >= todo.size()) {
                return;
            }
            const compose::Service& svc = *todo[i];
            const compose::BuildConfig& b = *svc.build;
            eb::BuildOptions o;
            if (b.context.find("://") != std::string::npos || b.context.rfind("git@", 0) == 0) {
                std::lock_guard lk(errors_mu);
                errors.push_back(fmt::format(
                    "service \"{}\": build context {}: remote contexts are not supported by berth",
                    svc.name, b.context));
                continue;
            }
            o.context = b.context.empty() ? project.working_dir : std::filesystem::path(b.context);
            if (!b.dockerfile_inline.empty()) {
                o.dockerfile_inline = b.dockerfile_inline;
            } else if (!b.dockerfile.empty()) {
                std::filesystem::path df(b.dockerfile);
                o.dockerfile = df.is_absolute() ? df : o.context / df;
            }
            for (const auto& [k, v] : b.args) {
                if (v) {
                    o.build_args[k] = *v;
                } else if (const char* env = std::getenv(k.c_str())) {
                    o.build_args[k] = env;
                }
            }
            for (const auto& [k, v] : options.build_args) {
                o.build_args[k] = v;
            }
            o.target = b.target;
            o.labels = b.labels;
            o.no_cache = b.no_cache || options.no_cache;
            o.tags.push_back(svc.image);
            o.tags.insert(o.tags.end(), b.tags.begin(), b.tags.end());
            if (b.network == "none" || b.network == "host") {
                o.network = b.network;
            }
            eb::BuildOutput out;
            std::string name = svc.name;
            if (!options.quiet) {
                out.step = [&print, name](const std::string& stage, int step, int total,
                                          const std::string& text) {
                    std::lock_guard lk(print);
                    (void)stage;
                    std::fprintf(stderr, "[%s %d/%d] %s\n", name.c_str(), step, total,
                                 text.c_str());
                };
                out.step_done = [&print, name](bool cached, std::chrono::milliseconds ms) {
                    std::lock_guard lk(print);
                    if (cached) {
                        std::fprintf(stderr, "[%s] ---> CACHED\n", name.c_str());
                    } else {
                        std::fprintf(stderr, "[%s] ---> DONE %.1fs\n", name.c_str(),
                                     static_cast<double>(ms.count()) / 1000);
                    }
                };
            }
            out.warn = [&print, name](const std::string& w) {
                std::lock_guard lk(print);
                std::fprintf(stderr, "[%s] %s\n", name.c_str(), w.c_str());
            };
            auto r = eb::build_image(paths, o, out);
            if (!r) {
                std::lock_guard lk(errors_mu);
                errors.push_back(fmt::format("service \"{}\": {}", svc.name, r.error().message()));
                continue;
            }
            if (!options.quiet) {
                std::lock_guard lk(print);
                std::fprintf(stderr, " Service %s  Built (%s)\n", name.c_str(),
                             r->image_id.substr(7, 12).c_str());
            }
        }
    };
    size_t n = std::min<size_t>(todo.size(), static_cast<size_t>(std::max(1, options.parallel)));
    if (n == 1) {
        worker();
    } else {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < n; ++i) {
            threads.emplace_back(worker);
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    if (!errors.empty()) {
        std::string msg;
        for (const auto& e : errors) {
            msg += (msg.empty() ? "" : "\n") + e;
        }
        return Error(Errc::invalid_argument, msg);
    }
    return {};
}

}  // namespace berth::cli
