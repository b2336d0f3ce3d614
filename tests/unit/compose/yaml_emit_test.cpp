// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "compose/yaml_emit.hpp"
#include "compose/yaml_tree.hpp"
#include "helpers.hpp"

using namespace berth::compose;
using nlohmann::json;

namespace {

json reparse(const std::string& yaml) {
    auto docs = parse_yaml(yaml, "out.yaml");
    REQUIRE(docs);
    REQUIRE(docs->size() == 1);
    auto j = to_json(docs->front());
    REQUIRE(j);
    return *j;
}

}  // namespace

TEST_CASE("yaml output reads back to the same JSON", "[compose][yaml_emit]") {
    json v = json::parse(R"({
        "strings": ["8080", "true", "null", "", "yes", "a: b", "#x", "- y", " lead", "x #y",
                    "multi\nline", "tab\there", "ok", "1.5", "0x1F", "~", "*star", "&amp"],
        "numbers": [1, -2, 3.5, 0],
        "bools": [true, false],
        "nothing": null,
        "empty_obj": {}, "empty_list": [],
        "nested": [{"a": 1, "b": [1, 2], "c": {"d": "e"}}, [1, [2, 3]], {}],
        "key with: colon": "v", "123": "numeric key"
    })");
    std::string yaml = to_yaml(v);
    CHECK(reparse(yaml) == v);
}

TEST_CASE("config yaml of a loaded project reads back identically", "[compose][yaml_emit]") {
    testing::ProjectDir dir;
    auto p = dir.load_yaml("services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n"
                           "    environment: {A: '1', PW: 'a$$b'}\n"
                           "    command: [sh, -c, 'echo \"x: y\"']\n");
    REQUIRE(p);
    json j = project_to_json(*p);
    CHECK(reparse(to_yaml(j)) == j);
}
