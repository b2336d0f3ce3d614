// SPDX-License-Identifier: Apache-2.0
//
// libnftables, loaded on first use (see common/dynlib.hpp): with its own
// dependencies (libnftnl, libmnl, libxtables, libjansson, libgmp) it was
// about a fifth of every command's start-up, while only the commands that
// change a network's rules need it.

#include <nftables/libnftables.h>

#include "common/dynlib.hpp"

namespace {

// libnftables' SONAME has been libnftables.so.1 since nftables 0.9.
constexpr const char* nftables_soname = "libnftables.so.1";

}  // namespace

#define BERTH_NFT(ret, name, params, args) BERTH_DYNLIB_FN(nftables_soname, ret, name, params, args)

BERTH_NFT(struct nft_ctx*, nft_ctx_new, (uint32_t flags), (flags))
BERTH_NFT(void, nft_ctx_free, (struct nft_ctx * ctx), (ctx))
BERTH_NFT(int, nft_ctx_buffer_output, (struct nft_ctx * ctx), (ctx))
BERTH_NFT(int, nft_ctx_buffer_error, (struct nft_ctx * ctx), (ctx))
BERTH_NFT(const char*, nft_ctx_get_error_buffer, (struct nft_ctx * ctx), (ctx))
BERTH_NFT(const char*, nft_ctx_get_output_buffer, (struct nft_ctx * ctx), (ctx))
BERTH_NFT(int, nft_run_cmd_from_buffer, (struct nft_ctx * nft, const char* buf), (nft, buf))
