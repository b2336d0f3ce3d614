// SPDX-License-Identifier: Apache-2.0
// Row 22 and B7 (RELIABILITY.md): berth's registry client against a scripted,
// hostile registry on 127.0.0.1 — 5xx and 429 with retries, 401 loops, digest
// mismatches, wrong media types, unknown platforms, foreign layer URLs. Every
// failure must be a clear error that leaves the store as it was.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/digest.hpp"
#include "tests/support/harness.hpp"
#include "tests/unit/engine/image_tar.hpp"

using berth::testing::RawTar;
using berth::testing::ScratchRoot;
using berth::testing::run_process;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

struct Reply {
    int status = 200;
    std::string body;
    std::map<std::string, std::string> headers;
};

/// A one-thread HTTP/1.1 server on 127.0.0.1 answering with `handler`.
class FakeRegistry {
public:
    using Handler = std::function<Reply(const std::string& method, const std::string& path,
                                        const std::string& request)>;
    explicit FakeRegistry(Handler h, const char* addr = "127.0.0.1") : handler_(std::move(h)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        ::inet_pton(AF_INET, addr, &a.sin_addr);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        ::listen(fd_, 16);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeRegistry() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    [[nodiscard]] std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] int port() const { return port_; }
    int count(const std::string& prefix) {
        std::lock_guard lk(mu_);
        int n = 0;
        for (const auto& r : log_) {
            n += r.rfind(prefix, 0) == 0 ? 1 : 0;
        }
        return n;
    }
    std::vector<std::string> requests() {
        std::lock_guard lk(mu_);
        return raw_;
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                continue;
            }
            std::string req;
            char buf[4096];
            while (req.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) {
                    break;
                }
                req.append(buf, static_cast<size_t>(n));
            }
            auto sp1 = req.find(' ');
            auto sp2 = req.find(' ', sp1 + 1);
            std::string method = req.substr(0, sp1);
            std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
            {
                std::lock_guard lk(mu_);
                log_.push_back(method + " " + path);
                raw_.push_back(req);
            }
            Reply r = handler_(method, path, req);
            std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nConnection: close\r\n";
            for (const auto& [k, v] : r.headers) {
                out += k + ": " + v + "\r\n";
            }
            if (r.headers.count("Content-Length") == 0) {
                out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
            }
            out += "\r\n";
            if (method != "HEAD") {
                out += r.body;
            }
            ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
            ::shutdown(c, SHUT_WR);
            ::close(c);
        }
    }

    Handler handler_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> log_;
    std::vector<std::string> raw_;
};

/// A valid one-layer image: manifest, config and layer, by digest.
struct Fixture {
    std::string layer = RawTar().file("hello", "world").finish();
    std::string layer_digest = berth::Digest::of(layer).str();
    std::string config;
    std::string config_digest;
    std::string manifest;
    std::string manifest_digest;
    explicit Fixture(json layer_extra = json::object(), std::string layer_type =
                         "application/vnd.oci.image.layer.v1.tar") {
        config = json{{"architecture", "amd64"},
                      {"os", "linux"},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", {layer_digest}}}}}
                     .dump();
        config_digest = berth::Digest::of(config).str();
        json l = {{"mediaType", layer_type}, {"digest", layer_digest}, {"size", layer.size()}};
        l.update(layer_extra);
        manifest = json{{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config",
                         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                          {"digest", config_digest},
                          {"size", config.size()}}},
                        {"layers", {l}}}
                       .dump();
        manifest_digest = berth::Digest::of(manifest).str();
    }
    /// Serves the image under repo "x/img", tag "1".
    Reply serve(const std::string& path) const {
        if (path == "/v2/") {
            return {200, "{}", {}};
        }
        if (path == "/v2/x/img/manifests/1" || path == "/v2/x/img/manifests/" + manifest_digest) {
            return {200, manifest, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}}};
        }
        if (path == "/v2/x/img/blobs/" + config_digest) {
            return {200, config, {}};
        }
        if (path == "/v2/x/img/blobs/" + layer_digest) {
            return {200, layer, {}};
        }
        return {404, R"({"errors":[{"code":"NOT_FOUND","message":"nope"}]})", {}};
    }
};

std::map<std::string, std::string> fast_env(const ScratchRoot& s) {
    auto env = s.env();
    env["BERTH_REGISTRY_BACKOFF_MS"] = "1";
    return env;
}

size_t blob_count(const ScratchRoot& s) {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(s.root() / "images" / "blobs" / "sha256", ec)) {
        (void)e;
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("fake registry: 5xx and 429 are retried a bounded number of times",
          "[engine][images][.root]") {
    Fixture fx;
    std::atomic<int> failures{2};
    FakeRegistry reg([&](const std::string&, const std::string& path, const std::string&) {
        if (path.find("/manifests/") != std::string::npos && failures.fetch_sub(1) > 0) {
            return Reply{503, "busy", {}};
        }
        if (path.find("/blobs/") != std::string::npos && failures.load() > -2) {
            failures.fetch_sub(1);
            return Reply{429, "slow down", {}};
        }
        return fx.serve(path);
    });
    ScratchRoot s;
    auto ok = run_process({BERTH_BINARY, "pull", reg.host() + "/x/img:1"}, fast_env(s));
    CHECK(ok.exit_code == 0);
    CHECK(ok.err.empty());

    FakeRegistry down([&](const std::string&, const std::string&, const std::string&) {
        return Reply{500, "down", {}};
    });
    ScratchRoot t;
    auto bad = run_process({BERTH_BINARY, "pull", down.host() + "/x/img:1"}, fast_env(t));
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("HTTP 500") != std::string::npos);
    CHECK(down.count("GET /v2/x/img/manifests/1") == 6);  // 1 try + 5 retries
    CHECK(blob_count(t) == 0);
}

TEST_CASE("fake registry: a layer transfer dropped midway is retried and unpacked once",
          "[engine][images][.root]") {
    Fixture fx;
    std::atomic<int> layer_gets{0};
    FakeRegistry reg([&](const std::string&, const std::string& path, const std::string&) {
        if (path == "/v2/x/img/blobs/" + fx.layer_digest && layer_gets.fetch_add(1) == 0) {
            // The full length announced, a third of the body sent: curl sees
            // the connection end early (its unpack has already begun).
            return Reply{200, fx.layer.substr(0, fx.layer.size() / 3),
                         {{"Content-Length", std::to_string(fx.layer.size())}}};
        }
        return fx.serve(path);
    });
    ScratchRoot s;
    auto r = run_process({BERTH_BINARY, "pull", reg.host() + "/x/img:1"}, fast_env(s));
    REQUIRE(r.exit_code == 0);
    CHECK(layer_gets.load() == 2);
    size_t snapshots = 0;
    for (const auto& e : stdfs::directory_iterator(s.root() / "snapshots")) {
        ++snapshots;
        std::ifstream in(e.path() / "fs" / "hello");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(text == "world");
    }
    CHECK(snapshots == 1);
    // The dropped attempt's unpack left nothing behind.
    std::error_code ec;
    CHECK(stdfs::is_empty(s.root() / "tmp" / "images", ec));
    CHECK(!ec);
}

TEST_CASE("fake registry: hostile answers are refused and nothing unverified is stored",
          "[engine][images][.root]") {
    struct Case {
        const char* what;
        std::function<Reply(const Fixture&, const std::string&)> handler;
        const char* expect;
    };
    Fixture fx;
    std::vector<Case> cases = {
        {"blob digest mismatch",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/blobs/" + f.layer_digest) {
                 std::string evil = f.layer;
                 evil[600] = 'X';
                 return Reply{200, evil, {}};
             }
             return f.serve(p);
         },
         "digest mismatch"},
        {"manifest digest header mismatch",
         [](const Fixture& f, const std::string& p) {
             auto r = f.serve(p);
             if (p == "/v2/x/img/manifests/1") {
                 r.headers["Docker-Content-Digest"] = "sha256:" + std::string(64, 'e');
             }
             return r;
         },
         "hashes to"},
        {"garbage of the declared size (unpacked while it downloads)",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/blobs/" + f.layer_digest) {
                 // gzip's magic, then nothing gzip can read: the streaming
                 // unpack fails first, yet the error is the digest's.
                 std::string evil(f.layer.size(), '\x55');
                 evil[0] = '\x1f';
                 evil[1] = '\x8b';
                 return Reply{200, evil, {}};
             }
             return f.serve(p);
         },
         "digest mismatch"},
        {"truncated blob",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/blobs/" + f.layer_digest) {
                 return Reply{200, f.layer.substr(0, 100), {}};
             }
             return f.serve(p);
         },
         "size mismatch"},
        {"oversized blob",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/blobs/" + f.layer_digest) {
                 return Reply{200, f.layer + std::string(1 << 20, 'z'), {}};
             }
             return f.serve(p);
         },
         "more than"},
        {"non-JSON config",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/blobs/" + f.config_digest) {
                 return Reply{200, "not json at all", {}};
             }
             return f.serve(p);
         },
         "config"},
        {"unknown manifest media type",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/manifests/1") {
                 return Reply{200, R"({"schemaVersion":2,"mediaType":"application/x-evil"})", {}};
             }
             return f.serve(p);
         },
         "unsupported manifest media type"},
        {"negative size",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/manifests/1") {
                 auto m = json::parse(f.manifest);
                 m["layers"][0]["size"] = -5;
                 return Reply{200, m.dump(), {}};
             }
             return f.serve(p);
         },
         "size -5"},
        {"no platform match",
         [](const Fixture& f, const std::string& p) {
             if (p == "/v2/x/img/manifests/1") {
                 json idx = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.index.v1+json"},
                             {"manifests",
                              {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"digest", f.manifest_digest},
                                {"size", f.manifest.size()},
                                {"platform", {{"os", "linux"}, {"architecture", "s390x"}}}}}}};
                 return Reply{200, idx.dump(), {}};
             }
             return f.serve(p);
         },
         "no matching manifest for linux/"},
        {"self-referencing index",
         [](const Fixture& f, const std::string& p) {
             (void)f;
             json idx = {{"schemaVersion", 2},
                         {"mediaType", "application/vnd.oci.image.index.v1+json"},
                         {"manifests", json::array()}};
             std::string self;
             // An index naming an index naming ... : every digest serves an index.
             if (p.find("/manifests/") != std::string::npos) {
                 json inner = {{"schemaVersion", 2},
                               {"mediaType", "application/vnd.oci.image.index.v1+json"},
                               {"manifests",
                                {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                                  {"digest", "sha256:" + std::string(64, '7')},
                                  {"size", 10},
                                  {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
                 return Reply{200, inner.dump(), {}};
             }
             return Reply{404, "", {}};
         },
         "manifest"},
        {"401 loop without credentials",
         [](const Fixture&, const std::string&) {
             return Reply{401, "", {{"WWW-Authenticate", "Basic realm=\"x\""}}};
         },
         "unauthorized"},
        {"404 repository", [](const Fixture&, const std::string&) { return Reply{404, "", {}}; },
         "404"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        FakeRegistry reg([&](const std::string&, const std::string& path, const std::string&) {
            return c.handler(fx, path);
        });
        ScratchRoot s;
        auto r = run_process({BERTH_BINARY, "pull", reg.host() + "/x/img:1"}, fast_env(s));
        CHECK(r.exit_code != 0);
        CHECK(r.err.find(c.expect) != std::string::npos);
        auto list = s.berth({"images", "-q"});
        CHECK(list.out.empty());
        // every stored blob's sha256 equals its name
        std::error_code ec;
        for (const auto& e :
             stdfs::directory_iterator(s.root() / "images" / "blobs" / "sha256", ec)) {
            std::ifstream in(e.path(), std::ios::binary);
            std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            CHECK(berth::Digest::of(data).hex() == e.path().filename().native());
        }
    }
}

TEST_CASE("fake registry: foreign layer URLs are never contacted (row 23)",
          "[engine][images][.root]") {
    std::atomic<int> foreign_hits{0};
    FakeRegistry foreign(
        [&](const std::string&, const std::string&, const std::string&) {
            ++foreign_hits;
            return Reply{200, "evil", {}};
        },
        "127.0.0.2");
    Fixture fx(json{{"urls", {"http://127.0.0.2:" + std::to_string(foreign.port()) + "/x"}}},
               "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
    FakeRegistry reg([&](const std::string&, const std::string& path, const std::string&) {
        return fx.serve(path);
    });
    ScratchRoot s;
    auto r = run_process({BERTH_BINARY, "--debug", "pull", reg.host() + "/x/img:1"}, fast_env(s));
    CHECK(r.exit_code == 0);
    CHECK(foreign_hits == 0);
}
