"""Layers of a plate file (:mod:`geocity.plate`): reading and checking a
layer's rows, and drawing a checked plate over :mod:`geocity.render.static`.

Vector rows are GeoDataFrames in EPSG:4326 (every file reprojected with
:func:`geocity.geodesy.to_wgs84`); a GeoTIFF is warped onto the plate's own
grid with rasterio and drawn as an image under the vectors. Embedded
results (corridors, their buffers, clusters) are taken from the plate's
:class:`~geocity.analysis.Analysis`: nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeocityError

__all__ = ["load", "draw"]

_RASTER = (".tif", ".tiff")


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------
def _read_file(path: Path, layer: str | None):
    from .. import export, geodesy

    if path.suffix.lower() in _RASTER:
        return None, _read_raster(path)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        head = path.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        if head and "wkt" in [h.strip().lower() for h in head[0].split(",")]:
            return export.read(path), None
        return export.read_points(path, what=f"layer file {str(path)!r}").frame, None
    gdf = export.read_vector(path, layer=layer)
    if not hasattr(gdf, "geometry"):
        raise GeocityError(f"{str(path)!r} has no geometry column; give a vector layer or a CSV with lat/lon")
    if gdf.crs is None:
        raise GeocityError(f"{str(path)!r} has no CRS, so it cannot be placed on a map; save it with its CRS "
                           "(e.g. a .prj next to a shapefile, or ogr2ogr -a_srs EPSG:4326)")
    return geodesy.to_wgs84(gdf, name=str(path)), None


def _read_raster(path: Path) -> dict:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise GeocityError(f"{str(path)!r} is not a raster GDAL can read ({exc})") from None
    with src:
        if src.crs is None:
            raise GeocityError(f"{str(path)!r} has no CRS, so it cannot be placed on a map; assign one "
                               "(e.g. gdal_edit.py -a_srs EPSG:8857)")
        arr = src.read(1).astype(float)
        if src.nodata is not None:
            arr[arr == src.nodata] = np.nan
        if not np.isfinite(arr).any():
            raise GeocityError(f"{str(path)!r} holds no data (every cell is nodata)")
        return {"values": arr, "transform": src.transform, "crs": src.crs}


def load(lay, p, key: tuple, base: Path, analysis, layer: str | None) -> None:
    """Fill ``lay.frame`` (or ``lay.raster``) from its source; problems go
    to ``p`` (:class:`geocity.plate._Problems`) under ``key``."""
    from .. import layers

    src, v = lay.source, lay.value
    key = key + (src,)
    try:
        if src == "file":
            if not isinstance(v, str) or not v.strip():
                p.add(key, f"expected the path of a layer file (relative to the plate file), got {v!r}")
                return
            path = Path(v) if Path(v).is_absolute() else base / v
            if not path.is_file():
                p.add(key, f"file {str(path)!r} does not exist; paths are relative to the plate file")
                return
            lay.frame, lay.raster = _read_file(path, layer)
        elif src == "embedded":
            have = [n for n in layers.available() if hasattr(layers.load(n), "geometry")]
            if v not in have:
                p.add(key, f"unknown embedded layer {v!r}; layers with geometry: {', '.join(have)}")
                return
            lay.frame = layers.load(v)
        elif src in ("corridor", "buffer"):
            names = [v] if isinstance(v, str) else v
            lay.frame = analysis.corridor_lines(names) if src == "corridor" else analysis.corridor_buffers(names)
        elif src == "clusters":
            from ..analysis import SCORES

            if v not in SCORES:
                p.add(key, f"expected the score of the clusters, one of {', '.join(SCORES)}, got {v!r}")
                return
            lay.frame = analysis.clusters(v).clusters_
    except GeocityError as exc:
        p.add(key, str(exc))
        return
    except (TypeError, ValueError) as exc:
        p.add(key, f"cannot use {v!r}: {exc}")
        return
    if lay.frame is not None and len(lay.frame) == 0:
        p.add(key, f"layer {v!r} is empty (no rows); a plate layer needs at least one feature")
    elif lay.frame is not None and lay.frame.geometry.isna().all():
        p.add(key, f"layer {v!r} has no geometries")


# --------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------
def _palette(st: dict, n: int) -> list[str]:
    base = list(st["palettes"]["clusters"])
    return [base[i % len(base)] for i in range(n)]


def _ramp(colors, k: int) -> list[str]:
    from matplotlib.colors import LinearSegmentedColormap, to_hex

    cmap = LinearSegmentedColormap.from_list("plate", list(colors))
    return [to_hex(cmap(x)) for x in np.linspace(0.0, 1.0, k)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _classes(lay, st: dict, index: int) -> tuple[list[str], list[str], list[str], Any]:
    """Per-row colours, legend colours and legend texts (and the per-row
    class index, for graduated sizes) of a layer's rule."""
    import mapclassify
    import pandas as pd

    from ..plate import SCHEMES

    o, n = lay.rule_opts, len(lay.frame)
    if lay.rule == "single":
        c = o.get("color", _palette(st, index + 1)[index])
        return [c] * n, [c], [""], None
    col = lay.frame[o["field"]]
    if lay.rule == "categorised":
        given = o.get("colors")
        values = [str(k) for k in given] if given else o["values"]
        colors = [given[k] for k in given] if given else _palette(st, len(values))
        other = o.get("other", st["palettes"]["regions"]["other"])
        of = dict(zip(values, colors, strict=True))
        rows = [of.get(str(x), other) if pd.notna(x) else other for x in col]
        labels = list(values)
        if any(r == other and (pd.isna(x) or str(x) not in of) for r, x in zip(rows, col, strict=True)):
            colors, labels = colors + [other], labels + ["other"]
        return rows, colors, labels, None
    vals = pd.to_numeric(col, errors="coerce").to_numpy(float)
    ok = np.isfinite(vals)
    k = min(o["classes"], int(len(np.unique(vals[ok]))))
    cls = getattr(mapclassify, SCHEMES[o["scheme"]])
    state = np.random.get_state()  # some schemes (natural_breaks: k-means) start at random: seed them,
    np.random.seed(0)  # so a plate is the same bytes on every run, and leave the caller's generator as it was
    try:
        c = cls(vals[ok], k=k) if "k" in cls.__init__.__code__.co_varnames else cls(vals[ok])
    finally:
        np.random.set_state(state)
    bins = np.asarray(c.bins, float)
    ramp = _ramp(o.get("colors") or st["palettes"]["sequential"], len(bins))
    yb = np.full(n, -1)
    yb[ok] = c.yb
    other = st["palettes"]["regions"]["other"]
    rows = [ramp[b] if b >= 0 else other for b in yb]
    lo = np.concatenate([[np.nanmin(vals[ok])], bins[:-1]])
    labels = [f"{_fmt(a)} – {_fmt(b)}" for a, b in zip(lo, bins, strict=True)]
    return rows, ramp, labels, yb


def _draw_raster(plate, lay, st: dict, z: float):
    from matplotlib.colors import LinearSegmentedColormap
    from rasterio.warp import Resampling, reproject

    r = lay.raster
    x0, x1 = sorted(plate.ax.get_xlim())
    y0, y1 = sorted(plate.ax.get_ylim())
    w = 900
    h = max(1, int(round(w * (y1 - y0) / (x1 - x0))))
    from affine import Affine

    dst = np.full((h, w), np.nan)
    reproject(r["values"], dst, src_transform=r["transform"], src_crs=r["crs"], src_nodata=np.nan,
              dst_transform=Affine((x1 - x0) / w, 0, x0, 0, -(y1 - y0) / h, y1), dst_crs=plate.crs.to_wkt(),
              dst_nodata=np.nan,
              resampling=Resampling.bilinear)
    pos = dst[np.isfinite(dst) & (dst > 0)]
    vmax = float(np.percentile(pos, 99.5)) if pos.size else 1.0
    norm = np.clip(np.nan_to_num(dst, nan=0.0) / vmax, 0.0, 1.0)
    cmap = LinearSegmentedColormap.from_list("plate-raster", list(st["palettes"]["sequential"]))
    rgba = cmap(norm)
    rgba[..., 3] = float(lay.rule_opts.get("alpha", 0.8)) * np.sqrt(norm)
    im = plate.ax.imshow(rgba, extent=(x0, x1, y0, y1), origin="upper", interpolation="bilinear", zorder=z,
                         aspect=plate.ax.get_aspect())
    im.set_gid("raster")
    if getattr(plate, "_sphere_patch", None) is not None:
        im.set_clip_path(plate._sphere_patch)
    plate.ax.set_xlim(x0, x1)
    plate.ax.set_ylim(y0, y1)
    return cmap(1.0)


def _draw_vector(plate, lay, st: dict, index: int, z: float) -> list:
    """Draw one vector layer; returns its legend entries ``(kind, colour, text)``."""
    import shapely

    gdf = lay.frame
    o = lay.rule_opts
    rows, colors, texts, yb = _classes(lay, st, index)
    lay.colors = rows
    geoms = gdf.geometry.to_numpy()
    kinds = np.array([None if g is None or g.is_empty else g.geom_type for g in geoms], dtype=object)
    gid = f"plate-layer-{index}"
    alpha = float(o.get("alpha", 0.9))
    entries = []
    pts = np.isin(kinds, ["Point", "MultiPoint"])
    if pts.any():
        rep = shapely.point_on_surface(geoms[pts])
        size = o.get("size", st["symbols"]["member_size"] * 3)
        if isinstance(size, list):
            lo, hi = size
            k = max(len(colors), 2)
            s = np.where(yb[pts] >= 0, lo + (hi - lo) * yb[pts] / (k - 1), lo) if yb is not None else lo
        else:
            s = float(size)
        plate.add_points(shapely.get_x(rep), shapely.get_y(rep), s=s, c=[r for r, m in zip(rows, pts, strict=True)
                                                                          if m],
                         marker=o.get("marker", "o"), alpha=alpha, zorder=z, gid=gid)
        entries += [("point", c, t) for c, t in zip(colors, texts, strict=True)]
    lines = np.isin(kinds, ["LineString", "MultiLineString"])
    if lines.any():
        width = float(o.get("width", st["lines"]["corridor"]))
        sel = np.flatnonzero(lines)
        for c in dict.fromkeys(rows[i] for i in sel):
            plate.add_lines([geoms[i] for i in sel if rows[i] == c], color=c, linewidth=width, zorder=z, gid=gid,
                            alpha=alpha)
        entries += [("line", c, t) for c, t in zip(colors, texts, strict=True)]
    polys = np.isin(kinds, ["Polygon", "MultiPolygon"])
    if polys.any():
        sel = np.flatnonzero(polys)
        plate.add_polygons([geoms[i] for i in sel], facecolor=[rows[i] for i in sel],
                           edgecolor=o.get("edge", [rows[i] for i in sel]), linewidth=float(o.get("width", 0.6)),
                           alpha=float(o.get("alpha", st["opacity"]["cluster_fill"])), zorder=z, gid=gid)
        entries += [("polygon", c, t) for c, t in zip(colors, texts, strict=True)]
    return entries


def _draw_labels(plate, lay) -> None:
    import shapely

    lb = lay.labels
    gdf = lay.frame
    ok = gdf.geometry.notna().to_numpy() & gdf[lb["field"]].notna().to_numpy()
    if not ok.any() or lb["max"] == 0:
        return
    rep = shapely.point_on_surface(gdf.geometry.to_numpy()[ok])
    lon, lat = shapely.get_x(rep), shapely.get_y(rep)
    x, y = plate.project_points(lon, lat)
    (x0, x1), (y0, y1) = sorted(plate.ax.get_xlim()), sorted(plate.ax.get_ylim())
    inside = np.isfinite(x) & np.isfinite(y) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)  # on the map only
    texts = [str(t) for t, i in zip(gdf[lb["field"]].to_numpy()[ok], inside, strict=True) if i]
    plate.add_labels(lon[inside], lat[inside], texts, size=lb.get("size"), max_labels=lb["max"])


def _default_name(lay) -> dict:
    names = {"corridor": ("Corridor", "经济走廊"), "buffer": ("Corridor buffer", "走廊缓冲区"),
             "clusters": ("Clusters", "城市群"), "embedded": (str(lay.value), str(lay.value))}
    en, zh = names.get(lay.source, (Path(str(lay.value)).stem, Path(str(lay.value)).stem))
    if lay.source in ("corridor", "buffer"):
        v = lay.value if isinstance(lay.value, str) else ", ".join(lay.value)
        en, zh = f"{en} {v}", f"{v} {zh}"
    return {"en": en, "zh": zh}


def _handles(entries, lay_name: str, st: dict):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = [], []
    for kind, c, t in entries:
        if kind == "point":
            h: Line2D | Patch = Line2D([], [], marker="o", ls="", color=c, markersize=6,
                       markeredgecolor=st["symbols"]["city_edge_color"])
        elif kind == "line":
            h = Line2D([], [], color=c, lw=2.0)
        else:
            h = Patch(facecolor=c, edgecolor=c, alpha=st["opacity"]["cluster_fill"])
        handles.append(h)
        labels.append(f"{lay_name}: {t}" if t else lay_name)
    return handles, labels


def _remove(plate, *gids: str) -> None:
    for a in list(plate.ax.collections) + list(plate.ax.patches) + list(plate.ax.texts) + list(plate.ax.artists):
        if a.get_gid() in gids:
            a.remove()


def draw(spec):
    """Draw a checked :class:`geocity.plate.PlateSpec`; returns the Plate."""
    from . import static

    ex, st, an = spec.extent, spec.style, spec.analysis
    def one(t: dict) -> tuple[str, str | None]:  # a plain string is one text, not a translation
        return (t["en"], None) if t["en"] == t["zh"] else (t["en"], t["zh"])

    (ten, tzh), (sen, szh) = one(spec.title), one(spec.subtitle)
    common = dict(title_en=ten, title_zh=tzh, subtitle_en=sen, subtitle_zh=szh or "", lang=spec.lang, style=st,
                  basemap=an.basemap_layer() if an.basemap is not None else None)
    if ex["kind"] == "world":
        plate = static.world_plate(**common)
    elif ex["kind"] == "regional":
        plate = static.regional_plate(center_lat=ex["lat"], center_lon=ex["lon"], half_width_km=ex["hw"],
                                      half_height_km=ex["hh"], **common)
    else:
        plate = static.regional_plate(**_corridor_extent(an, ex), **common)
    if not spec.graticule:
        _remove(plate, "graticule", "graticule-label")
    if not spec.north_arrow:  # regional plates carry one; world plates have none (north varies across them)
        _remove(plate, "north-arrow", "north-arrow-label")
    handles, labels = [], []
    for i, lay in enumerate(spec.layers):
        z = 2.0 + i * 0.5
        n = lay.name if (lay.name["en"] or lay.name["zh"]) else _default_name(lay)
        name = plate.text(n["en"], n["zh"], sep=" ")
        if lay.raster is not None:
            c = _draw_raster(plate, lay, st, z - 0.4)
            from matplotlib.patches import Patch

            handles.append(Patch(facecolor=c, alpha=0.8))
            labels.append(name)
            continue
        entries = _draw_vector(plate, lay, st, i, z)
        h, lb = _handles(entries, name, st)
        handles += h
        labels += lb
    for lay in spec.layers:
        if lay.labels:
            _draw_labels(plate, lay)
    for ins in spec.insets:
        _draw_inset(plate, spec, ins)
    if spec.legend and handles:
        plate.add_legend(handles, labels, title=plate.text("Legend", "图例", sep=" / "))
    if spec.scalebar:
        plate.add_scalebar()
    plate.add_note(list(spec.credits) + _provenance_notes(spec, plate))
    return plate


def _draw_inset(plate, spec, ins: dict) -> None:
    """A locator inset of the point rows of every vector layer near its centre."""
    import pandas as pd
    import shapely

    from ..geodesy import distance_km

    parts = []
    for lay in spec.layers:
        if lay.frame is None or lay.colors is None:
            continue
        g = lay.frame.geometry.to_numpy()
        ok = np.array([x is not None and not x.is_empty and x.geom_type in ("Point", "MultiPoint") for x in g])
        if not ok.any():
            continue
        rep = shapely.point_on_surface(g[ok])
        lat, lon = shapely.get_y(rep), shapely.get_x(rep)
        near = distance_km(lat, lon, ins["lat"], ins["lon"]) < ins["hw"] * 1.3
        if not near.any():
            continue
        n = int(near.sum())
        lab = (lay.frame[lay.labels["field"]].map(lambda v: "" if pd.isna(v) else str(v)).to_numpy()[ok][near]
               if lay.labels else [""] * n)  # a missing label is no label, as on the map
        parts.append(pd.DataFrame({"lat": lat[near], "lon": lon[near], "_label": lab,
                                   "_color": np.asarray(lay.colors, dtype=object)[ok][near]}))
    pts = pd.concat(parts, ignore_index=True) if parts else None
    an = spec.analysis
    plate.add_inset(title_en=ins["title"]["en"], title_zh=ins["title"]["zh"], lat=ins["lat"], lon=ins["lon"],
                    half_width_km=ins["hw"], basemap=an.basemap_layer() if an.basemap is not None else None,
                    points=pts, label_col="_label" if pts is not None else None,
                    point_color=None if pts is None else list(pts["_color"]))


def _provenance_notes(spec, plate) -> list[str]:
    """What the embedded results are: the corridor distance, the clusters'
    score provenance (:mod:`geocity.provenance`)."""
    out = []
    an = spec.analysis
    if any(lay.source == "buffer" for lay in spec.layers):
        out.append(plate.text(f"Corridor buffers: {an.within_km:g} km, geodesic",
                              f"走廊缓冲区：{an.within_km:g} 公里（测地线）", sep=" / "))
    if any(lay.source == "clusters" for lay in spec.layers):
        out.append(plate.text(f"Clusters: {an.provenance.label('en')}", f"城市群：{an.provenance.label('zh')}",
                              sep=" / "))
    return out


def _corridor_extent(an, ex: dict) -> dict:
    import shapely
    from shapely.geometry import MultiPoint

    from ..geodesy import spherical_centroid, to_local

    buffers = an.corridor_buffers(ex["names"])
    coords = np.vstack([shapely.get_coordinates(g) for g in buffers.geometry])
    clat, clon = spherical_centroid(coords[:, 1], coords[:, 0])
    minx, miny, maxx, maxy = to_local(MultiPoint(coords), clat, clon, "laea").bounds
    m = ex["margin"]
    return {"center_lat": clat, "center_lon": clon,
            "half_width_km": max(abs(minx), abs(maxx)) / 1000.0 + m,
            "half_height_km": max(abs(miny), abs(maxy)) / 1000.0 + m}
