// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "common/fs.hpp"
#include "schema/validator.hpp"

using namespace berth::schema;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// Where Debian's json-schema-test-suite keeps the draft 7 tests.
fs::path suite_dir() {
    for (const char* p : {"/usr/share/json-schema-test-suite/tests/draft7",
                          "/usr/share/json-schema-test-suite/draft7"}) {
        if (fs::is_directory(p)) {
            return p;
        }
    }
    return {};
}

/// Test files for the keywords the validator implements (the compose schema
/// uses a subset of them).
const std::vector<std::string> keyword_files = {
    "additionalItems", "additionalProperties", "allOf",        "anyOf",
    "boolean_schema",  "const",                "contains",     "default",
    "definitions",     "dependencies",         "enum",         "exclusiveMaximum",
    "exclusiveMinimum", "if-then-else",        "items",        "maxItems",
    "maxLength",       "maxProperties",        "maximum",      "minItems",
    "minLength",       "minProperties",        "minimum",      "multipleOf",
    "not",             "oneOf",                "pattern",      "patternProperties",
    "properties",      "propertyNames",        "ref",          "required",
    "type",            "uniqueItems"};

/// Groups that need features outside the subset: remote or id-based
/// references, and ECMAScript regex details std::regex lacks.
bool unsupported(const json& group) {
    std::string text = group["schema"].dump();
    return text.find("\"$id\"") != std::string::npos || text.find("http") != std::string::npos;
}

}  // namespace

TEST_CASE("validator passes the JSON-Schema-Test-Suite for its keywords", "[schema]") {
    fs::path dir = suite_dir();
    REQUIRE_FALSE(dir.empty());
    int passed = 0;
    int skipped = 0;
    for (const auto& name : keyword_files) {
        auto text = berth::fs::read_file(dir / (name + ".json"));
        REQUIRE(text);
        json groups = json::parse(*text);
        for (const auto& group : groups) {
            if (unsupported(group)) {
                ++skipped;
                continue;
            }
            auto v = Validator::create(group["schema"]);
            INFO(name << ": " << group["description"].get<std::string>());
            REQUIRE(v);
            for (const auto& t : group["tests"]) {
                INFO(t["description"].get<std::string>() << " data=" << t["data"].dump());
                CHECK(v->is_valid(t["data"]) == t["valid"].get<bool>());
                ++passed;
            }
        }
    }
    CHECK(passed >= 400);
    CHECK(skipped < 20);
}

TEST_CASE("validator: errors carry the instance path and the key", "[schema]") {
    auto v = Validator::create(json::parse(R"({
        "type": "object",
        "properties": {"ports": {"type": "array", "items": {"type": "integer"}},
                       "depends_on": {}},
        "additionalProperties": false
    })"));
    REQUIRE(v);
    auto errs = v->validate(json::parse(R"({"ports": [1, "x"], "depnds_on": 1})"));
    REQUIRE(errs.size() == 2);
    std::set<std::string> paths;
    for (const auto& e : errs) {
        paths.insert(e.dotted_path() + " " + e.message);
    }
    CHECK(paths.count("ports[1] must be a integer, not a string") == 1);
    CHECK(paths.count("(root) additional property 'depnds_on' is not allowed, did you mean "
                      "'depends_on'?") == 1);
}

TEST_CASE("validator: oneOf reports the branch whose type matched", "[schema]") {
    auto v = Validator::create(json::parse(R"({
        "oneOf": [{"type": "string"},
                  {"type": "object", "properties": {"a": {"type": "integer"}}}]
    })"));
    REQUIRE(v);
    auto errs = v->validate(json::parse(R"({"a": "x"})"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].dotted_path() == "a");
    auto errs2 = v->validate(json(3));
    REQUIRE(errs2.size() == 1);
    CHECK(errs2[0].message == "must be a object or string, not a integer");
}

TEST_CASE("validator: bad schemas are rejected at creation", "[schema]") {
    CHECK_FALSE(Validator::create(json::parse(R"({"pattern": "("})")));
    CHECK_FALSE(Validator::create(json::parse(R"({"$ref": "#/definitions/nope"})")));
}

TEST_CASE("closest_match finds plausible typos only", "[schema]") {
    std::vector<std::string> keys = {"depends_on", "image", "environment", "ports"};
    CHECK(closest_match("depnds_on", keys) == "depends_on");
    CHECK(closest_match("imgae", keys) == "image");
    CHECK(closest_match("enviroment", keys) == "environment");
    CHECK_FALSE(closest_match("zzzzzz", keys));
}

TEST_CASE("the embedded compose schema compiles and accepts a full service", "[schema]") {
    auto parsed = json::parse(compose_schema_text());
    CHECK(parsed["$schema"] == "http://json-schema.org/draft-07/schema#");
    const Validator& v = compose_validator();
    json doc = json::parse(R"({
        "name": "demo",
        "services": {"web": {
            "image": "nginx", "ports": ["80:80", {"target": 443, "published": "8443"}],
            "depends_on": {"db": {"condition": "service_healthy"}},
            "environment": ["A=1"], "labels": {"a": "b"}, "volumes": ["data:/data"],
            "healthcheck": {"test": ["CMD", "true"], "interval": "10s"},
            "deploy": {"replicas": 2, "resources": {"limits": {"memory": "1g"}}},
            "x-ext": {"anything": true}
        }, "db": {"build": {"context": ".", "args": {"A": 1}}}},
        "volumes": {"data": null}, "networks": {"n": {"driver": "bridge"}},
        "secrets": {"s": {"file": "./s"}}, "x-top": 1
    })");
    auto errs = v.validate(doc);
    for (const auto& e : errs) {
        UNSCOPED_INFO(e.dotted_path() << ": " << e.message);
    }
    CHECK(errs.empty());
    doc["services"]["web"]["imgae"] = "x";
    CHECK_FALSE(v.is_valid(doc));
}
