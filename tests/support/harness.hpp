// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace berth::testing {

/// What a finished process printed and how it ended.
struct RunResult {
    int exit_code = -1;  ///< exit status, or 128+signal
    std::string out;
    std::string err;
};

/// Runs `argv` (argv[0] is a path, no shell) with `env` added to the current
/// environment and `input` on stdin; waits at most `timeout_s` seconds, then
/// kills it (exit_code 137).
RunResult run_process(const std::vector<std::string>& argv,
                      const std::map<std::string, std::string>& env = {},
                      const std::string& input = {}, int timeout_s = 120);

/// A temporary BERTH_ROOT and BERTH_RUN, and a unique name prefix for the host
/// objects (cgroups, links) of one test. Everything is removed afterwards.
class ScratchRoot {
public:
    ScratchRoot();
    ~ScratchRoot();
    ScratchRoot(const ScratchRoot&) = delete;
    ScratchRoot& operator=(const ScratchRoot&) = delete;

    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    [[nodiscard]] const std::filesystem::path& run_root() const { return run_; }
    [[nodiscard]] const std::string& prefix() const { return prefix_; }
    /// BERTH_ROOT, BERTH_RUN and BERTH_PREFIX for a child process.
    [[nodiscard]] std::map<std::string, std::string> env() const;

    /// Runs build/berth with this root: `berth ARGS...`.
    RunResult berth(const std::vector<std::string>& args, const std::string& input = {},
                    int timeout_s = 120) const;

private:
    std::filesystem::path base_;
    std::filesystem::path root_;
    std::filesystem::path run_;
    std::string prefix_;
};

/// The leak census L() of RELIABILITY.md section 3: host objects that belong to
/// one scratch root. Two censuses compare equal when nothing leaked.
struct Census {
    std::set<std::string> mounts;     ///< mountinfo lines under the roots, or overlays from the store
    std::set<std::string> links;      ///< network links whose name starts with the prefix
    std::set<std::string> cgroups;    ///< cgroup directories named with the prefix (v1 and v2)
    std::set<std::string> processes;  ///< live processes whose cmdline or cwd mention the roots
    std::set<std::string> run_files;  ///< files left under the runtime root
    std::set<std::string> nft_tables; ///< nftables tables named with the prefix

    bool operator==(const Census&) const = default;
    /// One line per entry, for a failing CHECK.
    [[nodiscard]] std::string describe() const;
};

/// Takes the census of `scratch` now.
Census take_census(const ScratchRoot& scratch);

/// The census of `scratch` once it equals `baseline`, or after 8 s: processes
/// and kernel objects of a finished command may need a moment to go away
/// (supervisors exiting, namespaces torn down asynchronously).
Census settled_census(const ScratchRoot& scratch, const Census& baseline);

/// True when this process may create namespaces and mounts (uid 0, unshare works).
bool have_root_namespaces(std::string* why);

}  // namespace berth::testing
