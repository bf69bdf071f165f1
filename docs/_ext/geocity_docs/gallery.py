"""The gallery: every catalogue figure, every example plate file, the web map and the QGIS project,
made by the build itself from the code (nothing committed).

* ``geocity-gallery``: one section per figure of :func:`geocity.figures.list_figures`, rendered
  once per build by :func:`geocity.figures.render_all` with the build's one Analysis (English; a
  Chinese version too for ``geocity_gallery_zh``), PNG at ``geocity_gallery_dpi``.
* ``geocity-plate-files``: one section per ``examples/*.yaml`` (:func:`geocity.plate.render_plate`).
* ``geocity-screenshots``: the self-contained web map shot by headless Chromium, and the QGIS
  project of the main job's layers drawn by PyQGIS (Debian's ``python3`` with ``qgis``,
  ``QT_QPA_PLATFORM=offscreen``). Without Chromium or QGIS the page says so; under ``CI=true``
  the missing tool is a warning, so the build fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from . import shared

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("GEOCITY_CHROMIUM", "/usr/bin/chromium"))
QGIS_PYTHON = Path(os.environ.get("GEOCITY_QGIS_PYTHON", "/usr/bin/python3"))
TIMINGS: dict[str, float] = {}


def in_ci() -> bool:
    """True under ``CI=true`` (a missing Chromium or QGIS then fails the build)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class _Generated(SphinxDirective):
    """A directive that writes reST made from the code and parses it in place."""

    def uri(self, path: Path) -> str:
        """An image path Sphinx resolves from the source folder (``/`` = the source folder)."""
        return "/" + os.path.relpath(path, self.env.srcdir).replace(os.sep, "/")

    def emit(self, lines: list[str]) -> list[nodes.Node]:
        """Parse ``lines`` (reST, sections allowed) into this document."""
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=self.env.docname), node)
        return node.children

    def fail(self, what: str) -> None:
        """A warning (an error under ``-W``) at this directive."""
        logger.warning(what, location=(self.env.docname, self.lineno), type="geocity", subtype="gallery")


def _code(lang: str, text: str) -> list[str]:
    return [f".. code-block:: {lang}", ""] + ["   " + ln for ln in text.splitlines()] + [""]


def _render_figures(env, names: list[str], zh: list[str], dpi: int) -> Path:
    """Render the catalogue once per build (English; Chinese for ``zh``) into ``_geocity/gallery``."""
    from geocity import figures

    out = shared.work_dir(env) / "gallery"
    if shared._STATE.get("figures") == out:
        return out
    t0 = time.perf_counter()
    with shared.quiet():
        a = shared.analysis()
        figures.render_all(out, analysis=a, names=names, lang="en", formats="png", dpi=dpi, overwrite=True)
        if zh:
            figures.render_all(out, analysis=a, names=zh, lang="zh", formats="png", dpi=dpi, overwrite=True)
    TIMINGS["figures"] = time.perf_counter() - t0
    shared._STATE["figures"] = out
    return out


class GalleryDirective(_Generated):
    """Every figure of the catalogue: image, command and Python."""

    def run(self) -> list[nodes.Node]:
        from geocity import figures

        names = figures.list_figures()
        zh = [n for n in self.config.geocity_gallery_zh if n in names]
        try:
            out = _render_figures(self.env, names, zh, self.config.geocity_gallery_dpi)
        except Exception as exc:  # noqa: BLE001 - a figure that fails to render fails the build
            self.fail(f"geocity-gallery: rendering the catalogue failed: {type(exc).__name__}: {exc}")
            return []
        lines: list[str] = []
        for n in names:
            r = figures.get_recipe(n)
            label = r.label_en or "Plate"
            title = f"{label}: {r.title_en}" if r.label_en else r.title_en
            zh_title = f"{r.label_zh} {r.title_zh}".strip()
            lines += [f".. _gallery-{n}:", "", title, "-" * max(len(title) * 2, 4), "", zh_title, ""]
            for lg in ("en", "zh") if n in zh else ("en",):
                png = out / f"{n}_{lg}.png"
                if not png.is_file():
                    self.fail(f"geocity-gallery: {png.name} was not written")
                    continue
                lines += [f".. figure:: {self.uri(png)}", f"   :alt: {r.title_en} ({lg})", "   :width: 100%",
                          "   :class: geocity-gallery", "", f"   ``{n}`` ({'English' if lg == 'en' else '中文'})", ""]
            lines += _code("bash", f"geocity figures {n} -o out/ --lang en,zh --format png,pdf")
            lines += _code("python", f'from geocity import figures\nfigures.render("{n}", "out/", lang=("en", "zh"), '
                                     f'formats=("png", "pdf"))')
        return self.emit(lines)


class ThumbnailsDirective(_Generated):
    """A row of small plates (``geocity_thumbnails``), each linking to its gallery section."""

    def run(self) -> list[nodes.Node]:
        from geocity import figures

        names = figures.list_figures()
        zh = [n for n in self.config.geocity_gallery_zh if n in names]
        try:
            out = _render_figures(self.env, names, zh, self.config.geocity_gallery_dpi)
        except Exception as exc:  # noqa: BLE001
            self.fail(f"geocity-thumbnails: rendering the catalogue failed: {type(exc).__name__}: {exc}")
            return []
        lines: list[str] = []
        for n in self.config.geocity_thumbnails:
            lg = "zh" if n in zh and n == self.config.geocity_thumbnails[-1] else "en"
            lines += [f".. image:: {self.uri(out / f'{n}_{lg}.png')}", f"   :alt: {figures.get_recipe(n).title_en}",
                      "   :width: 32%", f"   :target: gallery.html#gallery-{n}", ""]
        return self.emit(lines)


class PlateFilesDirective(_Generated):
    """Every example plate file (``examples/*.yaml``): image, command, Python and the file."""

    def run(self) -> list[nodes.Node]:
        from geocity import plate

        out = shared.work_dir(self.env) / "plates"
        out.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        t0 = time.perf_counter()
        for spec in sorted((REPO / "examples").glob("*.yaml")):
            png = out / f"{spec.stem}.png"
            import yaml

            own = set(yaml.safe_load(spec.read_text(encoding="utf-8")) or {}) & {"within_km", "scores", "basemap"}
            try:  # the build's Analysis unless the file sets its own parameters
                with shared.quiet():
                    plate.render_plate(spec, png, overwrite=True, dpi=self.config.geocity_gallery_dpi,
                                       analysis=None if own else shared.analysis())
            except Exception as exc:  # noqa: BLE001 - a plate file that fails fails the build
                self.fail(f"geocity-plate-files: {spec.name}: {type(exc).__name__}: {exc}")
                continue
            title = f"examples/{spec.name}"
            lines += [f".. _plate-{spec.stem}:", "", title, "-" * len(title), "",
                      f".. figure:: {self.uri(png)}", f"   :alt: {spec.name}", "   :width: 100%", ""]
            lines += _code("bash", f"geocity plate examples/{spec.name} -o {spec.stem}.pdf")
            lines += _code("python", f'from geocity import plate\nplate.render_plate("examples/{spec.name}", '
                                     f'"{spec.stem}.pdf")')
            lines += [".. literalinclude:: " + self.uri(spec), "   :language: yaml",
                      f"   :caption: examples/{spec.name}", ""]
        TIMINGS["plates"] = time.perf_counter() - t0
        return self.emit(lines)


# --------------------------------------------------------------------------------------------------
# screenshots
# --------------------------------------------------------------------------------------------------
def _webmap_shot(work: Path) -> Path | str:
    """``webmap.png``, or the reason there is none."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    from geocity.render import leaflet

    html = work / "map.html"
    with shared.quiet():
        # self-contained (embedded countries, no tiles, no network); the density overlay is left out for the
        # build's time budget (it is computed on its own grid, ~30 s on two cores)
        m = leaflet.webmap(shared.analysis(), ["cities", "clusters", "corridors", "network"], tiles=None)
        leaflet.save(m, html, overwrite=True)
    png = work / "webmap.png"
    png.unlink(missing_ok=True)
    profile = work / "chromium-profile"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1280,760",
           "--virtual-time-budget=8000", f"--screenshot={png}", html.as_uri()]
    try:
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return png if png.is_file() and png.stat().st_size > 10_000 else "Chromium ran but wrote no screenshot"


_QGIS_RENDER = r"""
import sys
from qgis.core import QgsApplication, QgsProject, QgsMapSettings, QgsMapRendererParallelJob, QgsRectangle
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
if not project.read(sys.argv[1]):
    sys.exit("the project did not open")
root = project.layerTreeRoot()
visible = {n.layerId() for n in root.findLayers() if n.isVisible()}
layers = [lyr for lyr in root.layerOrder() if lyr.id() in visible and lyr.isValid()]
if not layers:
    sys.exit("no visible valid layer")
ms = QgsMapSettings()
ms.setLayers(layers)
ms.setDestinationCrs(project.crs())
ms.setOutputSize(QSize(1400, 700))
ms.setExtent(QgsRectangle(-180, -58, 180, 84))
ms.setBackgroundColor(QColor("#e4edf5"))
job = QgsMapRendererParallelJob(ms)
job.start()
job.waitForFinished()
job.renderedImage().save(sys.argv[2], "png")
print(len(layers))
app.exitQgis()
"""


def _qgis_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(work / "qgis-profile")
    env["XDG_RUNTIME_DIR"] = str(work / "qgis-profile" / "xdg")
    Path(env["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    return env


def _qgis_shot(work: Path) -> Path | str:
    """``qgis.png`` of the main job's project, or the reason there is none."""
    if not QGIS_PYTHON.is_file():
        return f"no {QGIS_PYTHON} (Debian: apt-get install qgis python3-qgis qgis-providers)"
    env = _qgis_env(work)
    probe = subprocess.run([str(QGIS_PYTHON), "-c", "import qgis.core"], capture_output=True, env=env, timeout=120)
    if probe.returncode != 0:
        return "PyQGIS is not installed (Debian: apt-get install qgis python3-qgis qgis-providers)"
    from geocity import pipeline

    run = work / "out"
    with shared.quiet():
        # the density step (four GeoTIFFs at export resolution, ~80 s on two cores) is left out for the time budget
        pipeline.reproduce(run, steps=["layers", "clusters", "corridors", "qgis"],
                           analysis=shared.analysis(), overwrite=True)
    png = work / "qgis.png"
    png.unlink(missing_ok=True)
    res = subprocess.run([str(QGIS_PYTHON), "-c", _QGIS_RENDER, str(run / "geocity.qgs"), str(png)],
                         capture_output=True, text=True, env=env, timeout=300)
    if res.returncode != 0 or not png.is_file():
        return f"PyQGIS could not draw the project: {(res.stderr or res.stdout).strip()[-400:]}"
    return png


class ScreenshotsDirective(_Generated):
    """The web map in headless Chromium and the QGIS project in PyQGIS."""

    def run(self) -> list[nodes.Node]:
        work = shared.work_dir(self.env) / "shots"
        work.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        for key, title, make, caption, cmd in (
            ("webmap", "The web map", _webmap_shot,
             "``map.html`` of the report's analysis (cities, clusters, corridors, modelled links) in "
             "self-contained mode (embedded countries, no tiles, no network), in headless Chromium.",
             "geocity webmap -o map.html --self-contained"),
            ("qgis", "The QGIS project", _qgis_shot,
             "``out/geocity.qgs`` of the main job's layers, clusters and corridors, opened in QGIS "
             "(PyQGIS, headless) with its default styles and drawn as the project switches its layers on.",
             "geocity reproduce -o out --overwrite   # then Project → Open → out/geocity.qgs"),
        ):
            t0 = time.perf_counter()
            try:
                got = make(work)
            except Exception as exc:  # noqa: BLE001 - a failing screenshot fails the build
                got = f"{type(exc).__name__}: {exc}"
                self.fail(f"geocity-screenshots: {key}: {got}")
            TIMINGS[key] = time.perf_counter() - t0
            lines += [f".. _shot-{key}:", "", title, "-" * len(title), ""]
            if isinstance(got, Path):
                lines += [f".. figure:: {self.uri(got)}", f"   :alt: {title}", "   :width: 100%", "",
                          f"   {caption}", ""]
            else:
                if in_ci():
                    self.fail(f"geocity-screenshots: {key}: {got} (CI=true: the screenshot must be taken)")
                lines += [".. note::", "", f"   No screenshot in this build: {got}.", ""]
            lines += _code("bash", cmd)
        return self.emit(lines)


def _report_timings(app, exc) -> None:
    if TIMINGS:
        logger.info("geocity gallery timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))


def setup(app) -> None:
    """Register the gallery directives."""
    app.add_directive("geocity-gallery", GalleryDirective)
    app.add_directive("geocity-thumbnails", ThumbnailsDirective)
    app.add_directive("geocity-plate-files", PlateFilesDirective)
    app.add_directive("geocity-screenshots", ScreenshotsDirective)
    app.connect("build-finished", _report_timings)
