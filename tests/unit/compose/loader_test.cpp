// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "compose/loader.hpp"
#include "helpers.hpp"

using namespace berth::compose;
using berth::compose::testing::error_of;
using berth::compose::testing::ProjectDir;
using nlohmann::json;

// ---- project name -------------------------------------------------------------

TEST_CASE("project name: folder name, normalised", "[compose][loader][name]") {
    ProjectDir dir;
    dir.write("My App.Dir/compose.yaml", "services:\n  a: {image: x}\n");
    auto p = dir.load({"My App.Dir/compose.yaml"});
    REQUIRE(p);
    CHECK(p->name == "myappdir");
    CHECK(normalize_project_name("__-Hello_World-1") == "hello_world-1");
}

TEST_CASE("project name: -p over COMPOSE_PROJECT_NAME over name: over folder",
          "[compose][loader][name]") {
    ProjectDir dir;
    dir.write("compose.yaml", "name: fromfile\nservices:\n  a: {image: x}\n");
    CHECK(dir.load()->name == "fromfile");
    CHECK(dir.load({}, {{"COMPOSE_PROJECT_NAME", "fromenv"}})->name == "fromenv");
    LoadOptions o;
    o.project_name = "fromflag";
    CHECK(dir.load({}, {{"COMPOSE_PROJECT_NAME", "fromenv"}}, o)->name == "fromflag");
}

TEST_CASE("project name: an explicit invalid name is an error", "[compose][loader][name]") {
    ProjectDir dir;
    dir.write("compose.yaml", "name: Bad Name\nservices:\n  a: {image: x}\n");
    CHECK_THAT(error_of(dir.load()), Catch::Contains("invalid project name \"Bad Name\""));
}

TEST_CASE("project name: top-level name is interpolated", "[compose][loader][name]") {
    ProjectDir dir;
    dir.write("compose.yaml", "name: app-${ENVNAME:-dev}\nservices:\n  a: {image: x}\n");
    CHECK(dir.load({}, {{"ENVNAME", "prod"}})->name == "app-prod");
    CHECK(dir.load()->name == "app-dev");
}

// ---- files ---------------------------------------------------------------------

TEST_CASE("files: compose.yaml is preferred and its override is merged", "[compose][loader]") {
    ProjectDir dir;
    dir.write("docker-compose.yml", "services:\n  old: {image: old}\n");
    dir.write("compose.yaml", "services:\n  web: {image: base}\n");
    dir.write("compose.override.yaml", "services:\n  web: {image: over}\n");
    auto p = dir.load();
    REQUIRE(p);
    CHECK(p->services.size() == 1);
    CHECK(p->services.at("web").image == "over");
    CHECK(p->config_files.size() == 2);
}

TEST_CASE("files: docker-compose.yml is found in a parent folder", "[compose][loader]") {
    ProjectDir dir;
    dir.write("docker-compose.yml", "services:\n  web: {image: x}\n");
    dir.write("sub/deeper/.keep", "");
    LoadOptions o;
    o.working_directory = dir.path() / "sub" / "deeper";
    o.environment = {{"HOME", "/h"}};
    auto p = load_project(o);
    REQUIRE(p);
    CHECK(p->name == "demo");
}

TEST_CASE("files: COMPOSE_FILE with COMPOSE_PATH_SEPARATOR", "[compose][loader]") {
    ProjectDir dir;
    dir.write("a.yaml", "services:\n  web: {image: a}\n");
    dir.write("b.yaml", "services:\n  web: {image: b}\n  db: {image: db}\n");
    auto p = dir.load({}, {{"COMPOSE_FILE", "a.yaml;b.yaml"}, {"COMPOSE_PATH_SEPARATOR", ";"}});
    REQUIRE(p);
    CHECK(p->services.at("web").image == "b");
    CHECK(p->services.count("db") == 1);
}

TEST_CASE("files: no compose file is not_found", "[compose][loader]") {
    ProjectDir dir;
    auto p = dir.load();
    REQUIRE_FALSE(p);
    CHECK(p.error().code() == berth::Errc::not_found);
}

TEST_CASE("files: obsolete version is ignored with a warning", "[compose][loader]") {
    ProjectDir dir;
    auto p = dir.load_yaml("version: '3.8'\nservices:\n  a: {image: x}\n");
    REQUIRE(p);
    CHECK_FALSE(p->raw.contains("version"));
    REQUIRE(p->warnings.size() == 1);
    CHECK_THAT(p->warnings[0], Catch::Contains("`version` is obsolete"));
}

// ---- environment ---------------------------------------------------------------

TEST_CASE("env: the shell wins over .env", "[compose][loader][env]") {
    ProjectDir dir;
    dir.write(".env", "TAG=fromdotenv\nOTHER=dot\n");
    dir.write("compose.yaml", "services:\n  a: {image: \"x:${TAG}-${OTHER}\"}\n");
    CHECK(dir.load()->services.at("a").image == "x:fromdotenv-dot");
    CHECK(dir.load({}, {{"TAG", "shell"}})->services.at("a").image == "x:shell-dot");
}

TEST_CASE("env: several --env-file, later wins, .env not read", "[compose][loader][env]") {
    ProjectDir dir;
    dir.write(".env", "A=dot\n");
    dir.write("one.env", "A=one\nB=one\n");
    dir.write("two.env", "B=two\n");
    dir.write("compose.yaml", "services:\n  s: {image: \"${A}-${B}\"}\n");
    LoadOptions o;
    o.env_files = {"one.env", "two.env"};
    CHECK(dir.load({}, {}, o)->services.at("s").image == "one-two");
}

TEST_CASE("env: unset variables warn and become empty", "[compose][loader][env]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  s: {image: \"x${NOPE}\"}\n");
    REQUIRE(p);
    CHECK(p->services.at("s").image == "x");
    CHECK_THAT(p->warnings.back(), Catch::Contains("\"NOPE\" variable is not set"));
}

TEST_CASE("env: a required variable names file, line and path", "[compose][loader][env]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  s:\n    image: ${IMAGE:?set IMAGE}\n");
    CHECK(error_of(p) == "compose.yaml:3:12: services.s.image: required variable IMAGE is missing "
                         "a value: set IMAGE");
}

TEST_CASE("env: --no-interpolate keeps the text", "[compose][loader][env]") {
    ProjectDir dir;
    dir.write("compose.yaml", "services:\n  s: {image: \"${IMAGE:?x}\"}\n");
    LoadOptions o;
    o.interpolate = false;
    auto p = dir.load({}, {}, o);
    REQUIRE(p);
    CHECK(p->services.at("s").image == "${IMAGE:?x}");
}

TEST_CASE("env: a literal $ is printed as $$", "[compose][loader][env]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  s: {image: x, environment: {PW: \"a$$b\"}}\n");
    REQUIRE(p);
    CHECK(p->services.at("s").environment.at("PW") == "a$b");
    CHECK(project_to_json(*p)["services"]["s"]["environment"]["PW"] == "a$$b");
}

TEST_CASE("environment: list and map forms, bare keys from the shell", "[compose][loader][env]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n"
                           "  a: {image: x, environment: [A=1, B=, FROMSHELL, MISSING]}\n"
                           "  b: {image: x, environment: {A: 1, B: true, C: null, D: ''}}\n",
                           {{"FROMSHELL", "sh"}});
    REQUIRE(p);
    const auto& a = p->services.at("a").environment;
    CHECK(a.at("A") == "1");
    CHECK(a.at("B") == "");
    CHECK(a.at("FROMSHELL") == "sh");
    CHECK_FALSE(a.at("MISSING").has_value());
    const auto& b = p->services.at("b").environment;
    CHECK(b.at("A") == "1");
    CHECK(b.at("B") == "true");
    CHECK_FALSE(b.at("C").has_value());
    CHECK(b.at("D") == "");
}

TEST_CASE("env_file: merged into environment, environment wins", "[compose][loader][env]") {
    ProjectDir dir;
    dir.write("a.env", "A=from_a\nB=from_a\nC=from_a\n");
    dir.write("b.env", "B=from_b\n");
    auto p = dir.load_yaml("services:\n  s:\n    image: x\n    env_file: [a.env, ./b.env]\n"
                           "    environment: {C: explicit}\n");
    REQUIRE(p);
    const auto& env = p->services.at("s").environment;
    CHECK(env.at("A") == "from_a");
    CHECK(env.at("B") == "from_b");
    CHECK(env.at("C") == "explicit");
    CHECK_FALSE(p->raw["services"]["s"].contains("env_file"));
}

TEST_CASE("env_file: long syntax with required and format", "[compose][loader][env]") {
    ProjectDir dir;
    dir.write("raw.env", "R=\"kept\" # as is\n");
    auto p = dir.load_yaml("services:\n  s:\n    image: x\n    env_file:\n"
                           "      - {path: missing.env, required: false}\n"
                           "      - {path: raw.env, format: raw}\n");
    REQUIRE(p);
    CHECK(p->services.at("s").environment.at("R") == "\"kept\" # as is");
    auto bad = dir.load_yaml("services:\n  s:\n    image: x\n    env_file: missing.env\n");
    CHECK_THAT(error_of(bad), Catch::StartsWith("compose.yaml:4:15: services.s.env_file: env "
                                                "file"));
}

// ---- profiles -------------------------------------------------------------------

TEST_CASE("profiles: services without profiles are always enabled", "[compose][loader][profiles]") {
    ProjectDir dir;
    dir.write("compose.yaml", "services:\n  web: {image: x}\n"
                              "  debug: {image: x, profiles: [dev]}\n"
                              "  tools: {image: x, profiles: [ops, dev]}\n");
    auto none = dir.load();
    REQUIRE(none);
    CHECK(none->services.size() == 1);
    CHECK(none->all_profiles == std::vector<std::string>{"dev", "ops"});
    CHECK(none->disabled_services.size() == 2);
    LoadOptions o;
    o.profiles = {"ops"};
    CHECK(dir.load({}, {}, o)->services.size() == 2);
    CHECK(dir.load({}, {{"COMPOSE_PROFILES", "dev,ops"}})->services.size() == 3);
    CHECK(dir.load({}, {{"COMPOSE_PROFILES", "*"}})->services.size() == 3);
}

TEST_CASE("profiles: depending on a disabled service is an error", "[compose][loader][profiles]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  web: {image: x, depends_on: [db]}\n"
                           "  db: {image: x, profiles: [data]}\n");
    CHECK_THAT(error_of(p), Catch::Contains("depends on undefined service \"db\" (disabled by "
                                            "profiles)"));
}

// ---- merge -------------------------------------------------------------------------

TEST_CASE("merge: scalars replaced, mappings merged, sequences appended", "[compose][loader][merge]") {
    ProjectDir dir;
    dir.write("a.yaml", "services:\n  web:\n    image: a\n    command: [a, b]\n"
                        "    environment: {A: 1, B: 1}\n    cap_add: [NET_ADMIN]\n"
                        "    labels: [x=1]\n");
    dir.write("b.yaml", "services:\n  web:\n    image: b\n    command: c\n"
                        "    environment: [B=2, C=3]\n    cap_add: [NET_ADMIN, SYS_TIME]\n"
                        "    labels: {y: 2}\n");
    auto p = dir.load({"a.yaml", "b.yaml"});
    REQUIRE(p);
    const auto& s = p->services.at("web");
    CHECK(s.image == "b");
    CHECK(*s.command == std::vector<std::string>{"c"});
    CHECK(s.environment.at("A") == "1");
    CHECK(s.environment.at("B") == "2");
    CHECK(s.environment.at("C") == "3");
    CHECK(s.cap_add == std::vector<std::string>{"NET_ADMIN", "SYS_TIME"});
    CHECK(s.labels == std::map<std::string, std::string>{{"x", "1"}, {"y", "2"}});
}

TEST_CASE("merge: ports, volumes and secrets merge by their unique key", "[compose][loader][merge]") {
    ProjectDir dir;
    dir.write("a.yaml", "services:\n  web:\n    image: a\n    ports: ['8080:80', '443:443']\n"
                        "    volumes: ['data:/data', './src:/src']\n    secrets: [s1]\n"
                        "volumes: {data: {}, other: {}}\nsecrets: {s1: {file: ./s}}\n");
    dir.write("b.yaml", "services:\n  web:\n    ports: ['8080:80', '9090:90']\n"
                        "    volumes: ['other:/data:ro']\n    secrets: [{source: s1, mode: 0400}]\n");
    auto p = dir.load({"a.yaml", "b.yaml"});
    REQUIRE(p);
    const auto& s = p->services.at("web");
    REQUIRE(s.ports.size() == 3);
    CHECK(s.ports[2].target == 90);
    REQUIRE(s.volumes.size() == 2);
    CHECK(s.volumes[0].source == "other");
    CHECK(s.volumes[0].read_only);
    REQUIRE(s.secrets.size() == 1);
    CHECK(s.secrets[0].mode == 0400u);
}

TEST_CASE("merge: !reset removes and !override replaces", "[compose][loader][merge]") {
    ProjectDir dir;
    dir.write("a.yaml", "services:\n  web:\n    image: a\n    ports: ['80:80']\n"
                        "    environment: {A: 1, B: 2}\n    command: run\n");
    dir.write("b.yaml", "services:\n  web:\n    ports: !reset []\n"
                        "    environment: !override {C: 3}\n    command: !reset null\n");
    auto p = dir.load({"a.yaml", "b.yaml"});
    REQUIRE(p);
    const auto& s = p->services.at("web");
    CHECK(s.ports.empty());
    CHECK(s.environment.size() == 1);
    CHECK(s.environment.at("C") == "3");
    CHECK_FALSE(s.command.has_value());
}

TEST_CASE("merge: relative paths of every file resolve against the project folder",
          "[compose][loader][merge]") {
    ProjectDir dir;
    dir.write("compose.yaml", "services:\n  web: {build: .}\n");
    dir.write("sub/over.yaml", "services:\n  web: {volumes: ['./data:/data']}\n");
    auto p = dir.load({"compose.yaml", "sub/over.yaml"});
    REQUIRE(p);
    CHECK(p->services.at("web").build->context == dir.path().string());
    CHECK(p->services.at("web").volumes[0].source == (dir.path() / "data").string());
}

// ---- extends and include ----------------------------------------------------------

TEST_CASE("extends: same file and other file, relative paths follow the file",
          "[compose][loader][extends]") {
    ProjectDir dir;
    dir.write("lib/base.yaml", "services:\n  common:\n    image: base\n    build: ./ctx\n"
                               "    environment: {A: base}\n");
    dir.write("compose.yaml", "services:\n"
                              "  web:\n    extends: {file: lib/base.yaml, service: common}\n"
                              "    environment: {B: web}\n"
                              "  worker:\n    extends: web\n    image: worker\n");
    auto p = dir.load();
    REQUIRE(p);
    const auto& web = p->services.at("web");
    CHECK(web.image == "base");
    CHECK(web.build->context == (dir.path() / "lib" / "ctx").string());
    CHECK(web.environment.at("A") == "base");
    CHECK(web.environment.at("B") == "web");
    CHECK(p->services.at("worker").image == "worker");
    CHECK(p->services.at("worker").environment.at("B") == "web");
}

TEST_CASE("extends: a cycle is an error naming the chain", "[compose][loader][extends]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n");
    CHECK_THAT(error_of(p), Catch::Contains("extends cycle (a -> b -> a)"));
    auto self = dir.load_yaml("services:\n  a: {image: x, extends: a}\n");
    CHECK_THAT(error_of(self), Catch::Contains("extends cycle (a -> a)"));
    auto missing = dir.load_yaml("services:\n  a: {image: x, extends: nope}\n");
    CHECK_THAT(error_of(missing), Catch::Contains("cannot extend service \"nope\""));
}

TEST_CASE("include: sub-project with its own folder and env file", "[compose][loader][include]") {
    ProjectDir dir;
    dir.write("inc/compose.yaml", "services:\n  db: {image: \"db:${DBTAG}\", build: .}\n"
                                  "volumes: {dbdata: {}}\n");
    dir.write("inc/.env", "DBTAG=fromincluded\n");
    dir.write("compose.yaml", "include: [inc/compose.yaml]\n"
                              "services:\n  web: {image: x, depends_on: [db]}\n");
    auto p = dir.load();
    REQUIRE(p);
    CHECK(p->services.at("db").image == "db:fromincluded");
    CHECK(p->services.at("db").build->context == (dir.path() / "inc").string());
    CHECK(p->volumes.count("dbdata") == 1);
    CHECK(p->volumes.at("dbdata").name == "demo_dbdata");
}

TEST_CASE("include: a service defined twice and include cycles are errors",
          "[compose][loader][include]") {
    ProjectDir dir;
    dir.write("inc.yaml", "services:\n  web: {image: y}\n");
    auto p = dir.load_yaml("include: [inc.yaml]\nservices:\n  web: {image: x}\n");
    CHECK_THAT(error_of(p), Catch::Contains("conflicts with a service imported by include"));
    dir.write("loop.yaml", "include: [compose.yaml]\nservices:\n  z: {image: z}\n");
    auto loop = dir.load_yaml("include: [loop.yaml]\nservices:\n  a: {image: x}\n");
    CHECK_THAT(error_of(loop), Catch::Contains("include cycle"));
}

// ---- short syntaxes ----------------------------------------------------------------------

TEST_CASE("ports: short syntax with ip, ranges, protocol and IPv6", "[compose][loader][ports]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  s:\n    image: x\n    ports:\n"
                           "      - 80\n      - '8080:80'\n      - '127.0.0.1:8000-8001:90-91/udp'\n"
                           "      - '[::1]:53:53/udp'\n      - '9000-9010:22'\n"
                           "      - {target: 443, published: 8443, host_ip: 0.0.0.0}\n");
    REQUIRE(p);
    const auto& ports = p->services.at("s").ports;
    REQUIRE(ports.size() == 7);
    CHECK(ports[0].target == 80);
    CHECK(ports[0].published.empty());
    CHECK(ports[1].published == "8080");
    CHECK(ports[2].host_ip == "127.0.0.1");
    CHECK(ports[2].published == "8000");
    CHECK(ports[3].published == "8001");
    CHECK(ports[3].target == 91);
    CHECK(ports[3].protocol == "udp");
    CHECK(ports[4].host_ip == "::1");
    CHECK(ports[5].published == "9000-9010");
    CHECK(ports[6].published == "8443");
    CHECK(ports[6].mode == "ingress");
    CHECK(p->raw["services"]["s"]["ports"][1]["published"] == "8080");
}

TEST_CASE("ports: an invalid port names file, line, column and path", "[compose][loader][ports]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  web:\n    image: x\n    ports:\n      - '80:80'\n"
                           "      - '80a'\n");
    CHECK(error_of(p) == "compose.yaml:6:9: services.web.ports[1]: invalid port \"80a\"");
    CHECK_FALSE(dir.load_yaml("services:\n  w:\n    image: x\n    ports: ['70000:80']\n"));
    CHECK_FALSE(dir.load_yaml("services:\n  w:\n    image: x\n    ports: ['80/xyz']\n"));
}

TEST_CASE("volumes: short syntax forms", "[compose][loader][volumes]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  s:\n    image: x\n    volumes:\n"
                           "      - /anon\n      - data:/data:ro,nocopy\n"
                           "      - ./src:/src:z\n      - ~/cache:/cache:rshared\n"
                           "      - type: tmpfs\n        target: /tmp\n        tmpfs: {size: 64m}\n"
                           "volumes: {data: {}}\n");
    REQUIRE(p);
    const auto& v = p->services.at("s").volumes;
    REQUIRE(v.size() == 5);
    CHECK(v[0].type == MountType::volume);
    CHECK(v[0].source.empty());
    CHECK(v[0].target == "/anon");
    CHECK(v[1].source == "data");
    CHECK(v[1].read_only);
    CHECK(v[1].volume_nocopy);
    CHECK(v[2].type == MountType::bind);
    CHECK(v[2].source == (dir.path() / "src").string());
    CHECK(v[2].bind_selinux == "z");
    CHECK(v[2].bind_create_host_path);
    CHECK(v[3].source == "/home/tester/cache");
    CHECK(v[3].bind_propagation == "rshared");
    CHECK(v[4].type == MountType::tmpfs);
    CHECK(v[4].tmpfs_size == 64 * 1024 * 1024);
}

TEST_CASE("volumes: undefined named volume and bad specs are errors", "[compose][loader][volumes]") {
    ProjectDir dir;
    CHECK_THAT(error_of(dir.load_yaml("services:\n  s:\n    image: x\n    volumes: [data:/d]\n")),
               Catch::Contains("services.s.volumes[0]: service \"s\" refers to undefined volume "
                               "data"));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  s:\n    image: x\n    volumes: ['a:b:c:d']\n")),
               Catch::Contains("invalid volume"));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  s:\n    image: x\n    volumes: ['/a:/b:bad']\n")),
               Catch::Contains("unknown option \"bad\""));
}

TEST_CASE("depends_on: short and long syntax with defaults", "[compose][loader][depends]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  a: {image: x, depends_on: [b]}\n"
                           "  b: {image: x, depends_on: {c: {condition: service_healthy, "
                           "restart: true}}}\n  c: {image: x}\n");
    REQUIRE(p);
    const auto& a = p->services.at("a").depends_on.at("b");
    CHECK(a.condition == DependencyCondition::service_started);
    CHECK(a.required);
    const auto& b = p->services.at("b").depends_on.at("c");
    CHECK(b.condition == DependencyCondition::service_healthy);
    CHECK(b.restart);
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a: {image: x, depends_on: [zz]}\n")),
               Catch::Contains("depends on undefined service \"zz\""));
}

TEST_CASE("networks: list form, default network and names", "[compose][loader][networks]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  a: {image: x, networks: [front]}\n  b: {image: x}\n"
                           "  c: {image: x, network_mode: host}\n"
                           "networks:\n  front: {}\n  ext: {external: true}\n"
                           "  named: {name: custom}\n");
    REQUIRE(p);
    CHECK(p->services.at("a").networks.count("front") == 1);
    CHECK(p->services.at("b").networks.count("default") == 1);
    CHECK(p->services.at("c").networks.empty());
    CHECK(p->networks.at("default").name == "demo_default");
    CHECK(p->networks.at("front").name == "demo_front");
    CHECK(p->networks.at("ext").name == "ext");
    CHECK(p->networks.at("ext").external);
    CHECK(p->networks.at("named").name == "custom");
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a: {image: x, networks: [nope]}\n")),
               Catch::Contains("refers to undefined network nope"));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a: {image: x, network_mode: host, networks: "
                                      "[default]}\n")),
               Catch::Contains("mutually exclusive"));
}

TEST_CASE("secrets and configs: short syntax, files resolved, undefined is an error",
          "[compose][loader][secrets]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  a: {image: x, secrets: [pw], configs: [{source: cfg, "
                           "target: /etc/app.conf}]}\n"
                           "secrets: {pw: {file: ./pw.txt}}\n"
                           "configs: {cfg: {content: \"hello\"}}\n");
    REQUIRE(p);
    CHECK(p->services.at("a").secrets[0].source == "pw");
    CHECK(p->secrets.at("pw").file == (dir.path() / "pw.txt").string());
    CHECK(p->secrets.at("pw").name == "demo_pw");
    CHECK(p->configs.at("cfg").content == "hello");
    CHECK(p->services.at("a").configs[0].target == "/etc/app.conf");
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a: {image: x, secrets: [nope]}\n")),
               Catch::Contains("refers to undefined secret nope"));
}

TEST_CASE("healthcheck, ulimits, devices, extra_hosts, command", "[compose][loader][short]") {
    ProjectDir dir;
    auto p = dir.load_yaml(
        "services:\n  a:\n    image: x\n"
        "    healthcheck: {test: curl -f http://x, interval: 1m30s, timeout: 500ms, retries: 3}\n"
        "    ulimits: {nproc: 65535, nofile: {soft: 1024, hard: 2048}}\n"
        "    devices: ['/dev/fuse', '/dev/sda:/dev/xvda:r']\n"
        "    extra_hosts: ['db:10.0.0.1', 'api=10.0.0.2']\n"
        "    command: sh -c 'echo \"hi there\"'\n"
        "    stop_grace_period: 90s\n    mem_limit: 1g\n    cpus: '0.5'\n");
    REQUIRE(p);
    const auto& s = p->services.at("a");
    REQUIRE(s.healthcheck);
    CHECK(s.healthcheck->test == std::vector<std::string>{"CMD-SHELL", "curl -f http://x"});
    CHECK(s.healthcheck->interval == std::chrono::seconds(90));
    CHECK(s.healthcheck->timeout == std::chrono::milliseconds(500));
    CHECK(s.healthcheck->retries == 3u);
    CHECK(s.ulimits.at("nproc").single == 65535);
    CHECK(s.ulimits.at("nofile").hard == 2048);
    CHECK(s.devices[0].target == "/dev/fuse");
    CHECK(s.devices[0].permissions == "rwm");
    CHECK(s.devices[1].permissions == "r");
    CHECK(s.extra_hosts == std::vector<std::string>{"db=10.0.0.1", "api=10.0.0.2"});
    CHECK(*s.command == std::vector<std::string>{"sh", "-c", "echo \"hi there\""});
    CHECK(s.stop_grace_period == std::chrono::seconds(90));
    CHECK(s.mem_limit == 1024LL * 1024 * 1024);
    CHECK(s.cpus == 0.5);
    CHECK(p->raw["services"]["a"]["stop_grace_period"] == "1m30s");
    CHECK(p->raw["services"]["a"]["mem_limit"] == "1073741824");
}

TEST_CASE("durations and byte sizes", "[compose][loader][units]") {
    CHECK(*parse_duration("1h2m3s") == std::chrono::seconds(3723));
    CHECK(*parse_duration("1.5s") == std::chrono::milliseconds(1500));
    CHECK(*parse_duration("0") == Duration{0});
    CHECK_FALSE(parse_duration("10"));
    CHECK_FALSE(parse_duration("5 days"));
    CHECK(format_duration(std::chrono::seconds(90)) == "1m30s");
    CHECK(format_duration(std::chrono::milliseconds(1500)) == "1.5s");
    CHECK(format_duration(std::chrono::hours(2)) == "2h0m0s");
    CHECK(*parse_bytes("2g") == 2LL << 30);
    CHECK(*parse_bytes("512MB") == 512LL << 20);
    CHECK(*parse_bytes("100") == 100);
    CHECK(*parse_bytes("1.5k") == 1536);
    CHECK_FALSE(parse_bytes("12q"));
    ProjectDir dir;
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a:\n    image: x\n    healthcheck: "
                                      "{interval: soon}\n")),
               Catch::Contains("compose.yaml:4:29: services.a.healthcheck.interval: invalid "
                               "duration \"soon\""));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  a:\n    image: x\n    mem_limit: lots\n")),
               Catch::Contains("invalid byte size \"lots\""));
}

// ---- schema errors -----------------------------------------------------------------

TEST_CASE("schema: unknown key suggests the closest one", "[compose][loader][schema]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  web:\n    image: x\n    depnds_on: [db]\n");
    CHECK(error_of(p) == "compose.yaml:4:5: services.web: additional property 'depnds_on' is not "
                         "allowed, did you mean 'depends_on'?");
    auto top = dir.load_yaml("servics:\n  web: {image: x}\n");
    CHECK(error_of(top) == "compose.yaml:1:1: (root): additional property 'servics' is not "
                           "allowed, did you mean 'services'?");
}

TEST_CASE("schema: wrong types and invalid values", "[compose][loader][schema]") {
    ProjectDir dir;
    CHECK(error_of(dir.load_yaml("services:\n  web:\n    image: [x]\n")) ==
          "compose.yaml:3:12: services.web.image: must be a string, not a array");
    CHECK(error_of(dir.load_yaml("services:\n  web:\n    image: x\n    depends_on:\n"
                                 "      db: {condition: service_ready}\n  db: {image: y}\n")) ==
          "compose.yaml:5:23: services.web.depends_on.db.condition: invalid value "
          "\"service_ready\", must be one of \"service_started\", \"service_healthy\", "
          "\"service_completed_successfully\"");
    CHECK_THAT(error_of(dir.load_yaml("services:\n  web:\n    image: x\n    restart: sometimes\n")),
               Catch::Contains("invalid restart policy \"sometimes\""));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  web:\n    image: x\n    cap_add: [A, A]\n")),
               Catch::Contains("services.web.cap_add[1]: duplicate item"));
    CHECK_THAT(error_of(dir.load_yaml("services:\n  web: {build: {context: ., dockerfil: x}}\n")),
               Catch::Contains("did you mean 'dockerfile'?"));
}

TEST_CASE("schema: x- extensions are allowed and kept", "[compose][loader][schema]") {
    ProjectDir dir;
    auto p = dir.load_yaml("x-common: &c {image: shared}\nservices:\n  a:\n    <<: *c\n"
                           "    x-note: hi\n");
    REQUIRE(p);
    CHECK(p->services.at("a").image == "shared");
    CHECK(p->raw["x-common"]["image"] == "shared");
    CHECK(p->raw["services"]["a"]["x-note"] == "hi");
}

TEST_CASE("service without image or build is an error", "[compose][loader]") {
    ProjectDir dir;
    CHECK_THAT(error_of(dir.load_yaml("services:\n  web:\n    ports: ['80:80']\n")),
               Catch::Contains("compose.yaml:2:3: service \"web\" has neither an image nor a "
                               "build context specified"));
}

TEST_CASE("canonical JSON has the docker compose shape", "[compose][loader][output]") {
    ProjectDir dir;
    auto p = dir.load_yaml("services:\n  web:\n    build: .\n    ports: ['8080:80']\n");
    REQUIRE(p);
    json j = project_to_json(*p);
    CHECK(j["name"] == "demo");
    CHECK(j["services"]["web"]["networks"] == json({{"default", nullptr}}));
    CHECK(j["networks"]["default"]["name"] == "demo_default");
    CHECK(j["services"]["web"]["build"]["context"] == dir.path().string());
    CHECK(j["services"]["web"]["build"]["dockerfile"] == "Dockerfile");
    CHECK(j["services"]["web"]["ports"][0] == json({{"mode", "ingress"},
                                                    {"target", 80},
                                                    {"published", "8080"},
                                                    {"protocol", "tcp"}}));
    LoadOptions o;
    o.normalize = false;
    auto raw = dir.load({}, {}, o);
    REQUIRE(raw);
    CHECK_FALSE(raw->raw.contains("networks"));
}

TEST_CASE("config hash: stable, ignores build and depends_on, sees image", "[compose][loader]") {
    ProjectDir dir;
    auto a = dir.load_yaml("services:\n  s: {image: x, depends_on: [d]}\n  d: {image: y}\n");
    auto b = dir.load_yaml("services:\n  s: {image: x}\n  d: {image: y}\n");
    auto c = dir.load_yaml("services:\n  s: {image: z}\n  d: {image: y}\n");
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(config_hash(a->services.at("s")).size() == 64);
    CHECK(config_hash(a->services.at("s")) == config_hash(b->services.at("s")));
    CHECK(config_hash(a->services.at("s")) != config_hash(c->services.at("s")));
}

TEST_CASE("large projects: two-thread loading and printing give the one-thread result",
          "[compose][loader][parallel]") {
    // 100 services (above the two-thread threshold) in a base file and an
    // override, some with a literal $ and an empty mapping; the printed text
    // must be dump()'s, byte for byte, at every indent, escaped or not.
    std::string base = "x-c: &c\n  labels: {team: a}\nservices:\n";
    std::string over = "services:\n";
    for (int i = 0; i < 100; ++i) {
        base += "  s" + std::to_string(i) + ":\n    <<: *c\n    image: img" + std::to_string(i % 7) +
                "\n    environment: {K: \"v" + std::to_string(i) + (i % 10 == 0 ? "$$x" : "") +
                "\"}\n    ports: [\"" + std::to_string(8000 + i) + ":80\"]\n";
        if (i % 3 == 0) {
            over += "  s" + std::to_string(i) + ": {command: [\"sh\", \"-c\", \"echo " +
                    std::to_string(i) + "\"], sysctls: {}}\n";
        }
    }
    base += "volumes:\n  data: {}\nnetworks:\n  front: {}\n";
    ProjectDir dir;
    dir.write("compose.yaml", base);
    dir.write("override.yaml", over);
    auto p = dir.load({"compose.yaml", "override.yaml"});
    REQUIRE(p);
    REQUIRE(p->services.size() == 100);
    CHECK(p->services.at("s0").environment.at("K") == "v0$x");
    CHECK(p->services.at("s3").command == std::vector<std::string>{"sh", "-c", "echo 3"});
    CHECK(p->services.at("s99").labels.at("team") == "a");
    for (bool escape : {true, false}) {
        for (int indent : {2, 4}) {
            INFO("escape " << escape << ", indent " << indent);
            CHECK(project_json_text(*p, escape, indent) == project_to_json(*p, escape).dump(indent));
        }
    }
    CHECK(project_json_text(*p, true, -1) == project_to_json(*p, true).dump());
    // A schema error in the second half of the services is reported as the
    // one-thread check reports it: the first error, with its file and line.
    std::string bad_text = base;
    bad_text.insert(bad_text.find("volumes:"), "  zz:\n    image: x\n    ports: {not: a list}\n");
    dir.write("bad.yaml", bad_text);
    auto bad = dir.load({"bad.yaml"});
    REQUIRE(!bad);
    CHECK(error_of(bad).find("bad.yaml:") != std::string::npos);
    INFO(error_of(bad));
    CHECK(error_of(bad).find("services.zz.ports") != std::string::npos);
}
