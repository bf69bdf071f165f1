"""Is the geocity package importable in QGIS's Python, and if not, how to install it."""

from __future__ import annotations

import os
import sys

_ERROR: list = []


def geocity_import_error() -> str | None:
    """None when ``import geocity`` works in this Python, else the reason (cached)."""
    if not _ERROR:
        try:
            import geocity  # noqa: F401
        except Exception as exc:  # any failure to import is reported, not raised
            _ERROR.append(f"{type(exc).__name__}: {exc}")
        else:
            _ERROR.append(None)
    return _ERROR[0]


def qgis_python() -> str:
    """The Python interpreter that QGIS runs (where geocity must be installed)."""
    if sys.platform == "win32":
        return os.path.join(sys.exec_prefix, "python.exe")
    return os.path.join(sys.exec_prefix, "bin", "python3")


def pip_command() -> str:
    """The command that installs geocity into QGIS's Python."""
    return f'"{qgis_python()}" -m pip install "/path/to/geocity"'


def install_text(short: bool = False) -> str:
    """What to tell the user when geocity is missing."""
    where = ("in the OSGeo4W Shell" if sys.platform == "win32"
             else "in a terminal")
    text = (
        "The geocity Python package is not installed in QGIS's Python, so the geocity algorithms are not "
        f"available. Install it {where} with:  {pip_command()}  (the folder of the geocity source, or a geocity "
        "wheel), then restart QGIS."
    )
    if short:
        return text
    return text + (
        f" QGIS's Python is {sys.version.split()[0]} at {qgis_python()}. On Debian/Ubuntu, whose system Python "
        "refuses pip, make a venv that sees QGIS's packages:  python3 -m venv --system-site-packages ~/geocity-qgis"
        "  ~/geocity-qgis/bin/pip install /path/to/geocity  and add its site-packages folder to PYTHONPATH in "
        "Settings → Options → System → Environment. The error was: " + str(geocity_import_error())
    )
