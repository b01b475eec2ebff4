#!/usr/bin/env bash
# Builds the connector's image from this working tree (the Dockerfile as it is, uncommitted edits
# included, the context filtered by .dockerignore) with podman, then runs it as Airbyte does:
# integration_tests/image/test_image.py and the CDK's image tests, both `pytest -m image_tests`.
# `make test` calls it first.
#
#   usage: integration_tests/image/run.sh [PYTHON]   (PYTHON: the venv's python, default .venv/bin/python)
#   FRESHCHAT_IMAGE_CACHE: the image store, the stand-in base image and podman's settings, kept between
#   runs so that a second run rebuilds only what changed (default /var/tmp/source-freshchat-image;
#   delete it to start from nothing).
#
# On a machine without podman it installs podman, runc and mmdebstrap from Debian's packages (as root).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${1:-$REPO/.venv/bin/python}
CACHE=${FRESHCHAT_IMAGE_CACHE:-/var/tmp/source-freshchat-image}
IMAGE=freshchat-airbyte/source-freshchat:dev
BASE=docker.io/library/python:3.11-slim-bookworm

step() { printf '\n== image: %s\n' "$*"; }
seconds_since() { echo $(($(date +%s) - $1)); }

mkdir -p "$CACHE/bin"
# One run at a time per cache: two checkouts running `make test` at once would retag each other's image.
exec 9>"$CACHE/lock"
flock 9

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null; then
  step "installing podman, runc and mmdebstrap"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc mmdebstrap >/dev/null
fi

# A private image store and settings, so nothing here depends on or changes the machine's own podman setup.
# runc and cgroupfs: crun and systemd refuse hybrid cgroup v1/v2 hosts. The ulimits stay within this
# process's hard limits: podman's defaults (1048576 open files) fail where it may not raise them.
cat > "$CACHE/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$CACHE/run"
EOF
NPROC=$(ulimit -Hu)
[ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ] && NPROC=32768
cat > "$CACHE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf CONTAINERS_CONF=$CACHE/containers.conf

if ! podman image exists "$BASE"; then
  # No registry of container images is reachable here, so python:3.11-slim-bookworm is stood in for by
  # Debian bookworm's own python3.11 in a venv rooted at /usr/local: the same paths (/usr/local/bin/pip,
  # console scripts in /usr/local/bin), the same Debian release. Its packages come from this machine's apt sources.
  step "building a stand-in for $BASE (once per cache)"
  started=$(date +%s)
  mapfile -t URIS < <(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [ "${#URIS[@]}" -gt 0 ] || { echo "no URIs in /etc/apt/sources.list.d/debian.sources to build the base image from" >&2; exit 1; }
  MAIN=${URIS[0]} SECURITY=${URIS[1]:-${URIS[0]}}
  BASE_DIR=$CACHE/base
  rm -rf "$BASE_DIR" && mkdir -p "$BASE_DIR/certs"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,netbase,tzdata,python3.11,python3.11-venv \
    --customize-hook='chroot "$1" apt-get clean' --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    bookworm "$BASE_DIR/rootfs.tar" "deb $MAIN bookworm main" "deb $MAIN bookworm-updates main" "deb $SECURITY bookworm-security main"
  podman import --quiet --change 'ENV LANG=C.UTF-8' "$BASE_DIR/rootfs.tar" localhost/python311-bookworm-rootfs >/dev/null
  # This machine's HTTPS egress presents its own CA (none copied where there is none): pip in the build must trust it.
  cp /usr/local/share/ca-certificates/*.crt "$BASE_DIR/certs/" 2>/dev/null || true
  cat > "$BASE_DIR/Containerfile" <<'EOF'
FROM localhost/python311-bookworm-rootfs
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null 2>&1 && python3.11 -m venv /usr/local && rm -rf /root/.cache
ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHON_VERSION=3.11
CMD ["python3"]
EOF
  podman build --quiet --pull=never -t "$BASE" "$BASE_DIR" >/dev/null
  rm -rf "$BASE_DIR"
  echo "stand-in base built in $(seconds_since "$started") s"
fi

step "building $IMAGE from $REPO"
started=$(date +%s)
podman build --pull=never --layers -t "$IMAGE" "$REPO" > "$CACHE/build.log" 2>&1 || { tail -40 "$CACHE/build.log"; exit 1; }
echo "built in $(seconds_since "$started") s; size $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1 / 1e6}')"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | grep -v '^0B' | cut -c1-110
podman image prune -f >/dev/null  # the previous build's layers, now untagged

# The CDK's image tests run `docker run` on the default network, where the container cannot reach the
# emulator on the host's loopback: this `docker` is podman, on the host's network unless told otherwise.
cat > "$CACHE/bin/docker" <<EOF
#!/bin/sh
export CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF CONTAINERS_CONF=$CONTAINERS_CONF
if [ "\$1" = run ]; then
  shift
  case " \$* " in *" --network"*) exec podman run "\$@" ;; esac
  exec podman run --network host "\$@"
fi
exec podman "\$@"
EOF
chmod +x "$CACHE/bin/docker"

step "pytest -m image_tests"
cd "$REPO"
PATH=$CACHE/bin:$PATH "$PYTHON" -m pytest -m image_tests -p no:cacheprovider \
  integration_tests/image integration_tests/test_standard.py --connector-image "$IMAGE" --read-from-streams=true
