#!/usr/bin/env bash
# Install and run Slipway on this machine, in one command:   scripts/up.sh
#
# 1. scripts/install.sh (system packages, .venv)      3. scripts/services.sh start (Redis, Docker, registry)
# 2. slipway init (secrets in $DATA/slipway.env, DB)  4. the web server, one worker and (while the Akash
#                                                        network is `local`) the devnet, as in the Procfile,
#                                                        waiting until the devnet can take a first deploy
# Re-running it is harmless and restarts the web server and worker, so it picks up new code after a
# `git pull`. Data lives in $SLIPWAY_DATA_DIR (default ~/.slipway); stop everything with scripts/down.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SLIPWAY_DATA_DIR="${SLIPWAY_DATA_DIR:-$HOME/.slipway}"

say() { echo "up: $*"; }
die() { echo "up: $*" >&2; exit 1; }

scripts/install.sh
.venv/bin/slipway init >/dev/null
scripts/services.sh start

# The same resolved settings for both processes (the Procfile lines read REDIS_URL and
# SLIPWAY_BIND from the environment), with DOCKER_HOST pointing at Slipway's engine.
settings="$(scripts/services.sh env)"
eval "$settings"
export PATH="$ROOT/.venv/bin:$PATH"
RUN="$SLIPWAY_DATA_DIR/run"
LOGS="$SLIPWAY_DATA_DIR/logs"
mkdir -p "$RUN" "$LOGS"

procfile() {
  local cmd
  cmd="$(sed -n "s/^$1:[[:space:]]*//p" "$ROOT/Procfile")"
  [ -n "$cmd" ] || die "no '$1:' line in Procfile"
  echo "$cmd"
}

# start NAME COMMAND: in its own session, surviving this script; the wrapper records its pid and
# then execs the Procfile command (so the pid file names gunicorn / rq themselves).
start() {
  local name="$1" cmd="$2"
  {
    echo
    echo "=== $(date -Is) starting: $cmd"
  } >>"$LOGS/$name.log"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid -w bash -c 'echo $$ >"$0"; eval "exec $1"' "$RUN/$name.pid" "$cmd" \
    >>"$LOGS/$name.log" 2>&1 </dev/null &
}

scripts/services.sh stop-app >/dev/null
start web "$(procfile web)"
web_pid=$!
start worker "$(procfile worker)"
worker_pid=$!
# The local Akash network (the default Akash network, "local"): chain, REST API and providers.
devnet_pid=""
if [ "$SLIPWAY_AKASH_NETWORK" = local ]; then
  start devnet "$(procfile devnet)"
  devnet_pid=$!
fi

probe="${SLIPWAY_BIND/#0.0.0.0:/127.0.0.1:}"
probe="${probe/#\[::\]:/[::1]:}"
code=000
for ((i = 0; i < 240; i++)); do
  code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$probe/healthz" 2>/dev/null || true)"
  [ "$code" != 000 ] && break
  if ! kill -0 "$web_pid" 2>/dev/null; then
    tail -n 30 "$LOGS/web.log" >&2
    die "the web server exited; see $LOGS/web.log"
  fi
  sleep 0.25
done
[ "$code" != 000 ] || { tail -n 30 "$LOGS/web.log" >&2; die "the web server does not answer on $SLIPWAY_BIND"; }
sleep 1
if ! kill -0 "$worker_pid" 2>/dev/null; then
  tail -n 30 "$LOGS/worker.log" >&2
  die "the worker exited; see $LOGS/worker.log"
fi

if [ -n "$devnet_pid" ]; then
  # New projects deploy to Akash: the first push needs blocks, a funded funding wallet and providers.
  if ! slipway devnet wait --timeout 120 >>"$LOGS/devnet.log" 2>&1 || ! kill -0 "$devnet_pid" 2>/dev/null; then
    tail -n 30 "$LOGS/devnet.log" >&2
    die "the local Akash network is not ready; see $LOGS/devnet.log"
  fi
fi

prefix=""
if [ "$SLIPWAY_DATA_DIR" != "$HOME/.slipway" ]; then prefix="SLIPWAY_DATA_DIR=$(printf %q "$SLIPWAY_DATA_DIR") "; fi
say "Slipway is running."
echo
echo "  Dashboard:  $SLIPWAY_PUBLIC_URL   (web server on $SLIPWAY_BIND, HTTP $code)"
echo "  Sign in:    with SLIPWAY_ADMIN_PASSWORD from $SLIPWAY_DATA_DIR/slipway.env"
echo "  Settings:   $SLIPWAY_DATA_DIR/slipway.env"
if [ -n "$devnet_pid" ]; then
  echo "  Akash:      local network (slipway devnet), REST on http://127.0.0.1:$SLIPWAY_DEVNET_PORT; new projects deploy there"
fi
echo "  Logs:       $LOGS/  (web.log, worker.log, devnet.log, dockerd.log, registry.log, redis.log)"
echo "  Status:     ${prefix}$ROOT/scripts/services.sh status"
echo "  Stop:       ${prefix}$ROOT/scripts/down.sh"
