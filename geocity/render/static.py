"""Static map plates with matplotlib: world and regional maps, bar charts,
their furniture (bilingual title, legend, scale bar, north arrow, graticule,
credits, insets) and deterministic PNG/PDF/SVG output.

A plate is a :class:`Plate`: a matplotlib :class:`~matplotlib.figure.Figure`
plus the map axes, the map's CRS and the style. Build one with
:func:`world_plate`, :func:`regional_plate` or :func:`chart_plate`, add layers
(:meth:`Plate.add_basemap`, :meth:`Plate.add_polygons`,
:meth:`Plate.add_lines`, :meth:`Plate.add_points`, :meth:`Plate.add_labels`),
furniture (``Plate.add_legend``, ``Plate.add_scalebar``, ...) and
write it with :func:`save_figure`.

Modules
-------
This module holds the :class:`Plate` (projection, layers, labels, title),
the plate constructors, the fonts and :func:`save_figure`; the rest lives
beside it and every name stays importable from here:

* :mod:`~geocity.render.static_text` -- languages, bilingual text, DPI
  check, wrapping, degree labels;
* :mod:`~geocity.render.static_basemap` -- reading the basemap, the cache of
  projected basemap paths, shapely → matplotlib paths;
* :mod:`~geocity.render.static_geometry` -- cutting at the seam and clipping
  to the regional disc (antimeridian via :mod:`geocity.geodesy`);
* :mod:`~geocity.render.static_labels` -- collision-free label placement;
* :mod:`~geocity.render.static_furniture` -- legend, scale bar, north arrow,
  graticule, note, trim and insets (a mixin of :class:`Plate`).

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

import contextlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, cast

import numpy as np
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import fontManager
from matplotlib.patches import PathPatch
from matplotlib.patches import Polygon as MplPolygon
from pyproj import CRS, Transformer

from .. import _validate, geodesy
from ..errors import DependencyError, ValidationError
from ..styles import font_families, load_style
from .static_basemap import (  # noqa: F401 - re-exported (tests and plates use these names here)
    _BASEMAP_CACHE,
    _check_has_geometry,
    _line_segments,
    _polygon_path,
    load_basemap,
)
from .static_furniture import PlateFurniture, ground_m_per_unit  # noqa: F401 - re-exported
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
from .static_labels import (  # noqa: F401 - re-exported
    _LEADER_POSITIONS,
    _POSITIONS,
    _place_labels,
    _segment_box,
    agg_renderer,
)
from .static_text import (  # noqa: F401 - re-exported
    _CJK,
    DPI_RANGE,
    FORMATS,
    LANGS,
    _fmt_lat,
    _fmt_lon,
    _guard_text,
    _units,
    _wrap,
    bilingual,
    check_dpi,
    check_lang,
    nice_step,
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


#: The CJK family of ``mplfonts``' file (:func:`cjk_font_path`).
SHIPPED_CJK_FAMILY = "Noto Sans CJK SC"


def _prefer_shipped_cjk(p: Path) -> None:
    """Put ``mplfonts``' file first among matplotlib's fonts, so that the family
    means that file even where the system has its own copy (Debian's
    fonts-noto-cjk, a .ttc): the same glyphs and the same PDF bytes on every
    machine with the same geocity and mplfonts."""
    path = str(p)
    if not any(f.fname == path for f in fontManager.ttflist):
        fontManager.addfont(path)
    if fontManager.ttflist and fontManager.ttflist[0].fname == path:
        return
    mine = [f for f in fontManager.ttflist if f.fname == path]
    fontManager.ttflist[:] = mine + [f for f in fontManager.ttflist if f.fname != path]
    cached = getattr(fontManager, "_findfont_cached", None)  # findfont keeps its answers: ask again
    if cached is not None:
        cached.cache_clear()


def ensure_cjk_font(family: str = SHIPPED_CJK_FAMILY) -> str:
    """Make sure the CJK font ``family`` is known to matplotlib.

    For Noto Sans CJK SC the file shipped by ``mplfonts`` is used (registered
    if needed, and preferred to a copy of the same family the system may
    have, so that plates are the same bytes on every machine); another family
    must be installed.

    Raises
    ------
    DependencyError
        No font of that family is installed and ``mplfonts`` is missing.
    """
    p = cjk_font_path()
    if family == SHIPPED_CJK_FAMILY and p is not None:
        _prefer_shipped_cjk(p)
    if _has_family(family):
        return family
    if p is not None:
        fontManager.addfont(str(p))
        if _has_family(family):
            return family
    raise DependencyError(
        f"Chinese labels need the CJK font {family!r}, which is not installed. "
        "Install it with `pip install mplfonts` (ships Noto Sans CJK SC), or set "
        "fonts.family_zh in the style to a CJK font matplotlib can find, or use lang='en'."
    )


def font_family(lang: str, style: Mapping) -> list[str]:
    """Font family list for ``lang``: Latin first, CJK as fallback."""
    check_lang(lang)
    fam = font_families(style)
    if lang == "en":
        return [fam["en"]]
    return [fam["en"], ensure_cjk_font(fam["zh"])]


# --------------------------------------------------------------------------
# the plate
# --------------------------------------------------------------------------
@dataclass
class Plate(PlateFurniture):
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
        ``add_scalebar`` ran.
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
    _sphere_patch: Any = field(default=None, repr=False)  # the world map's outline (clip path); None otherwise

    # ---------------------------------------------------------------- map frame
    def _map_crs(self) -> CRS:
        """The map's CRS (world and regional plates; a chart has none)."""
        if self.crs is None:
            raise ValidationError(f"a {self.kind} plate has no map CRS; draw map layers on a world or regional plate")
        return self.crs

    def _regional_disc(self) -> tuple[float, float, float]:
        """``(lat, lon, radius_km)`` of the disc a regional plate clips its layers to."""
        if self.center is None or self.radius_km is None:
            raise ValidationError(f"a {self.kind} plate has no centre; draw regional layers on a regional plate")
        return (self.center[0], self.center[1], self.radius_km)

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
            lon0 = _crs_lon0(self._map_crs())
            prepared = _prepare_world(arr, lon0, *self.lat_range)
        else:
            prepared = _prepare_regional(arr, *self._regional_disc())
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
            lat0, lon0, radius_km = self._regional_disc()
            out = geodesy.distance_km(lat, lon, lat0, lon0) > radius_km
        x[out] = np.nan
        y[out] = np.nan
        return x, y

    # ---------------------------------------------------------------- layers
    def add_basemap(self, basemap=None, *, simplify: bool = True, zorder: float = 1.0) -> None:
        """Draw land polygons (``basemap``: see :func:`load_basemap`)."""
        gdf = load_basemap(basemap)
        x0, x1 = self.ax.get_xlim()
        tol = abs(x1 - x0) / 4000.0 if simplify else 0.0
        key = (id(gdf), len(gdf), self.kind, self._map_crs().to_wkt(), self.lat_range, self.center, self.radius_km, tol)
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
        for part in (title, sub):
            _guard_text(part, self.family)
        t = self.fig.text(x, y, title, ha="left", va="top", fontweight=self.bold,
                          **self.fontdict("title_size"), gid="title")
        renderer = agg_renderer(self.fig)
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
    ax = fig.add_axes(cast("tuple[float, float, float, float]", tuple(box)))
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


@contextlib.contextmanager
def literal_text():
    """Text created inside is drawn as written: a ``$`` in a name, label or
    title is a dollar sign, never the start of matplotlib mathtext (user data
    is data). :func:`geocity.figures.build` and
    :func:`geocity.plate.build_plate` draw inside it."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        yield


def _literal(fig: Figure) -> None:
    """Every text of ``fig`` drawn as written (a plate built outside :func:`literal_text`)."""
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        t.set_parse_math(False)


def _pdf_subset_fonts(fig: Figure, style: Mapping) -> list:
    """For a PDF: the CJK font's small working copy in front of it in every
    text's family list (:mod:`geocity.render.static_pdf_fonts`); what to restore."""
    from matplotlib.text import Text

    from .static_pdf_fonts import pdf_font_families

    return pdf_font_families(fig.findobj(Text), font_families(style)["zh"])


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
    _literal(fig.fig if isinstance(fig, Plate) else fig)
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
    rc: dict[Any, Any] = {"svg.fonttype": "none", "svg.hashsalt": "geocity",
                          "pdf.fonttype": st["output"]["pdf_fonttype"], "pdf.compression": 6}
    restore = _pdf_subset_fonts(fig, st) if fmt == "pdf" else []
    try:
        with matplotlib.rc_context(rc), atomic_path(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_METADATA[fmt], facecolor=fig.get_facecolor(),
                        bbox_inches=bbox)
    finally:
        for t, fam in restore:
            t.set_fontfamily(fam)
    log.info("wrote %s", path)
    return path
