"""Where geocity is installed, and if nowhere, how to install it.

The algorithms run geocity in a separate Python process (``python -m
geocity.qgis_worker``), never inside QGIS: geocity's libraries (shapely,
pyproj, pyogrio, rasterio wheels) bring their own GEOS, PROJ and GDAL,
which must not mix with QGIS's own in one process. The Python used is, in
order: the ``GEOCITY_PYTHON`` environment variable (Settings → Options →
System → Environment in QGIS), QGIS's own Python, then ``python3`` /
``python`` on the PATH — the first in which ``import geocity.qgis_worker``
works.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

_FOUND: dict = {}


def qgis_python() -> str:
    """The Python interpreter that comes with QGIS."""
    if sys.platform == "win32":
        return os.path.join(sys.exec_prefix, "python.exe")
    return os.path.join(sys.exec_prefix, "bin", "python3")


def _candidates() -> list[str]:
    env = os.environ.get("GEOCITY_PYTHON", "").strip()
    if env:
        return [env]  # the user's choice, and only it
    out = [qgis_python()]
    for name in ("python3", "python"):
        p = shutil.which(name)
        if p:
            out.append(p)
    return list(dict.fromkeys(out))


def _no_window() -> dict:
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {}


#: Prints geocity's version and the newest modification time of its modules: cheap (no geocity import
#: beyond its package), so each QGIS start only asks for the full description when geocity changed.
_STAMP = ("import geocity, glob, json, os; d = os.path.dirname(geocity.__file__); "
          "print(json.dumps([geocity.__version__, d, max(os.path.getmtime(f) for f in glob.glob(d + '/*.py'))]))")


def worker_env(python: str) -> dict:
    """The environment of a geocity process: QGIS's own Python settings (``PYTHONHOME``,
    ``PYTHONPATH``, which QGIS on Windows sets for its Python) only for QGIS's own Python."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    if os.path.normcase(os.path.abspath(python)) != os.path.normcase(os.path.abspath(qgis_python())):
        for k in ("PYTHONHOME", "PYTHONPATH"):
            env.pop(k, None)
    return env


def _call(python: str, args: list[str]):
    try:
        res = subprocess.run([python, *args], capture_output=True, text=True, encoding="utf-8", timeout=120,
                             env=worker_env(python), **_no_window())
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{python}: {exc}"
    if res.returncode != 0:
        tail = (res.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return None, f"{python}: {tail[0]}"
    try:
        return json.loads(res.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, f"{python}: unexpected answer {res.stdout[:200]!r}"


def _cache_path() -> str:
    from qgis.core import QgsApplication

    return os.path.join(QgsApplication.qgisSettingsDirPath(), "geocity_provider.json")


def _probe(python: str):
    """``(describe, None)`` when ``python`` has geocity, else ``(None, why)``; the description is
    cached in the QGIS profile, keyed by the Python, geocity's version, folder and module times."""
    stamp, why = _call(python, ["-c", _STAMP])
    if stamp is None:
        return None, why
    key = [os.path.abspath(python), *stamp]
    try:
        with open(_cache_path(), encoding="utf-8") as fh:
            cached = json.load(fh)
        if cached.get("key") == key:
            return cached["describe"], None
    except (OSError, ValueError, KeyError, AttributeError, ImportError):
        pass
    desc, why = _call(python, ["-m", "geocity.qgis_worker", "--describe"])
    if desc is not None:
        try:
            tmp = _cache_path() + f".{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"key": key, "describe": desc}, fh)
            os.replace(tmp, _cache_path())
        except (OSError, ImportError):
            pass  # no cache: asked again next time
    return desc, why


def find_geocity():
    """``(python, describe)`` of the first Python with geocity, else ``(None, reasons)`` (cached)."""
    if not _FOUND:
        reasons = []
        for py in _candidates():
            desc, why = _probe(py)
            if desc is not None:
                _FOUND["result"] = (py, desc)
                break
            reasons.append(why)
        else:
            _FOUND["result"] = (None, reasons)
    return _FOUND["result"]


def geocity_missing() -> str | None:
    """None when geocity was found, else why not."""
    py, info = find_geocity()
    return None if py else "; ".join(info)


def pip_command() -> str:
    """The command that installs geocity into QGIS's Python."""
    return f'"{qgis_python()}" -m pip install "/path/to/geocity"'


def install_text(short: bool = False) -> str:
    """What to tell the user when geocity is missing."""
    where = "in the OSGeo4W Shell" if sys.platform == "win32" else "in a terminal"
    text = (
        "The geocity Python package was not found, so the geocity algorithms are not available. "
        f"Install it {where} with:  {pip_command()}  (the folder of the geocity source, or a geocity wheel), "
        "or into any Python 3.10+ and set the environment variable GEOCITY_PYTHON to that Python "
        "(Settings → Options → System → Environment), then restart QGIS."
    )
    if short:
        return text
    return text + (
        " On Debian/Ubuntu, whose system Python refuses pip, use a venv:  python3 -m venv ~/geocity-venv  then  "
        "~/geocity-venv/bin/pip install /path/to/geocity  and set GEOCITY_PYTHON=~/geocity-venv/bin/python. "
        f"Tried: {geocity_missing()}"
    )
