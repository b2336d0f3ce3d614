// SPDX-License-Identifier: Apache-2.0
// load, save and import (top level and under `image`).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>
#include <memory>

#include "cli/commands.hpp"
#include "common/digest.hpp"
#include "common/fs.hpp"
#include "engine/images/archive.hpp"
#include "engine/images/store.hpp"

namespace berth::cli {

namespace im = engine::images;

namespace {

constexpr int exit_image_error = 1;

Result<im::Platform> platform_of(const std::string& text) {
    if (text.empty()) {
        return im::host_platform();
    }
    return im::parse_platform(text);
}

void define_load(CLI::App* cmd, Context& ctx) {
    auto input = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    auto platform = std::make_shared<std::string>();
    cmd->add_option("-i,--input", *input, "Read from tar archive file, instead of STDIN");
    cmd->add_flag("-q,--quiet", *quiet, "Suppress the load output");
    cmd->add_option("--platform", *platform, "Load only the given platform of an index");
    cmd->callback([=, &ctx] {
        auto plat = platform_of(*platform);
        if (!plat) {
            ctx.exit_code = report(plat.error(), exit_image_error);
            return;
        }
        UniqueFd owned;
        int fd = 0;
        if (!input->empty() && *input != "-") {
            auto f = fs::open(*input, O_RDONLY);
            if (!f) {
                ctx.exit_code = report(f.error(), exit_image_error);
                return;
            }
            owned = std::move(*f);
            fd = owned.get();
        } else if (::isatty(0) != 0) {
            ctx.exit_code = report(Error(Errc::invalid_argument,
                                         "requested load from stdin, but stdin is empty"),
                                   exit_image_error);
            return;
        }
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        auto lines = im::load_archive(*store, fd, *plat);
        if (!lines) {
            ctx.exit_code = report(lines.error(), exit_image_error);
            return;
        }
        if (!*quiet) {
            for (const auto& l : *lines) {
                std::printf("%s\n", l.c_str());
            }
        }
        ctx.exit_code = 0;
    });
}

void define_save(CLI::App* cmd, Context& ctx) {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto output = std::make_shared<std::string>();
    cmd->add_option("images", *refs, "Images to save")->required();
    cmd->add_option("-o,--output", *output, "Write to a file, instead of STDOUT");
    cmd->callback([=, &ctx] {
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        if (output->empty() || *output == "-") {
            if (::isatty(1) != 0) {
                ctx.exit_code = report(
                    Error(Errc::invalid_argument,
                          "cowardly refusing to save to a terminal. Use the -o flag or redirect"),
                    exit_image_error);
                return;
            }
            auto r = im::save_archive(*store, *refs, 1);
            ctx.exit_code = r ? 0 : report(r.error(), exit_image_error);
            return;
        }
        // Written to a temp file next to the target, renamed when complete, so
        // an interrupted save never leaves a truncated archive under its name.
        std::filesystem::path target(*output);
        auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
        auto tmp = dir / fmt::format(".{}.tmp-{}", target.filename().native(), random_hex_id(8));
        auto f = fs::open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (!f) {
            ctx.exit_code = report(f.error(), exit_image_error);
            return;
        }
        auto r = im::save_archive(*store, *refs, f->get());
        if (r && ::fsync(f->get()) != 0) {
            int err = errno;
            r = Error::from_errno(err, fmt::format("write {}", tmp.native()));
        }
        f->reset();
        if (r && ::rename(tmp.c_str(), target.c_str()) != 0) {
            int err = errno;
            r = Error::from_errno(err, fmt::format("write {}", target.native()));
        }
        if (!r) {
            ::unlink(tmp.c_str());
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        ctx.exit_code = 0;
    });
}

void define_import(CLI::App* cmd, Context& ctx) {
    auto source = std::make_shared<std::string>();
    auto repo = std::make_shared<std::string>();
    auto opts = std::make_shared<im::ImportOptions>();
    auto platform = std::make_shared<std::string>();
    cmd->add_option("file", *source, "A rootfs tarball (plain, gzip or zstd), or - for STDIN")
        ->required();
    cmd->add_option("repository", *repo, "REPOSITORY[:TAG] for the new image");
    cmd->add_option("-c,--change", opts->changes, "Apply Dockerfile instruction to the image");
    cmd->add_option("-m,--message", opts->message, "Set commit message for imported image");
    cmd->add_option("--platform", *platform, "Set platform if server is multi-platform capable");
    cmd->callback([=, &ctx] {
        auto plat = platform_of(*platform);
        if (!plat) {
            ctx.exit_code = report(plat.error(), exit_image_error);
            return;
        }
        im::ImportOptions o = *opts;
        o.platform = *plat;
        o.source = *source;
        o.tag = *repo;
        UniqueFd owned;
        int fd = 0;
        if (*source != "-") {
            auto f = fs::open(*source, O_RDONLY);
            if (!f) {
                ctx.exit_code = report(f.error(), exit_image_error);
                return;
            }
            owned = std::move(*f);
            fd = owned.get();
        }
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        auto img = im::import_rootfs(*store, fd, o);
        if (!img) {
            ctx.exit_code = report(img.error(), exit_image_error);
            return;
        }
        std::printf("%s\n", img->id.c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace

void add_image_transfer_commands(CLI::App& app, CLI::App& image, Context& ctx) {
    define_load(app.add_subcommand("load", "Load an image from a tar archive or STDIN"), ctx);
    define_save(app.add_subcommand("save", "Save one or more images to a tar archive"), ctx);
    define_import(app.add_subcommand("import", "Import the contents from a tarball to create a "
                                               "filesystem image"),
                  ctx);
    define_load(image.add_subcommand("load", "Load an image from a tar archive or STDIN"), ctx);
    define_save(image.add_subcommand("save", "Save one or more images to a tar archive"), ctx);
    define_import(image.add_subcommand("import", "Import the contents from a tarball to create a "
                                                 "filesystem image"),
                  ctx);
}

}  // namespace berth::cli
