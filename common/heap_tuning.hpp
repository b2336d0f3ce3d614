// SPDX-License-Identifier: Apache-2.0
#pragma once

// Large inputs: malloc backed by transparent huge pages.
//
// Loading a compose project of several hundred services allocates tens of
// megabytes of short-lived trees; with 4 KiB pages that is one page fault per
// page touched (8,300 for 1,000 services, most of the command's time on a
// virtual machine where a fault costs ~20 us). glibc can back its heaps with
// transparent huge pages, but only through the GLIBC_TUNABLES environment
// variable read at process start; so a command that finds its input large
// re-executes itself once with glibc.malloc.hugetlb=1 and a large top pad,
// and the re-executed process puts the caller's GLIBC_TUNABLES back before it
// does anything else, so that no process it starts inherits the setting.

#include <cstdint>

namespace berth::heap {

/// First thing in main(): when this process is the re-executed one, restores
/// the environment the user gave it. Records the program's argv for
/// reexec_for_large_input.
void init(int argc, char** argv);

/// True when this process runs with the huge-page malloc settings (a process
/// forked from it inherits them; the supervisor is started with exec instead).
[[nodiscard]] bool tuned();

/// When `input_bytes` is at least the threshold (128 KiB) and this process is
/// not tuned yet, re-executes the program with the same arguments and the
/// huge-page settings; returns only if it does not (small input, already
/// tuned, or the exec failed). Must be called before the command has had any
/// effect outside the process.
void reexec_for_large_input(uint64_t input_bytes);

}  // namespace berth::heap
