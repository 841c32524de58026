#!/usr/bin/env bash
# Install what Slipway needs on this machine (Debian 12). Idempotent and quiet; safe to re-run.
#
#   scripts/install.sh          system packages, .venv with Slipway (pip install -e .)
#   scripts/install.sh --test   also the test extras and the npm test oracles (tests/oracle)
#
# apt-get runs only for packages that are missing. pip runs only when pyproject.toml changed since
# the last install (stamp in .venv), npm ci only when package-lock.json changed (stamp in
# node_modules). Set SLIPWAY_INSTALL_VERBOSE=1 to see everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEST=""
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

say() { echo "install: $*"; }

# Run a command; show its output only if it fails (or if SLIPWAY_INSTALL_VERBOSE=1).
quietly() {
  if [ -n "${SLIPWAY_INSTALL_VERBOSE:-}" ]; then "$@"; return; fi
  local log rc=0
  log="$(mktemp)"
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    echo "install: failed ($rc): $*" >&2
    tail -n 60 "$log" >&2
  fi
  rm -f "$log"
  return "$rc"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "install: need root (or sudo) for: $*" >&2; return 1
  fi
}

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

# --- system packages ------------------------------------------------------------------------
packages=(docker.io docker-registry apache2-utils redis-server busybox-static git curl caddy)
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then packages+=(python3-venv); fi
if [ -n "$TEST" ] && ! command -v node >/dev/null; then packages+=(nodejs npm); fi
# The tests run the database layer on PostgreSQL too.
if [ -n "$TEST" ]; then packages+=(postgresql); fi
# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
if [ -n "$TEST" ]; then packages+=(chromium); fi
# The build plans' base-image stand-ins are Debian root file systems (scripts/plan_images.sh).
if [ -n "$TEST" ]; then packages+=(mmdebstrap); fi
# Custom domains' certificates are obtained from Pebble, Let's Encrypt's ACME test server (tests/support/acme.py).
if [ -n "$TEST" ]; then packages+=(pebble); fi

missing=()
for pkg in "${packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  quietly as_root apt-get update
  quietly as_root apt-get install -y "${missing[@]}"
  # Debian starts a system registry on :5000 and a system Redis on :6379 when it installs them:
  # Slipway runs its own on those ports (scripts/services.sh), so stop the units it just brought in.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for unit in docker-registry redis-server; do
      case " ${missing[*]} " in *" $unit "*) as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true ;; esac
    done
  fi
fi

# --- npm test oracles (in the background, beside pip: both mostly wait on their registries) ----
npm_pid=""
if [ -n "$TEST" ]; then
  ORACLE="$ROOT/tests/oracle"
  if [ -f "$ORACLE/package-lock.json" ]; then
    nstamp="$ORACLE/node_modules/.slipway-install"
    nwant="$(sha256sum "$ORACLE/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$nstamp" 2>/dev/null || true)" != "$nwant" ]; then
      say "npm ci in tests/oracle"
      (cd "$ORACLE" && quietly npm ci --no-audit --no-fund && echo "$nwant" >"$nstamp") &
      npm_pid=$!
    fi
  fi
fi

# --- Python -----------------------------------------------------------------------------------
VENV="$ROOT/.venv"
if ! "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
  say "creating $VENV"
  rm -rf "$VENV"
  quietly python3 -m venv "$VENV"
fi

extras=""
[ -n "$TEST" ] && extras="[test]"
stamp="$VENV/.slipway-install"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
# A test install also satisfies a plain one.
if [ "$have" != "$want $extras" ] && [ "$have" != "$want [test]" ] || ! [ -x "$VENV/bin/slipway" ]; then
  say "pip install -e .$extras"
  quietly "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$ROOT$extras"
  echo "$want $extras" >"$stamp"
fi

if [ -n "$npm_pid" ]; then
  wait "$npm_pid" || { echo "install: npm ci in tests/oracle failed" >&2; exit 1; }
fi
