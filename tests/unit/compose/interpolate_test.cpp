// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <map>

#include "compose/interpolate.hpp"

using namespace berth::compose;

namespace {

Lookup env_of(std::map<std::string, std::string> m) {
    return [m = std::move(m)](std::string_view k) -> std::optional<std::string> {
        auto it = m.find(std::string(k));
        if (it == m.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

std::string sub(std::string_view text, std::map<std::string, std::string> env = {
                                           {"SET", "value"}, {"EMPTY", ""}}) {
    auto r = interpolate(text, env_of(std::move(env)));
    REQUIRE(r);
    return *r;
}

}  // namespace

TEST_CASE("interpolation: plain and braced variables", "[compose][interpolate]") {
    CHECK(sub("$SET") == "value");
    CHECK(sub("${SET}") == "value");
    CHECK(sub("a-${SET}-b") == "a-value-b");
    CHECK(sub("$SET.x") == "value.x");
    CHECK(sub("no variables") == "no variables");
    CHECK(sub("${UNSET}") == "");
}

TEST_CASE("interpolation: unset variables are reported", "[compose][interpolate]") {
    UnsetVariables unset;
    auto r = interpolate("${A}-$B-${C:-x}", env_of({}), &unset);
    REQUIRE(r);
    CHECK(*r == "--x");
    CHECK(unset == UnsetVariables{"A", "B"});
}

TEST_CASE("interpolation: default values", "[compose][interpolate]") {
    CHECK(sub("${UNSET:-d}") == "d");
    CHECK(sub("${EMPTY:-d}") == "d");
    CHECK(sub("${SET:-d}") == "value");
    CHECK(sub("${UNSET-d}") == "d");
    CHECK(sub("${EMPTY-d}") == "");
    CHECK(sub("${UNSET:-}") == "");
    CHECK(sub("${UNSET:-a b c}") == "a b c");
}

TEST_CASE("interpolation: nested defaults", "[compose][interpolate]") {
    CHECK(sub("${UNSET:-${SET}}") == "value");
    CHECK(sub("${UNSET:-${ALSO_UNSET:-deep}}") == "deep");
    CHECK(sub("${UNSET:-x${SET}y}") == "xvaluey");
}

TEST_CASE("interpolation: alternative values", "[compose][interpolate]") {
    CHECK(sub("${SET:+alt}") == "alt");
    CHECK(sub("${EMPTY:+alt}") == "");
    CHECK(sub("${EMPTY+alt}") == "alt");
    CHECK(sub("${UNSET+alt}") == "");
}

TEST_CASE("interpolation: required variables", "[compose][interpolate]") {
    CHECK(sub("${SET:?boom}") == "value");
    CHECK(sub("${EMPTY?boom}") == "");
    auto r = interpolate("${EMPTY:?must be set}", env_of({{"EMPTY", ""}}));
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "required variable EMPTY is missing a value: must be set");
    auto r2 = interpolate("${UNSET?}", env_of({}));
    REQUIRE_FALSE(r2);
    CHECK(r2.error().message() == "required variable UNSET is missing a value");
}

TEST_CASE("interpolation: $$ is a literal dollar", "[compose][interpolate]") {
    CHECK(sub("$$SET") == "$SET");
    CHECK(sub("a$$") == "a$");
    CHECK(sub("$${SET}") == "${SET}");
}

TEST_CASE("interpolation: malformed templates are errors", "[compose][interpolate]") {
    for (const char* bad : {"${", "${SET", "${}", "${1X}", "$", "a $ b", "${SET:}", "${SET:x}",
                            "$1"}) {
        INFO(bad);
        auto r = interpolate(bad, env_of({{"SET", "v"}}));
        REQUIRE_FALSE(r);
        CHECK_THAT(r.error().message(), Catch::StartsWith("invalid interpolation format"));
    }
}

TEST_CASE("interpolation of a tree names the node on error", "[compose][interpolate]") {
    auto docs = parse_yaml("services:\n  web:\n    image: \"${IMG:?no image}\"\n", "c.yaml");
    REQUIRE(docs);
    Node root = docs->front();
    auto r = interpolate_tree(root, env_of({}));
    REQUIRE_FALSE(r);
    CHECK(r.error().message() ==
          "c.yaml:3:12: services.web.image: required variable IMG is missing a value: no image");
}

TEST_CASE("interpolation of a tree leaves keys alone", "[compose][interpolate]") {
    auto docs = parse_yaml("x-$A: ${A}\nlist: [$A, b]\n", "c.yaml");
    REQUIRE(docs);
    Node root = docs->front();
    REQUIRE(interpolate_tree(root, env_of({{"A", "1"}})));
    REQUIRE(root.get("x-$A"));
    CHECK(root.get("x-$A")->value == "1");
    CHECK(root.get("list")->items[0].value == "1");
}
