#!/usr/bin/env bash
# Install what tests/test_qgis_*.py need: Debian's QGIS with its Python
# bindings and data providers, and a CJK font for the Chinese labels.
#
#   bash tests/qgis_setup.sh            # idempotent; safe to run every CI run
#
# Lands in:
#   /usr/bin/python3 -c 'import qgis.core'   (Debian packages "qgis", "python3-qgis")
#   /usr/bin/qgis_process.bin                 (Debian's qgis_process wrapper adds a
#                                              --noversioncheck flag the binary rejects;
#                                              the tests call the .bin directly)
#   the OGR/GDAL providers (qgis-providers) and Noto Sans CJK SC (fonts-noto-cjk)
#
# PyQGIS is built for Debian's /usr/bin/python3, not for the project's venv:
# the tests run it in a subprocess, headless (QT_QPA_PLATFORM=offscreen), with a
# temporary HOME/profile. Under CI=true they fail, not skip, when QGIS is missing.
set -euo pipefail

need=()
if ! /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1; then
    need+=(qgis python3-qgis qgis-providers)
fi
if [ ! -x /usr/bin/qgis_process.bin ] && [ ${#need[@]} -eq 0 ]; then
    need+=(qgis)
fi
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK SC"; then
    need+=(fonts-noto-cjk)
fi

if [ ${#need[@]} -gt 0 ]; then
    echo "qgis_setup: installing ${need[*]} (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

version="$(QT_QPA_PLATFORM=offscreen HOME="$(mktemp -d)" /usr/bin/python3 -c \
    'from qgis.core import Qgis; print(Qgis.QGIS_VERSION)' 2>/dev/null || echo '?')"
echo "qgis_setup: QGIS $version (PyQGIS for /usr/bin/python3)"
