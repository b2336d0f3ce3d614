// SPDX-License-Identifier: Apache-2.0
#include "common/json_file.hpp"

#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth {

Result<nlohmann::json> read_json(const std::filesystem::path& path) {
    auto text = fs::read_file(path);
    if (!text) {
        return std::move(text).error();
    }
    try {
        return nlohmann::json::parse(*text);
    } catch (const nlohmann::json::exception& e) {
        return Error(Errc::invalid_argument, fmt::format("parse {}: {}", path.native(), e.what()));
    }
}

Result<void> write_json(const std::filesystem::path& path, const nlohmann::json& value, int indent,
                        mode_t mode, fs::Durability durability) {
    std::string text;
    try {
        text = value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception& e) {
        return Error(Errc::internal, fmt::format("serialise {}: {}", path.native(), e.what()));
    }
    text.push_back('\n');
    return fs::write_atomic(path, text, mode, durability);
}

}  // namespace berth
