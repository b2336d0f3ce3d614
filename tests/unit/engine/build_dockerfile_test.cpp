// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "engine/build/dockerfile.hpp"

using namespace berth::engine::build;
using berth::Errc;

namespace {

Dockerfile parse_ok(std::string_view text) {
    auto r = parse_dockerfile(text, "Dockerfile");
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return std::move(r).value();
}

std::string parse_error(std::string_view text) {
    auto r = parse_dockerfile(text, "Dockerfile");
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_argument);
    return r.error().message();
}

VarLookup vars(std::map<std::string, std::string> m) {
    return [m = std::move(m)](std::string_view k) -> std::optional<std::string> {
        auto it = m.find(std::string(k));
        if (it == m.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

const VarLookup env = vars({{"A", "alpha"},
                            {"B", "b b"},
                            {"EMPTY", ""},
                            {"PATH", "/usr/bin:/bin"},
                            {"FILE", "/home/tux/book.tar.bz2"}});

std::string expand(std::string_view w, char escape = '\\') {
    auto r = expand_word(w, env, escape);
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return *r;
}

std::string expand_error(std::string_view w) {
    auto r = expand_word(w, env);
    REQUIRE_FALSE(r);
    return r.error().message();
}

std::vector<std::string> words(std::string_view w) {
    auto r = split_words(w, env);
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return *r;
}

const Instruction& only(const Dockerfile& df) {
    REQUIRE(df.stages.size() == 1);
    REQUIRE(df.stages[0].body.size() == 1);
    return df.stages[0].body[0];
}

using Strings = std::vector<std::string>;
using namespace std::string_view_literals;

}  // namespace

// ---- structure ----

TEST_CASE("dockerfile: stages, meta args and every instruction kind", "[engine][dockerfile]") {
    auto df = parse_ok(
        "ARG BASE=busybox\n"
        "ARG TAG\n"
        "FROM --platform=linux/amd64 ${BASE}:${TAG} AS Build\n"
        "run echo hi\n"
        "CMD [\"sh\", \"-c\", \"echo\"]\n"
        "LABEL a=b\n"
        "MAINTAINER me <me@example.com>\n"
        "EXPOSE 80/tcp 443\n"
        "ENV K=V\n"
        "ADD a.tar /x/\n"
        "COPY --from=build /a /b\n"
        "ENTRYPOINT [\"/bin/init\"]\n"
        "VOLUME [\"/data\", \"/logs\"]\n"
        "USER 1000:1000\n"
        "WORKDIR /srv\n"
        "ARG X=1\n"
        "ONBUILD RUN make\n"
        "STOPSIGNAL SIGTERM\n"
        "HEALTHCHECK --interval=5s CMD [\"true\"]\n"
        "SHELL [\"/bin/bash\", \"-c\"]\n"
        "FROM scratch\n"
        "COPY --from=build /b /c\n");
    REQUIRE(df.meta_args.size() == 2);
    CHECK(df.meta_args[0].keyword == Keyword::arg);
    CHECK(df.meta_args[0].text == "BASE=busybox");
    CHECK(df.meta_args[1].line == 2);
    REQUIRE(df.stages.size() == 2);
    const auto& s0 = df.stages[0];
    CHECK(s0.base == "${BASE}:${TAG}");
    CHECK(s0.name == "build");
    CHECK(s0.platform == "linux/amd64");
    CHECK(s0.line == 3);
    CHECK(s0.original == "FROM --platform=linux/amd64 ${BASE}:${TAG} AS Build");
    std::vector<Keyword> kinds;
    for (const auto& i : s0.body) {
        kinds.push_back(i.keyword);
    }
    CHECK(kinds == std::vector<Keyword>{Keyword::run, Keyword::cmd, Keyword::label,
                                        Keyword::maintainer, Keyword::expose, Keyword::env,
                                        Keyword::add, Keyword::copy, Keyword::entrypoint,
                                        Keyword::volume, Keyword::user, Keyword::workdir,
                                        Keyword::arg, Keyword::onbuild, Keyword::stopsignal,
                                        Keyword::healthcheck, Keyword::shell});
    CHECK(s0.body[0].text == "echo hi");
    CHECK(s0.body[0].original == "run echo hi");
    CHECK_FALSE(s0.body[0].exec);
    CHECK(s0.body[1].exec == Strings{"sh", "-c", "echo"});
    CHECK(s0.body[4].text == "80/tcp 443");
    CHECK(s0.body[7].flags.size() == 1);
    CHECK(s0.body[7].flags[0].name == "from");
    CHECK(s0.body[7].flags[0].value == "build");
    CHECK(s0.body[7].flags[0].has_value);
    CHECK(s0.body[7].text == "/a /b");
    CHECK(s0.body[7].exec == std::nullopt);
    CHECK(s0.body[9].exec == Strings{"/data", "/logs"});
    CHECK(s0.body[15].text == "CMD [\"true\"]");
    CHECK_FALSE(s0.body[15].exec);
    CHECK(s0.body[16].exec == Strings{"/bin/bash", "-c"});
    CHECK(df.stages[1].base == "scratch");
    CHECK(df.stages[1].name.empty());
    CHECK(df.stages[1].body.size() == 1);
}

TEST_CASE("dockerfile: keyword names", "[engine][dockerfile]") {
    CHECK(keyword_name(Keyword::from) == "FROM");
    CHECK(keyword_name(Keyword::healthcheck) == "HEALTHCHECK");
    CHECK(keyword_name(Keyword::stopsignal) == "STOPSIGNAL");
    CHECK(keyword_name(Keyword::shell) == "SHELL");
}

TEST_CASE("dockerfile: errors carry path and line", "[engine][dockerfile]") {
    CHECK(parse_error("FROM a\nFOO bar\n") == "Dockerfile:2: unknown instruction: FOO");
    CHECK(parse_error("\n\nRUN x\nFROM a\n").rfind("Dockerfile:3: RUN: no build stage", 0) == 0);
    CHECK(parse_error("") == "Dockerfile:1: file with no instructions");
    CHECK(parse_error("# just a comment\n\n") == "Dockerfile:1: file with no instructions");
    CHECK(parse_error("ARG A\nARG B\n").rfind("Dockerfile:2: no FROM", 0) == 0);
    CHECK(parse_error("FROM a\nRUN\n") == "Dockerfile:2: RUN requires at least one argument");
    CHECK(parse_error("FROM a\nENV\n") == "Dockerfile:2: ENV requires at least one argument");
    CHECK(parse_error("FROM a\nSHELL /bin/sh -c\n") ==
          "Dockerfile:2: SHELL requires the arguments to be in JSON form");
    CHECK(parse_error("FROM a\nSHELL []\n") ==
          "Dockerfile:2: SHELL requires at least one argument");
    CHECK(parse_error("FROM a\nCMD [\"a\", 1]\n") ==
          "Dockerfile:2: CMD: when using JSON array syntax, arrays must be comprised of "
          "strings only");
    CHECK(parse_error("FROM a\nRUN --=x echo\n") ==
          "Dockerfile:2: RUN: flag with an empty name: --=x");
    CHECK(parse_error("FROM\n") == "Dockerfile:1: FROM requires at least one argument");
    CHECK(parse_error("FROM a b\n") == "Dockerfile:1: FROM requires either one or three arguments");
    CHECK(parse_error("FROM a is b\n") == "Dockerfile:1: FROM: the second argument should be AS");
    CHECK(parse_error("FROM a AS 1x\n").rfind("Dockerfile:1: invalid name for build stage", 0) ==
          0);
    CHECK(parse_error("FROM a AS x\nFROM b AS X\n") == "Dockerfile:2: duplicate stage name \"x\"");
    CHECK(parse_error("FROM --foo=1 a\n") == "Dockerfile:1: FROM: unknown flag: --foo");
    CHECK(parse_error("FROM --platform a\n") == "Dockerfile:1: FROM: --platform requires a value");
    auto other = parse_dockerfile("FROM a\nBAD x\n", "dir/My.Dockerfile");
    REQUIRE_FALSE(other);
    CHECK(other.error().message() == "dir/My.Dockerfile:2: unknown instruction: BAD");
}

TEST_CASE("dockerfile: CMD and ENTRYPOINT may be empty", "[engine][dockerfile]") {
    auto df = parse_ok("FROM a\nCMD\nENTRYPOINT []\n");
    CHECK(df.stages[0].body[0].text.empty());
    CHECK(df.stages[0].body[1].exec == Strings{});
}

TEST_CASE("dockerfile: exec form only for the instructions that have it", "[engine][dockerfile]") {
    auto df = parse_ok(
        "FROM a\n"
        "RUN [ \"echo\", \"a\\\"b\", \"\\u00e9\" ]\n"
        "RUN [not json\n"
        "COPY [\"a b\", \"/dst/\"]\n"
        "ADD [\"x\", \"/y\"]\n"
        "LABEL [\"x\"]\n"
        "RUN [\"a\"] trailing\n");
    const auto& b = df.stages[0].body;
    CHECK(b[0].exec == Strings{"echo", "a\"b", "\xC3\xA9"});
    CHECK_FALSE(b[1].exec);
    CHECK(b[1].text == "[not json");
    CHECK(b[2].exec == Strings{"a b", "/dst/"});
    CHECK(b[3].exec == Strings{"x", "/y"});
    CHECK_FALSE(b[4].exec);
    CHECK_FALSE(b[5].exec);
}

// ---- directives, comments, continuations ----

TEST_CASE("dockerfile: parser directives only at the top", "[engine][dockerfile]") {
    auto df = parse_ok("# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\nRUN echo `\n  b\n");
    CHECK(df.syntax == "docker/dockerfile:1");
    CHECK(df.escape == '`');
    CHECK(only(df).text == "echo   b");

    // After a comment, a blank line or an unknown directive, directives are comments.
    CHECK(parse_ok("# hello\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(parse_ok("\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(parse_ok("# unknown=1\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(parse_ok("FROM a\n# escape=`\n").escape == '\\');
    CHECK(parse_error("# escape=`\n# escape=\\\nFROM a\n") ==
          "Dockerfile:2: only one escape parser directive can be used");
    CHECK(parse_error("# escape=x\nFROM a\n").rfind("Dockerfile:1: invalid escape token 'x'", 0) ==
          0);
}

TEST_CASE("dockerfile: comments and continuations", "[engine][dockerfile]") {
    auto df = parse_ok(
        "  # indented comment\n"
        "FROM a\n"
        "RUN apt-get update && \\\n"
        "# a comment inside\n"
        "    # another, indented\n"
        "\n"
        "    apt-get install -y \\  \n"
        "      curl\n"
        "RUN echo done # not a comment\n");
    const auto& b = df.stages[0].body;
    REQUIRE(b.size() == 2);
    CHECK(b[0].text == "apt-get update &&     apt-get install -y       curl");
    CHECK(b[0].line == 3);
    CHECK(b[0].end_line == 8);
    CHECK(b[0].original == "RUN apt-get update &&     apt-get install -y       curl");
    CHECK(b[1].line == 9);
    CHECK(b[1].text == "echo done # not a comment");
}

TEST_CASE("dockerfile: CRLF line ends and a byte order mark", "[engine][dockerfile]") {
    auto df = parse_ok("\xEF\xBB\xBF# escape=`\r\nFROM a\r\nRUN echo a `\r\n b\r\n");
    CHECK(df.escape == '`');
    CHECK(only(df).text == "echo a  b");
}

TEST_CASE("dockerfile: backtick escape leaves backslashes alone", "[engine][dockerfile]") {
    auto df = parse_ok(
        "# escape=`\nFROM mcr.microsoft.com/windows\nCOPY testfile.txt c:\\\n"
        "RUN dir c:\\\n");
    const auto& b = df.stages[0].body;
    REQUIRE(b.size() == 2);
    CHECK(b[0].text == "testfile.txt c:\\");
    CHECK(b[1].text == "dir c:\\");
}

TEST_CASE("dockerfile: flags", "[engine][dockerfile]") {
    auto df = parse_ok(
        "FROM a\n"
        "RUN --mount=type=cache,target=/c --network=none --mount=\"type=tmpfs,target=/t\" "
        "echo --not-a-flag\n"
        "COPY --link --chmod=0755 a /b\n"
        "COPY -- --weird /dst\n");
    const auto& b = df.stages[0].body;
    REQUIRE(b[0].flags.size() == 3);
    CHECK(b[0].flags[0].value == "type=cache,target=/c");
    CHECK(b[0].flags[1].name == "network");
    CHECK(b[0].flags[2].value == "type=tmpfs,target=/t");
    CHECK(b[0].text == "echo --not-a-flag");
    CHECK(b[0].original ==
          "RUN --mount=type=cache,target=/c --network=none --mount=\"type=tmpfs,target=/t\" "
          "echo --not-a-flag");
    REQUIRE(b[1].flags.size() == 2);
    CHECK(b[1].flags[0].name == "link");
    CHECK_FALSE(b[1].flags[0].has_value);
    CHECK(b[1].flags[0].value.empty());
    CHECK(b[2].flags.empty());
    CHECK(b[2].text == "--weird /dst");
}

TEST_CASE("dockerfile: check_flags", "[engine][dockerfile]") {
    auto df = parse_ok(
        "FROM a\nCOPY --from=x --chown=1 --link a b\nRUN --mount=a --mount=b x\n"
        "COPY --from=x --from=y a b\nADD --foo a b\n");
    const auto& b = df.stages[0].body;
    auto ok = check_flags(b[0], {"from", "chown", "chmod", "link"});
    REQUIRE(ok);
    CHECK(ok->at("from") == Strings{"x"});
    CHECK(ok->at("link") == Strings{""});
    CHECK(ok->count("chmod") == 0);
    auto mounts = check_flags(b[1], {"mount", "network"}, {"mount"});
    REQUIRE(mounts);
    CHECK(mounts->at("mount") == Strings{"a", "b"});
    auto dup = check_flags(b[2], {"from"});
    REQUIRE_FALSE(dup);
    CHECK(dup.error().message() == "duplicate flag: --from");
    auto unknown = check_flags(b[3], {"chown"});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message() == "unknown flag: --foo");
}

// ---- heredocs ----

TEST_CASE("dockerfile: heredocs", "[engine][dockerfile]") {
    SECTION("plain") {
        auto df = parse_ok("FROM a\nRUN <<EOF\necho $HOME\n  indented\nEOF\nRUN after\n");
        const auto& b = df.stages[0].body;
        REQUIRE(b.size() == 2);
        REQUIRE(b[0].heredocs.size() == 1);
        CHECK(b[0].heredocs[0].name == "EOF");
        CHECK(b[0].heredocs[0].content == "echo $HOME\n  indented\n");
        CHECK(b[0].heredocs[0].expand);
        CHECK_FALSE(b[0].heredocs[0].chomp_tabs);
        CHECK(b[0].text == "<<EOF");
        CHECK(b[0].original == "RUN <<EOF");
        CHECK(b[0].line == 2);
        CHECK(b[0].end_line == 5);
        CHECK(b[1].line == 6);
    }
    SECTION("quoted delimiter does not expand") {
        auto df = parse_ok("FROM a\nRUN <<\"EOF\"\n$X\nEOF\nRUN <<'E'\nE\nRUN <<E\"O\"F\nEOF\n");
        const auto& b = df.stages[0].body;
        CHECK(b[0].heredocs[0].name == "EOF");
        CHECK_FALSE(b[0].heredocs[0].expand);
        CHECK(b[1].heredocs[0].name == "E");
        CHECK(b[1].heredocs[0].content.empty());
        CHECK_FALSE(b[1].heredocs[0].expand);
        CHECK(b[2].heredocs[0].name == "EOF");
        CHECK_FALSE(b[2].heredocs[0].expand);
    }
    SECTION("<<- strips leading tabs") {
        auto df = parse_ok("FROM a\nRUN <<-EOT bash\n\t\techo a\n\t  b\n\tEOT\n");
        const auto& h = only(df).heredocs.at(0);
        CHECK(h.chomp_tabs);
        CHECK(h.content == "echo a\n  b\n");
        CHECK(only(df).text == "<<-EOT bash");
    }
    SECTION("several in one COPY, with a redirect and a command") {
        auto df = parse_ok(
            "FROM a\nCOPY <<a.txt <<b.txt /dst/\nA\na.txt\nB\nb.txt\n"
            "RUN 3<<X cat <&3 > /out\nhello\nX\n");
        const auto& b = df.stages[0].body;
        REQUIRE(b[0].heredocs.size() == 2);
        CHECK(b[0].heredocs[0].name == "a.txt");
        CHECK(b[0].heredocs[0].content == "A\n");
        CHECK(b[0].heredocs[1].name == "b.txt");
        CHECK(b[0].heredocs[1].content == "B\n");
        CHECK(b[0].end_line == 6);
        REQUIRE(b[1].heredocs.size() == 1);
        CHECK(b[1].heredocs[0].name == "X");
        CHECK(b[1].heredocs[0].content == "hello\n");
    }
    SECTION("body lines look like instructions and comments") {
        auto df = parse_ok("FROM a\nRUN <<EOF\n# not removed\nFROM b\n\nEOF\n");
        CHECK(df.stages.size() == 1);
        CHECK(only(df).heredocs[0].content == "# not removed\nFROM b\n\n");
    }
    SECTION("heredoc after a continuation") {
        auto df = parse_ok("FROM a\nRUN --network=none \\\n  <<EOF\nx\nEOF\n");
        CHECK(only(df).heredocs[0].content == "x\n");
        CHECK(only(df).flags.at(0).name == "network");
        CHECK(only(df).end_line == 5);
    }
    SECTION("only RUN, COPY and ADD take heredocs; quoted << is not one") {
        auto df = parse_ok("FROM a\nENV X=<<EOF\nRUN echo \"<<EOF\"\nRUN cat<<EOF\n");
        for (const auto& i : df.stages[0].body) {
            CHECK(i.heredocs.empty());
        }
    }
    SECTION("CRLF terminator") {
        auto df = parse_ok("FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\n");
        CHECK(only(df).heredocs[0].content == "x\r\n");
    }
    SECTION("unterminated") {
        CHECK(parse_error("FROM a\nRUN true\nRUN <<EOF\necho\nEO\n") ==
              "Dockerfile:3: unterminated heredoc EOF");
        CHECK(parse_error("FROM a\nCOPY <<a <<b /x\nbody\na\nmore\n") ==
              "Dockerfile:2: unterminated heredoc b");
        CHECK(parse_error("FROM a\nRUN <<-EOF\n  EOF\n") ==
              "Dockerfile:2: unterminated heredoc EOF");
    }
}

// ---- ONBUILD ----

TEST_CASE("dockerfile: ONBUILD wraps one instruction", "[engine][dockerfile]") {
    auto df = parse_ok("FROM a\nONBUILD COPY --from=x . /app\nONBUILD RUN <<EOF\nmake\nEOF\n");
    const auto& b = df.stages[0].body;
    REQUIRE(b[0].onbuild.size() == 1);
    CHECK(b[0].text == "COPY --from=x . /app");
    CHECK(b[0].onbuild[0].keyword == Keyword::copy);
    CHECK(b[0].onbuild[0].flags.at(0).value == "x");
    CHECK(b[0].onbuild[0].text == ". /app");
    CHECK(b[0].onbuild[0].original == "COPY --from=x . /app");
    REQUIRE(b[1].onbuild.size() == 1);
    CHECK(b[1].onbuild[0].heredocs.at(0).content == "make\n");
    CHECK(b[1].end_line == 5);

    CHECK(parse_error("FROM a\nONBUILD ONBUILD RUN x\n") ==
          "Dockerfile:2: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    CHECK(parse_error("FROM a\nONBUILD from b\n") ==
          "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
    CHECK(parse_error("FROM a\nONBUILD MAINTAINER me\n") ==
          "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");
    CHECK(parse_error("FROM a\nONBUILD NOPE\n") == "Dockerfile:2: unknown instruction: NOPE");
    CHECK(parse_error("FROM a\nONBUILD\n") ==
          "Dockerfile:2: ONBUILD requires at least one argument");
}

// ---- variable substitution ----

TEST_CASE("dockerfile: expand_word basics", "[engine][dockerfile]") {
    CHECK(expand("$A") == "alpha");
    CHECK(expand("${A}_x") == "alpha_x");
    CHECK(expand("$A_x") == "");
    CHECK(expand("pre$A-post") == "prealpha-post");
    CHECK(expand("$UNSET") == "");
    CHECK(expand("a b  c") == "a b  c");
    CHECK(expand("$") == "$");
    CHECK(expand("a$ b") == "a$ b");
    CHECK(expand("$%") == "$%");
    CHECK(expand("$1x") == "x");  // positional parameters are never set
    CHECK(expand("\\$A") == "$A");
    CHECK(expand("\\${A}") == "${A}");
    CHECK(expand("\\\\$A") == "\\alpha");
    CHECK(expand("a\\ b") == "a b");
    CHECK(expand("'$A \"x\"'") == "$A \"x\"");
    CHECK(expand("\"$A '$B'\"") == "alpha 'b b'");
    CHECK(expand("\"a\\\"b\\$A\\\\c\\d\"") == "a\"b$A\\c\\d");
    CHECK(expand("x\\") == "x");
    CHECK(expand("") == "");
}

TEST_CASE("dockerfile: expansion operators", "[engine][dockerfile]") {
    CHECK(expand("${A:-w}") == "alpha");
    CHECK(expand("${UNSET:-w}") == "w");
    CHECK(expand("${EMPTY:-w}") == "w");
    CHECK(expand("${EMPTY-w}") == "");
    CHECK(expand("${UNSET-w}") == "w");
    CHECK(expand("${A:+w}") == "w");
    CHECK(expand("${EMPTY:+w}") == "");
    CHECK(expand("${EMPTY+w}") == "w");
    CHECK(expand("${UNSET+w}") == "");
    CHECK(expand("${UNSET:-${A}}") == "alpha");
    CHECK(expand("${UNSET:-${UNSET2:-deep $A}}") == "deep alpha");
    CHECK(expand("${UNSET:-\"x y\"}") == "x y");
    CHECK(expand("${UNSET:-a\\}b}") == "a}b");
    CHECK(expand("${A:?boom}") == "alpha");
    CHECK(expand("${EMPTY?boom}") == "");
    CHECK(expand_error("${UNSET:?boom}") == "UNSET: boom");
    CHECK(expand_error("${UNSET?}") == "UNSET: is not allowed to be unset");
    CHECK(expand_error("${EMPTY:?}") == "EMPTY: is not allowed to be empty");
    CHECK(expand_error("${UNSET:?must be ${A}}") == "UNSET: must be alpha");
}

TEST_CASE("dockerfile: pattern operators", "[engine][dockerfile]") {
    CHECK(expand("${FILE#*/}") == "home/tux/book.tar.bz2");
    CHECK(expand("${FILE##*/}") == "book.tar.bz2");
    CHECK(expand("${FILE%.*}") == "/home/tux/book.tar");
    CHECK(expand("${FILE%%.*}") == "/home/tux/book");
    CHECK(expand("${FILE/tux/wilber}") == "/home/wilber/book.tar.bz2");
    CHECK(expand("${PATH//:/ }") == "/usr/bin /bin");
    CHECK(expand("${PATH/:/}") == "/usr/bin/bin");
    CHECK(expand("${A#nomatch}") == "alpha");
    CHECK(expand("${A#[a-b]}") == "lpha");
    CHECK(expand("${A%\\a}") == "alph");
    CHECK(expand("${UNSET#x}") == "");
    CHECK(expand_error("${A:#x}") == "unsupported modifier (:#) in substitution");
}

TEST_CASE("dockerfile: expansion syntax errors", "[engine][dockerfile]") {
    CHECK(expand_error("${A") == "syntax error: missing '}'");
    CHECK(expand_error("${A:-x") == "syntax error: missing '}'");
    CHECK(expand_error("${}") == "syntax error: bad substitution");
    CHECK(expand_error("${:-x}") == "syntax error: bad substitution");
    CHECK(expand_error("${A!x}") == "unsupported modifier (!) in substitution");
    std::string deep;
    for (int i = 0; i < 300; ++i) {
        deep += "${U:-";
    }
    deep += "x" + std::string(300, '}');
    CHECK(expand_error(deep) == "syntax error: substitutions nested too deeply");
    std::string ok_depth;
    for (int i = 0; i < 100; ++i) {
        ok_depth += "${U:-";
    }
    ok_depth += "x" + std::string(100, '}');
    CHECK(expand(ok_depth) == "x");
    CHECK(expand_error("'abc") ==
          "unexpected end of statement while looking for matching single-quote");
    CHECK(expand_error("\"abc") ==
          "unexpected end of statement while looking for matching double-quote");
}

TEST_CASE("dockerfile: backtick escape in expansion", "[engine][dockerfile]") {
    CHECK(expand("c:\\$A", '`') == "c:\\alpha");
    CHECK(expand("`$A", '`') == "$A");
    CHECK(expand("\"a`\"b\"", '`') == "a\"b");
}

TEST_CASE("dockerfile: split_words", "[engine][dockerfile]") {
    CHECK(words("a  b\tc") == Strings{"a", "b", "c"});
    CHECK(words("\"a b\" c") == Strings{"a b", "c"});
    CHECK(words("'x y'z w") == Strings{"x yz", "w"});
    CHECK(words("$B c") == Strings{"b", "b", "c"});  // unquoted expansion splits
    CHECK(words("\"$B\" c") == Strings{"b b", "c"});
    CHECK(words("a\\ b") == Strings{"a b"});
    CHECK(words("\"\" a") == Strings{"a"});
    CHECK(words("") == Strings{});
    CHECK(words("${UNSET:-x y}") == Strings{"x", "y"});
    REQUIRE_FALSE(split_words("'open", env));
}

// ---- key=value ----

namespace {
std::vector<KeyValue> kvs(std::string_view df_line) {
    auto df = parse_ok(std::string("FROM a\n") + std::string(df_line) + "\n");
    auto r = parse_key_values(only(df), env);
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return *r;
}
std::string kv_error(std::string_view df_line) {
    auto df = parse_ok(std::string("FROM a\n") + std::string(df_line) + "\n");
    auto r = parse_key_values(only(df), env);
    REQUIRE_FALSE(r);
    return r.error().message();
}
}  // namespace

TEST_CASE("dockerfile: ENV and LABEL pairs", "[engine][dockerfile]") {
    auto e = kvs("ENV k=v k2=\"v 2\" k3='$A' k4=$A k5=a\\ b k6= k7=\"\"");
    REQUIRE(e.size() == 7);
    CHECK(e[0].key == "k");
    CHECK(e[0].value == "v");
    CHECK(e[1].value == "v 2");
    CHECK(e[2].value == "$A");
    CHECK(e[3].value == "alpha");
    CHECK(e[4].value == "a b");
    CHECK(e[5].value == "");
    CHECK(e[6].value == "");

    auto legacy = kvs("ENV key value with  spaces $A");
    REQUIRE(legacy.size() == 1);
    CHECK(legacy[0].key == "key");
    CHECK(legacy[0].value == "value with  spaces alpha");

    auto quoted = kvs("ENV key \"quoted value\"");
    CHECK(quoted[0].value == "quoted value");

    auto label = kvs("LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0 multi=\"a\\\nb\"");
    REQUIRE(label.size() == 3);
    CHECK(label[0].key == "com.example.vendor");
    CHECK(label[0].value == "ACME Inc");
    CHECK(label[2].value == "ab");

    auto label_legacy = kvs("LABEL description This text");
    CHECK(label_legacy[0].key == "description");
    CHECK(label_legacy[0].value == "This text");

    auto key_expanded = kvs("ENV ${A}_KEY=1");
    CHECK(key_expanded[0].key == "alpha_KEY");
}

TEST_CASE("dockerfile: ARG pairs", "[engine][dockerfile]") {
    auto a = kvs("ARG A1 B1=x C1=\"y z\" D1=${A:-q}");
    REQUIRE(a.size() == 4);
    CHECK(a[0].key == "A1");
    CHECK_FALSE(a[0].value);
    CHECK(a[1].value == "x");
    CHECK(a[2].value == "y z");
    CHECK(a[3].value == "alpha");
    auto eq = kvs("ARG E=a=b");
    CHECK(eq[0].value == "a=b");
}

TEST_CASE("dockerfile: key=value errors", "[engine][dockerfile]") {
    CHECK(kv_error("ENV onlykey") == "ENV must have two arguments");
    CHECK(kv_error("ENV a=1 b") ==
          "ENV: syntax error - can't find = in \"b\"; must be of the form name=value");
    CHECK(kv_error("ENV =v") == "ENV names can not be blank");
    CHECK(kv_error("LABEL =v") == "LABEL names can not be blank");
    CHECK(kv_error("ARG =v") == "ARG names can not be blank");
    CHECK(kv_error("ENV a=${X:?need}") == "ENV value of a: X: need");
    // Words split before expansion, as in Docker: a space inside ${...} ends the word.
    CHECK(kv_error("ENV a=${X:-b c}") == "ENV value of a: syntax error: missing '}'");
    CHECK(kv_error("ENV a=\"open") ==
          "ENV value of a: unexpected end of statement while looking for matching double-quote");
    CHECK(kv_error("RUN a=b") == "RUN has no key=value arguments");
}

// ---- RUN --mount ----

namespace {
RunMount mount_ok(std::string_view v) {
    auto r = parse_run_mount(v);
    if (!r) {
        FAIL("unexpected error: " << r.error().message());
    }
    return *r;
}
std::string mount_error(std::string_view v) {
    auto r = parse_run_mount(v);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_argument);
    return r.error().message();
}
bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("dockerfile: run mounts that are valid", "[engine][dockerfile][mount]") {
    auto bind = mount_ok("target=/src");
    CHECK(bind.type == RunMount::Type::bind);
    CHECK(bind.target == "/src");
    CHECK(bind.source.empty());
    CHECK_FALSE(bind.readwrite);

    // rw on a bind mount is valid: the writes are discarded after the step.
    auto rw = mount_ok("type=bind,from=base,source=/rootdir,target=/x,rw");
    CHECK(rw.readwrite);
    CHECK(rw.from == "base");
    CHECK(rw.source == "rootdir");
    CHECK(mount_ok("type=bind,target=/x,readwrite=true").readwrite);
    CHECK_FALSE(mount_ok("type=bind,target=/x,rw=false").readwrite);
    CHECK_FALSE(mount_ok("target=/x,rw,ro").readwrite);

    auto src = mount_ok("TYPE=BIND,src=./a/b/../c/,dst=/mnt//x/");
    CHECK(src.source == "a/c");
    CHECK(src.target == "/mnt/x");
    CHECK(mount_ok("source=a/../..b,target=/x").source == "..b");
    CHECK(mount_ok("source=/,target=/x").source.empty());

    auto cache = mount_ok(
        "type=cache,target=/root/.cache,id=pip-cache_1.0,sharing=LOCKED,mode=0755,uid=1000,"
        "gid=100");
    CHECK(cache.type == RunMount::Type::cache);
    CHECK(cache.id == "pip-cache_1.0");
    CHECK(cache.sharing == "locked");
    CHECK(cache.mode == 0755u);
    CHECK(cache.uid == 1000u);
    CHECK(cache.gid == 100u);
    CHECK(cache.readwrite);

    auto defaulted = mount_ok("type=cache,destination=/root/.cache");
    CHECK(defaulted.id == "_2froot_2f_2ecache");
    CHECK(defaulted.sharing == "shared");
    CHECK_FALSE(mount_ok("type=cache,target=/c,ro").readwrite);

    auto tmpfs = mount_ok("type=tmpfs,target=/tmp,size=64m");
    CHECK(tmpfs.type == RunMount::Type::tmpfs);
    CHECK(tmpfs.size == 64ull * 1024 * 1024);
    CHECK(tmpfs.readwrite);
    CHECK(mount_ok("type=tmpfs,target=/t,size=1.5g").size == 1536ull * 1024 * 1024);
    CHECK(mount_ok("type=tmpfs,target=/t,size=4096").size == 4096);
    CHECK(mount_ok("type=tmpfs,target=/t,size=2KiB").size == 2048);

    // CSV quoting: a whole field in double quotes may hold a comma.
    auto quoted = mount_ok("type=bind,\"source=a,b\",target=/x");
    CHECK(quoted.source == "a,b");
    CHECK(mount_ok("\"target=/x\"\"y\"").target == "/x\"y");
}

TEST_CASE("dockerfile: run mount rejections (RELIABILITY row 24)", "[engine][dockerfile][mount]") {
    CHECK(contains(mount_error("type=cache,id=../../../../tmp/esc,target=/x"), "invalid cache id"));
    CHECK(contains(mount_error("type=cache,id=a/b,target=/x"), "invalid cache id"));
    CHECK(contains(mount_error("type=cache,id=..,target=/x"), "invalid cache id"));
    CHECK(contains(mount_error("type=cache,id=,target=/x"), "invalid cache id"));
    CHECK(contains(mount_error("type=cache,id=a..b,target=/x"), "invalid cache id"));
    CHECK(contains(mount_error("type=cache,id=a\0b,target=/x"sv), "NUL"));
    CHECK(contains(mount_error("type=bind,source=../../..,target=/x"),
                   "source \"../../..\" climbs out of its root"));
    CHECK(contains(mount_error("type=cache,src=a/../../b,target=/x"), "climbs out"));
    CHECK(contains(mount_error("source=/../etc,target=/x"), "climbs out"));
    CHECK(contains(mount_error("type=bind,target=/x,bind-propagation=rshared,suid"),
                   "unexpected key 'bind-propagation'"));
    CHECK(contains(mount_error("type=secret,id=s,target=/run/secrets/s"),
                   "mount type \"secret\" is not supported by berth"));
    CHECK(contains(mount_error("type=ssh"), "mount type \"ssh\" is not supported by berth"));
    CHECK(contains(mount_error("type=volume,target=/x"), "unsupported mount type \"volume\""));
    CHECK(contains(mount_error("type=bind"), "target is required"));
    CHECK(contains(mount_error("type=cache,target=relative/x"), "must be an absolute path"));
    CHECK(contains(mount_error("target="), "must be an absolute path"));
    CHECK(contains(mount_error("target=/.."), "cannot be the root directory"));
    CHECK(contains(mount_error(""), "empty"));
    CHECK(contains(mount_error("target=/x,suid"), "invalid field 'suid' must be a key=value pair"));
    CHECK(contains(mount_error("target=/x,required"), "invalid field 'required'"));
    CHECK(contains(mount_error("target=/x,rw=maybe"), "invalid value for rw"));
    CHECK(contains(mount_error("type=bind,target=/x,id=a"), "unexpected key 'id'"));
    CHECK(contains(mount_error("type=bind,target=/x,sharing=shared"), "invalid cache sharing"));
    CHECK(contains(mount_error("type=cache,target=/x,sharing=weird"), "unsupported sharing"));
    CHECK(contains(mount_error("type=cache,target=/x,mode=0789"), "invalid value for mode"));
    CHECK(contains(mount_error("type=cache,target=/x,uid=-1"), "invalid value for uid"));
    CHECK(contains(mount_error("type=cache,target=/x,gid=4294967296"), "invalid value for gid"));
    CHECK(contains(mount_error("type=bind,target=/x,mode=0755"), "unexpected key 'mode'"));
    CHECK(contains(mount_error("type=bind,target=/x,size=1m"), "unexpected key 'size'"));
    CHECK(contains(mount_error("type=tmpfs,target=/x,size=lots"), "invalid value for size"));
    CHECK(contains(mount_error("type=tmpfs,target=/x,from=base"), "unexpected key 'from'"));
    CHECK(contains(mount_error("target=/x,source=a\"b"), "bare \""));
    CHECK(contains(mount_error("\"target=/x,rw"), "quoted-field"));
    CHECK(contains(mount_error("target=/x\n,rw"), "newline"));
}

TEST_CASE("dockerfile: a RUN --mount read from a Dockerfile", "[engine][dockerfile][mount]") {
    auto df = parse_ok(
        "FROM a\n"
        "RUN --mount=type=cache,target=/root/.cache/pip,id=pip \\\n"
        "    --mount='type=bind,\"source=a,b\",target=/x' pip install .\n");
    auto flags = check_flags(only(df), {"mount", "network", "security"}, {"mount"});
    REQUIRE(flags);
    const auto& values = flags->at("mount");
    REQUIRE(values.size() == 2);
    auto m0 = parse_run_mount(values[0]);
    REQUIRE(m0);
    CHECK(m0->id == "pip");
    auto m1 = parse_run_mount(values[1]);
    REQUIRE(m1);
    CHECK(m1->source == "a,b");
    CHECK(only(df).text == "pip install .");
}
