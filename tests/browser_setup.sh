#!/usr/bin/env bash
# Install what tests/test_browser.py needs: Debian's chromium and local copies
# of the front-end packages folium's HTML loads from CDNs.
#
#   bash tests/browser_setup.sh            # idempotent; safe to run every CI run
#
# Lands in:
#   /usr/bin/chromium                       (Debian package "chromium")
#   tests/.assets/node_modules/<package>/   (npm packages; tests/.assets/ is git-ignored)
#
# The versions are the ones folium 0.20's templates reference; the browser test
# maps every CDN URL to a file of these packages (see _ASSET_MAP in
# tests/test_browser.py). Override the folder with GEOCITY_BROWSER_ASSETS.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
assets="${GEOCITY_BROWSER_ASSETS:-$here/.assets}"

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if [ ! -x /usr/bin/chromium ]; then
    echo "browser_setup: installing chromium (Debian)"
    apt_install chromium
fi
# a CJK font so the screenshots show the Chinese names (the DOM text is
# checked either way)
if ! fc-list 2>/dev/null | grep -qi "CJK"; then
    echo "browser_setup: installing fonts-noto-cjk (Debian)"
    apt_install fonts-noto-cjk
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "browser_setup: installing nodejs + npm (Debian)"
    apt_install nodejs npm
fi

# package@version as referenced by folium 0.20 (folium/folium.py, folium/plugins/*.py)
packages=(
    leaflet@1.9.3
    jquery@3.7.1
    bootstrap@5.2.2
    @fortawesome/fontawesome-free@6.2.0
    drmonty-leaflet-awesome-markers@2.0.2
    leaflet.markercluster@1.1.0
    leaflet-search@2.9.7
    leaflet.fullscreen@3.0.0
    leaflet-measure@2.1.7
)

# skip npm when every package is already there at the pinned version
need=0
for spec in "${packages[@]}"; do
    name="${spec%@*}"
    version="${spec##*@}"
    pj="$assets/node_modules/$name/package.json"
    if [ ! -f "$pj" ] || ! grep -q "\"version\": *\"$version\"" "$pj"; then
        need=1
    fi
done

if [ "$need" = 1 ]; then
    echo "browser_setup: npm install into $assets/node_modules"
    mkdir -p "$assets"
    npm install --prefix "$assets" --no-audit --no-fund --ignore-scripts --loglevel=error \
        "${packages[@]}"
fi

echo "browser_setup: chromium $(/usr/bin/chromium --version 2>/dev/null || echo '?'); assets in $assets/node_modules"
