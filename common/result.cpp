// SPDX-License-Identifier: Apache-2.0
#include "common/result.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace berth {

std::string_view to_string(Errc code) noexcept {
    switch (code) {
        case Errc::not_found: return "not_found";
        case Errc::already_exists: return "already_exists";
        case Errc::conflict: return "conflict";
        case Errc::invalid_argument: return "invalid_argument";
        case Errc::permission_denied: return "permission_denied";
        case Errc::failed_precondition: return "failed_precondition";
        case Errc::unsupported: return "unsupported";
        case Errc::unavailable: return "unavailable";
        case Errc::cancelled: return "cancelled";
        case Errc::internal: return "internal";
    }
    return "internal";
}

Error Error::from_errno(int err, std::string_view what) {
    Errc code = Errc::internal;
    switch (err) {
        case ENOENT:
        case ESRCH:
        case ENODEV:
        case ENXIO: code = Errc::not_found; break;
        case EEXIST:
        case ENOTEMPTY: code = Errc::already_exists; break;
        case EBUSY:
        case EADDRINUSE:
        case ETXTBSY: code = Errc::conflict; break;
        case EPERM:
        case EACCES:
        case EROFS: code = Errc::permission_denied; break;
        case EINVAL:
        case ENAMETOOLONG:
        case ELOOP:
        case ENOTDIR:
        case EISDIR:
        case ERANGE: code = Errc::invalid_argument; break;
        case ENOSYS:
        case EOPNOTSUPP:
        case EAFNOSUPPORT:
        case EPROTONOSUPPORT: code = Errc::unsupported; break;
        case EAGAIN:
        case ENOSPC:
        case ENOMEM:
        case EMFILE:
        case ENFILE:
        case ECONNREFUSED:
        case ETIMEDOUT: code = Errc::unavailable; break;
        case EINTR:
        case ECANCELED: code = Errc::cancelled; break;
        default: break;
    }
    std::string msg(what);
    msg += ": ";
    msg += std::strerror(err);
    return Error(code, std::move(msg), err);
}

namespace detail {
void assert_fail(const char* expr, const char* file, int line) noexcept {
    std::fprintf(stderr, "berth: assertion failed: %s (%s:%d)\n", expr, file, line);
    std::abort();
}
}  // namespace detail

}  // namespace berth
