"""The non-editable install: a wheel must carry layers/ and styles/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_data_and_finds_it(tmp_path):
    # build from a copy: setuptools writes build/ and *.egg-info/ next to the
    # sources, which must not land in (or be read stale from) the checkout
    src = tmp_path / "src"
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    for name in ("geocity", "layers", "styles", "qgis_plugin"):  # setup.cfg maps qgis_plugin/ into the wheel
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir),
         str(src)],
        check=True,
        capture_output=True,
    )
    (whl,) = wheel_dir.glob("geocity-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    expected = sorted(
        p.name for p in (ROOT / "layers").iterdir() if p.suffix in {".csv", ".geojson", ".gpkg", ".md", ".json", ".txt"}
    )
    shipped = sorted(Path(n).name for n in names if n.startswith("geocity/_layers/"))
    assert expected and set(expected) <= set(shipped)
    assert any(n.startswith("geocity/_styles/") and n.endswith(".yaml") for n in names) or not list(
        (ROOT / "styles").glob("*.yaml")
    )
    # the vendored web-map assets (self-contained pages), every file the catalogue lists
    assets = ROOT / "geocity" / "render" / "assets"
    vendored = sorted(p.relative_to(ROOT).as_posix() for p in assets.rglob("*") if p.is_file())
    assert vendored and set(vendored) <= set(names), sorted(set(vendored) - set(names))[:5]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(whl)],
        check=True,
        capture_output=True,
    )
    code = (
        "import geocity, geocity._data as d; from geocity import layers;"
        "p = d.data_dir('layers'); assert str(p).startswith(%r), p;"
        "from geocity.render import page; page._asset_bytes('leaflet', 'leaflet.js');"
        "print(len(layers.load('cities')))" % str(target)
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "516"
