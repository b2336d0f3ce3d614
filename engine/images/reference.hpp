// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth::engine::images {

/// The default registry host of an unqualified name, as Docker spells it.
inline constexpr std::string_view default_domain = "docker.io";

/// A parsed image reference, normalised as Docker does: "busybox" becomes
/// domain "docker.io", path "library/busybox", tag "latest". A reference that
/// carries a digest keeps it; the tag then stays empty unless one was given.
struct Reference {
    std::string domain;  ///< "docker.io", "localhost:5000", "registry.example.com"
    std::string path;    ///< "library/busybox", "team/app"
    std::string tag;     ///< "latest" when neither a tag nor a digest was given
    std::string digest;  ///< "sha256:<hex>" or empty

    /// "docker.io/library/busybox" (domain/path, no tag or digest).
    [[nodiscard]] std::string name() const;
    /// The fully qualified form: "docker.io/library/busybox:latest",
    /// "localhost:5000/app@sha256:..." or "name:tag@digest".
    [[nodiscard]] std::string full() const;
    /// "name:tag", empty when the reference has no tag.
    [[nodiscard]] std::string name_tag() const;
    /// "name@digest", empty when the reference has no digest.
    [[nodiscard]] std::string name_digest() const;
    /// Docker's short form of name(): "busybox", "team/app", "localhost:5000/app".
    [[nodiscard]] std::string familiar_name() const;
    /// The registry host to contact: "registry-1.docker.io" for docker.io.
    [[nodiscard]] std::string registry_host() const;
};

/// Parses and normalises a reference ("busybox", "busybox:1.36",
/// "localhost:5000/a/b:t", "name@sha256:<hex>"). A bare 64-hex string is
/// refused, as Docker does, because it is an image id and not a name.
/// Errc::invalid_argument naming the reference and the reason.
[[nodiscard]] Result<Reference> parse_reference(std::string_view text);

/// Shortens a stored, fully qualified "docker.io/library/busybox:latest" to the
/// form Docker shows ("busybox:latest"); other names are returned unchanged.
[[nodiscard]] std::string familiar(std::string_view qualified);

/// True when `text` is "sha256:<64 hex>" or 64 hex characters.
[[nodiscard]] bool is_full_id(std::string_view text);

}  // namespace berth::engine::images
