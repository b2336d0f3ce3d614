// SPDX-License-Identifier: Apache-2.0
#include "volumes/mount_plan.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <set>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/scope_exit.hpp"
#include "volumes/copy_up.hpp"
#include "volumes/internal/sys.hpp"

namespace berth::volumes {

namespace {

/// Docker's tmpfs size text: the largest of k, m, g that divides it.
std::string size_text(uint64_t bytes) {
    const char* suffix = "";
    for (const char* s : {"k", "m", "g"}) {
        if (bytes % 1024 != 0 || bytes == 0) {
            break;
        }
        bytes /= 1024;
        suffix = s;
    }
    return fmt::format("{}{}", bytes, suffix);
}

/// Merges tmpfs options as moby's MergeTmpfsOptions: a later flag replaces an
/// earlier one of the same pair (exec after noexec), a later key=value
/// replaces an earlier one with the same key.
std::vector<std::string> merge_tmpfs_options(const std::vector<std::string>& in) {
    static const std::vector<std::pair<std::string, std::string>> pairs{
        {"exec", "noexec"}, {"suid", "nosuid"}, {"dev", "nodev"}, {"rw", "ro"},
        {"atime", "noatime"}, {"diratime", "nodiratime"}, {"relatime", "norelatime"},
        {"strictatime", "nostrictatime"}, {"sync", "async"}, {"mand", "nomand"}};
    std::vector<std::string> out;
    for (const auto& o : in) {
        auto eq = o.find('=');
        std::erase_if(out, [&](const std::string& prev) {
            if (eq != std::string::npos) {
                return prev.rfind(o.substr(0, eq + 1), 0) == 0;
            }
            if (prev == o) {
                return true;
            }
            for (const auto& [a, b] : pairs) {
                if ((prev == a && o == b) || (prev == b && o == a)) {
                    return true;
                }
            }
            return false;
        });
        out.push_back(o);
    }
    return out;
}

nlohmann::json bind_entry(const std::string& target, const std::string& source,
                          const MountSpec& m) {
    std::vector<std::string> opts{m.non_recursive ? "bind" : "rbind"};
    if (m.read_only) {
        opts.emplace_back("ro");
    }
    opts.emplace_back(to_string(m.propagation.value_or(Propagation::rprivate)));
    return nlohmann::json{
        {"destination", target}, {"type", "bind"}, {"source", source}, {"options", opts}};
}

/// Makes sure a bind source exists (creating a directory when allowed).
Result<void> check_bind_source(const MountSpec& m) {
    struct stat st {};
    if (::stat(m.source.c_str(), &st) == 0) {
        return {};
    }
    if (errno != ENOENT) {
        int err = errno;
        return Error::from_errno(err, fmt::format("bind source path {}", m.source));
    }
    if (!m.create_host_path) {
        return Error(Errc::not_found, fmt::format("invalid mount config for type \"bind\": bind "
                                                  "source path does not exist: {}",
                                                  m.source));
    }
    if (auto r = fs::make_dirs(m.source, 0755); !r) {
        return std::move(r).error().wrap(fmt::format("create bind source {}", m.source));
    }
    return {};
}

/// The subpath of a volume, verified to stay inside it without symlinks.
Result<std::string> resolve_subpath(const std::filesystem::path& data, const std::string& sub) {
    auto root = detail::open_dir_path(data);
    if (!root) {
        return std::move(root).error();
    }
    auto fd = detail::openat2_fd(root->get(), sub, O_PATH, 0,
                                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                                 fmt::format("open subpath {}", sub));
    if (!fd) {
        return std::move(fd).error();
    }
    return (data / std::filesystem::path(sub).lexically_normal()).string();
}

}  // namespace

Result<PreparedMounts> prepare_mounts(VolumeStore& store, std::span<const MountSpec> mounts,
                                      const PrepareOptions& options) {
    if (auto r = validate_mounts(mounts); !r) {
        return r.error();
    }
    PreparedMounts out;
    auto undo = ScopeExit([&] {
        if (auto r = release_mounts(store, out.acquired_volumes, options.container_id); !r) {
            log::volumes().warn("undo mounts of {}: {}", options.container_id,
                                r.error().message());
        }
        for (const auto& name : out.anonymous_volumes) {
            if (auto r = store.remove(name, true, {}); !r) {
                log::volumes().warn("undo anonymous volume {}: {}", name, r.error().message());
            }
        }
    });
    for (const auto& m : mounts) {
        const std::string target = clean_container_path(m.target);
        const std::string ctx = fmt::format("mount {} on {}", m.source.empty() ? to_string(m.type)
                                                                                : m.source,
                                            target);
        switch (m.type) {
        case MountType::bind: {
            if (auto r = check_bind_source(m); !r) {
                return r.error();
            }
            out.oci_mounts.push_back(bind_entry(target, m.source, m));
            break;
        }
        case MountType::volume: {
            std::string name = m.source;
            if (name.empty() || !store.get(name)) {
                CreateOptions co;
                co.name = name;
                co.driver = m.volume_driver;
                co.options = m.volume_options;
                co.labels = m.volume_labels;
                if (name.empty()) {
                    co.anonymous = true;
                    co.holder = options.container_id;
                    co.labels.insert(options.anonymous_labels.begin(),
                                     options.anonymous_labels.end());
                }
                auto v = store.create(co);
                if (!v) {
                    return std::move(v).error().wrap(ctx);
                }
                name = v->name;
                if (m.source.empty()) {
                    out.anonymous_volumes.push_back(name);
                }
            }
            auto data = store.acquire(name, options.container_id);
            if (!data) {
                return std::move(data).error().wrap(ctx);
            }
            out.acquired_volumes.push_back(name);
            if (m.nocopy || options.image_layers.empty() || !m.subpath.empty()) {
                if (auto r = store.mark_populated(name); !r) {
                    return std::move(r).error().wrap(ctx);
                }
            } else {
                auto ran = store.populate_once(name, [&](const std::filesystem::path& dir) {
                    auto stats = copy_up(options.image_layers, target, dir);
                    if (!stats) {
                        return Result<void>(std::move(stats).error());
                    }
                    return Result<void>{};
                });
                if (!ran) {
                    return std::move(ran).error().wrap(ctx);
                }
            }
            std::string source = data->string();
            if (!m.subpath.empty()) {
                auto sub = resolve_subpath(*data, m.subpath);
                if (!sub) {
                    return std::move(sub).error().wrap(ctx);
                }
                source = *sub;
            }
            MountSpec as_bind = m;
            as_bind.propagation.reset();
            out.oci_mounts.push_back(bind_entry(target, source, as_bind));
            break;
        }
        case MountType::tmpfs: {
            std::vector<std::string> opts{"noexec", "nosuid", "nodev"};
            if (m.read_only) {
                opts.emplace_back("ro");
            }
            if (m.tmpfs_mode) {
                opts.push_back(fmt::format("mode={:o}", *m.tmpfs_mode));
            }
            if (m.tmpfs_size && *m.tmpfs_size != 0) {
                opts.push_back("size=" + size_text(*m.tmpfs_size));
            }
            opts.insert(opts.end(), m.tmpfs_options.begin(), m.tmpfs_options.end());
            out.oci_mounts.push_back(nlohmann::json{{"destination", target},
                                                    {"type", "tmpfs"},
                                                    {"source", "tmpfs"},
                                                    {"options", merge_tmpfs_options(opts)}});
            break;
        }
        }
    }
    undo.cancel();
    return out;
}

Result<void> release_mounts(VolumeStore& store, std::span<const std::string> volume_names,
                            const std::string& container_id) {
    Result<void> first;
    for (const auto& name : volume_names) {
        auto r = store.release(name, container_id);
        if (!r && first) {
            first = std::move(r);
        }
    }
    return first;
}

Result<std::vector<MountSpec>> image_volume_mounts(std::span<const std::string> image_volumes,
                                                   std::span<const MountSpec> explicit_mounts) {
    std::set<std::string> taken;
    for (const auto& m : explicit_mounts) {
        taken.insert(clean_container_path(m.target));
    }
    std::set<std::string> wanted;
    for (const auto& raw : image_volumes) {
        if (raw.empty() || raw.front() != '/' || raw.find('\0') != std::string::npos) {
            return Error(Errc::invalid_argument,
                         fmt::format("image volume \"{}\": path must be absolute", raw));
        }
        auto target = clean_container_path(raw);
        if (target == "/") {
            return Error(Errc::invalid_argument,
                         fmt::format("image volume \"{}\": destination can't be '/'", raw));
        }
        if (taken.count(target) == 0) {
            wanted.insert(target);
        }
    }
    std::vector<MountSpec> out;
    for (const auto& t : wanted) {
        MountSpec m;
        m.type = MountType::volume;
        m.target = t;
        out.push_back(std::move(m));
    }
    return out;
}

Result<VolumesFrom> parse_volumes_from(std::string_view spec) {
    VolumesFrom out;
    // Compose: "service", "service:ro", "container:name", "container:name:rw".
    if (spec.rfind("container:", 0) == 0) {
        spec.remove_prefix(10);
    }
    auto colon = spec.rfind(':');
    std::string_view mode;
    if (colon != std::string_view::npos) {
        mode = spec.substr(colon + 1);
        spec = spec.substr(0, colon);
    }
    if (spec.empty()) {
        return Error(Errc::invalid_argument, "volumes_from: missing container name");
    }
    out.container = std::string(spec);
    if (mode == "ro") {
        out.read_only = true;
    } else if (mode == "rw") {
        out.read_only = false;
    } else if (!mode.empty()) {
        return Error(Errc::invalid_argument,
                     fmt::format("volumes_from {}: invalid mode: {}", out.container, mode));
    }
    return out;
}

std::vector<MountSpec> inherit_mounts(std::span<const MountSpec> other, const VolumesFrom& from,
                                      std::span<const MountSpec> own) {
    std::set<std::string> taken;
    for (const auto& m : own) {
        taken.insert(clean_container_path(m.target));
    }
    std::vector<MountSpec> out;
    for (const auto& m : other) {
        if (m.type == MountType::tmpfs || taken.count(clean_container_path(m.target)) != 0) {
            continue;
        }
        MountSpec copy = m;
        if (from.read_only) {
            copy.read_only = *from.read_only;
        }
        // The volume exists already: never copy image content into it again.
        copy.nocopy = m.type == MountType::volume;
        out.push_back(std::move(copy));
    }
    return out;
}

}  // namespace berth::volumes
