// SPDX-License-Identifier: Apache-2.0
#include "common/digest.hpp"

#include <dlfcn.h>
#include <link.h>
#include <nettle/sha2.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <fmt/format.h>
#include <mutex>
#include <string>

#include "common/dynlib.hpp"

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

namespace {

/// OpenSSL's SHA-256, from a libcrypto already in the process (libcurl brings
/// it for registry transfers): about 12% faster than Nettle's on a pull's
/// 150 MB here. It is never loaded just to hash (lazy_nettle.cpp says why).
struct Evp {
    decltype(&EVP_MD_CTX_new) ctx_new = nullptr;
    decltype(&EVP_MD_CTX_free) ctx_free = nullptr;
    decltype(&EVP_DigestInit_ex) init = nullptr;
    decltype(&EVP_DigestUpdate) update = nullptr;
    decltype(&EVP_DigestFinal_ex) final = nullptr;
    const EVP_MD* md = nullptr;
};

const Evp* loaded_evp() {
    static std::mutex mu;
    static Evp evp;
    static bool found = false;
    static unsigned looked_at = ~0U;
    std::lock_guard lk(mu);
    if (found || dynlib::loads() == looked_at) {
        return found ? &evp : nullptr;
    }
    looked_at = dynlib::loads();
    // OpenSSL 3's SONAME (Debian 12: 3.0), looked for among the loaded
    // objects: dlopen(RTLD_NOLOAD) by name would open and read the file
    // (about 0.2 ms) before it could say "not loaded".
    std::string path;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) {
            std::string_view name = info->dlpi_name != nullptr ? info->dlpi_name : "";
            constexpr std::string_view want = "/libcrypto.so.3";
            if (name.size() >= want.size() && name.substr(name.size() - want.size()) == want) {
                *static_cast<std::string*>(out) = std::string(name);
                return 1;
            }
            return 0;
        },
        &path);
    if (path.empty()) {
        return nullptr;
    }
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);  // never unloaded once loaded
    if (h == nullptr) {
        return nullptr;
    }
    auto fetch = reinterpret_cast<decltype(&EVP_MD_fetch)>(::dlsym(h, "EVP_MD_fetch"));
    evp.ctx_new = reinterpret_cast<decltype(evp.ctx_new)>(::dlsym(h, "EVP_MD_CTX_new"));
    evp.ctx_free = reinterpret_cast<decltype(evp.ctx_free)>(::dlsym(h, "EVP_MD_CTX_free"));
    evp.init = reinterpret_cast<decltype(evp.init)>(::dlsym(h, "EVP_DigestInit_ex"));
    evp.update = reinterpret_cast<decltype(evp.update)>(::dlsym(h, "EVP_DigestUpdate"));
    evp.final = reinterpret_cast<decltype(evp.final)>(::dlsym(h, "EVP_DigestFinal_ex"));
    if (fetch != nullptr) {
        evp.md = fetch(nullptr, "SHA256", nullptr);
    }
    ::dlclose(h);  // the reference RTLD_NOLOAD took; the library stays
    found = evp.ctx_new != nullptr && evp.ctx_free != nullptr && evp.init != nullptr &&
            evp.update != nullptr && evp.final != nullptr && evp.md != nullptr;
    return found ? &evp : nullptr;
}

}  // namespace

struct Sha256::Impl {
    const Evp* evp = nullptr;
    EVP_MD_CTX* evp_ctx = nullptr;
    sha256_ctx ctx{};
    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() {
        if (evp_ctx != nullptr) {
            evp->ctx_free(evp_ctx);
        }
    }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    if (const Evp* e = loaded_evp(); e != nullptr) {
        EVP_MD_CTX* c = e->ctx_new();
        if (c != nullptr && e->init(c, e->md, nullptr) == 1) {
            impl_->evp = e;
            impl_->evp_ctx = c;
            return;
        }
        if (c != nullptr) {
            e->ctx_free(c);
        }
    }
    sha256_init(&impl_->ctx);
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view data) {
    if (impl_->evp_ctx != nullptr) {
        impl_->evp->update(impl_->evp_ctx, data.data(), data.size());
        return;
    }
    sha256_update(&impl_->ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
}

Digest Sha256::finish() {
    uint8_t md[SHA256_DIGEST_SIZE];
    if (impl_->evp_ctx != nullptr) {
        unsigned int len = 0;
        impl_->evp->final(impl_->evp_ctx, md, &len);
    } else {
        sha256_digest(&impl_->ctx, sizeof md, md);
    }
    return Digest("sha256:" + to_hex(md, sizeof md));
}

const char* Sha256::implementation() const {
    return impl_->evp_ctx != nullptr ? "openssl" : "nettle";
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
