#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: run the quickstart on the built-in busybox image.
set -euo pipefail
berth=${1:-build/berth}
"$berth" run --rm --network none busybox sh -c 'echo "hello from $(hostname), PID $$ in its own namespaces"; id'
