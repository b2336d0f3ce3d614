// SPDX-License-Identifier: Apache-2.0
// The Dockerfile builder (issue 7): a corpus of Dockerfiles on the built-in
// busybox image and FROM scratch, asserting on the image config and on what a
// container of the image sees; the layer cache; bad input; RELIABILITY.md
// section 2 rows 24 (RUN --mount) and 25 (no cache from loaded images).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/harness.hpp"
#include "tests/support/outer_netns.hpp"

using berth::testing::Census;
using berth::testing::OuterNetns;
using berth::testing::RunResult;
using berth::testing::ScratchRoot;
using berth::testing::run_process;
using berth::testing::take_census;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

/// A build context directory next to the scratch root.
struct Context {
    stdfs::path dir;
    explicit Context(const ScratchRoot& s, const std::string& name)
        : dir(s.root().parent_path() / name) {
        stdfs::create_directories(dir);
    }
    void write(const std::string& rel, const std::string& content, mode_t mode = 0644) const {
        auto p = dir / rel;
        stdfs::create_directories(p.parent_path());
        std::ofstream(p) << content;
        ::chmod(p.c_str(), mode);
    }
};

json inspect(const ScratchRoot& s, const std::string& ref) {
    auto r = s.berth({"image", "inspect", ref});
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out)[0];
}

/// "(N steps, M cached)" from a build's summary line.
std::pair<int, int> step_counts(const RunResult& r) {
    std::smatch m;
    static const std::regex re(R"(\((\d+) steps, (\d+) cached\))");
    if (!std::regex_search(r.err, m, re)) {
        return {-1, -1};
    }
    return {std::stoi(m[1]), std::stoi(m[2])};
}

/// The census after the default bridge exists: RUN steps use it, and like
/// Docker's docker0 it stays (in the test's own network namespace).
Census baseline(const ScratchRoot& s) {
    REQUIRE(s.berth({"run", "--rm", "busybox", "true"}).exit_code == 0);
    return take_census(s);
}

RunResult sh(const ScratchRoot& s, const std::string& image, const std::string& script) {
    return s.berth({"run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script});
}

}  // namespace

TEST_CASE("build: every instruction on busybox, checked in the config and in a container",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Census before = baseline(s);
    Context c(s, "ctx-all");
    c.write("run.sh", "#!/bin/sh\necho run \"$@\"\n", 0644);
    c.write("data/a.txt", "A\n");
    c.write("data/remove-me", "x\n");
    c.write("data/sub/b.txt", "B\n");
    c.write("conf.txt", "conf\n");
    // a tarball for ADD's auto-extraction
    c.write("tarsrc/t1.txt", "tar one\n");
    REQUIRE(run_process({"/bin/tar", "-czf", (c.dir / "files.tar.gz").native(), "-C",
                         (c.dir / "tarsrc").native(), "t1.txt"})
                .exit_code == 0);
    c.write("Dockerfile", R"(# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/app \
    MODE=test
LABEL org.example.name="demo app" version=1
# a comment between instructions
WORKDIR $APP_HOME
COPY --chmod=0755 run.sh ./
COPY data/ ./data/
COPY --chown=www-data:mail conf.txt /etc/conf.txt
ADD files.tar.gz /opt/
RUN echo "$GREETING from $MODE" > greeting.txt && \
    mkdir -p /var/made
RUN <<EOF
set -e
echo heredoc > /app/heredoc.txt
EOF
COPY <<EOT /app/inline.txt
inline ${MODE}
EOT
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD wget -q -O- http://127.0.0.1:8080/ || exit 1
SHELL ["/bin/sh", "-c"]
ENTRYPOINT ["/app/run.sh"]
CMD ["arg1"]
USER nobody

FROM base AS final
USER root
RUN rm /app/data/remove-me && test ! -e /app/data/remove-me
USER nobody

FROM scratch AS empty
COPY --from=base /bin/busybox /busybox
)");
    auto b = s.berth({"build", "-t", "corpus:1", "--target", "final", c.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    auto img = inspect(s, "corpus:1");
    const auto& cfg = img["Config"];
    auto env = cfg["Env"].dump();
    CHECK(env.find("APP_HOME=/app") != std::string::npos);
    CHECK(env.find("MODE=test") != std::string::npos);
    CHECK(env.find("GREETING") == std::string::npos);  // ARGs do not persist
    CHECK(cfg["Labels"]["org.example.name"] == "demo app");
    CHECK(cfg["Labels"]["version"] == "1");
    CHECK(cfg["WorkingDir"] == "/app");
    CHECK(cfg["ExposedPorts"].contains("8080/tcp"));
    CHECK(cfg["ExposedPorts"].contains("53/udp"));
    CHECK(cfg["Volumes"].contains("/data"));
    CHECK(cfg["StopSignal"] == "SIGINT");
    CHECK(cfg["User"] == "nobody");
    CHECK(cfg["Entrypoint"] == json::array({"/app/run.sh"}));
    CHECK(cfg["Cmd"] == json::array({"arg1"}));
    CHECK(cfg["Healthcheck"]["Test"][0] == "CMD-SHELL");
    CHECK(cfg["Healthcheck"]["Interval"] == 5000000000LL);
    CHECK(cfg["Healthcheck"]["Retries"] == 2);

    // What a container of the image sees.
    auto r = sh(s, "corpus:1",
                "cat /app/greeting.txt /app/heredoc.txt /app/inline.txt /opt/t1.txt "
                "/app/data/a.txt /app/data/sub/b.txt; stat -c '%a %u:%g' /app/run.sh "
                "/etc/conf.txt; test -d /var/made && echo made; "
                "test -e /app/data/remove-me || echo removed; id -un; pwd");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out ==
          "hello from test\nheredoc\ninline test\ntar one\nA\nB\n755 0:0\n644 33:8\nmade\n"
          "removed\nnobody\n/app\n");
    // The entrypoint and cmd run as configured.
    auto e = s.berth({"run", "--rm", "--network", "none", "corpus:1"});
    CHECK(e.exit_code == 0);
    CHECK(e.out == "run arg1\n");
    // The base stage still has the file that the final stage removed (whiteout).
    auto base = s.berth({"build", "-q", "--target", "base", c.dir.native()});
    REQUIRE(base.exit_code == 0);
    std::string base_id = base.out.substr(0, base.out.find('\n'));
    CHECK(sh(s, base_id, "cat /app/data/remove-me").out == "x\n");
    // FROM scratch with COPY --from: one file, nothing else.
    auto empty = s.berth({"build", "-t", "empty:1", "--target", "empty", c.dir.native()});
    REQUIRE(empty.exit_code == 0);
    auto ei = inspect(s, "empty:1");
    CHECK(ei["RootFS"]["Layers"].size() == 1);
    auto hist = s.berth({"history", "--no-trunc", "corpus:1"});
    CHECK(hist.out.find("RUN /bin/sh -c rm /app/data/remove-me") != std::string::npos);
    // No build container is left behind.
    CHECK(s.berth({"ps", "-aq"}).out.empty());
    Census after = take_census(s);
    INFO("before:\n" << before.describe() << "after:\n" << after.describe());
    CHECK(after == before);
}

TEST_CASE("build: the cache hits every unchanged step and only steps after a changed COPY rerun",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Context c(s, "ctx-cache");
    c.write("a.txt", "a1\n");
    c.write("b.txt", "b1\n");
    c.write("Dockerfile",
            "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /a2\n"
            "COPY b.txt /b.txt\nRUN cat /b.txt > /b2\nENV X=1\n");
    auto b1 = s.berth({"build", "-t", "cache:1", c.dir.native()});
    INFO(b1.err);
    REQUIRE(b1.exit_code == 0);
    CHECK(step_counts(b1) == std::make_pair(7, 0));
    auto id1 = inspect(s, "cache:1")["Id"];
    auto listing = [&] {
        std::set<std::string> out;
        for (const auto& sub : {"images/blobs/sha256", "snapshots"}) {
            for (const auto& e : stdfs::directory_iterator(s.root() / sub)) {
                out.insert(e.path().filename().string() + " " +
                           std::to_string(stdfs::last_write_time(e.path()).time_since_epoch().count()));
            }
        }
        return out;
    };
    auto store_before = listing();
    auto b2 = s.berth({"build", "-t", "cache:1", c.dir.native()});
    REQUIRE(b2.exit_code == 0);
    CHECK(step_counts(b2) == std::make_pair(7, 6));  // every step but FROM is a cache hit
    CHECK(inspect(s, "cache:1")["Id"] == id1);
    // A cached rebuild writes no blob and no snapshot.
    CHECK(listing() == store_before);
    c.write("b.txt", "b2\n");
    auto b3 = s.berth({"build", "-t", "cache:2", c.dir.native()});
    REQUIRE(b3.exit_code == 0);
    CHECK(step_counts(b3) == std::make_pair(7, 3));  // RUN one, COPY a, RUN a2
    CHECK(sh(s, "cache:2", "cat /b2 /a2").out == "b2\na1\n");
    // --no-cache reruns everything.
    auto b4 = s.berth({"build", "--no-cache", "-t", "cache:3", c.dir.native()});
    REQUIRE(b4.exit_code == 0);
    CHECK(step_counts(b4) == std::make_pair(7, 0));
    // ... and records what it built: the next build hits every step and
    // yields the --no-cache build's image.
    auto b5 = s.berth({"build", "-t", "cache:4", c.dir.native()});
    REQUIRE(b5.exit_code == 0);
    CHECK(step_counts(b5) == std::make_pair(7, 6));
    CHECK(inspect(s, "cache:4")["Id"] == inspect(s, "cache:3")["Id"]);
    // Intermediate images are hidden from `images`, shown with -a.
    auto list = s.berth({"images", "-q"});
    auto all = s.berth({"images", "-aq"});
    CHECK(std::count(list.out.begin(), list.out.end(), '\n') <
          std::count(all.out.begin(), all.out.end(), '\n'));
}

TEST_CASE("build: multi-stage with --target builds only the stages needed, build args",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Context c(s, "ctx-stages");
    c.write("Dockerfile", R"DF(ARG VERSION=1.0
FROM busybox AS builder
ARG VERSION
ARG FLAVOR=plain
RUN echo "$VERSION-$FLAVOR" > /artifact
FROM busybox AS broken
RUN echo this stage must not run && exit 7
FROM busybox
COPY --from=builder /artifact /artifact
RUN test "$(cat /artifact)" = "2.0-plain"
)DF");
    auto b = s.berth({"build", "--build-arg", "VERSION=2.0", "--build-arg", "UNUSED=1", "-t",
                      "stages:1", c.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(b.err.find("this stage must not run") == std::string::npos);
    CHECK(b.err.find("[Warning] One or more build-args [UNUSED] were not consumed") !=
          std::string::npos);
    CHECK(sh(s, "stages:1", "cat /artifact").out == "2.0-plain\n");
}

TEST_CASE("build: .dockerignore with exceptions and **", "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Context c(s, "ctx-ignore");
    c.write("keep.txt", "k\n");
    c.write("notes.md", "n\n");
    c.write("README.md", "r\n");
    c.write("secret/key", "s\n");
    c.write("deep/x/y/tmp.log", "l\n");
    c.write("deep/x/keep.go", "g\n");
    c.write(".dockerignore", "*.md\n!README.md\nsecret\n**/*.log\n");
    c.write("Dockerfile", "FROM busybox\nCOPY . /ctx/\n");
    auto b = s.berth({"build", "-t", "ignore:1", c.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    auto r = sh(s, "ignore:1", "cd /ctx && find . -type f | sort");
    CHECK(r.out == "./.dockerignore\n./Dockerfile\n./README.md\n./deep/x/keep.go\n./keep.txt\n");
    // Copying an excluded file by name fails.
    c.write("Dockerfile", "FROM busybox\nCOPY secret/key /key\n");
    auto bad = s.berth({"build", c.dir.native()});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("Dockerfile:2:") != std::string::npos);
}

TEST_CASE("build: ONBUILD triggers run in the child build, RUN --network=none",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Context p(s, "ctx-parent");
    p.write("Dockerfile", "FROM busybox\nONBUILD RUN echo triggered > /onbuild\n");
    REQUIRE(s.berth({"build", "-t", "parent:1", p.dir.native()}).exit_code == 0);
    CHECK(inspect(s, "parent:1")["Config"]["OnBuild"] ==
          json::array({"RUN echo triggered > /onbuild"}));
    Context ch(s, "ctx-child");
    ch.write("Dockerfile",
             "FROM parent:1\nRUN --network=none test \"$(grep -c : /proc/net/dev)\" -eq 1\n");
    auto b = s.berth({"build", "-t", "child:1", ch.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(sh(s, "child:1", "cat /onbuild").out == "triggered\n");
    CHECK(inspect(s, "child:1")["Config"]["OnBuild"].is_null());
}

TEST_CASE("build: bad input names the Dockerfile line and leaves nothing behind",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Census before = baseline(s);
    auto images_before = s.berth({"images", "-q"}).out;
    Context c(s, "ctx-bad");
    c.write("present.txt", "p\n");
    struct Case {
        std::string dockerfile;
        std::string expect;
    };
    std::vector<Case> cases{
        {"FROM busybox\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"},
        {"FROM busybox\nCOPY --bogus=1 present.txt /x\n", "Dockerfile:2: unknown flag: --bogus"},
        {"FROM busybox\nRUN true\nCOPY missing.txt /x\n", "Dockerfile:3:"},
        {"FROM busybox\nCOPY --from=nostage /a /b\n", "Dockerfile:2:"},
        {"FROM busybox\nRUN echo boom-output && exit 3\n", "exit code: 3"},
        {"FROM busybox\nRUN --mount=type=cache,id=../../../../tmp/esc,target=/c true\n",
         "Dockerfile:2:"},
        {"FROM busybox\nRUN --mount=type=bind,bind-propagation=rshared,target=/x true\n",
         "bind-propagation"},
        {"FROM busybox\nRUN --mount=type=bind,source=../../..,target=/x true\n", "Dockerfile:2:"},
    };
    for (const auto& tc : cases) {
        c.write("Dockerfile", tc.dockerfile);
        auto r = s.berth({"build", "-q", "-t", "bad:1", c.dir.native()});
        INFO(tc.dockerfile << "\n" << r.err);
        CHECK(r.exit_code != 0);
        CHECK(r.err.find(tc.expect) != std::string::npos);
        if (tc.expect == "exit code: 3") {
            CHECK(r.err.find("boom-output") != std::string::npos);  // captured output shown
            CHECK(r.err.find("Dockerfile:2:") != std::string::npos);
        }
    }
    CHECK(!stdfs::exists("/tmp/esc"));
    CHECK(s.berth({"image", "inspect", "bad:1"}).exit_code != 0);
    CHECK(s.berth({"images", "-q"}).out == images_before);
    CHECK(s.berth({"ps", "-aq"}).out.empty());
    Census after = take_census(s);
    INFO("before:\n" << before.describe() << "after:\n" << after.describe());
    CHECK(after == before);
}

TEST_CASE("build: RUN --mount binds cannot write to their source or the host (row 24)",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Census before = baseline(s);
    auto victim = s.root().parent_path() / "victim";
    stdfs::create_directories(victim);
    std::ofstream(victim / "file") << "keep\n";
    Context c(s, "ctx-mount");
    c.write("ctxfile", "from context\n");
    c.write("Dockerfile", "FROM busybox AS base\nRUN mkdir /rootdir && echo r > /rootdir/r && "
                          "ln -s " + victim.native() + " /link\n"
                          "FROM busybox\n"
                          "RUN --mount=type=bind,from=base,source=/rootdir,target=/x,rw "
                          "touch /x/BREAKOUT && cat /x/r > /seen\n"
                          "RUN --mount=type=bind,source=ctxfile,target=/m/ctxfile "
                          "cp /m/ctxfile /copied && ! touch /m/ctxfile\n"
                          "RUN --mount=type=cache,target=/cache echo c >> /cache/count\n"
                          "RUN --mount=type=tmpfs,target=/t touch /t/x\n");
    auto b = s.berth({"build", "-t", "mount:1", c.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(!stdfs::exists("/BREAKOUT"));
    CHECK(!stdfs::exists(c.dir / "ctxfile.new"));
    auto r = sh(s, "mount:1", "cat /seen /copied; test -e /x || echo no-x; "
                              "test -e /t || echo no-t; test -e /cache || echo no-cache");
    CHECK(r.out == "r\nfrom context\nno-x\nno-t\nno-cache\n");
    // A mount target below a symlink that points at a host path: resolved
    // inside the rootfs (where that path does not exist), so the step fails
    // cleanly and the host directory is untouched.
    c.write("Dockerfile", "FROM mount:1\nRUN ln -s " + victim.native() +
                              " /link2 && echo linked\n"
                              "RUN --mount=type=tmpfs,target=/link2/x touch /link2/x/f\n");
    auto sym = s.berth({"build", "-q", c.dir.native()});
    INFO(sym.err);
    CHECK(sym.exit_code != 0);
    CHECK(sym.err.find("Dockerfile:3:") != std::string::npos);
    std::ifstream in(victim / "file");
    std::string content((std::istreambuf_iterator<char>(in)), {});
    CHECK(content == "keep\n");
    CHECK(stdfs::directory_iterator(victim) != stdfs::directory_iterator());
    CHECK(std::distance(stdfs::directory_iterator(victim), stdfs::directory_iterator()) == 1);
    Census after = take_census(s);
    INFO("before:\n" << before.describe() << "after:\n" << after.describe());
    CHECK(after == before);
}

TEST_CASE("build: a loaded image is never a cache candidate (row 25), saved builds load "
          "elsewhere and pass skopeo inspect",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot a;
    Context c(a, "ctx-poison");
    c.write("Dockerfile", "FROM busybox\nRUN echo built > /f\nCMD [\"cat\", \"/f\"]\n");
    REQUIRE(a.berth({"build", "-t", "poison:1", c.dir.native()}).exit_code == 0);
    auto tar = (a.root().parent_path() / "poison.tar").native();
    REQUIRE(a.berth({"save", "-o", tar, "poison:1"}).exit_code == 0);
    auto sk = run_process({"/usr/bin/skopeo", "inspect", "docker-archive:" + tar});
    INFO(sk.err);
    CHECK(sk.exit_code == 0);
    auto doc = json::parse(sk.out, nullptr, false);
    REQUIRE(!doc.is_discarded());
    CHECK(doc["Layers"].size() == 2);

    ScratchRoot b;
    REQUIRE(b.berth({"load", "-i", tar}).exit_code == 0);
    auto run = b.berth({"run", "--rm", "--network", "none", "poison:1"});
    CHECK(run.out == "built\n");
    auto rebuilt = b.berth({"build", "-t", "poison:2", c.dir.native()});
    REQUIRE(rebuilt.exit_code == 0);
    CHECK(step_counts(rebuilt) == std::make_pair(3, 0));
}

TEST_CASE("build: ADD of a URL with --checksum, from a server on loopback", "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    auto www = s.root().parent_path() / "www";
    stdfs::create_directories(www);
    std::ofstream(www / "file.txt") << "downloaded\n";
    // busybox httpd on 127.0.0.1 in the test's own network namespace, ended by PID.
    int port = 18000 + static_cast<int>(::getpid() % 1000);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::string addr = "127.0.0.1:" + std::to_string(port);
        ::execl("/bin/busybox", "busybox", "httpd", "-f", "-p", addr.c_str(), "-h",
                www.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    struct Reap {
        pid_t pid;
        ~Reap() {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    } reap{pid};
    ::usleep(300000);
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/file.txt";
    // sha256 of "downloaded\n"
    auto sum = run_process({"/usr/bin/sha256sum", (www / "file.txt").native()});
    REQUIRE(sum.exit_code == 0);
    std::string digest = "sha256:" + sum.out.substr(0, 64);
    Context c(s, "ctx-url");
    c.write("Dockerfile", "FROM busybox\nADD --checksum=" + digest + " " + url + " /dl/\n");
    auto b = s.berth({"build", "-t", "url:1", c.dir.native()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(sh(s, "url:1", "cat /dl/file.txt; stat -c %a /dl/file.txt").out == "downloaded\n600\n");
    c.write("Dockerfile", "FROM busybox\nADD --checksum=sha256:" + std::string(64, '0') + " " +
                              url + " /dl/\n");
    auto bad = s.berth({"build", c.dir.native()});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("Dockerfile:2:") != std::string::npos);
    CHECK(bad.err.find("checksum mismatch") != std::string::npos);
}

TEST_CASE("build: image labels never make a container part of a compose project (row 26)",
          "[build][.root]") {
    OuterNetns outer;
    ScratchRoot s;
    Census before = baseline(s);
    Context c(s, "ctx-labels");
    c.write("Dockerfile",
            "FROM busybox\n"
            "LABEL com.docker.compose.project=victim com.docker.compose.service=web "
            "com.docker.compose.container-number=1 com.docker.compose.oneoff=False "
            "com.docker.compose.config-hash=x berth.restart=always\n"
            "CMD [\"sleep\", \"300\"]\n");
    REQUIRE(s.berth({"build", "-t", "labelled:1", c.dir.native()}).exit_code == 0);
    REQUIRE(s.berth({"run", "-d", "--network", "none", "--name", "bystander", "labelled:1"})
                .exit_code == 0);
    Context p(s, "victim");
    p.write("compose.yaml",
            "name: victim\nservices:\n  web:\n    image: busybox\n    command: [\"sleep\", "
            "\"300\"]\n    stop_signal: SIGKILL\n    network_mode: none\n");
    auto file = (p.dir / "compose.yaml").native();
    REQUIRE(s.berth({"compose", "up", "-d", "-f", file}).exit_code == 0);
    auto ps = s.berth({"compose", "ps", "-a", "--format", "json", "-f", file});
    REQUIRE(ps.exit_code == 0);
    CHECK(ps.out.find("bystander") == std::string::npos);
    REQUIRE(s.berth({"compose", "down", "-f", file}).exit_code == 0);
    // The bystander is untouched: still running, same restart policy (none).
    auto st = s.berth({"inspect", "-f", "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}",
                       "bystander"});
    CHECK(st.out == "running no\n");
    REQUIRE(s.berth({"rm", "-f", "bystander"}).exit_code == 0);
    Census after = take_census(s);
    INFO("before:\n" << before.describe() << "after:\n" << after.describe());
    CHECK(after == before);
}
