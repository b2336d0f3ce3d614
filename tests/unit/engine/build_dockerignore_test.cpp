// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <string>

#include "engine/build/dockerignore.hpp"

using berth::Errc;
using berth::engine::build::DockerIgnore;

namespace {

DockerIgnore ignore(std::string_view text) {
    auto r = DockerIgnore::parse(text, ".dockerignore");
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return std::move(r).value();
}

std::string ignore_error(std::string_view text) {
    auto r = DockerIgnore::parse(text, ".dockerignore");
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_argument);
    return r.error().message();
}

}  // namespace

TEST_CASE("dockerignore: empty files and comments", "[engine][dockerignore]") {
    CHECK(ignore("").empty());
    CHECK(ignore("\n  \n# comment\n").empty());
    CHECK_FALSE(ignore("").excluded("a"));
    // Only a '#' in the first column is a comment.
    auto d = ignore(" #x\n");
    CHECK_FALSE(d.empty());
    CHECK(d.excluded("#x"));
}

TEST_CASE("dockerignore: star, question mark and classes", "[engine][dockerignore]") {
    auto d = ignore("*.md\n[a-c]x\nfile?.txt\n[^a-y]z\n");
    CHECK(d.excluded("README.md"));
    CHECK(d.excluded(".md"));
    CHECK_FALSE(d.excluded("docs/README.md"));  // '*' stays within one component
    CHECK(d.excluded("ax"));
    CHECK(d.excluded("cx"));
    CHECK_FALSE(d.excluded("dx"));
    CHECK(d.excluded("file1.txt"));
    CHECK_FALSE(d.excluded("file10.txt"));
    CHECK(d.excluded("zz"));
    CHECK_FALSE(d.excluded("az"));
    CHECK_FALSE(d.excluded("src/main.c"));
}

TEST_CASE("dockerignore: exceptions, last match wins", "[engine][dockerignore]") {
    auto d = ignore("*.md\n!README.md\n");
    CHECK(d.excluded("CHANGES.md"));
    CHECK_FALSE(d.excluded("README.md"));

    auto again = ignore("*.md\n!README*.md\nREADME-secret.md\n");
    CHECK_FALSE(again.excluded("README.md"));
    CHECK(again.excluded("README-secret.md"));

    auto earlier = ignore("!README.md\n*.md\n");
    CHECK(earlier.excluded("README.md"));
}

TEST_CASE("dockerignore: double star", "[engine][dockerignore]") {
    auto go = ignore("**/*.go\n");
    CHECK(go.excluded("main.go"));
    CHECK(go.excluded("a/b/c/x.go"));
    CHECK_FALSE(go.excluded("a/b/c/x.c"));

    auto docs = ignore("docs/**\n");
    CHECK(docs.excluded("docs/a"));
    CHECK(docs.excluded("docs/a/b.md"));
    CHECK_FALSE(docs.excluded("docs"));  // as Docker: the prefix "docs/" must match
    CHECK_FALSE(docs.excluded("docsx/a"));

    auto mid = ignore("a/**/b\n");
    CHECK(mid.excluded("a/b"));
    CHECK(mid.excluded("a/x/y/b"));
    CHECK(mid.excluded("a/x/b/inside"));
    CHECK_FALSE(mid.excluded("a/x/c"));

    auto all = ignore("**\n!keep\n");
    CHECK(all.excluded("anything"));
    CHECK(all.excluded("deep/down/file"));
    CHECK_FALSE(all.excluded("keep"));
    CHECK_FALSE(all.excluded("keep/inner"));

    std::string many;
    for (int i = 0; i < 200; ++i) {
        many += "**/a/";
    }
    auto hostile = ignore(many + "b\n");  // must stay fast, not blow up combinatorially
    CHECK_FALSE(hostile.excluded("a/a/a/a/a/a/a/a/a/a/a/a/a/a/c"));

    auto repeated = ignore("**/**/**/x\n");
    CHECK(repeated.excluded("x"));
    CHECK(repeated.excluded("a/b/x"));
}

TEST_CASE("dockerignore: directories exclude their contents", "[engine][dockerignore]") {
    auto d = ignore("node_modules\na/*/c\n");
    CHECK(d.excluded("node_modules"));
    CHECK(d.excluded("node_modules/x/y.js"));
    CHECK_FALSE(d.excluded("src/node_modules"));
    CHECK(d.excluded("a/b/c"));
    CHECK(d.excluded("a/b/c/d"));
    CHECK_FALSE(d.excluded("a/b/d"));
    CHECK_FALSE(d.excluded("a/c"));
    CHECK_FALSE(d.excluded("a/b/x/c"));

    // An exception for a directory re-includes what is below it.
    auto re = ignore("build\n!build/keep\n");
    CHECK(re.excluded("build/x"));
    CHECK_FALSE(re.excluded("build/keep"));
    CHECK_FALSE(re.excluded("build/keep/inner.txt"));
}

TEST_CASE("dockerignore: patterns are cleaned", "[engine][dockerignore]") {
    auto d = ignore("/abs\n./dot/\nx//y/../z\n  spaced  \n! /neg\n");
    CHECK(d.excluded("abs"));
    CHECK(d.excluded("abs/in"));
    CHECK(d.excluded("dot"));
    CHECK(d.excluded("x/z"));
    CHECK(d.excluded("spaced"));
    // Paths given with "./" or a trailing slash mean the same.
    CHECK(d.excluded("./abs/"));
    CHECK_FALSE(d.excluded("neg"));
}

TEST_CASE("dockerignore: escapes", "[engine][dockerignore]") {
    auto d = ignore("\\*lit\nq\\?\n\\[x]\n");
    CHECK(d.excluded("*lit"));
    CHECK_FALSE(d.excluded("alit"));
    CHECK(d.excluded("q?"));
    CHECK_FALSE(d.excluded("qa"));
    CHECK(d.excluded("[x]"));
    CHECK_FALSE(d.excluded("x"));
}

TEST_CASE("dockerignore: invalid patterns", "[engine][dockerignore]") {
    CHECK(ignore_error("ok\n[abc\n") ==
          ".dockerignore:2: invalid pattern \"[abc\": syntax error in pattern");
    CHECK(ignore_error("a\\\n").rfind(".dockerignore:1: invalid pattern", 0) == 0);
    CHECK(ignore_error("[]a]\n").rfind(".dockerignore:1: invalid pattern", 0) == 0);
    CHECK(ignore_error("# c\n!\n") == ".dockerignore:2: illegal exclusion pattern: \"!\"");
}

TEST_CASE("dockerignore: may_include_below", "[engine][dockerignore]") {
    auto none = ignore("build\n");
    CHECK_FALSE(none.may_include_below("build"));

    auto d = ignore("build\n!build/out/keep.txt\n");
    CHECK(d.excluded("build"));
    CHECK(d.may_include_below("build"));
    CHECK(d.may_include_below("build/out"));
    CHECK_FALSE(d.may_include_below("build/tmp"));
    CHECK_FALSE(d.may_include_below("other"));

    auto deep = ignore("*\n!**/keep\n");
    CHECK(deep.may_include_below("anything/at/all"));

    auto wild = ignore("vendor\n!vendor/*/LICENSE\n");
    CHECK(wild.may_include_below("vendor"));
    CHECK(wild.may_include_below("vendor/pkg"));
    CHECK_FALSE(wild.may_include_below("vendor/pkg/sub/LICENSEx"));
    CHECK(wild.excluded("vendor/pkg/main.go"));
    CHECK_FALSE(wild.excluded("vendor/pkg/LICENSE"));

    auto ancestor = ignore("a/b\n!a\n");
    CHECK(ancestor.may_include_below("a/b"));
}
