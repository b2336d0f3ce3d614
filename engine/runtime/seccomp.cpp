// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/internal/seccomp.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"

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
    // Syscall numbers as a binary tree instead of a linear chain: the same
    // decisions, in about log2(rules) comparisons instead of up to one per
    // rule. It matters twice: at every syscall the container makes, and at
    // load, where the kernel emulates the filter for each syscall number of
    // each architecture to fill its action cache (a linear chain of Docker's
    // ~370 rules made that about 1.5 ms of every container start).
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc != 0) {
        return Error::from_errno(-rc, "seccomp: set CTL_OPTIMIZE");
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

namespace {

/// What libseccomp's seccomp_load passes to seccomp(2) for these spec flags
/// (no_new_privs is never set by libseccomp here: CTL_NNP is off).
unsigned int load_flags(const Seccomp& spec) {
    unsigned int flags = 0;
    for (const auto& f : spec.flags) {
        if (f == "SECCOMP_FILTER_FLAG_LOG") {
            flags |= SECCOMP_FILTER_FLAG_LOG;
        } else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
            flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        } else if (f == "SECCOMP_FILTER_FLAG_TSYNC") {
            flags |= SECCOMP_FILTER_FLAG_TSYNC;
        }
    }
    return flags;
}

/// Everything the generated program depends on: the spec, the libseccomp
/// version (code generation) and the kernel (the API level libseccomp
/// detects, the native architecture). The whole text is stored in the cache
/// file and compared on every read, so the file name needs no cryptographic
/// hash (and a start of a container no libcrypto): names that collide only
/// make the second profile recompile.
std::string cache_key(const Seccomp& spec) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& r : spec.syscalls) {
        nlohmann::json args = nlohmann::json::array();
        for (const auto& a : r.args) {
            args.push_back({a.index, a.value, a.value_two, a.op});
        }
        rules.push_back({r.names, r.action, r.errno_ret ? static_cast<int64_t>(*r.errno_ret) : -1,
                         args});
    }
    // The version berth was built against, not seccomp_version(): asking the
    // library would load it for every container, and a cached program is
    // what makes that unnecessary. (A libseccomp upgraded under the same
    // berth build keeps using the programs cached until berth is rebuilt;
    // they stay valid filters for the same profile and kernel.)
    struct {
        unsigned major, minor, micro;
    } version{SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO};
    const auto* v = &version;
    utsname u{};
    ::uname(&u);
    nlohmann::json key = {
        "berth-seccomp-bpf-3",
        fmt::format("{}.{}.{}", v->major, v->minor, v->micro),
        std::string(u.release) + " " + u.version + " " + u.machine,
        spec.default_action,
        spec.default_errno_ret ? static_cast<int64_t>(*spec.default_errno_ret) : -1,
        spec.architectures,
        spec.flags,
        rules,
    };
    return key.dump();
}

/// The cache file's name for a key: FNV-1a, 64 bits.
std::string cache_name(std::string_view key) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) {
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return fmt::format("{:016x}.bpf", h);
}

/// Cache file: magic, flags, instruction count, key length, CRC-32 of the
/// key and the instructions; then the key, then the instructions.
constexpr char cache_magic[8] = {'b', 'e', 'r', 't', 'h', 'b', 'p', '3'};
struct CacheHeader {
    char magic[8];
    uint32_t flags;
    uint32_t count;
    uint32_t key_size;
    uint32_t crc;
};

std::string_view insn_bytes(const std::vector<sock_filter>& insns) {
    return {reinterpret_cast<const char*>(insns.data()), insns.size() * sizeof(sock_filter)};
}

uint32_t cache_crc(std::string_view key, std::string_view insns) {
    uLong c = ::crc32(0L, Z_NULL, 0);
    c = ::crc32(c, reinterpret_cast<const Bytef*>(key.data()), static_cast<uInt>(key.size()));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(insns.data()), static_cast<uInt>(insns.size()));
    return static_cast<uint32_t>(c);
}

std::optional<SeccompProgram> read_cached(const std::filesystem::path& file, std::string_view key,
                                          unsigned int flags) {
    auto text = fs::read_file(file);
    if (!text || text->size() < sizeof(CacheHeader)) {
        return std::nullopt;
    }
    CacheHeader h{};
    std::memcpy(&h, text->data(), sizeof h);
    size_t body = text->size() - sizeof h;
    if (std::memcmp(h.magic, cache_magic, sizeof h.magic) != 0 || h.flags != flags ||
        h.count == 0 || h.count > BPF_MAXINSNS || h.key_size != key.size() ||
        body != key.size() + h.count * sizeof(sock_filter) ||
        std::string_view(*text).substr(sizeof h, key.size()) != key) {
        return std::nullopt;
    }
    SeccompProgram p;
    p.flags = flags;
    p.insns.resize(h.count);
    std::memcpy(p.insns.data(), text->data() + sizeof h + key.size(), h.count * sizeof(sock_filter));
    if (cache_crc(key, insn_bytes(p.insns)) != h.crc) {
        return std::nullopt;
    }
    return p;
}

void write_cached(const std::filesystem::path& file, std::string_view key, const SeccompProgram& p) {
    CacheHeader h{};
    std::memcpy(h.magic, cache_magic, sizeof h.magic);
    h.flags = p.flags;
    h.count = static_cast<uint32_t>(p.insns.size());
    h.key_size = static_cast<uint32_t>(key.size());
    h.crc = cache_crc(key, insn_bytes(p.insns));
    std::string data(reinterpret_cast<const char*>(&h), sizeof h);
    data.append(key);
    data.append(insn_bytes(p.insns));
    // Regenerated on demand: atomic, no fsync.
    auto ignored = fs::write_atomic(file, data, 0600, fs::Durability::process_crash);
    (void)ignored;
}

/// Only a directory of ours that nobody else can write to is used (a missing
/// one is created 0700).
bool cache_dir_trusted(const std::filesystem::path& dir) {
    if (!fs::make_dirs(dir, 0700)) {
        return false;
    }
    struct stat st {};
    return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
           (st.st_mode & 022) == 0;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const Seccomp& spec, const std::filesystem::path& cache_dir) {
    const unsigned int flags = load_flags(spec);
    std::filesystem::path file;
    std::string key;
    if (!cache_dir.empty() && cache_dir_trusted(cache_dir)) {
        key = cache_key(spec);
        file = cache_dir / cache_name(key);
        if (auto cached = read_cached(file, key, flags)) {
            return std::move(*cached);
        }
    }
    auto ctx = build_seccomp(spec);
    if (!ctx) {
        return std::move(ctx).error();
    }
    // libseccomp 2.5 exports to a file descriptor only: a memfd holds it.
    int mfd = ::memfd_create("berth-seccomp", MFD_CLOEXEC);
    if (mfd < 0) {
        int err = errno;
        return Error::from_errno(err, "seccomp: create memfd");
    }
    UniqueFd mem(mfd);
    if (int rc = seccomp_export_bpf(ctx->get(), mem.get()); rc != 0) {
        return Error::from_errno(-rc, "seccomp: export filter");
    }
    off_t size = ::lseek(mem.get(), 0, SEEK_CUR);
    if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
        size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS) {
        return Error(Errc::invalid_argument,
                     fmt::format("seccomp: filter of {} bytes cannot be loaded", size));
    }
    SeccompProgram p;
    p.flags = flags;
    p.insns.resize(static_cast<size_t>(size) / sizeof(sock_filter));
    if (::pread(mem.get(), p.insns.data(), static_cast<size_t>(size), 0) != size) {
        int err = errno;
        return Error::from_errno(err, "seccomp: read exported filter");
    }
    if (!file.empty()) {
        write_cached(file, key, p);
    }
    return p;
}

int load_seccomp(const SeccompProgram& program) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.insns.size());
    prog.filter = const_cast<sock_filter*>(program.insns.data());
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog);
    if (rc == 0) {
        return 0;
    }
    if (rc > 0) {
        return ESRCH;  // TSYNC: another thread could not be synchronised
    }
    int err = errno;
    if (err == ENOSYS && program.flags == 0 &&
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0) {
        return 0;
    }
    return err == ENOSYS ? errno : err;
}

}  // namespace berth::engine::runtime::detail
