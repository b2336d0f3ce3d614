// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "engine/images/archive.hpp"
#include "engine/images/registry.hpp"

using namespace berth::engine::images;

TEST_CASE("registry: WWW-Authenticate challenges", "[engine][images]") {
    auto b = parse_challenge(
        R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull")");
    REQUIRE(b);
    CHECK(b->scheme == "bearer");
    CHECK(b->params.at("realm") == "https://auth.example.com/token");
    CHECK(b->params.at("service") == "registry.example.com");
    CHECK(b->params.at("scope") == "repository:a/b:pull");
    auto basic = parse_challenge(R"(Basic realm="berth-test")");
    REQUIRE(basic);
    CHECK(basic->scheme == "basic");
    CHECK(basic->params.at("realm") == "berth-test");
    auto esc = parse_challenge(R"(Bearer realm="a\"b", error=invalid_token)");
    REQUIRE(esc);
    CHECK(esc->params.at("realm") == "a\"b");
    CHECK(esc->params.at("error") == "invalid_token");
    CHECK_FALSE(parse_challenge(""));
    CHECK_FALSE(parse_challenge(R"(Bearer realm="unterminated)"));
    CHECK_FALSE(parse_challenge("Bearer novalue"));
}

TEST_CASE("registry: credential keys and loopback hosts", "[engine][images]") {
    CHECK(auth_key("docker.io") == "https://index.docker.io/v1/");
    CHECK(auth_key("https://index.docker.io/v1/") == "https://index.docker.io/v1/");
    CHECK(auth_key("localhost:5000") == "localhost:5000");
    CHECK(auth_key("https://reg.example.com/v2/") == "reg.example.com");
    CHECK(is_loopback_host("127.0.0.1:5000"));
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("[::1]:5000"));
    CHECK_FALSE(is_loopback_host("registry.example.com"));
    CHECK_FALSE(is_loopback_host("127.evil.example:5000"));
    CHECK_FALSE(is_loopback_host("10.0.0.1:5000"));
}

TEST_CASE("import: --change instructions", "[engine][images]") {
    ImageConfig c;
    REQUIRE(apply_change(c, R"(CMD ["/bin/app", "-v"])"));
    CHECK(c.cmd == std::vector<std::string>{"/bin/app", "-v"});
    REQUIRE(apply_change(c, "ENTRYPOINT /init start"));
    CHECK(c.entrypoint == std::vector<std::string>{"/bin/sh", "-c", "/init start"});
    REQUIRE(apply_change(c, "ENV A=1 B=\"two words\""));
    REQUIRE(apply_change(c, "ENV C three four"));
    REQUIRE(apply_change(c, "env A=5"));
    CHECK(c.env == std::vector<std::string>{"B=two words", "C=three four", "A=5"});
    REQUIRE(apply_change(c, "EXPOSE 80 53/udp"));
    CHECK(c.exposed_ports == std::set<std::string>{"80/tcp", "53/udp"});
    REQUIRE(apply_change(c, "LABEL a=b c=\"d e\""));
    CHECK(c.labels.at("c") == "d e");
    REQUIRE(apply_change(c, R"(VOLUME ["/data", "/logs"])"));
    REQUIRE(apply_change(c, "VOLUME /cache"));
    CHECK(c.volumes == std::set<std::string>{"/data", "/logs", "/cache"});
    REQUIRE(apply_change(c, "USER 1000:1000"));
    REQUIRE(apply_change(c, "WORKDIR /srv"));
    REQUIRE(apply_change(c, "STOPSIGNAL SIGINT"));
    CHECK(c.user == "1000:1000");
    CHECK(c.working_dir == "/srv");
    CHECK(c.stop_signal == "SIGINT");
    CHECK_FALSE(apply_change(c, "RUN rm -rf /"));
    CHECK_FALSE(apply_change(c, "EXPOSE 80a"));
    CHECK_FALSE(apply_change(c, "CMD"));
    CHECK_FALSE(apply_change(c, "LABEL novalue"));
    CHECK_FALSE(apply_change(c, "ENV A=\"unterminated"));
}
