// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "common/unique_fd.hpp"
#include "tests/support/harness.hpp"

namespace berth::testing {

/// Moves this (single-threaded) test process into a fresh network namespace
/// for the duration of a test, so that bridges, veths and nftables rules made
/// by the berth children it runs never touch the host's. Brings loopback up
/// and adds a veth "uplink" with 198.51.100.1/24 standing in for the host's
/// own address. Moves back (and the namespace dies) when destroyed.
class OuterNetns {
public:
    OuterNetns() {
        orig_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        REQUIRE(orig_.valid());
        REQUIRE(::unshare(CLONE_NEWNET) == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "set", "lo", "up"}).exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "add", "uplink", "type", "veth", "peer",
                             "name", "uplink1"})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "set", "uplink1", "up"}).exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "addr", "add", "198.51.100.1/24", "dev", "uplink"})
                    .exit_code == 0);
        REQUIRE(run_process({"/usr/sbin/ip", "link", "set", "uplink", "up"}).exit_code == 0);
    }
    ~OuterNetns() {
        if (orig_.valid()) {
            ::setns(orig_.get(), CLONE_NEWNET);
        }
    }
    OuterNetns(const OuterNetns&) = delete;
    OuterNetns& operator=(const OuterNetns&) = delete;

private:
    UniqueFd orig_;
};

}  // namespace berth::testing
