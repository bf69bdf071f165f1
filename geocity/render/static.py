"""Static map plates with matplotlib: world and regional maps, bar charts,
their furniture (bilingual title, legend, scale bar, north arrow, graticule,
credits, insets) and deterministic PNG/PDF/SVG output.

A plate is a :class:`Plate`: a matplotlib :class:`~matplotlib.figure.Figure`
plus the map axes, the map's CRS and the style. Build one with
:func:`world_plate`, :func:`regional_plate` or :func:`chart_plate`, add layers
(:meth:`Plate.add_basemap`, :meth:`Plate.add_polygons`,
:meth:`Plate.add_lines`, :meth:`Plate.add_points`, :meth:`Plate.add_labels`),
furniture (:meth:`Plate.add_legend`, :meth:`Plate.add_scalebar`, ...) and
write it with :func:`save_figure`.

Projections
-----------
World plates use the style's world CRS (Equal Earth, EPSG:8857, by default).
Geometries are cut at the projection's seam (the meridian opposite its
central meridian) *before* projecting, so polygons that cross the
antimeridian (or come in 0…360° longitudes, or with edges that jump across
±180°) never smear across the map. Regional plates use a local Lambert
azimuthal equal-area (or azimuthal equidistant) CRS centred on the region
(:func:`geocity.geodesy.local_crs`); layers are first clipped to a geodesic
disc around the centre.

The scale bar is true along the horizontal through the plate centre: the
ground length of one map unit is measured there geodesically
(:func:`geocity.geodesy.distance_km`) and handed to matplotlib-scalebar.

Fonts
-----
Latin text uses the style's ``fonts.family_en`` (DejaVu Sans). Chinese text
needs a CJK font: the Noto Sans CJK SC file shipped by the ``mplfonts``
package is registered with matplotlib's font manager from the package folder
(no network). If Chinese is asked for and no CJK font exists,
:class:`~geocity.errors.DependencyError` is raised instead of drawing tofu.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import fontManager
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.path import Path as MplPath
from pyproj import CRS, Transformer
from shapely.geometry import LineString, box

from .. import _validate, geodesy
from ..errors import DependencyError, NotFoundError, ValidationError
from ..styles import font_families, load_style
from .static_geometry import (  # noqa: F401 (fix_wrapping is public here; the rest used by tests and plates)
    _SEAM_EPS,
    _crs_lon0,
    _disc,
    _fix_all,
    _keep_kind,
    _prepare_regional,
    _prepare_world,
    _shift,
    fix_wrapping,
)

log = logging.getLogger(__name__)

__all__ = [
    "LANGS",
    "Plate",
    "world_plate",
    "regional_plate",
    "chart_plate",
    "save_figure",
    "load_basemap",
    "cjk_font_path",
    "ensure_cjk_font",
    "font_family",
    "bilingual",
    "fix_wrapping",
    "nice_step",
]

#: Label languages.
LANGS = ("en", "zh", "both")
#: Output formats :func:`save_figure` writes.
FORMATS = ("png", "pdf", "svg")

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
#: projected basemap paths, keyed by layer identity and plate geometry
_BASEMAP_CACHE: dict = {}


# --------------------------------------------------------------------------
# fonts and languages
# --------------------------------------------------------------------------
def cjk_font_path() -> Path | None:
    """Path of the Noto Sans CJK SC file shipped by ``mplfonts``, or None."""
    try:
        import mplfonts
    except ImportError:
        return None
    p = Path(mplfonts.__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    return p if p.is_file() else None


def _has_family(family: str) -> bool:
    return any(f.name == family for f in fontManager.ttflist)


def ensure_cjk_font(family: str = "Noto Sans CJK SC") -> str:
    """Make sure the CJK font ``family`` is known to matplotlib.

    Registers the ``mplfonts`` Noto Sans CJK SC file when needed.

    Raises
    ------
    DependencyError
        No font of that family is installed and ``mplfonts`` is missing.
    """
    if _has_family(family):
        return family
    p = cjk_font_path()
    if p is not None:
        fontManager.addfont(str(p))
        if _has_family(family):
            return family
    raise DependencyError(
        f"Chinese labels need the CJK font {family!r}, which is not installed. "
        "Install it with `pip install mplfonts` (ships Noto Sans CJK SC), or set "
        "fonts.family_zh in the style to a CJK font matplotlib can find, or use lang='en'."
    )


#: Accepted PNG resolutions (dots per inch); the style's ``output.dpi`` obeys the same range.
DPI_RANGE = (10, 2400)


def check_dpi(dpi) -> int | None:
    """``dpi`` as an int within :data:`DPI_RANGE`, or ``None`` (the style's default)."""
    if dpi is None:
        return None
    v = _validate.whole("dpi", dpi, minimum=1)
    if not DPI_RANGE[0] <= v <= DPI_RANGE[1]:
        raise ValidationError(
            f"dpi must be between {DPI_RANGE[0]} and {DPI_RANGE[1]} (300 for print, 96–150 for screens), got {dpi!r}"
        )
    return v


def check_lang(lang: str) -> str:
    """Validate a label language."""
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    return lang


def font_family(lang: str, style: Mapping) -> list[str]:
    """Font family list for ``lang``: Latin first, CJK as fallback."""
    check_lang(lang)
    fam = font_families(style)
    if lang == "en":
        return [fam["en"]]
    return [fam["en"], ensure_cjk_font(fam["zh"])]


def bilingual(en: str | None, zh: str | None, lang: str, sep: str = "\n") -> str:
    """Pick the English text, the Chinese text or both (Chinese first)."""
    en = en or ""
    zh = zh or ""
    if lang == "en":
        return en
    if lang == "zh":
        return zh or en
    if zh and en:
        return f"{zh}{sep}{en}"
    return zh or en


def _guard_text(text: str, family: Sequence[str]) -> None:
    """Refuse CJK text when no CJK font is in ``family`` (never tofu)."""
    if _CJK.search(text or "") and len(family) < 2:
        raise ValidationError(
            f"text {text[:30]!r} holds Chinese characters but the plate language is English; "
            "use lang='zh' or lang='both'"
        )


# --------------------------------------------------------------------------
# basemap
# --------------------------------------------------------------------------
def _check_has_geometry(path: Path, name: str) -> None:
    """A plain error for a file that holds a table and no geometry (a CSV of points)."""
    import pyogrio

    try:
        info = pyogrio.read_info(path)
    except Exception:  # noqa: BLE001 -- pyogrio raises several types; reading the file names the problem
        return
    if info.get("geometry_type") is None:
        raise ValidationError(
            f"{name} holds a table without geometry (columns: "
            f"{', '.join(map(str, list(info.get('fields', []))[:10])) or 'none'}); a basemap must be a polygon "
            "layer such as a .gpkg, .shp or .geojson of country outlines"
        )


def load_basemap(basemap=None):
    """The basemap as a GeoDataFrame of polygons in EPSG:4326.

    Parameters
    ----------
    basemap
        ``None`` for the embedded Natural Earth countries
        (``geocity.layers.load("basemap")``), a GeoDataFrame/GeoSeries, or
        the path of any polygon layer GDAL can read (GeoPackage, shapefile,
        GeoJSON ...) — publications in China must use an officially approved
        base map, which the user supplies this way.

    Raises
    ------
    ValidationError
        The layer has no CRS, holds no polygons (or is a table without
        geometry), or cannot be read.
    """
    import geopandas as gpd

    name = "basemap"
    if basemap is None:
        from .. import layers

        gdf = layers.load("basemap")
        name = "embedded basemap"
    elif isinstance(basemap, (str, Path)):
        p = Path(basemap)
        name = f"basemap file {str(p)!r}"
        if not p.exists():
            raise NotFoundError(f"{name} does not exist; give the path of a polygon layer (.gpkg, .shp, .geojson)")
        if p.is_file():
            _check_has_geometry(p, name)
        try:
            gdf = gpd.read_file(p)
        except Exception as exc:  # pyogrio raises several types
            raise ValidationError(f"cannot read {name}: {exc}; give a polygon layer GDAL can read") from None
    elif isinstance(basemap, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=basemap)
    elif isinstance(basemap, gpd.GeoDataFrame):
        gdf = basemap
    else:
        raise ValidationError(
            f"basemap must be None, a GeoDataFrame or the path of a polygon layer, not {type(basemap).__name__}"
        )
    if gdf.crs is None:
        raise ValidationError(
            f"{name} has no CRS; set one (e.g. gdf.set_crs('EPSG:4326'), or add a .prj to the shapefile)"
        )
    poly = gdf.geometry.notna() & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if not poly.any():
        kinds = sorted(set(gdf.geometry.geom_type.dropna()))
        raise ValidationError(
            f"{name} holds no polygons (geometry types: {kinds or 'none'}); a basemap must be a polygon layer"
        )
    if not poly.all():
        gdf = gdf.loc[poly]
    return geodesy.to_wgs84(gdf, name=name)


# --------------------------------------------------------------------------
# matplotlib helpers
# --------------------------------------------------------------------------
def _polygon_path(geoms: Iterable) -> MplPath | None:
    verts, codes = [], []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        g = shapely.orient_polygons(g) if hasattr(shapely, "orient_polygons") else g
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)[:, :2]
                if len(c) < 3:
                    continue
                verts.append(c)
                cc = np.full(len(c), MplPath.LINETO, dtype=np.uint8)
                cc[0] = MplPath.MOVETO
                cc[-1] = MplPath.CLOSEPOLY
                codes.append(cc)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _line_segments(geoms: Iterable) -> list[np.ndarray]:
    segs = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        for part in shapely.get_parts(g):
            if part.geom_type == "LineString":
                segs.append(np.asarray(part.coords)[:, :2])
            elif part.geom_type == "Polygon":
                segs.append(np.asarray(part.exterior.coords)[:, :2])
    return segs


def _units(t: str) -> float:
    """Approximate text width in Latin-character units (CJK counts double)."""
    return sum(2.0 if _CJK.match(ch) else 1.0 for ch in t)


def _wrap(text: str, max_units: float) -> str:
    """Wrap each line of ``text`` at spaces (or anywhere in CJK runs) so that
    no line is wider than ``max_units``."""
    out = []
    for line in text.split("\n"):
        cur = ""
        for tok in re.findall(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\S+\s*|\s+", line):
            if cur and _units(cur + tok.rstrip()) > max_units:
                out.append(cur.rstrip())
                cur = tok.lstrip()
            else:
                cur += tok
        out.append(cur.rstrip())
    return "\n".join(out)


def nice_step(span: float, target: int = 5) -> float:
    """A 1-2-5 × 10ⁿ step giving about ``target`` intervals over ``span``."""
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _fmt_lon(v: float) -> str:
    v = (v + 180.0) % 360.0 - 180.0
    if abs(v) < 1e-9 or abs(abs(v) - 180) < 1e-9:
        return f"{abs(v):g}°"
    return f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def _fmt_lat(v: float) -> str:
    if abs(v) < 1e-9:
        return "0°"
    return f"{abs(v):g}°{'N' if v > 0 else 'S'}"


# --------------------------------------------------------------------------
# the plate
# --------------------------------------------------------------------------
@dataclass
class Plate:
    """A figure with a map (or chart) axes, its CRS, style and language.

    Attributes
    ----------
    fig, ax
        The matplotlib figure and the main axes.
    crs
        The map's CRS (None for charts).
    kind
        ``"world"``, ``"regional"`` or ``"chart"``.
    center
        ``(lat, lon)`` of the plate centre (maps).
    scale_m_per_unit
        Ground metres per map unit along the horizontal at the centre, once
        :meth:`add_scalebar` ran.
    notes
        Lines of the source/credit note.
    """

    fig: Figure
    ax: Any
    style: dict
    lang: str
    kind: str
    crs: CRS | None = None
    center: tuple[float, float] | None = None
    radius_km: float | None = None
    lat_range: tuple[float, float] = (-90.0, 90.0)
    family: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scale_m_per_unit: float | None = None
    scale_length_km: float | None = None
    title_bottom: float = 1.0
    label_boxes: list = field(default_factory=list)
    obstacles: list = field(default_factory=list)
    insets: list = field(default_factory=list)
    trim_fraction: float = 0.0
    _trim_done: bool = False
    _trim_bbox: Any = None
    _fwd: Any = None
    _inv: Any = None

    # ---------------------------------------------------------------- text
    @property
    def bold(self) -> str:
        """Bold for Latin-only plates; the CJK font ships one weight only."""
        return "bold" if self.lang == "en" else "normal"

    def text(self, en: str | None, zh: str | None = None, *, sep: str | None = None) -> str:
        """The plate's language version of a text."""
        return bilingual(en, zh, self.lang, "\n" if sep is None else sep)

    def fontdict(self, size_key: str, **kw) -> dict:
        """Font properties for text of the style's size ``size_key``."""
        d = {"family": self.family, "size": self.style["fonts"][size_key], "color": self.style["colors"]["text"]}
        d.update(kw)
        return d

    # ------------------------------------------------------------ projection
    def project_geoms(self, geoms, *, kind: str = "Polygon") -> list:
        """Project lon/lat geometries (array-like) to the map CRS, cut at the
        seam (world) or clipped to the plate's disc (regional)."""
        arr = np.asarray(list(geoms), dtype=object)
        if arr.size == 0:
            return []
        if self.kind == "world":
            lon0 = _crs_lon0(self.crs)
            prepared = _prepare_world(arr, lon0, *self.lat_range)
        else:
            prepared = _prepare_regional(arr, self.center[0], self.center[1], self.radius_km)
        kinds = ("Polygon",) if kind == "Polygon" else ("LineString",)
        prepared = np.asarray(_keep_kind(prepared, kinds), dtype=object)
        ok = np.array([g is not None for g in prepared])
        out = [None] * len(prepared)
        if ok.any():
            fwd = self._fwd
            proj = shapely.transform(
                prepared[ok], lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1]))
            )
            for i, g in zip(np.flatnonzero(ok), proj, strict=True):
                out[i] = g
        return out

    def project_points(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat point coordinates; points outside the map are NaN."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        x, y = self._fwd.transform(lon, lat)
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.kind == "world":
            out = (lat < self.lat_range[0]) | (lat > self.lat_range[1])
        else:
            out = geodesy.distance_km(lat, lon, self.center[0], self.center[1]) > self.radius_km
        x[out] = np.nan
        y[out] = np.nan
        return x, y

    # ---------------------------------------------------------------- layers
    def add_basemap(self, basemap=None, *, simplify: bool = True, zorder: float = 1.0) -> None:
        """Draw land polygons (``basemap``: see :func:`load_basemap`)."""
        gdf = load_basemap(basemap)
        x0, x1 = self.ax.get_xlim()
        tol = abs(x1 - x0) / 4000.0 if simplify else 0.0
        key = (id(gdf), len(gdf), self.kind, self.crs.to_wkt(), self.lat_range, self.center, self.radius_km, tol)
        hit = _BASEMAP_CACHE.get(key)
        if hit is not None and hit[0] is gdf:
            path = hit[1]
        else:
            geoms = self.project_geoms(gdf.geometry.to_numpy())
            geoms = [g for g in geoms if g is not None]
            if tol and geoms:
                geoms = list(shapely.simplify(np.asarray(geoms, dtype=object), tol, preserve_topology=True))
            path = _polygon_path(geoms)
            _BASEMAP_CACHE[key] = (gdf, path)
            while len(_BASEMAP_CACHE) > 16:
                _BASEMAP_CACHE.pop(next(iter(_BASEMAP_CACHE)))
        if path is None:
            log.warning("basemap has no polygon inside this plate")
            return
        c, lw = self.style["colors"], self.style["lines"]
        patch = PathPatch(path, facecolor=c["land"], edgecolor=c["land_edge"], linewidth=lw["land_edge"],
                          zorder=zorder, joinstyle="round")
        patch.set_gid("basemap")
        self.ax.add_artist(patch)  # not add_patch: limits are fixed, autoscaling a big path is slow
        if self.kind == "world":
            patch.set_clip_path(self._sphere_patch)

    def add_polygons(self, geoms, *, facecolor, edgecolor=None, linewidth=0.6, alpha=1.0, zorder=3.0,
                     gid: str | None = None, linestyle="-") -> list:
        """Draw lon/lat polygons; ``facecolor`` is one colour or one per polygon."""
        geoms = list(geoms)
        proj = self.project_geoms(geoms)
        def per_geom(c):  # one colour for all, or one per polygon
            many = isinstance(c, (list, tuple, np.ndarray)) and len(c) == len(geoms) and not isinstance(c, str)
            return c if many else [c] * len(geoms)

        fcs, ecs = per_geom(facecolor), per_geom(edgecolor)
        patches = []
        for g, fc, ec in zip(proj, fcs, ecs, strict=True):
            path = _polygon_path([g])
            if path is None:
                continue
            p = PathPatch(path, facecolor=fc, edgecolor=ec or "none", linewidth=linewidth, alpha=alpha,
                          zorder=zorder, linestyle=linestyle)
            if gid:
                p.set_gid(gid)
            self.ax.add_artist(p)
            patches.append(p)
        return patches

    def add_lines(self, geoms, *, color, linewidth=1.0, zorder=4.0, gid: str | None = None, **kw):
        """Draw lon/lat lines (one colour for all)."""
        proj = self.project_geoms(list(geoms), kind="LineString")
        segs = _line_segments(proj)
        if not segs:
            return None
        lc = LineCollection(segs, colors=color, linewidths=linewidth, zorder=zorder, capstyle="round",
                            joinstyle="round", **kw)
        if gid:
            lc.set_gid(gid)
        self.ax.add_collection(lc)
        return lc

    def add_points(self, lon, lat, *, s=10.0, c=None, marker="o", edgecolor=None, linewidth=None,
                   zorder=5.0, gid: str | None = None, alpha=None, obstacle: bool = True, **kw):
        """Scatter lon/lat points (sizes in points²); ``obstacle``: labels
        placed later keep off these markers."""
        x, y = self.project_points(lon, lat)
        sy = self.style["symbols"]
        sc = self.ax.scatter(
            x, y, s=s, c=c, marker=marker,
            edgecolors=sy["city_edge_color"] if edgecolor is None else edgecolor,
            linewidths=sy["city_edge_width"] if linewidth is None else linewidth,
            zorder=zorder, alpha=sy["alpha"] if alpha is None else alpha, plotnonfinite=False, **kw,
        )
        if gid:
            sc.set_gid(gid)
        if not obstacle:
            return sc
        # markers are obstacles for labels
        r = np.sqrt(np.broadcast_to(np.asarray(s, dtype=float), x.shape)) / 2.0
        for xi, yi, ri in zip(x, y, r, strict=True):
            if np.isfinite(xi) and np.isfinite(yi):
                self.obstacles.append(("pt", xi, yi, ri))
        return sc

    # ---------------------------------------------------------------- labels
    def add_labels(self, lon, lat, texts: Sequence[str], *, size: float | None = None,
                   weight: Sequence[str] | str = "normal", ax=None, max_labels: int | None = None) -> list[str]:
        """Label points greedily without collisions, in the given order
        (put the most important first). Returns the texts placed."""
        ax = ax or self.ax
        size = size or self.style["fonts"]["label_size"]
        for t in texts:
            _guard_text(t, self.family)
        x, y = (self.project_points(lon, lat) if ax is self.ax else (np.asarray(lon), np.asarray(lat)))
        return _place_labels(self, ax, x, y, list(texts), size=size, weight=weight, max_labels=max_labels)

    # ------------------------------------------------------------- furniture
    def set_title(self, en: str, zh: str | None = None, *, subtitle_en: str = "", subtitle_zh: str = "") -> None:
        """Bilingual title and subtitle at the top left of the plate."""
        st, f = self.style, self.style["furniture"]
        x, y = f["title_xy"]
        title = self.text(en, zh)
        sub = self.text(subtitle_en, subtitle_zh, sep="\n") if (subtitle_en or subtitle_zh) else ""
        width_pt = self.fig.get_figwidth() * 72.0 * (0.98 - x)
        title = _wrap(title, width_pt / (st["fonts"]["title_size"] * 0.6))
        sub = _wrap(sub, width_pt / (st["fonts"]["subtitle_size"] * 0.55))
        for t in (title, sub):
            _guard_text(t, self.family)
        t = self.fig.text(x, y, title, ha="left", va="top", fontweight=self.bold,
                          **self.fontdict("title_size"), gid="title")
        renderer = self.fig.canvas.get_renderer()
        hpx = self.fig.get_figheight() * self.fig.dpi
        self.title_bottom = t.get_window_extent(renderer).y0 / hpx
        # the report's captions are bilingual: the other language's title
        # as a second, smaller line (lang="both" already has both)
        alt, alt_family = self._alt_title(en, zh)
        if alt:
            alt = _wrap(alt, width_pt / (st["fonts"]["title_alt_size"] * 0.6))
            a = self.fig.text(x, self.title_bottom - f["subtitle_gap"] * 0.5, alt, ha="left", va="top",
                              family=alt_family, size=st["fonts"]["title_alt_size"], color=st["colors"]["text"],
                              gid="title-alt")
            self.title_bottom = a.get_window_extent(renderer).y0 / hpx
        if sub:
            y_sub = self.title_bottom - f["subtitle_gap"]
            s = self.fig.text(x, y_sub, sub, ha="left", va="top",
                              **self.fontdict("subtitle_size", color=st["colors"]["muted_text"]), gid="subtitle")
            self.title_bottom = s.get_window_extent(renderer).y0 / hpx

    def _alt_title(self, en: str | None, zh: str | None) -> tuple[str, list[str]]:
        """The title in the plate's other language and its font family
        (``furniture.title_bilingual``); empty when there is none, when the
        plate is already bilingual, or (English plates) when no CJK font is
        installed, in which case the plate stays English-only."""
        if not self.style["furniture"]["title_bilingual"] or self.lang == "both" or not (en and zh):
            return "", []
        if self.lang == "zh":
            return en, list(self.family)
        try:
            cjk = ensure_cjk_font(font_families(self.style)["zh"])
        except DependencyError:
            log.info("no CJK font: the English plate gets no Chinese title line")
            return "", []
        return zh, [*self.family, cjk]

    def _map_box(self, box_: Sequence[float]) -> tuple[float, float, float, float]:
        """``box_`` lowered at the top so that it clears the title block."""
        x0, y0, w, h = box_
        top = min(y0 + h, getattr(self, "title_bottom", 1.0) - 0.012)
        return (x0, y0, w, max(0.1, top - y0))

    def add_legend(self, handles: list, labels: list[str], *, title: str | None = None, ncols: int | None = None,
                   ax=None, loc: str | None = None):
        """A legend in the strip below the map (maps) or in the chart."""
        for t in [*labels, title or ""]:
            _guard_text(t, self.family)
        st = self.style
        if ncols is None:
            ncols = max(1, math.ceil(len(labels) / st["furniture"]["legend_max_rows"]))
        kw = dict(
            handles=handles, labels=labels, ncols=ncols, frameon=False,
            prop={"family": self.family, "size": st["fonts"]["legend_size"]},
            title=title, title_fontproperties={"family": self.family, "size": st["fonts"]["legend_title_size"],
                                               "weight": self.bold},
            alignment="left", borderaxespad=0.2, handletextpad=0.5, columnspacing=1.2, labelspacing=0.45,
        )
        if self.kind == "chart":
            leg = (ax or self.ax).legend(loc=loc or "lower right", **kw)
        else:
            leg = self.fig.legend(loc="upper left", bbox_to_anchor=tuple(st["furniture"]["legend_xy"]),
                                  bbox_transform=self.fig.transFigure, **kw)
        leg.set_gid("legend")
        return leg

    def add_scalebar(self) -> Any:
        """A scale bar true along the horizontal through the plate centre."""
        from matplotlib_scalebar.scalebar import ScaleBar

        x0, x1 = self.ax.get_xlim()
        y0, y1 = self.ax.get_ylim()
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        self.scale_m_per_unit = ground_m_per_unit(self._inv, cx, cy, (x1 - x0) / 200.0)
        st = self.style
        want_km = st["furniture"]["scalebar_length_fraction"] * (x1 - x0) * self.scale_m_per_unit / 1000.0
        mag = 10 ** math.floor(math.log10(want_km))
        length_km = max(m * mag for m in (1, 2, 5) if m * mag <= want_km)
        self.scale_length_km = float(length_km)
        sb = ScaleBar(
            self.scale_m_per_unit, units="m", dimension="si-length",
            fixed_value=length_km, fixed_units="km",
            scale_formatter=lambda value, unit: f"{value:,.0f} {unit}" if value >= 1 else f"{value:g} {unit}",
            location=st["furniture"]["scalebar_loc"],
            width_fraction=0.008, box_alpha=st["furniture"]["scalebar_box_alpha"], box_color=st["colors"]["halo"],
            frameon=st["furniture"]["scalebar_box_alpha"] > 0, color=st["colors"]["text"],
            scale_loc="top", border_pad=0.8, sep=2,
            font_properties={"family": self.family, "size": st["fonts"]["legend_size"]},
        )
        sb.set_gid("scalebar")
        sb.set_zorder(20)
        self.ax.add_artist(sb)
        lat, lon = self._inv.transform(cx, cy)[::-1]
        self.notes.append(
            self.text(f"Scale true along the horizontal at the plate centre ({_fmt_lat(round(lat, 1))}, "
                      f"{_fmt_lon(round(lon, 1))})",
                      f"比例尺在图幅中心（{_fmt_lat(round(lat, 1))}，{_fmt_lon(round(lon, 1))}）水平方向准确",
                      sep=" / ")
        )
        # keep labels off the scale bar corner
        self._corner_obstacle(st["furniture"]["scalebar_loc"], 0.28, 0.1)
        return sb

    def _corner_obstacle(self, loc: str, wfrac: float, hfrac: float) -> None:
        x0, x1 = self.ax.get_xlim()
        y0, y1 = self.ax.get_ylim()
        w, h = (x1 - x0) * wfrac, (y1 - y0) * hfrac
        xa = x0 if "left" in loc else x1 - w if "right" in loc else (x0 + x1 - w) / 2
        ya = y0 if "lower" in loc else y1 - h
        self.obstacles.append(("box", xa, ya, xa + w, ya + h))

    def add_north_arrow(self) -> None:
        """A north arrow (meaningful on regional plates, where north is up at
        the centre)."""
        st = self.style
        ax = self.ax
        xt, yt = st["furniture"]["north_arrow_xy"]
        size = st["furniture"]["north_arrow_size"]
        # correct the arrow for the (small) meridian convergence at its place
        w = size * 0.32
        tip = (xt, yt)
        base_y = yt - size
        left = MplPolygon([tip, (xt - w, base_y), (xt, base_y + size * 0.28)], closed=True,
                          transform=ax.transAxes, facecolor=st["colors"]["text"], edgecolor=st["colors"]["text"],
                          linewidth=0.5, zorder=21)
        right = MplPolygon([tip, (xt + w, base_y), (xt, base_y + size * 0.28)], closed=True,
                           transform=ax.transAxes, facecolor="white", edgecolor=st["colors"]["text"],
                           linewidth=0.5, zorder=21)
        for p in (left, right):
            p.set_gid("north-arrow")
            ax.add_patch(p)
        ax.text(xt, yt + 0.008, "N", transform=ax.transAxes, ha="center", va="bottom", zorder=21,
                fontweight=self.bold, gid="north-arrow-label", **self.fontdict("legend_title_size"))
        self._corner_obstacle("upper right", 0.08, 0.18)

    def add_graticule(self, step_deg: float | None = None) -> None:
        """Meridians and parallels every ``step_deg`` with labels at the
        bottom (meridians) and left (parallels)."""
        st = self.style
        lat_step = lon_step = step_deg
        if step_deg is None:
            if self.kind == "world":
                lat_step = lon_step = st["furniture"]["graticule_step_deg"]
            else:
                def pick(raw):
                    return min([s for s in (1, 2, 5, 10, 15, 20, 30) if s >= raw] or [30])

                x0, x1 = self.ax.get_xlim()
                y0, y1 = self.ax.get_ylim()
                lon_span = abs(x1 - x0) / 1000.0 / 111.32 / max(math.cos(math.radians(self.center[0])), 0.2)
                lat_span = abs(y1 - y0) / 1000.0 / 111.32
                lon_step, lat_step = pick(lon_span / 6.0), pick(lat_span / 4.0)
        lat_lo, lat_hi = self.lat_range if self.kind == "world" else (-89.9, 89.9)
        lines, kinds, values = [], [], []
        lon0 = _crs_lon0(self.crs) if self.kind == "world" else 0.0
        lats = np.arange(-90 + lat_step, 90, lat_step)
        lats = lats[(lats > lat_lo) & (lats < lat_hi)]
        lons = np.arange(-180, 180, lon_step)
        fine = np.linspace(-180, 180, 721) + lon0
        for la in lats:
            along = np.clip(fine, lon0 - 180 + 1e-6, lon0 + 180 - 1e-6)
            lines.append(LineString(np.column_stack([along, np.full_like(fine, la)])))
            kinds.append("lat")
            values.append(la)
        yy = np.linspace(max(lat_lo, -89.9), min(lat_hi, 89.9), 361)
        for lo in lons:
            lines.append(LineString(np.column_stack([np.full_like(yy, lo), yy])))
            kinds.append("lon")
            values.append(lo)
        proj = self.project_geoms(lines, kind="LineString")
        x0, x1 = self.ax.get_xlim()
        y0, y1 = self.ax.get_ylim()
        frame = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        segs = []
        color, lw = st["colors"]["graticule"], st["lines"]["graticule"]
        fs = st["fonts"]["graticule_size"]
        tol = (x1 - x0) * 1e-3
        for g, k, v in zip(proj, kinds, values, strict=True):
            if g is None:
                continue
            g = shapely.intersection(g, frame)
            if g.is_empty:
                continue
            parts = [p for p in shapely.get_parts(g) if p.geom_type == "LineString"]
            segs.extend(np.asarray(p.coords) for p in parts)
            if not st["furniture"]["graticule_labels"] or not parts:
                continue
            ends = np.vstack([np.asarray(p.coords)[[0, -1]] for p in parts])
            if k == "lon":
                e = ends[np.argmin(ends[:, 1])]
                if self.kind == "regional" and abs(e[1] - y0) > tol:
                    continue
                self.ax.annotate(_fmt_lon(v), (e[0], e[1]), xytext=(0, -2), textcoords="offset points",
                                 ha="center", va="top", fontsize=fs, family=self.family,
                                 color=st["colors"]["muted_text"], gid="graticule-label", annotation_clip=False)
            else:
                e = ends[np.argmin(ends[:, 0])]
                if self.kind == "regional" and abs(e[0] - x0) > tol:
                    continue
                self.ax.annotate(_fmt_lat(v), (e[0], e[1]), xytext=(-2, 0), textcoords="offset points",
                                 ha="right", va="center", fontsize=fs, family=self.family,
                                 color=st["colors"]["muted_text"], gid="graticule-label", annotation_clip=False)
        lc = LineCollection(segs, colors=color, linewidths=lw, zorder=1.5)
        lc.set_gid("graticule")
        if self.kind == "world":
            lc.set_clip_path(self._sphere_patch)
        self.ax.add_collection(lc)

    def add_note(self, extra: Sequence[str] = ()) -> None:
        """Source and credit note at the bottom of the plate."""
        st = self.style
        items = [*extra, *self.notes]
        # join short items into lines as wide as the plate (CJK glyphs count double)
        width_pt = self.fig.get_figwidth() * 72.0 * (0.97 - st["furniture"]["note_xy"][0])
        max_units = width_pt / (st["fonts"]["note_size"] * 0.56)

        units = _units
        items = [ln for it in items for ln in _wrap(it, max_units).split("\n")]
        lines: list[str] = []
        for it in items:
            if lines and units(lines[-1]) + 5 + units(it) <= max_units:
                lines[-1] = f"{lines[-1]}  ·  {it}"
            else:
                lines.append(it)
        txt = "\n".join(lines)
        _guard_text(txt, self.family)
        x, y = st["furniture"]["note_xy"]
        self.fig.text(x, y, txt, ha="left", va="bottom", linespacing=1.35, gid="note",
                      **self.fontdict("note_size", color=st["colors"]["muted_text"]))

    def trim(self):
        """Close the empty band between the plate's content and its note.

        With ``furniture.trim_bottom`` the source note moves up to
        ``furniture.note_gap`` below the lowest legend, inset, chart axis or
        map label, and the paper below it is cut off. Returns the kept part
        of the figure (a :class:`~matplotlib.transforms.Bbox` in inches, for
        ``savefig(bbox_inches=...)``) or None (nothing to trim). Runs once;
        later calls return the same box.
        """
        from matplotlib.transforms import Bbox

        if self._trim_done:
            return self._trim_bbox
        self._trim_done = True
        f = self.style["furniture"]
        if not f["trim_bottom"]:
            return None
        fig = self.fig
        renderer = fig.canvas.get_renderer()
        notes = [t for t in fig.texts if t.get_gid() == "note"]
        parts = [a.get_tightbbox(renderer) for a in fig.axes if a.get_visible()]
        parts += [lg.get_window_extent(renderer) for lg in fig.legends]
        parts += [t.get_window_extent(renderer) for t in fig.texts if t.get_gid() != "note" and t.get_text()]
        parts = [b for b in parts if b is not None and b.height > 0]
        if not parts:
            return None
        hpx = fig.get_figheight() * fig.dpi
        content_y0 = min(b.y0 for b in parts)
        margin = f["note_xy"][1] * hpx
        gap = f["note_gap"] * hpx
        bottom = content_y0 - margin
        if notes:
            note = notes[0]
            nb = note.get_window_extent(renderer)
            shift = (content_y0 - gap) - nb.y1
            if shift > 0:
                x, y = note.get_position()
                note.set_position((x, y + shift / hpx))
                nb = note.get_window_extent(renderer)
            bottom = min(nb.y0, content_y0) - margin
        if bottom <= 0.5:
            return None
        self.trim_fraction = bottom / hpx
        self._trim_bbox = Bbox([[0.0, bottom / fig.dpi], [fig.get_figwidth(), fig.get_figheight()]])
        return self._trim_bbox

    def add_inset(self, *, title_en: str, title_zh: str, lat: float, lon: float, half_width_km: float,
                  basemap=None, points=None, label_col: str | None = None, point_size: float = 14.0,
                  point_color=None, point_marker=None) -> Any:
        """A small locator inset (own local projection) in the legend strip,
        for a region too small at the plate's scale (e.g. the Greater Bay
        Area, Singapore), with a box marking it on the main map."""
        st = self.style
        f = st["furniture"]
        w, h = f["inset_size"]
        k = len(self.insets)
        x0m, y0m, wm, hm = f["map_box"]
        left = x0m + wm - (k + 1) * w - k * f["inset_gap"]
        bottom = f["legend_xy"][1] - 0.022 - h
        iax = self.fig.add_axes((left, bottom, w, h))
        crs = geodesy.local_crs(lat, lon, "aeqd")
        fwd = Transformer.from_crs(4326, crs, always_xy=True)
        box_in = w * self.fig.get_figwidth() / (h * self.fig.get_figheight())
        hw = half_width_km * 1000.0
        hh = hw / box_in
        iax.set_xlim(-hw, hw)
        iax.set_ylim(-hh, hh)
        iax.set_aspect("equal", adjustable="box")
        iax.set_facecolor(st["colors"]["ocean"])
        iax.set_xticks([])
        iax.set_yticks([])
        for s in iax.spines.values():
            s.set_edgecolor(st["colors"]["inset_frame"])
            s.set_linewidth(st["lines"]["frame"])
        gdf = load_basemap(basemap)
        key = ("inset", id(gdf), len(gdf), float(lat), float(lon), float(half_width_km))
        hit = _BASEMAP_CACHE.get(key)
        if hit is not None and hit[0] is gdf:
            path = hit[1]
        else:
            clipped = _keep_kind(_prepare_regional(gdf.geometry.to_numpy(), lat, lon, half_width_km * 3), ("Polygon",))
            clipped = [g for g in clipped if g is not None]
            path = None
            if clipped:
                proj = shapely.transform(np.asarray(clipped, dtype=object),
                                         lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
                path = _polygon_path(proj)
            _BASEMAP_CACHE[key] = (gdf, path)
        if path is not None:
            iax.add_artist(PathPatch(path, facecolor=st["colors"]["land"], edgecolor=st["colors"]["land_edge"],
                                     linewidth=st["lines"]["land_edge"], zorder=1))
        iax.set_title(self.text(title_en, title_zh, sep=" "), loc="left", pad=2,
                      **self.fontdict("note_size", weight=self.bold))
        iax.set_gid("inset")
        # the inset's own scale: its azimuthal equidistant CRS is true (1 m per unit) at its centre
        from matplotlib_scalebar.scalebar import ScaleBar

        want = 0.3 * 2 * half_width_km
        mag = 10 ** math.floor(math.log10(want))
        length = max(m * mag for m in (1, 2, 5) if m * mag <= want)
        isb = ScaleBar(1.0, units="m", dimension="si-length", fixed_value=length, fixed_units="km",
                       scale_formatter=lambda value, unit: f"{value:g} {unit}", location="lower left",
                       width_fraction=0.015, box_alpha=st["furniture"]["scalebar_box_alpha"],
                       box_color=st["colors"]["halo"], frameon=st["furniture"]["scalebar_box_alpha"] > 0,
                       color=st["colors"]["text"], scale_loc="top", border_pad=0.3, pad=0.2, sep=1,
                       font_properties={"family": self.family, "size": st["fonts"]["note_size"]})
        isb.set_gid("inset-scalebar")
        isb.set_zorder(20)
        iax.add_artist(isb)
        if points is not None and len(points):
            if "lon" in points.columns and "lat" in points.columns:
                plon, plat = points["lon"].to_numpy(float), points["lat"].to_numpy(float)
            else:
                plon, plat = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
            px, py = fwd.transform(plon, plat)
            px, py = np.asarray(px), np.asarray(py)
            inside = (np.abs(px) < hw) & (np.abs(py) < hh)
            c = point_color if point_color is not None else st["colors"]["bar_highlight"]
            cc = np.asarray(c, dtype=object)[inside] if isinstance(c, (list, np.ndarray)) else c
            # one marker for all, or one per point (e.g. Figure 2-2's change symbols)
            mk = (np.asarray(point_marker, dtype=object)[inside] if isinstance(point_marker, (list, np.ndarray))
                  else np.full(int(inside.sum()), point_marker or "o", dtype=object))
            for m in dict.fromkeys(mk):
                k = mk == m
                ck = list(cc[k]) if isinstance(cc, np.ndarray) else cc
                iax.scatter(px[inside][k], py[inside][k], s=point_size * (1.4 if m in ("*", "^", "v") else 1.0),
                            c=ck, marker=m, edgecolors=st["symbols"]["city_edge_color"],
                            linewidths=st["symbols"]["city_edge_width"], zorder=5)
            if label_col:
                texts = list(points[label_col].astype(str).to_numpy()[inside])
                saved = self.obstacles
                self.obstacles = [("pt", a, b, math.sqrt(point_size) / 2)
                                  for a, b in zip(px[inside], py[inside], strict=True)]
                _place_labels(self, iax, px[inside], py[inside], texts, size=st["fonts"]["note_size"],
                              weight="normal", max_labels=None, inset=True)
                self.obstacles = saved
        # locator box on the main map
        mx, my = self.project_points([lon], [lat])
        if np.isfinite(mx[0]):
            x0, x1 = self.ax.get_xlim()
            s = (x1 - x0) * 0.012
            r = Rectangle((mx[0] - s, my[0] - s), 2 * s, 2 * s, fill=False, edgecolor=st["colors"]["inset_box"],
                          linewidth=0.7, zorder=18, gid="inset-locator")
            self.ax.add_patch(r)
            self.obstacles.append(("box", mx[0] - s, my[0] - s, mx[0] + s, my[0] + s))
        self.insets.append(iax)
        return iax


def ground_m_per_unit(inv: Transformer, cx: float, cy: float, half: float) -> float:
    """Ground metres per map unit along the horizontal through (cx, cy),
    measured geodesically over ±``half`` map units."""
    lon, lat = inv.transform(np.array([cx - half, cx + half]), np.array([cy, cy]))
    d_km = float(geodesy.distance_km(lat[0], lon[0], lat[1], lon[1]))
    return d_km * 1000.0 / (2 * half)


# --------------------------------------------------------------------------
# label placement
# --------------------------------------------------------------------------
_POSITIONS = [  # (dx, dy) in units of offset, ha, va
    (1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"), (-1, -1, "right", "top"),
    (1.3, 0, "left", "center"), (-1.3, 0, "right", "center"), (0, 1.3, "center", "bottom"),
    (0, -1.3, "center", "top"),
    (2.2, 2.2, "left", "bottom"), (2.2, -2.2, "left", "top"), (-2.2, 2.2, "right", "bottom"),
    (-2.2, -2.2, "right", "top"),
    (3.5, 0, "left", "center"), (-3.5, 0, "right", "center"), (0, 3.5, "center", "bottom"),
    (0, -3.5, "center", "top"),
]


#: Last-resort positions further out, drawn with a thin leader line to the point.
_LEADER_POSITIONS = [
    (r * dx, r * dy, ha, va)
    for r in (5.0, 7.5, 10.0)
    for dx, dy, ha, va in ((1, 1, "left", "bottom"), (-1, 1, "right", "bottom"), (1, -1, "left", "top"),
                           (-1, -1, "right", "top"), (1.3, 0, "left", "center"), (-1.3, 0, "right", "center"),
                           (0, 1.3, "center", "bottom"), (0, -1.3, "center", "top"))
]


def _place_labels(plate: Plate, ax, x, y, texts, *, size, weight, max_labels, inset=False) -> list[str]:
    st = plate.style
    fig = plate.fig
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()
    axbox = ax.get_window_extent(renderer)
    pad = st["labels"]["padding_points"] * fig.dpi / 72.0
    off = st["labels"]["offset_points"]
    # the halo is a separate, stroked twin below the label: a path effect on the
    # label itself would turn its text into outlines in SVG/PDF
    halo = [patheffects.Stroke(linewidth=st["labels"]["halo_width"], foreground=st["colors"]["halo"])]
    to_disp = ax.transData.transform
    boxes = [] if inset else plate.label_boxes
    # obstacles (markers, furniture) in display coords
    obst = []
    is_pt = []
    for o in plate.obstacles:
        if o[0] == "pt":
            px, py = to_disp((o[1], o[2]))
            r = o[3] * fig.dpi / 72.0
            obst.append((px - r, py - r, px + r, py + r))
        else:
            ax0, ay0 = to_disp((o[1], o[2]))
            ax1, ay1 = to_disp((o[3], o[4]))
            obst.append((min(ax0, ax1), min(ay0, ay1), max(ax0, ax1), max(ay0, ay1)))
        is_pt.append(o[0] == "pt")
    for t in ax.texts:  # graticule labels and other fixed text
        if t.get_gid() in ("graticule-label", "north-arrow-label"):
            bb = t.get_window_extent(renderer)
            obst.append((bb.x0, bb.y0, bb.x1, bb.y1))
            is_pt.append(False)
    obst = np.asarray(obst, dtype=float).reshape(-1, 4)
    is_pt = np.asarray(is_pt, dtype=bool)
    weights = [weight] * len(texts) if isinstance(weight, str) else list(weight)
    placed = []
    for xi, yi, t, wgt in zip(x, y, texts, weights, strict=True):
        if max_labels is not None and len(placed) >= max_labels:
            break
        if not (np.isfinite(xi) and np.isfinite(yi)) or not t:
            continue
        pxy = to_disp((xi, yi))
        # the own marker is not an obstacle for its own label
        # (boxes such as an inset's locator frame stay obstacles even around the point)
        own = (is_pt & (obst[:, 0] <= pxy[0] + 0.5) & (obst[:, 2] >= pxy[0] - 0.5)
               & (obst[:, 1] <= pxy[1] + 0.5) & (obst[:, 3] >= pxy[1] - 0.5))
        others = obst[~own]
        ok = False
        for i, (dx, dy, ha, va) in enumerate(_POSITIONS + ([] if inset else _LEADER_POSITIONS)):
            leader = i >= len(_POSITIONS)
            ann = ax.annotate(t, (xi, yi), xytext=(dx * off, dy * off), textcoords="offset points", ha=ha, va=va,
                              fontsize=size, family=plate.family, color=st["colors"]["text"], fontweight=wgt,
                              zorder=15, annotation_clip=False, linespacing=1.0)
            bb = ann.get_window_extent(renderer)
            b = (bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
            inside = b[0] >= axbox.x0 and b[2] <= axbox.x1 and b[1] >= axbox.y0 and b[3] <= axbox.y1
            hit = any(b[0] < q[2] and b[2] > q[0] and b[1] < q[3] and b[3] > q[1] for q in boxes)
            if not hit and others.size:
                hit = bool(np.any((b[0] < others[:, 2]) & (b[2] > others[:, 0])
                                  & (b[1] < others[:, 3]) & (b[3] > others[:, 1])))
            if inside and not hit and leader:  # keep the leader line off other labels too
                seg = _segment_box(pxy, b)
                hit = any(seg[0] < q[2] and seg[2] > q[0] and seg[1] < q[3] and seg[3] > q[1] for q in boxes)
            if inside and not hit:
                common = dict(xytext=(dx * off, dy * off), textcoords="offset points", ha=ha, va=va, fontsize=size,
                              family=plate.family, fontweight=wgt, annotation_clip=False, linespacing=1.0)
                twin = ax.annotate(t, (xi, yi), color=st["colors"]["halo"], path_effects=halo, zorder=14.5, **common)
                twin.set_gid("label-halo")
                if leader:
                    ann.remove()
                    ann = ax.annotate(
                        t, (xi, yi), color=st["colors"]["text"], zorder=15, **common,
                        arrowprops=dict(arrowstyle="-", color=st["colors"]["muted_text"], linewidth=0.4,
                                        shrinkA=1.0, shrinkB=2.0))
                ann.set_gid("label")
                boxes.append(b)
                placed.append(t)
                ok = True
                break
            ann.remove()
        if not ok:
            log.debug("label %r dropped (no free position)", t)
    return placed


def _segment_box(pxy, b) -> tuple[float, float, float, float]:
    """A thin box along the leader from the point ``pxy`` to the nearest
    edge of the label box ``b`` (display coordinates), shrunk at both ends."""
    cx = min(max(pxy[0], b[0]), b[2])
    cy = min(max(pxy[1], b[1]), b[3])
    x0, x1 = sorted((pxy[0], cx))
    y0, y1 = sorted((pxy[1], cy))
    sx, sy = (x1 - x0) * 0.2, (y1 - y0) * 0.2
    return (x0 + sx, y0 + sy, x1 - sx, y1 - sy)


# --------------------------------------------------------------------------
# plate constructors
# --------------------------------------------------------------------------
def _new_figure(style: Mapping) -> Figure:
    f = style["furniture"]
    fig = Figure(figsize=(f["figure_width_in"], f["figure_height_in"]), dpi=100)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    return fig


def _resolve_style(style) -> dict:
    if style is None:
        return load_style()
    if isinstance(style, (str, Path)):
        return load_style(style)
    return dict(style)


def world_plate(*, title_en: str, title_zh: str | None = None, subtitle_en: str = "", subtitle_zh: str = "",
                lang: str = "en", style=None, basemap=None, draw_basemap: bool = True) -> Plate:
    """A world plate in the style's world projection (Equal Earth by default)
    with ocean, graticule, basemap and title.

    Parameters
    ----------
    title_en, title_zh, subtitle_en, subtitle_zh
        Title and subtitle texts.
    lang
        ``"en"``, ``"zh"`` or ``"both"``.
    style
        A style dict, a style name or None (base style).
    basemap
        See :func:`load_basemap`.
    """
    st = _resolve_style(style)
    family = font_family(lang, st)
    crs = CRS.from_user_input(st["projection"]["world"])
    if crs.is_geographic:
        raise ValidationError(f"projection.world must be a projected CRS (e.g. EPSG:8857), not {crs.name}")
    fig = _new_figure(st)
    lat_lo = st["projection"]["world_lat_min"]
    lat_hi = st["projection"]["world_lat_max"]
    lat_lo = -90.0 if lat_lo is None else float(lat_lo)
    lat_hi = 90.0 if lat_hi is None else float(lat_hi)
    plate = Plate(fig=fig, ax=None, style=st, lang=lang, kind="world", crs=crs, lat_range=(lat_lo, lat_hi),
                  family=family)
    plate.set_title(title_en, title_zh, subtitle_en=subtitle_en, subtitle_zh=subtitle_zh)
    ax = plate.ax = fig.add_axes(plate._map_box(st["furniture"]["map_box"]))
    plate._fwd = Transformer.from_crs(4326, crs, always_xy=True)
    plate._inv = Transformer.from_crs(crs, 4326, always_xy=True)
    lon0 = _crs_lon0(crs)
    # the sphere (map outline) between the cropped latitudes
    n = 181
    west = np.column_stack([np.full(n, lon0 - 180 + _SEAM_EPS), np.linspace(lat_lo, lat_hi, n)])
    east = np.column_stack([np.full(n, lon0 + 180 - _SEAM_EPS), np.linspace(lat_hi, lat_lo, n)])
    top = np.column_stack([np.linspace(lon0 - 180 + _SEAM_EPS, lon0 + 180 - _SEAM_EPS, n), np.full(n, lat_hi)])
    bottom = top[::-1].copy()
    bottom[:, 1] = lat_lo
    ring = np.vstack([west, top, east, bottom])
    sx, sy = plate._fwd.transform(ring[:, 0], ring[:, 1])
    sphere = np.column_stack([sx, sy])
    c, lw = st["colors"], st["lines"]
    sp = MplPolygon(sphere, closed=True, facecolor=c["ocean"], edgecolor="none", zorder=0, gid="sphere")
    ax.add_patch(sp)
    plate._sphere_patch = sp
    ax.add_patch(MplPolygon(sphere, closed=True, facecolor="none", edgecolor=c["sphere_edge"],
                            linewidth=lw["sphere_edge"], zorder=10, gid="sphere-edge"))
    pad = (sx.max() - sx.min()) * 0.005
    ax.set_xlim(sx.min() - pad, sx.max() + pad)
    ax.set_ylim(sy.min() - pad, sy.max() + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_anchor("N")
    ax.set_axis_off()
    ax.apply_aspect()
    plate.center = tuple(plate._inv.transform((sx.min() + sx.max()) / 2, (sy.min() + sy.max()) / 2))[::-1]
    plate.add_graticule()
    if draw_basemap:
        plate.add_basemap(basemap)
    op = crs.coordinate_operation
    pname = op.method_name if op is not None else crs.name
    epsg = crs.to_epsg()
    pname = f"{pname} ({'EPSG:' + str(epsg) if epsg else 'central meridian ' + _fmt_lon(lon0)})"
    zh = {"Equal Earth": "等地球投影", "Robinson": "罗宾森投影"}.get(op.method_name if op is not None else "", "")
    zh_note = f"投影：{zh or pname}" + (f" {pname[pname.index('('):]}" if zh else "")
    plate.notes.append(plate.text(f"Projection: {pname}", zh_note, sep=" / "))
    return plate


def regional_plate(*, center_lat: float, center_lon: float, half_width_km: float, half_height_km: float | None = None,
                   title_en: str, title_zh: str | None = None, subtitle_en: str = "", subtitle_zh: str = "",
                   lang: str = "en", style=None, basemap=None, draw_basemap: bool = True) -> Plate:
    """A regional plate in a local azimuthal CRS centred on the region
    (``projection.regional``: Lambert equal-area or equidistant), with
    neat line, graticule, basemap, north arrow and title.

    The extent is at least ``half_width_km`` × ``half_height_km`` around the
    centre, widened to fill the map box.
    """
    st = _resolve_style(style)
    family = font_family(lang, st)
    geodesy.validate_latlon([center_lat], [center_lon], what="plate centre")
    problems: list[str] = []
    half_width_km = _validate.positive("half_width_km", half_width_km, unit="km", problems=problems)
    if half_height_km is not None:
        half_height_km = _validate.positive("half_height_km", half_height_km, unit="km", problems=problems)
    if problems:
        raise ValidationError("regional plate: " + "; ".join(problems))
    kind = st["projection"]["regional"]
    crs = geodesy.local_crs(float(center_lat), float(center_lon), kind)
    fig = _new_figure(st)
    head = Plate(fig=fig, ax=None, style=st, lang=lang, kind="regional", family=family)
    head.set_title(title_en, title_zh, subtitle_en=subtitle_en, subtitle_zh=subtitle_zh)
    box_ = head._map_box(st["furniture"]["map_box"])
    ax = fig.add_axes(box_)
    aspect = box_[2] * fig.get_figwidth() / (box_[3] * fig.get_figheight())
    hw = float(half_width_km)
    hh = float(half_height_km or half_width_km / aspect)
    if hw / hh < aspect:
        hw = hh * aspect
    else:
        hh = hw / aspect
    radius = min(9000.0, 1.15 * math.hypot(hw, hh) + 200.0)
    plate = Plate(fig=fig, ax=ax, style=st, lang=lang, kind="regional", crs=crs,
                  center=(float(center_lat), float(center_lon)), radius_km=radius, family=family)
    plate._fwd = Transformer.from_crs(4326, crs, always_xy=True)
    plate._inv = Transformer.from_crs(crs, 4326, always_xy=True)
    ax.set_xlim(-hw * 1000, hw * 1000)
    ax.set_ylim(-hh * 1000, hh * 1000)
    ax.set_aspect("equal", adjustable="box")
    ax.set_facecolor(st["colors"]["ocean"])
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor(st["colors"]["frame"])
        s.set_linewidth(st["lines"]["frame"])
        s.set_zorder(30)
    ax.apply_aspect()
    plate.title_bottom = head.title_bottom
    plate.add_graticule()
    if draw_basemap:
        plate.add_basemap(basemap)
    plate.add_north_arrow()
    name = "Lambert azimuthal equal-area" if kind == "laea" else "azimuthal equidistant"
    name_zh = "兰伯特方位等积投影" if kind == "laea" else "方位等距投影"
    ctr = f"{_fmt_lat(round(center_lat, 1))}, {_fmt_lon(round(center_lon, 1))}"
    plate.notes.append(plate.text(f"Projection: {name} centred on {ctr}", f"投影：{name_zh}，中心 {ctr}", sep=" / "))
    return plate


def chart_plate(*, title_en: str, title_zh: str | None = None, subtitle_en: str = "", subtitle_zh: str = "",
                lang: str = "en", style=None, box: Sequence[float] = (0.24, 0.14, 0.7, 0.68)) -> Plate:
    """A plate holding a chart (bar chart) with the plate's title and note."""
    st = _resolve_style(style)
    family = font_family(lang, st)
    fig = _new_figure(st)
    ax = fig.add_axes(tuple(box))
    plate = Plate(fig=fig, ax=ax, style=st, lang=lang, kind="chart", family=family)
    plate.set_title(title_en, title_zh, subtitle_en=subtitle_en, subtitle_zh=subtitle_zh)
    return plate


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Date": None, "Creator": None},
}


def save_figure(fig: Figure | Plate, path: str | Path, *, dpi: int | None = None, overwrite: bool = False,
                style: Mapping | None = None) -> Path:
    """Write a plate to PNG, PDF or SVG (from the extension), atomically and
    deterministically (fixed metadata; SVG text kept as text).

    Parameters
    ----------
    fig
        A :class:`Plate` or a matplotlib Figure.
    path
        Output file ``.png``, ``.pdf`` or ``.svg``.
    dpi
        Raster resolution (PNG); the style's ``output.dpi`` (300) by default.
    overwrite
        Replace an existing file (refused otherwise with OutputExistsError).
    """
    import matplotlib

    from ..export import atomic_path

    bbox = None
    if isinstance(fig, Plate):
        style = style or fig.style
        bbox = fig.trim()
        fig = fig.fig
    st = style or load_style()
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValidationError(f"cannot write {str(path)!r}: the extension must be one of .png, .pdf, .svg")
    dpi = check_dpi(dpi) or int(st["output"]["dpi"])
    rc = {"svg.fonttype": "none", "svg.hashsalt": "geocity", "pdf.fonttype": st["output"]["pdf_fonttype"],
          "pdf.compression": 6}
    with matplotlib.rc_context(rc), atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA[fmt], facecolor=fig.get_facecolor(),
                    bbox_inches=bbox)
    log.info("wrote %s", path)
    return path
