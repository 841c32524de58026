#!/usr/bin/env bash
# Build the base-image stand-ins for build plans (builder/plan) without pulling anything, and push
# them to Slipway's registry as $SLIPWAY_REGISTRY/base/plan-NAME:KEY:
#
#   node     Debian's nodejs, and npm itself from the npm registry (Debian's npm package pulls in
#            400 packages: 6 minutes and 200 MB more)  (stands in for node:22-slim)
#   python   Debian's python3, venv and pip   (python:3.12-slim), with flask, gunicorn, fastapi and
#            uvicorn preinstalled so the tests' Python apps install offline
#   go       Debian's golang-go               (golang:1.22)
#   static   Debian's caddy                   (caddy:2.8)
#
# Each is a Debian root file system made by mmdebstrap (--variant=minbase, only these packages) and
# turned into an image by `docker import`. KEY is a hash of the package list and this script's
# recipe, so a change to either builds a new image and an unchanged one is reused: from the
# registry (a machine that built it before) or built once (CI's fresh machine).
#
#   scripts/plan_images.sh [NAME...]     prints NAME=IMAGE lines (all four by default)
#
# Needs the services of scripts/services.sh running, and mmdebstrap (scripts/install.sh --test).
# The registry login goes to $DOCKER_CONFIG (default $SLIPWAY_DATA_DIR/docker-config).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
settings="$("$ROOT/scripts/services.sh" env --secrets)"
eval "$settings"
export DOCKER_HOST="$SLIPWAY_DOCKER_HOST"
export DOCKER_CONFIG="${DOCKER_CONFIG:-$SLIPWAY_DATA_DIR/docker-config}"
MIRROR="${SLIPWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
RECIPE=1   # bump when the recipe below changes in a way the package lists do not show

NPM_VERSION=10.9.2   # npm for the node stand-in, from the npm registry
declare -A PACKAGES=(
  [node]="ca-certificates nodejs npm@$NPM_VERSION"
  [python]="ca-certificates python3 python3-venv python3-pip python3-flask gunicorn python3-fastapi uvicorn"
  [go]="ca-certificates golang-go"
  [static]="caddy"
)
say() { echo "plan_images: $*" >&2; }

mkdir -p "$DOCKER_CONFIG"
chmod 700 "$DOCKER_CONFIG"
printf '%s' "$SLIPWAY_REGISTRY_PASSWORD" |
  docker login --username "$SLIPWAY_REGISTRY_USERNAME" --password-stdin "$SLIPWAY_REGISTRY" >/dev/null 2>&1 ||
  { say "docker login to $SLIPWAY_REGISTRY failed"; exit 1; }

manifest_status() {  # NAME TAG: HTTP status of the image's manifest in the registry
  local user="${SLIPWAY_REGISTRY_USERNAME}:${SLIPWAY_REGISTRY_PASSWORD}"
  user="${user//\\/\\\\}"
  user="${user//\"/\\\"}"
  printf 'user = "%s"\n' "$user" |
    curl -s -K - -o /dev/null -m 10 -w '%{http_code}' --head \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$SLIPWAY_REGISTRY/v2/base/plan-$1/manifests/$2" || true
}

npm_tarball() {  # DIR: npm itself, from the npm registry (Debian's npm package brings 400 packages)
  (cd "$1" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) && ls "$1"/npm-*.tgz
}

build() {  # NAME: make sure the image is in the engine and the registry; print NAME=IMAGE
  local name="$1" packages="${PACKAGES[$1]}" key image started tmp hook=""
  key="$(printf '%s\n' "$SUITE" "$RECIPE" $packages | sha256sum | cut -c1-12)"
  image="$SLIPWAY_REGISTRY/base/plan-$name:$key"
  if [ "$(manifest_status "$name" "$key")" = 200 ]; then
    docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" >/dev/null
    echo "$name=$image"
    return
  fi
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || { say "mmdebstrap missing: scripts/install.sh --test"; exit 1; }
    started=$SECONDS
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if [ "$name" = node ]; then
      tarball="$(npm_tarball "$tmp")"
      hook="mkdir -p \"\$1/usr/lib/node_modules/npm\" && tar -xzf $tarball --strip-components=1 -C \"\$1/usr/lib/node_modules/npm\" && ln -sf ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/bin/npm\" && ln -sf ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/bin/npx\""
    fi
    # minbase, no recommends, no apt lists or docs kept: the image holds only what builds use.
    mmdebstrap --quiet --variant=minbase --include="$(printf '%s\n' $packages | grep -v @ | paste -sd,)" \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      ${hook:+--customize-hook="$hook"} \
      "$SUITE" "$tmp/rootfs.tar" "$MIRROR" >&2
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      "$tmp/rootfs.tar" "$image" >/dev/null
    rm -rf "$tmp"
    say "built $image in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
  fi
  docker push -q "$image" >/dev/null
  echo "$name=$image"
}

names=("$@")
[ "${#names[@]}" -gt 0 ] || names=(node python go static)
for name in "${names[@]}"; do
  [ -n "${PACKAGES[$name]:-}" ] || { say "no stand-in named $name (node, python, go, static)"; exit 2; }
done
# Built side by side: most of the time goes to downloading and unpacking packages.
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
pids=()
for name in "${names[@]}"; do
  build "$name" >"$out/$name" &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { say "a stand-in could not be built"; exit 1; }
for name in "${names[@]}"; do cat "$out/$name"; done
