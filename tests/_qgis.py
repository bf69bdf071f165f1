"""Shared setup of the tests that run the real QGIS (headless).

QGIS's Python bindings live in Debian's ``/usr/bin/python3`` (not in the
test venv), and ``qgis_process`` is called as ``qgis_process.bin`` (Debian's
wrapper adds a ``--noversioncheck`` flag its binary rejects). Each run gets a
temporary QGIS profile (``QGIS_CUSTOM_CONFIG_PATH``) and
``QT_QPA_PLATFORM=offscreen``. Without QGIS the tests are skipped, except
under ``CI=true`` where they fail (CI must install ``qgis``, ``python3-qgis``
and ``qgis-providers``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

QGIS_PYTHON = os.environ.get("GEOCITY_QGIS_PYTHON", "/usr/bin/python3")
QGIS_PROCESS = os.environ.get("GEOCITY_QGIS_PROCESS", shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(what: str, ok: bool) -> None:
    """Skip (or, under CI=true, fail) when ``ok`` is false."""
    if ok:
        return
    msg = f"{what} not available (apt-get install qgis python3-qgis qgis-providers)"
    if in_ci():
        pytest.fail(msg + " (CI=true: the QGIS tests must run in CI)")
    pytest.skip(msg)


def have_pyqgis() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    res = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, env=qgis_env(None),
                         timeout=60)
    return res.returncode == 0


def qgis_env(profile: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a headless QGIS run: no venv Python paths, a temporary profile."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("XDG_RUNTIME_DIR", str(Path(profile or "/tmp") / "xdg"))
    if profile is not None:
        env["QGIS_CUSTOM_CONFIG_PATH"] = str(profile)
        Path(env["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(extra)
    return env


#: Loads a project in PyQGIS and prints one JSON line describing every layer.
LOAD_PROJECT = r"""
import json, sys
from qgis.core import QgsApplication, QgsProject, Qgis
app = QgsApplication([], False)
app.initQgis()
msgs = []
QgsApplication.messageLog().messageReceived.connect(lambda m, tag, level: msgs.append([tag, int(level), m]))
project = QgsProject.instance()
ok = project.read(sys.argv[1])
layers = []
root = project.layerTreeRoot()
for node in root.findLayers():
    lyr = node.layer()
    info = {"name": node.name(), "group": node.parent().name(), "checked": node.isVisible(),
            "valid": bool(lyr and lyr.isValid()), "crs": lyr.crs().authid() if lyr else "",
            "source": lyr.source() if lyr else "", "kind": "raster" if lyr and lyr.type() == 1 else "vector"}
    if lyr is not None and info["kind"] == "vector":
        info["count"] = lyr.featureCount()
        info["renderer"] = lyr.renderer().type() if lyr.renderer() else None
        info["fields"] = [f.name() for f in lyr.fields()]
        info["aliases"] = {f.name(): lyr.attributeAlias(i) for i, f in enumerate(lyr.fields()) if lyr.attributeAlias(i)}
        first = next(lyr.getFeatures(), None)
        info["first"] = [str(v) for v in first.attributes()] if first is not None else []
    elif lyr is not None:
        info["renderer"] = lyr.renderer().type() if lyr.renderer() else None
    info["metadata_title"] = lyr.metadata().title() if lyr else ""
    layers.append(info)
print(json.dumps({"ok": ok, "error": project.error(), "layers": layers, "messages": msgs,
                  "crs": project.crs().authid(), "absolute": project.filePathStorage() == Qgis.FilePathType.Absolute
                  if hasattr(Qgis, "FilePathType") else None}))
app.exitQgis()
"""


def load_project(path: Path, tmp: Path) -> dict:
    """Open a project in the real QGIS; returns what :data:`LOAD_PROJECT` prints."""
    script = tmp / "load_project.py"
    script.write_text(LOAD_PROJECT, encoding="utf-8")
    profile = tmp / "qgis_profile"
    res = subprocess.run([QGIS_PYTHON, str(script), str(path)], capture_output=True, text=True, timeout=180,
                         env=qgis_env(profile))
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])
