// SPDX-License-Identifier: Apache-2.0
#include "volumes/mount_spec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <set>

#include "volumes/volume_store.hpp"

namespace berth::volumes {

namespace {

Error invalid(std::string message) {
    return Error(Errc::invalid_argument, std::move(message));
}

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        size_t pos = text.find(sep, start);
        if (pos == std::string_view::npos) {
            out.push_back(text.substr(start));
            return out;
        }
        out.push_back(text.substr(start, pos - start));
        start = pos + 1;
    }
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool is_consistency(std::string_view o) {
    return o == "consistent" || o == "cached" || o == "delegated" || o == "default";
}

/// Docker's linuxValidMountMode: at most one of each kind, nothing else.
bool valid_mount_mode(std::string_view mode) {
    if (mode.empty()) {
        return true;
    }
    int rw = 0;
    int label = 0;
    int propagation = 0;
    int copy = 0;
    int consistency = 0;
    for (auto o : split(mode, ',')) {
        if (o == "rw" || o == "ro") {
            ++rw;
        } else if (o == "z" || o == "Z") {
            ++label;
        } else if (parse_propagation(o)) {
            ++propagation;
        } else if (o == "nocopy") {
            ++copy;
        } else if (is_consistency(o)) {
            ++consistency;
        } else {
            return false;
        }
    }
    return rw <= 1 && label <= 1 && propagation <= 1 && copy <= 1 && consistency <= 1;
}

bool is_absolute(std::string_view p) { return !p.empty() && p.front() == '/'; }

/// "invalid mount config for type "bind": <what>", Docker's errMountConfig.
Error mount_config_error(const MountSpec& m, std::string_view what) {
    return invalid(fmt::format("invalid mount config for type \"{}\": {}", to_string(m.type), what));
}

/// Docker's validateMountConfigImpl without the file-system checks (those are
/// made when the mount is prepared).
Result<void> validate_one(const MountSpec& m) {
    if (m.target.empty()) {
        return mount_config_error(m, "field Target must not be empty");
    }
    if (!is_absolute(m.target)) {
        return mount_config_error(
            m, fmt::format("invalid mount path: '{}' mount path must be absolute", m.target));
    }
    if (clean_container_path(m.target) == "/") {
        return mount_config_error(m, "invalid specification: destination can't be '/'");
    }
    if (m.target.find('\0') != std::string::npos || m.source.find('\0') != std::string::npos) {
        return mount_config_error(m, "path contains a NUL byte");
    }
    switch (m.type) {
    case MountType::bind:
        if (m.source.empty()) {
            return mount_config_error(m, "field Source must not be empty");
        }
        if (!is_absolute(m.source)) {
            return mount_config_error(
                m, fmt::format("invalid mount path: '{}' mount path must be absolute", m.source));
        }
        if (m.nocopy || !m.subpath.empty() || !m.volume_driver.empty() ||
            !m.volume_options.empty() || !m.volume_labels.empty()) {
            return mount_config_error(m, "field VolumeOptions must not be specified");
        }
        break;
    case MountType::volume: {
        if (m.propagation || m.create_host_path || m.non_recursive) {
            return mount_config_error(m, "field BindOptions must not be specified");
        }
        if (!m.source.empty()) {
            if (auto r = validate_volume_name(m.source); !r) {
                return mount_config_error(m, r.error().message());
            }
        }
        if (!m.subpath.empty()) {
            if (m.source.empty()) {
                return mount_config_error(m, "must not set Subpath when using anonymous volumes");
            }
            bool local = !is_absolute(m.subpath);
            for (auto part : split(m.subpath, '/')) {
                if (part == "..") {
                    local = false;
                }
            }
            if (!local) {
                return mount_config_error(m, "subpath must be a relative path within the volume");
            }
        }
        if (m.read_only && m.source.empty()) {
            return mount_config_error(m, "must not set ReadOnly mode when using anonymous volumes");
        }
        break;
    }
    case MountType::tmpfs:
        if (m.propagation || m.create_host_path || m.non_recursive) {
            return mount_config_error(m, "field BindOptions must not be specified");
        }
        if (!m.source.empty()) {
            return mount_config_error(m, "field Source must not be empty");
        }
        break;
    }
    return {};
}

bool parse_bool(std::string_view text, bool* out) {
    // Go's strconv.ParseBool.
    static const std::set<std::string_view> yes{"1", "t", "T", "TRUE", "true", "True"};
    static const std::set<std::string_view> no{"0", "f", "F", "FALSE", "false", "False"};
    if (yes.count(text) != 0) {
        *out = true;
        return true;
    }
    if (no.count(text) != 0) {
        *out = false;
        return true;
    }
    return false;
}

/// Splits one CSV record as Go's encoding/csv does for a single line: fields
/// separated by commas, a field may be double-quoted with "" for a quote.
Result<std::vector<std::string>> split_csv(std::string_view line) {
    std::vector<std::string> fields;
    std::string cur;
    size_t i = 0;
    bool field_start = true;
    while (i <= line.size()) {
        if (i == line.size()) {
            fields.push_back(cur);
            break;
        }
        char c = line[i];
        if (field_start && c == '"') {
            ++i;
            for (;;) {
                if (i >= line.size()) {
                    return invalid(fmt::format("invalid mount spec {}: extraneous or missing \" "
                                               "in quoted-field", line));
                }
                if (line[i] == '"') {
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        cur.push_back('"');
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                cur.push_back(line[i++]);
            }
            if (i < line.size() && line[i] != ',') {
                return invalid(fmt::format("invalid mount spec {}: extraneous or missing \" "
                                           "in quoted-field", line));
            }
            field_start = false;
            continue;
        }
        if (c == ',') {
            fields.push_back(std::move(cur));
            cur.clear();
            field_start = true;
            ++i;
            continue;
        }
        if (c == '\n' || c == '\r') {
            return invalid(fmt::format("invalid mount spec: line break in '{}'", line));
        }
        cur.push_back(c);
        field_start = false;
        ++i;
    }
    return fields;
}

/// Flags that --tmpfs accepts (moby mount.ParseTmpfsOptions / pkg/mount flags)
/// and their opposites, for merging.
const std::map<std::string_view, std::string_view>& tmpfs_flag_opposites() {
    static const std::map<std::string_view, std::string_view> flags{
        {"rw", "ro"},           {"ro", "rw"},
        {"exec", "noexec"},     {"noexec", "exec"},
        {"suid", "nosuid"},     {"nosuid", "suid"},
        {"dev", "nodev"},       {"nodev", "dev"},
        {"atime", "noatime"},   {"noatime", "atime"},
        {"diratime", "nodiratime"}, {"nodiratime", "diratime"},
        {"relatime", "norelatime"}, {"norelatime", "relatime"},
        {"strictatime", "nostrictatime"}, {"nostrictatime", "strictatime"},
        {"sync", "async"},      {"async", "sync"},
        {"dirsync", ""},        {"mand", "nomand"},
        {"nomand", "mand"},     {"remount", ""},
        {"bind", ""},           {"rbind", ""},
        {"private", ""},        {"rprivate", ""},
        {"shared", ""},         {"rshared", ""},
        {"slave", ""},          {"rslave", ""},
        {"unbindable", ""},     {"runbindable", ""},
        {"tmpcopyup", ""},
    };
    return flags;
}

bool is_tmpfs_data_key(std::string_view key) {
    return key == "size" || key == "mode" || key == "uid" || key == "gid" || key == "nr_inodes" ||
           key == "nr_blocks" || key == "huge" || key == "mpol";
}

Result<mode_t> parse_octal_mode(std::string_view text, std::string_view what) {
    if (text.empty() || text.size() > 11) {
        return invalid(fmt::format("invalid value for {}: {}", what, text));
    }
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '7') {
            return invalid(fmt::format("invalid value for {}: {}", what, text));
        }
        v = v * 8 + static_cast<uint64_t>(c - '0');
    }
    if (v > 07777) {
        return invalid(fmt::format("invalid value for {}: {}", what, text));
    }
    return static_cast<mode_t>(v);
}

Result<MountSpec> parse_volume_impl(std::string_view raw, const std::filesystem::path* base_dir) {
    auto spec_error = [&] {
        return invalid(fmt::format("invalid volume specification: '{}'", raw));
    };
    if (raw.find('\0') != std::string_view::npos) {
        return spec_error();
    }
    // SplitN(raw, ":", 4).
    std::vector<std::string_view> arr;
    {
        std::string_view rest = raw;
        while (arr.size() < 3) {
            size_t pos = rest.find(':');
            if (pos == std::string_view::npos) {
                break;
            }
            arr.push_back(rest.substr(0, pos));
            rest.remove_prefix(pos + 1);
        }
        arr.push_back(rest);
    }
    if (arr[0].empty()) {
        return spec_error();
    }
    MountSpec m;
    std::string mode;
    switch (arr.size()) {
    case 1:
        m.target = std::string(arr[0]);
        break;
    case 2:
        if (valid_mount_mode(arr[1])) {
            // "/foo:rw": a destination with a mode is not a volume.
            return spec_error();
        }
        m.source = std::string(arr[0]);
        m.target = std::string(arr[1]);
        break;
    case 3:
        m.source = std::string(arr[0]);
        m.target = std::string(arr[1]);
        mode = std::string(arr[2]);
        break;
    default:
        return spec_error();
    }
    if (!valid_mount_mode(mode)) {
        return invalid(fmt::format("invalid mode: {}", mode));
    }
    if (base_dir != nullptr && !m.source.empty() &&
        (m.source.front() == '.' || m.source.front() == '~')) {
        std::filesystem::path src;
        if (m.source.front() == '~') {
            const char* home = std::getenv("HOME");
            if (home == nullptr || (m.source.size() > 1 && m.source[1] != '/')) {
                return invalid(fmt::format("invalid volume specification: '{}': cannot expand ~",
                                           raw));
            }
            src = std::filesystem::path(home) / m.source.substr(m.source.size() > 1 ? 2 : 1);
        } else {
            src = *base_dir / m.source;
        }
        m.source = src.lexically_normal().string();
        if (m.source.size() > 1 && m.source.back() == '/') {
            m.source.pop_back();
        }
    }
    m.type = is_absolute(m.source) ? MountType::bind : MountType::volume;
    m.mode = mode;
    if (!mode.empty()) {
        for (auto o : split(mode, ',')) {
            if (o == "ro") {
                m.read_only = true;
            } else if (o == "z" || o == "Z") {
                m.selinux_label = std::string(o);
            } else if (o == "nocopy") {
                m.nocopy = true;
            } else if (is_consistency(o)) {
                m.consistency = std::string(o);
            } else if (auto p = parse_propagation(o)) {
                m.propagation = p;
            }
        }
    }
    if (m.type == MountType::bind) {
        m.create_host_path = true;
        if (m.nocopy) {
            return invalid(fmt::format(
                "invalid mount config for type \"bind\": field VolumeOptions must not be "
                "specified"));
        }
    } else if (m.propagation) {
        return invalid(fmt::format(
            "invalid mount config for type \"volume\": field BindOptions must not be specified"));
    }
    if (m.type == MountType::volume && !m.source.empty()) {
        if (auto r = validate_volume_name(m.source); !r) {
            return invalid(fmt::format("create {}: {}", m.source, r.error().message()));
        }
    }
    if (auto r = validate_one(m); !r) {
        return std::move(r).error();
    }
    return m;
}

}  // namespace

std::string_view to_string(MountType type) noexcept {
    switch (type) {
    case MountType::bind:
        return "bind";
    case MountType::volume:
        return "volume";
    case MountType::tmpfs:
        return "tmpfs";
    }
    return "volume";
}

std::string_view to_string(Propagation propagation) noexcept {
    switch (propagation) {
    case Propagation::private_:
        return "private";
    case Propagation::rprivate:
        return "rprivate";
    case Propagation::shared:
        return "shared";
    case Propagation::rshared:
        return "rshared";
    case Propagation::slave:
        return "slave";
    case Propagation::rslave:
        return "rslave";
    }
    return "rprivate";
}

std::optional<Propagation> parse_propagation(std::string_view text) noexcept {
    if (text == "private") {
        return Propagation::private_;
    }
    if (text == "rprivate") {
        return Propagation::rprivate;
    }
    if (text == "shared") {
        return Propagation::shared;
    }
    if (text == "rshared") {
        return Propagation::rshared;
    }
    if (text == "slave") {
        return Propagation::slave;
    }
    if (text == "rslave") {
        return Propagation::rslave;
    }
    return std::nullopt;
}

std::string clean_container_path(std::string_view path) {
    std::vector<std::string_view> parts;
    for (auto part : split(path, '/')) {
        if (part.empty() || part == ".") {
            continue;
        }
        if (part == "..") {
            if (!parts.empty()) {
                parts.pop_back();
            }
            continue;
        }
        parts.push_back(part);
    }
    std::string out;
    for (auto part : parts) {
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

Result<uint64_t> parse_byte_size(std::string_view text) {
    auto bad = [&] { return invalid(fmt::format("invalid size: '{}'", text)); };
    size_t i = 0;
    std::string number;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
        number.push_back(text[i++]);
    }
    if (number.empty() || number.front() == '.' || number.back() == '.' ||
        number.find("..") != std::string::npos) {
        return bad();
    }
    if (i < text.size() && text[i] == ' ') {
        ++i;
    }
    std::string unit = lower(text.substr(i));
    uint64_t mult = 1;
    if (!unit.empty() && std::string_view("kmgtp").find(unit[0]) != std::string_view::npos) {
        static const uint64_t k = 1024;
        switch (unit[0]) {
        case 'k':
            mult = k;
            break;
        case 'm':
            mult = k * k;
            break;
        case 'g':
            mult = k * k * k;
            break;
        case 't':
            mult = k * k * k * k;
            break;
        default:
            mult = k * k * k * k * k;
            break;
        }
        unit.erase(0, 1);
    }
    if (unit == "ib" || unit == "b" || unit == "i") {
        unit.clear();
    }
    if (!unit.empty()) {
        return bad();
    }
    // Go's ParseFloat accepts "1.2.3"? No: RAMInBytes' regexp allows it but
    // ParseFloat then fails; treat several dots as an error.
    if (std::count(number.begin(), number.end(), '.') > 1) {
        return bad();
    }
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (end == nullptr || *end != '\0' || !std::isfinite(value)) {
        return bad();
    }
    double bytes = value * static_cast<double>(mult);
    if (bytes >= 18446744073709551615.0) {
        return bad();
    }
    return static_cast<uint64_t>(bytes);
}

Result<MountSpec> parse_volume_flag(std::string_view spec) {
    return parse_volume_impl(spec, nullptr);
}

Result<MountSpec> parse_volume_flag(std::string_view spec, const std::filesystem::path& base_dir) {
    return parse_volume_impl(spec, &base_dir);
}

Result<MountSpec> parse_mount_flag(std::string_view spec) {
    auto fields = split_csv(spec);
    if (!fields) {
        return std::move(fields).error();
    }
    MountSpec m;
    bool has_type = false;
    std::string type_text = "volume";
    bool volume_opts = false;
    bool bind_opts = false;
    bool tmpfs_opts = false;
    for (const auto& field : *fields) {
        auto eq = field.find('=');
        std::string key = lower(std::string_view(field).substr(0, eq));
        if (eq == std::string::npos) {
            if (key == "readonly" || key == "ro") {
                m.read_only = true;
            } else if (key == "volume-nocopy") {
                m.nocopy = true;
                volume_opts = true;
            } else if (key == "bind-nonrecursive") {
                m.non_recursive = true;
                bind_opts = true;
            } else if (key == "bind-create-host-path") {
                m.create_host_path = true;
                bind_opts = true;
            } else {
                return invalid(fmt::format("invalid field '{}' must be a key=value pair", field));
            }
            continue;
        }
        std::string val = field.substr(eq + 1);
        bool flag = false;
        if (key == "type") {
            type_text = lower(val);
            has_type = true;
        } else if (key == "source" || key == "src") {
            m.source = val;
        } else if (key == "target" || key == "dst" || key == "destination") {
            m.target = val;
        } else if (key == "readonly" || key == "ro") {
            if (!parse_bool(val, &flag)) {
                return invalid(fmt::format("invalid value for {}: {}", key, val));
            }
            m.read_only = flag;
        } else if (key == "consistency") {
            m.consistency = lower(val);
            if (!is_consistency(m.consistency)) {
                return invalid(fmt::format("invalid value for {}: {}", key, val));
            }
        } else if (key == "bind-propagation") {
            auto p = parse_propagation(lower(val));
            if (!p) {
                return invalid(fmt::format(
                    "invalid mount config for type \"bind\": invalid propagation mode: {}", val));
            }
            m.propagation = p;
            bind_opts = true;
        } else if (key == "bind-nonrecursive" || key == "bind-create-host-path") {
            if (!parse_bool(val, &flag)) {
                return invalid(fmt::format("invalid value for {}: {}", key, val));
            }
            (key == "bind-nonrecursive" ? m.non_recursive : m.create_host_path) = flag;
            bind_opts = true;
        } else if (key == "volume-subpath") {
            m.subpath = val;
            volume_opts = true;
        } else if (key == "volume-nocopy") {
            if (!parse_bool(val, &flag)) {
                return invalid(fmt::format("invalid value for volume-nocopy: {}", val));
            }
            m.nocopy = flag;
            volume_opts = true;
        } else if (key == "volume-label") {
            auto e = val.find('=');
            m.volume_labels[val.substr(0, e)] = e == std::string::npos ? "" : val.substr(e + 1);
            volume_opts = true;
        } else if (key == "volume-driver") {
            m.volume_driver = val;
            volume_opts = true;
        } else if (key == "volume-opt") {
            auto e = val.find('=');
            m.volume_options[val.substr(0, e)] = e == std::string::npos ? "" : val.substr(e + 1);
            volume_opts = true;
        } else if (key == "tmpfs-size") {
            auto size = parse_byte_size(val);
            if (!size) {
                return invalid(fmt::format("invalid value for {}: {}", key, val));
            }
            m.tmpfs_size = *size;
            tmpfs_opts = true;
        } else if (key == "tmpfs-mode") {
            auto mode = parse_octal_mode(val, key);
            if (!mode) {
                return std::move(mode).error();
            }
            m.tmpfs_mode = *mode;
            tmpfs_opts = true;
        } else {
            return invalid(fmt::format("unexpected key '{}' in '{}'", key, field));
        }
    }
    if (has_type && type_text.empty()) {
        return invalid("type is required");
    }
    if (type_text == "bind") {
        m.type = MountType::bind;
    } else if (type_text == "volume") {
        m.type = MountType::volume;
    } else if (type_text == "tmpfs") {
        m.type = MountType::tmpfs;
    } else {
        return invalid(fmt::format("invalid mount config for type \"{}\": mount type unknown",
                                   type_text));
    }
    if (m.target.empty()) {
        return invalid("target is required");
    }
    if (volume_opts && m.type != MountType::volume) {
        return invalid(fmt::format("cannot mix 'volume-*' options with mount type '{}'", type_text));
    }
    if (bind_opts && m.type != MountType::bind) {
        return invalid(fmt::format("cannot mix 'bind-*' options with mount type '{}'", type_text));
    }
    if (tmpfs_opts && m.type != MountType::tmpfs) {
        return invalid(fmt::format("cannot mix 'tmpfs-*' options with mount type '{}'", type_text));
    }
    if (auto r = validate_one(m); !r) {
        return std::move(r).error();
    }
    return m;
}

Result<MountSpec> parse_tmpfs_flag(std::string_view spec) {
    MountSpec m;
    m.type = MountType::tmpfs;
    auto colon = spec.find(':');
    m.target = std::string(spec.substr(0, colon));
    if (colon != std::string_view::npos) {
        std::string_view opts = spec.substr(colon + 1);
        if (!opts.empty()) {
            for (auto o : split(opts, ',')) {
                auto eq = o.find('=');
                if (eq == std::string_view::npos) {
                    if (tmpfs_flag_opposites().count(o) == 0) {
                        return invalid(fmt::format("invalid tmpfs option [\"{}\"]", o));
                    }
                    if (o == "ro") {
                        m.read_only = true;
                    } else if (o == "rw") {
                        m.read_only = false;
                    } else {
                        m.tmpfs_options.emplace_back(o);
                    }
                    continue;
                }
                auto key = o.substr(0, eq);
                auto val = o.substr(eq + 1);
                if (!is_tmpfs_data_key(key)) {
                    return invalid(fmt::format("invalid tmpfs option [\"{}\"]", o));
                }
                if (key == "size") {
                    // The kernel reads size= itself (k, m, g, or a % of RAM);
                    // keep Docker's units and store bytes.
                    auto size = parse_byte_size(val);
                    if (!size) {
                        return invalid(fmt::format("invalid tmpfs option [\"{}\"]", o));
                    }
                    m.tmpfs_size = *size;
                } else if (key == "mode") {
                    auto mode = parse_octal_mode(val, "mode");
                    if (!mode) {
                        return invalid(fmt::format("invalid tmpfs option [\"{}\"]", o));
                    }
                    m.tmpfs_mode = *mode;
                } else {
                    if (val.empty() || val.find_first_of(",\n") != std::string_view::npos) {
                        return invalid(fmt::format("invalid tmpfs option [\"{}\"]", o));
                    }
                    m.tmpfs_options.emplace_back(o);
                }
            }
        }
    }
    if (m.target.empty()) {
        return invalid(fmt::format("invalid tmpfs specification: '{}'", spec));
    }
    if (auto r = validate_one(m); !r) {
        return std::move(r).error();
    }
    return m;
}

Result<void> validate_mounts(std::span<const MountSpec> mounts) {
    std::set<std::string> targets;
    for (const auto& m : mounts) {
        if (auto r = validate_one(m); !r) {
            return r;
        }
        auto target = clean_container_path(m.target);
        if (!targets.insert(target).second) {
            return invalid(fmt::format("Duplicate mount point: {}", target));
        }
    }
    return {};
}

}  // namespace berth::volumes
