// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "netns/internal/kernel.hpp"

namespace berth::netns::detail {

namespace {

using NlAddr = std::unique_ptr<nl_addr, CDeleter<nl_addr_put>>;
using RtnlAddr = std::unique_ptr<rtnl_addr, CDeleter<rtnl_addr_put>>;
using RtnlRoute = std::unique_ptr<rtnl_route, CDeleter<rtnl_route_put>>;
using NlCache = std::unique_ptr<nl_cache, CDeleter<nl_cache_free>>;

Error nl_error(int err, std::string_view what) {
    int code = err < 0 ? -err : err;
    Errc c = Errc::internal;
    switch (code) {
        case NLE_EXIST:
            c = Errc::already_exists;
            break;
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
            c = Errc::not_found;
            break;
        case NLE_PERM:
            c = Errc::permission_denied;
            break;
        case NLE_BUSY:
            c = Errc::conflict;
            break;
        case NLE_INVAL:
        case NLE_RANGE:
            c = Errc::invalid_argument;
            break;
        default:
            break;
    }
    return Error(c, fmt::format("{}: {}", what, nl_geterror(code)));
}

Result<NlAddr> parse_addr(const std::string& text, int family) {
    nl_addr* a = nullptr;
    int err = nl_addr_parse(text.c_str(), family, &a);
    if (err < 0) {
        return nl_error(err, fmt::format("parse address {}", text));
    }
    return NlAddr(a);
}

}  // namespace

Result<Netlink> Netlink::open() {
    NlSocket s(nl_socket_alloc());
    if (!s) {
        return Error(Errc::internal, "allocate netlink socket");
    }
    int err = nl_connect(s.get(), NETLINK_ROUTE);
    if (err < 0) {
        return nl_error(err, "connect rtnetlink");
    }
    return Netlink(std::move(s));
}

Result<int> Netlink::ifindex(const std::string& name) {
    rtnl_link* link = nullptr;
    int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &link);
    if (err < 0) {
        return nl_error(err, fmt::format("find link {}", name));
    }
    RtnlLink owned(link);
    return rtnl_link_get_ifindex(link);
}

Result<int> Netlink::master_of(const std::string& name) {
    rtnl_link* link = nullptr;
    int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &link);
    if (err < 0) {
        return nl_error(err, fmt::format("find link {}", name));
    }
    RtnlLink owned(link);
    return rtnl_link_get_master(link);
}

Result<void> Netlink::create_bridge(const std::string& name, int mtu) {
    RtnlLink link(rtnl_link_bridge_alloc());
    if (!link) {
        return Error(Errc::internal, "allocate bridge link");
    }
    rtnl_link_set_name(link.get(), name.c_str());
    rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
    int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) {
        return nl_error(err, fmt::format("create bridge {}", name));
    }
    return {};
}

Result<void> Netlink::create_veth(const std::string& host_name, const std::string& peer_name,
                                  int peer_ns_fd, int mtu, const std::string& peer_mac) {
    RtnlLink link(rtnl_link_veth_alloc());
    if (!link) {
        return Error(Errc::internal, "allocate veth link");
    }
    rtnl_link_set_name(link.get(), host_name.c_str());
    rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
    RtnlLink peer(rtnl_link_veth_get_peer(link.get()));
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    rtnl_link_set_mtu(peer.get(), static_cast<unsigned>(mtu));
    rtnl_link_set_ns_fd(peer.get(), peer_ns_fd);
    if (!peer_mac.empty()) {
        auto mac = parse_addr(peer_mac, AF_LLC);
        if (!mac) {
            return std::move(mac).error();
        }
        rtnl_link_set_addr(peer.get(), mac->get());
    }
    int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) {
        return nl_error(err, fmt::format("create veth {}", host_name));
    }
    return {};
}

Result<void> Netlink::delete_link(const std::string& name) {
    RtnlLink link(rtnl_link_alloc());
    rtnl_link_set_name(link.get(), name.c_str());
    int err = rtnl_link_delete(sock_.get(), link.get());
    if (err < 0 && -err != NLE_OBJ_NOTFOUND && -err != NLE_NODEV) {
        return nl_error(err, fmt::format("delete link {}", name));
    }
    return {};
}

Result<void> Netlink::set_up(int ifindex) {
    RtnlLink orig(rtnl_link_alloc());
    rtnl_link_set_ifindex(orig.get(), ifindex);
    RtnlLink change(rtnl_link_alloc());
    rtnl_link_set_flags(change.get(), IFF_UP);
    int err = rtnl_link_change(sock_.get(), orig.get(), change.get(), 0);
    if (err < 0) {
        return nl_error(err, fmt::format("set link {} up", ifindex));
    }
    return {};
}

Result<void> Netlink::set_master(int ifindex, int master_ifindex) {
    int err = rtnl_link_enslave_ifindex(sock_.get(), master_ifindex, ifindex);
    if (err < 0) {
        return nl_error(err, fmt::format("attach link {} to bridge {}", ifindex, master_ifindex));
    }
    return {};
}

Result<void> Netlink::add_address(int ifindex, const std::string& cidr) {
    const int family = cidr.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    auto local = parse_addr(cidr, family);
    if (!local) {
        return std::move(local).error();
    }
    RtnlAddr addr(rtnl_addr_alloc());
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), family);
    if (int err = rtnl_addr_set_local(addr.get(), local->get()); err < 0) {
        return nl_error(err, fmt::format("set address {}", cidr));
    }
    if (family == AF_INET6) {
        // IPAM already guarantees uniqueness on the bridge, and duplicate
        // address detection would keep the address tentative (unusable) for
        // about a second after the container starts.
        rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
    }
    // Broadcast = host bits all ones, as `ip addr add ... brd +` would set.
    unsigned plen = nl_addr_get_prefixlen(local->get());
    if (family == AF_INET && plen < 31) {
        auto* bin = static_cast<unsigned char*>(nl_addr_get_binary_addr(local->get()));
        uint32_t v = (uint32_t{bin[0]} << 24) | (uint32_t{bin[1]} << 16) |
                     (uint32_t{bin[2]} << 8) | bin[3];
        v |= plen == 0 ? ~uint32_t{0} : ~(~uint32_t{0} << (32 - plen));
        unsigned char b[4] = {static_cast<unsigned char>(v >> 24),
                              static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
        NlAddr brd(nl_addr_build(AF_INET, b, 4));
        rtnl_addr_set_broadcast(addr.get(), brd.get());
    }
    int err = rtnl_addr_add(sock_.get(), addr.get(), 0);
    if (err < 0 && -err != NLE_EXIST) {
        return nl_error(err, fmt::format("add address {} to link {}", cidr, ifindex));
    }
    return {};
}

Result<void> Netlink::add_default_route(const std::string& gateway, int ifindex) {
    const bool v6 = gateway.find(':') != std::string::npos;
    const int family = v6 ? AF_INET6 : AF_INET;
    auto dst = parse_addr(v6 ? "::/0" : "0.0.0.0/0", family);
    auto gw = parse_addr(gateway, family);
    if (!dst || !gw) {
        return Error(Errc::invalid_argument, fmt::format("invalid gateway {}", gateway));
    }
    RtnlRoute route(rtnl_route_alloc());
    rtnl_route_set_family(route.get(), family);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    rtnl_route_set_dst(route.get(), dst->get());
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    rtnl_route_nh_set_gateway(nh, gw->get());
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
    int err = rtnl_route_add(sock_.get(), route.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0 && -err != NLE_EXIST) {
        return nl_error(err, fmt::format("add default route via {}", gateway));
    }
    return {};
}

Result<std::vector<std::string>> Netlink::ipv4_routes() { return routes(AF_INET); }

Result<std::vector<std::string>> Netlink::ipv6_routes() { return routes(AF_INET6); }

Result<std::vector<std::string>> Netlink::routes(int family) {
    nl_cache* raw = nullptr;
    int err = rtnl_route_alloc_cache(sock_.get(), family, 0, &raw);
    if (err < 0) {
        return nl_error(err, "list routes");
    }
    NlCache cache(raw);
    std::vector<std::string> out;
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        auto* r = reinterpret_cast<rtnl_route*>(o);
        if (rtnl_route_get_table(r) != RT_TABLE_MAIN) {
            continue;
        }
        nl_addr* dst = rtnl_route_get_dst(r);
        if (dst == nullptr || nl_addr_get_prefixlen(dst) == 0) {
            continue;
        }
        char buf[64];
        std::string text = nl_addr2str(dst, buf, sizeof buf);
        if (text.find('/') == std::string::npos) {
            text += "/" + std::to_string(nl_addr_get_prefixlen(dst));
        }
        out.push_back(text);
    }
    return out;
}

Result<void> run_in_netns(const std::filesystem::path& netns_path,
                          const std::function<Result<void>()>& fn) {
    auto fd = fs::open(netns_path, O_RDONLY);
    if (!fd) {
        return std::move(fd).error().wrap(fmt::format("open netns {}", netns_path.native()));
    }
    Result<void> result;
    std::thread worker([&] {
        try {
            if (::setns(fd->get(), CLONE_NEWNET) != 0) {
                int err = errno;
                result = Error::from_errno(err, fmt::format("join netns {}", netns_path.native()));
                return;
            }
            result = fn();
        } catch (const std::exception& e) {
            result = Error(Errc::internal, fmt::format("netns worker: {}", e.what()));
        } catch (...) {
            result = Error(Errc::internal, "netns worker: unknown exception");
        }
    });
    worker.join();
    return result;
}

Result<void> write_sysctl(const std::string& key, const std::string& value) {
    auto path = std::filesystem::path("/proc/sys") / key;
    auto fd = fs::open(path, O_WRONLY | O_TRUNC);
    if (!fd) {
        return std::move(fd).error().wrap(fmt::format("set sysctl {}", key));
    }
    if (::write(fd->get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        int err = errno;
        return Error::from_errno(err, fmt::format("set sysctl {}={}", key, value));
    }
    return {};
}

namespace {

/// One nftables context per network namespace, for the life of the process.
/// Freeing a context closes its netlink socket, and the kernel makes that
/// close wait for the previous transaction's deferred destruction (an RCU
/// grace period, since every transaction replaces berth's tables): ~6 ms per
/// attach, under the network lock. Kept open, the socket is closed at exit.
nft_ctx* nft_context() {
    static std::mutex mu;
    static std::vector<std::pair<ino_t, nft_ctx*>> contexts;
    struct stat st {};
    ino_t netns = ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [ino, ctx] : contexts) {
        if (ino == netns) {
            return ctx;
        }
    }
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx == nullptr) {
        return nullptr;
    }
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    contexts.emplace_back(netns, ctx);
    return ctx;
}

}  // namespace

Result<void> nft_apply(const std::string& script) {
    // Callers hold the network lock; the mutex only guards the context
    // against another thread of this process.
    static std::mutex run_mu;
    std::lock_guard<std::mutex> lock(run_mu);
    nft_ctx* ctx = nft_context();
    if (ctx == nullptr) {
        return Error(Errc::internal, "create nftables context");
    }
    log::netns().trace("nft script:\n{}", script);
    int rc = nft_run_cmd_from_buffer(ctx, script.c_str());
    // Reading a buffer empties it, so that nothing carries over to the next run.
    const char* out = nft_ctx_get_output_buffer(ctx);
    (void)out;
    const char* err_buf = nft_ctx_get_error_buffer(ctx);
    std::string err = err_buf != nullptr ? err_buf : "";
    if (rc != 0) {
        return Error(Errc::internal,
                     fmt::format("apply nftables rules: {}", err.empty() ? "unknown" : err));
    }
    return {};
}

}  // namespace berth::netns::detail
