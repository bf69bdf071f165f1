"""The documentation site (issue 18): the documented command builds it offline with warnings as
errors, and the result is complete — every catalogue figure in the gallery with its image, every
click command in the CLI reference, every public module in the API reference, every style key and
every layer column in their references — and every internal link resolves.

The build renders the gallery, runs every guide's code and takes the Chromium and QGIS screenshots
(required under ``CI=true``, as in the browser and QGIS tests), so it is one module-scoped build.
"""

from __future__ import annotations

import html
import os
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("sphinx_click")
pytest.importorskip("myst_parser")
pytest.importorskip("furo")

import geocity  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HREF = re.compile(r'(?:href|src)="([^"]+)"')
IDS = re.compile(r'\bid="([^"]+)"')


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``python -m sphinx -W --keep-going -b html docs <tmp>/html``: the documented command."""
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPHINX")}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", str(out)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=1200)
    took = time.perf_counter() - t0
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"the docs build failed:\n{log[-6000:]}"
    print(f"docs build: {took:.0f} s")
    return out, log


def _id(text: str) -> str:
    """The HTML id docutils makes of a label (``plate-pacific_clusters`` -> ``plate-pacific-clusters``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _page(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


def test_build_has_no_warnings(site):
    _out, log = site
    assert "WARNING" not in log and "ERROR" not in log, log[-4000:]


def test_gallery_has_every_figure_with_its_image_command_and_python(site):
    from geocity import figures

    out, _log = site
    page = _page(out, "gallery.html")
    for name in figures.list_figures():
        assert f'id="{_id("gallery-" + name)}"' in page, name
        assert f"geocity figures {name} -o out/" in html.unescape(re.sub(r"<[^>]+>", "", page)), name
        imgs = re.findall(rf'<img[^>]+src="(_images/{re.escape(name)}_en[^"]*\.png)"', page)
        assert imgs and (out / imgs[0]).stat().st_size > 2000, name
    for spec in (ROOT / "examples").glob("*.yaml"):
        assert f'id="{_id("plate-" + spec.stem)}"' in page and re.search(rf'src="_images/{spec.stem}[^"]*\.png"', page)


def test_gallery_screenshots(site):
    out, _log = site
    page = _page(out, "gallery.html")
    for key in ("webmap", "qgis"):
        shot = re.search(rf'src="(_images/{key}[^"]*\.png)"', page)
        if shot:
            assert (out / shot.group(1)).stat().st_size > 10_000
        else:
            assert not in_ci(), f"no {key} screenshot under CI=true"
            assert "No screenshot in this build" in page


def _commands(cmd, path=("geocity",)):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, path + (name,))


def test_cli_reference_has_every_command_and_option(site):
    from geocity.cli.main import cli

    out, _log = site
    page = html.unescape(_page(out, "reference/cli.html"))
    ids = set(IDS.findall(page))
    for path, cmd in _commands(cli):
        assert "-".join(path) in ids, path
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, (path, opt)


def _public_modules() -> list[str]:
    out = []
    for m in pkgutil.walk_packages(geocity.__path__, "geocity."):
        parts = m.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "cli":
            continue
        out.append(m.name)
    return out


def test_api_reference_has_every_public_module(site):
    out, _log = site
    mods = _public_modules()
    assert "geocity.cluster" in mods and "geocity.render.leaflet" in mods
    index = _page(out, "reference/api.html")
    for m in mods:
        assert (out / "reference" / "api" / f"{m}.html").is_file(), f"{m}: add docs/reference/api/{m}.rst"
        assert f"api/{m}.html" in index, m
    page = _page(out, "reference/api/geocity.cluster.html")
    assert 'id="geocity.cluster.CityClusters"' in page and "eps_km" in page


def test_style_schema_and_layer_dictionary_are_complete(site):
    from geocity import layers, styles

    out, _log = site
    page = html.unescape(_page(out, "reference/styles.html"))

    def keys(schema, prefix=()):
        for k, v in schema.items():
            yield from keys(v, prefix + (k,)) if isinstance(v, dict) else [".".join(prefix + (k,))]

    for key in keys(styles.SCHEMA):
        assert f">{key}<" in page, key
    page = html.unescape(_page(out, "reference/layers.html"))
    for name in layers.available():
        section = page.split(f'id="{_id("layer-" + name)}"', 1)[1].split('<section id="layer-', 1)[0]
        for col in layers.load(name).columns:
            assert f">{col}<" in section, (name, col)
        assert "(undocumented)" not in section


def test_guides_ran_and_printed(site):
    out, _log = site
    for guide in ("clusters", "corridors", "density-networks", "plates", "styles", "webmap", "qgis",
                  "scores-editions", "scale", "provenance", "bad-input"):
        page = _page(out, f"guides/{guide}.html")
        assert "geocity-exec-output" in page, guide
    bad = html.unescape(_page(out, "guides/bad-input.html"))
    assert "ValidationError" in bad and "did you mean" in bad
    zh = _page(out, "quickstart.zh.html")
    assert "快速入门" in zh and "<td><p>生产与服务</p></td>" in zh  # the report's terms, from geocity.terms
    index = _page(out, "index.html")
    assert len(re.findall(r'<a class="reference external image-reference" href="gallery.html#gallery-', index)) >= 3
    assert ".. image::" not in index


def test_internal_links_resolve(site):
    out, _log = site
    ids: dict[Path, set[str]] = {}
    broken = []
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for ref in HREF.findall(text):
            ref = html.unescape(ref)
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("//") or ref.startswith("mailto:"):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(out)}: {ref}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(IDS.findall(target.read_text(encoding="utf-8")))
                if unquote(parts.fragment) not in ids[target]:
                    broken.append(f"{page.relative_to(out)}: {ref} (no such anchor)")
    assert not broken, "\n".join(broken[:40])
