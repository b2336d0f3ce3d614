// SPDX-License-Identifier: Apache-2.0
// Walks the public compose corpus (../shared/corpus/compose) and checks every
// line of every expect.txt against the loader's canonical JSON. The format is
// described in the corpus README.md.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "compose/loader.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace berth::compose;

namespace {

struct Run {
    int line = 0;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::vector<std::pair<std::string, std::string>> checks;  // (key, rest) in order
    std::optional<std::string> error;
};

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    std::string w;
    while (in >> w) {
        out.push_back(w);
    }
    return out;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

std::vector<Run> parse_expect(const std::string& text) {
    std::vector<Run> runs(1);
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        if (line == "---") {
            runs.emplace_back();
            continue;
        }
        Run& r = runs.back();
        if (r.line == 0) {
            r.line = n;
        }
        auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        std::string key = line.substr(0, colon);
        std::string rest = trim(line.substr(colon + 1));
        if (key == "args") {
            r.args = words(rest);
        } else if (key == "env") {
            for (const auto& kv : words(rest)) {
                auto eq = kv.find('=');
                r.env[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
            }
        } else if (key == "error") {
            r.error = rest;
        } else {
            r.checks.emplace_back(key, rest);
        }
    }
    return runs;
}

LoadOptions options_for(const Run& r, const fs::path& dir, const std::string& home) {
    LoadOptions o;
    o.working_directory = dir;
    o.environment = r.env;
    o.environment["HOME"] = home;
    for (std::size_t i = 0; i < r.args.size(); ++i) {
        const std::string& a = r.args[i];
        auto next = [&]() {
            REQUIRE(i + 1 < r.args.size());
            return r.args[++i];
        };
        if (a == "-f" || a == "--file") {
            o.files.emplace_back(next());
        } else if (a == "--env-file") {
            o.env_files.emplace_back(next());
        } else if (a == "-p" || a == "--project-name") {
            o.project_name = next();
        } else if (a == "--profile") {
            o.profiles.push_back(next());
        } else if (a == "--project-directory") {
            o.project_directory = next();
        } else {
            FAIL("unknown argument in expect.txt: " << a);
        }
    }
    return o;
}

/// The value at a dotted path with [i] indexes, or nullptr.
const json* at_path(const json& root, const std::string& path) {
    const json* cur = &root;
    std::size_t i = 0;
    while (i < path.size() && cur) {
        if (path[i] == '.') {
            ++i;
            continue;
        }
        if (path[i] == '[') {
            auto close = path.find(']', i);
            std::size_t idx = std::stoul(path.substr(i + 1, close - i - 1));
            cur = cur->is_array() && idx < cur->size() ? &(*cur)[idx] : nullptr;
            i = close + 1;
            continue;
        }
        auto end = path.find_first_of(".[", i);
        std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
        cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
        i = end == std::string::npos ? path.size() : end;
    }
    return cur;
}

std::string render(const json* v) {
    if (!v || v->is_null()) {
        return "null";
    }
    if (v->is_string()) {
        return v->get<std::string>();
    }
    return v->dump();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
        s.replace(p, from.size(), to);
    }
    return s;
}

}  // namespace

TEST_CASE("every corpus project loads and matches its expect.txt", "[compose][corpus]") {
    fs::path corpus = fs::path(BERTH_SHARED_DIR) / "corpus" / "compose";
    REQUIRE(fs::is_directory(corpus));
    corpus = fs::canonical(corpus);
    const char* h = std::getenv("HOME");
    std::string home = h ? h : "/root";
    std::vector<fs::path> expects;
    for (const auto& e : fs::recursive_directory_iterator(corpus)) {
        if (e.path().filename() == "expect.txt") {
            expects.push_back(e.path());
        }
    }
    std::sort(expects.begin(), expects.end());
    REQUIRE(expects.size() >= 40);
    int runs_checked = 0;
    int lines_checked = 0;
    for (const auto& exp : expects) {
        fs::path dir = exp.parent_path();
        auto text = berth::fs::read_file(exp);
        REQUIRE(text);
        auto runs = parse_expect(*text);
        for (const auto& run : runs) {
            if (run.line == 0) {
                continue;
            }
            INFO(exp.string() << ":" << run.line);
            auto project = load_project(options_for(run, dir, home));
            ++runs_checked;
            if (run.error) {
                CHECK_FALSE(project.has_value());
                if (!project) {
                    // The message names the file.
                    CHECK(project.error().message().find(".y") != std::string::npos);
                    if (run.error->rfind("dependency cycle", 0) == 0) {
                        CHECK_THAT(project.error().message(),
                                   Catch::Contains(*run.error));
                    }
                }
                ++lines_checked;
                continue;
            }
            if (!project) {
                FAIL_CHECK(project.error().message());
                continue;
            }
            json j = project_to_json(*project);
            for (const auto& [key, rest] : run.checks) {
                ++lines_checked;
                std::string expected = replace_all(replace_all(rest, "<DIR>", dir.string()),
                                                   "<HOME>", home);
                if (key == "name") {
                    CHECK(render(at_path(j, "name")) == expected);
                } else if (key == "services") {
                    std::string got;
                    for (const auto& [k, v] : j["services"].items()) {
                        got += (got.empty() ? "" : " ") + k;
                    }
                    CHECK(got == expected);
                } else {
                    auto eq = expected.find('=');
                    REQUIRE(eq != std::string::npos);
                    std::string path = expected.substr(0, eq);
                    std::string value = expected.substr(eq + 1);
                    if (path == "build.context") {
                        fs::path p = value == "." ? dir : dir / value;
                        value = p.lexically_normal().string();
                        while (value.size() > 1 && value.back() == '/') {
                            value.pop_back();
                        }
                    }
                    const json* got = at_path(j["services"][key], path);
                    INFO(key << ": " << path);
                    if (!value.empty() && value[0] == '[') {
                        REQUIRE(got != nullptr);
                        CHECK(*got == json::parse(value));
                    } else {
                        CHECK(render(got) == value);
                    }
                }
            }
        }
    }
    CHECK(runs_checked >= 50);
    CHECK(lines_checked >= 250);
}
