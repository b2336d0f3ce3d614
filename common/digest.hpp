// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

/// A content digest "sha256:<64 hex>", validated on construction.
class Digest {
public:
    Digest() = default;
    /// Parses "sha256:<hex>"; Errc::invalid_argument otherwise.
    [[nodiscard]] static Result<Digest> parse(std::string_view text);
    /// The sha256 digest of `data`.
    [[nodiscard]] static Digest of(std::string_view data);

    [[nodiscard]] const std::string& str() const noexcept { return text_; }
    /// The hex part without "sha256:".
    [[nodiscard]] std::string_view hex() const noexcept {
        return std::string_view(text_).substr(text_.find(':') + 1);
    }
    [[nodiscard]] bool empty() const noexcept { return text_.empty(); }
    auto operator<=>(const Digest&) const = default;

private:
    friend class Sha256;
    explicit Digest(std::string text) : text_(std::move(text)) {}
    std::string text_;
};

/// Incremental sha256 (Nettle, common/lazy_nettle.cpp, or OpenSSL's when
/// libcrypto is loaded already), for streams such as blobs and layers.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view data);
    /// Finishes the hash; the object must not be updated afterwards.
    [[nodiscard]] Digest finish();
    /// "openssl" or "nettle": which library hashes.
    [[nodiscard]] const char* implementation() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// 64 random hex characters from the kernel's CSPRNG: container and network ids.
[[nodiscard]] std::string random_hex_id(size_t chars = 64);

}  // namespace berth
