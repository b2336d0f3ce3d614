// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <string>

namespace berth {

/// Every path berth uses, derived from the data root (--root / BERTH_ROOT,
/// default /var/lib/berth) and the runtime root (--run-root / BERTH_RUN,
/// default /run/berth). Layout in DESIGN.md "State".
struct Paths {
    std::filesystem::path root = "/var/lib/berth";
    std::filesystem::path run_root = "/run/berth";

    /// Builds the value from explicit options, then the environment, then defaults.
    [[nodiscard]] static Paths from(const std::string& root_opt, const std::string& run_opt);

    [[nodiscard]] std::filesystem::path images() const { return root / "images"; }
    [[nodiscard]] std::filesystem::path snapshots() const { return root / "snapshots"; }
    [[nodiscard]] std::filesystem::path containers() const { return root / "containers"; }
    [[nodiscard]] std::filesystem::path container(const std::string& id) const {
        return containers() / id;
    }
    [[nodiscard]] std::filesystem::path volumes() const { return root / "volumes"; }
    [[nodiscard]] std::filesystem::path networks() const { return root / "networks"; }
    [[nodiscard]] std::filesystem::path locks() const { return root / "locks"; }
    [[nodiscard]] std::filesystem::path tmp() const { return root / "tmp"; }
    /// Runtime state of one container (control socket, pid files); 0700.
    [[nodiscard]] std::filesystem::path run_container(const std::string& id) const {
        return run_root / "containers" / id;
    }
    /// Name prefix for host objects (cgroups, links); overridable for tests
    /// with BERTH_PREFIX so that parallel test runs never collide.
    std::string prefix = "berth";
};

}  // namespace berth
