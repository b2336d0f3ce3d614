// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "engine/images/reference.hpp"

using namespace berth::engine::images;

namespace {

std::string full(std::string_view text) {
    auto r = parse_reference(text);
    REQUIRE(r);
    return r->full();
}

}  // namespace

TEST_CASE("reference: Docker Hub names are normalised", "[engine][images]") {
    CHECK(full("busybox") == "docker.io/library/busybox:latest");
    CHECK(full("busybox:1.36") == "docker.io/library/busybox:1.36");
    CHECK(full("library/busybox") == "docker.io/library/busybox:latest");
    CHECK(full("docker.io/busybox") == "docker.io/library/busybox:latest");
    CHECK(full("index.docker.io/library/busybox") == "docker.io/library/busybox:latest");
    CHECK(full("team/app:v1") == "docker.io/team/app:v1");
}

TEST_CASE("reference: registry hosts with ports and localhost", "[engine][images]") {
    auto r = parse_reference("localhost:5000/a/b:t");
    REQUIRE(r);
    CHECK(r->domain == "localhost:5000");
    CHECK(r->path == "a/b");
    CHECK(r->tag == "t");
    CHECK(r->registry_host() == "localhost:5000");
    CHECK(full("localhost/app") == "localhost/app:latest");
    CHECK(full("127.0.0.1:5000/app") == "127.0.0.1:5000/app:latest");
    CHECK(full("registry.example.com/x") == "registry.example.com/x:latest");
    auto hub = parse_reference("busybox");
    REQUIRE(hub);
    CHECK(hub->registry_host() == "registry-1.docker.io");
}

TEST_CASE("reference: digests", "[engine][images]") {
    std::string d = "sha256:" + std::string(64, 'a');
    auto r = parse_reference("busybox@" + d);
    REQUIRE(r);
    CHECK(r->tag.empty());
    CHECK(r->digest == d);
    CHECK(r->full() == "docker.io/library/busybox@" + d);
    auto both = parse_reference("localhost:5000/x:v1@" + d);
    REQUIRE(both);
    CHECK(both->tag == "v1");
    CHECK(both->name_digest() == "localhost:5000/x@" + d);
    CHECK_FALSE(parse_reference("busybox@sha256:abc"));
    CHECK_FALSE(parse_reference("busybox@md5:" + std::string(32, 'a')));
}

TEST_CASE("reference: invalid names are refused with the reason", "[engine][images]") {
    auto upper = parse_reference("BusyBox");
    REQUIRE_FALSE(upper);
    CHECK(upper.error().message().find("lowercase") != std::string::npos);
    CHECK(upper.error().code() == berth::Errc::invalid_argument);
    CHECK_FALSE(parse_reference(""));
    CHECK_FALSE(parse_reference(":tag"));
    CHECK_FALSE(parse_reference("a//b"));
    CHECK_FALSE(parse_reference("a/-b"));
    CHECK_FALSE(parse_reference("a:-bad"));
    CHECK_FALSE(parse_reference("a:" + std::string(129, 't')));
    CHECK_FALSE(parse_reference(std::string(64, 'a')));  // an image id, not a name
    CHECK(parse_reference("a__b.c-d---e"));
    CHECK_FALSE(parse_reference("a___b"));
}

TEST_CASE("reference: familiar names", "[engine][images]") {
    CHECK(familiar("docker.io/library/busybox:latest") == "busybox:latest");
    CHECK(familiar("docker.io/team/app:v1") == "team/app:v1");
    CHECK(familiar("docker.io/library/a/b:v1") == "library/a/b:v1");
    CHECK(familiar("localhost:5000/app:v1") == "localhost:5000/app:v1");
    auto r = parse_reference("busybox");
    REQUIRE(r);
    CHECK(r->familiar_name() == "busybox");
    CHECK(is_full_id("sha256:" + std::string(64, 'f')));
    CHECK(is_full_id(std::string(64, '0')));
    CHECK_FALSE(is_full_id(std::string(63, '0')));
}
