// SPDX-License-Identifier: Apache-2.0
//
// libseccomp, loaded on first use (see common/dynlib.hpp): berth compiles a
// profile with it only when the compiled program is not in the cache
// (seccomp.cpp); a cached program is loaded with seccomp(2) directly.

#include <seccomp.h>

#include "common/dynlib.hpp"

namespace {

// libseccomp's SONAME has been libseccomp.so.2 since 2.0.
constexpr const char* seccomp_soname = "libseccomp.so.2";

}  // namespace

#define BERTH_SCMP(ret, name, params, args) BERTH_DYNLIB_FN(seccomp_soname, ret, name, params, args)

BERTH_SCMP(scmp_filter_ctx, seccomp_init, (uint32_t def_action), (def_action))
BERTH_SCMP(void, seccomp_release, (scmp_filter_ctx ctx), (ctx))
BERTH_SCMP(uint32_t, seccomp_arch_resolve_name, (const char* arch_name), (arch_name))
BERTH_SCMP(int, seccomp_arch_add, (scmp_filter_ctx ctx, uint32_t arch_token), (ctx, arch_token))
BERTH_SCMP(int, seccomp_load, (const scmp_filter_ctx ctx), (ctx))
BERTH_SCMP(int, seccomp_attr_set, (scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value),
           (ctx, attr, value))
BERTH_SCMP(int, seccomp_syscall_resolve_name, (const char* name), (name))
BERTH_SCMP(int, seccomp_rule_add_array,
           (scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
            const struct scmp_arg_cmp* arg_array),
           (ctx, action, syscall, arg_cnt, arg_array))
BERTH_SCMP(int, seccomp_export_bpf, (const scmp_filter_ctx ctx, int fd), (ctx, fd))
