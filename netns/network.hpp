// SPDX-License-Identifier: Apache-2.0
#pragma once

// The public API of the networking layer (issue 5): network records and their
// store, persistent network namespaces, attaching containers to networks
// (veth, addresses, routes, NAT, published ports, DNS records) and undoing it.
//
// Terms: a *network* is a Linux bridge with its IPAM range; an *endpoint* is
// one container's connection to one network (a veth pair, one address); a
// *port binding* publishes a container port on the host through DNAT.
//
// Locking: every function that changes networks or endpoints takes the
// network lock (Paths::locks()/"networks.lock"), so IPs and host ports are
// allocated under it. Functions are safe to call from several processes.
// They must not be called concurrently from two threads of one process.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs.hpp"
#include "common/paths.hpp"
#include "common/result.hpp"
#include "netns/ipam.hpp"

namespace berth::netns {

/// Name of Docker's default network, used by `berth run` without --network.
inline constexpr std::string_view default_network_name = "bridge";
/// Option naming the Linux bridge of a network, as in Docker.
inline constexpr std::string_view bridge_name_option = "com.docker.network.bridge.name";
/// Option setting the MTU of a network's interfaces, as in Docker.
inline constexpr std::string_view mtu_option = "com.docker.network.driver.mtu";

/// What `network create` asks for.
struct NetworkSpec {
    std::string name;
    std::string driver = "bridge";
    std::optional<std::string> subnet, gateway, ip_range;
    /// IPv6 IPAM, used only with `ipv6`. Without subnet6 a /64 is taken from
    /// the ULA default pool (default_pool6).
    std::optional<std::string> subnet6, gateway6, ip_range6;
    bool internal = false;
    bool ipv6 = false;
    std::map<std::string, std::string> labels, options;
};

/// A published port: host_ip:host_port[-host_port_end] -> container_port/protocol.
/// A range maps host_port+i to container_port+i.
struct PortBinding {
    std::string host_ip;         ///< empty = all addresses (0.0.0.0)
    uint16_t host_port = 0;      ///< 0 = random free port, chosen at attach
    uint16_t host_port_end = 0;  ///< equal to host_port for a single port
    uint16_t container_port = 0;
    std::string protocol = "tcp";  ///< "tcp" or "udp" (sctp is rejected)

    bool operator==(const PortBinding&) const = default;
};

/// Parses one `-p` / compose short-syntax port spec into one binding per port
/// range: "80", "8080:80", "127.0.0.1:8080:80/udp", "8000-8010:80-90",
/// "127.0.0.1::80", "[::1]:80:80", "80-90". A container range with a single
/// host port ("8080:80-81") is rejected, as are ports 0 or > 65535 and range
/// lengths that differ. Errc::invalid_argument naming the spec. Pure.
[[nodiscard]] Result<std::vector<PortBinding>> parse_port_spec(std::string_view spec);

/// One container's connection to a network, as stored in the network record.
struct EndpointRecord {
    std::string container_id;
    std::string container_name;
    std::string hostname;
    std::vector<std::string> aliases;
    std::string ifname;       ///< inside the container: eth0, eth1, ...
    std::string host_ifname;  ///< host side of the veth pair
    std::string ipv4;         ///< address without prefix length
    std::string ipv6;         ///< empty unless the network has IPv6
    std::string mac;
    std::string netns_path;
    bool static_ip = false;
    bool static_ip6 = false;
    std::vector<PortBinding> ports;  ///< resolved host ports (never 0)
};

/// A stored network: Paths::networks()/<id>.json.
struct Network {
    std::string id;  ///< 64 hex characters
    std::string name;
    std::string driver = "bridge";
    std::chrono::system_clock::time_point created;
    std::string bridge;   ///< Linux bridge name
    std::string subnet;   ///< "172.18.0.0/16"
    std::string gateway;  ///< "172.18.0.1"
    std::string ip_range;
    std::string subnet6;   ///< "fd12:3456:789a::/64" when ipv6, else empty
    std::string gateway6;  ///< "fd12:3456:789a::1"
    std::string ip_range6;
    bool internal = false;
    bool ipv6 = false;
    /// False only for the default `bridge` network: no DNS by name there.
    bool dns_enabled = true;
    std::map<std::string, std::string> labels, options;
    std::map<std::string, EndpointRecord> endpoints;  ///< by container id

    /// MTU from the options, default 1500.
    [[nodiscard]] int mtu() const;
};

/// Reads and writes network records. An open store holds the network lock
/// (an flock on Paths::locks()/"networks.lock") until it is destroyed, so one
/// open store is one transaction; never open two in one process at once.
/// Not thread-safe.
class NetworkStore {
public:
    /// Creates the state directories if needed and waits for the lock.
    [[nodiscard]] static Result<NetworkStore> open(const Paths& paths);

    /// Validates `spec`, allocates its subnet (avoiding `host_routes`, IPv4
    /// and IPv6 destinations of the host's routes, and all other networks)
    /// and writes the record. It does not touch the kernel
    /// (see create_network). Errc::already_exists "network with name X already
    /// exists"; Errc::invalid_argument for bad input; Errc::conflict for an
    /// overlapping subnet; Errc::unavailable when the pools are exhausted.
    [[nodiscard]] Result<Network> create(const NetworkSpec& spec,
                                         const std::vector<std::string>& host_routes = {});
    /// By exact name, exact id, then unique id prefix. Errc::not_found
    /// ("network X not found"); Errc::conflict for an ambiguous prefix.
    [[nodiscard]] Result<Network> get(std::string_view name_or_id) const;
    /// All networks sorted by name. Unreadable records are skipped with a warning.
    [[nodiscard]] Result<std::vector<Network>> list() const;
    /// Deletes the record. Errc::failed_precondition when containers are connected.
    [[nodiscard]] Result<void> remove(std::string_view name_or_id);
    /// Removes every network without endpoints except `bridge`; returns their names.
    [[nodiscard]] Result<std::vector<std::string>> prune();
    /// Writes a record. Endpoint changes pass fs::Durability::process_crash:
    /// endpoints live only as long as their kernel objects, which a power loss
    /// ends too, and stale ones are dropped when found (reconcile, attach), so
    /// the two fsyncs per attach, under the network lock, buy nothing.
    [[nodiscard]] Result<void> save(const Network& net,
                                    fs::Durability durability = fs::Durability::durable);

    [[nodiscard]] const Paths& paths() const { return paths_; }

private:
    NetworkStore(Paths paths, fs::FileLock lock) : paths_(std::move(paths)), lock_(std::move(lock)) {}
    [[nodiscard]] Result<std::optional<AddressPlan6>> plan_ipv6(
        const NetworkSpec& spec, const std::vector<Network>& all,
        const std::vector<std::string>& host_routes) const;
    Paths paths_;
    fs::FileLock lock_;
};

/// Reads every record without taking the lock (records are written
/// atomically), for readers such as the resolver. Sorted by name.
[[nodiscard]] Result<std::vector<Network>> read_networks(const Paths& paths);

/// Creates the record, the bridge and the firewall rules of a network (all or
/// nothing). Errors as NetworkStore::create.
[[nodiscard]] Result<Network> create_network(const Paths& paths, const NetworkSpec& spec);
/// Removes a network without endpoints: rules, bridge, record.
/// Errc::failed_precondition "network X has active endpoints (c1, c2)".
[[nodiscard]] Result<void> remove_network(const Paths& paths, std::string_view name_or_id);
/// Removes unused networks (not `bridge`); returns their names.
[[nodiscard]] Result<std::vector<std::string>> prune_networks(const Paths& paths);
/// Returns the default `bridge` network, creating it (bridge `<prefix>0`,
/// first free default pool subnet, no DNS) on first use.
[[nodiscard]] Result<Network> ensure_default_network(const Paths& paths);
/// Repairs the kernel state from the records: recreates missing bridges and
/// their addresses, reattaches host veths to their bridges, and rewrites
/// berth's nftables table (idempotent: the same rules every time). Run by
/// every `network` command, so a deleted table or bridge comes back.
[[nodiscard]] Result<void> reconcile(const Paths& paths);

/// Creates a persistent network namespace bound at `path` (an empty file under
/// Paths::run_root/"netns"), with loopback up. The caller's thread is not
/// moved: the work happens on a short-lived thread. Errc::already_exists when
/// `path` is already a namespace.
[[nodiscard]] Result<void> create_netns(const std::filesystem::path& path);
/// Unmounts (MNT_DETACH) and unlinks a namespace file. Missing is success.
[[nodiscard]] Result<void> remove_netns(const std::filesystem::path& path);
/// The directory where berth keeps namespace files: run_root/"netns".
[[nodiscard]] std::filesystem::path netns_dir(const Paths& paths);

/// What the container layer asks for when a container starts.
struct AttachRequest {
    std::string container_id, container_name, hostname;
    std::filesystem::path netns_path;
    struct Net {
        std::string network;  ///< name or id; "bridge" is created on demand
        std::vector<std::string> aliases;
        std::optional<std::string> ipv4;
        std::optional<std::string> mac;
        /// Static IPv6 address (`--ip6`); only on a network with IPv6.
        std::optional<std::string> ipv6 = std::nullopt;
    };
    std::vector<Net> networks;  ///< in order: eth0, eth1, ...
    /// Published on the first network's address.
    std::vector<PortBinding> ports;
};

/// The result of attaching to one network: what the container's files need.
struct Endpoint {
    std::string network;       ///< network name
    std::string network_id;
    std::string ifname;        ///< eth0, ...
    std::string ipv4;          ///< address, e.g. "172.18.0.2"
    int prefix_length = 0;     ///< e.g. 16
    std::string gateway;
    std::string ipv6;          ///< empty unless the network has IPv6
    int prefix_length6 = 0;    ///< e.g. 64
    std::string gateway6;
    std::string mac;
    /// The resolver address for /etc/resolv.conf (the gateway), or empty on
    /// the default `bridge` network, where the host's resolvers apply.
    std::string dns_server;
    std::vector<PortBinding> ports;  ///< with the chosen host ports
};

/// Connects a container to its networks in order. All or nothing: on failure
/// every veth, address, rule and record made so far is undone. Starts the
/// DNS resolver when a DNS-enabled network gets its first endpoint.
/// Errors: Errc::not_found (network), Errc::conflict (address or host port
/// in use, naming it), Errc::invalid_argument, Errc::unavailable (no address).
[[nodiscard]] Result<std::vector<Endpoint>> attach(const Paths& paths, const AttachRequest& req);
/// Undoes attach for every network of the container: veths, records, rules.
/// Idempotent; an unknown container is success.
[[nodiscard]] Result<void> detach(const Paths& paths, const std::string& container_id);

/// A running container as `network connect` needs it.
struct ContainerRef {
    std::string id, name, hostname;
    std::filesystem::path netns_path;
};
/// Finds a container by name or id; filled in by the container layer.
using ContainerLookup = std::function<Result<ContainerRef>(std::string_view name_or_id)>;

/// Connects one more network to a running container (next free ethN).
/// Errc::already_exists when it is already connected.
[[nodiscard]] Result<Endpoint> connect(const Paths& paths, const ContainerRef& container,
                                       const AttachRequest::Net& net);
/// Disconnects one network. Errc::not_found when not connected (naming both).
[[nodiscard]] Result<void> disconnect(const Paths& paths, std::string_view network,
                                      const std::string& container_id);

/// The published ports of a container, from the records (for `berth port`).
[[nodiscard]] Result<std::vector<PortBinding>> container_ports(const Paths& paths,
                                                               const std::string& container_id);

/// Network modes of `run --network` and compose `network_mode`.
enum class NetworkModeKind { bridge, host, none, container, service };
struct NetworkMode {
    NetworkModeKind kind = NetworkModeKind::bridge;
    std::string target;  ///< network name (bridge), or container/service name
};
/// "bridge", "host", "none", "container:<x>", "service:<x>", or any other
/// text = a named network. Errc::invalid_argument for "container:" with no
/// name. Pure.
[[nodiscard]] Result<NetworkMode> parse_network_mode(std::string_view text);

/// Runs the DNS resolver in this process until no network needs it (the
/// hidden `berth __resolver` command). Returns when it exits normally.
[[nodiscard]] Result<void> run_resolver(const Paths& paths);

}  // namespace berth::netns
