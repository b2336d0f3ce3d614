# SPDX-License-Identifier: Apache-2.0
# The README's two commands: `make demo` (main job) and `make test` (all tests).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build demo test unit fuzz-ci clean
# Seconds each libFuzzer target runs in `make test` (clang, ASan and UBSan).
FUZZ_SECONDS ?= 10
FUZZ_BUILD ?= $(BUILD)-fuzz

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/berth

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1
	$(MAKE) fuzz-ci

# The parsers of untrusted input, fuzzed for a bounded time on their seed
# corpora: the compose loader (YAML, interpolation, env files, short
# syntaxes), the image store (manifests and configs, the layer unpacker's
# tar path resolver) and the Dockerfile parser. Any crash, leak, timeout or
# out-of-memory fails. Every target's corpus also replays under ctest
# (fuzz.replay.*), the others' included.
fuzz-ci: deps
	BUILD_DIR=$(FUZZ_BUILD) sh scripts/run-fuzz.sh $(FUZZ_SECONDS) compose_yaml \
		compose_interpolate compose_env_file compose_short_syntax images_manifest \
		images_tar build_dockerfile

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

clean:
	rm -rf $(BUILD)
