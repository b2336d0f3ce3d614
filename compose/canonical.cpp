// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <charconv>
#include <functional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "compose/internal/canonical.hpp"

namespace berth::compose::detail {

namespace {

Error spec_error(const Node& at, const std::string& path, const std::string& what) {
    return Error(Errc::invalid_argument, fmt::format("{}: {}: {}", at.mark.str(), path, what));
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        std::size_t p = s.find(sep, start);
        out.emplace_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
        if (p == std::string_view::npos) {
            break;
        }
        start = p + 1;
    }
    return out;
}

bool parse_u32(std::string_view s, std::uint32_t& out) {
    if (s.empty()) {
        return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

/// A port or a port range "a-b": its first and last port.
bool parse_range(std::string_view s, std::uint32_t& lo, std::uint32_t& hi) {
    std::size_t dash = s.find('-');
    if (dash == std::string_view::npos) {
        if (!parse_u32(s, lo) || lo > 65535) {
            return false;
        }
        hi = lo;
        return true;
    }
    if (!parse_u32(s.substr(0, dash), lo) || !parse_u32(s.substr(dash + 1), hi)) {
        return false;
    }
    return lo <= hi && hi <= 65535;
}

Node port_node(const Node& at, std::uint32_t target, const std::string& published,
               const std::string& host_ip, const std::string& protocol) {
    Node n = Node::make_mapping(at.mark);
    n.set("mode", Node::make_string("ingress", at.mark));
    if (!host_ip.empty()) {
        n.set("host_ip", Node::make_string(host_ip, at.mark));
    }
    n.set("target", Node::make_plain(std::to_string(target), at.mark));
    if (!published.empty()) {
        n.set("published", Node::make_string(published, at.mark));
    }
    n.set("protocol", Node::make_string(protocol, at.mark));
    return n;
}

Result<std::vector<Node>> parse_port(const Node& item, const std::string& path) {
    std::string spec = item.value;
    auto bad = [&]() { return spec_error(item, path, fmt::format("invalid port \"{}\"", spec)); };
    std::string rest = spec;
    std::string protocol = "tcp";
    if (auto slash = rest.rfind('/'); slash != std::string::npos) {
        protocol = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (protocol != "tcp" && protocol != "udp" && protocol != "sctp") {
            return spec_error(item, path, fmt::format("invalid protocol \"{}\"", protocol));
        }
    }
    std::string host_ip;
    std::string published;
    std::string target;
    if (!rest.empty() && rest[0] == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
            return bad();
        }
        host_ip = rest.substr(1, close - 1);
        auto parts = split(std::string_view(rest).substr(close + 2), ':');
        if (parts.size() != 2) {
            return bad();
        }
        published = parts[0];
        target = parts[1];
    } else {
        auto parts = split(rest, ':');
        if (parts.size() == 1) {
            target = parts[0];
        } else if (parts.size() == 2) {
            published = parts[0];
            target = parts[1];
        } else {
            target = parts.back();
            published = parts[parts.size() - 2];
            for (std::size_t i = 0; i + 2 < parts.size(); ++i) {
                host_ip += (i ? ":" : "") + parts[i];
            }
        }
    }
    std::uint32_t tlo = 0;
    std::uint32_t thi = 0;
    if (!parse_range(target, tlo, thi) || tlo == 0) {
        return bad();
    }
    std::uint32_t plo = 0;
    std::uint32_t phi = 0;
    bool has_pub = !published.empty();
    if (has_pub && !parse_range(published, plo, phi)) {
        return bad();
    }
    // Each container port becomes one entry: a bound keeps a typo such as
    // "1-65535:80-65535" from producing tens of thousands of mappings.
    constexpr std::uint32_t max_range = 16384;
    if (thi - tlo >= max_range) {
        return spec_error(item, path,
                          fmt::format("invalid port \"{}\": range of more than {} ports", spec,
                                      max_range));
    }
    std::vector<Node> out;
    if (tlo == thi) {
        out.push_back(port_node(item, tlo, published, host_ip, protocol));
        return out;
    }
    // A container port range needs a host range of the same size (or none).
    if (has_pub && phi - plo != thi - tlo) {
        return spec_error(item, path,
                          fmt::format("invalid port \"{}\": ranges differ in size", spec));
    }
    for (std::uint32_t p = tlo; p <= thi; ++p) {
        std::string pub;
        if (has_pub) {
            pub = std::to_string(plo + (p - tlo));
        }
        out.push_back(port_node(item, p, pub, host_ip, protocol));
    }
    return out;
}

bool is_windows_abs(std::string_view s) {
    return s.size() >= 3 && std::isalpha(static_cast<unsigned char>(s[0])) && s[1] == ':' &&
           (s[2] == '\\' || s[2] == '/');
}

bool is_file_path(std::string_view s) {
    return !s.empty() && (s[0] == '.' || s[0] == '/' || s[0] == '~' || is_windows_abs(s));
}

/// Splits "src:dst:mode", keeping Windows drive letters ("C:\x") together.
std::vector<std::string> split_volume(std::string_view s) {
    auto raw = split(s, ':');
    std::vector<std::string> out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i].size() == 1 && std::isalpha(static_cast<unsigned char>(raw[i][0])) &&
            i + 1 < raw.size() && !raw[i + 1].empty() &&
            (raw[i + 1][0] == '\\' || raw[i + 1][0] == '/')) {
            out.push_back(raw[i] + ":" + raw[i + 1]);
            ++i;
            continue;
        }
        out.push_back(raw[i]);
    }
    return out;
}

/// A container path as Compose keeps it: cleaned, without a trailing '/'.
std::string clean_target(const std::string& target) {
    if (target.empty() || target[0] != '/') {
        return target;
    }
    std::string s = std::filesystem::path(target).lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') {
        s.pop_back();
    }
    return s;
}

Result<Node> parse_volume(const Node& item, const std::string& path) {
    const std::string& spec = item.value;
    auto bad = [&](std::string_view why) {
        return spec_error(item, path, fmt::format("invalid volume \"{}\": {}", spec, why));
    };
    if (spec.empty()) {
        return bad("empty");
    }
    auto parts = split_volume(spec);
    Node n = Node::make_mapping(item.mark);
    if (parts.size() == 1) {
        n.set("type", Node::make_string("volume", item.mark));
        n.set("target", Node::make_string(clean_target(parts[0]), item.mark));
        n.set("volume", Node::make_mapping(item.mark));
        return n;
    }
    if (parts.size() > 3) {
        return bad("too many colons");
    }
    const std::string& source = parts[0];
    const std::string& target = parts[1];
    if (source.empty() || target.empty()) {
        return bad("empty source or target");
    }
    bool bind = is_file_path(source);
    n.set("type", Node::make_string(bind ? "bind" : "volume", item.mark));
    n.set("source", Node::make_string(source, item.mark));
    n.set("target", Node::make_string(clean_target(target), item.mark));
    Node bind_opts = Node::make_mapping(item.mark);
    Node vol_opts = Node::make_mapping(item.mark);
    if (bind) {
        bind_opts.set("create_host_path", Node::make_plain("true", item.mark));
    }
    if (parts.size() == 3) {
        for (const auto& opt : split(parts[2], ',')) {
            if (opt == "ro") {
                n.set("read_only", Node::make_plain("true", item.mark));
            } else if (opt == "rw") {
                continue;
            } else if (opt == "z" || opt == "Z") {
                if (!bind) {
                    return bad("selinux label on a named volume");
                }
                bind_opts.set("selinux", Node::make_string(opt, item.mark));
            } else if (opt == "nocopy") {
                if (bind) {
                    return bad("nocopy on a bind mount");
                }
                vol_opts.set("nocopy", Node::make_plain("true", item.mark));
            } else if (opt == "shared" || opt == "rshared" || opt == "slave" || opt == "rslave" ||
                       opt == "private" || opt == "rprivate") {
                if (!bind) {
                    return bad("propagation on a named volume");
                }
                bind_opts.set("propagation", Node::make_string(opt, item.mark));
            } else if (opt == "consistent" || opt == "cached" || opt == "delegated") {
                n.set("consistency", Node::make_string(opt, item.mark));
            } else {
                return bad(fmt::format("unknown option \"{}\"", opt));
            }
        }
    }
    if (bind) {
        n.set("bind", std::move(bind_opts));
    } else {
        n.set("volume", std::move(vol_opts));
    }
    return n;
}

/// ["K=V", "K"] or {K: V} -> {K: "V"}; `null_value` is what a bare key gets.
void list_to_map(Node& field, bool keep_null) {
    if (field.is_sequence()) {
        Node m = Node::make_mapping(field.mark);
        for (auto& item : field.items) {
            if (!item.is_scalar()) {
                continue;
            }
            auto eq = item.value.find('=');
            if (eq == std::string::npos) {
                m.set(item.value,
                      keep_null ? Node::make_null(item.mark) : Node::make_string("", item.mark),
                      item.mark);
            } else {
                m.set(item.value.substr(0, eq),
                      Node::make_string(item.value.substr(eq + 1), item.mark), item.mark);
            }
        }
        m.tag = field.tag;
        field = std::move(m);
        return;
    }
    if (field.is_mapping()) {
        for (auto& e : field.entries) {
            if (e.value.is_scalar()) {
                e.value.quoted = true;
            } else if (e.value.is_null() && !keep_null && e.value.tag == NodeTag::none) {
                e.value = Node::make_string("", e.value.mark);
            }
        }
    }
}

void string_to_list(Node& field) {
    if (field.is_scalar()) {
        Node seq = Node::make_sequence(field.mark);
        seq.tag = field.tag;
        Node item = field;
        item.tag = NodeTag::none;
        item.quoted = true;
        seq.items.push_back(std::move(item));
        field = std::move(seq);
    }
}

void stringify_items(Node& field) {
    if (field.is_sequence()) {
        for (auto& i : field.items) {
            if (i.is_scalar()) {
                i.quoted = true;
            }
        }
    }
}

Result<void> command_to_list(Node& field, const std::string& path) {
    if (!field.is_scalar()) {
        stringify_items(field);
        return {};
    }
    auto words = split_shell_words(field.value);
    if (!words) {
        return spec_error(field, path, words.error().message());
    }
    Node seq = Node::make_sequence(field.mark);
    seq.tag = field.tag;
    for (auto& w : *words) {
        seq.items.push_back(Node::make_string(std::move(w), field.mark));
    }
    field = std::move(seq);
    return {};
}

std::string port_key(const Node& p) {
    auto get = [&](const char* k) {
        const Node* n = p.get(k);
        return n && n->is_scalar() ? n->value : std::string{};
    };
    return get("host_ip") + "|" + get("target") + "|" + get("published") + "|" + get("protocol");
}

std::string target_key(const Node& v, bool secret_like) {
    if (v.is_scalar()) {
        return v.value;
    }
    const Node* t = v.get("target");
    if (t && t->is_scalar()) {
        return t->value;
    }
    if (secret_like) {
        const Node* s = v.get("source");
        if (s && s->is_scalar()) {
            return s->value;
        }
    }
    return {};
}

void merge_by_key(Node& base, const Node& over, const std::function<std::string(const Node&)>& key) {
    for (const auto& item : over.items) {
        std::string k = key(item);
        bool replaced = false;
        if (!k.empty()) {
            for (auto& b : base.items) {
                if (key(b) == k) {
                    b = item;
                    strip_merge_tags(b);
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced) {
            base.items.push_back(item);
            strip_merge_tags(base.items.back());
        }
    }
}

void append_unique(Node& base, const Node& over) {
    for (const auto& item : over.items) {
        bool dup = false;
        if (item.is_scalar()) {
            for (const auto& b : base.items) {
                if (b.is_scalar() && b.value == item.value) {
                    dup = true;
                    break;
                }
            }
        }
        if (!dup) {
            base.items.push_back(item);
            strip_merge_tags(base.items.back());
        }
    }
}

const std::set<std::string, std::less<>> replace_keys = {"command", "entrypoint"};
const std::set<std::string, std::less<>> unique_list_keys = {
    "cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "expose", "external_links",
    "group_add", "links", "security_opt", "volumes_from", "profiles", "tmpfs",
    "device_cgroup_rules", "label_file", "extra_hosts"};

bool is_service_path(std::string_view path) {
    return path.rfind("services.", 0) == 0 &&
           path.find('.', std::string_view("services.").size()) == std::string_view::npos;
}

}  // namespace

Result<std::vector<std::string>> split_shell_words(std::string_view text) {
    std::vector<std::string> out;
    std::string cur;
    bool in_word = false;
    std::size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (in_word) {
                out.push_back(std::move(cur));
                cur.clear();
                in_word = false;
            }
            ++i;
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (i + 1 < text.size()) {
                cur += text[i + 1];
                i += 2;
            } else {
                ++i;
            }
            continue;
        }
        if (c == '\'') {
            auto close = text.find('\'', i + 1);
            if (close == std::string_view::npos) {
                return Error(Errc::invalid_argument, "unterminated single quote in command");
            }
            cur += text.substr(i + 1, close - i - 1);
            i = close + 1;
            continue;
        }
        if (c == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                char d = text[i];
                if (d == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (d == '\\' && i + 1 < text.size() &&
                    (text[i + 1] == '"' || text[i + 1] == '\\' || text[i + 1] == '$' ||
                     text[i + 1] == '`')) {
                    cur += text[i + 1];
                    i += 2;
                    continue;
                }
                cur += d;
                ++i;
            }
            if (!closed) {
                return Error(Errc::invalid_argument, "unterminated double quote in command");
            }
            continue;
        }
        cur += c;
        ++i;
    }
    if (in_word) {
        out.push_back(std::move(cur));
    }
    return out;
}

Result<void> canonicalize_service(Node& svc, const std::string& path) {
    if (!svc.is_mapping()) {
        return {};
    }
    if (Node* b = svc.get("build"); b && b->is_scalar()) {
        Node m = Node::make_mapping(b->mark);
        m.set("context", Node::make_string(b->value, b->mark));
        *b = std::move(m);
    }
    if (Node* b = svc.get("build"); b && b->is_mapping()) {
        for (const char* k : {"args", "labels", "additional_contexts"}) {
            if (Node* f = b->get(k)) {
                list_to_map(*f, std::string_view(k) == "args");
            }
        }
    }
    if (Node* e = svc.get("extends"); e && e->is_scalar()) {
        Node m = Node::make_mapping(e->mark);
        m.set("service", Node::make_string(e->value, e->mark));
        *e = std::move(m);
    }
    if (Node* f = svc.get("environment")) {
        list_to_map(*f, true);
    }
    for (const char* k : {"labels", "annotations", "sysctls"}) {
        if (Node* f = svc.get(k)) {
            list_to_map(*f, false);
        }
    }
    if (Node* d = svc.get("deploy"); d && d->is_mapping()) {
        if (Node* l = d->get("labels")) {
            list_to_map(*l, false);
        }
    }
    if (Node* f = svc.get("env_file")) {
        string_to_list(*f);
        for (auto& item : f->items) {
            if (item.is_scalar()) {
                Node m = Node::make_mapping(item.mark);
                m.set("path", Node::make_string(item.value, item.mark));
                m.set("required", Node::make_plain("true", item.mark));
                item = std::move(m);
            } else if (item.is_mapping() && !item.get("required")) {
                item.set("required", Node::make_plain("true", item.mark));
            }
        }
    }
    if (Node* d = svc.get("depends_on"); d && d->is_sequence()) {
        Node m = Node::make_mapping(d->mark);
        m.tag = d->tag;
        for (const auto& item : d->items) {
            Node dep = Node::make_mapping(item.mark);
            dep.set("condition", Node::make_string("service_started", item.mark));
            dep.set("required", Node::make_plain("true", item.mark));
            m.set(item.value, std::move(dep), item.mark);
        }
        *d = std::move(m);
    } else if (d && d->is_mapping()) {
        for (auto& e : d->entries) {
            if (e.value.is_mapping() && !e.value.get("required")) {
                e.value.set("required", Node::make_plain("true", e.value.mark));
            }
        }
    }
    if (Node* n = svc.get("networks"); n && n->is_sequence()) {
        Node m = Node::make_mapping(n->mark);
        m.tag = n->tag;
        for (const auto& item : n->items) {
            m.set(item.value, Node::make_null(item.mark), item.mark);
        }
        *n = std::move(m);
    }
    if (Node* p = svc.get("ports"); p && p->is_sequence()) {
        Node seq = Node::make_sequence(p->mark);
        seq.tag = p->tag;
        for (std::size_t i = 0; i < p->items.size(); ++i) {
            Node& item = p->items[i];
            std::string ipath = fmt::format("{}.ports[{}]", path, i);
            if (item.is_scalar()) {
                auto ports = parse_port(item, ipath);
                if (!ports) {
                    return std::move(ports).error();
                }
                for (auto& n : *ports) {
                    seq.items.push_back(std::move(n));
                }
                continue;
            }
            if (item.is_mapping()) {
                if (Node* pub = item.get("published"); pub && pub->is_scalar()) {
                    pub->quoted = true;
                }
                if (Node* t = item.get("target"); t && t->is_scalar()) {
                    std::uint32_t v = 0;
                    if (!parse_u32(t->value, v) || v == 0 || v > 65535) {
                        return spec_error(*t, ipath + ".target",
                                          fmt::format("invalid port \"{}\"", t->value));
                    }
                    t->quoted = false;
                }
                if (!item.get("protocol")) {
                    item.set("protocol", Node::make_string("tcp", item.mark));
                }
                if (!item.get("mode")) {
                    item.set("mode", Node::make_string("ingress", item.mark));
                }
            }
            seq.items.push_back(std::move(item));
        }
        *p = std::move(seq);
    }
    if (Node* v = svc.get("volumes"); v && v->is_sequence()) {
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            Node& item = v->items[i];
            if (item.is_scalar()) {
                auto n = parse_volume(item, fmt::format("{}.volumes[{}]", path, i));
                if (!n) {
                    return std::move(n).error();
                }
                item = std::move(*n);
            }
        }
    }
    for (const char* k : {"secrets", "configs"}) {
        if (Node* s = svc.get(k); s && s->is_sequence()) {
            for (auto& item : s->items) {
                if (item.is_scalar()) {
                    Node m = Node::make_mapping(item.mark);
                    m.set("source", Node::make_string(item.value, item.mark));
                    item = std::move(m);
                }
            }
        }
    }
    if (Node* d = svc.get("devices"); d && d->is_sequence()) {
        for (std::size_t i = 0; i < d->items.size(); ++i) {
            Node& item = d->items[i];
            if (!item.is_scalar()) {
                continue;
            }
            auto parts = split_volume(item.value);
            if (parts.empty() || parts.size() > 3 || parts[0].empty()) {
                return spec_error(item, fmt::format("{}.devices[{}]", path, i),
                                  fmt::format("invalid device \"{}\"", item.value));
            }
            Node m = Node::make_mapping(item.mark);
            m.set("source", Node::make_string(parts[0], item.mark));
            m.set("target",
                  Node::make_string(parts.size() > 1 ? parts[1] : parts[0], item.mark));
            m.set("permissions",
                  Node::make_string(parts.size() > 2 ? parts[2] : "rwm", item.mark));
            item = std::move(m);
        }
    }
    for (const char* k : {"dns", "dns_search", "tmpfs", "label_file"}) {
        if (Node* f = svc.get(k)) {
            string_to_list(*f);
        }
    }
    for (const char* k : {"expose", "group_add"}) {
        if (Node* f = svc.get(k)) {
            stringify_items(*f);
        }
    }
    if (Node* h = svc.get("extra_hosts")) {
        Node seq = Node::make_sequence(h->mark);
        seq.tag = h->tag;
        auto add = [&](const std::string& host, const Node& ip) {
            seq.items.push_back(Node::make_string(host + "=" + ip.value, ip.mark));
        };
        if (h->is_mapping()) {
            for (const auto& e : h->entries) {
                if (e.value.is_sequence()) {
                    for (const auto& ip : e.value.items) {
                        add(e.key, ip);
                    }
                } else if (e.value.is_scalar()) {
                    add(e.key, e.value);
                }
            }
        } else if (h->is_sequence()) {
            for (const auto& item : h->items) {
                auto eq = item.value.find('=');
                auto colon = item.value.find(':');
                std::size_t cut = eq != std::string::npos ? eq : colon;
                if (cut == std::string::npos) {
                    return spec_error(item, path + ".extra_hosts",
                                      fmt::format("invalid extra host \"{}\"", item.value));
                }
                Node ip = Node::make_string(item.value.substr(cut + 1), item.mark);
                add(item.value.substr(0, cut), ip);
            }
        }
        *h = std::move(seq);
    }
    if (Node* hc = svc.get("healthcheck"); hc && hc->is_mapping()) {
        if (Node* t = hc->get("test"); t && t->is_scalar()) {
            Node seq = Node::make_sequence(t->mark);
            seq.tag = t->tag;
            seq.items.push_back(Node::make_string("CMD-SHELL", t->mark));
            seq.items.push_back(Node::make_string(t->value, t->mark));
            *t = std::move(seq);
        }
    }
    for (const char* k : {"command", "entrypoint"}) {
        if (Node* c = svc.get(k)) {
            auto r = command_to_list(*c, path + "." + k);
            if (!r) {
                return r;
            }
        }
    }
    return {};
}

void canonicalize_top_level(Node& root) {
    for (const char* k : {"services", "networks", "volumes", "secrets", "configs"}) {
        Node* section = root.get(k);
        if (!section) {
            continue;
        }
        if (section->is_null()) {
            *section = Node::make_mapping(section->mark);
            continue;
        }
        if (std::string_view(k) == "services") {
            continue;
        }
        for (auto& e : section->entries) {
            if (e.value.is_null() && e.value.tag == NodeTag::none) {
                e.value = Node::make_mapping(e.key_mark);
            }
            if (Node* l = e.value.get("labels")) {
                list_to_map(*l, false);
            }
        }
    }
}

void strip_merge_tags(Node& node) {
    node.tag = NodeTag::none;
    if (node.is_mapping()) {
        node.entries.erase(std::remove_if(node.entries.begin(), node.entries.end(),
                                          [](const Entry& e) {
                                              return e.value.tag == NodeTag::reset;
                                          }),
                           node.entries.end());
        for (auto& e : node.entries) {
            strip_merge_tags(e.value);
        }
    } else if (node.is_sequence()) {
        for (auto& i : node.items) {
            strip_merge_tags(i);
        }
    }
}

void merge_into(Node& base, const Node& over, std::string_view path) {
    if (over.tag == NodeTag::override_ || !base.is_mapping() || !over.is_mapping()) {
        if (base.is_sequence() && over.is_sequence() && over.tag == NodeTag::none) {
            for (const auto& i : over.items) {
                base.items.push_back(i);
                strip_merge_tags(base.items.back());
            }
            return;
        }
        base = over;
        strip_merge_tags(base);
        return;
    }
    bool service = is_service_path(path);
    // Large mappings (services of a big project) get an index instead of scans.
    std::unordered_map<std::string, std::size_t> index;
    bool indexed = over.entries.size() > 16 && base.entries.size() > 16;
    auto rebuild = [&]() {
        index.clear();
        for (std::size_t i = 0; i < base.entries.size(); ++i) {
            index.emplace(base.entries[i].key, i);
        }
    };
    if (indexed) {
        rebuild();
    }
    for (const auto& e : over.entries) {
        if (e.value.tag == NodeTag::reset) {
            base.erase(e.key);
            if (indexed) {
                rebuild();
            }
            continue;
        }
        Node* b = nullptr;
        if (indexed) {
            auto it = index.find(e.key);
            b = it == index.end() ? nullptr : &base.entries[it->second].value;
        } else {
            b = base.get(e.key);
        }
        if (!b) {
            base.entries.push_back(Entry{e.key, e.key_mark, e.value});
            strip_merge_tags(base.entries.back().value);
            if (indexed) {
                index.emplace(e.key, base.entries.size() - 1);
            }
            continue;
        }
        const Node& o = e.value;
        std::string child = path.empty() ? e.key : std::string(path) + "." + e.key;
        if (o.tag == NodeTag::override_) {
            *b = o;
            strip_merge_tags(*b);
            continue;
        }
        if (service && b->is_sequence() && o.is_sequence()) {
            if (replace_keys.count(e.key) != 0) {
                *b = o;
                strip_merge_tags(*b);
            } else if (e.key == "ports") {
                merge_by_key(*b, o, port_key);
            } else if (e.key == "volumes") {
                merge_by_key(*b, o, [](const Node& n) { return target_key(n, false); });
            } else if (e.key == "secrets" || e.key == "configs") {
                merge_by_key(*b, o, [](const Node& n) { return target_key(n, true); });
            } else if (e.key == "env_file") {
                merge_by_key(*b, o, [](const Node& n) {
                    const Node* p = n.get("path");
                    return p ? p->value : std::string{};
                });
            } else if (e.key == "devices") {
                merge_by_key(*b, o, [](const Node& n) {
                    const Node* t = n.get("target");
                    return t ? t->value : std::string{};
                });
            } else if (unique_list_keys.count(e.key) != 0) {
                append_unique(*b, o);
            } else {
                merge_into(*b, o, child);
            }
            continue;
        }
        if (service && e.key == "healthcheck" && b->is_mapping() && o.is_mapping()) {
            Node over_copy = o;
            if (const Node* t = o.get("test")) {
                b->set("test", *t);
                strip_merge_tags(*b->get("test"));
                over_copy.erase("test");
            }
            merge_into(*b, over_copy, child);
            continue;
        }
        merge_into(*b, o, child);
    }
}

std::string absolute_clean(const std::filesystem::path& dir, std::string_view path,
                           const std::string& home) {
    if (is_windows_abs(path)) {
        return std::string(path);
    }
    std::filesystem::path p;
    if (path == "~" || path.rfind("~/", 0) == 0) {
        p = std::filesystem::path(home) / std::string(path.substr(path.size() > 1 ? 2 : 1));
    } else {
        p = std::filesystem::path(std::string(path));
    }
    if (p.is_relative()) {
        p = dir / p;
    }
    std::string s = p.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') {
        s.pop_back();
    }
    return s;
}

namespace {

bool is_remote_context(std::string_view s) {
    return s.find("://") != std::string_view::npos || s.rfind("git@", 0) == 0 ||
           s.rfind("github.com/", 0) == 0;
}

void resolve_scalar(Node* n, const std::filesystem::path& dir, const std::string& home) {
    if (n && n->is_scalar() && !n->value.empty()) {
        n->value = absolute_clean(dir, n->value, home);
    }
}

}  // namespace

void resolve_service_paths(Node& svc, const std::filesystem::path& dir, const std::string& home) {
    if (!svc.is_mapping()) {
        return;
    }
    if (Node* b = svc.get("build"); b && b->is_mapping()) {
        Node* ctx = b->get("context");
        if (!ctx) {
            b->set("context", Node::make_string(".", b->mark));
            ctx = b->get("context");
        }
        if (ctx->is_scalar() && !is_remote_context(ctx->value)) {
            resolve_scalar(ctx, dir, home);
        }
        if (Node* ac = b->get("additional_contexts"); ac && ac->is_mapping()) {
            for (auto& e : ac->entries) {
                const std::string& v = e.value.value;
                if (e.value.is_scalar() && !is_remote_context(v) && v.rfind("service:", 0) != 0 &&
                    v.find(':') == std::string::npos) {
                    resolve_scalar(&e.value, dir, home);
                }
            }
        }
    }
    if (Node* f = svc.get("env_file"); f && f->is_sequence()) {
        for (auto& item : f->items) {
            resolve_scalar(item.get("path"), dir, home);
        }
    }
    if (Node* f = svc.get("label_file"); f && f->is_sequence()) {
        for (auto& item : f->items) {
            resolve_scalar(&item, dir, home);
        }
    }
    if (Node* v = svc.get("volumes"); v && v->is_sequence()) {
        for (auto& item : v->items) {
            const Node* type = item.get("type");
            if (type && type->value == "bind") {
                resolve_scalar(item.get("source"), dir, home);
            }
        }
    }
    if (Node* d = svc.get("develop"); d && d->is_mapping()) {
        if (Node* w = d->get("watch"); w && w->is_sequence()) {
            for (auto& item : w->items) {
                resolve_scalar(item.get("path"), dir, home);
            }
        }
    }
}

void resolve_top_level_paths(Node& root, const std::filesystem::path& dir,
                             const std::string& home) {
    for (const char* k : {"secrets", "configs"}) {
        if (Node* s = root.get(k); s && s->is_mapping()) {
            for (auto& e : s->entries) {
                resolve_scalar(e.value.get("file"), dir, home);
            }
        }
    }
}

}  // namespace berth::compose::detail
