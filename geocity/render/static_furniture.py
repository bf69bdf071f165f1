"""Map furniture of the static plates (:mod:`geocity.render.static`): legend,
scale bar (true at the plate centre, measured geodesically), north arrow,
graticule, source note, the bottom trim and locator insets.

:class:`PlateFurniture` is a mixin of :class:`geocity.render.static.Plate`;
it holds no state of its own (every attribute lives on the plate).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import shapely
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.transforms import Bbox
from pyproj import CRS, Transformer
from shapely.geometry import LineString, box

from .. import geodesy
from .static_basemap import _BASEMAP_CACHE, _polygon_path, load_basemap
from .static_geometry import _crs_lon0, _keep_kind, _prepare_regional
from .static_labels import _place_labels, agg_renderer
from .static_text import _fmt_lat, _fmt_lon, _guard_text, _units, _wrap


def ground_m_per_unit(inv: Transformer, cx: float, cy: float, half: float) -> float:
    """Ground metres per map unit along the horizontal through (cx, cy),
    measured geodesically over ±``half`` map units."""
    lon, lat = inv.transform(np.array([cx - half, cx + half]), np.array([cy, cy]))
    d_km = float(geodesy.distance_km(lat[0], lon[0], lat[1], lon[1]))
    return d_km * 1000.0 / (2 * half)


class PlateFurniture:
    """Furniture methods of :class:`~geocity.render.static.Plate` (a mixin)."""

    if TYPE_CHECKING:  # the plate's fields and methods these use (defined on the Plate dataclass)
        fig: Figure
        ax: Any
        style: dict
        lang: str
        kind: str
        crs: CRS | None
        center: tuple[float, float] | None
        lat_range: tuple[float, float]
        family: list[str]
        notes: list[str]
        scale_m_per_unit: float | None
        scale_length_km: float | None
        title_bottom: float
        label_boxes: list
        obstacles: list
        insets: list
        trim_fraction: float
        _trim_done: bool
        _trim_bbox: Any
        _inv: Any
        _sphere_patch: Any

        @property
        def bold(self) -> str: ...
        def text(self, en: str | None, zh: str | None = None, *, sep: str | None = None) -> str: ...
        def fontdict(self, size_key: str, **kw) -> dict: ...
        def project_geoms(self, geoms, *, kind: str = "Polygon") -> list: ...
        def project_points(self, lon, lat) -> tuple[np.ndarray, np.ndarray]: ...
        def _map_crs(self) -> CRS: ...
        def _regional_disc(self) -> tuple[float, float, float]: ...

    def _map_box(self, box_: Sequence[float]) -> tuple[float, float, float, float]:
        """``box_`` lowered at the top so that it clears the title block."""
        x0, y0, w, h = box_
        top = min(y0 + h, getattr(self, "title_bottom", 1.0) - 0.012)
        return (x0, y0, w, max(0.1, top - y0))

    def add_legend(self, handles: list, labels: list[str], *, title: str | None = None,
                   ncols: int | None = None, ax=None, loc: str | None = None):
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
        lat_step: float
        lon_step: float
        if step_deg is not None:
            lat_step = lon_step = step_deg
        else:
            if self.kind == "world":
                lat_step = lon_step = st["furniture"]["graticule_step_deg"]
            else:
                def pick(raw):
                    return min([s for s in (1, 2, 5, 10, 15, 20, 30) if s >= raw] or [30])

                x0, x1 = self.ax.get_xlim()
                y0, y1 = self.ax.get_ylim()
                lon_span = abs(x1 - x0) / 1000.0 / 111.32 / max(math.cos(math.radians(self._regional_disc()[0])), 0.2)
                lat_span = abs(y1 - y0) / 1000.0 / 111.32
                lon_step, lat_step = pick(lon_span / 6.0), pick(lat_span / 4.0)
        lat_lo, lat_hi = self.lat_range if self.kind == "world" else (-89.9, 89.9)
        lines, kinds, values = [], [], []
        lon0 = _crs_lon0(self._map_crs()) if self.kind == "world" else 0.0
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
        segs: list[np.ndarray] = []
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

    def trim(self) -> Bbox | None:
        """Close the empty band between the plate's content and its note.

        With ``furniture.trim_bottom`` the source note moves up to
        ``furniture.note_gap`` below the lowest legend, inset, chart axis or
        map label, and the paper below it is cut off. Returns the kept part
        of the figure (a :class:`~matplotlib.transforms.Bbox` in inches, for
        ``savefig(bbox_inches=...)``) or None (nothing to trim). Runs once;
        later calls return the same box.
        """
        if self._trim_done:
            return self._trim_bbox
        self._trim_done = True
        f = self.style["furniture"]
        if not f["trim_bottom"]:
            return None
        fig = self.fig
        renderer = agg_renderer(fig)
        notes = [t for t in fig.texts if t.get_gid() == "note"]
        parts = [a.get_tightbbox(renderer) for a in fig.axes if a.get_visible()]
        parts += [lg.get_window_extent(renderer) for lg in fig.legends]
        parts += [t.get_window_extent(renderer) for t in fig.texts if t.get_gid() != "note" and t.get_text()]
        boxes = [b for b in parts if b is not None and b.height > 0]
        if not boxes:
            return None
        hpx = fig.get_figheight() * fig.dpi
        content_y0 = min(b.y0 for b in boxes)
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

