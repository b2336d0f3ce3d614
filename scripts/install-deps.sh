#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every build and test dependency of berth from Debian's packages.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config clang
    libyaml-cpp-dev nlohmann-json3-dev libboost-dev libboost-system-dev
    libnl-3-dev libnl-route-3-dev libspdlog-dev libfmt-dev catch2 libcli11-dev
    libarchive-dev libcurl4-openssl-dev libssl-dev nettle-dev libseccomp-dev libcap-dev
    libnftables-dev libzstd-dev zlib1g-dev
    busybox-static crun runc iproute2 nftables procps psmisc python3
    json-schema-test-suite
    skopeo docker-registry apache2-utils
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
