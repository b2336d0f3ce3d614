// SPDX-License-Identifier: Apache-2.0
// images, image ls/inspect/rm/prune/history/tag, and the top-level tag, rmi
// and history, with Docker's flags and output.
#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "engine/containers/store.hpp"
#include "engine/images/reference.hpp"
#include "engine/images/store.hpp"

namespace berth::cli {

// The transfer and registry commands live in cmd_image_transfer.cpp and
// cmd_image_registry.cpp; both add to `image` and to the top level.
void add_image_transfer_commands(CLI::App& app, CLI::App& image, Context& ctx);
void add_image_registry_commands(CLI::App& app, CLI::App& image, Context& ctx);

/// The images containers use, from the container records (wired here, in
/// the CLI, so that the images layer never reads container state itself).
engine::images::ImageUsersFn image_users(const Paths& paths);

using nlohmann::json;
namespace im = engine::images;

namespace {

/// Docker returns 1 for daemon-side failures of the image commands.
constexpr int exit_image_error = 1;

std::string short_hex(const std::string& id) {
    auto pos = id.find(':');
    return id.substr(pos == std::string::npos ? 0 : pos + 1, 12);
}

std::string created_since(const std::string& created) {
    double t = parse_time(created);
    if (t <= 0) {
        return "N/A";
    }
    return human_duration(now_seconds() - t) + " ago";
}

/// "2024-01-01 10:00:00 +0000 UTC", as Docker prints CreatedAt.
std::string created_at(const std::string& created) {
    double t = parse_time(created);
    if (t <= 0) {
        return "";
    }
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm {};
    ::gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    return buf;
}

Result<im::ImageStore> open_store(const Context& ctx) {
    return im::ImageStore::open(ctx.paths());
}

/// A reference split for the REPOSITORY and TAG columns.
std::pair<std::string, std::string> split_tag(const std::string& qualified) {
    std::string fam = im::familiar(qualified);
    auto colon = fam.rfind(':');
    auto slash = fam.rfind('/');
    if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
        return {fam, "<none>"};
    }
    return {fam.substr(0, colon), fam.substr(colon + 1)};
}

struct ListOptions {
    bool all = false;
    bool quiet = false;
    bool no_trunc = false;
    bool digests = false;
    std::vector<std::string> filters;
    std::string format;
    std::vector<std::string> repo;
};

/// One row of `images`: an image under one of its tags (or <none>).
struct Row {
    const im::Image* image;
    std::string repository;
    std::string tag;
    std::string digest;
};

Result<bool> filter_match(const std::vector<std::string>& filters, const Row& row,
                          const std::map<std::string, const im::Image*>& by_ref) {
    for (const auto& f : filters) {
        auto eq = f.find('=');
        if (eq == std::string::npos) {
            return Error(Errc::invalid_argument, fmt::format("bad format of filter (expected "
                                                             "name=value): {}", f));
        }
        std::string key = f.substr(0, eq);
        std::string value = f.substr(eq + 1);
        if (key == "dangling") {
            bool want = value == "true" || value == "1";
            if (want != row.image->repo_tags.empty()) {
                return false;
            }
        } else if (key == "reference") {
            std::string full = row.repository + ":" + row.tag;
            if (::fnmatch(value.c_str(), row.repository.c_str(), 0) != 0 &&
                ::fnmatch(value.c_str(), full.c_str(), 0) != 0) {
                return false;
            }
        } else if (key == "label") {
            auto leq = value.find('=');
            const auto& labels = row.image->config.labels;
            auto it = labels.find(value.substr(0, leq));
            if (it == labels.end() ||
                (leq != std::string::npos && it->second != value.substr(leq + 1))) {
                return false;
            }
        } else if (key == "before" || key == "since") {
            auto ref = by_ref.find(value);
            if (ref == by_ref.end()) {
                return Error(Errc::not_found, fmt::format("No such image: {}", value));
            }
            const auto& other = ref->second->created;
            bool ok = key == "before" ? row.image->created < other : row.image->created > other;
            if (!ok) {
                return false;
            }
        } else {
            return Error(Errc::invalid_argument, fmt::format("invalid filter '{}'", key));
        }
    }
    return true;
}

int run_list(Context& ctx, const ListOptions& o) {
    auto store = open_store(ctx);
    if (!store) {
        return report(store.error(), exit_image_error);
    }
    auto images = store->list();
    if (!images) {
        return report(images.error(), exit_image_error);
    }
    std::map<std::string, const im::Image*> by_ref;
    for (const auto& img : *images) {
        by_ref[img.id] = &img;
        by_ref[short_hex(img.id)] = &img;
        for (const auto& t : img.repo_tags) {
            by_ref[im::familiar(t)] = &img;
            by_ref[t] = &img;
        }
    }
    std::vector<Row> rows;
    for (const auto& img : *images) {
        // The digest shown on a row is the repo digest of that row's repository.
        auto digest_for = [&](const std::string& repo) -> std::string {
            for (const auto& d : img.repo_digests) {
                auto at = d.find('@');
                if (repo.empty() || im::familiar(d.substr(0, at)) == repo) {
                    return d.substr(at + 1);
                }
            }
            return "<none>";
        };
        if (img.repo_tags.empty()) {
            if (img.intermediate && !o.all) {
                continue;  // a build step's image (Docker hides intermediate images too)
            }
            rows.push_back({&img, "<none>", "<none>", digest_for({})});
            continue;
        }
        for (const auto& t : img.repo_tags) {
            auto [repo, tag] = split_tag(t);
            rows.push_back({&img, repo, tag, digest_for(repo)});
        }
    }
    std::vector<Row> shown;
    std::vector<std::string> filters = o.filters;
    if (!o.repo.empty()) {
        filters.push_back("reference=" + o.repo.front());
    }
    for (const auto& r : rows) {
        auto ok = filter_match(filters, r, by_ref);
        if (!ok) {
            return report(ok.error(), exit_image_error);
        }
        if (*ok) {
            shown.push_back(r);
        }
    }
    auto id_of = [&](const im::Image& img) { return o.no_trunc ? img.id : short_hex(img.id); };
    if (o.quiet) {
        std::set<std::string> seen;
        for (const auto& r : shown) {
            if (seen.insert(r.image->id).second) {
                std::printf("%s\n", id_of(*r.image).c_str());
            }
        }
        return 0;
    }
    auto row_json = [&](const Row& r) {
        return json{{"Containers", "N/A"},
                    {"CreatedAt", created_at(r.image->created)},
                    {"CreatedSince", created_since(r.image->created)},
                    {"Digest", r.digest},
                    {"ID", id_of(*r.image)},
                    {"Repository", r.repository},
                    {"SharedSize", "N/A"},
                    {"Size", human_size(static_cast<double>(r.image->size))},
                    {"Tag", r.tag},
                    {"UniqueSize", "N/A"},
                    {"VirtualSize", human_size(static_cast<double>(r.image->size))}};
    };
    if (!o.format.empty() && o.format != "table") {
        bool table = false;
        std::string tmpl = strip_table_prefix(o.format, table);
        for (const auto& r : shown) {
            auto line = render_format(tmpl, row_json(r));
            if (!line) {
                return report(line.error(), exit_image_error);
            }
            std::printf("%s\n", line->c_str());
        }
        return 0;
    }
    std::vector<std::vector<std::string>> table;
    if (o.digests) {
        table.push_back({"REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"});
    } else {
        table.push_back({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
    }
    for (const auto& r : shown) {
        std::vector<std::string> cells = {r.repository, r.tag};
        if (o.digests) {
            cells.push_back(r.digest);
        }
        cells.push_back(id_of(*r.image));
        cells.push_back(created_since(r.image->created));
        cells.push_back(human_size(static_cast<double>(r.image->size)));
        table.push_back(std::move(cells));
    }
    print_table(table);
    return 0;
}

void define_list(CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<ListOptions>();
    cmd->add_option("repository", o->repo, "Show only images of this REPOSITORY[:TAG]");
    cmd->add_flag("-a,--all", o->all, "Show all images (default hides intermediate images)");
    cmd->add_flag("-q,--quiet", o->quiet, "Only show image IDs");
    cmd->add_flag("--no-trunc", o->no_trunc, "Don't truncate output");
    cmd->add_flag("--digests", o->digests, "Show digests");
    cmd->add_option("-f,--filter", o->filters,
                    "Filter output (dangling=, reference=, label=, before=, since=)");
    cmd->add_option("--format", o->format, "Format output: table, json, or a Go-like template");
    cmd->callback([o, &ctx] { ctx.exit_code = run_list(ctx, *o); });
}

json inspect_json(const im::Image& img) {
    const json& raw = img.raw_config;
    json config = raw.value("config", json::object());
    if (!config.is_object()) {
        config = json::object();
    }
    // Docker shows the whole container-config struct, defaults included.
    json defaults = {{"Hostname", ""},       {"Domainname", ""},    {"User", ""},
                     {"AttachStdin", false}, {"AttachStdout", false}, {"AttachStderr", false},
                     {"Tty", false},         {"OpenStdin", false},  {"StdinOnce", false},
                     {"Env", nullptr},       {"Cmd", nullptr},      {"Image", ""},
                     {"Volumes", nullptr},   {"WorkingDir", ""},    {"Entrypoint", nullptr},
                     {"OnBuild", nullptr},   {"Labels", nullptr}};
    for (const auto& [k, v] : defaults.items()) {
        if (!config.contains(k)) {
            config[k] = v;
        }
    }
    json tags = json::array();
    for (const auto& t : img.repo_tags) {
        tags.push_back(im::familiar(t));
    }
    json digests = json::array();
    for (const auto& d : img.repo_digests) {
        digests.push_back(im::familiar(d));
    }
    std::string lower;
    for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) {
        lower += (lower.empty() ? "" : ":") + it->native();
    }
    json out = {{"Id", img.id},
                {"RepoTags", tags},
                {"RepoDigests", digests},
                {"Parent", ""},
                {"Comment", raw.value("comment", "")},
                {"Created", img.created},
                {"DockerVersion", raw.value("docker_version", "")},
                {"Author", raw.value("author", "")},
                {"Config", config},
                {"Architecture", img.architecture},
                {"Os", img.os},
                {"Size", img.size},
                {"GraphDriver", {{"Data", {{"LowerDir", lower}}}, {"Name", "overlay"}}},
                {"RootFS", {{"Type", "layers"}, {"Layers", img.diff_ids}}},
                {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}};
    if (raw.contains("variant") && raw["variant"].is_string()) {
        out["Variant"] = raw["variant"];
    }
    out["Descriptor"] = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", img.manifest_digest}};
    return out;
}

void define_inspect(CLI::App* cmd, Context& ctx) {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto format = std::make_shared<std::string>();
    cmd->add_option("images", *refs, "Images to inspect")->required();
    cmd->add_option("-f,--format", *format, "Format output: json or a Go-like template");
    cmd->callback([refs, format, &ctx] {
        auto store = open_store(ctx);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        json all = json::array();
        int rc = 0;
        for (const auto& r : *refs) {
            auto img = store->resolve(r);
            if (!img) {
                std::fprintf(stderr, "Error: %s\n", img.error().message().c_str());
                rc = exit_image_error;
                continue;
            }
            all.push_back(inspect_json(*img));
        }
        if (format->empty() || *format == "json") {
            if (format->empty()) {
                std::printf("%s\n", all.dump(4).c_str());
            } else {
                for (const auto& v : all) {
                    std::printf("%s\n", v.dump().c_str());
                }
            }
        } else {
            for (const auto& v : all) {
                auto line = render_format(*format, v);
                if (!line) {
                    ctx.exit_code = report(line.error(), exit_image_error);
                    return;
                }
                std::printf("%s\n", line->c_str());
            }
        }
        ctx.exit_code = rc;
    });
}

void define_rm(CLI::App* cmd, Context& ctx) {
    auto refs = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false);
    auto no_prune = std::make_shared<bool>(false);
    cmd->add_option("images", *refs, "Images to remove")->required();
    cmd->add_flag("-f,--force", *force, "Force removal of the image");
    cmd->add_flag("--no-prune", *no_prune, "Do not delete untagged parents (accepted, no effect)");
    cmd->callback([refs, force, &ctx] {
        auto store = open_store(ctx);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        auto users = image_users(ctx.paths());
        int rc = 0;
        for (const auto& r : *refs) {
            auto lines = store->remove(r, *force, users);
            if (!lines) {
                std::fprintf(stderr, "Error response from daemon: %s\n",
                             lines.error().message().c_str());
                rc = exit_image_error;
                continue;
            }
            for (const auto& l : *lines) {
                std::printf("%s\n", l.c_str());
            }
        }
        ctx.exit_code = rc;
    });
}

void define_history(CLI::App* cmd, Context& ctx) {
    auto ref = std::make_shared<std::string>();
    auto no_trunc = std::make_shared<bool>(false);
    auto quiet = std::make_shared<bool>(false);
    auto human = std::make_shared<bool>(true);
    auto format = std::make_shared<std::string>();
    cmd->add_option("image", *ref, "Image")->required();
    cmd->add_flag("--no-trunc", *no_trunc, "Don't truncate output");
    cmd->add_flag("-q,--quiet", *quiet, "Only show image IDs");
    cmd->add_flag("-H,--human{true}", *human, "Print sizes and dates in human readable format");
    cmd->add_option("--format", *format, "Format output: table, json, or a Go-like template");
    cmd->callback([=, &ctx] {
        auto store = open_store(ctx);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        auto hist = store->history(*ref);
        if (!hist) {
            ctx.exit_code = report(hist.error(), exit_image_error);
            return;
        }
        auto id_of = [&](const std::string& id) {
            return id == "<missing>" || *no_trunc ? id : short_hex(id);
        };
        if (*quiet) {
            for (const auto& h : *hist) {
                std::printf("%s\n", id_of(h.id).c_str());
            }
            ctx.exit_code = 0;
            return;
        }
        if (!format->empty() && *format != "table") {
            bool table = false;
            std::string tmpl = strip_table_prefix(*format, table);
            for (const auto& h : *hist) {
                json j = {{"Comment", h.comment},
                          {"CreatedAt", h.created},
                          {"CreatedBy", h.created_by},
                          {"CreatedSince", created_since(h.created)},
                          {"ID", id_of(h.id)},
                          {"Size", human_size(static_cast<double>(h.size))}};
                auto line = render_format(tmpl, j);
                if (!line) {
                    ctx.exit_code = report(line.error(), exit_image_error);
                    return;
                }
                std::printf("%s\n", line->c_str());
            }
            ctx.exit_code = 0;
            return;
        }
        std::vector<std::vector<std::string>> rows = {
            {"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"}};
        for (const auto& h : *hist) {
            std::string by = h.created_by;
            if (!*no_trunc && by.size() > 45) {
                by = by.substr(0, 44) + "…";
            }
            rows.push_back({id_of(h.id), *human ? created_since(h.created) : h.created, by,
                            *human ? human_size(static_cast<double>(h.size))
                                   : std::to_string(h.size),
                            h.comment});
        }
        print_table(rows);
        ctx.exit_code = 0;
    });
}

void define_tag(CLI::App* cmd, Context& ctx) {
    auto src = std::make_shared<std::string>();
    auto dst = std::make_shared<std::string>();
    cmd->add_option("source", *src, "SOURCE_IMAGE[:TAG]")->required();
    cmd->add_option("target", *dst, "TARGET_IMAGE[:TAG]")->required();
    cmd->callback([src, dst, &ctx] {
        auto store = open_store(ctx);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        if (auto r = store->tag(*src, *dst); !r) {
            ctx.exit_code = report(r.error(), exit_image_error);
            return;
        }
        ctx.exit_code = 0;
    });
}

void define_prune(CLI::App* cmd, Context& ctx) {
    auto all = std::make_shared<bool>(false);
    auto force = std::make_shared<bool>(false);
    auto filters = std::make_shared<std::vector<std::string>>();
    cmd->add_flag("-a,--all", *all, "Remove all unused images, not just dangling ones");
    cmd->add_flag("-f,--force", *force, "Do not prompt for confirmation");
    cmd->add_option("--filter", *filters, "Provide filter values (accepted: none supported yet)");
    cmd->callback([=, &ctx] {
        if (!filters->empty()) {
            ctx.exit_code = report(Error(Errc::unsupported, "image prune --filter is not supported"),
                                   exit_image_error);
            return;
        }
        if (!*force) {
            std::printf("WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ",
                        *all ? "all images without at least one container associated to them"
                             : "all dangling images");
            std::fflush(stdout);
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") {
                ctx.exit_code = 0;
                return;
            }
        }
        auto store = open_store(ctx);
        if (!store) {
            ctx.exit_code = report(store.error(), exit_image_error);
            return;
        }
        int64_t freed = 0;
        auto lines = store->prune(*all, image_users(ctx.paths()), &freed);
        if (!lines) {
            ctx.exit_code = report(lines.error(), exit_image_error);
            return;
        }
        if (!lines->empty()) {
            std::printf("Deleted Images:\n");
            for (const auto& l : *lines) {
                std::printf("%s\n", l.c_str());
            }
            std::printf("\n");
        }
        std::printf("Total reclaimed space: %s\n", human_size(static_cast<double>(freed)).c_str());
        ctx.exit_code = 0;
    });
}

}  // namespace

engine::images::ImageUsersFn image_users(const Paths& paths) {
    return [paths]() -> Result<std::vector<im::ImageUser>> {
        auto cs = engine::containers::ContainerStore::open(paths);
        if (!cs) {
            return std::move(cs).error();
        }
        auto records = cs->list();
        if (!records) {
            return std::move(records).error();
        }
        std::vector<im::ImageUser> out;
        for (const auto& r : *records) {
            auto st = cs->state(r.id);
            bool running = false;
            if (st) {
                using engine::containers::Status;
                running = st->status == Status::running || st->status == Status::paused ||
                          st->status == Status::restarting;
            }
            out.push_back({r.image_id, r.short_id(), running});
        }
        return out;
    };
}

void add_image_commands(CLI::App& app, Context& ctx) {
    define_list(app.add_subcommand("images", "List images"), ctx);
    define_tag(app.add_subcommand("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
               ctx);
    define_rm(app.add_subcommand("rmi", "Remove one or more images"), ctx);
    define_history(app.add_subcommand("history", "Show the history of an image"), ctx);

    auto* image = app.add_subcommand("image", "Manage images");
    image->require_subcommand(1);
    define_list(image->add_subcommand("ls", "List images")->alias("list"), ctx);
    define_inspect(image->add_subcommand("inspect", "Display detailed information on one or more "
                                                    "images"),
                   ctx);
    define_rm(image->add_subcommand("rm", "Remove one or more images")->alias("remove"), ctx);
    define_prune(image->add_subcommand("prune", "Remove unused images"), ctx);
    define_history(image->add_subcommand("history", "Show the history of an image"), ctx);
    define_tag(image->add_subcommand("tag", "Create a tag TARGET_IMAGE that refers to "
                                            "SOURCE_IMAGE"),
               ctx);
    add_image_transfer_commands(app, *image, ctx);
    add_image_registry_commands(app, *image, ctx);
}

}  // namespace berth::cli
