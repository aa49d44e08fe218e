#!/usr/bin/env bash
# Rebuild the vendored three.js bundle of the web viewer from the npm registry.
#
# The viewer page must open from file:// with no network, so three.js and its OrbitControls are
# inlined into every page as one classic script. This script fetches the pinned `three` package
# (`npm pack`), checks its sha256, turns the ES module build and OrbitControls into one script
# that defines `window.THREE` (see bundle.py) and copies the MIT licence next to it.
#
# Usage: viz3d/render/web/vendor/update.sh   (needs node/npm and python3)
set -euo pipefail

VERSION=0.160.1
SHA256=d462f9bb4a53d0a75f5ebba49ec1c69847f166cd1bd6cbfdd98ce0b5b7988609

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "three@${VERSION}" >/dev/null)
tarball="$work/three-${VERSION}.tgz"
echo "${SHA256}  ${tarball}" | sha256sum --check --quiet
tar xzf "$tarball" -C "$work"

python3 "$here/bundle.py" \
    "$work/package/build/three.module.min.js" \
    "$work/package/examples/jsm/controls/OrbitControls.js" \
    "$VERSION" > "$here/three.bundle.js.tmp"
mv "$here/three.bundle.js.tmp" "$here/three.bundle.js"
cp "$work/package/LICENSE" "$here/LICENSE.three"
echo "three ${VERSION}: $(wc -c < "$here/three.bundle.js") bytes in $here/three.bundle.js"
