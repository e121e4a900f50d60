#!/usr/bin/env bash
# The service's container image, daemonless (docs/deployment.md#the-image).
#
#   deploy/image/build.sh context   write the build context to .build/image: the Dockerfile,
#                                   the runtime lock, the sources, and wheels/ (every locked
#                                   package, downloaded here and checked against its hash)
#   deploy/image/build.sh image     the context, then: a Debian bookworm base made with
#                                   debootstrap (once; no registry), the image built with
#                                   buildah, and a smoke test: `--help`, then `migrate` against
#                                   the local PostgreSQL (a database of its own, dropped after)
#
# Where buildah (or, for the base, debootstrap and root) is missing, `image` says so and stops
# with status 0: the context is still written, for any other builder
# (`docker build -t withdraw-service .build/image`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONTEXT="$ROOT/.build/image"
VENV="$ROOT/.venv/bin"
BASE_IMAGE="localhost/withdraw-base:bookworm"
VERSION=$("$VENV/python" -c 'import importlib.metadata as m; print(m.version("withdraw-service"))')
TAG="localhost/withdraw-service:$VERSION"
POSTGRES=${WITHDRAW_IMAGE_SMOKE_POSTGRES:-postgresql://postgres@127.0.0.1:5432/test}
# No overlay mounts where this runs inside a container itself; no daemon either.
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

context() {
  rm -rf "$CONTEXT" && mkdir -p "$CONTEXT/wheels"
  cp "$ROOT/deploy/image/Dockerfile" "$ROOT/requirements-runtime.lock" "$ROOT/pyproject.toml" \
     "$ROOT/README.md" "$CONTEXT/"
  (cd "$ROOT" && git ls-files -z src | xargs -0 cp --parents -t "$CONTEXT")
  "$VENV/pip" download --quiet --no-deps --require-hashes --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform linux_x86_64 --platform any \
    -r "$ROOT/requirements-runtime.lock" -d "$CONTEXT/wheels"
  echo "build context: $CONTEXT ($(find "$CONTEXT/wheels" -name '*.whl' | wc -l) wheels)"
}

base() {
  if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  if ! command -v debootstrap >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "SKIPPED: the base image needs debootstrap, run as root (apt-get install debootstrap)"
    return 1
  fi
  local rootfs; rootfs=$(mktemp -d)
  echo "making $BASE_IMAGE with debootstrap (Debian bookworm, python3.11)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$CONTEXT/../debootstrap.log" 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -cf "$CONTEXT/../rootfs.tar" . && rm -rf "$rootfs"
  local ctr; ctr=$(buildah from scratch)
  buildah add "$ctr" "$CONTEXT/../rootfs.tar" / >/dev/null
  buildah config --cmd /bin/bash "$ctr"
  buildah commit --quiet "$ctr" "$BASE_IMAGE" >/dev/null && buildah rm "$ctr" >/dev/null
  rm -f "$CONTEXT/../rootfs.tar"
}

SMOKE_CTR="" SMOKE_DB="withdraw_image_smoke_$$"
cleanup() {
  if [ -n "$SMOKE_CTR" ]; then
    buildah rm "$SMOKE_CTR" >/dev/null || true
    "$VENV/python" "$ROOT/deploy/image/database.py" drop "$POSTGRES" "$SMOKE_DB" || true
  fi
}
trap cleanup EXIT

smoke() {
  SMOKE_CTR=$(buildah from "$TAG")
  local help; help=$(buildah run "$SMOKE_CTR" -- withdraw-service --help)
  for command in api worker migrate setup-temporal codec-server; do
    grep -q "$command" <<<"$help"
  done
  echo "smoke: withdraw-service --help lists every command"
  [ "$(buildah run "$SMOKE_CTR" -- id -u)" = 10001 ]
  echo "smoke: runs as uid 10001, not root"
  "$VENV/python" "$ROOT/deploy/image/database.py" create "$POSTGRES" "$SMOKE_DB"
  local url; url="postgresql+psycopg://${POSTGRES#postgresql://}"
  url="${url%/*}/$SMOKE_DB"
  for run in first again; do  # the second finds nothing to do
    buildah run --network host "$SMOKE_CTR" -- withdraw-service migrate --database-url "$url" \
      2>/dev/null | sed "s/^/smoke: migrate ($run): /"
  done
}

image() {
  context
  if ! command -v buildah >/dev/null; then
    echo "SKIPPED: buildah is missing (apt-get install buildah debootstrap); the context is" \
         "ready for another builder: docker build -t withdraw-service $CONTEXT"
    return 0
  fi
  base || return 0
  buildah bud --quiet --layers=false --build-arg BASE="$BASE_IMAGE" -t "$TAG" "$CONTEXT" >/dev/null
  buildah rmi --prune >/dev/null 2>&1 || true  # the image this tag named before
  echo "built $TAG ($(buildah images --format '{{.Size}}' "$TAG"))"
  smoke
  echo "image $TAG: smoke test passed"
}

"${1:?usage: build.sh context|image}"
