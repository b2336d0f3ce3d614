// SPDX-License-Identifier: Apache-2.0
//
// Nettle (GNU's low-level cryptographic library), loaded on first use (see
// common/dynlib.hpp): SHA-256 for every digest berth computes (blobs, layers,
// manifests, config hashes) and base64 for stored registry credentials.
//
// Nettle rather than OpenSSL's libcrypto: loading libcrypto 3 (about 17,000
// relocations) and its first digest (configuration file, provider set-up)
// cost 4-6 ms of every command that hashes anything, `run` included (it
// verifies the image config it reads), against 0.4 ms for libnettle; both hash
// with the CPU's SHA extensions (within 10% of each other on 100 MB).

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "common/dynlib.hpp"

namespace {

// Nettle 3.x's SONAME (Debian 12: 3.8).
constexpr const char* nettle_soname = "libnettle.so.8";

}  // namespace

#define BERTH_NETTLE(ret, name, params, args) \
    BERTH_DYNLIB_FN(nettle_soname, ret, name, params, args)

BERTH_NETTLE(void, nettle_sha256_init, (struct sha256_ctx * ctx), (ctx))
BERTH_NETTLE(void, nettle_sha256_update, (struct sha256_ctx * ctx, size_t length, const uint8_t* data),
             (ctx, length, data))
BERTH_NETTLE(void, nettle_sha256_digest, (struct sha256_ctx * ctx, size_t length, uint8_t* digest),
             (ctx, length, digest))
BERTH_NETTLE(void, nettle_base64_encode_raw, (char* dst, size_t length, const uint8_t* src),
             (dst, length, src))
BERTH_NETTLE(void, nettle_base64_decode_init, (struct base64_decode_ctx * ctx), (ctx))
BERTH_NETTLE(int, nettle_base64_decode_update,
             (struct base64_decode_ctx * ctx, size_t* dst_length, uint8_t* dst, size_t src_length,
              const char* src),
             (ctx, dst_length, dst, src_length, src))
BERTH_NETTLE(int, nettle_base64_decode_final, (struct base64_decode_ctx * ctx), (ctx))
