#!/usr/bin/env bash
# Run by `npm test` before the suite: the Debian packages some tests drive for real (libfaketime
# for the clock-skew test, gcc for the filesystem fault shim, nfs-ganesha + microsocks + libnfs
# for the NFS tests). Installed when missing and this is root with apt (a fresh machine of the
# CI's kind); elsewhere it names what is missing, and the tests that need it fail saying so.
set -uo pipefail
packages=(faketime gcc libc6-dev nfs-ganesha nfs-ganesha-vfs microsocks libnfs-utils)
missing=()
for pkg in "${packages[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "[tests] installing Debian packages the tests need: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null && exit 0
  echo "[tests] WARNING: could not install ${missing[*]}; the tests that need them will fail" >&2
else
  echo "[tests] WARNING: missing Debian packages ${missing[*]} (apt-get install them as root); the tests that need them will fail" >&2
fi
exit 0
