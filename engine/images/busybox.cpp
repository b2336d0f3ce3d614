// SPDX-License-Identifier: Apache-2.0
// The built-in busybox image (DESIGN.md "Images without the internet"): one
// layer built from the host's busybox-static binary, stored as an ordinary
// OCI image (layer tar + config + manifest), so inspect, tag, rm and save treat
// it like any other.
#include <elf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fmt/format.h>
#include <set>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/store.hpp"
#include "engine/images/tar_writer.hpp"

namespace berth::engine::images {

namespace {

// As in the official busybox image (its /etc/passwd and /etc/group).
constexpr std::string_view passwd_text =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "bin:x:2:2:bin:/bin:/bin/false\n"
    "sys:x:3:3:sys:/dev:/bin/false\n"
    "sync:x:4:100:sync:/bin:/bin/sync\n"
    "mail:x:8:8:mail:/var/spool/mail:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
    "operator:x:37:37:Operator:/var:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n";

constexpr std::string_view group_text =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "bin:x:2:\n"
    "sys:x:3:\n"
    "adm:x:4:\n"
    "tty:x:5:\n"
    "disk:x:6:\n"
    "lp:x:7:\n"
    "mail:x:8:\n"
    "kmem:x:9:\n"
    "wheel:x:10:root\n"
    "cdrom:x:11:\n"
    "dialout:x:18:\n"
    "floppy:x:19:\n"
    "video:x:28:\n"
    "audio:x:29:\n"
    "tape:x:32:\n"
    "www-data:x:33:\n"
    "operator:x:37:\n"
    "utmp:x:43:\n"
    "plugdev:x:46:\n"
    "staff:x:50:\n"
    "lock:x:54:\n"
    "netdev:x:82:\n"
    "users:x:100:\n"
    "nogroup:x:65534:\n";

constexpr std::string_view shadow_text =
    "root:*:10933:0:99999:7:::\n"
    "daemon:*:10933:0:99999:7:::\n"
    "bin:*:10933:0:99999:7:::\n"
    "sys:*:10933:0:99999:7:::\n"
    "sync:*:10933:0:99999:7:::\n"
    "mail:*:10933:0:99999:7:::\n"
    "www-data:*:10933:0:99999:7:::\n"
    "operator:*:10933:0:99999:7:::\n"
    "nobody:*:10933:0:99999:7:::\n";

/// The host binary: BERTH_BUSYBOX (for tests), else Debian's busybox-static path.
Result<std::string> find_busybox() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("BERTH_BUSYBOX"); env != nullptr && *env != '\0') {
        candidates.emplace_back(env);
    } else {
        candidates = {"/bin/busybox", "/usr/bin/busybox"};
    }
    for (const auto& c : candidates) {
        struct stat st {};
        if (::stat(c.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            return c;
        }
    }
    return Error(Errc::not_found,
                 "no host busybox binary at /bin/busybox (install Debian's busybox-static)");
}

/// Refuses a dynamically linked busybox: it could not run inside the image.
Result<void> check_static(const std::string& data, const std::string& path) {
    if (data.size() < sizeof(Elf64_Ehdr) || data.compare(0, 4, "\x7f" "ELF") != 0) {
        return Error(Errc::failed_precondition, fmt::format("{} is not an ELF binary", path));
    }
    if (static_cast<unsigned char>(data[EI_CLASS]) != ELFCLASS64) {
        return {};  // 32-bit hosts: trust the package
    }
    Elf64_Ehdr eh;
    std::memcpy(&eh, data.data(), sizeof eh);
    for (int i = 0; i < eh.e_phnum; ++i) {
        size_t off = eh.e_phoff + static_cast<size_t>(i) * eh.e_phentsize;
        if (off + sizeof(Elf64_Phdr) > data.size()) {
            break;
        }
        Elf64_Phdr ph;
        std::memcpy(&ph, data.data() + off, sizeof ph);
        if (ph.p_type == PT_INTERP) {
            return Error(Errc::failed_precondition,
                         fmt::format("{} is dynamically linked; the built-in image needs "
                                     "Debian's busybox-static",
                                     path));
        }
    }
    return {};
}

/// Runs the host's own busybox (a trusted host binary, never one from an
/// image) with --list-full and returns the applet paths ("bin/sh", ...).
Result<std::vector<std::string>> list_applets(const std::string& busybox) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        int err = errno;
        return Error::from_errno(err, "create pipe");
    }
    UniqueFd rd(fds[0]);
    UniqueFd wr(fds[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::string arg0 = busybox;
    std::string arg1 = "--list-full";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    char* envp[] = {nullptr};
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, busybox.c_str(), &fa, nullptr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    wr.reset();
    if (rc != 0) {
        return Error::from_errno(rc, fmt::format("run {} --list-full", busybox));
    }
    std::string out;
    char buf[8192];
    while (true) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > (1 << 20)) {
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return Error(Errc::internal, fmt::format("{} --list-full failed", busybox));
    }
    std::set<std::string> applets;
    size_t start = 0;
    while (start < out.size()) {
        size_t nl = out.find('\n', start);
        std::string line = out.substr(start, nl == std::string::npos ? nl : nl - start);
        start = nl == std::string::npos ? out.size() : nl + 1;
        while (!line.empty() && line.front() == '/') {
            line.erase(0, 1);
        }
        // Only plain relative paths below the usual bin directories.
        if (line.empty() || line.find("..") != std::string::npos ||
            line.find_first_of(" \t\r") != std::string::npos || line == "bin/busybox") {
            continue;
        }
        applets.insert(line);
    }
    if (applets.empty()) {
        return Error(Errc::internal, fmt::format("{} --list-full listed no applets", busybox));
    }
    return std::vector<std::string>(applets.begin(), applets.end());
}

std::string rfc3339(int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm {};
    ::gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

Result<void> ImageStore::seed_busybox() {
    auto seed_lock = fs::FileLock::acquire(paths_.locks() / "images-seed.lock");
    if (!seed_lock) {
        return std::move(seed_lock).error();
    }
    if (auto existing = find(builtin_busybox_ref); existing) {
        return {};  // another process seeded it while we waited
    }
    auto bb_path = find_busybox();
    if (!bb_path) {
        return std::move(bb_path).error();
    }
    auto binary = fs::read_file(*bb_path);
    if (!binary) {
        return std::move(binary).error();
    }
    if (auto r = check_static(*binary, *bb_path); !r) {
        return r;
    }
    auto applets = list_applets(*bb_path);
    if (!applets) {
        return std::move(applets).error();
    }
    struct stat st {};
    ::stat(bb_path->c_str(), &st);
    // Every timestamp is the binary's mtime, so the same busybox always gives
    // the same layer, config and image id.
    int64_t mtime = st.st_mtime;

    auto blob = new_blob();
    if (!blob) {
        return std::move(blob).error();
    }
    BlobWriter* bw = &*blob;
    auto tw = TarWriter::open([bw](std::string_view d) { return bw->write(d); });
    if (!tw) {
        return std::move(tw).error();
    }
    std::set<std::string> dirs = {"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp",
                                  "usr", "usr/bin", "usr/sbin", "sbin", "var", "var/spool",
                                  "var/spool/mail", "var/www"};
    for (const auto& a : *applets) {
        for (size_t pos = a.find('/'); pos != std::string::npos; pos = a.find('/', pos + 1)) {
            dirs.insert(a.substr(0, pos));
        }
    }
    for (const auto& d : dirs) {
        TarWriter::Entry e;
        e.path = d + "/";
        e.type = S_IFDIR;
        e.mode = d == "root" ? 0700 : d == "tmp" ? 01777 : 0755;
        e.uid = d == "home" ? 65534 : 0;
        e.gid = d == "home" ? 65534 : 0;
        e.mtime = mtime;
        if (auto r = tw->header(e); !r) {
            return r;
        }
    }
    if (auto r = tw->file("bin/busybox", *binary, 0755, mtime); !r) {
        return r;
    }
    for (const auto& a : *applets) {
        TarWriter::Entry e;
        e.path = a;
        e.hardlink = "bin/busybox";
        e.mode = 0755;
        e.mtime = mtime;
        if (auto r = tw->header(e); !r) {
            return r;
        }
    }
    if (auto r = tw->file("etc/passwd", passwd_text, 0644, mtime); !r) {
        return r;
    }
    if (auto r = tw->file("etc/group", group_text, 0644, mtime); !r) {
        return r;
    }
    if (auto r = tw->file("etc/shadow", shadow_text, 0640, mtime); !r) {
        return r;
    }
    if (auto r = tw->close(); !r) {
        return r;
    }
    int64_t layer_size = blob->written();
    auto layer = blob->commit();
    if (!layer) {
        return std::move(layer).error();
    }
    Platform plat = host_platform();
    std::string created = rfc3339(mtime);
    nlohmann::json config = {
        {"architecture", plat.architecture},
        {"os", plat.os},
        {"created", created},
        {"config",
         {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
          {"Cmd", {"sh"}}}},
        {"rootfs", {{"type", "layers"}, {"diff_ids", {layer->str()}}}},
        {"history",
         {{{"created", created},
           {"created_by", fmt::format("berth: built-in busybox image from the host's {} "
                                      "(busybox-static, {} applets)",
                                      *bb_path, applets->size())}},
          {{"created", created}, {"created_by", "CMD [\"sh\"]"}, {"empty_layer", true}}}},
    };
    if (!plat.variant.empty()) {
        config["variant"] = plat.variant;
    }
    std::string config_text = config.dump();
    auto cfg = put_blob(config_text);
    if (!cfg) {
        return std::move(cfg).error();
    }
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", media::oci_manifest},
        {"config",
         {{"mediaType", media::oci_config},
          {"digest", cfg->str()},
          {"size", config_text.size()}}},
        {"layers",
         {{{"mediaType", media::oci_layer}, {"digest", layer->str()}, {"size", layer_size}}}},
    };
    auto man = put_blob(manifest.dump());
    if (!man) {
        return std::move(man).error();
    }
    auto img = commit_image(man->str(), {std::string(builtin_busybox_ref)});
    if (!img) {
        return std::move(img).error();
    }
    log::engine().info("seeded the built-in busybox image {} from {}", img->id, *bb_path);
    return {};
}

}  // namespace berth::engine::images
