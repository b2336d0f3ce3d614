#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: the quickstart compose project on the built-in busybox image
# (`berth up`, a request across the project's network, `berth down`). Without
# a compose example it runs one container.
set -euo pipefail
berth=$(cd "$(dirname "${1:-build/berth}")" && pwd)/$(basename "${1:-build/berth}")
here=$(cd "$(dirname "$0")/.." && pwd)
"$berth" run --rm --network none busybox sh -c \
    'echo "hello from container $(hostname): PID $$ in its own namespaces"; id'
if [ -f "$here/examples/quickstart/compose.yaml" ] && "$berth" up --help >/dev/null 2>&1; then
    cd "$here/examples/quickstart"
    "$berth" up -d
    "$berth" compose ps
    "$berth" exec quickstart-api-1 wget -qO- http://web/ || true
    "$berth" down -v
fi
