// SPDX-License-Identifier: Apache-2.0
// Fault tests of issue 8 ("Failure and bad input", "Reliability"): kill -9 of `berth up`
// and `down` at every failpoint (RELIABILITY.md section 3, F1 and F2), garbled state (F8),
// a simulated reboot (F9), concurrent `up` (F17), scaled-down load, restart storm and
// output flood (F18, F19, F20), convergence (F23), a failing service and Ctrl-C during
// `up -d`. Each runs inside a network namespace the test creates, with a scratch root,
// and ends with the leak census.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

extern char** environ;

using berth::testing::Census;
using berth::testing::OuterNetns;
using berth::testing::RunResult;
using berth::testing::ScratchRoot;

namespace {

using Env = std::map<std::string, std::string>;
namespace stdfs = std::filesystem;

constexpr int web_port = 18590;

/// Three services (one with two replicas), two networks, two named volumes, an
/// anonymous volume per worker, a published port, a secret and a config: every kind
/// of resource `up` creates. SIGKILL as stop signal keeps `down` fast.
std::string f1_yaml(const std::string& greeting = "ok") {
    return "name: faults\n"
           "services:\n"
           "  web:\n"
           "    image: busybox\n"
           "    command: [\"sh\", \"-c\", \"echo " +
           greeting +
           " > /www/index.html && exec httpd -f -p 80 -h /www\"]\n"
           "    ports: [\"127.0.0.1:" +
           std::to_string(web_port) +
           ":80\"]\n"
           "    volumes: [\"site:/www\"]\n"
           "    networks: [front]\n"
           "    secrets: [token]\n"
           "    stop_signal: SIGKILL\n"
           "  api:\n"
           "    image: busybox\n"
           "    command: [\"sleep\", \"3600\"]\n"
           "    networks: [front, back]\n"
           "    volumes: [\"data:/data\"]\n"
           "    configs: [settings]\n"
           "    depends_on: [web]\n"
           "    stop_signal: SIGKILL\n"
           "  worker:\n"
           "    image: busybox\n"
           "    command: [\"sleep\", \"3600\"]\n"
           "    networks: [back]\n"
           "    volumes: [\"/scratch\"]\n"
           "    deploy: {replicas: 2}\n"
           "    stop_signal: SIGKILL\n"
           "networks:\n"
           "  front: {}\n"
           "  back: {}\n"
           "volumes:\n"
           "  site: {}\n"
           "  data: {}\n"
           "secrets:\n"
           "  token: {file: ./token.txt}\n"
           "configs:\n"
           "  settings: {content: \"level=1\"}\n";
}

const std::set<std::string> f1_containers = {"faults-api-1", "faults-web-1", "faults-worker-1",
                                             "faults-worker-2"};

/// Writes `yaml` as compose.yaml (plus token.txt) in a directory beside the scratch root.
std::string write_project(const ScratchRoot& s, const std::string& yaml,
                          const std::string& dir_name = "proj") {
    auto dir = s.root().parent_path() / dir_name;
    stdfs::create_directories(dir);
    std::ofstream(dir / "token.txt") << "s3cret\n";
    std::ofstream(dir / "compose.yaml") << yaml;
    return (dir / "compose.yaml").string();
}

/// The scratch environment plus `extra` (such as BERTH_FAILPOINT).
Env env_with(const ScratchRoot& s, const Env& extra) {
    auto env = s.env();
    for (const auto& [k, v] : extra) {
        env[k] = v;
    }
    return env;
}

RunResult berth_env(const ScratchRoot& s, std::vector<std::string> args, const Env& extra,
                    int timeout_s = 120) {
    args.insert(args.begin(), BERTH_BINARY);
    return berth::testing::run_process(args, env_with(s, extra), {}, timeout_s);
}

RunResult with_failpoint(const ScratchRoot& s, const std::vector<std::string>& args,
                         const std::string& point) {
    return berth_env(s, args, {{"BERTH_FAILPOINT", point}});
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            out.push_back(line);
        }
    }
    return out;
}

/// Container name -> state, from `compose ps -a --format json`.
std::map<std::string, std::string> states(const ScratchRoot& s, const std::string& file) {
    auto r = s.berth({"compose", "ps", "-a", "--format", "json", "-f", file});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, std::string> out;
    for (const auto& line : lines_of(r.out)) {
        auto j = nlohmann::json::parse(line);
        out[j.at("Name").get<std::string>()] = j.at("State").get<std::string>();
    }
    return out;
}

/// `inspect` of one container, the first element.
nlohmann::json inspect(const ScratchRoot& s, const std::string& name) {
    auto r = s.berth({"inspect", name});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    return j.is_array() ? j.at(0) : j;
}

/// Entries of a directory of the scratch data root ("containers", "volumes", ...).
std::set<std::string> root_entries(const ScratchRoot& s, const std::string& sub) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(s.root() / sub, ec)) {
        out.insert(e.path().filename().string());
    }
    return out;
}

/// Names of the network records.
std::multiset<std::string> network_names(const ScratchRoot& s) {
    std::multiset<std::string> out;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(s.root() / "networks", ec)) {
        if (e.path().extension() != ".json") {
            continue;
        }
        std::ifstream in(e.path());
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (!j.is_discarded()) {
            out.insert(j.value("name", std::string()));
        }
    }
    return out;
}

/// GET / on 127.0.0.1:`port` from the test's namespace, retried for up to 5 s.
std::string http_get(int port) {
    std::string body;
    for (int attempt = 0; attempt < 25; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::string reply;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            const std::string req = "GET / HTTP/1.0\r\n\r\n";
            if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
                char buf[4096];
                for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
                    reply.append(buf, static_cast<size_t>(n));
                }
            }
        }
        ::close(fd);
        if (auto pos = reply.find("\r\n\r\n"); pos != std::string::npos) {
            return reply.substr(pos + 4);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return body;
}

/// The host objects that must be gone as soon as `down` returns (the resolver, which
/// lingers 2 s, is left to the final settled census).
struct HostObjects {
    std::set<std::string> mounts, links, cgroups, nft_tables;
    bool operator==(const HostObjects&) const = default;
};

HostObjects host_objects(const ScratchRoot& s) {
    auto c = berth::testing::take_census(s);
    return {c.mounts, c.links, c.cgroups, c.nft_tables};
}

std::string describe(const HostObjects& h) {
    std::string out;
    for (const auto& m : h.mounts) {
        out += "mount: " + m + "\n";
    }
    for (const auto& l : h.links) {
        out += "link: " + l + "\n";
    }
    for (const auto& c : h.cgroups) {
        out += "cgroup: " + c + "\n";
    }
    for (const auto& t : h.nft_tables) {
        out += "nft table: " + t + "\n";
    }
    return out;
}

/// The census once the network resolver (which exits 2 s after the last network is
/// gone) had time to go: polled for up to 8 s.
/// F1's "converged": the four containers running once each (no other container in the
/// root), both networks and both named volumes once, one anonymous volume per worker
/// and no other volume, the published port answering.
void check_converged(const ScratchRoot& s, const std::string& file) {
    auto st = states(s, file);
    std::set<std::string> names;
    for (const auto& [name, state] : st) {
        names.insert(name);
        INFO(name);
        CHECK(state == "running");
    }
    CHECK(names == f1_containers);
    auto all = lines_of(s.berth({"ps", "-aq", "--no-trunc"}).out);
    CHECK(all.size() == f1_containers.size());
    auto nets = network_names(s);
    CHECK(nets.count("faults_front") == 1);
    CHECK(nets.count("faults_back") == 1);
    auto vols = lines_of(s.berth({"volume", "ls", "-q"}).out);
    CHECK(std::count(vols.begin(), vols.end(), "faults_site") == 1);
    CHECK(std::count(vols.begin(), vols.end(), "faults_data") == 1);
    CHECK(vols.size() == 4);  // plus one anonymous volume per worker
    CHECK(http_get(web_port) == "ok\n");
}

/// After `down -v`: nothing of the project in berth's state (no record, no half-made
/// directory, no .tmp- leftover) and no mount, link or cgroup left on the host.
void check_gone(const ScratchRoot& s, const std::string& file, const HostObjects& baseline) {
    CHECK(states(s, file).empty());
    CHECK(lines_of(s.berth({"ps", "-aq"}).out).empty());
    CHECK(lines_of(s.berth({"volume", "ls", "-q"}).out).empty());
    CHECK(network_names(s).count("faults_front") == 0);
    CHECK(network_names(s).count("faults_back") == 0);
    for (const auto& c : root_entries(s, "containers")) {
        INFO("containers/" << c);
        CHECK(false);
    }
    auto volumes = root_entries(s, "volumes");
    for (const auto& v : volumes) {
        INFO("volumes/" << v);
        CHECK(false);
    }
    auto now = host_objects(s);
    INFO("before:\n" << describe(baseline) << "after:\n" << describe(now));
    CHECK(now == baseline);
}

/// A child of the test that runs in the background, in its own process group.
struct Background {
    pid_t pid = -1;
    stdfs::path output;
};

Background spawn(const ScratchRoot& s, const std::vector<std::string>& args, const Env& extra,
                 const stdfs::path& output) {
    std::vector<std::string> argv{BERTH_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = env_with(s, extra);
    Env merged;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv(*e);
        auto eq = kv.find('=');
        merged[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
    for (const auto& [k, v] : env) {
        merged[k] = v;
    }
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : merged) {
        env_strings.push_back(k + "=" + v);
    }
    std::vector<char*> cenv, cargv;
    for (auto& e : env_strings) {
        cenv.push_back(e.data());
    }
    cenv.push_back(nullptr);
    for (auto& a : argv) {
        cargv.push_back(a.data());
    }
    cargv.push_back(nullptr);
    int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(devnull, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        ::execve(cargv[0], cargv.data(), cenv.data());
        _exit(127);
    }
    ::close(out);
    ::close(devnull);
    return {pid, output};
}

/// Waits for a background child: its exit status, or 128+signal.
int wait_exit(const Background& b) {
    int status = 0;
    while (::waitpid(b.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// True once the child stopped itself (a `stop` failpoint), waiting up to 60 s.
bool wait_stopped(const Background& b) {
    for (int i = 0; i < 600; ++i) {
        int status = 0;
        pid_t r = ::waitpid(b.pid, &status, WUNTRACED | WNOHANG);
        if (r == b.pid && WIFSTOPPED(status)) {
            return true;
        }
        if (r == b.pid) {
            return false;  // exited without reaching the point
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string read_text(const stdfs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The points `up` passes on a fresh project, in the order it reaches them.
const std::vector<std::string> up_points = {
    "compose_up_before_network",        "network_create_before_bridge",
    "network_create_after_bridge",      "compose_up_after_network",
    "compose_up_before_volume",         "volume_create_before_rename",
    "compose_up_after_volume",          "compose_up_before_container",
    "secret_write_after_file",          "container_create_after_secrets",
    "container_create_after_record",    "compose_up_after_create",
    "container_start_before_network",   "netns_attach_before_ports",
    "container_start_after_supervisor", "compose_up_after_start",
};

// Points between the netns attach and the supervisor launch: the next start
// used to fail with "create veth …: Object exists" (the host-side veth of the
// killed start outlived it; attach now removes a stale one).
const std::vector<std::string> attach_points = {
    "netns_attach_after_veth",
    "container_start_after_network",
    "container_start_before_supervisor",
};

/// F1 at each of `points`: kill -9 of `up -d` there, then `up -d` converges and
/// `down -v` leaves nothing.
void kill_up_at(const std::vector<std::string>& points) {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    for (const auto& point : points) {
        INFO("failpoint " << point);
        // One container action at a time, so that the kill lands at the point
        // and not also in the middle of another container's step.
        auto killed =
            berth_env(s, {"up", "-d", "-f", file},
                      {{"BERTH_FAILPOINT", point + ":kill9"}, {"COMPOSE_PARALLEL_LIMIT", "1"}});
        INFO(killed.err);
        REQUIRE(killed.exit_code == 128 + SIGKILL);  // the point was reached
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        check_converged(s, file);
        auto down = s.berth({"down", "-v", "-f", file});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        check_gone(s, file, host_baseline);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

}  // namespace

TEST_CASE("F1: kill -9 of up at every failpoint, the next up converges, down -v leaves nothing",
          "[.root][root][compose][slow]") {
    kill_up_at(up_points);
}

TEST_CASE("F1: kill -9 of up between the netns attach and the supervisor launch",
          "[.root][root][compose][slow]") {
    kill_up_at(attach_points);
}

TEST_CASE("F1/F2: kill -9 of up and of down at spread delays, reruns converge and leave nothing",
          "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    // One clean round measures how long up and down take here.
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(s.berth({"up", "-d", "-f", file}).exit_code == 0);
    auto t1 = std::chrono::steady_clock::now();
    REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    auto t2 = std::chrono::steady_clock::now();
    const auto up_time = t1 - t0;
    const auto down_time = t2 - t1;
    const auto out = s.root().parent_path() / "cli.out";
    constexpr int rounds = 4;
    for (int i = 1; i <= rounds; ++i) {
        INFO("round " << i);
        // Spread over the command's run: early (images, networks) to late (starts).
        auto up = spawn(s, {"up", "-d", "-f", file}, {}, out);
        std::this_thread::sleep_for(up_time * i / (rounds + 1));
        ::kill(up.pid, SIGKILL);
        wait_exit(up);
        auto again = s.berth({"up", "-d", "-f", file});
        INFO(read_text(out) << again.err);
        REQUIRE(again.exit_code == 0);
        check_converged(s, file);

        auto down = spawn(s, {"down", "-v", "-f", file}, {}, out);
        std::this_thread::sleep_for(down_time * i / (rounds + 1));
        ::kill(down.pid, SIGKILL);
        wait_exit(down);
        auto rerun = s.berth({"down", "-v", "-f", file});
        INFO(read_text(out) << rerun.err);
        CHECK(rerun.exit_code == 0);
        CHECK(rerun.err.find("already exists") == std::string::npos);
        CHECK(rerun.err.find("not found") == std::string::npos);
        check_gone(s, file, host_baseline);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

namespace {

/// The smaller project of the F2 and F8 tests: one network, one named and one
/// anonymous volume, a published port.
std::string small_yaml() {
    return "name: faults\n"
           "services:\n"
           "  web:\n"
           "    image: busybox\n"
           "    command: [\"sh\", \"-c\", \"echo ok > /www/index.html && exec httpd -f -p 80 -h "
           "/www\"]\n"
           "    ports: [\"127.0.0.1:" +
           std::to_string(web_port) +
           ":80\"]\n"
           "    volumes: [\"site:/www\", \"/scratch\"]\n"
           "    networks: [front]\n"
           "    stop_signal: SIGKILL\n"
           "networks:\n"
           "  front: {}\n"
           "volumes:\n"
           "  site: {}\n";
}

/// A rerun after a kill: exit 0 and none of the errors of a half-done first run.
void check_rerun(const RunResult& r) {
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("already exists") == std::string::npos);
    CHECK(r.err.find("not found") == std::string::npos);
    CHECK(r.err.find("No such") == std::string::npos);
}

}  // namespace

TEST_CASE(
    "F2: kill -9 of down, rm -f, network rm and volume rm at their failpoints, the rerun "
    "succeeds and leaves nothing",
    "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, small_yaml());
    const auto host_baseline = host_objects(s);
    for (const std::string point : {"compose_remove_after_stop", "container_remove_before_record",
                                    "compose_down_before_network", "network_remove_before_record",
                                    "compose_down_before_volume", "volume_remove_after_rename"}) {
        INFO("failpoint " << point);
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        auto killed = with_failpoint(s, {"down", "-v", "-f", file}, point + ":kill9");
        INFO(killed.err);
        CHECK(killed.exit_code == 128 + SIGKILL);
        check_rerun(s.berth({"down", "-v", "-f", file}));
        check_gone(s, file, host_baseline);
    }
    {
        // The same for rm -f, network rm and volume rm.
        REQUIRE(s.berth({"volume", "create", "vol1"}).exit_code == 0);
        REQUIRE(s.berth({"network", "create", "net1"}).exit_code == 0);
        auto run = s.berth({"run", "-d", "--name", "c1", "--network", "net1", "-v", "vol1:/data",
                            "-v", "/anon", "busybox", "sleep", "3600"});
        INFO(run.err);
        REQUIRE(run.exit_code == 0);
        auto rm =
            with_failpoint(s, {"rm", "-f", "-v", "c1"}, "container_remove_before_record:kill9");
        CHECK(rm.exit_code == 128 + SIGKILL);
        // Docker's `rm -f` of a missing container exits 0 as well.
        check_rerun(s.berth({"rm", "-f", "-v", "c1"}));
        CHECK(lines_of(s.berth({"ps", "-aq"}).out).empty());
        auto nrm =
            with_failpoint(s, {"network", "rm", "net1"}, "network_remove_before_record:kill9");
        CHECK(nrm.exit_code == 128 + SIGKILL);
        // Bridge and rules went, the record stayed: the rerun finds it and finishes.
        CHECK(network_names(s).count("net1") == 1);
        auto nrm2 = s.berth({"network", "rm", "net1"});
        INFO(nrm2.err);
        CHECK(nrm2.exit_code == 0);
        CHECK(network_names(s).count("net1") == 0);
        auto vrm = with_failpoint(s, {"volume", "rm", "vol1"}, "volume_remove_after_rename:kill9");
        CHECK(vrm.exit_code == 128 + SIGKILL);
        auto vrm2 = s.berth({"volume", "rm", "-f", "vol1"});
        INFO(vrm2.err);
        CHECK(vrm2.exit_code == 0);
        CHECK(lines_of(s.berth({"volume", "ls", "-q"}).out).empty());
        auto leftovers = root_entries(s, "volumes");
        INFO("volumes/ entries: " << leftovers.size());
        CHECK(leftovers.empty());
        auto now = host_objects(s);
        INFO("before:\n" << describe(host_baseline) << "after:\n" << describe(now));
        CHECK(now == host_baseline);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE(
    "a failing service start: up exits non-zero naming what started and what failed, "
    "down removes everything",
    "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    // A host listener holds the port that `taken` asks for.
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(18591);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    const auto file = write_project(s,
                                    "name: failing\n"
                                    "services:\n"
                                    "  good:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sleep\", \"3600\"]\n"
                                    "    stop_signal: SIGKILL\n"
                                    "  missing:\n"
                                    "    image: busybox\n"
                                    "    command: [\"/no/such/program\"]\n"
                                    "    stop_signal: SIGKILL\n"
                                    "  taken:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sleep\", \"3600\"]\n"
                                    "    ports: [\"127.0.0.1:18591:80\"]\n"
                                    "    stop_signal: SIGKILL\n"
                                    "  after:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sleep\", \"3600\"]\n"
                                    "    depends_on: [missing]\n"
                                    "    stop_signal: SIGKILL\n");
    {
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        CHECK(up.exit_code != 0);
        CHECK(up.err.find("Container failing-good-1  Started") != std::string::npos);
        // Each failed service is named, with its cause.
        CHECK(up.err.find("service \"missing\"") != std::string::npos);
        CHECK(up.err.find("/no/such/program") != std::string::npos);
        CHECK(up.err.find("service \"taken\"") != std::string::npos);
        CHECK(up.err.find("18591") != std::string::npos);
        CHECK(up.err.find("Container failing-after-1  Started") == std::string::npos);
        auto st = states(s, file);
        CHECK(st["failing-good-1"] == "running");
        CHECK(st.count("failing-after-1") == 0);

        auto down = s.berth({"down", "-v", "-f", file});
        INFO(down.err);
        CHECK(down.exit_code == 0);
        CHECK(states(s, file).empty());
        CHECK(lines_of(s.berth({"ps", "-aq"}).out).empty());
        CHECK(network_names(s).count("failing_default") == 0);
    }
    ::close(listener);
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("F17: parallel up of one project is serialised, a lock of a killed up is released",
          "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    {
        constexpr int n = 10;
        std::vector<RunResult> results(n);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] { results[i] = s.berth({"up", "-d", "-f", file}); });
        }
        for (auto& t : threads) {
            t.join();
        }
        int network_created = 0;
        std::map<std::string, int> started;
        for (const auto& r : results) {
            INFO(r.err);
            CHECK(r.exit_code == 0);
            network_created += r.err.find("Network faults_front  Created") != std::string::npos;
            for (const auto& name : f1_containers) {
                started[name] += r.err.find("Container " + name + "  Started") != std::string::npos;
            }
        }
        // One up did the work; the others saw its result.
        CHECK(network_created == 1);
        for (const auto& name : f1_containers) {
            INFO(name);
            CHECK(started[name] == 1);
        }
        check_converged(s, file);
        REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
        check_gone(s, file, host_baseline);
    }
    {
        // An up stopped while it holds the project lock, then killed: the lock goes with it.
        const auto out = s.root().parent_path() / "first.out";
        auto first = spawn(s, {"up", "-d", "-f", file},
                           {{"BERTH_FAILPOINT", "compose_up_before_container:stop"}}, out);
        REQUIRE(wait_stopped(first));
        auto second = spawn(s, {"up", "-d", "-f", file}, {}, s.root().parent_path() / "second.out");
        ::kill(first.pid, SIGKILL);
        CHECK(wait_exit(first) == 128 + SIGKILL);
        CHECK(wait_exit(second) == 0);
        check_converged(s, file);
    }
    REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    check_gone(s, file, host_baseline);
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

// A reservation is reclaimed only when its creator died before writing the
// record (its lock is free): while the winner is between the two, the others
// lose (they used to reclaim it and win too).
TEST_CASE("F17: twenty parallel run --name same: one wins, the others say the name is in use",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    {
        // Twenty `run --name same` at once: one wins, the others say the name is in use.
        constexpr int n = 20;
        std::vector<RunResult> results(n);
        std::vector<std::thread> threads;
        for (int i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                results[i] = s.berth({"run", "-d", "--name", "same", "--network", "none",
                                      "--stop-signal", "SIGKILL", "busybox", "sleep", "3600"});
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        int won = 0;
        for (const auto& r : results) {
            if (r.exit_code == 0) {
                ++won;
            } else {
                INFO(r.err);
                CHECK(r.err.find("already in use") != std::string::npos);
            }
        }
        CHECK(won == 1);
        CHECK(lines_of(s.berth({"ps", "-aq"}).out).size() == 1);
        auto ids = lines_of(s.berth({"ps", "-aq"}).out);
        std::vector<std::string> rm{"rm", "-f"};
        rm.insert(rm.end(), ids.begin(), ids.end());
        CHECK(s.berth(rm).exit_code == 0);
        CHECK(root_entries(s, "containers").empty());
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE("Ctrl-C during up -d leaves a consistent state, the next up converges",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    const auto out = s.root().parent_path() / "up.out";
    // Stopped with a network namespace attached and the supervisor not yet launched:
    // then SIGINT to the whole process group, as a terminal's Ctrl-C sends it.
    auto up = spawn(s, {"up", "-d", "-f", file},
                    {{"BERTH_FAILPOINT", "container_start_after_network:stop"}}, out);
    REQUIRE(wait_stopped(up));
    ::kill(-up.pid, SIGINT);
    ::kill(-up.pid, SIGCONT);
    int code = wait_exit(up);
    INFO(read_text(out));
    CHECK(code != 0);
    // Consistent: every command works, every container is in a known state.
    auto ps = s.berth({"ps", "-a"});
    INFO(ps.err);
    CHECK(ps.exit_code == 0);
    for (const auto& [name, state] : states(s, file)) {
        INFO(name);
        CHECK((state == "created" || state == "running" || state == "exited"));
    }
    auto again = s.berth({"up", "-d", "-f", file});
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    check_converged(s, file);
    // Names resolve and the networks carry traffic after the interruption.
    auto page = s.berth({"exec", "faults-api-1", "wget", "-q", "-O-", "http://web/"});
    INFO(page.err);
    CHECK(page.out == "ok\n");
    REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    check_gone(s, file, host_baseline);
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

namespace {

std::string four_yaml() {
    std::string y = "name: garbled\nservices:\n";
    for (const char* svc : {"a", "b", "c", "d"}) {
        y += std::string("  ") + svc +
             ":\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n"
             "    stop_signal: SIGKILL\n";
    }
    return y;
}

std::string container_id(const ScratchRoot& s, const std::string& name) {
    return inspect(s, name).value("Id", std::string());
}

}  // namespace

TEST_CASE(
    "F8: a zeroed or truncated state file or garbled volume metadata breaks only its "
    "object, rm -f works",
    "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, four_yaml());
    const auto host_baseline = host_objects(s);
    {
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        REQUIRE(s.berth({"volume", "create", "keep"}).exit_code == 0);
        REQUIRE(s.berth({"volume", "create", "bad"}).exit_code == 0);
        const auto dir = [&](const std::string& name) {
            return s.root() / "containers" / container_id(s, name);
        };
        stdfs::resize_file(dir("garbled-a-1") / "state.json", 0);   // zeroed
        stdfs::resize_file(dir("garbled-b-1") / "state.json", 17);  // truncated
        std::ofstream(s.root() / "volumes" / "bad" / "meta.json") << "\x01\x02";

        // Everything else keeps working; the broken ones are shown, not hidden.
        auto ps = s.berth({"ps", "-a", "--format", "json"});
        INFO(ps.err);
        CHECK(ps.exit_code == 0);
        auto st = states(s, file);
        CHECK(st["garbled-c-1"] == "running");
        CHECK(st["garbled-d-1"] == "running");
        CHECK(st["garbled-a-1"] == "dead");
        CHECK(st["garbled-b-1"] == "dead");
        CHECK(s.berth({"exec", "garbled-d-1", "true"}).exit_code == 0);
        CHECK(s.berth({"volume", "inspect", "keep"}).exit_code == 0);
        auto vls = s.berth({"volume", "ls", "-q"});
        CHECK(vls.exit_code == 0);
        CHECK(vls.out.find("keep") != std::string::npos);

        // rm -f on each broken object succeeds, and takes its processes with it.
        for (const char* name : {"garbled-a-1", "garbled-b-1"}) {
            auto rm = s.berth({"rm", "-f", name});
            INFO(name << ": " << rm.err);
            CHECK(rm.exit_code == 0);
        }
        auto vrm = s.berth({"volume", "rm", "-f", "bad"});
        INFO(vrm.err);
        CHECK(vrm.exit_code == 0);
        CHECK(s.berth({"volume", "rm", "keep"}).exit_code == 0);
        auto up2 = s.berth({"up", "-d", "-f", file});
        INFO(up2.err);
        CHECK(up2.exit_code == 0);
        auto st2 = states(s, file);
        CHECK(st2.size() == 4);
        for (const auto& [name, state] : st2) {
            INFO(name);
            CHECK(state == "running");
        }
        REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
        CHECK(root_entries(s, "containers").empty());
        CHECK(root_entries(s, "volumes").empty());
        auto now = host_objects(s);
        INFO("before:\n" << describe(host_baseline) << "after:\n" << describe(now));
        CHECK(now == host_baseline);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

// A container whose record.json does not parse used to be skipped by list()
// and not found by get(): neither shown nor removable, its processes,
// endpoints and cgroups stayed.
TEST_CASE("F8: a garbled container record is shown as broken and rm -f removes it",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, four_yaml());
    {
        REQUIRE(s.berth({"up", "-d", "-f", file}).exit_code == 0);
        auto dir = s.root() / "containers" / container_id(s, "garbled-c-1");
        std::ofstream(dir / "record.json") << "{\"Id\": [garbage";
        auto ps = s.berth({"ps", "-a"});
        CHECK(ps.exit_code == 0);
        CHECK(ps.out.find("garbled-c-1") != std::string::npos);
        auto rm = s.berth({"rm", "-f", "garbled-c-1"});
        INFO(rm.err);
        CHECK(rm.exit_code == 0);
        auto down = s.berth({"down", "-v", "-f", file});
        INFO(down.err);
        CHECK(down.exit_code == 0);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

// After the simulated reboot `compose ps` used to say "running" (the killed
// processes were zombies with their recorded start times), so `up` kept the
// containers and the published port was never restored. Pids are also
// checked against the recorded boot id (see the unit tests).
TEST_CASE("F9: after a simulated reboot the next up converges with no stale references",
          "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    auto up = s.berth({"up", "-d", "-f", file});
    INFO(up.err);
    REQUIRE(up.exit_code == 0);
    {
        // The reboot: every berth process and container dies, the kernel objects
        // (mounts, namespaces, links, nftables, cgroups) vanish, /run is empty.
        for (int round = 0; round < 50; ++round) {
            auto c = berth::testing::take_census(s);
            bool any_in_cgroups = false;
            for (const auto& g : c.cgroups) {
                any_in_cgroups =
                    any_in_cgroups || !read_text(stdfs::path(g) / "cgroup.procs").empty();
            }
            if (c.processes.empty() && !any_in_cgroups) {
                break;
            }
            for (const auto& p : c.processes) {
                ::kill(std::stoi(p.substr(0, p.find(' '))), SIGKILL);
            }
            // Container processes see only their own root: found by cgroup.
            for (const auto& g : c.cgroups) {
                std::ifstream procs(stdfs::path(g) / "cgroup.procs");
                for (int pid = 0; procs >> pid;) {
                    ::kill(pid, SIGKILL);
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        auto c = berth::testing::take_census(s);
        REQUIRE(c.processes.empty());
        std::vector<std::string> targets;
        for (const auto& line : c.mounts) {
            std::istringstream words(line);
            std::string parent, dev, root, target;
            words >> parent >> dev >> root >> target;
            targets.push_back(target);
        }
        std::sort(targets.begin(), targets.end(),
                  [](const auto& a, const auto& b) { return a.size() > b.size(); });
        for (const auto& t : targets) {
            ::umount2(t.c_str(), MNT_DETACH);
        }
        for (const auto& l : c.links) {
            berth::testing::run_process({"/usr/sbin/ip", "link", "del", l});
        }
        for (const auto* family : {"inet", "netdev"}) {
            berth::testing::run_process({"/usr/sbin/nft", "delete", "table", family, s.prefix()});
        }
        std::vector<std::string> cgroups(c.cgroups.begin(), c.cgroups.end());
        std::sort(cgroups.begin(), cgroups.end(),
                  [](const auto& a, const auto& b) { return a.size() > b.size(); });
        for (const auto& g : cgroups) {
            ::rmdir(g.c_str());
        }
        for (const auto& e : stdfs::directory_iterator(s.run_root())) {
            stdfs::remove_all(e.path());
        }
        REQUIRE(host_objects(s) == host_baseline);
    }
    // The stored state says "running"; berth must see through it.
    auto st = states(s, file);
    CHECK(st.size() == f1_containers.size());
    for (const auto& [name, state] : st) {
        INFO(name);
        CHECK(state == "exited");
    }
    auto again = s.berth({"up", "-d", "-f", file});
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    check_converged(s, file);
    auto page = s.berth({"exec", "faults-api-1", "wget", "-q", "-O-", "http://web/"});
    INFO(page.err);
    CHECK(page.out == "ok\n");
    REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    check_gone(s, file, host_baseline);
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

namespace {

/// Pids of the supervisors of a scratch root (`berth … __supervise`).
/// A number field of /proc/<pid>/status (VmRSS in kB, PPid), 0 when gone.
long status_number(int pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stol(line.substr(field.size() + 1));
        }
    }
    return 0;
}

/// The supervisor processes. A container process forked by its supervisor
/// carries the supervisor's command line until it execs the container's
/// command (a restart storm catches some in that instant): those are left out.
std::vector<int> supervisors(const ScratchRoot& s) {
    std::set<int> all;
    for (const auto& p : berth::testing::take_census(s).processes) {
        if (p.find("__supervise") != std::string::npos) {
            all.insert(std::stoi(p.substr(0, p.find(' '))));
        }
    }
    std::vector<int> out;
    for (int pid : all) {
        if (all.count(static_cast<int>(status_number(pid, "PPid"))) == 0) {
            out.push_back(pid);
        }
    }
    return out;
}

size_t fd_count(int pid) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

/// utime + stime of a process, in clock ticks.
long cpu_ticks(int pid) {
    auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream rest(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string w; rest >> w;) {
        f.push_back(w);
    }
    // Fields 14 and 15 of proc(5), counted from the state (field 3).
    return f.size() > 12 ? std::stol(f[11]) + std::stol(f[12]) : 0;
}

/// Zombie children of `parents`.
int zombies_of(const std::vector<int>& parents) {
    int n = 0;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator("/proc", ec)) {
        auto stat = read_text(e.path() / "stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(stat.substr(close + 2));
        std::string state;
        int ppid = 0;
        rest >> state >> ppid;
        if (state == "Z" && std::find(parents.begin(), parents.end(), ppid) != parents.end()) {
            ++n;
        }
    }
    return n;
}

}  // namespace

TEST_CASE(
    "F18 (scaled to 10 containers x 3 cycles): no leak after any cycle, supervisors stay "
    "small with a stable fd count",
    "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s,
                                    "name: load\n"
                                    "services:\n"
                                    "  sleeper:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sleep\", \"3600\"]\n"
                                    "    deploy: {replicas: 10}\n"
                                    "    stop_signal: SIGKILL\n");
    const auto host_baseline = host_objects(s);
    std::set<size_t> fd_counts;
    long max_rss_kb = 0;
    for (int cycle = 1; cycle <= 3; ++cycle) {
        INFO("cycle " << cycle);
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        auto st = states(s, file);
        CHECK(st.size() == 10);
        auto sups = supervisors(s);
        CHECK(sups.size() == 10);
        for (int pid : sups) {
            fd_counts.insert(fd_count(pid));
            max_rss_kb = std::max(max_rss_kb, status_number(pid, "VmRSS"));
        }
        auto down = s.berth({"down", "-v", "-f", file});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
        CHECK(lines_of(s.berth({"ps", "-aq"}).out).empty());
        CHECK(root_entries(s, "containers").empty());
        auto now = host_objects(s);
        INFO("before:\n" << describe(host_baseline) << "after:\n" << describe(now));
        CHECK(now == host_baseline);
    }
    // Every supervisor of every cycle holds the same number of descriptors.
    INFO("fd counts: " << fd_counts.size() << ", largest RSS " << max_rss_kb << " kB");
    CHECK(fd_counts.size() == 1);
    WARN("largest supervisor RSS: " << max_rss_kb << " kB (RELIABILITY F18 asks <= 2048)");
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE(
    "F19 (scaled to 5 containers for 6 s): a restart storm backs off, leaves no zombie "
    "and costs the supervisors little CPU",
    "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    const auto file = write_project(s,
                                    "name: storm\n"
                                    "services:\n"
                                    "  crash:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sh\", \"-c\", \"sleep 0.1; exit 1\"]\n"
                                    "    restart: always\n"
                                    "    deploy: {replicas: 5}\n"
                                    "    network_mode: none\n");
    {
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        auto sups = supervisors(s);
        REQUIRE(sups.size() == 5);
        long ticks_before = 0;
        for (int pid : sups) {
            ticks_before += cpu_ticks(pid);
        }
        const auto t0 = std::chrono::steady_clock::now();
        int max_zombies = 0;
        while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(6)) {
            max_zombies = std::max(max_zombies, zombies_of(sups));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        long ticks_after = 0;
        for (int pid : sups) {
            ticks_after += cpu_ticks(pid);
        }
        // A zombie may exist between an exit and its reaping; none may stay.
        CHECK(max_zombies <= 5);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        for (int i = 0; i < 20 && zombies_of(sups) != 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        CHECK(zombies_of(sups) == 0);
        // Backoff 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s after 0.1 s runs: about 5 restarts in 6 s;
        // without backoff it would be about 30.
        for (int i = 1; i <= 5; ++i) {
            auto name = "storm-crash-" + std::to_string(i);
            int restarts = inspect(s, name).value("RestartCount", -1);
            INFO(name << " restarted " << restarts << " times");
            CHECK(restarts >= 3);
            CHECK(restarts <= 8);
        }
        const double share = static_cast<double>(ticks_after - ticks_before) /
                             static_cast<double>(::sysconf(_SC_CLK_TCK)) / seconds;
        INFO("supervisor CPU share of one core: " << share);
        CHECK(share < 0.10);
        auto down = s.berth({"down", "-v", "-f", file});
        INFO(down.err);
        REQUIRE(down.exit_code == 0);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE(
    "F20 (scaled to 20 MB): an output flood with logs -f killed midway, the container "
    "finishes and its log is complete",
    "[.root][root][compose][slow]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    // 200,000 lines of 100 bytes, then one marker line.
    const auto file = write_project(s,
                                    "name: flood\n"
                                    "services:\n"
                                    "  loud:\n"
                                    "    image: busybox\n"
                                    "    command: [\"sh\", \"-c\", \"yes "
                                    "012345678901234567890123456789012345678901234567890123456789"
                                    "012345678901234567890123456789012345678 | head -n 200000; "
                                    "echo done\"]\n"
                                    "    network_mode: none\n");
    {
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        const auto out = s.root().parent_path() / "follow.out";
        auto follow = spawn(s, {"logs", "-f", "flood-loud-1"}, {}, out);
        for (int i = 0; i < 100 && stdfs::file_size(out) < 1000000; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::kill(follow.pid, SIGKILL);
        CHECK(wait_exit(follow) == 128 + SIGKILL);
        auto wait = s.berth({"wait", "flood-loud-1"}, {}, 60);
        INFO(wait.err);
        CHECK(wait.exit_code == 0);
        CHECK(wait.out == "0\n");
        auto logs = s.berth({"logs", "flood-loud-1"});
        CHECK(logs.exit_code == 0);
        auto lines = lines_of(logs.out);
        CHECK(lines.size() == 200001);
        CHECK(logs.out.size() == 200000u * 100u + 5u);
        CHECK((!lines.empty() && lines.back() == "done"));
        REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    }
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}

TEST_CASE(
    "F23: only the changed service is recreated, anonymous volumes carry over, orphans "
    "go only with --remove-orphans",
    "[.root][root][compose]") {
    OuterNetns outer;
    ScratchRoot s;
    const auto baseline = berth::testing::take_census(s);
    auto file = write_project(s, f1_yaml());
    const auto host_baseline = host_objects(s);
    REQUIRE(s.berth({"up", "-d", "-f", file}).exit_code == 0);
    std::map<std::string, std::pair<std::string, std::string>> before;
    for (const auto& name : f1_containers) {
        auto j = inspect(s, name);
        before[name] = {j.value("Id", std::string()), j["State"].value("StartedAt", std::string())};
    }
    REQUIRE(s.berth({"exec", "faults-worker-1", "touch", "/scratch/mark"}).exit_code == 0);
    {
        // A changed service: only web is recreated.
        file = write_project(s, f1_yaml("changed"));
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        for (const auto& name : f1_containers) {
            auto j = inspect(s, name);
            INFO(name);
            if (name == "faults-web-1") {
                CHECK(j.value("Id", std::string()) != before[name].first);
            } else {
                CHECK(j.value("Id", std::string()) == before[name].first);
                CHECK(j["State"].value("StartedAt", std::string()) == before[name].second);
            }
        }
        CHECK(http_get(web_port) == "changed\n");
    }
    {
        // A recreated worker keeps its anonymous volume.
        auto yaml = f1_yaml("changed");
        auto pos = yaml.find("    deploy: {replicas: 2}\n");
        yaml.insert(pos, "    environment: {LEVEL: \"2\"}\n");
        file = write_project(s, yaml);
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        CHECK(inspect(s, "faults-worker-1").value("Id", std::string()) !=
              before["faults-worker-1"].first);
        CHECK(s.berth({"exec", "faults-worker-1", "test", "-e", "/scratch/mark"}).exit_code == 0);
        CHECK(lines_of(s.berth({"volume", "ls", "-q"}).out).size() == 4);
    }
    {
        // A renamed service: the old containers are orphans.
        auto yaml = f1_yaml("changed");
        yaml.replace(yaml.find("  worker:\n"), 10, "  job:\n");
        file = write_project(s, yaml);
        auto up = s.berth({"up", "-d", "-f", file});
        INFO(up.err);
        REQUIRE(up.exit_code == 0);
        CHECK(up.err.find("Found orphan containers") != std::string::npos);
        CHECK(up.err.find("faults-worker-1") != std::string::npos);
        auto st = states(s, file);
        CHECK(st["faults-worker-1"] == "running");
        CHECK(st["faults-job-1"] == "running");
        auto clean = s.berth({"up", "-d", "--remove-orphans", "-f", file});
        INFO(clean.err);
        REQUIRE(clean.exit_code == 0);
        auto st2 = states(s, file);
        CHECK(st2.count("faults-worker-1") == 0);
        CHECK(st2.count("faults-worker-2") == 0);
        CHECK(st2["faults-job-2"] == "running");
    }
    REQUIRE(s.berth({"down", "-v", "-f", file}).exit_code == 0);
    // As with Compose, the orphans went without their anonymous volumes, which
    // no container names any more: dangling, removed by a prune.
    CHECK(lines_of(s.berth({"volume", "ls", "-q"}).out).size() == 2);
    REQUIRE(s.berth({"volume", "prune", "-f"}).exit_code == 0);
    check_gone(s, file, host_baseline);
    const auto after = berth::testing::settled_census(s, baseline);
    INFO("before:\n" << baseline.describe() << "after:\n" << after.describe());
    CHECK(after == baseline);
}
