// SPDX-License-Identifier: Apache-2.0
//
// libnl-3 and libnl-route-3, loaded on first use (see common/dynlib.hpp): only
// the commands that create or remove bridges, veth pairs, addresses and routes
// use them (a container with --network none brings its loopback up with an
// ioctl), and linked normally they were mapped and relocated at every start
// of every berth process, about 35 page faults each.
//
// Generated from the functions berth calls (`nm -D --undefined-only`) and
// their declarations in the libnl headers; the compiler checks that every
// definition matches its header.

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "common/dynlib.hpp"

// libnl 3's SONAMEs (3.x since 3.0): nl_* functions are libnl-3's, rtnl_*
// functions libnl-route-3's.
static constexpr const char* libnl_soname = "libnl-3.so.200";
static constexpr const char* libnl_route_soname = "libnl-route-3.so.200";

// clang-format off
BERTH_DYNLIB_FN(libnl_soname, char*, nl_addr2str, (const struct nl_addr *a0, char *a1, size_t a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_soname, struct nl_addr*, nl_addr_build, (int a0, const void *a1, size_t a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_soname, void*, nl_addr_get_binary_addr, (const struct nl_addr *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, unsigned int, nl_addr_get_prefixlen, (const struct nl_addr *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, int, nl_addr_parse, (const char *a0, int a1, struct nl_addr **a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_soname, void, nl_addr_put, (struct nl_addr *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, void, nl_cache_free, (struct nl_cache *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, struct nl_object*, nl_cache_get_first, (struct nl_cache *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, struct nl_object*, nl_cache_get_next, (struct nl_object *a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, int, nl_connect, (struct nl_sock *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_soname, const char*, nl_geterror, (int a0), (a0))
BERTH_DYNLIB_FN(libnl_soname, struct nl_sock*, nl_socket_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_soname, void, nl_socket_free, (struct nl_sock *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_addr_add, (struct nl_sock *a0, struct rtnl_addr *a1, int a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_addr*, rtnl_addr_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_addr_put, (struct rtnl_addr *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_addr_set_broadcast, (struct rtnl_addr *a0, struct nl_addr *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_addr_set_family, (struct rtnl_addr *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_addr_set_flags, (struct rtnl_addr *a0, unsigned int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_addr_set_ifindex, (struct rtnl_addr *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_addr_set_local, (struct rtnl_addr *a0, struct nl_addr *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_add, (struct nl_sock *a0, struct rtnl_link *a1, int a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_link*, rtnl_link_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_link*, rtnl_link_bridge_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_change, (struct nl_sock *a0, struct rtnl_link *a1, struct rtnl_link *a2, int a3), (a0, a1, a2, a3))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_delete, (struct nl_sock *a0, const struct rtnl_link *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_enslave_ifindex, (struct nl_sock *a0, int a1, int a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_get_ifindex, (struct rtnl_link *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_get_kernel, (struct nl_sock *a0, int a1, const char *a2, struct rtnl_link **a3), (a0, a1, a2, a3))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_link_get_master, (struct rtnl_link *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_put, (struct rtnl_link *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_addr, (struct rtnl_link *a0, struct nl_addr *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_flags, (struct rtnl_link *a0, unsigned int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_ifindex, (struct rtnl_link *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_mtu, (struct rtnl_link *a0, unsigned int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_name, (struct rtnl_link *a0, const char *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_link_set_ns_fd, (struct rtnl_link *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_link*, rtnl_link_veth_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_link*, rtnl_link_veth_get_peer, (struct rtnl_link *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_route_add, (struct nl_sock *a0, struct rtnl_route *a1, int a2), (a0, a1, a2))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_add_nexthop, (struct rtnl_route *a0, struct rtnl_nexthop *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_route*, rtnl_route_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_route_alloc_cache, (struct nl_sock *a0, int a1, int a2, struct nl_cache **a3), (a0, a1, a2, a3))
BERTH_DYNLIB_FN(libnl_route_soname, struct nl_addr*, rtnl_route_get_dst, (struct rtnl_route *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, uint32_t, rtnl_route_get_table, (struct rtnl_route *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, struct rtnl_nexthop*, rtnl_route_nh_alloc, (void), ())
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_nh_set_gateway, (struct rtnl_nexthop *a0, struct nl_addr *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_nh_set_ifindex, (struct rtnl_nexthop *a0, int a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_put, (struct rtnl_route *a0), (a0))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_route_set_dst, (struct rtnl_route *a0, struct nl_addr *a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_route_set_family, (struct rtnl_route *a0, uint8_t a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_set_protocol, (struct rtnl_route *a0, uint8_t a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_set_scope, (struct rtnl_route *a0, uint8_t a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, void, rtnl_route_set_table, (struct rtnl_route *a0, uint32_t a1), (a0, a1))
BERTH_DYNLIB_FN(libnl_route_soname, int, rtnl_route_set_type, (struct rtnl_route *a0, uint8_t a1), (a0, a1))
// clang-format on
