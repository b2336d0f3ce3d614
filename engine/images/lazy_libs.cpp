// SPDX-License-Identifier: Apache-2.0
//
// libarchive and libcurl, loaded on first use (see common/dynlib.hpp).
//
// Linked normally, these two libraries bring 39 of the binary's 56 shared
// objects (gnutls, krb5, ldap, ICU through libxml2, ...), although only image
// transfers, layer (un)packing and builds use them: they doubled the start-up
// time of every command.

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/dynlib.hpp"

namespace {

// libarchive 3.x has had the SONAME libarchive.so.13 since 3.0; libcurl's has
// been libcurl.so.4 since 7.16.
constexpr const char* archive_soname = "libarchive.so.13";
constexpr const char* curl_soname = "libcurl.so.4";

}  // namespace

#define BERTH_ARCHIVE(ret, name, params, args) \
    BERTH_DYNLIB_FN(archive_soname, ret, name, params, args)
#define BERTH_CURL(ret, name, params, args) BERTH_DYNLIB_FN(curl_soname, ret, name, params, args)

// libarchive: reading.
BERTH_ARCHIVE(struct archive*, archive_read_new, (void), ())
BERTH_ARCHIVE(int, archive_read_free, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_filter_bzip2, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_filter_gzip, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_filter_xz, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_filter_zstd, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_format_empty, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_format_gnutar, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_support_format_tar, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_read_open,
              (struct archive * a, void* data, archive_open_callback* o, archive_read_callback* r,
               archive_close_callback* c),
              (a, data, o, r, c))
BERTH_ARCHIVE(int, archive_read_open_fd, (struct archive * a, int fd, size_t block), (a, fd, block))
BERTH_ARCHIVE(int, archive_read_next_header, (struct archive * a, struct archive_entry** e), (a, e))
BERTH_ARCHIVE(int, archive_read_data_block,
              (struct archive * a, const void** buff, size_t* size, la_int64_t* offset),
              (a, buff, size, offset))

// libarchive: writing.
BERTH_ARCHIVE(struct archive*, archive_write_new, (void), ())
BERTH_ARCHIVE(int, archive_write_free, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_write_close, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_write_set_format_pax_restricted, (struct archive * a), (a))
BERTH_ARCHIVE(int, archive_write_set_bytes_in_last_block, (struct archive * a, int n), (a, n))
BERTH_ARCHIVE(int, archive_write_open,
              (struct archive * a, void* data, archive_open_callback* o, archive_write_callback* w,
               archive_close_callback* c),
              (a, data, o, w, c))
BERTH_ARCHIVE(int, archive_write_header, (struct archive * a, struct archive_entry* e), (a, e))
BERTH_ARCHIVE(la_ssize_t, archive_write_data, (struct archive * a, const void* p, size_t n), (a, p, n))

// libarchive: errors.
BERTH_ARCHIVE(const char*, archive_error_string, (struct archive * a), (a))

extern "C" void archive_set_error(struct archive* a, int err, const char* fmt, ...) {
    static const auto real =
        reinterpret_cast<decltype(&archive_set_error)>(
            berth::dynlib::symbol(archive_soname, "archive_set_error"));
    // Formatted here: a variadic call cannot be forwarded as such.
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, ap);
    va_end(ap);
    std::string text(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) {
        std::vsnprintf(text.data(), text.size() + 1, fmt, again);
    }
    va_end(again);
    real(a, err, "%s", text.c_str());
}

// libarchive: entries.
BERTH_ARCHIVE(struct archive_entry*, archive_entry_new, (void), ())
BERTH_ARCHIVE(void, archive_entry_free, (struct archive_entry * e), (e))
BERTH_ARCHIVE(const char*, archive_entry_pathname, (struct archive_entry * e), (e))
BERTH_ARCHIVE(const char*, archive_entry_hardlink, (struct archive_entry * e), (e))
BERTH_ARCHIVE(const char*, archive_entry_symlink, (struct archive_entry * e), (e))
BERTH_ARCHIVE(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))
BERTH_ARCHIVE(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))
BERTH_ARCHIVE(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))
BERTH_ARCHIVE(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))
BERTH_ARCHIVE(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))
BERTH_ARCHIVE(time_t, archive_entry_mtime, (struct archive_entry * e), (e))
BERTH_ARCHIVE(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))
BERTH_ARCHIVE(dev_t, archive_entry_rdev, (struct archive_entry * e), (e))
BERTH_ARCHIVE(dev_t, archive_entry_rdevmajor, (struct archive_entry * e), (e))
BERTH_ARCHIVE(dev_t, archive_entry_rdevminor, (struct archive_entry * e), (e))
BERTH_ARCHIVE(void, archive_entry_set_pathname, (struct archive_entry * e, const char* s), (e, s))
BERTH_ARCHIVE(void, archive_entry_set_hardlink, (struct archive_entry * e, const char* s), (e, s))
BERTH_ARCHIVE(void, archive_entry_set_symlink, (struct archive_entry * e, const char* s), (e, s))
BERTH_ARCHIVE(void, archive_entry_set_filetype, (struct archive_entry * e, unsigned int t), (e, t))
BERTH_ARCHIVE(void, archive_entry_set_perm, (struct archive_entry * e, __LA_MODE_T m), (e, m))
BERTH_ARCHIVE(void, archive_entry_set_uid, (struct archive_entry * e, la_int64_t v), (e, v))
BERTH_ARCHIVE(void, archive_entry_set_gid, (struct archive_entry * e, la_int64_t v), (e, v))
BERTH_ARCHIVE(void, archive_entry_set_size, (struct archive_entry * e, la_int64_t v), (e, v))
BERTH_ARCHIVE(void, archive_entry_set_mtime, (struct archive_entry * e, time_t s, long ns), (e, s, ns))
BERTH_ARCHIVE(void, archive_entry_set_rdev, (struct archive_entry * e, dev_t d), (e, d))
BERTH_ARCHIVE(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))
BERTH_ARCHIVE(int, archive_entry_xattr_next,
              (struct archive_entry * e, const char** name, const void** value, size_t* size),
              (e, name, value, size))
BERTH_ARCHIVE(void, archive_entry_xattr_add_entry,
              (struct archive_entry * e, const char* name, const void* value, size_t size),
              (e, name, value, size))

// libcurl.
BERTH_CURL(CURLcode, curl_global_init, (long flags), (flags))
BERTH_CURL(CURL*, curl_easy_init, (void), ())
BERTH_CURL(CURLcode, curl_easy_perform, (CURL * h), (h))
BERTH_CURL(void, curl_easy_cleanup, (CURL * h), (h))
BERTH_CURL(void, curl_easy_reset, (CURL * h), (h))
BERTH_CURL(const char*, curl_easy_strerror, (CURLcode c), (c))
BERTH_CURL(struct curl_slist*, curl_slist_append, (struct curl_slist * l, const char* s), (l, s))
BERTH_CURL(void, curl_slist_free_all, (struct curl_slist * l), (l))

// The two variadic ones take exactly one more argument, whose type the option
// number encodes (curl.h's CURLOPTTYPE_* and CURLINFO_* bases): read it as
// that type and pass it on, typed. curl.h fixes their signatures, an enum
// before the `...`; clang's -Wvarargs flags va_start after an enum (it might
// be promoted), but curl's enums are int-sized and passed as an int.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wvarargs"
#endif
extern "C" CURLcode curl_easy_setopt(CURL* h, CURLoption option, ...) {
    static const auto real =
        reinterpret_cast<decltype(&curl_easy_setopt)>(
            berth::dynlib::symbol(curl_soname, "curl_easy_setopt"));
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    const int o = option;
    if (o < CURLOPTTYPE_OBJECTPOINT) {
        rc = real(h, option, va_arg(ap, long));
    } else if (o < CURLOPTTYPE_FUNCTIONPOINT) {
        rc = real(h, option, va_arg(ap, void*));
    } else if (o < CURLOPTTYPE_OFF_T) {
        using Fn = void (*)();
        rc = real(h, option, va_arg(ap, Fn));
    } else if (o < CURLOPTTYPE_BLOB) {
        rc = real(h, option, va_arg(ap, curl_off_t));
    } else {
        rc = real(h, option, va_arg(ap, void*));
    }
    va_end(ap);
    return rc;
}

extern "C" CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
    static const auto real =
        reinterpret_cast<decltype(&curl_easy_getinfo)>(
            berth::dynlib::symbol(curl_soname, "curl_easy_getinfo"));
    // Every CURLINFO takes a pointer to where the answer goes.
    va_list ap;
    va_start(ap, info);
    void* out = va_arg(ap, void*);
    va_end(ap);
    return real(h, info, out);
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
