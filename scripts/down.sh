#!/usr/bin/env bash
# Stop what scripts/up.sh started: the web server, the worker, then Redis, Docker and the registry.
# Data in $SLIPWAY_DATA_DIR (default ~/.slipway) is kept; scripts/up.sh starts it all again.
# Containers of local deployments stop with Slipway's Docker Engine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLIPWAY_DATA_DIR="${SLIPWAY_DATA_DIR:-$HOME/.slipway}"

"$ROOT/scripts/services.sh" stop-app
"$ROOT/scripts/services.sh" stop
echo "down: Slipway is stopped (data kept in $SLIPWAY_DATA_DIR)"
