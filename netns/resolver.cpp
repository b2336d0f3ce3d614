// SPDX-License-Identifier: Apache-2.0
// The DNS resolver process (`berth __resolver`): answers A and AAAA queries on
// each DNS-enabled network's gateway address, over UDP and TCP, and forwards
// other names to the host's resolvers over the same transport.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <array>
#include <utility>

#include <boost/asio.hpp>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "netns/internal/dns_message.hpp"
#include "netns/internal/resolver.hpp"
#include "netns/ipam.hpp"

namespace berth::netns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace detail {

namespace {

std::filesystem::path resolver_lock(const Paths& paths) { return paths.locks() / "resolver.lock"; }

bool matches(const EndpointRecord& ep, std::string_view name) {
    auto lower_eq = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) ==
                          std::tolower(static_cast<unsigned char>(y));
               });
    };
    if (name.empty()) {
        return false;
    }
    if (lower_eq(ep.container_name, name) || lower_eq(ep.hostname, name)) {
        return true;
    }
    for (const auto& a : ep.aliases) {
        if (lower_eq(a, name)) {
            return true;
        }
    }
    return ep.container_id == name || (name.size() == 12 && ep.container_id.rfind(name, 0) == 0);
}

void collect(const Network& n, std::string_view name, LookupResult& out) {
    for (const auto& [id, ep] : n.endpoints) {
        if (matches(ep, name)) {
            out.known = true;
            if (auto ip = Ipv4::parse(ep.ipv4)) {
                out.ipv4.push_back(ip->value);
            }
            if (auto ip6 = Ipv6::parse(ep.ipv6); ip6 && n.ipv6) {
                out.ipv6.push_back(ip6->bytes);
            }
        }
    }
}

}  // namespace

LookupResult lookup_name(const std::vector<Network>& networks, const std::string& network_id,
                         uint32_t source_ip, std::string_view name) {
    LookupResult out;
    const Network* here = nullptr;
    for (const auto& n : networks) {
        if (n.id == network_id) {
            here = &n;
        }
    }
    if (here == nullptr || !here->dns_enabled) {
        return out;
    }
    collect(*here, name, out);
    if (!out.known) {
        std::string asker;
        for (const auto& [id, ep] : here->endpoints) {
            if (auto ip = Ipv4::parse(ep.ipv4); ip && ip->value == source_ip) {
                asker = id;
            }
        }
        if (!asker.empty()) {
            for (const auto& n : networks) {
                if (&n != here && n.dns_enabled && n.endpoints.count(asker) != 0) {
                    collect(n, name, out);
                }
            }
        }
    }
    std::sort(out.ipv4.begin(), out.ipv4.end());
    out.ipv4.erase(std::unique(out.ipv4.begin(), out.ipv4.end()), out.ipv4.end());
    std::sort(out.ipv6.begin(), out.ipv6.end());
    out.ipv6.erase(std::unique(out.ipv6.begin(), out.ipv6.end()), out.ipv6.end());
    return out;
}

bool resolver_running(const Paths& paths) {
    auto probe = fs::FileLock::try_acquire(resolver_lock(paths));
    return !probe && probe.error().code() == Errc::conflict;
}

bool udp_listening(const std::string& ipv4, uint16_t port) {
    in_addr addr{};
    if (::inet_pton(AF_INET, ipv4.c_str(), &addr) != 1) {
        return false;
    }
    // /proc/net/udp prints the address as the raw 32-bit word in hex.
    const auto want = fmt::format("{:08X}:{:04X}", addr.s_addr, port);
    auto text = fs::read_file("/proc/net/udp");
    return text && text->find(" " + want + " ") != std::string::npos;
}

std::filesystem::path resolver_socket(const Paths& paths) {
    return paths.run_root / "resolver.sock";
}

void wait_for_resolver(const Paths& paths, const std::string& gateway,
                       std::chrono::milliseconds limit) {
    if (udp_listening(gateway, 53)) {
        return;
    }
    // Nudge it (see Resolver::open_nudge); a lost datagram only means the tick.
    UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    auto path = resolver_socket(paths).native();
    if (s && path.size() < sizeof addr.sun_path) {
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        auto n = ::sendto(s.get(), "r", 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr),
                          sizeof addr);
        (void)n;
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!udp_listening(gateway, 53)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            log::netns().warn("the DNS resolver does not listen on {} yet", gateway);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

Result<void> ensure_resolver(const Paths& paths) {
    if (auto r = fs::make_dirs(paths.locks(), 0700); !r) {
        return r;
    }
    if (resolver_running(paths)) {
        return {};
    }
    std::string exe = "/proc/self/exe";
    if (const char* e = std::getenv("BERTH_EXE"); e != nullptr && *e != '\0') {
        exe = e;
    }
    // Everything the child needs is prepared before fork: after it only
    // async-signal-safe calls run.
    std::vector<std::string> args{exe, "--root", paths.root.native(), "--run-root",
                                  paths.run_root.native(), "__resolver"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::string prefix_env = "BERTH_PREFIX=" + paths.prefix;
    pid_t child = ::fork();
    if (child < 0) {
        int err = errno;
        return Error::from_errno(err, "fork resolver");
    }
    if (child == 0) {
        ::setsid();
        pid_t grandchild = ::fork();
        if (grandchild != 0) {
            ::_exit(grandchild < 0 ? 1 : 0);
        }
        int devnull = ::open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            ::dup2(devnull, 0);
            ::dup2(devnull, 1);
            ::dup2(devnull, 2);
        }
        ::syscall(SYS_close_range, 3U, ~0U, 0U);
        ::putenv(prefix_env.data());
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return Error(Errc::internal, "start resolver: the helper process failed");
    }
    log::netns().debug("started DNS resolver for {}", paths.root.native());
    return {};
}

}  // namespace detail

namespace {

/// Sends one response back to whoever asked (a UDP peer or a TCP stream).
using Respond = std::function<void(std::string)>;

/// Largest DNS message over TCP (RFC 1035 4.2.2: a 16-bit length prefix).
constexpr size_t max_tcp_message = 65535;

struct Listener {
    explicit Listener(asio::io_context& io) : socket(io), acceptor(io) {}
    udp::socket socket;
    tcp::acceptor acceptor;  ///< DNS over TCP on the same address (RFC 7766)
    std::string network_id;
    bool internal = false;
    std::array<char, 4096> buf{};
    udp::endpoint peer;
};

class Resolver {
public:
    Resolver(asio::io_context& io, Paths paths, fs::FileLock lock)
        : io_(io), paths_(std::move(paths)), lock_(std::move(lock)), tick_(io), signals_(io) {}

    void start() {
        load_upstreams();
        signals_.add(SIGTERM);
        signals_.add(SIGINT);
        signals_.async_wait([this](const boost::system::error_code& ec, int) {
            if (!ec) {
                stop();
            }
        });
        open_nudge();
        reload();
        schedule();
    }

private:
    void load_upstreams() {
        std::ifstream in("/etc/resolv.conf");
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream words(line);
            std::string key, value;
            words >> key >> value;
            if (key != "nameserver") {
                continue;
            }
            boost::system::error_code ec;
            auto addr = asio::ip::make_address_v4(value, ec);
            if (!ec) {
                upstreams_.emplace_back(addr, 53);
            }
        }
    }

    void schedule() {
        tick_.expires_after(std::chrono::milliseconds(100));
        tick_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                return;
            }
            ++ticks_;
            struct stat st {};
            bool changed = ::stat(paths_.networks().c_str(), &st) == 0 &&
                           (st.st_mtim.tv_sec != mtime_.tv_sec ||
                            st.st_mtim.tv_nsec != mtime_.tv_nsec);
            if (changed || ticks_ % 20 == 0 || listeners_.size() < wanted_ || idle_since_) {
                mtime_ = st.st_mtim;
                reload();
            }
            if (!stopped_) {
                schedule();
            }
        });
    }

    void reload() {
        auto all = read_networks(paths_);
        if (!all) {
            log::netns().warn("resolver: {}", all.error().message());
            return;
        }
        networks_ = std::move(*all);
        std::map<std::string, const Network*> want;
        for (const auto& n : networks_) {
            if (n.dns_enabled && !n.endpoints.empty()) {
                want[n.gateway] = &n;
            }
        }
        wanted_ = want.size();
        if (want.empty()) {
            // Linger a little: a container restarting (or a benchmark loop)
            // would otherwise pay for a new resolver process every time.
            if (!idle_since_) {
                idle_since_ = std::chrono::steady_clock::now();
            }
            if (std::chrono::steady_clock::now() - *idle_since_ >= std::chrono::seconds(2)) {
                maybe_exit();
            }
            return;
        }
        idle_since_.reset();
        for (auto it = listeners_.begin(); it != listeners_.end();) {
            auto w = want.find(it->first);
            if (w == want.end() || w->second->id != it->second->network_id) {
                boost::system::error_code ec;
                it->second->socket.close(ec);
                it->second->acceptor.close(ec);
                it = listeners_.erase(it);
            } else {
                it->second->internal = w->second->internal;
                ++it;
            }
        }
        for (const auto& [gw, n] : want) {
            if (listeners_.count(gw) != 0) {
                continue;
            }
            auto l = std::make_shared<Listener>(io_);
            l->network_id = n->id;
            l->internal = n->internal;
            boost::system::error_code ec;
            auto addr = asio::ip::make_address_v4(gw, ec);
            if (!ec) {
                l->socket.open(udp::v4(), ec);
            }
            if (!ec) {
                l->socket.bind(udp::endpoint(addr, 53), ec);
            }
            if (!ec) {
                l->acceptor.open(tcp::v4(), ec);
            }
            if (!ec) {
                l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
                l->acceptor.bind(tcp::endpoint(addr, 53), ec);
            }
            if (!ec) {
                l->acceptor.listen(64, ec);
            }
            if (ec) {
                // The bridge address may not be up yet, or an old resolver is
                // still exiting: retried on the next tick.
                log::netns().debug("resolver: bind {}:53: {}", gw, ec.message());
                continue;
            }
            listeners_[gw] = l;
            receive(l);
            accept(l);
        }
    }

    /// Exits when no network needs DNS, deciding under the network lock so
    /// that an attach racing with the exit starts a new resolver.
    void maybe_exit() {
        // A state root that was removed (a scratch root deleted after its
        // last `down`) has no networks left to serve: exit without opening
        // the store, which would create the directories again.
        std::error_code ec;
        if (!std::filesystem::exists(paths_.networks(), ec) && !ec) {
            lock_.reset();
            stop();
            return;
        }
        auto store = NetworkStore::open(paths_);
        if (!store) {
            return;
        }
        auto all = store->list();
        if (!all) {
            return;
        }
        bool needed = std::any_of(all->begin(), all->end(), [](const Network& n) {
            return n.dns_enabled && !n.endpoints.empty();
        });
        if (needed) {
            return;
        }
        lock_.reset();  // before the network lock is released (with `store`)
        stop();
    }

    /// A datagram on <run>/resolver.sock (any content) makes the resolver
    /// re-read the records and bind new listeners now, not at the next tick:
    /// attach sends one for a network it does not listen on yet.
    void open_nudge() {
        auto path = detail::resolver_socket(paths_);
        ::unlink(path.c_str());
        boost::system::error_code ec;
        nudge_.open(asio::local::datagram_protocol(), ec);
        if (!ec) {
            nudge_.bind(asio::local::datagram_protocol::endpoint(path.native()), ec);
        }
        if (ec) {
            log::netns().warn("resolver: nudge socket {}: {}", path.native(), ec.message());
            return;
        }
        ::chmod(path.c_str(), 0600);
        receive_nudge();
    }

    void receive_nudge() {
        nudge_.async_receive(asio::buffer(nudge_buf_),
                             [this](const boost::system::error_code& ec, size_t) {
                                 if (ec || stopped_) {
                                     return;
                                 }
                                 reload();
                                 receive_nudge();
                             });
    }

    void stop() {
        stopped_ = true;
        if (nudge_.is_open()) {
            boost::system::error_code ec;
            nudge_.close(ec);
            ::unlink(detail::resolver_socket(paths_).c_str());
        }
        for (auto& [gw, l] : listeners_) {
            boost::system::error_code ec;
            l->socket.close(ec);
            l->acceptor.close(ec);
        }
        listeners_.clear();
        io_.stop();
    }

    void receive(const std::shared_ptr<Listener>& l) {
        l->socket.async_receive_from(
            asio::buffer(l->buf), l->peer,
            [this, l](const boost::system::error_code& ec, size_t n) {
                if (ec == asio::error::operation_aborted || !l->socket.is_open()) {
                    return;
                }
                if (!ec) {
                    const udp::endpoint peer = l->peer;
                    std::weak_ptr<Listener> weak = l;
                    answer(*l, std::string(l->buf.data(), n), peer.address().to_v4().to_uint(),
                           false, [weak, peer](std::string data) {
                               auto self = weak.lock();
                               if (!self || data.empty() || !self->socket.is_open()) {
                                   return;
                               }
                               boost::system::error_code sec;
                               self->socket.send_to(asio::buffer(data), peer, 0, sec);
                           });
                }
                receive(l);
            });
    }

    /// One DNS-over-TCP client: length-prefixed queries answered in order
    /// until the client closes or stays idle for 10 s.
    struct TcpSession : std::enable_shared_from_this<TcpSession> {
        TcpSession(tcp::socket s, asio::io_context& io) : socket(std::move(s)), idle(io) {}
        tcp::socket socket;
        asio::steady_timer idle;
        std::array<uint8_t, 2> len{};
        std::string body;
        std::string out;
    };

    void accept(const std::shared_ptr<Listener>& l) {
        l->acceptor.async_accept([this, l](const boost::system::error_code& ec, tcp::socket s) {
            if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) {
                return;
            }
            if (!ec) {
                auto session = std::make_shared<TcpSession>(std::move(s), io_);
                read_tcp(l, session);
            }
            accept(l);
        });
    }

    void read_tcp(const std::shared_ptr<Listener>& l, const std::shared_ptr<TcpSession>& t) {
        t->idle.expires_after(std::chrono::seconds(10));
        t->idle.async_wait([t](const boost::system::error_code& ec) {
            if (!ec) {
                boost::system::error_code cec;
                t->socket.close(cec);
            }
        });
        asio::async_read(
            t->socket, asio::buffer(t->len), [this, l, t](const boost::system::error_code& ec, size_t) {
                if (ec) {
                    t->idle.cancel();
                    return;
                }
                size_t n = (size_t{t->len[0]} << 8) | t->len[1];
                t->body.assign(n, '\0');
                asio::async_read(
                    t->socket, asio::buffer(t->body),
                    [this, l, t](const boost::system::error_code& rec, size_t) {
                        if (rec) {
                            t->idle.cancel();
                            return;
                        }
                        boost::system::error_code pec;
                        auto peer = t->socket.remote_endpoint(pec);
                        uint32_t source = pec ? 0 : peer.address().to_v4().to_uint();
                        answer(*l, t->body, source, true, [this, l, t](std::string data) {
                            if (data.empty() || data.size() > max_tcp_message) {
                                boost::system::error_code cec;
                                t->socket.close(cec);
                                return;
                            }
                            t->out.clear();
                            t->out.push_back(static_cast<char>(data.size() >> 8));
                            t->out.push_back(static_cast<char>(data.size() & 0xff));
                            t->out += data;
                            asio::async_write(t->socket, asio::buffer(t->out),
                                              [this, l, t](const boost::system::error_code& wec,
                                                           size_t) {
                                                  if (!wec) {
                                                      read_tcp(l, t);
                                                  }
                                              });
                        });
                    });
            });
    }

    /// Re-reads the records when the networks directory changed since they
    /// were read, or so recently that a second change within the same
    /// (coarse) timestamp may hide behind the first: a container attached a
    /// moment ago is found at once, not at the next tick (listeners are left
    /// to the tick; an attach waits for its network's listener).
    void refresh_records() {
        struct stat st {};
        if (::stat(paths_.networks().c_str(), &st) != 0) {
            return;
        }
        struct timespec now {};
        ::clock_gettime(CLOCK_REALTIME, &now);
        const double age = static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) +
                           static_cast<double>(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
        const bool same = st.st_mtim.tv_sec == records_mtime_.tv_sec &&
                          st.st_mtim.tv_nsec == records_mtime_.tv_nsec;
        if (same && age > 0.05) {
            return;
        }
        if (auto all = read_networks(paths_)) {
            networks_ = std::move(*all);
            records_mtime_ = st.st_mtim;
        }
    }

    void answer(const Listener& l, const std::string& packet, uint32_t source, bool over_tcp,
                const Respond& respond) {
        auto q = detail::parse_dns_query(packet);
        if (!q) {
            respond(detail::build_dns_error(packet, detail::dns_rcode_formerr));
            return;
        }
        if (((q->flags >> 11) & 0xf) != 0) {
            respond(detail::build_dns_response(packet, *q, detail::dns_rcode_notimp, {}));
            return;
        }
        refresh_records();
        auto found = detail::lookup_name(networks_, l.network_id, source, q->name);
        if (found.known) {
            // A known name without addresses of the asked type is NODATA
            // (NOERROR, no answers), never NXDOMAIN: the name exists.
            std::vector<uint32_t> a;
            std::vector<std::array<uint8_t, 16>> aaaa;
            if (q->qtype == detail::dns_type_a || q->qtype == 255) {
                a = found.ipv4;
            }
            if (q->qtype == detail::dns_type_aaaa || q->qtype == 255) {
                aaaa = found.ipv6;
            }
            respond(detail::build_dns_response(packet, *q, detail::dns_rcode_noerror, a, aaaa));
            return;
        }
        if (l.internal) {
            // Internal networks never reach outside, not even by DNS (CVE-2024-29018).
            respond(detail::build_dns_response(packet, *q, detail::dns_rcode_refused, {}));
            return;
        }
        if (over_tcp) {
            forward_tcp(packet, *q, respond, 0);
        } else {
            forward(packet, *q, respond, 0);
        }
    }

    /// Forwards a query that came over TCP to the upstreams over TCP, one
    /// after the other, each bounded by 2 s.
    void forward_tcp(const std::string& packet, const detail::DnsQuery& q, const Respond& respond,
                     size_t index) {
        if (index >= upstreams_.size()) {
            respond(detail::build_dns_response(packet, q, detail::dns_rcode_servfail, {}));
            return;
        }
        struct Op {
            explicit Op(asio::io_context& io) : socket(io), timer(io) {}
            tcp::socket socket;
            asio::steady_timer timer;
            std::string out;
            std::array<uint8_t, 2> len{};
            std::string body;
            bool done = false;
        };
        auto op = std::make_shared<Op>(io_);
        op->out.push_back(static_cast<char>(packet.size() >> 8));
        op->out.push_back(static_cast<char>(packet.size() & 0xff));
        op->out += packet;
        auto next = [this, op, packet, q, respond, index] {
            if (op->done) {
                return;
            }
            op->done = true;
            op->timer.cancel();
            boost::system::error_code cec;
            op->socket.close(cec);
            forward_tcp(packet, q, respond, index + 1);
        };
        op->timer.expires_after(std::chrono::seconds(2));
        op->timer.async_wait([next](const boost::system::error_code& tec) {
            if (!tec) {
                next();
            }
        });
        const auto& up = upstreams_[index];
        op->socket.async_connect(
            tcp::endpoint(up.address(), up.port()),
            [op, next, respond](const boost::system::error_code& ec) {
                if (op->done) {
                    return;
                }
                if (ec) {
                    next();
                    return;
                }
                asio::async_write(
                    op->socket, asio::buffer(op->out),
                    [op, next, respond](const boost::system::error_code& wec, size_t) {
                        if (op->done) {
                            return;
                        }
                        if (wec) {
                            next();
                            return;
                        }
                        asio::async_read(
                            op->socket, asio::buffer(op->len),
                            [op, next, respond](const boost::system::error_code& lec, size_t) {
                                if (op->done) {
                                    return;
                                }
                                if (lec) {
                                    next();
                                    return;
                                }
                                op->body.assign((size_t{op->len[0]} << 8) | op->len[1], '\0');
                                asio::async_read(
                                    op->socket, asio::buffer(op->body),
                                    [op, next, respond](const boost::system::error_code& bec,
                                                        size_t) {
                                        if (op->done) {
                                            return;
                                        }
                                        if (bec) {
                                            next();
                                            return;
                                        }
                                        op->done = true;
                                        op->timer.cancel();
                                        respond(op->body);
                                    });
                            });
                    });
            });
    }

    void forward(const std::string& packet, const detail::DnsQuery& q, const Respond& respond,
                 size_t index) {
        if (index >= upstreams_.size()) {
            respond(detail::build_dns_response(packet, q, detail::dns_rcode_servfail, {}));
            return;
        }
        struct Op {
            explicit Op(asio::io_context& io) : socket(io), timer(io) {}
            udp::socket socket;
            asio::steady_timer timer;
            std::array<char, 4096> buf{};
            bool done = false;
        };
        auto op = std::make_shared<Op>(io_);
        boost::system::error_code ec;
        op->socket.open(udp::v4(), ec);
        if (!ec) {
            op->socket.connect(upstreams_[index], ec);
        }
        if (!ec) {
            op->socket.send(asio::buffer(packet), 0, ec);
        }
        if (ec) {
            forward(packet, q, respond, index + 1);
            return;
        }
        op->timer.expires_after(std::chrono::seconds(2));
        op->timer.async_wait([this, op, packet, q, respond, index](
                                 const boost::system::error_code& tec) {
            if (tec || op->done) {
                return;
            }
            op->done = true;
            boost::system::error_code cec;
            op->socket.close(cec);
            forward(packet, q, respond, index + 1);
        });
        op->socket.async_receive(
            asio::buffer(op->buf), [op, respond](const boost::system::error_code& rec, size_t n) {
                if (op->done) {
                    return;
                }
                op->done = true;
                op->timer.cancel();
                if (!rec) {
                    respond(std::string(op->buf.data(), n));
                }
            });
    }

    asio::io_context& io_;
    Paths paths_;
    std::optional<fs::FileLock> lock_;
    asio::steady_timer tick_;
    asio::signal_set signals_;
    asio::local::datagram_protocol::socket nudge_{io_};
    char nudge_buf_[16] = {};
    std::vector<udp::endpoint> upstreams_;
    std::vector<Network> networks_;
    struct timespec records_mtime_ {};
    std::map<std::string, std::shared_ptr<Listener>> listeners_;
    size_t wanted_ = 0;
    std::optional<std::chrono::steady_clock::time_point> idle_since_;
    uint64_t ticks_ = 0;
    timespec mtime_{};
    bool stopped_ = false;
};

}  // namespace

Result<void> run_resolver(const Paths& paths) {
    if (auto r = fs::make_dirs(paths.locks(), 0700); !r) {
        return r;
    }
    auto lock = fs::FileLock::try_acquire(detail::resolver_lock(paths));
    if (!lock) {
        if (lock.error().code() == Errc::conflict) {
            return {};  // another resolver serves these networks
        }
        return std::move(lock).error();
    }
    try {
        asio::io_context io;
        Resolver resolver(io, paths, std::move(*lock));
        resolver.start();
        io.run();
    } catch (const std::exception& e) {
        return Error(Errc::internal, fmt::format("resolver: {}", e.what()));
    }
    return {};
}

}  // namespace berth::netns
