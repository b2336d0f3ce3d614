// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/assert.hpp"

namespace berth {

/// The class of a failure; callers branch on it (see STYLE.md section 5).
enum class Errc {
    not_found,
    already_exists,
    conflict,
    invalid_argument,
    permission_denied,
    failed_precondition,
    unsupported,
    unavailable,
    cancelled,
    internal,
};

/// Name of an error class, for logs and `--format json` output.
[[nodiscard]] std::string_view to_string(Errc code) noexcept;

/// A failure: its class, the errno it came from (0 if none) and a message that
/// names the object ("create bridge bt0: file exists").
class Error {
public:
    Error(Errc code, std::string message, int sys_errno = 0)
        : code_(code), errno_(sys_errno), message_(std::move(message)) {}

    /// Maps an errno to its class: ENOENT->not_found, EEXIST->already_exists,
    /// EBUSY->conflict, EPERM/EACCES->permission_denied, EINVAL->invalid_argument, ...
    /// The message becomes "what: strerror(err)".
    [[nodiscard]] static Error from_errno(int err, std::string_view what);

    [[nodiscard]] Errc code() const noexcept { return code_; }
    [[nodiscard]] int sys_errno() const noexcept { return errno_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

    /// Puts "ctx: " in front of the message; the class and errno are kept.
    [[nodiscard]] Error wrap(std::string_view ctx) && {
        message_ = std::string(ctx) + ": " + message_;
        return std::move(*this);
    }
    [[nodiscard]] Error wrap(std::string_view ctx) const& {
        Error copy = *this;
        return std::move(copy).wrap(ctx);
    }

private:
    Errc code_;
    int errno_;
    std::string message_;
};

/// Either a T or an Error, with std::expected's member names so that the later
/// switch to C++23 is mechanical. Converts implicitly from T and from Error.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(const T& value) : v_(std::in_place_index<0>, value) {}
    Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
    template <typename U>
        requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::decay_t<U>, T> &&
                 !std::is_same_v<std::decay_t<U>, Error> &&
                 !std::is_same_v<std::decay_t<U>, Result<T>>)
    Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        BERTH_ASSERT(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        BERTH_ASSERT(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        BERTH_ASSERT(has_value());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    Error& error() & {
        BERTH_ASSERT(!has_value());
        return std::get<1>(v_);
    }
    const Error& error() const& {
        BERTH_ASSERT(!has_value());
        return std::get<1>(v_);
    }
    Error&& error() && {
        BERTH_ASSERT(!has_value());
        return std::get<1>(std::move(v_));
    }

    template <typename U>
    T value_or(U&& fallback) const& {
        return has_value() ? std::get<0>(v_) : T(std::forward<U>(fallback));
    }

private:
    std::variant<T, Error> v_;
};

/// Success or an Error; `Result<void>{}` means success.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    [[nodiscard]] bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    void value() const { BERTH_ASSERT(ok_); }

    Error& error() & {
        BERTH_ASSERT(!ok_);
        return error_;
    }
    const Error& error() const& {
        BERTH_ASSERT(!ok_);
        return error_;
    }
    Error&& error() && {
        BERTH_ASSERT(!ok_);
        return std::move(error_);
    }

private:
    Error error_{Errc::internal, {}};
    bool ok_ = true;
};

}  // namespace berth
