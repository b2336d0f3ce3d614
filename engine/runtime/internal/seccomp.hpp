// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <linux/filter.h>
#include <seccomp.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "common/result.hpp"
#include "engine/runtime/spec.hpp"

namespace berth::engine::runtime::detail {

struct SeccompCtxFree {
    void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using SeccompCtx = std::unique_ptr<void, SeccompCtxFree>;

/// Builds (but does not load) a libseccomp filter from a linux.seccomp spec.
/// Syscall names unknown to libseccomp or to an architecture are skipped, as
/// runc does. libseccomp is told not to set no_new_privs by itself.
/// Errc::invalid_argument for an unknown action, operator or architecture.
Result<SeccompCtx> build_seccomp(const Seccomp& spec);

/// A compiled filter: the classic BPF program libseccomp generates for a spec
/// and the seccomp(2) flags libseccomp would load it with.
struct SeccompProgram {
    std::vector<sock_filter> insns;
    unsigned int flags = 0;
};

/// The program of `spec`. Compiling the default profile with libseccomp costs
/// milliseconds per container, so when `cache_dir` is not empty the program is
/// kept there (a root-only directory under the runtime root) with its key (the
/// spec, the libseccomp version and the kernel; the file is named by a hash of
/// it) and read back by later calls that have the same key. A cache file that
/// does not verify (its key, size, CRC-32) is ignored and rewritten; failing
/// to write one is not an error.
Result<SeccompProgram> compile_seccomp(const Seccomp& spec,
                                       const std::filesystem::path& cache_dir = {});

/// Loads the filter into the calling thread; errno-style result for the child.
int load_seccomp(const SeccompCtx& ctx);
/// Same for a compiled program (one seccomp(2) call, async-signal-safe).
int load_seccomp(const SeccompProgram& program);

}  // namespace berth::engine::runtime::detail
