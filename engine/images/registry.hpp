// SPDX-License-Identifier: Apache-2.0
#pragma once

// The registry client (OCI distribution API v2, libcurl): pull, push, login.
//
// Pull resolves the reference to a manifest (selecting the platform from an
// index), then fetches the config and every missing layer into the store,
// verifying each blob's size and digest before it becomes visible, with up to
// `parallel` layer downloads at once; then commit_image() unpacks and
// registers the image. Push uploads missing blobs (HEAD check, cross-repo
// mount, monolithic or chunked upload) and then the manifest.
//
// Transport: https, or plain http for loopback hosts and the hosts in
// `insecure_registries`. Requests that fail with 5xx, 429 or a dropped
// connection are retried with exponential back-off (at most `max_retries`
// retries); a transfer that stalls for `idle_timeout_s` fails. Auth: the
// registry's 401 challenge decides between Basic and Bearer (token fetched
// from the realm with the stored credentials, if any). Credentials and
// tokens are never logged, and never sent to another host: redirects to
// another host carry no Authorization header, and foreign layer URLs in
// manifests are ignored (blobs always come from the registry).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "engine/images/manifest.hpp"
#include "engine/images/store.hpp"

namespace berth::engine::images {

/// A progress event for the CLI to render.
struct Progress {
    enum class Kind { resolved, exists, waiting, downloading, downloaded, pushing, pushed, mounted };
    Kind kind;
    std::string id;      ///< short digest of the blob
    int64_t current = 0;
    int64_t total = 0;
};

struct RegistryOptions {
    std::vector<std::string> insecure_registries;  ///< "host:port", plain HTTP allowed
    /// Docker's config.json holding `auths`; empty: $DOCKER_CONFIG/config.json,
    /// else ~/.docker/config.json.
    std::filesystem::path auth_file;
    Platform platform = host_platform();
    int parallel = 3;
    int max_retries = 5;
    int idle_timeout_s = 30;
    /// Blobs larger than this are pushed in PATCH chunks of this size.
    int64_t chunk_size = 32 * 1024 * 1024;
    /// Called from worker threads, serialised by the client.
    std::function<void(const Progress&)> progress;
};

struct PullResult {
    Image image;
    std::string digest;      ///< manifest digest (of the index when the tag named one)
    bool downloaded = false;  ///< false when every blob was already present
};

/// Pulls `ref` into the store. Errc::not_found (no such repository or tag),
/// Errc::permission_denied (401/403), Errc::unavailable (network, 5xx after
/// retries), Errc::invalid_argument (bad manifest, digest mismatch).
[[nodiscard]] Result<PullResult> pull(ImageStore& store, std::string_view ref,
                                      const RegistryOptions& options);

struct PushResult {
    std::string digest;
    int64_t size = 0;  ///< manifest size
};

/// Pushes the local image `ref` to the registry it names.
[[nodiscard]] Result<PushResult> push(ImageStore& store, std::string_view ref,
                                      const RegistryOptions& options);

/// Checks the credentials against `server` (GET /v2/ through its challenge)
/// and stores them (mode 0600). Errc::permission_denied when refused.
[[nodiscard]] Result<void> login(std::string_view server, const std::string& user,
                                 const std::string& password, const RegistryOptions& options);
/// Removes stored credentials. Errc::not_found when there were none.
[[nodiscard]] Result<void> logout(std::string_view server, const RegistryOptions& options);

/// A parsed WWW-Authenticate challenge.
struct Challenge {
    std::string scheme;  ///< lower case: "bearer", "basic"
    std::map<std::string, std::string> params;  ///< realm, service, scope, ...
};
/// Parses `Bearer realm="https://x/token",service="x",scope="a:b:pull"`.
[[nodiscard]] Result<Challenge> parse_challenge(std::string_view header);

/// The key of `server` in config.json's auths ("https://index.docker.io/v1/" for Docker Hub).
[[nodiscard]] std::string auth_key(std::string_view server);
/// True for localhost, 127.0.0.0/8 and [::1], with or without a port.
[[nodiscard]] bool is_loopback_host(std::string_view host);

}  // namespace berth::engine::images
