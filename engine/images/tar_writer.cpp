// SPDX-License-Identifier: Apache-2.0
#include "engine/images/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <optional>

namespace berth::engine::images {

struct TarWriter::Impl {
    Sink sink;
    archive* a = nullptr;
    std::optional<Error> error;
    bool closed = false;
    ~Impl() {
        if (a != nullptr) {
            if (!closed) {
                archive_write_close(a);
            }
            archive_write_free(a);
        }
    }
};

namespace {

la_ssize_t write_callback(archive* a, void* ud, const void* buf, size_t len) {
    auto* impl = static_cast<TarWriter::Impl*>(ud);
    auto r = impl->sink(std::string_view(static_cast<const char*>(buf), len));
    if (!r) {
        impl->error = std::move(r).error();
        archive_set_error(a, EIO, "%s", impl->error->message().c_str());
        return -1;
    }
    return static_cast<la_ssize_t>(len);
}

}  // namespace

TarWriter::TarWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarWriter::TarWriter(TarWriter&&) noexcept = default;
TarWriter& TarWriter::operator=(TarWriter&&) noexcept = default;
TarWriter::~TarWriter() = default;

Result<TarWriter> TarWriter::open(Sink sink) {
    auto impl = std::make_unique<Impl>();
    impl->sink = std::move(sink);
    impl->a = archive_write_new();
    if (impl->a == nullptr) {
        return Error(Errc::internal, "archive_write_new");
    }
    archive_write_set_format_pax_restricted(impl->a);
    // No padding of the last block beyond the tar format's own 512-byte records.
    archive_write_set_bytes_in_last_block(impl->a, 1);
    if (archive_write_open(impl->a, impl.get(), nullptr, write_callback, nullptr) != ARCHIVE_OK) {
        return Error(Errc::internal, fmt::format("open tar writer: {}",
                                                 archive_error_string(impl->a)));
    }
    return TarWriter(std::move(impl));
}

Result<void> TarWriter::header(const Entry& e) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_uid(entry.get(), e.uid);
    archive_entry_set_gid(entry.get(), e.gid);
    archive_entry_set_mtime(entry.get(), e.mtime, 0);
    archive_entry_set_perm(entry.get(), e.mode & 07777);
    if (!e.hardlink.empty()) {
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_hardlink(entry.get(), e.hardlink.c_str());
        archive_entry_set_size(entry.get(), 0);
    } else {
        archive_entry_set_filetype(entry.get(), e.type);
        if (e.type == S_IFLNK) {
            archive_entry_set_symlink(entry.get(), e.link.c_str());
        }
        archive_entry_set_size(entry.get(), e.type == S_IFREG ? e.size : 0);
        if (e.type == S_IFCHR || e.type == S_IFBLK) {
            archive_entry_set_rdev(entry.get(), e.rdev);
        }
    }
    for (const auto& [name, value] : e.xattrs) {
        archive_entry_xattr_add_entry(entry.get(), name.c_str(), value.data(), value.size());
    }
    if (archive_write_header(impl_->a, entry.get()) != ARCHIVE_OK) {
        if (impl_->error) {
            return *impl_->error;
        }
        return Error(Errc::internal, fmt::format("write tar header {}: {}", e.path,
                                                 archive_error_string(impl_->a)));
    }
    return {};
}

Result<void> TarWriter::data(std::string_view bytes) {
    while (!bytes.empty()) {
        la_ssize_t n = archive_write_data(impl_->a, bytes.data(), bytes.size());
        if (n < 0) {
            if (impl_->error) {
                return *impl_->error;
            }
            return Error(Errc::internal,
                         fmt::format("write tar data: {}", archive_error_string(impl_->a)));
        }
        if (n == 0) {
            return Error(Errc::internal, "write tar data: more data than the header's size");
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Result<void> TarWriter::file(const std::string& path, std::string_view content, mode_t mode,
                             int64_t mtime) {
    Entry e;
    e.path = path;
    e.type = S_IFREG;
    e.mode = mode;
    e.mtime = mtime;
    e.size = static_cast<int64_t>(content.size());
    if (auto r = header(e); !r) {
        return r;
    }
    return data(content);
}

Result<void> TarWriter::close() {
    impl_->closed = true;
    if (archive_write_close(impl_->a) != ARCHIVE_OK) {
        if (impl_->error) {
            return *impl_->error;
        }
        return Error(Errc::internal,
                     fmt::format("finish tar: {}", archive_error_string(impl_->a)));
    }
    return {};
}

}  // namespace berth::engine::images
