// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <map>

#include "compose/env_file.hpp"

using namespace berth::compose;

namespace {

std::optional<std::string> no_env(std::string_view) {
    return std::nullopt;
}

std::map<std::string, std::string> parse(std::string_view text, Lookup lookup = no_env,
                                         EnvFormat f = EnvFormat::dotenv) {
    auto r = parse_env_file(text, "test.env", lookup, f);
    REQUIRE(r);
    return {r->begin(), r->end()};
}

}  // namespace

TEST_CASE("env file: simple assignments, comments and blank lines", "[compose][env_file]") {
    auto m = parse("# comment\nA=1\n\n  B = two  \nexport C=3\n");
    CHECK(m == std::map<std::string, std::string>{{"A", "1"}, {"B", "two"}, {"C", "3"}});
}

TEST_CASE("env file: inline comments need a blank before #", "[compose][env_file]") {
    auto m = parse("A=value # comment\nB=a#b\nC=\n");
    CHECK(m.at("A") == "value");
    CHECK(m.at("B") == "a#b");
    CHECK(m.at("C") == "");
}

TEST_CASE("env file: single quotes are literal", "[compose][env_file]") {
    auto m = parse("A='x $B \\n y' # c\nB=1\n");
    CHECK(m.at("A") == "x $B \\n y");
}

TEST_CASE("env file: double quotes expand escapes and variables", "[compose][env_file]") {
    auto m = parse("B=bee\nA=\"x\\ny \\\"q\\\" $B ${B}\"\n");
    CHECK(m.at("A") == "x\ny \"q\" bee bee");
}

TEST_CASE("env file: quoted values may span lines", "[compose][env_file]") {
    auto m = parse("KEY=\"line1\nline2\"\nNEXT=ok\nS='a\nb'\n");
    CHECK(m.at("KEY") == "line1\nline2");
    CHECK(m.at("NEXT") == "ok");
    CHECK(m.at("S") == "a\nb");
}

TEST_CASE("env file: variables expand from earlier lines, then the environment",
          "[compose][env_file]") {
    Lookup env = [](std::string_view k) -> std::optional<std::string> {
        if (k == "HOST") {
            return "shell";
        }
        return std::nullopt;
    };
    auto m = parse("A=$HOST\nHOST=file\nB=$HOST\nC=${MISSING:-dflt}\n", env);
    CHECK(m.at("A") == "shell");
    CHECK(m.at("B") == "file");
    CHECK(m.at("C") == "dflt");
}

TEST_CASE("env file: a bare key inherits from the environment", "[compose][env_file]") {
    Lookup env = [](std::string_view k) -> std::optional<std::string> {
        if (k == "SET") {
            return "v";
        }
        return std::nullopt;
    };
    auto m = parse("SET\nUNSET\n", env);
    CHECK(m == std::map<std::string, std::string>{{"SET", "v"}});
}

TEST_CASE("env file: later duplicates win, CRLF is accepted", "[compose][env_file]") {
    auto m = parse("A=1\r\nA=2\r\n");
    CHECK(m.at("A") == "2");
}

TEST_CASE("env file: raw format takes values literally", "[compose][env_file]") {
    auto m = parse("A=\"quoted\" $X # not a comment\n", no_env, EnvFormat::raw);
    CHECK(m.at("A") == "\"quoted\" $X # not a comment");
}

TEST_CASE("env file: errors name the file and line", "[compose][env_file]") {
    auto r = parse_env_file("A=1\nB C=2\n", "bad.env", no_env);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::StartsWith("bad.env:2:"));
    auto r2 = parse_env_file("A=1\nB=\"open\n", "bad.env", no_env);
    REQUIRE_FALSE(r2);
    CHECK_THAT(r2.error().message(), Catch::StartsWith("bad.env:2: unterminated"));
}
