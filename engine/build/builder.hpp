// SPDX-License-Identifier: Apache-2.0
#pragma once

// The Dockerfile builder: runs a parsed Dockerfile against the image store
// and the engine's own runtime, producing an OCI image.
//
// Each step's result is an image of the store: metadata-only instructions
// make a new config over the same layers, filesystem-changing ones (RUN,
// COPY, ADD, WORKDIR of a missing directory) add one layer. RUN executes in a
// container of the engine (created, started attached, waited for, its upper
// directory turned into the layer, removed). Step images are *intermediate*:
// hidden from `images` without -a, removed by `image prune`. The build cache
// (<root>/builder/cache.json) maps a step key -- sha256 over the parent image
// id, the instruction as expanded, the build args in scope and the content
// digest of the files a COPY/ADD reads -- to the step image; only the builder
// writes it, so a loaded or pulled image is never a cache candidate
// (RELIABILITY.md section 2 row 25). A failed build leaves no container, no
// mount and no tag behind.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace berth::engine::build {

struct BuildOptions {
    std::filesystem::path context;  ///< directory
    std::filesystem::path dockerfile;  ///< "" = <context>/Dockerfile; relative = to the context
    std::optional<std::string> dockerfile_inline;  ///< compose dockerfile_inline
    std::vector<std::string> tags;
    std::map<std::string, std::string> build_args;
    std::string target;  ///< stage name; "" = the last stage
    bool no_cache = false;
    std::map<std::string, std::string> labels;
    std::string network = "default";  ///< default (the bridge), none, host
    std::string platform;  ///< must be the host's when set
};

/// Progress of a build, for the CLI to print. All calls come from the
/// building thread.
struct BuildOutput {
    /// A step starts: "[stage 2/5] COPY . /app" (stage may be empty).
    std::function<void(const std::string& stage, int step, int total, const std::string& text)>
        step;
    /// The step ended: cached or done, with its duration.
    std::function<void(bool cached, std::chrono::milliseconds elapsed)> step_done;
    /// Descriptor the output of RUN steps goes to (-1: captured, and shown
    /// only in the error of a failing step).
    int run_output_fd = -1;
    /// A warning ("[Warning] One or more build-args [X] were not consumed").
    std::function<void(const std::string&)> warn;
};

struct BuildResult {
    std::string image_id;  ///< "sha256:..."
    int steps = 0;
    int cached = 0;
};

/// Builds the image. Errors (Errc::invalid_argument for bad input) start
/// with "PATH:LINE: " for the instruction at fault; a failing RUN reports
/// the command and its exit code (and its output when it was captured).
[[nodiscard]] Result<BuildResult> build_image(const Paths& paths, const BuildOptions& options,
                                              const BuildOutput& output);

}  // namespace berth::engine::build
