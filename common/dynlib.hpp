// SPDX-License-Identifier: Apache-2.0
#pragma once

// Shared libraries loaded on first use.
//
// Every shared object linked into berth is mapped and relocated at each start
// of every command, and that dominated berth's start-up time (the loader spent
// more time than `run` itself). Libraries only some commands need are
// therefore not linked: each function berth calls from them is defined, with
// the exact signature its header declares (the compiler checks that they
// agree), by BERTH_DYNLIB_FN, and the first call of any of them dlopen()s the
// library and resolves the real function by name. The libraries themselves
// are used unchanged; only when they are mapped changes.
//
// The definitions are not exported (an executable exports only the symbols a
// linked shared object references), so a loaded library's calls to its own
// API never land in them.

namespace berth::dynlib {

/// The address of `name` in the library `soname`, which is opened on first
/// use (RTLD_NOW | RTLD_LOCAL) and stays loaded. Thread-safe. A library or
/// symbol that cannot be loaded is a broken installation: berth says which
/// and exits with 125.
void* symbol(const char* soname, const char* name);

/// Counts the libraries symbol() has loaded so far: a caller that looks for a
/// library some other one brings along (dlopen RTLD_NOLOAD) need not look
/// again until this changes.
[[nodiscard]] unsigned loads();

}  // namespace berth::dynlib

/// Defines `ret name params` (C linkage) as a call of the library's own
/// `name`, resolved once.
#define BERTH_DYNLIB_FN(soname, ret, name, params, args)                                 \
    extern "C" ret name params {                                                         \
        static const auto real =                                                         \
            reinterpret_cast<decltype(&name)>(::berth::dynlib::symbol(soname, #name));   \
        return real args;                                                                \
    }
