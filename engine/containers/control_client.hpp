// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/unique_fd.hpp"

namespace berth::engine::containers {

/// One connection to a container's control socket, as the supervisor and
/// berth-monitor hold it: requests arrive as JSON lines. Header-only, so that
/// the small monitor shares it without linking the engine.
struct ControlClient {
    UniqueFd fd;
    std::string buffer;         ///< received, not yet handled
    bool waiting_exit = false;  ///< answered when the container exits
};

/// Reads what the client sent into its buffer; at its end (or an error) the
/// connection is closed and false returned.
inline bool receive(ControlClient& c) {
    char buf[4096];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n <= 0) {
        c.fd.reset();
        return false;
    }
    c.buffer.append(buf, static_cast<size_t>(n));
    return true;
}

/// Sends one reply line; a client that went away is ignored.
inline void send_reply(const ControlClient& c, const nlohmann::json& j) {
    auto text = j.dump() + "\n";
    ssize_t n = ::send(c.fd.get(), text.data(), text.size(), MSG_NOSIGNAL);
    (void)n;
}

}  // namespace berth::engine::containers
