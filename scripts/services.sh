#!/usr/bin/env bash
# Start, stop and inspect the services Slipway needs: Redis, a Docker Engine, a private registry and
# the reverse proxy in front of the apps (Caddy, unless SLIPWAY_PROXY=none).
#
#   scripts/services.sh start|stop|status
#   scripts/services.sh stop-app          stop the web server, worker and devnet started by scripts/up.sh
#   scripts/services.sh env [--secrets]   print the settings in force as shell assignments
#   scripts/services.sh gc                free the registry's unused layers (stops it meanwhile)
#
# Settings come from slipway/settings.py itself (process env, then $SLIPWAY_DATA_DIR/slipway.env,
# then defaults), so this script never disagrees with the app about ports, sockets or passwords.
# Everything Slipway starts keeps its pid file in $DATA/run and its log in $DATA/logs, listens on
# loopback only, and uses its own data dir, port and socket: a system-wide Redis or Docker is never
# touched. A service whose address is not on this machine (or whose port/socket already answers and
# was not started here) is reported as "external" and left alone.
#
# Redis persistence: append-only file in $DATA/redis (survives restarts), unless
# SLIPWAY_REDIS_APPENDONLY=no (scripts/test.sh sets that: test data is throwaway).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "services: $*" >&2; exit 1; }
say() { echo "services: $*"; }

# --- settings ------------------------------------------------------------------------------

settings_python() {
  if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"; else echo python3; fi
}

# Prints shell assignments: every setting by its env name, plus derived values (lowercase).
# Secrets are only printed with --secrets.
print_settings() {
  local with_secrets="${1:-}"
  "$(settings_python)" - "$ROOT" "$with_secrets" <<'PY'
import shlex, sys
from dataclasses import fields
from urllib.parse import urlsplit

sys.path.insert(0, sys.argv[1])
from slipway.settings import Settings  # noqa: E402

with_secrets = sys.argv[2] == "--secrets"
s = Settings.load()
out = {}
for f in fields(Settings):
    if f.metadata["secret"] and not with_secrets:
        continue
    out[f.metadata["env"]] = getattr(s, f.name)

r = urlsplit(s.redis_url)
if r.scheme == "unix":
    out["redis_socket"] = r.path
    out["redis_host"] = "127.0.0.1"
    out["redis_port"] = "0"
else:
    out["redis_socket"] = ""
    out["redis_host"] = r.hostname or "127.0.0.1"
    out["redis_port"] = str(r.port or 6379)
if with_secrets:
    out["redis_password"] = r.password or s.redis_password
reg = urlsplit("//" + s.registry)
out["registry_host"] = reg.hostname or "127.0.0.1"
out["registry_port"] = str(reg.port or 5000)
out["docker_sock"] = s.docker_host[len("unix://"):] if s.docker_host.startswith("unix://") else ""
for k, v in out.items():
    print(f"{k}={shlex.quote(str(v))}")
PY
}

load_settings() {
  local assignments
  redis_host="" redis_port="" redis_socket="" redis_password="" registry_host="" registry_port="" docker_sock=""
  assignments="$(print_settings --secrets)" || die "cannot read the settings (slipway/settings.py)"
  eval "$assignments"
  DATA="$SLIPWAY_DATA_DIR"
  RUN="$DATA/run"
  LOGS="$DATA/logs"
}

is_local() { case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac; }

# --- processes -----------------------------------------------------------------------------

# pid_of PIDFILE WORD: the pid in PIDFILE if that process is alive and its command line contains
# WORD (guards against a stale pid file whose pid was reused).
pid_of() {
  local pidfile="$1" word="$2" pid
  [ -s "$pidfile" ] || return 1
  pid="$(tr -dc 0-9 <"$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word" || return 1
  echo "$pid"
}

# stop_pid NAME PIDFILE WORD [GRACE]: SIGTERM, wait GRACE seconds, SIGTERM again (rq's "cold
# shutdown"), wait 10 s, then SIGKILL the process group. Removes the pid file.
stop_pid() {
  local name="$1" pidfile="$2" word="$3" grace="${4:-30}" pid i
  if ! pid="$(pid_of "$pidfile" "$word")"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  if kill -0 "$pid" 2>/dev/null; then
    echo "services: $name (pid $pid) did not stop; killing it" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  # Leftover children in the process group we created with setsid (gunicorn workers, rq's horse).
  kill -0 -- "-$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
  rm -f "$pidfile"
  say "$name stopped"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for SECONDS PID COMMAND...: until COMMAND succeeds; gives up early if process PID (when
# given) has exited.
wait_for() {
  local secs="$1" pid="$2" i
  shift 2
  for ((i = 0; i < secs * 4; i++)); do
    "$@" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      sleep 0.5
      "$@"
      return
    fi
    sleep 0.25
  done
  return 1
}

log_tail() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 25 "$1" >&2; }; return 0; }

# --- Redis ---------------------------------------------------------------------------------

redis_cli() {
  if [ -n "$redis_socket" ]; then
    REDISCLI_AUTH="$redis_password" redis-cli -s "$redis_socket" "$@"
  else
    REDISCLI_AUTH="$redis_password" redis-cli -h "$redis_host" -p "$redis_port" "$@"
  fi
}

redis_ping() { redis_cli ping 2>/dev/null | grep -q PONG; }

redis_where() { if [ -n "$redis_socket" ]; then echo "$redis_socket"; else echo "$redis_host:$redis_port"; fi; }

# The config Redis runs with. On one machine it listens on a Unix socket in the data dir only
# (port 0: no TCP), which builds and apps, on the host network, cannot reach; it always asks for
# the generated password, kept in this 0600 file and never on a command line.
redis_config() {
  local appendonly="${SLIPWAY_REDIS_APPENDONLY:-yes}"
  [ "$appendonly" = no ] || appendonly=yes
  [ -n "$redis_password" ] || die "SLIPWAY_REDIS_PASSWORD is empty: run '.venv/bin/slipway init' first"
  if [ -n "$redis_socket" ]; then
    echo "port 0"
    echo "unixsocket \"$redis_socket\""
    echo "unixsocketperm 700"
  else
    echo "bind $redis_host"
    echo "port $redis_port"
  fi
  echo "protected-mode yes"
  echo "daemonize yes"
  echo "pidfile \"$RUN/redis.pid\""
  echo "logfile \"$LOGS/redis.log\""
  echo "dir \"$DATA/redis\""
  echo 'save ""'
  echo "appendonly $appendonly"
  echo "requirepass \"$redis_password\""
}

redis_start() {
  local pidfile="$RUN/redis.pid" conf="$RUN/redis.conf" new
  if [ -z "$redis_socket" ] && ! is_local "$redis_host"; then
    say "redis: external ($REDIS_URL), not managed here"
    return 0
  fi
  new="$(redis_config)"
  if pid_of "$pidfile" redis-server >/dev/null; then
    if [ "$(cat "$conf" 2>/dev/null)" = "$new" ] && wait_for 10 "" redis_ping; then
      say "redis already running at $(redis_where)"
      return 0
    fi
    stop_pid redis "$pidfile" redis-server 20   # config or password changed: restart
  fi
  if [ -z "$redis_socket" ] && port_open "$redis_host" "$redis_port"; then
    redis_ping || die "port $redis_port is taken by something that is not Slipway's Redis (or has another password): set REDIS_URL to a free port"
    say "redis: using the Redis already listening on $redis_host:$redis_port (not started by Slipway)"
    return 0
  fi
  command -v redis-server >/dev/null || die "redis-server is not installed: run scripts/install.sh"
  mkdir -p "$DATA/redis"
  if [ -n "$redis_socket" ]; then mkdir -p "$(dirname "$redis_socket")"; rm -f "$redis_socket"; fi
  (umask 077 && printf '%s\n' "$new" >"$conf")
  redis-server "$conf" >>"$LOGS/redis.log" 2>&1 </dev/null || { log_tail "$LOGS/redis.log"; die "redis failed to start"; }
  wait_for 15 "" redis_ping || { log_tail "$LOGS/redis.log"; die "redis did not answer at $(redis_where)"; }
  say "redis started at $(redis_where) (password required, appendonly ${SLIPWAY_REDIS_APPENDONLY:-yes})"
}

redis_stop() {
  if pid_of "$RUN/redis.pid" redis-server >/dev/null; then
    stop_pid redis "$RUN/redis.pid" redis-server 20
  fi
}

# --- Docker Engine -------------------------------------------------------------------------

docker_ok() { docker -H "$SLIPWAY_DOCKER_HOST" info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

# Every container the Engine runs, build steps included, starts with no-new-privileges: a setuid
# binary in someone's image cannot raise a build step's privileges.
dockerd_flags() {
  printf '%s\n' --data-root "$DATA/docker" --exec-root "$RUN/docker-exec" -H "$SLIPWAY_DOCKER_HOST" \
    --pidfile "$RUN/dockerd.pid" --storage-driver vfs --iptables=false --bridge=none --no-new-privileges
}

dockerd_start() {
  local pidfile="$RUN/dockerd.pid" flags
  if [ -z "$docker_sock" ]; then say "docker: external ($SLIPWAY_DOCKER_HOST), not managed here"; return 0; fi
  command -v docker >/dev/null || die "the docker CLI is not installed: run scripts/install.sh"
  flags="$(dockerd_flags)"
  if pid_of "$pidfile" dockerd >/dev/null; then
    if [ "$(cat "$RUN/dockerd.flags" 2>/dev/null)" = "$flags" ]; then
      wait_for 60 "" docker_ok || die "dockerd is running but does not answer at $SLIPWAY_DOCKER_HOST"
      say "docker already running at $SLIPWAY_DOCKER_HOST"
      return 0
    fi
    dockerd_stop   # started with other flags (an older Slipway): restart it with these
  fi
  if [ -S "$docker_sock" ] && docker_ok; then
    say "docker: using the engine already answering at $SLIPWAY_DOCKER_HOST (not started by Slipway)"
    return 0
  fi
  command -v dockerd >/dev/null || die "dockerd is not installed: run scripts/install.sh"
  mkdir -p "$DATA/docker" "$RUN/docker-exec" "$(dirname "$docker_sock")"
  rm -f "$docker_sock" "$pidfile"
  # A containerd left behind by a dockerd that died makes the new dockerd wait for it forever.
  stop_pid "orphaned containerd" "$RUN/docker-exec/containerd/containerd.pid" "$RUN/docker-exec/containerd" 10
  local -a args
  mapfile -t args <<<"$flags"
  setsid -w dockerd "${args[@]}" >>"$LOGS/dockerd.log" 2>&1 </dev/null &
  printf '%s\n' "$flags" >"$RUN/dockerd.flags"
  # dockerd writes its pid file itself. (setsid -w: $! lives exactly as long as dockerd.)
  wait_for 90 $! docker_ok || { log_tail "$LOGS/dockerd.log"; die "dockerd did not answer at $SLIPWAY_DOCKER_HOST"; }
  say "docker started at $SLIPWAY_DOCKER_HOST (data in $DATA/docker)"
}

dockerd_stop() {
  if pid_of "$RUN/dockerd.pid" dockerd >/dev/null; then
    stop_pid dockerd "$RUN/dockerd.pid" dockerd 60
  fi
  # dockerd leaves its data root bind-mounted on itself (and a netns mount in the exec root);
  # release them so the data dir can be moved or deleted. Only mounts inside our own data dir.
  local mnt
  awk '{print $5}' /proc/self/mountinfo | { grep -E "^($DATA/docker|$RUN/docker-exec)(/|\$)" || true; } |
    sort -r | while IFS= read -r mnt; do umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; done
}

# --- registry ------------------------------------------------------------------------------

registry_url() { echo "http://$SLIPWAY_REGISTRY/v2/"; }
registry_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$(registry_url)" 2>/dev/null || true; }
registry_ok() { [ "$(registry_code)" = 401 ]; }

# Writes htpasswd and config.yml; prints "changed" if either differs from what is on disk.
registry_write_config() {
  local dir="$DATA/registry" new changed=""
  mkdir -p "$dir/data"
  chmod 700 "$dir"
  [ -n "$SLIPWAY_REGISTRY_PASSWORD" ] || die "SLIPWAY_REGISTRY_PASSWORD is empty: run '.venv/bin/slipway init' first"
  # Keep the existing bcrypt hash if it still matches (htpasswd -v); the password goes on stdin.
  if ! [ -s "$dir/htpasswd" ] ||
    ! printf '%s\n' "$SLIPWAY_REGISTRY_PASSWORD" | htpasswd -vi "$dir/htpasswd" "$SLIPWAY_REGISTRY_USERNAME" >/dev/null 2>&1; then
    new="$(printf '%s\n' "$SLIPWAY_REGISTRY_PASSWORD" | htpasswd -niB "$SLIPWAY_REGISTRY_USERNAME")" || die "htpasswd failed"
    (umask 077 && printf '%s\n' "$new" | sed '/^$/d' >"$dir/htpasswd")
    changed=1
  fi
  if ! [ -s "$dir/http.secret" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$dir/http.secret")
  fi
  new="$(cat <<YAML
# Written by scripts/services.sh; edits are overwritten.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: "$dir/data"
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: "$registry_host:$registry_port"
  secret: "$(cat "$dir/http.secret")"
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: slipway-registry
    path: "$dir/htpasswd"
YAML
)"
  if [ "$(cat "$dir/config.yml" 2>/dev/null)" != "$new" ]; then
    (umask 077 && printf '%s\n' "$new" >"$dir/config.yml")
    changed=1
  fi
  if [ -n "$changed" ]; then echo changed; fi
}

registry_start() {
  local pidfile="$RUN/registry.pid" changed
  if ! is_local "$registry_host"; then say "registry: external ($SLIPWAY_REGISTRY), not managed here"; return 0; fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run scripts/install.sh"
  changed="$(registry_write_config)"
  if pid_of "$pidfile" docker-registry >/dev/null; then
    if [ -z "$changed" ] && wait_for 10 "" registry_ok; then
      say "registry already running at $SLIPWAY_REGISTRY"
      return 0
    fi
    stop_pid registry "$pidfile" docker-registry 10   # config or password changed: restart
  fi
  if port_open "$registry_host" "$registry_port"; then
    die "port $registry_port is taken by a process Slipway did not start (a system docker-registry?):" \
      "set SLIPWAY_REGISTRY to a free 127.0.0.1 port in $DATA/slipway.env, or stop that process"
  fi
  # A bash wrapper records its own pid, then execs the registry (which writes no pid file).
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid -w bash -c 'echo $$ >"$0"; exec docker-registry serve "$1"' "$pidfile" "$DATA/registry/config.yml" \
    >>"$LOGS/registry.log" 2>&1 </dev/null &
  wait_for 30 $! registry_ok || {
    log_tail "$LOGS/registry.log"
    die "the registry did not answer 401 at $(registry_url) (got '$(registry_code)')"
  }
  say "registry started at $SLIPWAY_REGISTRY (htpasswd auth, data in $DATA/registry/data)"
}

registry_stop() {
  if pid_of "$RUN/registry.pid" docker-registry >/dev/null; then
    stop_pid registry "$RUN/registry.pid" docker-registry 15
  fi
}

# Frees the blobs no manifest uses any more. The registry's garbage-collect must not run beside
# pushes, and the running registry caches which blobs exist, so it is stopped for the collection
# and started again (a few seconds). Slipway runs this only when no deployment uses the registry
# (slipway/registry_gc.py); run by hand, make sure nothing pushes meanwhile.
registry_gc() {
  local pidfile="$RUN/registry.pid" config="$DATA/registry/config.yml" was_running="" before after rc=0
  if ! is_local "$registry_host"; then
    say "registry: external ($SLIPWAY_REGISTRY), not managed here: collect its garbage where it runs"
    return 0
  fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run scripts/install.sh"
  [ -s "$config" ] || die "no registry config at $config: run 'scripts/services.sh start' once"
  before="$(du -sb "$DATA/registry/data" | cut -f1)"
  if pid_of "$pidfile" docker-registry >/dev/null; then
    was_running=1
    registry_stop
  fi
  docker-registry garbage-collect --delete-untagged "$config" >>"$LOGS/registry-gc.log" 2>&1 || rc=$?
  if [ -n "$was_running" ]; then registry_start; fi
  [ "$rc" = 0 ] || { log_tail "$LOGS/registry-gc.log"; die "garbage-collect failed (status $rc)"; }
  after="$(du -sb "$DATA/registry/data" | cut -f1)"
  say "registry garbage collected: $before -> $after bytes in $DATA/registry/data"
}

# --- the reverse proxy (Caddy) ------------------------------------------------------------

# Two Caddy processes (deployer/caddy.py says why). The router starts with nothing but its admin API
# on SLIPWAY_PROXY_ADMIN; Slipway alone loads its routes through that API (slipway/proxy.py): the
# workers do on start and on every reconciler pass. Its certificates and internal CA live in
# $DATA/caddy. The front listens on SLIPWAY_PROXY_HTTP with a fixed configuration (everything to the
# router at SLIPWAY_PROXY_ROUTER) and is never reloaded, so a switch never touches the listener
# clients connect to.
# The admin API is a Unix socket in $RUN (unix://PATH), never a loopback port: builds and apps share
# the host's network, but not its files. $DATA and $RUN are Slipway's user's alone (mode 700), and
# the router starts with umask 077, so its socket, certificates and CA key are too. A HOST:PORT admin
# API is a Caddy on another machine (slipway/settings.py refuses loopback), not managed here.
proxy_admin_socket() { case "$SLIPWAY_PROXY_ADMIN" in unix://*) echo "${SLIPWAY_PROXY_ADMIN#unix://}" ;; *) return 1 ;; esac; }

proxy_admin_ok() {
  local sock code
  if sock="$(proxy_admin_socket)"; then
    # Over a socket Caddy admits only an empty Host header ("Host;" sends one).
    code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' --unix-socket "$sock" -H 'Host;' http://caddy-admin/config/ 2>/dev/null || true)"
  else
    code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$SLIPWAY_PROXY_ADMIN/config/" 2>/dev/null || true)"
  fi
  [ "$code" = 200 ]
}

proxy_start() {
  local pidfile="$RUN/caddy.pid" conf="$RUN/caddy.json" new sock
  if [ "$SLIPWAY_PROXY" = none ]; then return 0; fi
  if ! sock="$(proxy_admin_socket)"; then say "proxy: external ($SLIPWAY_PROXY_ADMIN), not managed here"; return 0; fi
  new="{\"admin\": {\"listen\": \"unix/$sock\"}}"
  if pid_of "$pidfile" caddy >/dev/null; then
    if [ "$(cat "$conf" 2>/dev/null)" = "$new" ] && wait_for 10 "" proxy_admin_ok; then
      say "proxy router already running (admin API at $SLIPWAY_PROXY_ADMIN)"
      proxy_front_start
      return 0
    fi
    stop_pid proxy "$pidfile" caddy 20   # configuration changed (an admin API that moved): restart
  fi
  if proxy_admin_ok; then
    say "proxy: using the Caddy already answering at $SLIPWAY_PROXY_ADMIN (not started by Slipway)"
    proxy_front_start
    return 0
  fi
  command -v caddy >/dev/null || die "caddy is not installed: run scripts/install.sh"
  mkdir -p "$DATA/caddy" "$(dirname "$sock")"
  chmod 700 "$DATA/caddy" "$(dirname "$sock")"
  rm -f "$sock"   # left by a Caddy that did not stop cleanly: Caddy cannot listen on it otherwise
  (umask 077 && printf '%s\n' "$new" >"$conf")
  (umask 077 && XDG_DATA_HOME="$DATA/caddy/data" XDG_CONFIG_HOME="$DATA/caddy/config" \
    exec setsid -w caddy run --config "$conf" --pidfile "$pidfile" >>"$LOGS/caddy.log" 2>&1 </dev/null) &
  wait_for 30 $! proxy_admin_ok || { log_tail "$LOGS/caddy.log"; die "Caddy's admin API did not answer at $SLIPWAY_PROXY_ADMIN"; }
  say "proxy router started (admin API at $SLIPWAY_PROXY_ADMIN; routes on $SLIPWAY_PROXY_ROUTER, HTTPS on $SLIPWAY_PROXY_HTTPS once loaded)"
  proxy_front_start
}

proxy_front_ok() { port_open "${SLIPWAY_PROXY_HTTP%:*}" "${SLIPWAY_PROXY_HTTP##*:}"; }

proxy_front_start() {
  local pidfile="$RUN/caddy-front.pid" conf="$RUN/caddy-front.json" new
  new="$(cd "$ROOT" && "$(settings_python)" -m deployer.caddy front "$SLIPWAY_PROXY_HTTP" "$SLIPWAY_PROXY_ROUTER")" ||
    die "could not write the proxy front's configuration"
  if pid_of "$pidfile" caddy >/dev/null; then
    if [ "$(cat "$conf" 2>/dev/null)" = "$new" ] && wait_for 10 "" proxy_front_ok; then
      say "proxy front already running on $SLIPWAY_PROXY_HTTP"
      return 0
    fi
    stop_pid "proxy front" "$pidfile" caddy 20
  fi
  if proxy_front_ok; then
    die "$SLIPWAY_PROXY_HTTP is taken by a process Slipway did not start: set SLIPWAY_PROXY_HTTP to a free address"
  fi
  mkdir -p "$DATA/caddy-front"
  printf '%s\n' "$new" >"$conf"
  XDG_DATA_HOME="$DATA/caddy-front/data" XDG_CONFIG_HOME="$DATA/caddy-front/config" \
    setsid -w caddy run --config "$conf" --pidfile "$pidfile" >>"$LOGS/caddy-front.log" 2>&1 </dev/null &
  wait_for 30 $! proxy_front_ok || { log_tail "$LOGS/caddy-front.log"; die "the proxy front did not listen on $SLIPWAY_PROXY_HTTP"; }
  say "proxy front started on $SLIPWAY_PROXY_HTTP (forwards to $SLIPWAY_PROXY_ROUTER)"
}

proxy_stop() {
  if pid_of "$RUN/caddy-front.pid" caddy >/dev/null; then
    stop_pid "proxy front" "$RUN/caddy-front.pid" caddy 20
  fi
  if pid_of "$RUN/caddy.pid" caddy >/dev/null; then
    stop_pid proxy "$RUN/caddy.pid" caddy 20
  fi
}

# --- web and worker (started by scripts/up.sh) ---------------------------------------------

app_stop() {
  stop_pid web "$RUN/web.pid" gunicorn 40
  stop_pid worker "$RUN/worker.pid" rq 30
  stop_pid devnet "$RUN/devnet.pid" "slipway devnet" 20
}

# --- status --------------------------------------------------------------------------------

status_line() {
  local name="$1" pidfile="$2" word="$3" where="$4" healthy="$5" pid
  if pid="$(pid_of "$pidfile" "$word")"; then
    if [ "$healthy" = yes ]; then
      printf '%-9s running  pid %-7s %s\n' "$name" "$pid" "$where"
    else
      printf '%-9s UNHEALTHY pid %-6s %s (not answering)\n' "$name" "$pid" "$where"
      return 1
    fi
  elif [ "$healthy" = yes ]; then
    printf '%-9s external %-11s %s (answering, not started by Slipway)\n' "$name" "" "$where"
  else
    printf '%-9s stopped  %-11s %s\n' "$name" "" "$where"
    return 1
  fi
}

yes_if() { if "$@"; then echo yes; else echo no; fi; }

web_ok() {
  local hostport="${SLIPWAY_BIND/#0.0.0.0:/127.0.0.1:}"
  [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$hostport/" 2>/dev/null || true)" != 000 ]
}

status() {
  local rc=0
  status_line redis "$RUN/redis.pid" redis-server "$(redis_where)" "$(yes_if redis_ping)" || rc=3
  status_line docker "$RUN/dockerd.pid" dockerd "$SLIPWAY_DOCKER_HOST" "$(yes_if docker_ok)" || rc=3
  status_line registry "$RUN/registry.pid" docker-registry "$SLIPWAY_REGISTRY" "$(yes_if registry_ok)" || rc=3
  if [ "$SLIPWAY_PROXY" != none ]; then
    status_line proxy "$RUN/caddy.pid" caddy "$SLIPWAY_PROXY_ADMIN" "$(yes_if proxy_admin_ok)" || rc=3
    status_line front "$RUN/caddy-front.pid" caddy "$SLIPWAY_PROXY_HTTP" "$(yes_if proxy_front_ok)" || rc=3
  fi
  # web and worker are optional (scripts/up.sh starts them; scripts/test.sh does not).
  status_line web "$RUN/web.pid" gunicorn "$SLIPWAY_BIND" "$(yes_if web_ok)" || true
  local wpid
  if wpid="$(pid_of "$RUN/worker.pid" rq)"; then
    printf '%-9s running  pid %-7s %s\n' worker "$wpid" "$(redis_where)"
  else
    printf '%-9s stopped\n' worker
  fi
  local dpid
  if dpid="$(pid_of "$RUN/devnet.pid" "slipway devnet")"; then
    printf '%-9s running  pid %-7s %s\n' devnet "$dpid" "127.0.0.1:$SLIPWAY_DEVNET_PORT (local Akash network)"
  fi
  echo "data dir: $DATA   logs: $LOGS"
  return $rc
}

# --- main ----------------------------------------------------------------------------------

cmd="${1:-}"
case "$cmd" in
  env)
    if [ "${2:-}" = --secrets ]; then print_settings --secrets; exit 0; fi
    # Non-secret settings, exported, plus DOCKER_HOST for the docker CLI and SDK.
    print_settings | grep -E '^[A-Z_]+=' | sed 's/^/export /'
    load_settings
    printf 'export DOCKER_HOST=%q\n' "$SLIPWAY_DOCKER_HOST"
    ;;
  start)
    load_settings
    mkdir -p "$RUN" "$LOGS"
    chmod 700 "$DATA" "$RUN"
    redis_start
    dockerd_start
    registry_start
    proxy_start
    ;;
  stop)
    load_settings
    proxy_stop
    registry_stop
    dockerd_stop
    redis_stop
    ;;
  stop-app)
    load_settings
    app_stop
    ;;
  status)
    load_settings
    status
    ;;
  gc)
    load_settings
    mkdir -p "$RUN" "$LOGS"
    registry_gc
    ;;
  *)
    echo "usage: $0 start|stop|status|stop-app|gc|env [--secrets]" >&2
    exit 2
    ;;
esac
