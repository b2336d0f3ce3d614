// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <string>

#include "compose/yaml_tree.hpp"

using namespace berth::compose;
using nlohmann::json;

namespace {

json load_json(const std::string& text) {
    auto docs = parse_yaml(text, "t.yaml");
    REQUIRE(docs);
    REQUIRE(docs->size() == 1);
    auto j = to_json(docs->front());
    REQUIRE(j);
    return *j;
}

std::string error_of(const std::string& text, const YamlLimits& limits = {}) {
    auto docs = parse_yaml(text, "t.yaml", limits);
    REQUIRE_FALSE(docs);
    return docs.error().message();
}

}  // namespace

TEST_CASE("yaml: scalars are typed like YAML 1.2 core", "[compose][yaml]") {
    json j = load_json("a: 1\nb: '1'\nc: true\nd: \"true\"\ne: ~\nf: 1.5\ng: 0x10\nh: yes\n"
                       "i: 8080:80\nj: -3\nk:\n");
    CHECK(j["a"] == 1);
    CHECK(j["b"] == "1");
    CHECK(j["c"] == true);
    CHECK(j["d"] == "true");
    CHECK(j["e"].is_null());
    CHECK(j["f"] == 1.5);
    CHECK(j["g"] == 16);
    CHECK(j["h"] == "yes");
    CHECK(j["i"] == "8080:80");
    CHECK(j["j"] == -3);
    CHECK(j["k"].is_null());
}

TEST_CASE("yaml: marks are 1-based line and column", "[compose][yaml]") {
    auto docs = parse_yaml("services:\n  web:\n    image: nginx\n", "c.yaml");
    REQUIRE(docs);
    const Node* image = docs->front().get("services")->get("web")->get("image");
    REQUIRE(image);
    CHECK(image->mark.str() == "c.yaml:3:12");
    CHECK(docs->front().get("services")->entry("web")->key_mark.str() == "c.yaml:2:3");
}

TEST_CASE("yaml: anchors, aliases and merge keys", "[compose][yaml]") {
    json j = load_json("base: &b {x: 1, y: 2}\n"
                       "one:\n  <<: *b\n  y: 3\n"
                       "two:\n  <<: [*b, {z: 4}]\n"
                       "list: &l [1, 2]\nagain: *l\n");
    CHECK(j["one"] == json({{"x", 1}, {"y", 3}}));
    CHECK(j["two"] == json({{"x", 1}, {"y", 2}, {"z", 4}}));
    CHECK(j["again"] == json({1, 2}));
}

TEST_CASE("yaml: !reset and !override tags are kept", "[compose][yaml]") {
    auto docs = parse_yaml("a: !reset\nb: !override [1]\nc: !reset []\n", "t.yaml");
    REQUIRE(docs);
    const Node& root = docs->front();
    CHECK(root.get("a")->tag == NodeTag::reset);
    CHECK(root.get("a")->is_null());
    CHECK(root.get("b")->tag == NodeTag::override_);
    CHECK(root.get("c")->tag == NodeTag::reset);
}

TEST_CASE("yaml: a billion-laughs document is rejected by the alias budget", "[compose][yaml]") {
    std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n";
    char prev = 'a';
    for (char c = 'b'; c <= 'j'; ++c) {
        bomb += std::string(1, c) + ": &" + c + " [";
        for (int i = 0; i < 9; ++i) {
            bomb += std::string(i ? ", " : "") + "*" + prev;
        }
        bomb += "]\n";
        prev = c;
    }
    CHECK(bomb.size() < 1024);
    CHECK_THAT(error_of(bomb), Catch::Contains("alias"));
}

TEST_CASE("yaml: the node budget bounds documents without aliases too", "[compose][yaml]") {
    YamlLimits small;
    small.max_nodes = 10;
    std::string text = "a: &a [1, 2, 3, 4, 5, 6]\nb: *a\n";
    CHECK_THAT(error_of(text, small), Catch::Contains("alias budget"));
}

TEST_CASE("yaml: deep nesting is rejected, not a stack overflow", "[compose][yaml]") {
    CHECK_THAT(error_of(std::string(100000, '[')), Catch::StartsWith("t.yaml:1:"));
    CHECK_THAT(error_of(std::string(1500, '[')), Catch::Contains("deeper than 1000"));
    std::string deep;
    for (int i = 0; i < 1500; ++i) {
        deep += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
    }
    CHECK_FALSE(parse_yaml(deep, "t.yaml"));
}

TEST_CASE("yaml: recursive aliases and unknown anchors are errors", "[compose][yaml]") {
    CHECK_FALSE(parse_yaml("a: &a {<<: *a}\n", "t.yaml"));
    CHECK_FALSE(parse_yaml("a: *nope\n", "t.yaml"));
}

TEST_CASE("yaml: duplicate keys are errors with the key's position", "[compose][yaml]") {
    CHECK(error_of("a: 1\nb: 2\na: 3\n") == "t.yaml:3:1: mapping key 'a' already defined");
}

TEST_CASE("yaml: NUL bytes, invalid UTF-8 and oversized input are rejected", "[compose][yaml]") {
    CHECK(error_of(std::string("a: 1\nb: x\0y\n", 12)) == "t.yaml:2:5: NUL byte in file");
    CHECK(error_of("a: \xff\xfe\n") == "t.yaml:1:4: invalid UTF-8");
    CHECK(error_of("a: \xc0\x80\n") == "t.yaml:1:4: invalid UTF-8");
    YamlLimits small;
    small.max_bytes = 8;
    CHECK_THAT(error_of("a: 123456789\n", small), Catch::Contains("larger than"));
}

TEST_CASE("yaml: BOM and CRLF are accepted", "[compose][yaml]") {
    json j = load_json("\xEF\xBB\xBF" "a: 1\r\nb: two\r\n");
    CHECK(j == json({{"a", 1}, {"b", "two"}}));
}

TEST_CASE("yaml: tabs as indentation and syntax errors have positions", "[compose][yaml]") {
    CHECK_THAT(error_of("a:\n\tb: 1\n"), Catch::StartsWith("t.yaml:2:"));
    CHECK_THAT(error_of("a: [1, 2\n"), Catch::StartsWith("t.yaml:"));
}

TEST_CASE("yaml: integers out of 64-bit range are errors", "[compose][yaml]") {
    auto docs = parse_yaml("a: 18446744073709551616\n", "t.yaml");
    REQUIRE(docs);
    auto j = to_json(docs->front());
    REQUIRE_FALSE(j);
    CHECK(j.error().message() == "t.yaml:1:4: integer 18446744073709551616 is out of range");
}

TEST_CASE("yaml: several documents are returned in order", "[compose][yaml]") {
    auto docs = parse_yaml("a: 1\n---\nb: 2\n", "t.yaml");
    REQUIRE(docs);
    CHECK(docs->size() == 2);
}
