#!/usr/bin/env bash
# scripts/apt_ensure.sh TAG PACKAGE...: installs the Debian packages that are not installed yet
# (with sudo when not root), printing "TAG: installing ..." first. Used by scripts/setup.sh and
# .ci/cross.sh so both install the same way.
set -euo pipefail
tag=$1
shift
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "$tag: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
