#!/usr/bin/env bash
# Build the base-image stand-ins for build plans (builder/plan) without pulling anything, and push
# them to Slipway's registry as $SLIPWAY_REGISTRY/base/plan-NAME:KEY:
#
#   node     Debian's nodejs, and npm itself from the npm registry   (stands in for node:22-slim)
#            (Debian's npm package pulls in 400 packages: minutes and 100 MB more); npm's cache
#            holds pnpm and the packages of the tests' Node lock files (NPM_LOCKS) and npm prefers
#            it (npm_config_prefer_offline): the fixtures' installs run offline, as from a mirror
#   python   Debian's python3, venv and pip, with flask, gunicorn, fastapi and uvicorn preinstalled
#            so the tests' Python apps install offline               (python:3.12-slim)
#   go       Debian's golang-go, without the Go distribution's own tests and the compiled
#            packages of its commands (cmd/*), which no user's `go build` reads   (golang:1.22)
#   static   Debian's caddy binary (with the glibc it links) and busybox's sh, FROM scratch
#                                                                     (caddy:2.8, alpine-based)
#
# node, python and go are Debian root file systems made by mmdebstrap (--variant=minbase, only these
# packages, no recommends, no docs, merged /usr set up by mmdebstrap's hook rather than the usrmerge
# package, which brings Perl: 45 MB) and turned into images by `docker import`. Small matters: with
# the vfs storage driver every step of a build copies the whole image. The machine's own extra certificate
# authorities (/usr/local/share/ca-certificates, e.g. an egress proxy's) are trusted inside them, as
# an operator's mirror images would, so builds reach PyPI and npm from here.
#
# KEY hashes the package list, the excluded files, the recipe, those certificates and (node) the
# NPM_LOCKS lock files: a change to any builds a new image, and an unchanged one is reused, from the
# Engine or the registry (a machine that built it before), or built once (CI's fresh machine; the four
# are built side by side, in about a minute or two).
#
#   scripts/plan_images.sh [NAME...]     prints NAME=IMAGE lines (all four by default)
#
# Needs the services of scripts/services.sh running, and mmdebstrap (scripts/install.sh --test).
# The registry login goes to $DOCKER_CONFIG (default $SLIPWAY_DATA_DIR/docker-config).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAY=plan_images
# shellcheck source=scripts/lib/registry.sh
source "$ROOT/scripts/lib/registry.sh"
MIRROR="${SLIPWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
RECIPE=4   # bump when the recipe below changes in a way the package lists do not show
BUSYBOX="${SLIPWAY_BUSYBOX:-/bin/busybox}"

NPM_VERSION=10.9.2   # npm for the node stand-in, from the npm registry
PNPM_VERSION=9.15.0  # in the node stand-in's npm cache (the pnpm fixture's packageManager)
NPM_LOCKS=(tests/fixtures/plan/express)  # their package-lock.json's packages too
declare -A PACKAGES=(
  [node]="ca-certificates nodejs npm@$NPM_VERSION pnpm@$PNPM_VERSION"
  [python]="ca-certificates python3 python3-venv python3-pip python3-flask gunicorn python3-fastapi uvicorn"
  [go]="ca-certificates golang-go"
  [static]="caddy busybox-static"
)
# Files of a stand-in's packages left out (dpkg path-exclude globs; `*` also matches `/`).
declare -A EXCLUDES=(
  [go]="/usr/lib/go-*/pkg/linux_amd64/cmd/* /usr/lib/go-*/pkg/linux_amd64_race/* /usr/share/go-*/src/*_test.go
        /usr/share/go-*/src/*/testdata/* /usr/share/go-*/test/* /usr/share/go-*/api/* /usr/share/go-*/misc/*"
)
shopt -s nullglob
EXTRA_CAS=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
say() { echo "plan_images: $*" >&2; }

debian_image() {  # NAME IMAGE TMP: a minbase root file system with the NAME's packages, imported
  local name="$1" image="$2" tmp="$3" hooks=() env=() excludes=() globs=() glob dir
  read -r -d '' -a globs <<<"${EXCLUDES[$name]:-}" || true   # split on blanks, never expanded here
  for glob in "${globs[@]}"; do excludes+=(--dpkgopt="path-exclude=$glob"); done
  if [ "$name" = node ]; then
    (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
    npm cache add "pnpm@$PNPM_VERSION" --cache "$tmp/npm-cache" >/dev/null
    for dir in "${NPM_LOCKS[@]}"; do
      rm -rf "$tmp/lock" && mkdir "$tmp/lock" && cp "$ROOT/$dir/package.json" "$ROOT/$dir/package-lock.json" "$tmp/lock/"
      (cd "$tmp/lock" && npm ci --ignore-scripts --no-audit --no-fund --cache "$tmp/npm-cache" >/dev/null)
    done
    hooks+=(--customize-hook="mkdir -p \"\$1/root/.npm\" && cp -a $tmp/npm-cache/_cacache \"\$1/root/.npm/\"")
    env+=(--change 'ENV npm_config_prefer_offline=true')
    hooks+=(--customize-hook="mkdir -p \"\$1/usr/lib/node_modules/npm\" && tar -xzf $tmp/npm-$NPM_VERSION.tgz --strip-components=1 -C \"\$1/usr/lib/node_modules/npm\" && ln -sf ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/bin/npm\" && ln -sf ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/bin/npx\"")
  fi
  if [ "${#EXTRA_CAS[@]}" -gt 0 ]; then
    hooks+=(--customize-hook="copy-in ${EXTRA_CAS[*]} /usr/local/share/ca-certificates/"
            --customize-hook='chroot "$1" update-ca-certificates >/dev/null')
    # Node, pip and requests keep bundles of their own unless told to use the system's.
    env+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'
         --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
         --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt'
         --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt')
  fi
  mmdebstrap --quiet --variant=minbase --include="$(printf '%s\n' ${PACKAGES[$name]} | grep -v @ | paste -sd,)" \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' "${excludes[@]}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    "${hooks[@]}" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old' \
    "$SUITE" "$tmp/rootfs.tar" "$MIRROR" >"$tmp/mmdebstrap.log" 2>&1 ||
    { cat "$tmp/mmdebstrap.log" >&2; say "mmdebstrap failed for $name"; return 1; }
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' "${env[@]}" \
    --change 'CMD ["bash"]' \
    "$tmp/rootfs.tar" "$image" >/dev/null
}

static_image() {  # IMAGE TMP: FROM scratch, busybox's applets and Debian's caddy binary (it is static)
  local image="$1" tmp="$2" root="$2/rootfs"
  (cd "$tmp" && apt-get download -q caddy >/dev/null 2>&1) || { say "apt-get download caddy failed"; return 1; }
  dpkg-deb -x "$tmp"/caddy_*.deb "$tmp/caddy"
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc/caddy" "$root/root" "$root/tmp" "$root/srv"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  "$BUSYBOX" --list-full | while IFS= read -r applet; do
    case "$applet" in */*) [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet" ;; esac
  done
  cp "$tmp/caddy/usr/bin/caddy" "$root/usr/bin/caddy"
  # Debian builds caddy against glibc (and libzstd): the machine's own Debian 12 libraries, as ldd finds them.
  ldd "$root/usr/bin/caddy" | grep -o '/[^ ]*' | while IFS= read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config\nCMD ["caddy", "version"]\n' >"$tmp/Dockerfile"
  docker build -q -t "$image" "$tmp" >/dev/null
}

build() {  # NAME: make sure the image is in the engine and the registry; print NAME=IMAGE
  local name="$1" key image started tmp
  key="$( { printf '%s\n' "$SUITE" "$RECIPE" ${PACKAGES[$name]} "${EXCLUDES[$name]:-}"; cat "${EXTRA_CAS[@]}" </dev/null
         [ "$name" != node ] || for dir in "${NPM_LOCKS[@]}"; do cat "$ROOT/$dir/package-lock.json"; done; } | sha256sum | cut -c1-12)"
  [ "$name" = static ] && key="$(printf '%s\n' "$RECIPE" ${PACKAGES[$name]} | sha256sum | cut -c1-12)"
  image="$SLIPWAY_REGISTRY/base/plan-$name:$key"
  if [ "$(manifest_status "base/plan-$name" "$key")" = 200 ]; then
    docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" >/dev/null
    echo "$name=$image"
    return
  fi
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    started=$SECONDS
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    if [ "$name" = static ]; then
      static_image "$image" "$tmp"
    else
      command -v mmdebstrap >/dev/null || { say "mmdebstrap missing: scripts/install.sh --test"; exit 1; }
      debian_image "$name" "$image" "$tmp"
    fi
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
