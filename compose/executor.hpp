// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::compose {

/// One node of a graph run: an action that may start once every node named in
/// `after` has finished and its gate is open.
struct GraphNode {
    std::string name;
    /// Nodes that must finish first. Names that are not nodes of the run are
    /// ignored (a service left out of the selection, say).
    std::set<std::string> after;
    /// Asked on the scheduling thread once `after` is done, and again every
    /// poll interval while it answers false: true opens the gate, an error
    /// fails the node without running it. It must not block (it reads state,
    /// such as a dependency's health). Empty: always open.
    std::function<Result<bool>()> gate;
    /// The work, on a worker thread of the pool. Empty: nothing to do.
    std::function<Result<void>()> action;
};

struct GraphRunOptions {
    /// At most this many actions at once (COMPOSE_PARALLEL_LIMIT); at least 1.
    int parallel_limit = 8;
    /// How often a closed gate is asked again.
    std::chrono::milliseconds poll{100};
    /// When a node fails, its dependents fail too ("dependency failed to
    /// start: service X") without running (`up`); when false they run anyway
    /// (`down` and `stop` remove what they can).
    bool propagate_failure = true;
    /// Prefix of the message a dependent gets when `propagate_failure` fails it.
    std::string dependency_failed = "dependency failed to start: service ";
};

/// Runs the nodes on Boost.Asio: scheduling and the gates' polls on an
/// io_context driven by the calling thread, the actions on a thread pool of
/// `parallel_limit` threads. A node starts as soon as its own dependencies are
/// done, not level by level. Returns the failures by node name (empty: all ran
/// and succeeded); nodes on a cycle fail with "dependency cycle".
[[nodiscard]] std::map<std::string, Error> run_graph(std::vector<GraphNode> nodes,
                                                     const GraphRunOptions& options);

}  // namespace berth::compose
