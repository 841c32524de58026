#!/usr/bin/env bash
# Build the tests' base image without pulling anything and push it to Slipway's registry:
#   $SLIPWAY_REGISTRY/base/busybox:latest
# FROM scratch + Debian's static busybox (busybox-static) with a symlink per applet (sh, httpd,
# wget, ...), /tmp, and a minimal /etc/passwd. Test Dockerfiles use
#   FROM <registry>/base/busybox:latest
#   CMD busybox httpd -f -p $PORT -h /www
# Idempotent: if the registry already has the image, only makes sure the engine has it too.
# Needs the services of scripts/services.sh running; the registry login goes to
# $DOCKER_CONFIG (default $SLIPWAY_DATA_DIR/docker-config), never on a command line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAY=base_image
# shellcheck source=scripts/lib/registry.sh
source "$ROOT/scripts/lib/registry.sh"

IMAGE="$SLIPWAY_REGISTRY/base/busybox:latest"
BUSYBOX="${SLIPWAY_BUSYBOX:-/bin/busybox}"
say() { echo "base_image: $*"; }

if [ "$(manifest_status base/busybox latest)" = 200 ]; then
  if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    docker pull -q "$IMAGE" >/dev/null
  fi
  say "$IMAGE is in the registry"
  exit 0
fi

[ -x "$BUSYBOX" ] || { echo "base_image: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while IFS= read -r applet; do
  case "$applet" in */*) ;; *) continue ;; esac   # skip top-level entries such as linuxrc
  [ "$applet" = bin/busybox ] || [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
EOF

docker build -q -t "$IMAGE" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; exit 1; }
out="$(docker run --rm --network none "$IMAGE" sh -c 'echo ok' 2>&1)" || true
[ "$out" = ok ] || { echo "base_image: the built image does not run sh: $out" >&2; exit 1; }
docker push "$IMAGE" >/dev/null
say "built and pushed $IMAGE"
