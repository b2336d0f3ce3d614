// SPDX-License-Identifier: Apache-2.0
// Coexistence with Docker (issue 5): Debian's dockerd runs inside the test's
// own network namespace, with its own data root, exec root, socket and pid
// file under a temporary directory, so it cannot touch the host. Started
// with IPv4 forwarding off, it enables forwarding and sets the iptables
// FORWARD policy to DROP (and br_netfilter makes bridged IPv4 traffic pass
// that chain), as on a real Docker host. berth must keep its containers
// talking and its published ports answering, and never edit Docker's tables.
#include <catch2/catch.hpp>

#include <sys/un.h>

#include "tests/integration/netns/netns_fixture.hpp"

using namespace berth;
using namespace berth::netns_test;
using berth::testing::OuterNetns;
using berth::testing::run_process;

namespace {

/// Docker's rules, without counters (they move with traffic).
std::string docker_tables() {
    return run_process({"/usr/sbin/nft", "-s", "list", "table", "ip", "filter"}).out +
           run_process({"/usr/sbin/nft", "-s", "list", "table", "ip", "nat"}).out;
}

/// GET /_ping on the daemon's socket; true on "OK".
bool docker_ping(const std::filesystem::path& sock) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock.c_str());
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        return false;
    }
    const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    if (::send(s.get(), req, sizeof req - 1, MSG_NOSIGNAL) != sizeof req - 1) {
        return false;
    }
    std::string resp;
    char buf[1024];
    for (ssize_t n; (n = ::recv(s.get(), buf, sizeof buf, 0)) > 0;) {
        resp.append(buf, static_cast<size_t>(n));
    }
    return resp.find("\r\n\r\nOK") != std::string::npos;
}

/// Pids of live processes whose command line mentions `needle`.
std::vector<pid_t> processes_mentioning(const std::string& needle) {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        auto name = e.path().filename().native();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(e.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (cmd.find(needle) != std::string::npos) {
            out.push_back(static_cast<pid_t>(std::stol(name)));
        }
    }
    return out;
}

/// dockerd under `dir`, started in the calling thread's network namespace;
/// stopped by its own pid (SIGTERM, then SIGKILL after 30 s) and reaped.
class Dockerd {
   public:
    explicit Dockerd(const std::filesystem::path& dir) : dir_(dir) {
        std::ofstream(dir / "daemon.json") << "{}\n";
        std::vector<std::string> argv{"/usr/sbin/dockerd",
                                      "--data-root=" + (dir / "data").native(),
                                      "--exec-root=" + (dir / "exec").native(),
                                      "--host=unix://" + (dir / "docker.sock").native(),
                                      "--pidfile=" + (dir / "docker.pid").native(),
                                      "--config-file=" + (dir / "daemon.json").native()};
        const std::string log = (dir / "dockerd.log").native();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            std::vector<char*> args;
            for (auto& a : argv) {
                args.push_back(a.data());
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Dockerd() { stop(); }
    Dockerd(const Dockerd&) = delete;
    Dockerd& operator=(const Dockerd&) = delete;

    [[nodiscard]] std::filesystem::path socket() const { return dir_ / "docker.sock"; }
    [[nodiscard]] std::string log() const {
        std::ifstream in(dir_ / "dockerd.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    /// True when the daemon exited on its own (it could not run here).
    [[nodiscard]] bool exited() {
        if (pid_ <= 0) {
            return true;
        }
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
        }
        return false;
    }
    /// Stops the daemon (which stops the containerd it started) and reaps it.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        int st = 0;
        while (::waitpid(pid_, &st, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &st, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        pid_ = -1;
    }

   private:
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("berth networks keep working next to a running dockerd", "[netns][docker][.root]") {
    if (!std::filesystem::exists("/usr/sbin/dockerd")) {
        FAIL("dockerd is not installed (/usr/sbin/dockerd): install docker.io to run this test");
    }
    OuterNetns outer;
    Fixture f;
    const auto census_before = testing::take_census(f.scratch);
    auto dir = fs::TempDir::create(std::filesystem::temp_directory_path(), "berth-dockerd-");
    REQUIRE(dir);
    const std::string docker_dir = dir->path().native();
    // As on a fresh host: forwarding off, so Docker turns it on and sets DROP.
    { std::ofstream("/proc/sys/net/ipv4/ip_forward") << "0\n"; }
    {
        Dockerd docker(dir->path());
        bool up = eventually([&] { return docker.exited() || docker_ping(docker.socket()); });
        if (!up || docker.exited()) {
            // The only reason to stop here: dockerd itself cannot run in a
            // network namespace on this machine. Reported as a failure.
            FAIL("dockerd did not start inside the test's network namespace:\n" << docker.log());
        }
        auto forward =
            run_process({"/usr/sbin/nft", "-s", "list", "chain", "ip", "filter", "FORWARD"}).out;
        INFO(forward);
        REQUIRE(forward.find("policy drop") != std::string::npos);
        REQUIRE(run_process({"/usr/bin/cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"}).out ==
                "1\n");
        const auto docker_before = docker_tables();
        REQUIRE(docker_before.find("DOCKER") != std::string::npos);

        {
            REQUIRE(netns::create_network(f.paths, spec("coex")));
            auto a = f.make_ns("a");
            auto b = f.make_ns("b");
            auto ports = netns::parse_port_spec("18080:80");
            REQUIRE(ports);
            auto ea = f.attach("web", a, "coex", {"www"}, *ports);
            auto eb = f.attach("client", b, "coex");
            Background httpd({"/usr/bin/nsenter", "--net=" + a.native(), "/usr/bin/busybox",
                              "httpd", "-f", "-p", "80", "-h", f.www});
            const std::string want = "hello from berth\n";
            // Container to container on the berth network, through Docker's
            // FORWARD DROP with br_netfilter on.
            CHECK(eventually([&] { return http_get(&b, ea.ipv4, 80) == want; }));
            CHECK(in_ns(b, {"ping", "-c", "1", "-W", "2", ea.ipv4}).exit_code == 0);
            // By name through berth's resolver.
            CHECK(eventually([&] { return resolve(b, "www", eb.dns_server) == ea.ipv4; }));
            // The published port from the host: loopback and its own address.
            CHECK(eventually([&] { return http_get(nullptr, "127.0.0.1", 18080) == want; }));
            CHECK(http_get(nullptr, "198.51.100.1", 18080) == want);
            // Reconciling repeatedly changes nothing of Docker's.
            for (int i = 0; i < 3; ++i) {
                REQUIRE(netns::reconcile(f.paths));
            }
            CHECK(docker_tables() == docker_before);
        }
        f.teardown();
        CHECK(docker_tables() == docker_before);
        docker.stop();
    }
    CHECK(processes_mentioning(docker_dir).empty());
    std::ifstream mounts("/proc/self/mountinfo");
    std::string text((std::istreambuf_iterator<char>(mounts)), std::istreambuf_iterator<char>());
    CHECK(text.find(docker_dir) == std::string::npos);
    auto census_after = testing::take_census(f.scratch);
    INFO(census_after.describe());
    CHECK(census_after == census_before);
}
