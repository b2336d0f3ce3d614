// SPDX-License-Identifier: Apache-2.0
// pull, push, login and logout (top level and under `image`).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/registry.hpp"
#include "engine/images/store.hpp"

namespace berth::cli {

namespace im = engine::images;

namespace {

constexpr int exit_image_error = 1;

/// Renders registry progress: on a terminal one line per layer, redrawn in
/// place; otherwise one plain line per state change.
class ProgressView {
public:
    explicit ProgressView(bool quiet) : quiet_(quiet), tty_(::isatty(1) != 0) {}

    void on(const im::Progress& p) {
        if (quiet_ || p.kind == im::Progress::Kind::resolved) {
            return;
        }
        std::string status;
        switch (p.kind) {
        case im::Progress::Kind::exists:
            status = "Already exists";
            break;
        case im::Progress::Kind::waiting:
            status = "Pulling fs layer";
            break;
        case im::Progress::Kind::downloading:
            status = fmt::format("Downloading {}/{}", human_size(static_cast<double>(p.current)),
                                 human_size(static_cast<double>(p.total)));
            break;
        case im::Progress::Kind::downloaded:
            status = "Pull complete";
            break;
        case im::Progress::Kind::pushing:
            status = p.current == 0 ? "Preparing"
                                    : fmt::format("Pushing {}/{}",
                                                  human_size(static_cast<double>(p.current)),
                                                  human_size(static_cast<double>(p.total)));
            break;
        case im::Progress::Kind::pushed:
            status = "Pushed";
            break;
        case im::Progress::Kind::mounted:
            status = "Mounted from another repository";
            break;
        case im::Progress::Kind::resolved:
            return;
        }
        if (!tty_) {
            if (p.kind != im::Progress::Kind::downloading &&
                !(p.kind == im::Progress::Kind::pushing && p.current != 0)) {
                std::printf("%s: %s\n", p.id.c_str(), status.c_str());
                std::fflush(stdout);
            }
            return;
        }
        auto it = index_.find(p.id);
        if (it == index_.end()) {
            index_[p.id] = lines_.size();
            lines_.push_back(p.id + ": " + status);
            std::printf("%s\n", lines_.back().c_str());
        } else {
            lines_[it->second] = p.id + ": " + status;
            size_t up = lines_.size() - it->second;
            std::printf("\x1b[%zuA\r\x1b[2K%s\x1b[%zuB\r", up, lines_[it->second].c_str(), up);
        }
        std::fflush(stdout);
    }

private:
    bool quiet_;
    bool tty_;
    std::map<std::string, size_t> index_;
    std::vector<std::string> lines_;
};

struct RegistryFlags {
    std::vector<std::string> insecure;
    std::string platform;
    bool quiet = false;
};

Result<im::RegistryOptions> options_of(const RegistryFlags& f) {
    im::RegistryOptions o;
    o.insecure_registries = f.insecure;
    if (const char* env = std::getenv("BERTH_INSECURE_REGISTRIES"); env != nullptr) {
        std::string s(env);
        size_t start = 0;
        while (start < s.size()) {
            auto comma = s.find(',', start);
            o.insecure_registries.push_back(s.substr(start, comma - start));
            start = comma == std::string::npos ? s.size() : comma + 1;
        }
    }
    if (!f.platform.empty()) {
        auto p = im::parse_platform(f.platform);
        if (!p) {
            return std::move(p).error();
        }
        o.platform = *p;
    }
    if (const char* c = std::getenv("BERTH_PUSH_CHUNK_SIZE"); c != nullptr && std::atoll(c) > 0) {
        o.chunk_size = std::atoll(c);
    }
    return o;
}

void define_pull(CLI::App* cmd, Context& ctx) {
    auto ref = std::make_shared<std::string>();
    auto f = std::make_shared<RegistryFlags>();
    cmd->add_option("image", *ref, "NAME[:TAG|@DIGEST]")->required();
    cmd->add_option("--platform", f->platform, "Pull this platform (os/arch[/variant])");
    cmd->add_flag("-q,--quiet", f->quiet, "Suppress verbose output");
    cmd->add_option("--insecure-registry", f->insecure, "Allow plain HTTP to this registry");
    cmd->callback([=, &ctx] {
        auto o = options_of(*f);
        if (!o) {
            ctx.exit_code = report(o.error(), exit_image_error);
            return;
        }
        auto parsed = im::parse_reference(*ref);
        if (!parsed) {
            ctx.exit_code = report(parsed.error(), exit_image_error);
            return;
        }
        auto view = std::make_shared<ProgressView>(f->quiet);
        o->progress = [view](const im::Progress& p) { view->on(p); };
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        if (!f->quiet) {
            if (ref->find(':') == std::string::npos && ref->find('@') == std::string::npos) {
                std::printf("Using default tag: latest\n");
            }
            std::printf("%s: Pulling from %s\n",
                        parsed->tag.empty() ? parsed->digest.c_str() : parsed->tag.c_str(),
                        parsed->path.c_str());
            std::fflush(stdout);
        }
        auto r = im::pull(*store, *ref, *o);
        if (!r) {
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        std::string shown = im::familiar(parsed->full());
        if (!f->quiet) {
            std::printf("Digest: %s\n", r->digest.c_str());
            std::printf("Status: %s for %s\n",
                        r->downloaded ? "Downloaded newer image" : "Image is up to date",
                        shown.c_str());
        }
        std::printf("%s\n", parsed->full().c_str());
        ctx.exit_code = 0;
    });
}

void define_push(CLI::App* cmd, Context& ctx) {
    auto ref = std::make_shared<std::string>();
    auto f = std::make_shared<RegistryFlags>();
    cmd->add_option("image", *ref, "NAME[:TAG]")->required();
    cmd->add_flag("-q,--quiet", f->quiet, "Suppress verbose output");
    cmd->add_option("--insecure-registry", f->insecure, "Allow plain HTTP to this registry");
    cmd->callback([=, &ctx] {
        auto o = options_of(*f);
        if (!o) {
            ctx.exit_code = report(o.error(), exit_image_error);
            return;
        }
        auto parsed = im::parse_reference(*ref);
        if (!parsed) {
            ctx.exit_code = report(parsed.error(), exit_image_error);
            return;
        }
        auto view = std::make_shared<ProgressView>(f->quiet);
        o->progress = [view](const im::Progress& p) { view->on(p); };
        auto store = im::ImageStore::open(ctx.paths());
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        if (!f->quiet) {
            std::printf("The push refers to repository [%s]\n",
                        im::familiar(parsed->name()).c_str());
            std::fflush(stdout);
        }
        auto r = im::push(*store, *ref, *o);
        if (!r) {
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        if (!f->quiet) {
            std::printf("%s: digest: %s size: %lld\n",
                        parsed->tag.empty() ? "latest" : parsed->tag.c_str(), r->digest.c_str(),
                        static_cast<long long>(r->size));
        }
        ctx.exit_code = 0;
    });
}

}  // namespace

void add_image_registry_commands(CLI::App& app, CLI::App& image, Context& ctx) {
    define_pull(app.add_subcommand("pull", "Download an image from a registry"), ctx);
    define_push(app.add_subcommand("push", "Upload an image to a registry"), ctx);
    define_pull(image.add_subcommand("pull", "Download an image from a registry"), ctx);
    define_push(image.add_subcommand("push", "Upload an image to a registry"), ctx);

    auto* login = app.add_subcommand("login", "Log in to a registry");
    auto server = std::make_shared<std::string>();
    auto user = std::make_shared<std::string>();
    auto password = std::make_shared<std::string>();
    auto from_stdin = std::make_shared<bool>(false);
    auto lf = std::make_shared<RegistryFlags>();
    login->add_option("server", *server, "Registry host (default Docker Hub)");
    login->add_option("-u,--username", *user, "Username");
    login->add_option("-p,--password", *password, "Password");
    login->add_flag("--password-stdin", *from_stdin, "Take the password from stdin");
    login->add_option("--insecure-registry", lf->insecure, "Allow plain HTTP to this registry");
    login->callback([=, &ctx] {
        auto o = options_of(*lf);
        if (!o) {
            ctx.exit_code = report(o.error(), exit_image_error);
            return;
        }
        std::string pw = *password;
        if (*from_stdin) {
            std::getline(std::cin, pw);
            while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) {
                pw.pop_back();
            }
        } else if (!password->empty()) {
            std::fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use "
                                 "--password-stdin.\n");
        }
        if (user->empty() || pw.empty()) {
            ctx.exit_code = report(Error(Errc::invalid_argument,
                                         "login needs --username and a password "
                                         "(--password-stdin)"),
                                   exit_image_error);
            return;
        }
        auto r = im::login(server->empty() ? "docker.io" : *server, *user, pw, *o);
        if (!r) {
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        std::printf("Login Succeeded\n");
        ctx.exit_code = 0;
    });

    auto* logout = app.add_subcommand("logout", "Log out from a registry");
    auto out_server = std::make_shared<std::string>();
    logout->add_option("server", *out_server, "Registry host (default Docker Hub)");
    logout->callback([=, &ctx] {
        std::string s = out_server->empty() ? "docker.io" : *out_server;
        auto r = im::logout(s, im::RegistryOptions{});
        if (!r && r.error().code() != Errc::not_found) {
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        std::printf("Removing login credentials for %s\n", im::auth_key(s).c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace berth::cli
