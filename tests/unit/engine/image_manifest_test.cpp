// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "common/digest.hpp"
#include "engine/images/manifest.hpp"

using namespace berth::engine::images;
using nlohmann::json;

namespace {

std::string dg(char c) {
    return "sha256:" + std::string(64, c);
}

json manifest_doc() {
    return json{{"schemaVersion", 2},
                {"mediaType", media::oci_manifest},
                {"config", {{"mediaType", media::oci_config}, {"digest", dg('c')}, {"size", 10}}},
                {"layers",
                 {{{"mediaType", media::oci_layer_gzip}, {"digest", dg('1')}, {"size", 100}},
                  {{"mediaType", media::oci_layer_zstd}, {"digest", dg('2')}, {"size", 200}}}}};
}

}  // namespace

TEST_CASE("manifest: OCI and Docker schema2 manifests parse", "[engine][images]") {
    auto m = parse_manifest(manifest_doc().dump());
    REQUIRE(m);
    CHECK(m->config.digest == dg('c'));
    REQUIRE(m->layers.size() == 2);
    CHECK(m->layers[1].size == 200);
    auto kind = document_kind(manifest_doc().dump());
    REQUIRE(kind);
    CHECK(*kind == DocumentKind::manifest);

    auto d = manifest_doc();
    d["mediaType"] = media::docker_manifest;
    d["config"]["mediaType"] = media::docker_config;
    d["layers"][0]["mediaType"] = media::docker_layer_gzip;
    d["layers"][1]["mediaType"] = media::docker_layer_gzip;
    CHECK(parse_manifest(d.dump()));
}

TEST_CASE("manifest: hostile or malformed manifests are refused", "[engine][images]") {
    auto bad = [](auto mutate) {
        auto d = manifest_doc();
        mutate(d);
        return parse_manifest(d.dump());
    };
    CHECK_FALSE(parse_manifest("not json"));
    CHECK_FALSE(parse_manifest("[]"));
    CHECK_FALSE(bad([](json& d) { d["schemaVersion"] = 1; }));
    CHECK_FALSE(bad([](json& d) { d["layers"][0]["size"] = -1; }));
    CHECK_FALSE(bad([](json& d) { d["layers"][0]["size"] = 9223372036854775807LL; }));
    CHECK_FALSE(bad([](json& d) { d["layers"][0]["size"] = 18446744073709551615ULL; }));
    CHECK_FALSE(bad([](json& d) { d["layers"][0]["size"] = "12"; }));
    CHECK_FALSE(bad([](json& d) { d["layers"][0]["digest"] = "sha256:zz"; }));
    CHECK_FALSE(bad([](json& d) { d["config"].erase("digest"); }));
    auto unknown = bad([](json& d) { d["layers"][0]["mediaType"] = "application/x-evil"; });
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message().find("unknown layer media type") != std::string::npos);
    auto artifact = bad([](json& d) { d["config"]["mediaType"] = "application/vnd.cncf.helm"; });
    REQUIRE_FALSE(artifact);
    CHECK(artifact.error().code() == berth::Errc::unsupported);
    CHECK_FALSE(bad([](json& d) {
        d["layers"] = json::array();
        for (size_t i = 0; i < max_layers + 1; ++i) {
            d["layers"].push_back(
                {{"mediaType", media::oci_layer}, {"digest", dg('1')}, {"size", 1}});
        }
    }));
}

TEST_CASE("manifest: schema1 and unknown media types are unsupported", "[engine][images]") {
    auto s1 = document_kind(R"({"schemaVersion":1,"name":"x","fsLayers":[]})");
    REQUIRE_FALSE(s1);
    CHECK(s1.error().code() == berth::Errc::unsupported);
    auto odd = document_kind(R"({"schemaVersion":2,"mediaType":"application/x-odd"})");
    REQUIRE_FALSE(odd);
    CHECK(odd.error().code() == berth::Errc::unsupported);
    auto idx = document_kind(R"({"schemaVersion":2,"manifests":[]})");
    REQUIRE(idx);
    CHECK(*idx == DocumentKind::index);
}

TEST_CASE("index: platform selection", "[engine][images]") {
    json idx = {{"schemaVersion", 2},
                {"mediaType", media::oci_index},
                {"manifests",
                 {{{"mediaType", media::oci_manifest},
                   {"digest", dg('a')},
                   {"size", 1},
                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
                  {{"mediaType", media::oci_manifest},
                   {"digest", dg('b')},
                   {"size", 1},
                   {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}},
                  {{"mediaType", media::oci_manifest},
                   {"digest", dg('d')},
                   {"size", 1},
                   {"platform", {{"os", "unknown"}, {"architecture", "unknown"}}}}}}};
    auto parsed = parse_index(idx.dump());
    REQUIRE(parsed);
    auto amd = select_platform(*parsed, Platform{"linux", "amd64", ""});
    REQUIRE(amd);
    CHECK(amd->digest == dg('a'));
    auto arm = parse_platform("linux/arm64");
    REQUIRE(arm);
    auto a = select_platform(*parsed, *arm);
    REQUIRE(a);
    CHECK(a->digest == dg('b'));
    auto none = select_platform(*parsed, Platform{"linux", "s390x", ""});
    REQUIRE_FALSE(none);
    CHECK(none.error().code() == berth::Errc::not_found);
    CHECK(none.error().message().find("linux/s390x") != std::string::npos);
    CHECK(none.error().message().find("linux/amd64") != std::string::npos);
    CHECK_FALSE(parse_platform("linux"));
    CHECK_FALSE(parse_platform("a/b/c/d"));
}

TEST_CASE("config: fields and types", "[engine][images]") {
    json cfg = {{"architecture", "amd64"},
                {"os", "linux"},
                {"created", "2024-01-01T00:00:00Z"},
                {"config",
                 {{"Env", {"A=1"}},
                  {"Cmd", {"sh"}},
                  {"Entrypoint", nullptr},
                  {"WorkingDir", "/w"},
                  {"User", "1000"},
                  {"StopSignal", "SIGINT"},
                  {"Labels", {{"k", "v"}}},
                  {"ExposedPorts", {{"80/tcp", json::object()}}},
                  {"Volumes", {{"/data", json::object()}}},
                  {"Healthcheck", {{"Test", {"CMD", "true"}}}}}},
                {"rootfs", {{"type", "layers"}, {"diff_ids", {dg('1')}}}},
                {"history", json::array()}};
    auto pc = parse_config(cfg.dump());
    REQUIRE(pc);
    CHECK(pc->config.env == std::vector<std::string>{"A=1"});
    CHECK(pc->config.entrypoint.empty());
    CHECK(pc->config.working_dir == "/w");
    CHECK(pc->config.stop_signal == "SIGINT");
    CHECK(pc->config.labels.at("k") == "v");
    CHECK(pc->config.exposed_ports.count("80/tcp") == 1);
    CHECK(pc->config.volumes.count("/data") == 1);
    CHECK(pc->config.healthcheck["Test"][1] == "true");
    CHECK(pc->diff_ids.size() == 1);
    auto back = to_json(pc->config);
    CHECK(back["Cmd"][0] == "sh");
    CHECK(back["ExposedPorts"].contains("80/tcp"));

    auto broken = cfg;
    broken["config"]["Env"] = 5;
    CHECK_FALSE(parse_config(broken.dump()));
    broken = cfg;
    broken.erase("rootfs");
    CHECK_FALSE(parse_config(broken.dump()));
    broken = cfg;
    broken["rootfs"]["diff_ids"] = {"nope"};
    CHECK_FALSE(parse_config(broken.dump()));
    CHECK_FALSE(parse_config("{"));
}

TEST_CASE("chain ids follow the OCI definition", "[engine][images]") {
    std::string a = dg('1');
    std::string b = dg('2');
    CHECK(chain_id("", a) == a);
    CHECK(chain_id(a, b) == berth::Digest::of(a + " " + b).str());
    CHECK(layer_compression(media::oci_layer_zstd).value() == Compression::zstd);
    CHECK(layer_compression(media::docker_layer_gzip).value() == Compression::gzip);
    CHECK_FALSE(layer_compression("application/vnd.oci.image.layer.v1.tar+bzip2"));
}
