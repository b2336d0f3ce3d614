// SPDX-License-Identifier: Apache-2.0
#include "compose/graph.hpp"

#include <fmt/format.h>

namespace berth::compose {

namespace {

const std::set<std::string> empty_set;

}  // namespace

std::set<std::string> implicit_dependencies(const nlohmann::json& service) {
    std::set<std::string> out;
    for (const char* k : {"network_mode", "ipc", "pid", "uts", "cgroup"}) {
        auto it = service.find(k);
        if (it != service.end() && it->is_string()) {
            const auto& v = it->get_ref<const std::string&>();
            if (v.rfind("service:", 0) == 0) {
                out.insert(v.substr(8));
            }
        }
    }
    if (auto it = service.find("volumes_from"); it != service.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (!v.is_string()) {
                continue;
            }
            std::string s = v.get<std::string>();
            if (s.rfind("container:", 0) == 0) {
                continue;
            }
            out.insert(s.substr(0, s.find(':')));
        }
    }
    if (auto it = service.find("links"); it != service.end() && it->is_array()) {
        for (const auto& v : *it) {
            if (v.is_string()) {
                std::string s = v.get<std::string>();
                out.insert(s.substr(0, s.find(':')));
            }
        }
    }
    return out;
}

DependencyGraph DependencyGraph::from(const Project& project) {
    DependencyGraph g;
    for (const auto& [name, svc] : project.services) {
        g.add_service(name);
    }
    for (const auto& [name, svc] : project.services) {
        std::set<std::string> targets = implicit_dependencies(svc.raw);
        for (const auto& [dep, d] : svc.depends_on) {
            targets.insert(dep);
        }
        for (const auto& t : targets) {
            if (project.services.count(t) != 0) {
                g.add_edge(name, t);
            }
        }
    }
    return g;
}

void DependencyGraph::add_service(const std::string& name) {
    deps_.try_emplace(name);
}

void DependencyGraph::add_edge(const std::string& from, const std::string& to) {
    add_service(to);
    deps_[from].insert(to);
}

const std::set<std::string>& DependencyGraph::dependencies(const std::string& name) const {
    auto it = deps_.find(name);
    return it == deps_.end() ? empty_set : it->second;
}

std::set<std::string> DependencyGraph::dependents(const std::string& name) const {
    std::set<std::string> out;
    for (const auto& [n, d] : deps_) {
        if (d.count(name) != 0) {
            out.insert(n);
        }
    }
    return out;
}

std::optional<std::vector<std::string>> DependencyGraph::find_cycle() const {
    // Iterative DFS with colours; the stack holds the current path.
    enum class Colour { white, grey, black };
    std::map<std::string, Colour> colour;
    for (const auto& [n, d] : deps_) {
        colour[n] = Colour::white;
    }
    for (const auto& [start, unused] : deps_) {
        if (colour[start] != Colour::white) {
            continue;
        }
        struct Frame {
            std::string name;
            std::set<std::string>::const_iterator next;
            std::set<std::string>::const_iterator end;
        };
        std::vector<Frame> stack;
        const auto& d0 = dependencies(start);
        stack.push_back({start, d0.begin(), d0.end()});
        colour[start] = Colour::grey;
        while (!stack.empty()) {
            Frame& f = stack.back();
            if (f.next == f.end) {
                colour[f.name] = Colour::black;
                stack.pop_back();
                continue;
            }
            std::string to = *f.next++;
            Colour c = colour[to];
            if (c == Colour::grey) {
                std::vector<std::string> cycle;
                bool on = false;
                for (const auto& fr : stack) {
                    on = on || fr.name == to;
                    if (on) {
                        cycle.push_back(fr.name);
                    }
                }
                cycle.push_back(to);
                return cycle;
            }
            if (c == Colour::white) {
                colour[to] = Colour::grey;
                const auto& d = dependencies(to);
                stack.push_back({to, d.begin(), d.end()});
            }
        }
    }
    return std::nullopt;
}

Result<std::vector<std::string>> DependencyGraph::topological_order() const {
    if (auto cycle = find_cycle()) {
        std::string text;
        for (const auto& n : *cycle) {
            text += (text.empty() ? "" : " -> ") + n;
        }
        return Error(Errc::invalid_argument, fmt::format("dependency cycle ({})", text));
    }
    std::map<std::string, std::size_t> remaining;
    for (const auto& [n, d] : deps_) {
        remaining[n] = d.size();
    }
    std::map<std::string, std::vector<std::string>> reverse;
    for (const auto& [n, d] : deps_) {
        for (const auto& t : d) {
            reverse[t].push_back(n);
        }
    }
    std::set<std::string> ready;
    for (const auto& [n, c] : remaining) {
        if (c == 0) {
            ready.insert(n);
        }
    }
    std::vector<std::string> order;
    while (!ready.empty()) {
        std::string n = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(n);
        for (const auto& dep : reverse[n]) {
            if (--remaining[dep] == 0) {
                ready.insert(dep);
            }
        }
    }
    return order;
}

std::set<std::string> DependencyGraph::closure(const std::set<std::string>& services) const {
    std::set<std::string> out;
    std::vector<std::string> todo(services.begin(), services.end());
    while (!todo.empty()) {
        std::string n = todo.back();
        todo.pop_back();
        if (!out.insert(n).second) {
            continue;
        }
        for (const auto& d : dependencies(n)) {
            todo.push_back(d);
        }
    }
    return out;
}

}  // namespace berth::compose
