// SPDX-License-Identifier: Apache-2.0
// Helper of bench/net_bench.sh (not part of the build): drives the netns API
// directly, because `berth run` is not wired to it yet.
//   net_attach_bench latency N     network create+connect+disconnect+rm, N times
//   net_attach_bench serve WWW     two namespaces on one network, httpd in "a"
//                                  published on 127.0.0.1:18300; prints paths and
//                                  addresses, tears down when stdin closes
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "netns/network.hpp"

using namespace berth;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void report(const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) {
        sum += x;
    }
    std::printf("%-28s n=%zu mean=%.2fms p50=%.2fms p95=%.2fms max=%.2fms\n", what, v.size(),
                sum / static_cast<double>(v.size()), v[v.size() / 2],
                v[std::min(v.size() - 1, v.size() * 95 / 100)], v.back());
}

int fail(const Error& e) {
    std::fprintf(stderr, "net_attach_bench: %s\n", e.message().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    log::setup("warn");
    if (argc < 3) {
        std::fprintf(stderr, "usage: net_attach_bench latency N | serve WWW\n");
        return 2;
    }
    Paths paths = Paths::from("", "");
    const std::string mode = argv[1];
    auto ns = netns::netns_dir(paths) / "bench-a";
    auto ns_b = netns::netns_dir(paths) / "bench-b";
    if (auto r = netns::create_netns(ns); !r) {
        return fail(r.error());
    }
    if (mode == "latency") {
        int n = std::stoi(argv[2]);
        std::vector<double> create, connect, disconnect, remove, total;
        for (int i = 0; i < n; ++i) {
            auto t0 = Clock::now();
            netns::NetworkSpec spec;
            spec.name = "bench" + std::to_string(i);
            auto net = netns::create_network(paths, spec);
            if (!net) {
                return fail(net.error());
            }
            create.push_back(ms_since(t0));
            auto t1 = Clock::now();
            netns::ContainerRef c{"bench-container", "bench", "bench", ns};
            auto ep = netns::connect(paths, c, {spec.name, {"b"}, std::nullopt, std::nullopt});
            if (!ep) {
                return fail(ep.error());
            }
            connect.push_back(ms_since(t1));
            auto t2 = Clock::now();
            if (auto r = netns::disconnect(paths, spec.name, c.id); !r) {
                return fail(r.error());
            }
            disconnect.push_back(ms_since(t2));
            auto t3 = Clock::now();
            if (auto r = netns::remove_network(paths, spec.name); !r) {
                return fail(r.error());
            }
            remove.push_back(ms_since(t3));
            total.push_back(ms_since(t0));
        }
        report("network create", create);
        report("connect", connect);
        report("disconnect", disconnect);
        report("network rm", remove);
        report("create+connect+disc.+rm", total);
        auto r = netns::remove_netns(ns);
        (void)r;
        return 0;
    }
    // serve
    if (auto r = netns::create_netns(ns_b); !r) {
        return fail(r.error());
    }
    netns::NetworkSpec spec;
    spec.name = "benchnet";
    if (auto net = netns::create_network(paths, spec); !net) {
        return fail(net.error());
    }
    netns::AttachRequest req;
    req.container_id = "bench-a";
    req.container_name = "bench-a";
    req.netns_path = ns;
    req.networks.push_back({"benchnet", {}, std::nullopt, std::nullopt});
    req.ports = *netns::parse_port_spec("127.0.0.1:18300:80");
    auto ea = netns::attach(paths, req);
    if (!ea) {
        return fail(ea.error());
    }
    req.container_id = req.container_name = "bench-b";
    req.netns_path = ns_b;
    req.ports.clear();
    auto eb = netns::attach(paths, req);
    if (!eb) {
        return fail(eb.error());
    }
    std::printf("A_NS=%s\nB_NS=%s\nA_IP=%s\nPORT=18300\n", ns.c_str(), ns_b.c_str(),
                ea->front().ipv4.c_str());
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    auto d1 = netns::detach(paths, "bench-a");
    auto d2 = netns::detach(paths, "bench-b");
    auto rm = netns::remove_network(paths, "benchnet");
    auto n1 = netns::remove_netns(ns);
    auto n2 = netns::remove_netns(ns_b);
    (void)d1, (void)d2, (void)rm, (void)n1, (void)n2;
    return 0;
}
