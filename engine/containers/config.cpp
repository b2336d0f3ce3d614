// SPDX-License-Identifier: Apache-2.0
#include "engine/containers/config.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace berth::engine::containers {

using nlohmann::json;

Result<RestartPolicy> parse_restart_policy(std::string_view text) {
    RestartPolicy p;
    if (text.empty() || text == "no") {
        return p;
    }
    if (text == "always") {
        p.name = RestartPolicyName::always;
        return p;
    }
    if (text == "unless-stopped") {
        p.name = RestartPolicyName::unless_stopped;
        return p;
    }
    if (text.substr(0, 10) == "on-failure") {
        p.name = RestartPolicyName::on_failure;
        auto rest = text.substr(10);
        if (rest.empty()) {
            return p;
        }
        int n = -1;
        if (rest[0] == ':') {
            auto digits = rest.substr(1);
            auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
            if (ec == std::errc() && ptr == digits.data() + digits.size() && n >= 0) {
                p.max_retries = n;
                return p;
            }
        }
        return Error(Errc::invalid_argument,
                     fmt::format("invalid restart policy \"{}\": maximum retry count must be a "
                                 "non-negative integer",
                                 text));
    }
    return Error(Errc::invalid_argument, fmt::format("invalid restart policy \"{}\"", text));
}

std::string to_string(const RestartPolicy& policy) {
    switch (policy.name) {
        case RestartPolicyName::no: return "no";
        case RestartPolicyName::always: return "always";
        case RestartPolicyName::unless_stopped: return "unless-stopped";
        case RestartPolicyName::on_failure:
            return policy.max_retries > 0 ? fmt::format("on-failure:{}", policy.max_retries)
                                          : "on-failure";
    }
    return "no";
}

Result<int64_t> parse_bytes(std::string_view text) {
    auto bad = [&] {
        return Error(Errc::invalid_argument, fmt::format("invalid size: \"{}\"", text));
    };
    if (text.empty()) {
        return bad();
    }
    size_t end = 0;
    while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) != 0 ||
                                 text[end] == '.')) {
        ++end;
    }
    if (end == 0) {
        return bad();
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
    if (ec != std::errc() || ptr != text.data() + end) {
        return bad();
    }
    auto unit = text.substr(end);
    double mult = 1;
    if (!unit.empty()) {
        char u = static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0])));
        switch (u) {
            case 'b': mult = 1; break;
            case 'k': mult = 1024.0; break;
            case 'm': mult = 1024.0 * 1024; break;
            case 'g': mult = 1024.0 * 1024 * 1024; break;
            case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
            case 'p': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; break;
            default: return bad();
        }
        auto suffix = unit.substr(1);
        if (!(suffix.empty() || suffix == "b" || suffix == "B" || suffix == "ib" || suffix == "iB" ||
              (u == 'b' && suffix.empty()))) {
            return bad();
        }
    }
    double bytes = value * mult;
    if (!std::isfinite(bytes) || bytes > 9.2e18) {
        return bad();
    }
    return static_cast<int64_t>(bytes);
}

Result<int64_t> parse_cpus(std::string_view text) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 0 ||
        !std::isfinite(v)) {
        return Error(Errc::invalid_argument, fmt::format("invalid argument \"{}\" for \"--cpus\"", text));
    }
    return static_cast<int64_t>(std::llround(v * 1e9));
}

void to_json(json& j, const HealthConfig& h) {
    j = json{{"Test", h.test},
             {"Interval", h.interval_ns},
             {"Timeout", h.timeout_ns},
             {"StartPeriod", h.start_period_ns},
             {"StartInterval", h.start_interval_ns},
             {"Retries", h.retries}};
}

void from_json(const json& j, HealthConfig& h) {
    h.test = j.value("Test", std::vector<std::string>{});
    h.interval_ns = j.value("Interval", int64_t{0});
    h.timeout_ns = j.value("Timeout", int64_t{0});
    h.start_period_ns = j.value("StartPeriod", int64_t{0});
    h.start_interval_ns = j.value("StartInterval", int64_t{0});
    h.retries = j.value("Retries", 0);
}

void to_json(json& j, const ContainerConfig& c) {
    j = json{{"image", c.image},
             {"cmd", c.cmd},
             {"env", c.env},
             {"working_dir", c.working_dir},
             {"user", c.user},
             {"hostname", c.hostname},
             {"domainname", c.domainname},
             {"labels", c.labels},
             {"tty", c.tty},
             {"open_stdin", c.open_stdin},
             {"init", c.init},
             {"read_only", c.read_only},
             {"privileged", c.privileged},
             {"no_new_privileges", c.no_new_privileges},
             {"auto_remove", c.auto_remove},
             {"cap_add", c.cap_add},
             {"cap_drop", c.cap_drop},
             {"seccomp", c.seccomp},
             {"memory", c.memory},
             {"memory_swap", c.memory_swap},
             {"nano_cpus", c.nano_cpus},
             {"cpu_shares", c.cpu_shares},
             {"pids_limit", c.pids_limit},
             {"mounts", c.mounts},
             {"anonymous_volumes", c.anonymous_volumes},
             {"volumes", c.volumes},
             {"restart", to_string(c.restart)},
             {"stop_signal", c.stop_signal},
             {"network_mode", c.network_mode},
             {"networks", c.networks},
             {"network_aliases", c.network_aliases},
             {"ipv4_address", c.ipv4_address},
             {"ipv6_address", c.ipv6_address},
             {"publish", c.publish},
             {"dns", c.dns},
             {"dns_search", c.dns_search},
             {"dns_options", c.dns_options},
             {"extra_hosts", c.extra_hosts},
             {"runtime", c.runtime},
             {"sysctls", c.sysctls},
             {"shm_size", c.shm_size}};
    if (c.entrypoint) {
        j["entrypoint"] = *c.entrypoint;
    }
    if (c.stop_timeout) {
        j["stop_timeout"] = *c.stop_timeout;
    }
    if (c.oom_score_adj) {
        j["oom_score_adj"] = *c.oom_score_adj;
    }
    if (c.healthcheck) {
        j["healthcheck"] = *c.healthcheck;
    }
    json ul = json::array();
    for (const auto& u : c.ulimits) {
        ul.push_back({{"name", u.name}, {"soft", u.soft}, {"hard", u.hard}});
    }
    j["ulimits"] = ul;
}

void from_json(const json& j, ContainerConfig& c) {
    using S = std::vector<std::string>;
    c.image = j.value("image", "");
    c.cmd = j.value("cmd", S{});
    c.env = j.value("env", S{});
    c.working_dir = j.value("working_dir", "");
    c.user = j.value("user", "");
    c.hostname = j.value("hostname", "");
    c.domainname = j.value("domainname", "");
    c.labels = j.value("labels", std::map<std::string, std::string>{});
    c.tty = j.value("tty", false);
    c.open_stdin = j.value("open_stdin", false);
    c.init = j.value("init", false);
    c.read_only = j.value("read_only", false);
    c.privileged = j.value("privileged", false);
    c.no_new_privileges = j.value("no_new_privileges", false);
    c.auto_remove = j.value("auto_remove", false);
    c.cap_add = j.value("cap_add", S{});
    c.cap_drop = j.value("cap_drop", S{});
    c.seccomp = j.value("seccomp", "");
    c.memory = j.value("memory", int64_t{0});
    c.memory_swap = j.value("memory_swap", int64_t{0});
    c.nano_cpus = j.value("nano_cpus", int64_t{0});
    c.cpu_shares = j.value("cpu_shares", int64_t{0});
    c.pids_limit = j.value("pids_limit", int64_t{0});
    c.mounts = j.value("mounts", std::vector<json>{});
    c.anonymous_volumes = j.value("anonymous_volumes", S{});
    c.volumes = j.value("volumes", S{});
    auto rp = parse_restart_policy(j.value("restart", "no"));
    c.restart = rp ? *rp : RestartPolicy{};
    c.stop_signal = j.value("stop_signal", "");
    c.network_mode = j.value("network_mode", "bridge");
    c.networks = j.value("networks", S{});
    c.network_aliases = j.value("network_aliases", S{});
    c.ipv4_address = j.value("ipv4_address", "");
    c.ipv6_address = j.value("ipv6_address", "");
    c.publish = j.value("publish", S{});
    c.dns = j.value("dns", S{});
    c.dns_search = j.value("dns_search", S{});
    c.dns_options = j.value("dns_options", S{});
    c.extra_hosts = j.value("extra_hosts", S{});
    c.runtime = j.value("runtime", "");
    c.sysctls = j.value("sysctls", std::map<std::string, std::string>{});
    c.shm_size = j.value("shm_size", int64_t{0});
    if (j.contains("entrypoint")) {
        c.entrypoint = j.at("entrypoint").get<S>();
    }
    if (j.contains("stop_timeout")) {
        c.stop_timeout = j.at("stop_timeout").get<int>();
    }
    if (j.contains("oom_score_adj")) {
        c.oom_score_adj = j.at("oom_score_adj").get<int>();
    }
    if (j.contains("healthcheck")) {
        c.healthcheck = j.at("healthcheck").get<HealthConfig>();
    }
    c.ulimits.clear();
    for (const auto& u : j.value("ulimits", json::array())) {
        c.ulimits.push_back({u.value("name", ""), u.value("soft", int64_t{0}), u.value("hard", int64_t{0})});
    }
}

}  // namespace berth::engine::containers
