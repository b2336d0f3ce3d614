// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "volumes/mount_spec.hpp"

using namespace berth;
using namespace berth::volumes;

namespace {
std::string err_of(const Result<MountSpec>& r) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_argument);
    return r.error().message();
}
}  // namespace

TEST_CASE("flag -v parses binds, named and anonymous volumes", "[volumes]") {
    auto bind = parse_volume_flag("/host/dir:/data:ro,rshared");
    REQUIRE(bind);
    CHECK(bind->type == MountType::bind);
    CHECK(bind->source == "/host/dir");
    CHECK(bind->target == "/data");
    CHECK(bind->read_only);
    CHECK(bind->propagation == Propagation::rshared);
    CHECK(bind->create_host_path);

    auto named = parse_volume_flag("mydata:/var/lib/db:nocopy");
    REQUIRE(named);
    CHECK(named->type == MountType::volume);
    CHECK(named->source == "mydata");
    CHECK(named->nocopy);
    CHECK_FALSE(named->read_only);

    auto anon = parse_volume_flag("/cache");
    REQUIRE(anon);
    CHECK(anon->anonymous());
    CHECK(anon->target == "/cache");

    auto z = parse_volume_flag("/a:/b:z,cached");
    REQUIRE(z);
    CHECK(z->selinux_label == "z");
    CHECK(z->consistency == "cached");
}

TEST_CASE("flag -v rejects what Docker rejects, with Docker's words", "[volumes]") {
    CHECK(err_of(parse_volume_flag("/foo:rw")) == "invalid volume specification: '/foo:rw'");
    CHECK(err_of(parse_volume_flag(":/x")) == "invalid volume specification: ':/x'");
    CHECK(err_of(parse_volume_flag("a:b:c:d")) == "invalid volume specification: 'a:b:c:d'");
    CHECK(err_of(parse_volume_flag("/a:/b:ro,rw")) == "invalid mode: ro,rw");
    CHECK(err_of(parse_volume_flag("/a:/b:bogus")) == "invalid mode: bogus");
    CHECK(err_of(parse_volume_flag("/a:/")) ==
          "invalid mount config for type \"bind\": invalid specification: destination can't be '/'");
    CHECK(err_of(parse_volume_flag("/a:rel")) ==
          "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be "
          "absolute");
    // A relative host path is not a bind: it is an invalid volume name.
    auto rel = err_of(parse_volume_flag("./data:/x"));
    CHECK(rel.find("create ./data: \"./data\" includes invalid characters for a local volume name") ==
          0);
    CHECK(rel.find("use absolute path") != std::string::npos);
    CHECK(err_of(parse_volume_flag("x:/y")) ==
          "create x: volume name is too short, names should be at least two alphanumeric "
          "characters");
    CHECK(err_of(parse_volume_flag("vol:/y:rshared")).find("BindOptions") != std::string::npos);
}

TEST_CASE("compose short syntax resolves ./ against the project directory", "[volumes]") {
    auto m = parse_volume_flag("./conf/../site:/usr/share/html:ro", "/srv/proj");
    REQUIRE(m);
    CHECK(m->type == MountType::bind);
    CHECK(m->source == "/srv/proj/site");
    CHECK(m->read_only);
    CHECK(m->create_host_path);
    auto named = parse_volume_flag("dbdata:/db", "/srv/proj");
    REQUIRE(named);
    CHECK(named->type == MountType::volume);
}

TEST_CASE("flag --mount parses every type and Docker's keys", "[volumes]") {
    auto b = parse_mount_flag("type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave");
    REQUIRE(b);
    CHECK(b->type == MountType::bind);
    CHECK(b->read_only);
    CHECK(b->propagation == Propagation::rslave);
    CHECK_FALSE(b->create_host_path);

    auto v = parse_mount_flag(
        "source=vol1,target=/data,volume-nocopy,volume-subpath=sub/dir,volume-label=a=b,"
        "volume-opt=type=tmpfs,ro=false");
    REQUIRE(v);
    CHECK(v->type == MountType::volume);
    CHECK(v->nocopy);
    CHECK(v->subpath == "sub/dir");
    CHECK(v->volume_labels.at("a") == "b");
    CHECK(v->volume_options.at("type") == "tmpfs");
    CHECK_FALSE(v->read_only);

    auto t = parse_mount_flag("type=tmpfs,destination=/run,tmpfs-size=64m,tmpfs-mode=1777");
    REQUIRE(t);
    CHECK(t->tmpfs_size == 64u * 1024 * 1024);
    CHECK(t->tmpfs_mode == 01777);

    auto quoted = parse_mount_flag("type=volume,\"volume-opt=o=size=1m,uid=5\",target=/q");
    REQUIRE(quoted);
    CHECK(quoted->volume_options.at("o") == "size=1m,uid=5");
}

TEST_CASE("flag --mount errors", "[volumes]") {
    CHECK(err_of(parse_mount_flag("type=bind,source=/a")) == "target is required");
    CHECK(err_of(parse_mount_flag("type=bind,target=/a,foo=bar")) ==
          "unexpected key 'foo' in 'foo=bar'");
    CHECK(err_of(parse_mount_flag("type=bind,target=/a,weird")) ==
          "invalid field 'weird' must be a key=value pair");
    CHECK(err_of(parse_mount_flag("type=tmpfs,target=/a,volume-nocopy")) ==
          "cannot mix 'volume-*' options with mount type 'tmpfs'");
    CHECK(err_of(parse_mount_flag("type=volume,target=/a,bind-propagation=shared")) ==
          "cannot mix 'bind-*' options with mount type 'volume'");
    CHECK(err_of(parse_mount_flag("type=bind,target=/a")) ==
          "invalid mount config for type \"bind\": field Source must not be empty");
    CHECK(err_of(parse_mount_flag("type=tmpfs,target=/a,tmpfs-size=lots")) ==
          "invalid value for tmpfs-size: lots");
    CHECK(err_of(parse_mount_flag("type=tmpfs,target=/a,tmpfs-mode=999")) ==
          "invalid value for tmpfs-mode: 999");
    CHECK(err_of(parse_mount_flag("type=nfs,target=/a")) ==
          "invalid mount config for type \"nfs\": mount type unknown");
    CHECK(err_of(parse_mount_flag("type=volume,target=/a,readonly")) ==
          "invalid mount config for type \"volume\": must not set ReadOnly mode when using "
          "anonymous volumes");
    CHECK(err_of(parse_mount_flag("src=v1,target=/a,volume-subpath=../up")) ==
          "invalid mount config for type \"volume\": subpath must be a relative path within the "
          "volume");
    CHECK(err_of(parse_mount_flag("type=bind,src=/a,target=/b,ro=maybe")) ==
          "invalid value for ro: maybe");
}

TEST_CASE("flag --tmpfs parses size, mode and other options", "[volumes]") {
    auto t = parse_tmpfs_flag("/run:rw,noexec,nosuid,size=65536k,mode=1770,uid=1000");
    REQUIRE(t);
    CHECK(t->type == MountType::tmpfs);
    CHECK(t->target == "/run");
    CHECK(t->tmpfs_size == 65536u * 1024);
    CHECK(t->tmpfs_mode == 01770);
    CHECK(t->tmpfs_options == std::vector<std::string>{"noexec", "nosuid", "uid=1000"});
    CHECK(parse_tmpfs_flag("/plain"));
    CHECK(err_of(parse_tmpfs_flag("/x:bogus")) == "invalid tmpfs option [\"bogus\"]");
    CHECK(err_of(parse_tmpfs_flag("/x:size=big")) == "invalid tmpfs option [\"size=big\"]");
    CHECK(err_of(parse_tmpfs_flag("rel")).find("must be absolute") != std::string::npos);
}

TEST_CASE("byte sizes follow Docker's units", "[volumes]") {
    CHECK(parse_byte_size("100").value() == 100);
    CHECK(parse_byte_size("1k").value() == 1024);
    CHECK(parse_byte_size("1.5m").value() == 1572864);
    CHECK(parse_byte_size("2GiB").value() == 2147483648ull);
    CHECK(parse_byte_size("3 MB").value() == 3145728);
    CHECK_FALSE(parse_byte_size(""));
    CHECK_FALSE(parse_byte_size("m"));
    CHECK_FALSE(parse_byte_size("1.2.3"));
    CHECK_FALSE(parse_byte_size("1x"));
    CHECK_FALSE(parse_byte_size("99999999999p"));
}

TEST_CASE("validate_mounts refuses two mounts on one target", "[volumes]") {
    std::vector<MountSpec> mounts{parse_volume_flag("/a:/data").value(),
                                  parse_tmpfs_flag("/data/").value()};
    auto r = validate_mounts(mounts);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "Duplicate mount point: /data");
    mounts.pop_back();
    mounts.push_back(parse_tmpfs_flag("/data2").value());
    CHECK(validate_mounts(mounts));
}

TEST_CASE("container paths are cleaned without leaving /", "[volumes]") {
    CHECK(clean_container_path("/a/./b/../c/") == "/a/c");
    CHECK(clean_container_path("/../../etc") == "/etc");
    CHECK(clean_container_path("/proc/../../root") == "/root");
    CHECK(clean_container_path("//") == "/");
}

#include "volumes/mount_plan.hpp"

TEST_CASE("image VOLUME paths stay inside the rootfs and yield to explicit mounts", "[volumes]") {
    std::vector<MountSpec> own{parse_volume_flag("named:/data").value()};
    std::vector<std::string> image{"/data", "/../../../../etc", "/proc/../../root", "/cache/"};
    auto m = image_volume_mounts(image, own);
    REQUIRE(m);
    REQUIRE(m->size() == 3);
    CHECK((*m)[0].target == "/cache");
    CHECK((*m)[1].target == "/etc");
    CHECK((*m)[2].target == "/root");
    for (const auto& v : *m) {
        CHECK(v.anonymous());
    }
    std::vector<std::string> bad{"relative"};
    CHECK_FALSE(image_volume_mounts(bad, own));
    std::vector<std::string> root{"/.."};
    CHECK_FALSE(image_volume_mounts(root, own));
}

TEST_CASE("volumes_from inherits binds and volumes with the given mode", "[volumes]") {
    auto vf = parse_volumes_from("db:ro");
    REQUIRE(vf);
    CHECK(vf->container == "db");
    CHECK(vf->read_only == true);
    CHECK(parse_volumes_from("container:web")->container == "web");
    CHECK_FALSE(parse_volumes_from("web:rx"));
    CHECK_FALSE(parse_volumes_from(":ro"));
    std::vector<MountSpec> other{parse_volume_flag("dbdata:/var/lib/db").value(),
                                 parse_volume_flag("/etc/app:/conf").value(),
                                 parse_tmpfs_flag("/tmp").value()};
    std::vector<MountSpec> own{parse_volume_flag("/x:/conf").value()};
    auto got = inherit_mounts(other, *vf, own);
    REQUIRE(got.size() == 1);
    CHECK(got[0].source == "dbdata");
    CHECK(got[0].read_only);
    CHECK(got[0].nocopy);
}
