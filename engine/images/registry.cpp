// SPDX-License-Identifier: Apache-2.0
#include "engine/images/registry.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "common/fs.hpp"
#include "common/json_file.hpp"
#include "common/log.hpp"
#include "engine/images/layer.hpp"
#include "engine/images/reference.hpp"

namespace berth::engine::images {

using nlohmann::json;

namespace {

constexpr std::string_view manifest_accept =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string base64(std::string_view in) {
    std::string out(BASE64_ENCODE_RAW_LENGTH(in.size()), '\0');
    base64_encode_raw(out.data(), in.size(), reinterpret_cast<const uint8_t*>(in.data()));
    return out;
}

Result<std::string> unbase64(std::string_view in) {
    std::string out(BASE64_DECODE_LENGTH(in.size()), '\0');
    base64_decode_ctx ctx{};
    base64_decode_init(&ctx);
    size_t n = out.size();
    if (base64_decode_update(&ctx, &n, reinterpret_cast<uint8_t*>(out.data()), in.size(),
                             in.data()) != 1 ||
        base64_decode_final(&ctx) != 1) {
        return Error(Errc::invalid_argument, "bad base64 in stored credentials");
    }
    out.resize(n);
    return out;
}

std::string url_escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::string short_digest(const std::string& d) {
    auto pos = d.find(':');
    return d.substr(pos == std::string::npos ? 0 : pos + 1, 12);
}

std::once_flag curl_once;

int backoff_base_ms() {
    if (const char* e = std::getenv("BERTH_REGISTRY_BACKOFF_MS"); e != nullptr && *e != '\0') {
        return std::max(0, std::atoi(e));
    }
    return 250;
}

// ---------------------------------------------------------------- credentials

std::filesystem::path auth_path(const RegistryOptions& o) {
    if (!o.auth_file.empty()) {
        return o.auth_file;
    }
    if (const char* d = std::getenv("DOCKER_CONFIG"); d != nullptr && *d != '\0') {
        return std::filesystem::path(d) / "config.json";
    }
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home != nullptr ? home : "/root") / ".docker" / "config.json";
}

struct Creds {
    std::string user;
    std::string password;
    [[nodiscard]] bool empty() const { return user.empty() && password.empty(); }
};

Creds stored_creds(const RegistryOptions& o, std::string_view server) {
    auto doc = read_json(auth_path(o));
    if (!doc || !doc->is_object()) {
        return {};
    }
    auto auths = doc->value("auths", json::object());
    for (const auto& key : {auth_key(server), std::string(server),
                            "https://" + std::string(server), "http://" + std::string(server)}) {
        if (!auths.contains(key) || !auths[key].is_object()) {
            continue;
        }
        const auto& e = auths[key];
        if (e.contains("auth") && e["auth"].is_string()) {
            auto dec = unbase64(e["auth"].get<std::string>());
            if (dec) {
                auto colon = dec->find(':');
                if (colon != std::string::npos) {
                    return Creds{dec->substr(0, colon), dec->substr(colon + 1)};
                }
            }
        }
        if (e.contains("username") && e.contains("password")) {
            return Creds{e.value("username", ""), e.value("password", "")};
        }
    }
    return {};
}

// ---------------------------------------------------------------- HTTP

struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;  ///< lower-case names, last response only
    std::string body;
};

/// What one request sends.
struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    std::string_view body;          ///< in-memory body (PUT/POST/PATCH)
    int upload_fd = -1;             ///< or a file range
    int64_t upload_offset = 0;
    int64_t upload_len = 0;
    size_t max_body = 1 << 20;      ///< in-memory response cap
    std::function<Result<void>(std::string_view)> sink;  ///< streams the body instead
    std::function<void(int64_t, int64_t)> on_progress;
};

/// The state of one running exchange, reached from libcurl's C callbacks.
struct Io {
    const Request* req = nullptr;
    Response* resp = nullptr;
    std::optional<Error> err;
    size_t body_pos = 0;
    int64_t up_left = 0;
    int64_t up_off = 0;
};

size_t on_header(char* buf, size_t sz, size_t n, void* ud) {
    auto* io = static_cast<Io*>(ud);
    std::string_view line(buf, sz * n);
    if (line.rfind("HTTP/", 0) == 0) {
        io->resp->headers.clear();  // a new response (after a redirect)
        auto sp = line.find(' ');
        if (sp != std::string_view::npos) {
            io->resp->status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
        }
        return sz * n;
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name = lower(std::string(line.substr(0, colon)));
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
            v.remove_prefix(1);
        }
        while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
            v.remove_suffix(1);
        }
        io->resp->headers[name] = std::string(v);
    }
    return sz * n;
}

size_t on_write(char* buf, size_t sz, size_t n, void* ud) {
    auto* io = static_cast<Io*>(ud);
    std::string_view chunk(buf, sz * n);
    // Only a successful final answer is streamed; error bodies stay in memory.
    if (io->req->sink && io->resp->status >= 200 && io->resp->status < 300) {
        auto r = io->req->sink(chunk);
        if (!r) {
            io->err = std::move(r).error();
            return 0;
        }
        return chunk.size();
    }
    if (io->resp->body.size() + chunk.size() > io->req->max_body) {
        io->err = Error(Errc::invalid_argument,
                        fmt::format("a response is larger than {} bytes", io->req->max_body));
        return 0;
    }
    io->resp->body.append(chunk);
    return chunk.size();
}

size_t on_read(char* buf, size_t sz, size_t n, void* ud) {
    auto* io = static_cast<Io*>(ud);
    size_t want = std::min<int64_t>(static_cast<int64_t>(sz * n), io->up_left);
    if (want == 0) {
        return 0;
    }
    ssize_t got = ::pread(io->req->upload_fd, buf, want, io->up_off);
    if (got <= 0) {
        io->err = Error(Errc::internal, "read blob for upload");
        return CURL_READFUNC_ABORT;
    }
    io->up_off += got;
    io->up_left -= got;
    return static_cast<size_t>(got);
}

int on_progress(void* ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
    auto* io = static_cast<Io*>(ud);
    if (io->req->on_progress) {
        io->req->on_progress(static_cast<int64_t>(dlnow), static_cast<int64_t>(dltotal));
    }
    return 0;
}

/// Unpacks a layer while it downloads: the bytes received are gathered in the
/// buffers of a ChunkChannel, each full buffer is written to the blob's temp
/// file and then unpacked, in place, by a thread of its own into a pending
/// snapshot (the download and the decompression overlap, the blob is not read
/// back, and a 16 KiB chunk from libcurl costs a copy instead of two system
/// calls). The snapshot is used only once the blob has been verified; an
/// attempt that fails is dropped with its snapshot, and the next one starts a
/// new unpack. An unpack that fails early leaves the download to finish, so
/// that a corrupt transfer is reported (and retried) as a digest mismatch, not
/// as a broken archive.
class LayerTee {
public:
    LayerTee(ImageStore& store, std::string chain, std::string parent, std::string diff_id,
             std::string blob)
        : store_(store), chain_(std::move(chain)), parent_(std::move(parent)),
          diff_id_(std::move(diff_id)), blob_(std::move(blob)) {}
    ~LayerTee() { reset(); }
    LayerTee(const LayerTee&) = delete;
    LayerTee& operator=(const LayerTee&) = delete;

    /// The next bytes of the current attempt, for `blob` and the unpack (the
    /// first ones start it).
    Result<void> feed(std::string_view chunk, BlobWriter& blob) {
        if (!started_) {
            start();
        }
        while (!chunk.empty()) {
            if (cur_ == nullptr && channel_) {
                cur_ = channel_->acquire();
                if (cur_ == nullptr) {
                    channel_.reset();  // the unpack stopped (its error is kept)
                }
            }
            if (cur_ == nullptr) {
                return blob.write(chunk);
            }
            size_t n = std::min(chunk.size(), cur_->capacity - cur_->size);
            std::memcpy(cur_->data + cur_->size, chunk.data(), n);
            cur_->size += n;
            chunk.remove_prefix(n);
            if (cur_->size == cur_->capacity) {
                if (auto r = flush(blob); !r) {
                    return r;
                }
            }
        }
        return {};
    }

    /// Writes what is gathered to `blob` and passes it on: before the blob is
    /// verified.
    Result<void> flush(BlobWriter& blob) {
        if (cur_ == nullptr) {
            return {};
        }
        ChunkChannel::Buffer* b = std::exchange(cur_, nullptr);
        auto r = blob.write(std::string_view(b->data, b->size));
        channel_->send(b);
        return r;
    }

    /// Drops the current attempt's unpack, if any.
    void reset() {
        if (channel_) {
            if (cur_ != nullptr) {
                channel_->send(std::exchange(cur_, nullptr));
            }
            channel_->close(/*abort=*/true);
        }
        if (thread_.joinable()) {
            thread_.join();
        }
        channel_.reset();
        result_.reset();
        started_ = false;
    }

    /// The end of a verified download (flushed): the unpack's result. A blob
    /// that streamed nothing (empty) is unpacked from `blob_file` instead.
    Result<std::unique_ptr<ImageStore::PendingSnapshot>> finish(
        const std::filesystem::path& blob_file) {
        if (channel_) {
            channel_->close();
        }
        if (thread_.joinable()) {
            thread_.join();
        }
        channel_.reset();
        cur_ = nullptr;  // flushed already; a buffer of the channel otherwise
        if (!result_) {
            return store_.prepare_snapshot(chain_, parent_, diff_id_, blob_, blob_file);
        }
        auto r = std::move(*result_);
        result_.reset();
        started_ = false;
        return r;
    }

private:
    void start() {
        started_ = true;
        channel_ = ChunkChannel::create();
        thread_ = std::thread([this, src = channel_->reader(blob_)]() mutable {
            result_.emplace(store_.prepare_snapshot(chain_, parent_, diff_id_, blob_, std::move(src)));
        });
    }

    ImageStore& store_;
    std::string chain_, parent_, diff_id_, blob_;
    bool started_ = false;
    std::shared_ptr<ChunkChannel> channel_;
    ChunkChannel::Buffer* cur_ = nullptr;  ///< being filled
    std::thread thread_;
    std::optional<Result<std::unique_ptr<ImageStore::PendingSnapshot>>> result_;
};

/// Shared between the workers of one operation: the current Authorization.
struct AuthState {
    std::mutex mu;
    std::string header;  ///< "Bearer ..." or "Basic ...", empty before the first challenge
};

class Client {
public:
    Client(std::string host, std::string repo, std::vector<std::string> scopes,
           const RegistryOptions& o, std::shared_ptr<AuthState> auth)
        : host_(std::move(host)), repo_(std::move(repo)), scopes_(std::move(scopes)), o_(o),
          auth_(std::move(auth)) {
        std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        curl_ = curl_easy_init();
        bool plain = is_loopback_host(host_) ||
                     std::find(o.insecure_registries.begin(), o.insecure_registries.end(),
                               host_) != o.insecure_registries.end();
        base_ = std::string(plain ? "http://" : "https://") + host_;
        creds_ = stored_creds(o, host_);
    }
    ~Client() {
        if (curl_ != nullptr) {
            curl_easy_cleanup(curl_);
        }
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void set_creds(Creds c) { creds_ = std::move(c); }
    [[nodiscard]] const std::string& base() const { return base_; }
    [[nodiscard]] const std::string& repo() const { return repo_; }
    [[nodiscard]] const std::string& host() const { return host_; }

    /// A request with auth (one challenge round) and retries on transient failures.
    Result<Response> send(Request req, bool retry = true) {
        int attempts = retry ? o_.max_retries + 1 : 1;
        Result<Response> last = Error(Errc::internal, "no attempt");
        for (int i = 0; i < attempts; ++i) {
            if (i > 0) {
                int ms = backoff_base_ms() << std::min(i - 1, 6);
                log::engine().debug("retry {} {} in {} ms", req.method, redact(req.url), ms);
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            }
            last = with_auth(req);
            if (!last) {
                if (last.error().code() == Errc::unavailable && !req.sink) {
                    continue;  // dropped connection: retry
                }
                return last;
            }
            if (last->status >= 500 || last->status == 429) {
                continue;
            }
            return last;
        }
        return last;
    }

    /// Runs one attempt, answering a 401 challenge once.
    Result<Response> with_auth(const Request& req) {
        auto r = perform(req);
        if (!r || r->status != 401) {
            return r;
        }
        auto www = r->headers.find("www-authenticate");
        if (www == r->headers.end()) {
            return r;
        }
        auto ch = parse_challenge(www->second);
        if (!ch) {
            return std::move(ch).error().wrap(fmt::format("registry {}", host_));
        }
        if (auto a = authenticate(*ch); !a) {
            return std::move(a).error();
        }
        return perform(req);
    }

    Result<void> authenticate(const Challenge& ch) {
        if (ch.scheme == "basic") {
            if (creds_.empty()) {
                return Error(Errc::permission_denied,
                             fmt::format("unauthorized: {} requires authentication (berth login {})",
                                         host_, host_));
            }
            std::lock_guard lk(auth_->mu);
            auth_->header = "Basic " + base64(creds_.user + ":" + creds_.password);
            return {};
        }
        if (ch.scheme != "bearer") {
            return Error(Errc::unsupported,
                         fmt::format("registry {}: unsupported auth scheme \"{}\"", host_,
                                     ch.scheme));
        }
        auto realm = ch.params.find("realm");
        if (realm == ch.params.end() || realm->second.empty()) {
            return Error(Errc::invalid_argument,
                         fmt::format("registry {}: bearer challenge without realm", host_));
        }
        std::string url = realm->second;
        if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
            return Error(Errc::invalid_argument,
                         fmt::format("registry {}: token realm is not an http(s) URL", host_));
        }
        std::string q;
        if (auto s = ch.params.find("service"); s != ch.params.end()) {
            q += "service=" + url_escape(s->second);
        }
        for (const auto& sc : scopes_) {
            q += (q.empty() ? "" : "&") + std::string("scope=") + url_escape(sc);
        }
        url += (url.find('?') == std::string::npos ? "?" : "&") + q;
        Request tr;
        tr.url = url;
        if (!creds_.empty()) {
            tr.headers.push_back("Authorization: Basic " +
                                 base64(creds_.user + ":" + creds_.password));
        }
        auto r = perform(tr, /*with_auth_header=*/false);
        if (!r) {
            return std::move(r).error().wrap(fmt::format("get token for {}", host_));
        }
        if (r->status == 401 || r->status == 403) {
            return Error(Errc::permission_denied,
                         fmt::format("unauthorized: the token service of {} refused the "
                                     "credentials",
                                     host_));
        }
        if (r->status != 200) {
            return Error(Errc::unavailable, fmt::format("get token for {}: HTTP {}", host_,
                                                        r->status));
        }
        json tok = json::parse(r->body, nullptr, false);
        std::string token;
        if (tok.is_object()) {
            token = tok.value("token", "");
            if (token.empty()) {
                token = tok.value("access_token", "");
            }
        }
        if (token.empty()) {
            return Error(Errc::invalid_argument,
                         fmt::format("get token for {}: the answer has no token", host_));
        }
        std::lock_guard lk(auth_->mu);
        auth_->header = "Bearer " + token;
        return {};
    }

    /// One HTTP exchange. Connection-level failures are Errc::unavailable.
    Result<Response> perform(const Request& req, bool with_auth_header = true) {
        curl_easy_reset(curl_);
        Response resp;
        Io io;
        io.req = &req;
        io.resp = &resp;
        io.up_left = req.upload_len;
        io.up_off = req.upload_offset;
        curl_slist* hdrs = nullptr;
        for (const auto& h : req.headers) {
            hdrs = curl_slist_append(hdrs, h.c_str());
        }
        if (with_auth_header) {
            std::lock_guard lk(auth_->mu);
            if (!auth_->header.empty()) {
                hdrs = curl_slist_append(hdrs, ("Authorization: " + auth_->header).c_str());
            }
        }
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(curl_, CURLOPT_URL, req.url.c_str());
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl_, CURLOPT_USERAGENT, "berth/0.1");
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
        // Never file:// or anything but http(s), even through a redirect; a
        // custom Authorization header is not sent to another host (curl >= 7.58).
        curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl_, CURLOPT_UNRESTRICTED_AUTH, 0L);
        curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o_.idle_timeout_s));
        curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &on_header);
        curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &io);
        if (req.sink) {
            // A blob: larger reads, a quarter as many syscalls and callbacks.
            curl_easy_setopt(curl_, CURLOPT_BUFFERSIZE, 256L * 1024);
        }
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &on_write);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &io);
        if (req.on_progress) {
            curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &on_progress);
            curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &io);
        }
        if (req.method == "HEAD") {
            curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
        } else if (req.upload_fd >= 0) {
            curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, req.method.c_str());
            curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE,
                             static_cast<curl_off_t>(req.upload_len));
            curl_easy_setopt(curl_, CURLOPT_READFUNCTION, &on_read);
            curl_easy_setopt(curl_, CURLOPT_READDATA, &io);
        } else if (req.method != "GET") {
            curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, req.method.c_str());
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, req.body.data());
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(req.body.size()));
        }
        CURLcode rc = curl_easy_perform(curl_);
        curl_slist_free_all(hdrs);
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &resp.status);
        if (io.err) {
            return *io.err;
        }
        if (rc != CURLE_OK) {
            Errc code = Errc::unavailable;
            if (rc == CURLE_TOO_MANY_REDIRECTS || rc == CURLE_UNSUPPORTED_PROTOCOL) {
                code = Errc::invalid_argument;
            }
            return Error(code, fmt::format("{} {}: {}", req.method, redact(req.url),
                                           curl_easy_strerror(rc)));
        }
        return resp;
    }

    /// The URL without its query (which may hold a token or upload state).
    static std::string redact(const std::string& url) { return url.substr(0, url.find('?')); }

    /// The blob `d`, downloaded and verified, still in its temp file
    /// (BlobWriter::publish stores it).
    /// With `tee`, every attempt's bytes are also handed to it (LayerTee).
    Result<BlobWriter> fetch_verified(ImageStore& store, const Descriptor& d,
                                      const std::function<void(int64_t, int64_t)>& progress,
                                      LayerTee* tee = nullptr) {
        std::string url = fmt::format("{}/v2/{}/blobs/{}", base_, repo_, d.digest);
        Result<BlobWriter> last = Error(Errc::internal, "no attempt");
        for (int i = 0; i <= o_.max_retries; ++i) {
            if (i > 0) {
                std::this_thread::sleep_for(
                    std::chrono::milliseconds(backoff_base_ms() << std::min(i - 1, 6)));
            }
            if (tee != nullptr) {
                tee->reset();
            }
            auto w = store.new_blob();
            if (!w) {
                return std::move(w).error();
            }
            Request req;
            req.url = url;
            req.on_progress = progress;
            BlobWriter* bw = &*w;
            int64_t limit = d.size;
            int64_t received = 0;
            req.sink = [bw, limit, &d, tee, &received](std::string_view chunk) -> Result<void> {
                if (received + static_cast<int64_t>(chunk.size()) > limit) {
                    return Error(Errc::invalid_argument,
                                 fmt::format("blob {}: the registry sent more than the {} bytes "
                                             "the manifest declares",
                                             d.digest, limit));
                }
                received += static_cast<int64_t>(chunk.size());
                return tee != nullptr ? tee->feed(chunk, *bw) : bw->write(chunk);
            };
            auto r = with_auth(req);
            if (r && tee != nullptr) {
                if (auto f = tee->flush(*w); !f) {
                    return std::move(f).error();
                }
            }
            if (!r) {
                last = std::move(r).error();
                if (last.error().code() == Errc::unavailable) {
                    continue;
                }
                return last;
            }
            if (r->status >= 500 || r->status == 429) {
                last = Error(Errc::unavailable, fmt::format("fetch blob {}: HTTP {}", d.digest,
                                                            r->status));
                continue;
            }
            if (r->status != 200) {
                return status_error(*r, fmt::format("fetch blob {}", d.digest));
            }
            auto got = w->verify(d.digest, d.size);
            if (!got && got.error().message().find("size mismatch") != std::string::npos) {
                last = std::move(got).error();  // truncated transfer: try again
                continue;
            }
            if (!got) {
                return std::move(got).error();
            }
            return std::move(*w);
        }
        return last;
    }

    Error status_error(const Response& r, const std::string& what) const {
        std::string detail;
        json doc = json::parse(r.body, nullptr, false);
        if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
            !doc["errors"].empty() && doc["errors"][0].is_object()) {
            detail = fmt::format(": {}: {}", doc["errors"][0].value("code", ""),
                                 doc["errors"][0].value("message", ""));
        }
        Errc code = Errc::unavailable;
        if (r.status == 404) {
            code = Errc::not_found;
        } else if (r.status == 401 || r.status == 403) {
            code = Errc::permission_denied;
        } else if (r.status >= 400 && r.status < 500 && r.status != 429) {
            code = Errc::invalid_argument;
        }
        return Error(code, fmt::format("{}: {} answered HTTP {}{}", what, host_, r.status, detail));
    }

private:
    std::string host_;
    std::string repo_;
    std::vector<std::string> scopes_;
    const RegistryOptions& o_;
    std::shared_ptr<AuthState> auth_;
    Creds creds_;
    std::string base_;
    CURL* curl_ = nullptr;
};

/// Serialises progress callbacks from worker threads.
struct ProgressSink {
    const RegistryOptions& o;
    std::mutex mu;
    void emit(const Progress& p) {
        if (o.progress) {
            std::lock_guard lk(mu);
            o.progress(p);
        }
    }
};

std::vector<std::string> pull_scopes(const Reference& ref) {
    return {fmt::format("repository:{}:pull", ref.path)};
}

/// Fetches a manifest or index by tag or digest; checks the digest.
Result<std::pair<std::string, std::string>> fetch_manifest(Client& c, const std::string& what,
                                                           const std::string& want_digest) {
    Request req;
    req.url = fmt::format("{}/v2/{}/manifests/{}", c.base(), c.repo(), what);
    req.headers.push_back("Accept: " + std::string(manifest_accept));
    req.max_body = max_manifest_bytes;
    auto r = c.send(req);
    if (!r) {
        return std::move(r).error().wrap(fmt::format("fetch manifest {}:{}", c.repo(), what));
    }
    if (r->status != 200) {
        return c.status_error(*r, fmt::format("manifest for {}/{}:{}", c.host(), c.repo(), what));
    }
    std::string digest = Digest::of(r->body).str();
    if (!want_digest.empty() && digest != want_digest) {
        return Error(Errc::invalid_argument,
                     fmt::format("manifest {}: digest mismatch: the content hashes to {}",
                                 want_digest, digest));
    }
    if (auto h = r->headers.find("docker-content-digest");
        h != r->headers.end() && h->second.rfind("sha256:", 0) == 0 && h->second != digest) {
        return Error(Errc::invalid_argument,
                     fmt::format("manifest {}:{}: the registry says {} but the content hashes "
                                 "to {}",
                                 c.repo(), what, h->second, digest));
    }
    std::string ct;
    if (auto h = r->headers.find("content-type"); h != r->headers.end()) {
        ct = h->second;
    }
    return std::make_pair(std::move(r->body), ct);
}

}  // namespace

bool is_loopback_host(std::string_view host) {
    std::string h(host);
    if (!h.empty() && h.front() == '[') {
        auto end = h.find(']');
        return end != std::string::npos && h.substr(1, end - 1) == "::1";
    }
    h = h.substr(0, h.rfind(':') == std::string::npos ? h.size() : h.rfind(':'));
    // Only a numeric 127.0.0.0/8 address: a name such as 127.evil.example is not loopback.
    struct in_addr a {};
    if (::inet_pton(AF_INET, h.c_str(), &a) == 1) {
        return (ntohl(a.s_addr) >> 24) == 127;
    }
    return h == "localhost";
}

std::string auth_key(std::string_view server) {
    std::string s(server);
    for (const auto* p : {"https://", "http://"}) {
        if (s.rfind(p, 0) == 0) {
            s = s.substr(std::string_view(p).size());
        }
    }
    s = s.substr(0, s.find('/'));
    if (s.empty() || s == "docker.io" || s == "index.docker.io" || s == "registry-1.docker.io") {
        return "https://index.docker.io/v1/";
    }
    return s;
}

Result<Challenge> parse_challenge(std::string_view h) {
    Challenge c;
    size_t i = 0;
    while (i < h.size() && h[i] == ' ') {
        ++i;
    }
    size_t sp = h.find(' ', i);
    c.scheme = lower(std::string(h.substr(i, sp == std::string_view::npos ? sp : sp - i)));
    if (c.scheme.empty()) {
        return Error(Errc::invalid_argument, "empty WWW-Authenticate challenge");
    }
    if (sp == std::string_view::npos) {
        return c;
    }
    i = sp + 1;
    while (i < h.size()) {
        while (i < h.size() && (h[i] == ' ' || h[i] == ',')) {
            ++i;
        }
        if (i >= h.size()) {
            break;
        }
        size_t eq = h.find('=', i);
        if (eq == std::string_view::npos) {
            return Error(Errc::invalid_argument, "malformed WWW-Authenticate parameter");
        }
        std::string key = lower(std::string(h.substr(i, eq - i)));
        while (!key.empty() && key.back() == ' ') {
            key.pop_back();
        }
        i = eq + 1;
        std::string value;
        if (i < h.size() && h[i] == '"') {
            ++i;
            bool closed = false;
            while (i < h.size()) {
                if (h[i] == '\\' && i + 1 < h.size()) {
                    value += h[i + 1];
                    i += 2;
                    continue;
                }
                if (h[i] == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                value += h[i++];
            }
            if (!closed) {
                return Error(Errc::invalid_argument, "unterminated quote in WWW-Authenticate");
            }
        } else {
            size_t end = h.find(',', i);
            value = std::string(h.substr(i, end == std::string_view::npos ? end : end - i));
            i = end == std::string_view::npos ? h.size() : end;
        }
        if (key.empty() || c.params.size() > 32) {
            return Error(Errc::invalid_argument, "malformed WWW-Authenticate parameter");
        }
        c.params[key] = value;
    }
    return c;
}

Result<PullResult> pull(ImageStore& store, std::string_view text, const RegistryOptions& o) {
    auto ref = parse_reference(text);
    if (!ref) {
        return std::move(ref).error();
    }
    auto auth = std::make_shared<AuthState>();
    Client c(ref->registry_host(), ref->path, pull_scopes(*ref), o, auth);
    // libarchive loads while the manifest and the config are on their way.
    std::jthread warm_up(prepare_unpacker);
    std::string what = ref->digest.empty() ? ref->tag : ref->digest;
    auto top = fetch_manifest(c, what, ref->digest);
    if (!top) {
        return std::move(top).error();
    }
    std::string top_digest = Digest::of(top->first).str();
    std::string body = top->first;
    std::string ctype = top->second;
    std::string manifest_digest = top_digest;
    ProgressSink sink{o, {}};
    for (int depth = 0;; ++depth) {
        auto kind = document_kind(body, ctype);
        if (!kind) {
            return std::move(kind).error().wrap(fmt::format("pull {}", text));
        }
        if (*kind == DocumentKind::manifest) {
            break;
        }
        if (depth >= 3) {
            return Error(Errc::invalid_argument,
                         fmt::format("pull {}: image indexes nested too deeply (a cycle?)", text));
        }
        auto idx = parse_index(body);
        if (!idx) {
            return std::move(idx).error().wrap(fmt::format("pull {}", text));
        }
        auto pick = select_platform(*idx, o.platform);
        if (!pick) {
            return std::move(pick).error().wrap(fmt::format("pull {}", text));
        }
        if (pick->digest == manifest_digest) {
            return Error(Errc::invalid_argument, fmt::format("pull {}: the index names itself", text));
        }
        auto next = fetch_manifest(c, pick->digest, pick->digest);
        if (!next) {
            return std::move(next).error();
        }
        // The index itself is stored too, so that the repo digest resolves.
        if (auto r = store.put_blob(body, manifest_digest); !r) {
            return std::move(r).error();
        }
        body = next->first;
        ctype = next->second;
        manifest_digest = pick->digest;
    }
    auto m = parse_manifest(body);
    if (!m) {
        return std::move(m).error().wrap(fmt::format("pull {}: manifest {}", text, manifest_digest));
    }
    sink.emit({Progress::Kind::resolved, short_digest(manifest_digest), 0,
               static_cast<int64_t>(m->layers.size())});
    bool downloaded = false;
    // A new config stays in its verified temp file and is published with the
    // layers' batch: its own fsyncs held up the first layer request.
    std::optional<BlobWriter> pending_config;
    Result<std::string> ctext = Error(Errc::not_found, "config");
    if (!store.has_blob(m->config.digest)) {
        auto w = c.fetch_verified(store, m->config, {});
        if (!w) {
            return std::move(w).error().wrap(fmt::format("pull {}: config", text));
        }
        ctext = fs::read_file(w->temp_path());
        pending_config.emplace(std::move(*w));
        downloaded = true;
    } else {
        ctext = store.read_blob(m->config.digest);
    }
    // Each layer is unpacked by the worker that downloaded it, while the
    // others download: its chain id needs the diff ids of the config.
    std::map<std::string, std::size_t> layer_index;
    std::vector<std::string> chains, diff_ids;
    if (ctext) {
        if (auto pc = parse_config(*ctext); pc && pc->diff_ids.size() == m->layers.size()) {
            diff_ids = pc->diff_ids;
            for (std::size_t i = 0; i < m->layers.size(); ++i) {
                chains.push_back(chain_id(i == 0 ? std::string{} : chains.back(), diff_ids[i]));
                layer_index.emplace(m->layers[i].digest, i);
            }
        }
    }
    // Layers, `parallel` at a time, each verified by BlobWriter::commit.
    std::vector<const Descriptor*> todo;
    std::set<std::string> queued;
    for (const auto& l : m->layers) {
        if (store.has_blob(l.digest)) {
            sink.emit({Progress::Kind::exists, short_digest(l.digest), l.size, l.size});
        } else if (queued.insert(l.digest).second) {
            todo.push_back(&l);
            sink.emit({Progress::Kind::waiting, short_digest(l.digest), 0, l.size});
        }
    }
    std::atomic<size_t> next{0};
    std::mutex err_mu;
    std::optional<Error> first_error;
    // Downloaded and unpacked, not yet visible: the whole batch is published
    // at the end, blobs before the snapshots made from them, without a sync
    // (recorded first: ImageStore::note_unsynced). A failure drops the temp
    // files and dirs.
    std::vector<std::optional<BlobWriter>> pending_blobs(todo.size());
    std::vector<std::unique_ptr<ImageStore::PendingSnapshot>> pending_snaps(todo.size());
    auto worker = [&](Client& wc) {
        while (true) {
            size_t i = next.fetch_add(1);
            if (i >= todo.size()) {
                return;
            }
            {
                std::lock_guard lk(err_mu);
                if (first_error) {
                    return;
                }
            }
            const Descriptor& d = *todo[i];
            std::string id = short_digest(d.digest);
            auto last_report = std::chrono::steady_clock::now();
            auto prog = [&](int64_t now, int64_t) {
                auto t = std::chrono::steady_clock::now();
                if (t - last_report > std::chrono::milliseconds(100)) {
                    last_report = t;
                    sink.emit({Progress::Kind::downloading, id, now, d.size});
                }
            };
            // A layer of the image is unpacked as it arrives (LayerTee).
            std::unique_ptr<LayerTee> tee;
            auto li = layer_index.find(d.digest);
            if (li != layer_index.end()) {
                tee = std::make_unique<LayerTee>(
                    store, chains[li->second],
                    li->second == 0 ? std::string{} : chains[li->second - 1],
                    diff_ids[li->second], d.digest);
            }
            auto r = wc.fetch_verified(store, d, prog, tee.get());
            if (!r) {
                std::lock_guard lk(err_mu);
                if (!first_error) {
                    first_error = std::move(r).error().wrap(fmt::format("pull {}: layer {}",
                                                                        text, d.digest));
                }
                return;
            }
            sink.emit({Progress::Kind::downloaded, id, d.size, d.size});
            std::unique_ptr<ImageStore::PendingSnapshot> snap;
            if (tee) {
                auto unpacked = tee->finish(r->temp_path());
                if (!unpacked) {
                    std::lock_guard lk(err_mu);
                    if (!first_error) {
                        first_error = std::move(unpacked).error().wrap(
                            fmt::format("pull {}: layer {}", text, d.digest));
                    }
                    return;
                }
                snap = std::move(*unpacked);
            }
            std::lock_guard lk(err_mu);
            pending_blobs[i].emplace(std::move(*r));
            pending_snaps[i] = std::move(snap);
        }
    };
    size_t nthreads = std::min<size_t>(std::max(1, o.parallel), todo.size());
    std::vector<std::thread> threads;
    for (size_t i = 1; i < nthreads; ++i) {
        threads.emplace_back([&] {
            Client wc(ref->registry_host(), ref->path, pull_scopes(*ref), o, auth);
            worker(wc);
        });
    }
    if (nthreads > 0) {
        worker(c);  // this thread's connection and buffers again
    }
    for (auto& t : threads) {
        t.join();
    }
    if (first_error) {
        return *first_error;
    }
    if (!todo.empty() || pending_config) {
        std::vector<std::string> new_blobs;
        std::vector<std::string> new_chains;
        if (pending_config) {
            new_blobs.push_back(m->config.digest);
        }
        for (const Descriptor* d : todo) {
            new_blobs.push_back(d->digest);
        }
        for (const auto& sn : pending_snaps) {
            if (sn && sn->tmp) {
                new_chains.push_back(sn->chain);
            }
        }
        if (auto r = store.note_unsynced(new_blobs, new_chains); !r) {
            return std::move(r).error().wrap(fmt::format("pull {}", text));
        }
        if (pending_config) {
            if (auto r = pending_config->publish(false); !r) {
                return std::move(r).error().wrap(fmt::format("pull {}: config", text));
            }
        }
        for (auto& b : pending_blobs) {
            if (auto r = b->publish(false); !r) {
                return std::move(r).error().wrap(fmt::format("pull {}", text));
            }
        }
        for (auto& sn : pending_snaps) {
            if (sn) {
                if (auto r = store.publish_snapshot(*sn, false); !r) {
                    return std::move(r).error().wrap(fmt::format("pull {}", text));
                }
            }
        }
        store.sync_dirs();
    }
    downloaded = downloaded || !todo.empty();
    if (auto r = store.put_blob(body, manifest_digest); !r) {
        return std::move(r).error();
    }
    std::vector<std::string> tags;
    if (!ref->tag.empty()) {
        tags.push_back(ref->name_tag());
    }
    auto img = store.commit_image(manifest_digest, tags, ref->name() + "@" + top_digest);
    if (!img) {
        return std::move(img).error().wrap(fmt::format("pull {}", text));
    }
    return PullResult{std::move(*img), top_digest, downloaded};
}

Result<PushResult> push(ImageStore& store, std::string_view text, const RegistryOptions& o) {
    auto img = store.find(text);
    if (!img) {
        return std::move(img).error();
    }
    auto ref = parse_reference(text);
    if (!ref) {
        return std::move(ref).error();
    }
    if (ref->tag.empty()) {
        ref->tag = "latest";
    }
    auto mtext = store.read_blob(img->manifest_digest);
    if (!mtext) {
        return std::move(mtext).error();
    }
    auto m = parse_manifest(*mtext);
    if (!m) {
        return std::move(m).error();
    }
    // Other repositories of the same registry that hold these blobs: mount sources.
    std::vector<std::string> sources;
    for (const auto& d : img->repo_digests) {
        auto r = parse_reference(d);
        if (r && r->domain == ref->domain && r->path != ref->path) {
            sources.push_back(r->path);
        }
    }
    std::vector<std::string> scopes = {fmt::format("repository:{}:pull,push", ref->path)};
    for (const auto& s : sources) {
        scopes.push_back(fmt::format("repository:{}:pull", s));
    }
    auto auth = std::make_shared<AuthState>();
    Client c(ref->registry_host(), ref->path, scopes, o, auth);
    ProgressSink sink{o, {}};
    std::vector<Descriptor> blobs = m->layers;
    blobs.push_back(m->config);
    for (const auto& b : blobs) {
        std::string id = short_digest(b.digest);
        Request head;
        head.method = "HEAD";
        head.url = fmt::format("{}/v2/{}/blobs/{}", c.base(), c.repo(), b.digest);
        auto h = c.send(head);
        if (!h) {
            return std::move(h).error().wrap(fmt::format("push {}", text));
        }
        if (h->status == 200) {
            sink.emit({Progress::Kind::exists, id, b.size, b.size});
            continue;
        }
        if (h->status != 404) {
            return c.status_error(*h, fmt::format("push {}: check blob {}", text, b.digest));
        }
        std::string location;
        bool mounted = false;
        for (const auto& src : sources) {
            Request mount;
            mount.method = "POST";
            mount.url = fmt::format("{}/v2/{}/blobs/uploads/?mount={}&from={}", c.base(), c.repo(),
                                    b.digest, src);
            auto r = c.send(mount);
            if (r && r->status == 201) {
                mounted = true;
                break;
            }
            if (r && r->status == 202) {
                location = r->headers["location"];
                break;
            }
        }
        if (mounted) {
            sink.emit({Progress::Kind::mounted, id, b.size, b.size});
            continue;
        }
        if (location.empty()) {
            Request start;
            start.method = "POST";
            start.url = fmt::format("{}/v2/{}/blobs/uploads/", c.base(), c.repo());
            auto r = c.send(start);
            if (!r) {
                return std::move(r).error().wrap(fmt::format("push {}", text));
            }
            if (r->status != 202) {
                return c.status_error(*r, fmt::format("push {}: start upload", text));
            }
            location = r->headers["location"];
        }
        if (location.empty()) {
            return Error(Errc::invalid_argument,
                         fmt::format("push {}: the registry gave no upload location", text));
        }
        auto absolute = [&](const std::string& loc) {
            return loc.rfind("http", 0) == 0 ? loc : c.base() + loc;
        };
        location = absolute(location);
        auto fd = fs::open(store.blob_path(b.digest), O_RDONLY);
        if (!fd) {
            return std::move(fd).error().wrap(fmt::format("push {}", text));
        }
        sink.emit({Progress::Kind::pushing, id, 0, b.size});
        int64_t offset = 0;
        if (b.size > o.chunk_size) {
            // Chunked upload: PATCH each chunk with its Content-Range.
            while (offset < b.size) {
                int64_t len = std::min(o.chunk_size, b.size - offset);
                Request patch;
                patch.method = "PATCH";
                patch.url = location;
                patch.upload_fd = fd->get();
                patch.upload_offset = offset;
                patch.upload_len = len;
                patch.headers = {"Content-Type: application/octet-stream",
                                 fmt::format("Content-Range: {}-{}", offset, offset + len - 1)};
                auto r = c.send(patch, false);
                if (!r) {
                    return std::move(r).error().wrap(fmt::format("push {}: blob {}", text, b.digest));
                }
                if (r->status != 202) {
                    return c.status_error(*r, fmt::format("push {}: upload chunk of {}", text,
                                                          b.digest));
                }
                location = absolute(r->headers["location"]);
                offset += len;
                sink.emit({Progress::Kind::pushing, id, offset, b.size});
            }
        }
        Request put;
        put.method = "PUT";
        put.url = location + (location.find('?') == std::string::npos ? "?" : "&") +
                  "digest=" + url_escape(b.digest);
        put.headers = {"Content-Type: application/octet-stream"};
        put.upload_fd = fd->get();
        put.upload_offset = offset;
        put.upload_len = b.size - offset;
        auto r = c.send(put, false);
        if (!r) {
            return std::move(r).error().wrap(fmt::format("push {}: blob {}", text, b.digest));
        }
        if (r->status != 201) {
            return c.status_error(*r, fmt::format("push {}: finish upload of {}", text, b.digest));
        }
        sink.emit({Progress::Kind::pushed, id, b.size, b.size});
    }
    Request put;
    put.method = "PUT";
    put.url = fmt::format("{}/v2/{}/manifests/{}", c.base(), c.repo(), ref->tag);
    put.headers = {"Content-Type: " + m->media_type};
    put.body = *mtext;
    auto r = c.send(put);
    if (!r) {
        return std::move(r).error().wrap(fmt::format("push {}: manifest", text));
    }
    if (r->status != 201) {
        return c.status_error(*r, fmt::format("push {}: manifest", text));
    }
    PushResult out{img->manifest_digest, static_cast<int64_t>(mtext->size())};
    // Record the repo digest, as Docker does after a push.
    if (auto rec = store.commit_image(img->manifest_digest, {}, ref->name() + "@" + out.digest);
        !rec) {
        log::engine().warn("record repo digest of {}: {}", text, rec.error().message());
    }
    return out;
}

Result<void> login(std::string_view server, const std::string& user, const std::string& password,
                   const RegistryOptions& o) {
    std::string key = auth_key(server);
    std::string host = key == "https://index.docker.io/v1/" ? "registry-1.docker.io" : key;
    auto auth = std::make_shared<AuthState>();
    Client c(host, "", {}, o, auth);
    c.set_creds(Creds{user, password});
    Request req;
    req.url = c.base() + "/v2/";
    auto r = c.send(req);
    if (!r) {
        return std::move(r).error().wrap(fmt::format("login to {}", host));
    }
    if (r->status == 401 || r->status == 403) {
        return Error(Errc::permission_denied,
                     fmt::format("login to {}: unauthorized: incorrect username or password", host));
    }
    if (r->status != 200) {
        return c.status_error(*r, fmt::format("login to {}", host));
    }
    auto path = auth_path(o);
    json doc = json::object();
    if (auto cur = read_json(path); cur && cur->is_object()) {
        doc = *cur;
    }
    if (!doc.contains("auths") || !doc["auths"].is_object()) {
        doc["auths"] = json::object();
    }
    doc["auths"][key] = {{"auth", base64(user + ":" + password)}};
    if (auto mk = fs::make_dirs(path.parent_path(), 0700); !mk) {
        return mk;
    }
    return write_json(path, doc, 1, 0600);
}

Result<void> logout(std::string_view server, const RegistryOptions& o) {
    std::string key = auth_key(server);
    auto path = auth_path(o);
    auto doc = read_json(path);
    if (!doc || !doc->is_object() || !doc->contains("auths") || !(*doc)["auths"].contains(key)) {
        return Error(Errc::not_found, fmt::format("not logged in to {}", key));
    }
    (*doc)["auths"].erase(key);
    return write_json(path, *doc, 1, 0600);
}

}  // namespace berth::engine::images
