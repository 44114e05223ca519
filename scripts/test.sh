#!/usr/bin/env bash
# Runs the whole test suite: sets up first (libraries, weights), fetches what only the
# tests need (photographs from Debian's darknet package, unpacked without installing
# its dependencies), then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

photos="${LIGHTBOX_HOME:-$HOME/.cache/lightbox}/test-data/darknet"
if [ ! -f /usr/share/darknet/data/eagle.jpg ] && [ ! -f "$photos/usr/share/darknet/data/eagle.jpg" ]; then
    work=$(mktemp -d)
    (cd "$work" && apt-get download darknet >/dev/null 2>&1 || { apt-get update -qq && apt-get download darknet >/dev/null; })
    mkdir -p "$photos"
    dpkg-deb -x "$work"/darknet_*.deb "$photos"
    rm -rf "$work"
fi

swift test 2>&1
