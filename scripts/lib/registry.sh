# Sourced by the scripts that make the tests' base images (scripts/base_image.sh, scripts/plan_images.sh):
# the test instance's settings, the Docker Engine and the registry login they share.
#
#   SAY=name; source "$ROOT/scripts/lib/registry.sh"
#
# Afterwards DOCKER_HOST points at Slipway's Engine, the classic builder is chosen (BuildKit is not
# available here), the registry login sits in $DOCKER_CONFIG (default
# $SLIPWAY_DATA_DIR/docker-config, never ~/.docker nor a command line), and
#   manifest_status REPOSITORY TAG   prints the HTTP status of an image's manifest in the registry.
# The caller has `set -euo pipefail` and ROOT; a failed login exits, saying so on stderr.

settings="$("$ROOT/scripts/services.sh" env --secrets)"
eval "$settings"
export DOCKER_HOST="$SLIPWAY_DOCKER_HOST"
export DOCKER_CONFIG="${DOCKER_CONFIG:-$SLIPWAY_DATA_DIR/docker-config}"
export DOCKER_BUILDKIT=0

mkdir -p "$DOCKER_CONFIG"
chmod 700 "$DOCKER_CONFIG"
printf '%s' "$SLIPWAY_REGISTRY_PASSWORD" |
  docker login --username "$SLIPWAY_REGISTRY_USERNAME" --password-stdin "$SLIPWAY_REGISTRY" >/dev/null 2>&1 ||
  { echo "$SAY: docker login to $SLIPWAY_REGISTRY failed" >&2; exit 1; }

manifest_status() {  # REPOSITORY TAG; the credentials go to curl on stdin, never on a command line
  local user="${SLIPWAY_REGISTRY_USERNAME}:${SLIPWAY_REGISTRY_PASSWORD}"
  user="${user//\\/\\\\}"
  user="${user//\"/\\\"}"
  printf 'user = "%s"\n' "$user" |
    curl -s -K - -o /dev/null -m 10 -w '%{http_code}' --head \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$SLIPWAY_REGISTRY/v2/$1/manifests/$2" || true
}
