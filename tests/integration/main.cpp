// SPDX-License-Identifier: Apache-2.0
// The integration binary's main: probe for root and namespaces first. Where they
// are missing, exit 77 (CTest: skipped), unless CI=true, where it is a failure.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/support/harness.hpp"

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--list", 6) == 0) {
            listing = true;
        }
    }
    if (!listing) {
        std::string why;
        if (!berth::testing::have_root_namespaces(&why)) {
            const char* ci = std::getenv("CI");
            if (ci != nullptr && std::string(ci) == "true") {
                std::fprintf(stderr, "integration tests cannot run under CI: %s\n", why.c_str());
                return 1;
            }
            std::fprintf(stderr, "skipping integration tests: %s\n", why.c_str());
            return 77;
        }
    }
    return Catch::Session().run(argc, argv);
}
