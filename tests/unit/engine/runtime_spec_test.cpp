// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "engine/runtime/internal/seccomp.hpp"
#include "engine/runtime/runtime.hpp"
#include "engine/runtime/spec.hpp"
#include "engine/runtime/user.hpp"

namespace rt = berth::engine::runtime;
using nlohmann::json;

namespace {

json minimal() {
    json j = rt::default_spec();
    j["process"]["args"] = {"/bin/true"};
    j["root"] = {{"path", "rootfs"}};
    return j;
}

std::set<std::string> allowed_plain(const json& seccomp) {
    std::set<std::string> out;
    for (const auto& r : seccomp["syscalls"]) {
        if (r["action"] == "SCMP_ACT_ALLOW" && !r.contains("args")) {
            for (const auto& n : r["names"]) {
                out.insert(n.get<std::string>());
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("default spec holds Docker's frozen defaults", "[engine][runtime]") {
    json s = rt::default_spec();
    auto caps = s["process"]["capabilities"];
    CHECK(caps["bounding"].size() == 14);
    CHECK(caps["effective"] == caps["bounding"]);
    CHECK(caps["permitted"] == caps["bounding"]);
    CHECK(caps["inheritable"].empty());
    CHECK(caps["ambient"].empty());
    std::set<std::string> masked;
    for (const auto& m : s["linux"]["maskedPaths"]) {
        masked.insert(m.get<std::string>());
    }
    for (const char* p : {"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore",
                          "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
                          "/proc/timer_list", "/proc/timer_stats",
                          "/sys/devices/virtual/powercap", "/sys/firmware"}) {
        CHECK(masked.count(p) == 1);
    }
    CHECK(s["linux"]["readonlyPaths"] ==
          json({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}));
    CHECK(s["mounts"].size() == 7);
    auto devices = s["linux"]["resources"]["devices"];
    CHECK(devices.front() == json({{"allow", false}, {"access", "rwm"}}));
    CHECK(devices.back()["major"] == 10);
    CHECK(devices.back()["minor"] == 229);
    CHECK(devices.back()["allow"] == false);
    auto spec = rt::parse_spec(minimal());
    REQUIRE(spec);
    CHECK(spec->linux.namespaces.size() == 6);
    CHECK(spec->linux.seccomp->default_action == "SCMP_ACT_ERRNO");
    CHECK(spec->linux.seccomp->default_errno_ret == 1u);
}

TEST_CASE("default seccomp profile allows and refuses what moby's does", "[engine][runtime]") {
    json p = rt::seccomp_for_caps(rt::docker_defaults()["capabilities"].get<std::vector<std::string>>());
    auto plain = allowed_plain(p);
    CHECK(plain.size() >= 350);
    for (const char* never : {"keyctl", "add_key", "request_key", "userfaultfd", "pivot_root",
                              "kexec_load", "kexec_file_load", "swapon", "swapoff",
                              "io_uring_setup", "io_uring_enter", "io_uring_register",
                              "move_pages", "nfsservctl", "vm86", "uselib", "_sysctl", "mount",
                              "umount2", "unshare", "setns", "bpf", "open_by_handle_at",
                              "reboot", "init_module", "socket", "personality", "clone",
                              "clone3"}) {
        INFO(never);
        CHECK(plain.count(never) == 0);
    }
    CHECK(plain.count("chroot") == 1);  // SYS_CHROOT is a default capability
    bool clone3_enosys = false;
    bool clone_masked = false;
    for (const auto& r : p["syscalls"]) {
        if (r["names"] == json({"clone3"})) {
            clone3_enosys = r["action"] == "SCMP_ACT_ERRNO" && r["errnoRet"] == 38;
        }
        if (r["names"] == json({"clone"}) && r.contains("args")) {
            clone_masked = r["args"][0]["value"] == 0x7E020000 &&
                           r["args"][0]["op"] == "SCMP_CMP_MASKED_EQ";
        }
        if (r["names"] == json({"socket"})) {
            // AF_ALG (38) and AF_VSOCK (40) fall outside every socket rule
            for (uint64_t family : {38, 40}) {
                uint64_t v = r["args"][0]["value"];
                std::string op = r["args"][0]["op"];
                bool allows = (op == "SCMP_CMP_LT" && family < v) ||
                              (op == "SCMP_CMP_EQ" && family == v) ||
                              (op == "SCMP_CMP_GT" && family > v);
                CHECK_FALSE(allows);
            }
        }
    }
    CHECK(clone3_enosys);
    CHECK(clone_masked);
}

TEST_CASE("seccomp_for_caps adds capability-gated syscalls", "[engine][runtime]") {
    auto caps = rt::docker_defaults()["capabilities"].get<std::vector<std::string>>();
    caps.push_back("SYS_ADMIN");
    caps.push_back("CAP_SYS_PTRACE");
    json p = rt::seccomp_for_caps(caps);
    auto plain = allowed_plain(p);
    for (const char* n : {"mount", "umount2", "unshare", "setns", "clone", "clone3", "kcmp",
                          "pidfd_getfd", "sethostname"}) {
        INFO(n);
        CHECK(plain.count(n) == 1);
    }
    for (const auto& r : p["syscalls"]) {
        CHECK_FALSE((r["names"] == json({"clone3"}) && r["action"] == "SCMP_ACT_ERRNO"));
    }
    CHECK(plain.count("reboot") == 0);
    CHECK(plain.count("keyctl") == 0);
}

TEST_CASE("the default profile builds with libseccomp", "[engine][runtime]") {
    auto s = rt::parse_seccomp(rt::default_spec()["linux"]["seccomp"]);
    REQUIRE(s);
    auto ctx = rt::detail::build_seccomp(*s);
    REQUIRE(ctx);
    rt::Seccomp bad = *s;
    bad.syscalls.push_back({{"read"}, "SCMP_ACT_BOGUS", std::nullopt, {}});
    auto err = rt::detail::build_seccomp(bad);
    REQUIRE(!err);
    CHECK(err.error().code() == berth::Errc::invalid_argument);
}

TEST_CASE("compiled seccomp programs are cached by their whole key", "[engine][runtime]") {
    auto s = rt::parse_seccomp(rt::default_spec()["linux"]["seccomp"]);
    REQUIRE(s);
    char tmpl[] = "/tmp/berth-seccomp-cache-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    std::filesystem::path dir = std::filesystem::path(tmpl) / "cache";
    struct Cleanup {
        std::filesystem::path root;
        ~Cleanup() { std::filesystem::remove_all(root); }
    } cleanup{tmpl};
    auto fresh = rt::detail::compile_seccomp(*s);
    REQUIRE(fresh);
    auto first = rt::detail::compile_seccomp(*s, dir);
    REQUIRE(first);
    auto files = [&] {
        std::vector<std::filesystem::path> out;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            out.push_back(e.path());
        }
        return out;
    };
    auto same = [](const rt::detail::SeccompProgram& a, const rt::detail::SeccompProgram& b) {
        return a.flags == b.flags && a.insns.size() == b.insns.size() &&
               std::memcmp(a.insns.data(), b.insns.data(), a.insns.size() * sizeof(sock_filter)) ==
                   0;
    };
    CHECK(same(*first, *fresh));
    REQUIRE(files().size() == 1);
    auto file = files().front();
    auto read = [](const std::filesystem::path& f) {
        std::ifstream in(f, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    auto write = [](const std::filesystem::path& f, const std::string& data) {
        std::ofstream(f, std::ios::binary | std::ios::trunc) << data;
    };
    const std::string good = read(file);

    // A hit: the file is used as it is (a planted program with a matching key
    // and CRC would be loaded, so the key must be the whole profile).
    auto second = rt::detail::compile_seccomp(*s, dir);
    REQUIRE(second);
    CHECK(same(*second, *fresh));
    CHECK(read(file) == good);

    // A flipped instruction bit fails the CRC: recompiled and rewritten.
    std::string bad = good;
    bad[bad.size() - 3] = static_cast<char>(bad[bad.size() - 3] ^ 0x10);
    write(file, bad);
    auto third = rt::detail::compile_seccomp(*s, dir);
    REQUIRE(third);
    CHECK(same(*third, *fresh));
    CHECK(read(file) == good);

    // Another profile's file under this name (a name collision) is not used.
    rt::Seccomp other = *s;
    other.default_action = "SCMP_ACT_KILL_PROCESS";
    auto other_prog = rt::detail::compile_seccomp(other, dir);
    REQUIRE(other_prog);
    CHECK_FALSE(same(*other_prog, *fresh));
    REQUIRE(files().size() == 2);
    std::string other_file;
    for (const auto& f : files()) {
        if (f != file) {
            other_file = read(f);
        }
    }
    write(file, other_file);
    auto fourth = rt::detail::compile_seccomp(*s, dir);
    REQUIRE(fourth);
    CHECK(same(*fourth, *fresh));
    CHECK(read(file) == good);
}

TEST_CASE("spec parsing rejects bad fields and names them", "[engine][runtime]") {
    json j = minimal();
    j["process"]["args"] = json::array();
    auto r = rt::parse_spec(j);
    REQUIRE(!r);
    CHECK(r.error().message() == "config.json: process.args: must be a non-empty array of strings");
    j = minimal();
    j["process"]["cwd"] = "relative";
    CHECK(!rt::parse_spec(j));
    j = minimal();
    j["mounts"][0]["destination"] = "proc";
    r = rt::parse_spec(j);
    REQUIRE(!r);
    CHECK(r.error().message().find("mounts[0].destination") != std::string::npos);
    j = minimal();
    j["process"]["rlimits"] = {{{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}}};
    r = rt::parse_spec(j);
    REQUIRE(!r);
    CHECK(r.error().message().find("RLIMIT_BOGUS") != std::string::npos);
    j = minimal();
    j["linux"]["namespaces"].push_back({{"type", "bogus"}});
    CHECK(!rt::parse_spec(j));
    j = minimal();
    j["linux"]["resources"]["devices"][0]["access"] = "rwx";
    CHECK(!rt::parse_spec(j));
    j = minimal();
    j["linux"]["resources"]["memory"] = {{"limit", 1 << 20}};
    j["linux"]["resources"]["pids"] = {{"limit", 5}};
    j["process"]["user"] = {{"uid", 5}, {"gid", 6}, {"additionalGids", {7, 8}}, {"username", "x"}};
    r = rt::parse_spec(j);
    REQUIRE(r);
    CHECK(*r->linux.resources.memory_limit == (1 << 20));
    CHECK(*r->linux.resources.pids_limit == 5);
    CHECK(r->process.user.uid == 5);
    CHECK(r->process.user.additional_gids == std::vector<gid_t>{7, 8});
    CHECK(r->process.user.username == "x");
}

TEST_CASE("mount options split into flags, propagation and data", "[engine][runtime]") {
    auto m = rt::parse_mount_options({"nosuid", "strictatime", "mode=755", "size=65536k"});
    REQUIRE(m);
    CHECK(m->flags == (MS_NOSUID | MS_STRICTATIME));
    CHECK(m->data == "mode=755,size=65536k");
    m = rt::parse_mount_options({"rbind", "ro", "rslave"});
    REQUIRE(m);
    CHECK(m->bind);
    CHECK(m->recursive);
    CHECK(m->flags == MS_RDONLY);
    CHECK(m->propagation == (MS_SLAVE | MS_REC));
    m = rt::parse_mount_options({"ro", "rw", "nodev", "dev"});
    REQUIRE(m);
    CHECK(m->flags == 0);
    CHECK(!rt::parse_mount_options({"tmpcopyup"}));
}

TEST_CASE("users resolve like Docker, numeric ids are never names", "[engine][runtime]") {
    const std::string passwd = "root:x:0:0:root:/root:/bin/sh\n"
                               "1234:x:0:0::/:/bin/sh\n"
                               "alice:x:1000:1000::/home/alice:/bin/sh\n"
                               "# comment\nbroken line\n";
    const std::string group = "root:x:0:\nalice:x:1000:\ndeny:x:2000:alice,bob\nstaff:x:50:bob\n";
    auto r = rt::resolve_user("1234", passwd, group, {});
    REQUIRE(r);
    CHECK(r->uid == 1234);
    CHECK(r->gid == 0);
    r = rt::resolve_user("1", passwd, group, {});
    REQUIRE(r);
    CHECK(r->uid == 1);
    r = rt::resolve_user("1:1", passwd, group, {});
    REQUIRE(r);
    CHECK((r->uid == 1 && r->gid == 1));
    r = rt::resolve_user("alice", passwd, group, {});
    REQUIRE(r);
    CHECK(r->uid == 1000);
    CHECK(r->gid == 1000);
    CHECK(r->groups == std::vector<gid_t>{2000});
    CHECK(r->home == "/home/alice");
    r = rt::resolve_user("alice:staff", passwd, group, {77});
    REQUIRE(r);
    CHECK(r->gid == 50);
    CHECK(r->groups == std::vector<gid_t>{77, 2000});
    r = rt::resolve_user("1000", passwd, group, {});
    REQUIRE(r);
    CHECK(r->groups == std::vector<gid_t>{2000});
    auto missing = rt::resolve_user("ghost", passwd, group, {});
    REQUIRE(!missing);
    CHECK(missing.error().code() == berth::Errc::not_found);
    CHECK(missing.error().message() ==
          "unable to find user ghost: no matching entries in passwd file");
    CHECK(!rt::resolve_user("alice:nogroup", passwd, group, {}));
    CHECK(!rt::resolve_user(":5", passwd, group, {}));
}
