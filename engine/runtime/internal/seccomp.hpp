// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <seccomp.h>

#include <memory>

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

/// Loads the filter into the calling thread; errno-style result for the child.
int load_seccomp(const SeccompCtx& ctx);

}  // namespace berth::engine::runtime::detail
