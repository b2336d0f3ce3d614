// SPDX-License-Identifier: Apache-2.0
// The Dockerfile parser, then the per-instruction helpers the builder runs on
// its output: shell-word expansion, key=value pairs and RUN --mount values.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/assert.hpp"
#include "engine/build/dockerfile.hpp"
#include "engine/build/dockerignore.hpp"

namespace {

using namespace berth::engine::build;

void exercise(const Instruction& inst, const VarLookup& lookup, char escape) {
    BERTH_ASSERT(inst.line >= 1 && inst.end_line >= inst.line);
    (void)expand_word(inst.text, lookup, escape);
    auto words = split_words(inst.text, lookup, escape);
    if (words) {
        for (const auto& w : *words) {
            BERTH_ASSERT(!w.empty());
        }
    }
    if (inst.keyword == Keyword::env || inst.keyword == Keyword::label ||
        inst.keyword == Keyword::arg) {
        auto kvs = parse_key_values(inst, lookup, escape);
        if (kvs) {
            for (const auto& kv : *kvs) {
                BERTH_ASSERT(!kv.key.empty());
            }
        }
    }
    for (const auto& f : inst.flags) {
        BERTH_ASSERT(!f.name.empty());
        if (f.name != "mount") {
            continue;
        }
        auto m = parse_run_mount(f.value);
        if (!m) {
            continue;
        }
        // The security invariants of RELIABILITY.md row 24.
        BERTH_ASSERT(!m->target.empty() && m->target.front() == '/' && m->target != "/");
        BERTH_ASSERT(m->source.empty() || m->source.front() != '/');
        BERTH_ASSERT(m->source != ".." && m->source.rfind("../", 0) != 0);
        if (m->type == RunMount::Type::cache) {
            BERTH_ASSERT(!m->id.empty());
            BERTH_ASSERT(m->id.find('/') == std::string::npos);
            BERTH_ASSERT(m->id.find("..") == std::string::npos);
        }
    }
    for (const auto& h : inst.heredocs) {
        BERTH_ASSERT(!h.name.empty());
        BERTH_ASSERT(h.content.empty() || h.content.back() == '\n');
    }
    for (const auto& inner : inst.onbuild) {
        exercise(inner, lookup, escape);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    VarLookup lookup = [](std::string_view k) -> std::optional<std::string> {
        if (k == "A") {
            return std::string("alpha");
        }
        if (k == "B") {
            return std::string("b b/..//x");
        }
        if (k == "EMPTY") {
            return std::string();
        }
        return std::nullopt;
    };
    auto df = parse_dockerfile(text, "Dockerfile");
    if (df) {
        BERTH_ASSERT(!df->stages.empty());
        BERTH_ASSERT(df->escape == '\\' || df->escape == '`');
        for (const auto& a : df->meta_args) {
            BERTH_ASSERT(a.keyword == Keyword::arg);
            exercise(a, lookup, df->escape);
        }
        for (const auto& st : df->stages) {
            BERTH_ASSERT(!st.base.empty());
            for (const auto& inst : st.body) {
                BERTH_ASSERT(inst.keyword != Keyword::from);
                exercise(inst, lookup, df->escape);
            }
        }
    }
    // The same bytes as a mount value and as a .dockerignore file.
    (void)parse_run_mount(text);
    auto ignore = DockerIgnore::parse(text, ".dockerignore");
    if (ignore) {
        (void)ignore->excluded("a/b/c.txt");
        (void)ignore->may_include_below("a/b");
    }
    return 0;
}
