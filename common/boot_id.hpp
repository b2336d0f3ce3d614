// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace berth {

/// This boot's id (/proc/sys/kernel/random/boot_id), read once; "" if
/// unreadable. What a record written in another boot is told apart by: pids
/// (F9) and unsynced image writes (engine/images/store.hpp) do not survive a
/// reboot.
const std::string& current_boot_id();

}  // namespace berth
