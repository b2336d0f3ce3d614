// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/internal/seccomp.hpp"

#include <fmt/format.h>

#include <cerrno>

namespace berth::engine::runtime::detail {
namespace {

Result<uint32_t> action_of(const std::string& name, std::optional<unsigned> errno_ret) {
    if (name == "SCMP_ACT_ALLOW") {
        return uint32_t{SCMP_ACT_ALLOW};
    }
    if (name == "SCMP_ACT_ERRNO") {
        return uint32_t{SCMP_ACT_ERRNO(errno_ret.value_or(EPERM))};
    }
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") {
        return uint32_t{SCMP_ACT_KILL_THREAD};
    }
    if (name == "SCMP_ACT_KILL_PROCESS") {
        return uint32_t{SCMP_ACT_KILL_PROCESS};
    }
    if (name == "SCMP_ACT_TRAP") {
        return uint32_t{SCMP_ACT_TRAP};
    }
    if (name == "SCMP_ACT_TRACE") {
        return uint32_t{SCMP_ACT_TRACE(errno_ret.value_or(EPERM))};
    }
    if (name == "SCMP_ACT_LOG") {
        return uint32_t{SCMP_ACT_LOG};
    }
    return Error(Errc::invalid_argument,
                 fmt::format("linux.seccomp: unsupported action \"{}\"", name));
}

Result<scmp_compare> op_of(const std::string& op) {
    static const std::pair<const char*, scmp_compare> table[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    for (const auto& [n, v] : table) {
        if (op == n) {
            return v;
        }
    }
    return Error(Errc::invalid_argument, fmt::format("linux.seccomp: unknown operator \"{}\"", op));
}

}  // namespace

Result<SeccompCtx> build_seccomp(const Seccomp& spec) {
    auto def = action_of(spec.default_action, spec.default_errno_ret);
    if (!def) {
        return std::move(def).error();
    }
    SeccompCtx ctx(seccomp_init(*def));
    if (!ctx) {
        return Error(Errc::internal, "seccomp_init failed");
    }
    // The runtime sets no_new_privs itself, only when the spec asks.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc != 0) {
        return Error::from_errno(-rc, "seccomp: clear CTL_NNP");
    }
    for (const auto& arch : spec.architectures) {
        std::string lower;
        std::string bare = arch.rfind("SCMP_ARCH_", 0) == 0 ? arch.substr(10) : arch;
        for (char c : bare) {
            lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        uint32_t token = seccomp_arch_resolve_name(lower.c_str());
        if (token == 0) {
            return Error(Errc::invalid_argument,
                         fmt::format("linux.seccomp: unknown architecture \"{}\"", arch));
        }
        int rc = seccomp_arch_add(ctx.get(), token);
        if (rc != 0 && rc != -EEXIST) {
            return Error::from_errno(-rc, fmt::format("seccomp: add architecture {}", arch));
        }
    }
    for (const auto& flag : spec.flags) {
        int rc = 0;
        if (flag == "SECCOMP_FILTER_FLAG_LOG") {
            rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_LOG, 1);
        } else if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
            rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_SSB, 1);
        } else if (flag == "SECCOMP_FILTER_FLAG_TSYNC") {
            rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1);
        } else {
            return Error(Errc::invalid_argument,
                         fmt::format("linux.seccomp: unknown flag \"{}\"", flag));
        }
        if (rc != 0) {
            return Error::from_errno(-rc, fmt::format("seccomp: set flag {}", flag));
        }
    }
    for (const auto& rule : spec.syscalls) {
        auto act = action_of(rule.action, rule.errno_ret);
        if (!act) {
            return std::move(act).error();
        }
        if (*act == *def) {
            continue;  // libseccomp rejects rules equal to the default action
        }
        std::vector<scmp_arg_cmp> cmps;
        for (const auto& a : rule.args) {
            auto op = op_of(a.op);
            if (!op) {
                return std::move(op).error();
            }
            scmp_arg_cmp c{};
            c.arg = a.index;
            c.op = *op;
            // For MASKED_EQ, libseccomp's datum_a is the mask and datum_b the value;
            // OCI's value is the mask and valueTwo the expected result.
            c.datum_a = a.value;
            c.datum_b = a.value_two;
            cmps.push_back(c);
        }
        for (const auto& name : rule.names) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) {
                continue;  // unknown to this libseccomp: skipped, as runc does
            }
            int rc = seccomp_rule_add_array(ctx.get(), *act, nr, static_cast<unsigned>(cmps.size()),
                                            cmps.empty() ? nullptr : cmps.data());
            if (rc == -EEXIST) {
                continue;
            }
            if (rc != 0) {
                return Error::from_errno(-rc, fmt::format("seccomp: add rule for {}", name));
            }
        }
    }
    return ctx;
}

int load_seccomp(const SeccompCtx& ctx) {
    int rc = seccomp_load(ctx.get());
    return rc < 0 ? -rc : 0;
}

}  // namespace berth::engine::runtime::detail
