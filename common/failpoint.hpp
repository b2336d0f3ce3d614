// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace berth {

/// A named fault point (RELIABILITY.md section 3). BERTH_FAILPOINT holds
/// `<name>:<action>` items separated by commas (the action defaults to kill9):
///  - `kill9`: the process SIGKILLs itself here;
///  - `error`: the call returns true, so the caller fails as if the step had;
///  - `stop`:  the process SIGSTOPs itself here, so that a test can act on it
///    at a known point (send SIGINT, take a census) and then SIGCONT it; the
///    call then returns false.
/// Costs one getenv when unset. The variable is inherited by the processes
/// berth starts (supervisor, resolver); the points below are only on paths the
/// CLI runs.
///
/// Every step that creates (or removes) a resource has one, named
/// `<where>_<before|after>_<step>`:
///  - orchestrator `up`: compose_up_before_network, compose_up_after_network,
///    compose_up_before_volume, compose_up_after_volume,
///    compose_up_before_container (before a container's mounts are prepared),
///    container_create_after_secrets (secrets/configs written, no record yet),
///    compose_up_after_create (created, not started), compose_up_after_start;
///  - orchestrator `down` (and orphan/scale-down removal): compose_remove_after_stop,
///    compose_down_before_network, compose_down_before_volume;
///  - engine: container_create_after_record (record and name written, no
///    directories), container_start_before_network, container_start_after_network,
///    container_start_before_supervisor, container_start_after_supervisor,
///    container_remove_before_record (volumes released, record not removed);
///  - netns: network_create_before_bridge (record written),
///    network_create_after_bridge (bridge made, nftables not updated),
///    netns_attach_after_veth (veth made, endpoint not recorded),
///    netns_attach_before_ports (endpoints recorded, ports not in nftables),
///    network_remove_before_record (bridge and nftables rules gone, record
///    not removed);
///  - volumes: volume_create_before_rename, volume_mount_before_attach,
///    volume_remove_after_rename, secret_write_after_file (one secret or config
///    file written in the container directory);
///  - image store: images_blob_commit, images_table_write, images_snapshot_rename.
[[nodiscard]] bool failpoint(std::string_view name);

}  // namespace berth
