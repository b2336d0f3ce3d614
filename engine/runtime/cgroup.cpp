// SPDX-License-Identifier: Apache-2.0
#include "engine/runtime/internal/cgroup.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/fs.hpp"
#include "common/unique_fd.hpp"

namespace berth::engine::runtime {

CgroupMode detect_cgroup_mode() {
    struct statfs st {};
    if (::statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) {
        return CgroupMode::v2;
    }
    return CgroupMode::v1;
}

namespace detail {
namespace {

namespace stdfs = std::filesystem;
const stdfs::path unified_root = "/sys/fs/cgroup";

Result<void> write_file(const stdfs::path& p, std::string_view data) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", p.native()));
    }
    UniqueFd owner(fd);
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("write \"{}\" to {}", data, p.native()));
    }
    return {};
}

std::string read_small(const stdfs::path& p) {
    auto r = fs::read_file(p);
    return r ? *r : std::string{};
}

bool path_exists(const stdfs::path& p) { return ::access(p.c_str(), F_OK) == 0; }

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

void short_sleep() {
    timespec ts{0, 2'000'000};
    ::nanosleep(&ts, nullptr);
}

uint64_t key_value(const std::string& text, std::string_view key) {
    std::istringstream in(text);
    std::string k;
    uint64_t v = 0;
    while (in >> k >> v) {
        if (k == key) {
            return v;
        }
    }
    return 0;
}

/// A BPF_PROG_TYPE_CGROUP_DEVICE program equivalent to a list of v1 device
/// rules: the last matching rule decides, nothing matching is denied.
std::vector<bpf_insn> device_program(const std::vector<DeviceRule>& rules) {
    auto ins = [](uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
        bpf_insn i{};
        i.code = code;
        i.dst_reg = dst;
        i.src_reg = src;
        i.off = off;
        i.imm = imm;
        return i;
    };
    std::vector<bpf_insn> p;
    // r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx)
    p.push_back(ins(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0));
    p.push_back(ins(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF));
    p.push_back(ins(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0));
    p.push_back(ins(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16));
    p.push_back(ins(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0));
    p.push_back(ins(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0));
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        const DeviceRule& r = *it;
        int32_t access = 0;
        for (char c : r.access) {
            access |= c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE
                                                               : BPF_DEVCG_ACC_MKNOD;
        }
        std::vector<bpf_insn> block;
        // Each check jumps past the rest of this block when it does not match.
        std::vector<size_t> jumps;
        if (r.type != 'a') {
            block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
                                r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
            jumps.push_back(block.size() - 1);
        }
        if (access != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
            // requested access must be a subset: (access & ~rule) == 0
            block.push_back(ins(BPF_ALU | BPF_MOV | BPF_X, 0, 3, 0, 0));
            block.push_back(ins(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0, ~access));
            block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0));
            jumps.push_back(block.size() - 1);
        }
        if (r.major >= 0) {
            block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, static_cast<int32_t>(r.major)));
            jumps.push_back(block.size() - 1);
        }
        if (r.minor >= 0) {
            block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, static_cast<int32_t>(r.minor)));
            jumps.push_back(block.size() - 1);
        }
        block.push_back(ins(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, r.allow ? 1 : 0));
        block.push_back(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        for (size_t j : jumps) {
            block[j].off = static_cast<int16_t>(block.size() - j - 1);
        }
        p.insert(p.end(), block.begin(), block.end());
        if (jumps.empty()) {
            // Matches everything: what follows is unreachable, which the
            // verifier rejects.
            return p;
        }
    }
    p.push_back(ins(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push_back(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    return p;
}

}  // namespace

Result<UniqueFd> load_device_program(const std::vector<DeviceRule>& rules) {
    auto prog = device_program(rules);
    static const char license[] = "Apache-2.0";
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uint64_t>(license);
    int pfd = static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
    if (pfd < 0) {
        int err = errno;
        return Error::from_errno(err, "load device cgroup bpf program");
    }
    return UniqueFd(pfd);
}

namespace {

Result<void> attach_device_program(const stdfs::path& dir, const std::vector<DeviceRule>& rules) {
    auto loaded = load_device_program(rules);
    if (!loaded) {
        return std::move(loaded).error();
    }
    UniqueFd prog_fd = std::move(*loaded);
    int dfd = ::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (dfd < 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("open {}", dir.native()));
    }
    UniqueFd dir_fd(dfd);
    bpf_attr at{};
    at.target_fd = static_cast<uint32_t>(dir_fd.get());
    at.attach_bpf_fd = static_cast<uint32_t>(prog_fd.get());
    at.attach_type = BPF_CGROUP_DEVICE;
    at.attach_flags = BPF_F_ALLOW_MULTI;
    if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof(at)) != 0) {
        int err = errno;
        return Error::from_errno(err, fmt::format("attach device program to {}", dir.native()));
    }
    return {};
}

std::string v1_rule(const DeviceRule& r) {
    if (r.type == 'a') {
        return "a";
    }
    auto num = [](int64_t v) { return v < 0 ? std::string("*") : std::to_string(v); };
    return fmt::format("{} {}:{} {}", r.type, num(r.major), num(r.minor), r.access);
}

stdfs::path first_dir_with(const std::vector<stdfs::path>& dirs, std::string_view file) {
    for (const auto& d : dirs) {
        if (path_exists(d / std::string(file))) {
            return d;
        }
    }
    return {};
}

}  // namespace

std::vector<V1Hierarchy> v1_hierarchies(bool any_root) {
    // Read at every container start: plain string_view splitting, no streams.
    std::vector<V1Hierarchy> out;
    auto text = fs::read_file("/proc/self/mountinfo");
    if (!text) {
        return out;
    }
    auto words = [](std::string_view s, size_t n) {
        std::vector<std::string_view> w;
        size_t i = 0;
        while (w.size() < n) {
            while (i < s.size() && s[i] == ' ') {
                ++i;
            }
            if (i >= s.size()) {
                break;
            }
            size_t j = s.find(' ', i);
            j = j == std::string_view::npos ? s.size() : j;
            w.push_back(s.substr(i, j - i));
            i = j;
        }
        return w;
    };
    std::string_view all(*text);
    while (!all.empty()) {
        size_t nl = all.find('\n');
        std::string_view line = all.substr(0, nl);
        all = nl == std::string_view::npos ? std::string_view{} : all.substr(nl + 1);
        // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        auto sep = line.find(" - ");
        if (sep == std::string_view::npos) {
            continue;
        }
        auto head = words(line.substr(0, sep), 5);
        auto tail = words(line.substr(sep + 3), 3);
        if (head.size() < 5 || tail.size() < 3) {
            continue;
        }
        std::string_view root = head[3];
        if (tail[0] != "cgroup" || (root != "/" && !any_root)) {
            continue;
        }
        std::string ctrls;
        std::string_view super = tail[2];
        while (!super.empty()) {
            size_t comma = super.find(',');
            std::string_view o = super.substr(0, comma);
            super = comma == std::string_view::npos ? std::string_view{} : super.substr(comma + 1);
            if (o.empty() || o == "rw" || o == "ro" || o.rfind("release_agent", 0) == 0 ||
                o == "clone_children" || o == "noprefix" || o == "xattr" || o == "cpuset_v2_mode") {
                continue;
            }
            if (!ctrls.empty()) {
                ctrls += ',';
            }
            ctrls += o;
        }
        if (!ctrls.empty()) {
            out.push_back({std::string(head[4]), ctrls});
        }
    }
    return out;
}

Result<Cgroup> Cgroup::at(const std::string& cgroups_path) {
    std::string rel = cgroups_path;
    while (!rel.empty() && rel.front() == '/') {
        rel.erase(rel.begin());
    }
    if (rel.empty()) {
        return Error(Errc::invalid_argument, "linux.cgroupsPath: must name a cgroup below the root");
    }
    for (const auto& part : stdfs::path(rel)) {
        if (part == ".." || part == ".") {
            return Error(Errc::invalid_argument,
                         fmt::format("linux.cgroupsPath: \"{}\" must not contain . or ..",
                                     cgroups_path));
        }
    }
    Cgroup cg;
    cg.rel_ = rel;
    cg.mode_ = detect_cgroup_mode();
    if (cg.mode_ == CgroupMode::v2) {
        cg.dirs_.push_back(unified_root / rel);
    } else {
        for (const auto& h : v1_hierarchies()) {
            cg.dirs_.push_back(h.mountpoint / rel);
        }
    }
    return cg;
}

Result<void> Cgroup::create() const {
    if (mode_ == CgroupMode::v2) {
        // Enable controllers from the root down to the parent of the leaf.
        stdfs::path cur = unified_root;
        std::string avail = read_small(cur / "cgroup.controllers");
        for (const auto& part : stdfs::path(rel_)) {
            for (const char* c : {"cpu", "cpuset", "memory", "pids", "io"}) {
                if (avail.find(c) != std::string::npos) {
                    (void)write_file(cur / "cgroup.subtree_control", std::string("+") + c);
                }
            }
            cur /= part;
            if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
                int err = errno;
                return Error::from_errno(err, fmt::format("create cgroup {}", cur.native()));
            }
        }
        return {};
    }
    for (const auto& dir : dirs_) {
        std::error_code ec;
        stdfs::create_directories(dir, ec);
        if (ec) {
            return Error::from_errno(ec.value(), fmt::format("create cgroup {}", dir.native()));
        }
        // A v1 cpuset cgroup takes no task until cpus and mems are set: copy
        // them down from the nearest ancestor that has them.
        if (path_exists(dir / "cpuset.cpus")) {
            std::vector<stdfs::path> chain;
            for (stdfs::path p = dir; path_exists(p / "cpuset.cpus"); p = p.parent_path()) {
                chain.insert(chain.begin(), p);
                if (p == p.parent_path()) {
                    break;
                }
            }
            for (size_t i = 1; i < chain.size(); ++i) {
                for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
                    if (trim(read_small(chain[i] / f)).empty()) {
                        auto r = write_file(chain[i] / f, trim(read_small(chain[i - 1] / f)));
                        if (!r) {
                            return r;
                        }
                    }
                }
            }
        }
    }
    return {};
}

Result<void> Cgroup::apply(const Resources& res) const {
    if (mode_ == CgroupMode::v2) {
        const auto& d = dirs_.front();
        if (res.memory_limit && *res.memory_limit > 0) {
            auto r = write_file(d / "memory.max", std::to_string(*res.memory_limit));
            if (!r) {
                return r;
            }
            // OCI swap is memory+swap; Docker gives as much swap as memory when unset.
            int64_t swap = *res.memory_limit;
            if (res.memory_swap) {
                swap = *res.memory_swap < 0 ? -1 : *res.memory_swap - *res.memory_limit;
            }
            if (path_exists(d / "memory.swap.max")) {
                r = write_file(d / "memory.swap.max", swap < 0 ? "max" : std::to_string(swap));
                if (!r) {
                    return r;
                }
            }
        }
        if (res.cpu_quota || res.cpu_period) {
            uint64_t period = res.cpu_period.value_or(100000);
            std::string quota = res.cpu_quota && *res.cpu_quota > 0
                                    ? std::to_string(*res.cpu_quota) : "max";
            auto r = write_file(d / "cpu.max", quota + " " + std::to_string(period));
            if (!r) {
                return r;
            }
        }
        if (res.cpu_shares && *res.cpu_shares > 0) {
            uint64_t s = *res.cpu_shares < 2 ? 2 : *res.cpu_shares;
            uint64_t weight = 1 + ((s - 2) * 9999) / 262142;
            auto r = write_file(d / "cpu.weight", std::to_string(weight));
            if (!r) {
                return r;
            }
        }
        if (res.cpuset_cpus) {
            auto r = write_file(d / "cpuset.cpus", *res.cpuset_cpus);
            if (!r) {
                return r;
            }
        }
        if (res.cpuset_mems) {
            auto r = write_file(d / "cpuset.mems", *res.cpuset_mems);
            if (!r) {
                return r;
            }
        }
        if (res.pids_limit) {
            auto r = write_file(d / "pids.max", *res.pids_limit > 0
                                                    ? std::to_string(*res.pids_limit) : "max");
            if (!r) {
                return r;
            }
        }
        if (!res.devices.empty()) {
            return attach_device_program(d, res.devices);
        }
        return {};
    }
    auto in = [&](const char* file) { return first_dir_with(dirs_, file); };
    if (res.memory_limit && *res.memory_limit > 0) {
        auto d = in("memory.limit_in_bytes");
        if (d.empty()) {
            return Error(Errc::unsupported, "memory limit: no memory cgroup hierarchy");
        }
        auto r = write_file(d / "memory.limit_in_bytes", std::to_string(*res.memory_limit));
        if (!r) {
            return r;
        }
        int64_t total = res.memory_swap.value_or(2 * *res.memory_limit);
        if (path_exists(d / "memory.memsw.limit_in_bytes")) {
            r = write_file(d / "memory.memsw.limit_in_bytes", std::to_string(total));
            if (!r) {
                return r;
            }
        }
    }
    if (auto d = in("cpu.cfs_quota_us"); !d.empty()) {
        if (res.cpu_period) {
            auto r = write_file(d / "cpu.cfs_period_us", std::to_string(*res.cpu_period));
            if (!r) {
                return r;
            }
        }
        if (res.cpu_quota) {
            auto r = write_file(d / "cpu.cfs_quota_us", std::to_string(*res.cpu_quota));
            if (!r) {
                return r;
            }
        }
        if (res.cpu_shares) {
            auto r = write_file(d / "cpu.shares", std::to_string(*res.cpu_shares));
            if (!r) {
                return r;
            }
        }
    }
    if (auto d = in("cpuset.cpus"); !d.empty()) {
        if (res.cpuset_cpus) {
            auto r = write_file(d / "cpuset.cpus", *res.cpuset_cpus);
            if (!r) {
                return r;
            }
        }
        if (res.cpuset_mems) {
            auto r = write_file(d / "cpuset.mems", *res.cpuset_mems);
            if (!r) {
                return r;
            }
        }
    }
    if (res.pids_limit) {
        auto d = in("pids.max");
        if (d.empty()) {
            return Error(Errc::unsupported, "pids limit: no pids cgroup hierarchy");
        }
        auto r = write_file(d / "pids.max",
                            *res.pids_limit > 0 ? std::to_string(*res.pids_limit) : "max");
        if (!r) {
            return r;
        }
    }
    if (!res.devices.empty()) {
        auto d = in("devices.allow");
        if (d.empty()) {
            return Error(Errc::unsupported, "device rules: no devices cgroup hierarchy");
        }
        for (const auto& rule : res.devices) {
            auto r = write_file(d / (rule.allow ? "devices.allow" : "devices.deny"), v1_rule(rule));
            if (!r) {
                return r;
            }
        }
    }
    return {};
}

Result<void> Cgroup::add(pid_t pid) const {
    std::string s = std::to_string(pid);
    for (const auto& d : dirs_) {
        auto r = write_file(d / "cgroup.procs", s);
        if (!r) {
            return r;
        }
    }
    return {};
}

Result<void> Cgroup::add_self() const {
    if (mode_ == CgroupMode::v2) {
        return add(0);
    }
    for (const auto& d : dirs_) {
        if (auto r = write_file(d / "tasks", "0"); !r) {
            return r;
        }
    }
    return {};
}

Result<UniqueFd> Cgroup::open_dir() const {
    if (dirs_.empty()) {
        return Error(Errc::failed_precondition, "cgroup has no directory");
    }
    return fs::open(dirs_.front(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

Result<std::vector<pid_t>> Cgroup::pids() const {
    stdfs::path d = dirs_.empty() ? stdfs::path{} : dirs_.front();
    if (mode_ == CgroupMode::v1) {
        for (const auto& p : dirs_) {
            if (path_exists(p / "pids.max") || path_exists(p / "freezer.state")) {
                d = p;
                break;
            }
        }
    }
    auto text = fs::read_file(d / "cgroup.procs");
    if (!text) {
        return std::move(text).error();
    }
    std::vector<pid_t> out;
    std::istringstream in(*text);
    pid_t p = 0;
    while (in >> p) {
        out.push_back(p);
    }
    return out;
}

Result<void> Cgroup::freeze(bool frozen) const {
    if (mode_ == CgroupMode::v2) {
        const auto& d = dirs_.front();
        auto r = write_file(d / "cgroup.freeze", frozen ? "1" : "0");
        if (!r) {
            return r;
        }
        for (int i = 0; i < 5000; ++i) {
            std::string ev = read_small(d / "cgroup.events");
            if (ev.find(frozen ? "frozen 1" : "frozen 0") != std::string::npos) {
                return {};
            }
            short_sleep();
        }
        return Error(Errc::unavailable, fmt::format("cgroup {} did not freeze", d.native()));
    }
    auto d = first_dir_with(dirs_, "freezer.state");
    if (d.empty()) {
        return Error(Errc::unsupported, "pause: no freezer cgroup hierarchy");
    }
    const char* want = frozen ? "FROZEN" : "THAWED";
    for (int i = 0; i < 5000; ++i) {
        auto r = write_file(d / "freezer.state", want);
        if (!r) {
            return r;
        }
        if (trim(read_small(d / "freezer.state")) == want) {
            return {};
        }
        short_sleep();
    }
    return Error(Errc::unavailable, fmt::format("freezer {} stuck before {}", d.native(), want));
}

Result<void> Cgroup::signal_all(int sig) const {
    if (mode_ == CgroupMode::v2 && sig == SIGKILL && path_exists(dirs_.front() / "cgroup.kill")) {
        return write_file(dirs_.front() / "cgroup.kill", "1");
    }
    // Freeze first so that no process forks away from the signal.
    bool can_freeze = mode_ == CgroupMode::v2 || !first_dir_with(dirs_, "freezer.state").empty();
    if (can_freeze) {
        auto f = freeze(true);
        if (!f) {
            return f;
        }
    }
    auto list = pids();
    if (list) {
        for (pid_t p : *list) {
            ::kill(p, sig);
        }
    }
    if (can_freeze) {
        auto t = freeze(false);
        if (!t) {
            return t;
        }
    }
    return list ? Result<void>{} : Result<void>{std::move(list).error()};
}

Result<void> Cgroup::destroy() const {
    bool any = false;
    for (const auto& d : dirs_) {
        any = any || path_exists(d);
    }
    if (!any) {
        return {};
    }
    for (int attempt = 0; attempt < 5000; ++attempt) {
        auto list = pids();
        if (!list || list->empty()) {
            break;
        }
        (void)signal_all(SIGKILL);
        short_sleep();
    }
    for (const auto& d : dirs_) {
        for (int attempt = 0;; ++attempt) {
            if (::rmdir(d.c_str()) == 0 || errno == ENOENT) {
                break;
            }
            int err = errno;
            if (err != EBUSY || attempt > 2500) {
                return Error::from_errno(err, fmt::format("remove cgroup {}", d.native()));
            }
            short_sleep();
        }
    }
    return {};
}

Result<CgroupStats> Cgroup::stats() const {
    CgroupStats s;
    auto num = [](const std::string& t) -> uint64_t {
        std::string v = trim(t);
        if (v.empty() || v == "max") {
            return 0;
        }
        return std::strtoull(v.c_str(), nullptr, 10);
    };
    if (mode_ == CgroupMode::v2) {
        const auto& d = dirs_.front();
        if (!path_exists(d)) {
            return Error(Errc::not_found, fmt::format("cgroup {} not found", d.native()));
        }
        s.memory_bytes = num(read_small(d / "memory.current"));
        s.memory_limit = num(read_small(d / "memory.max"));
        s.pids = num(read_small(d / "pids.current"));
        s.oom_killed = key_value(read_small(d / "memory.events"), "oom_kill") > 0;
        return s;
    }
    auto m = first_dir_with(dirs_, "memory.usage_in_bytes");
    if (!m.empty()) {
        s.memory_bytes = num(read_small(m / "memory.usage_in_bytes"));
        uint64_t lim = num(read_small(m / "memory.limit_in_bytes"));
        s.memory_limit = lim >= (uint64_t{1} << 62) ? 0 : lim;
        s.oom_killed = key_value(read_small(m / "memory.oom_control"), "oom_kill") > 0;
    }
    auto p = first_dir_with(dirs_, "pids.current");
    if (!p.empty()) {
        s.pids = num(read_small(p / "pids.current"));
    }
    if (m.empty() && p.empty()) {
        return Error(Errc::not_found, fmt::format("cgroup {} not found", rel_));
    }
    return s;
}

}  // namespace detail
}  // namespace berth::engine::runtime
