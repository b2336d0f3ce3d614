// SPDX-License-Identifier: Apache-2.0
#include "compose/executor.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>

namespace berth::compose {

namespace asio = boost::asio;

namespace {

/// The state of one run; every member except the pool is touched only on the
/// io_context's thread.
class GraphRun {
public:
    GraphRun(std::vector<GraphNode> nodes, const GraphRunOptions& options)
        : options_(options), nodes_(std::move(nodes)), pending_(nodes_.size(), 0),
          dependents_(nodes_.size()), failed_deps_(nodes_.size()), done_(nodes_.size(), false),
          pool_(static_cast<std::size_t>(std::clamp(
              std::min<int>(options.parallel_limit, static_cast<int>(nodes_.size())), 1, 256))),
          guard_(asio::make_work_guard(ioc_)) {
        std::map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            index.emplace(nodes_[i].name, i);
        }
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            for (const auto& dep : nodes_[i].after) {
                auto it = index.find(dep);
                if (it != index.end() && it->second != i) {
                    dependents_[it->second].push_back(i);
                    ++pending_[i];
                }
            }
        }
        remaining_ = nodes_.size();
    }

    std::map<std::string, Error> run() {
        fail_cycles();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (pending_[i] == 0 && !finished(i)) {
                asio::post(ioc_, [this, i] { open_gate(i); });
            }
        }
        if (remaining_ == 0) {
            guard_.reset();
        }
        ioc_.run();
        pool_.join();
        return std::move(failures_);
    }

private:
    [[nodiscard]] bool finished(std::size_t i) const { return done_[i]; }

    /// Kahn's algorithm on a copy of the counts: what it never reaches is on
    /// (or behind) a cycle and would wait forever.
    void fail_cycles() {
        auto counts = pending_;
        std::vector<std::size_t> ready;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (counts[i] == 0) {
                ready.push_back(i);
            }
        }
        std::size_t reached = 0;
        while (!ready.empty()) {
            auto i = ready.back();
            ready.pop_back();
            ++reached;
            for (auto d : dependents_[i]) {
                if (--counts[d] == 0) {
                    ready.push_back(d);
                }
            }
        }
        if (reached == nodes_.size()) {
            return;
        }
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (counts[i] != 0) {
                done_[i] = true;
                --remaining_;
                failures_.emplace(nodes_[i].name,
                                  Error(Errc::invalid_argument,
                                        fmt::format("dependency cycle involving {}",
                                                    nodes_[i].name)));
            }
        }
    }

    void open_gate(std::size_t i) {
        auto& node = nodes_[i];
        if (!failed_deps_[i].empty() && options_.propagate_failure) {
            finish(i, Error(Errc::failed_precondition,
                            options_.dependency_failed + failed_deps_[i].front()));
            return;
        }
        if (node.gate) {
            Result<bool> open = false;
            try {
                open = node.gate();
            } catch (const std::exception& e) {
                open = Error(Errc::internal, e.what());
            }
            if (!open) {
                finish(i, std::move(open).error());
                return;
            }
            if (!*open) {
                auto timer = std::make_shared<asio::steady_timer>(ioc_, options_.poll);
                timer->async_wait([this, i, timer](const boost::system::error_code&) {
                    open_gate(i);
                });
                return;
            }
        }
        if (!node.action) {
            finish(i, std::nullopt);
            return;
        }
        asio::post(pool_, [this, i] {
            std::optional<Error> err;
            try {
                if (auto r = nodes_[i].action(); !r) {
                    err = std::move(r).error();
                }
            } catch (const std::exception& e) {
                err = Error(Errc::internal, e.what());
            }
            asio::post(ioc_, [this, i, err = std::move(err)]() mutable {
                finish(i, std::move(err));
            });
        });
    }

    void finish(std::size_t i, std::optional<Error> err) {
        done_[i] = true;
        --remaining_;
        const bool failed = err.has_value();
        if (failed) {
            failures_.emplace(nodes_[i].name, std::move(*err));
        }
        for (auto d : dependents_[i]) {
            if (failed) {
                failed_deps_[d].push_back(nodes_[i].name);
            }
            if (--pending_[d] == 0 && !finished(d)) {
                open_gate(d);
            }
        }
        if (remaining_ == 0) {
            guard_.reset();
        }
    }

    GraphRunOptions options_;
    std::vector<GraphNode> nodes_;
    std::vector<std::size_t> pending_;                 ///< unfinished dependencies
    std::vector<std::vector<std::size_t>> dependents_;
    std::vector<std::vector<std::string>> failed_deps_;
    std::vector<bool> done_;
    std::size_t remaining_ = 0;
    std::map<std::string, Error> failures_;
    asio::io_context ioc_;
    asio::thread_pool pool_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
};

}  // namespace

std::map<std::string, Error> run_graph(std::vector<GraphNode> nodes,
                                       const GraphRunOptions& options) {
    if (nodes.empty()) {
        return {};
    }
    GraphRun run(std::move(nodes), options);
    return run.run();
}

}  // namespace berth::compose
