// SPDX-License-Identifier: Apache-2.0
#pragma once

// The Dockerfile parser (Docker's Dockerfile reference): pure, no I/O.
//
// Two steps, as Docker does them. parse_dockerfile() turns the text into
// instructions (parser directives, escape character, comments, line
// continuations, exec/JSON and shell forms, heredocs, `--flag` options) grouped
// into stages. Variable substitution happens later, at build time, with the
// ARG/ENV values in scope at that step: the builder calls ShellWord functions
// (expand_word / split_words) on the raw text of the instructions that allow
// substitution. The typed helpers at the end (key=value pairs, RUN --mount,
// flags) validate each instruction's own syntax and report the line.
//
// Every error is Errc::invalid_argument with "PATH:LINE: message", where PATH
// is the `path` given to the parser.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::engine::build {

enum class Keyword {
    from, run, cmd, label, maintainer, expose, env, add, copy, entrypoint, volume, user,
    workdir, arg, onbuild, stopsignal, healthcheck, shell
};

/// "FROM", "RUN", ... (upper case).
[[nodiscard]] std::string_view keyword_name(Keyword k);

/// One here-document attached to an instruction (`RUN <<EOF`, `COPY <<a.txt /dst`).
struct Heredoc {
    std::string name;     ///< the delimiter word, unquoted ("EOF", "a.txt")
    std::string content;  ///< the lines between, each ending in "\n" (tabs stripped for <<-)
    bool expand = true;   ///< false when the delimiter was quoted ('EOF' or "EOF")
    bool chomp_tabs = false;  ///< `<<-`
};

/// One `--name=value` option before the arguments (`COPY --from=build`).
/// A bare `--name` has value "" and has_value false.
struct Flag {
    std::string name;   ///< without the dashes
    std::string value;
    bool has_value = false;
};

/// One instruction as written, before variable substitution.
struct Instruction {
    Keyword keyword{};
    int line = 0;      ///< 1-based line of the keyword
    int end_line = 0;  ///< last line (continuations and heredoc bodies included)
    std::vector<Flag> flags;
    /// The arguments after the flags, continuation lines joined (the escape
    /// character and newline removed, as Docker joins them), comment lines
    /// inside the continuation dropped, leading/trailing whitespace trimmed.
    std::string text;
    /// The exec form: set when `text` is a valid JSON array of strings (only
    /// for RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD, VOLUME, and HEALTHCHECK's
    /// CMD part is left in text). Otherwise nullopt: the shell form.
    std::optional<std::vector<std::string>> exec;
    std::vector<Heredoc> heredocs;
    /// The instruction as Docker prints it in `history` / build output:
    /// keyword, flags and joined text on one line ("RUN --mount=... echo hi").
    std::string original;
    /// ONBUILD only: the wrapped instruction.
    std::vector<Instruction> onbuild;
};

/// One stage: FROM and what follows up to the next FROM.
struct Stage {
    std::string base;      ///< the FROM image text, unexpanded ("busybox", "${BASE}", "scratch")
    std::string name;      ///< the AS name, lower-cased; "" when none
    std::string platform;  ///< --platform value, unexpanded; "" when none
    int line = 0;          ///< line of the FROM
    std::string original;  ///< the FROM instruction text as written
    std::vector<Instruction> body;  ///< instructions after FROM, in order
};

struct Dockerfile {
    std::string path;                  ///< as given, for messages
    char escape = '\\';                ///< from the `# escape=` directive
    std::string syntax;                ///< `# syntax=` directive, recorded only
    std::vector<Instruction> meta_args;  ///< ARG instructions before the first FROM
    std::vector<Stage> stages;
};

/// Parses a Dockerfile. Errors (with path:line): unknown instruction, an
/// instruction before the first FROM other than ARG, no FROM at all, an
/// unterminated heredoc, an empty instruction that needs arguments, a flag
/// with an empty name, an instruction that cannot be an ONBUILD trigger
/// (FROM, ONBUILD, MAINTAINER inside ONBUILD).
[[nodiscard]] Result<Dockerfile> parse_dockerfile(std::string_view text, const std::string& path);

// ---- variable substitution (Docker's shell-word rules) ----

/// Looks a variable up; nullopt when not set.
using VarLookup = std::function<std::optional<std::string>(std::string_view)>;

/// Expands one word as Docker does for ENV, ARG, LABEL, COPY, WORKDIR, ...:
/// `$var`, `${var}`, `${var:-word}`, `${var-word}`, `${var:+word}`,
/// `${var+word}`, `${var:?msg}` / `${var?msg}` (an error), nested words;
/// single quotes literal, double quotes allow substitution, both removed; the
/// escape character quotes the next character (`\$` is a literal `$`).
/// An unset variable expands to "". Errors carry no position (the caller
/// prefixes path:line).
[[nodiscard]] Result<std::string> expand_word(std::string_view word, const VarLookup& lookup,
                                              char escape = '\\');

/// Splits `text` on unquoted whitespace and expands each word like
/// expand_word (quotes removed). `"a b" c` -> {"a b", "c"}.
[[nodiscard]] Result<std::vector<std::string>> split_words(std::string_view text,
                                                           const VarLookup& lookup,
                                                           char escape = '\\');

// ---- typed helpers over one instruction ----

/// ENV/LABEL/ARG pairs, expanded: `k=v k2="v 2"`, and the legacy `ENV k v w`
/// form (value = rest of the line) for ENV and LABEL with a single key. For
/// ARG a bare `name` has no value (nullopt).
struct KeyValue {
    std::string key;
    std::optional<std::string> value;
};
[[nodiscard]] Result<std::vector<KeyValue>> parse_key_values(const Instruction& inst,
                                                             const VarLookup& lookup,
                                                             char escape = '\\');

/// Checks that every flag of `inst` is in `allowed` (names without dashes)
/// and appears at most once unless listed in `repeatable`. Error:
/// "unknown flag: --foo" / "duplicate flag: --foo" (no position; caller adds).
/// The result maps each flag name to its values in order; a bare `--name`
/// contributes "" (see Instruction::flags for has_value).
[[nodiscard]] Result<std::map<std::string, std::vector<std::string>>>
check_flags(const Instruction& inst, const std::vector<std::string_view>& allowed,
            const std::vector<std::string_view>& repeatable = {});

/// One `RUN --mount=...` option, validated (RELIABILITY.md section 2 row 24).
struct RunMount {
    enum class Type { bind, cache, tmpfs } type = Type::bind;
    std::string target;   ///< absolute, cleaned, required
    std::string source;   ///< bind/cache: path inside `from` (or the context), cleaned,
                          ///< relative, never climbing out; "" = its root
    std::string from;     ///< bind/cache: stage name, stage index or image; "" = context
    bool readwrite = false;  ///< bind: `rw` (writes are discarded after the step);
                             ///< true by default for cache and tmpfs (`ro` clears it)
    std::string id;       ///< cache: a plain name ([A-Za-z0-9._-], no "..", not empty after
                          ///< defaulting to target); never a path. Without `id=`
                          ///< it is derived from the target: each byte outside
                          ///< [A-Za-z0-9-] as "_xx" ("/root/.cache" -> "_2froot_2f_2ecache")
    std::string sharing = "shared";  ///< cache: shared|private|locked
    std::optional<unsigned> mode, uid, gid;  ///< cache: ownership of a new cache dir
    uint64_t size = 0;    ///< tmpfs: bytes, 0 = default
};
/// Parses one --mount value ("type=cache,target=/root/.cache,id=x"). Unknown
/// keys (bind-propagation included), unknown types (secret and ssh are
/// refused with "not supported by berth"), a relative or missing target, a
/// source or id that climbs out: errors naming the key.
[[nodiscard]] Result<RunMount> parse_run_mount(std::string_view value);

}  // namespace berth::engine::build
