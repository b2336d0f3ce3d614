// SPDX-License-Identifier: Apache-2.0
#include "common/digest.hpp"

#include <nettle/sha2.h>
#include <sys/random.h>

#include <fmt/format.h>

namespace berth {

namespace {
bool is_lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string to_hex(const unsigned char* data, size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0xf];
    }
    return out;
}
}  // namespace

Result<Digest> Digest::parse(std::string_view text) {
    constexpr std::string_view algo = "sha256:";
    if (text.substr(0, algo.size()) != algo || text.size() != algo.size() + 64 ||
        !is_lower_hex(text.substr(algo.size()))) {
        return Error(Errc::invalid_argument, fmt::format("invalid digest \"{}\"", text));
    }
    return Digest(std::string(text));
}

Digest Digest::of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

struct Sha256::Impl {
    sha256_ctx ctx{};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { sha256_init(&impl_->ctx); }

Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
    sha256_update(&impl_->ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
}

Digest Sha256::finish() {
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_digest(&impl_->ctx, sizeof md, md);
    return Digest("sha256:" + to_hex(md, sizeof md));
}

std::string random_hex_id(size_t chars) {
    std::string bytes((chars + 1) / 2, '\0');
    size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
        if (n > 0) {
            got += static_cast<size_t>(n);
        }
    }
    auto hex = to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    hex.resize(chars);
    return hex;
}

}  // namespace berth
