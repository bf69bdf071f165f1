"""Plate files: a map plate of any layer from a short declarative YAML file.

``geocity plate SPEC.yaml -o plate.pdf`` (:func:`render_plate`) reads a
plate file, checks every key — naming the file, the line and the key of
each problem, and the fix — reads and checks every layer it names (the file
exists, is not empty, has a CRS, has the fields its style rule uses), and
only then draws the plate (:mod:`geocity.render.plate_layers` over
:mod:`geocity.render.static`) and writes it through :mod:`geocity.export`
(atomic, refusing an existing file unless ``overwrite``).

A plate file (see ``examples/*.yaml``)::

    page: {size: A4, orientation: landscape}     # A4 | A3 | [width_mm, height_mm]
    lang: zh                                     # en | zh | both
    style: pacific                               # optional: an embedded style or a .yaml file
    title: {en: Logistics parks along CPEC, zh: 中巴经济走廊沿线物流园区}
    subtitle: {en: ..., zh: ...}                 # optional
    extent: {corridor: CPEC, margin_km: 150}     # or: world | {center: [lat, lon], half_width_km: 800}
                                                 #     | {bbox: [west, south, east, north]}
    projection: laea                             # optional: a CRS (world plates) or laea/aeqd (regional)
    within_km: 50                                # optional: the corridor buffers' distance
    basemap: approved_map.gpkg                   # optional: the base map polygons (default Natural Earth)
    layers:                                      # drawn in this order (the first at the bottom)
      - buffer: CPEC
      - corridor: CPEC
      - file: logistics_parks.csv                # any vector file geocity reads, or a GeoTIFF
        name: {en: Logistics park, zh: 物流园区}
        style: {categorised: {field: type}}      # or single: / graduated: {field:, classes:, scheme:}
        labels: {field: name, max: 20}
    legend: true
    scalebar: true
    north_arrow: true
    graticule: true
    insets:                                      # optional, at most 3: locator maps of the point layers
      - {title: {en: Gwadar, zh: 瓜达尔}, center: [25.13, 62.32], half_width_km: 60}
    credits: ["Parks: example data"]

Layer sources: ``file`` (relative to the plate file; vector files through
``geocity.export.read_vector``, CSVs with lat/lon or wkt columns through
``geocity.export.read_points`` / :func:`geocity.export.read`, GeoTIFFs
through rasterio), ``embedded`` (a layer of :mod:`geocity.layers`: cities,
basemap), ``corridor`` and ``buffer`` (corridor names, the buffers at
``within_km``) and ``clusters`` (a score: the clusters of that score). The
embedded results come from one :class:`~geocity.analysis.Analysis`; the
plate draws them and computes nothing.

The report's catalogue (:mod:`geocity.figures`) stays Python recipes: its
plates need per-figure logic (insets, rank-change symbols, charts) that a
declarative file would only hide.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._validate import key_name, yaml_key_lines
from .errors import NotFoundError, ValidationError

__all__ = ["PlateSpec", "LayerSpec", "read_spec", "build_plate", "render_plate", "PAGE_SIZES_MM", "SCHEMES"]

#: Page sizes, mm (portrait width, height).
PAGE_SIZES_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
#: mapclassify schemes a graduated rule may name.
SCHEMES: dict[str, str] = {
    "quantiles": "Quantiles", "equal_interval": "EqualInterval", "natural_breaks": "NaturalBreaks",
    "fisher_jenks": "FisherJenks", "jenks_caspall": "JenksCaspall", "head_tail_breaks": "HeadTailBreaks",
    "maximum_breaks": "MaximumBreaks", "pretty": "PrettyBreaks", "std_mean": "StdMean",
}
_TOP = ("page", "lang", "style", "title", "subtitle", "extent", "projection", "within_km", "scores", "basemap",
        "layers", "insets", "legend", "scalebar", "north_arrow", "graticule", "credits")
_SOURCES = ("file", "embedded", "corridor", "buffer", "clusters")
_LAYER = _SOURCES + ("layer", "name", "style", "labels")
_RULES = {
    "single": ("color", "size", "width", "edge", "alpha", "marker"),
    "categorised": ("field", "colors", "other", "size", "width", "alpha", "marker"),
    "graduated": ("field", "classes", "scheme", "colors", "size", "width", "alpha", "marker"),
}
_MAX_CATEGORIES = 24


@dataclass
class LayerSpec:
    """One layer of a plate: its source, its rows (lon/lat GeoDataFrame, or a
    raster), the style rule and the labels."""

    key: str
    source: str
    value: Any
    frame: Any = None
    raster: Any = None
    name: dict = field(default_factory=dict)
    rule: str = "single"
    rule_opts: dict = field(default_factory=dict)
    labels: dict | None = None
    colors: list | None = None  # per row, once drawn (insets reuse them)


@dataclass
class PlateSpec:
    """A checked plate file."""

    path: Path
    lang: str
    style: dict
    title: dict
    subtitle: dict
    extent: dict
    layers: list
    legend: bool = True
    scalebar: bool = True
    north_arrow: bool = True
    graticule: bool = True
    credits: list = field(default_factory=list)
    analysis: Any = None
    insets: list = field(default_factory=list)


# --------------------------------------------------------------------------
# reading: YAML with the line of every key
# --------------------------------------------------------------------------
def _compose(path: Path, what: str = "plate file") -> tuple[Any, dict]:
    """Parse a YAML file and the line of every key path (list items by index)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{what} {str(path)!r} does not exist; give the path of a {what} "
                            "(see examples/)") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{what} {str(path)!r} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"{what} {str(path)!r}{where} is not valid YAML: "
                              f"{getattr(exc, 'problem', None) or exc}") from None
    lines, dups = yaml_key_lines(node)
    if dups:
        raise ValidationError(f"{what} {str(path)!r}: duplicate key(s) {', '.join(dups)}; keep one of each")
    return data, lines




class _Problems:
    """Collects every problem of a plate file, each with its line and key."""

    def __init__(self, path: Path, lines: dict, what: str = "plate file"):
        self.path, self.lines, self.what = path, lines, what
        self.items: list[str] = []

    def add(self, key: tuple, message: str) -> None:
        line = next((self.lines[key[:i]] for i in range(len(key), -1, -1) if key[:i] in self.lines), None)
        where = f"line {line}: " if line else ""
        self.items.append(f"{where}'{key_name(key) or '(top)'}': {message}")

    def unknown(self, key: tuple, mapping: dict, valid) -> None:
        for k in mapping:
            if k not in valid:
                hint = difflib.get_close_matches(str(k), list(valid), n=1)
                fix = f"did you mean '{hint[0]}'?" if hint else f"valid keys: {', '.join(valid)}"
                self.add(key + (k,), f"unknown key; {fix}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(f"{self.what} {str(self.path)!r}:\n  - " + "\n  - ".join(self.items))


def _number(p: _Problems, key: tuple, v, *, lo: float = 0.0, hi: float = math.inf, unit: str = "") -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo < v <= hi:
        rng = f"> {lo:g}" + (f" and ≤ {hi:g}" if math.isfinite(hi) else "")
        p.add(key, f"expected a number {rng}{' ' + unit if unit else ''}, got {v!r}")
        return None
    return float(v)


def _text(p: _Problems, key: tuple, v, *, required: bool = False) -> dict:
    """A text in en/zh: a string (both languages) or ``{en:, zh:}``."""
    if v is None:
        if required:
            p.add(key, "missing; give a string or {en: ..., zh: ...}")
        return {"en": "", "zh": ""}
    if isinstance(v, str):
        return {"en": v, "zh": v}
    if isinstance(v, dict):
        p.unknown(key, v, ("en", "zh"))
        bad = [k for k in ("en", "zh") if k in v and not isinstance(v[k], str)]
        for k in bad:
            p.add(key + (k,), f"expected a string, got {v[k]!r}")
        en, zh = v.get("en"), v.get("zh")
        en = en if isinstance(en, str) else ""
        zh = zh if isinstance(zh, str) else ""
        if not en and not zh and required:
            p.add(key, "give the text in en, zh or both")
        return {"en": en or zh, "zh": zh or en}
    p.add(key, f"expected a string or {{en: ..., zh: ...}}, got {v!r}")
    return {"en": "", "zh": ""}


def _flag(p: _Problems, key: tuple, v, default: bool = True) -> bool:
    if v is None:
        return default
    if not isinstance(v, bool):
        p.add(key, f"expected true or false, got {v!r}")
        return default
    return v


# --------------------------------------------------------------------------
# page, style, extent
# --------------------------------------------------------------------------
def _page(p: _Problems, v) -> tuple[float, float] | None:
    """(width, height) in mm."""
    if v is None:
        v = {}
    if not isinstance(v, dict):
        p.add(("page",), f"expected a mapping {{size: A4, orientation: landscape}}, got {v!r}")
        return None
    p.unknown(("page",), v, ("size", "orientation"))
    size, orient = v.get("size", "A4"), v.get("orientation", "landscape")
    if orient not in ("portrait", "landscape"):
        p.add(("page", "orientation"), f"expected portrait or landscape, got {orient!r}")
        orient = "landscape"
    if isinstance(size, str) and size.upper() in PAGE_SIZES_MM:
        w, h = PAGE_SIZES_MM[size.upper()]
    elif isinstance(size, list) and len(size) == 2:
        w_mm = _number(p, ("page", "size", 0), size[0], lo=50, hi=2000, unit="mm")
        h_mm = _number(p, ("page", "size", 1), size[1], lo=50, hi=2000, unit="mm")
        if w_mm is None or h_mm is None:
            return None
        return (w_mm, h_mm)  # an explicit size is taken as given
    else:
        p.add(("page", "size"), f"expected {' or '.join(PAGE_SIZES_MM)} or [width_mm, height_mm], got {size!r}")
        return None
    return (max(w, h), min(w, h)) if orient == "landscape" else (w, h)


def _style(p: _Problems, spec: dict, base: Path, user_style, page, is_world: bool):
    """The plate's style: base → the file's ``style:`` → the caller's
    ``--style``, then the page size and ``projection:``."""
    from .styles import load_style, style_path

    v = spec.get("style")
    own = None
    if v is not None:
        if not isinstance(v, str):
            p.add(("style",), f"expected an embedded style name or a .yaml file, got {v!r}")
        else:
            rel = v.lower().endswith((".yaml", ".yml")) and not Path(v).is_absolute()
            try:
                own = style_path(base / v if rel else v)
            except (NotFoundError, ValidationError) as exc:
                p.add(("style",), str(exc))
    try:
        st = load_style(own or "base", overrides=None if user_style is None else style_path(user_style))
    except (NotFoundError, ValidationError) as exc:
        p.add(("style",), str(exc))
        return None
    if page is not None:
        f = st["furniture"]
        f["figure_width_in"], f["figure_height_in"] = page[0] / 25.4, page[1] / 25.4
        if page[1] > page[0]:  # portrait: the corridor plates' layout
            f.update(map_box=[0.07, 0.25, 0.9, 0.68], legend_xy=[0.03, 0.225], north_arrow_xy=[0.93, 0.9])
    proj = spec.get("projection")
    if proj is not None:
        from .styles import _Crs

        if proj in ("laea", "aeqd"):
            if is_world:
                p.add(("projection",), f"{proj} is a regional projection; a world plate needs a projected CRS "
                                       "such as 'EPSG:8857' or '+proj=eqearth +lon_0=150'")
            st["projection"]["regional"] = proj
        elif not is_world:
            p.add(("projection",), f"a regional plate takes laea or aeqd (centred on the extent), got {proj!r}")
        else:
            bad = _Crs().check(proj)
            if bad:
                p.add(("projection",), bad)
            else:
                from pyproj import CRS

                if CRS.from_user_input(proj).is_geographic:
                    p.add(("projection",), f"a world plate needs a projected CRS (e.g. 'EPSG:8857'), not {proj!r}")
                st["projection"]["world"] = proj
    return st


def _extent(p: _Problems, v, analysis) -> dict | None:
    key = ("extent",)
    if v == "world":
        return {"kind": "world"}
    if not isinstance(v, dict):
        p.add(key, "missing or not understood; give world, {center: [lat, lon], half_width_km: ...}, "
                   "{bbox: [west, south, east, north]} or {corridor: NAME, margin_km: ...}")
        return None
    kinds = [k for k in ("center", "bbox", "corridor") if k in v]
    if len(kinds) != 1:
        p.add(key, f"give exactly one of center, bbox, corridor (got {kinds or 'none'})")
        return None
    kind = kinds[0]
    valid = {"center": ("center", "half_width_km", "half_height_km"), "bbox": ("bbox",),
             "corridor": ("corridor", "margin_km")}[kind]
    p.unknown(key, v, valid)
    if kind == "center":
        c = v["center"]
        if not (isinstance(c, list) and len(c) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                           for x in c) and -90 <= c[0] <= 90 and -180 <= c[1] <= 360):
            p.add(key + ("center",), f"expected [lat, lon] in degrees, got {c!r}")
            return None
        hw = _number(p, key + ("half_width_km",), v.get("half_width_km"), hi=9000, unit="km")
        hh = v.get("half_height_km")
        hh = None if hh is None else _number(p, key + ("half_height_km",), hh, hi=9000, unit="km")
        if hw is None:
            return None
        return {"kind": "regional", "lat": float(c[0]), "lon": float(c[1]), "hw": hw, "hh": hh}
    if kind == "bbox":
        b = v["bbox"]
        if not (isinstance(b, list) and len(b) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                           for x in b)
                and -90 <= b[1] < b[3] <= 90 and all(-180 <= b[i] <= 180 for i in (0, 2)) and b[0] != b[2]):
            p.add(key + ("bbox",), f"expected [west, south, east, north] in degrees (south < north; west > east "
                                   f"crosses the antimeridian), got {b!r}")
            return None
        return _bbox_extent(*map(float, b))
    name = v["corridor"]
    margin = _number(p, key + ("margin_km",), v.get("margin_km", 150.0), lo=-1e-9, hi=3000, unit="km")
    try:
        names = analysis._corridor_names([name] if isinstance(name, str) else name)
    except (NotFoundError, TypeError) as exc:
        p.add(key + ("corridor",), str(exc))
        return None
    return {"kind": "corridor", "names": names, "margin": margin or 0.0}


def _bbox_extent(w: float, s: float, e: float, n: float) -> dict:
    from . import geodesy

    span = (e - w) % 360.0
    clon = (w + span / 2.0 + 180.0) % 360.0 - 180.0
    clat = (s + n) / 2.0
    widest = min(max(0.0, s), n) if s < 0 < n else (s if abs(s) < abs(n) else n)
    hw = float(geodesy.distance_km(widest, clon, widest, clon + span / 2.0)) if span < 360 else 20000.0
    hh = float(geodesy.distance_km(s, clon, n, clon)) / 2.0
    return {"kind": "regional", "lat": clat, "lon": clon, "hw": max(hw, 1.0), "hh": max(hh, 1.0)}


# --------------------------------------------------------------------------
# layers: source, rows, style rule, labels — all checked here
# --------------------------------------------------------------------------
def _layers(p: _Problems, v, base: Path, analysis) -> list[LayerSpec]:
    from .render import plate_layers

    if not isinstance(v, list) or not v:
        p.add(("layers",), "give a list of at least one layer (file:, embedded:, corridor:, buffer:, clusters:)")
        return []
    out = []
    for i, lv in enumerate(v):
        key = ("layers", i)
        if not isinstance(lv, dict):
            p.add(key, f"expected a mapping with one of {', '.join(_SOURCES)}, got {lv!r}")
            continue
        p.unknown(key, lv, _LAYER)
        src = [s for s in _SOURCES if s in lv]
        if len(src) != 1:
            p.add(key, f"give exactly one source among {', '.join(_SOURCES)} (got {src or 'none'})")
            continue
        lay = LayerSpec(key=key_name(key), source=src[0], value=lv[src[0]],
                        name=_text(p, key + ("name",), lv.get("name")))
        if "layer" in lv and (src[0] != "file" or not isinstance(lv["layer"], str)):
            p.add(key + ("layer",), "the layer of a multi-layer file: a string, with file: only")
        n_before = len(p.items)
        plate_layers.load(lay, p, key, base, analysis, lv.get("layer") if isinstance(lv.get("layer"), str) else None)
        if len(p.items) > n_before:
            continue
        _rule(p, key, lay, lv.get("style"))
        _labels(p, key, lay, lv.get("labels"))
        out.append(lay)
    return out


def _rule(p: _Problems, key: tuple, lay: LayerSpec, v) -> None:
    from matplotlib.colors import is_color_like

    key = key + ("style",)
    if v is None:
        return
    if not isinstance(v, dict) or len(v) != 1 or next(iter(v)) not in _RULES:
        p.add(key, f"expected one rule: {{single: ...}}, {{categorised: {{field: ...}}}} or "
                   f"{{graduated: {{field: ..., classes: 5, scheme: quantiles}}}}, got {v!r}")
        return
    rule, opts = next(iter(v.items()))
    opts = {} if opts is None else opts
    key = key + (rule,)
    if not isinstance(opts, dict):
        p.add(key, f"expected a mapping of {', '.join(_RULES[rule])}, got {opts!r}")
        return
    p.unknown(key, opts, _RULES[rule])
    lay.rule, lay.rule_opts = rule, dict(opts)
    for k in ("color", "edge", "other"):
        if k in opts and not (isinstance(opts[k], str) and is_color_like(opts[k])):
            p.add(key + (k,), f"expected a colour such as '#1f77b4' or 'steelblue', got {opts[k]!r}")
    for k, hi in (("size", 2000), ("width", 20), ("alpha", 1)):
        if k in opts and not (rule == "graduated" and k == "size" and isinstance(opts[k], list)):
            _number(p, key + (k,), opts[k], hi=hi)
    if "marker" in opts:
        from matplotlib.markers import MarkerStyle

        if not isinstance(opts["marker"], str) or opts["marker"] not in MarkerStyle.markers:
            p.add(key + ("marker",), f"expected a matplotlib marker such as 'o', 's', '^', got {opts['marker']!r}")
    if rule == "single":
        return
    frame = lay.frame
    fld = opts.get("field")
    if frame is None:
        p.add(key, "a raster layer takes single: only")
        return
    cols = [c for c in frame.columns if c != frame.geometry.name]
    if not isinstance(fld, str) or fld not in cols:
        hint = difflib.get_close_matches(str(fld), cols, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"fields: {', '.join(map(str, cols[:30]))}"
        p.add(key + ("field",), f"no field {fld!r} in {lay.source} {lay.value!r}; {fix}")
        return
    if rule == "categorised":
        _categorised(p, key, lay, frame[fld], opts)
    else:
        _graduated(p, key, lay, frame[fld], opts)


def _categorised(p: _Problems, key: tuple, lay: LayerSpec, col, opts: dict) -> None:
    from matplotlib.colors import is_color_like

    values = sorted({str(x) for x in col.dropna()})
    colors = opts.get("colors")
    if colors is not None:
        if not isinstance(colors, dict):
            p.add(key + ("colors",), f"expected a mapping of field value → colour, got {colors!r}")
            return
        for k, c in colors.items():
            if not (isinstance(c, str) and is_color_like(c)):
                p.add(key + ("colors", k), f"expected a colour, got {c!r}")
            elif str(k) not in values:
                p.add(key + ("colors", k), f"value {k!r} does not occur in field {opts['field']!r}; values: "
                                           f"{', '.join(values[:20])}")
    elif len(values) > _MAX_CATEGORIES:
        p.add(key + ("field",), f"{len(values)} distinct values in {opts['field']!r}, more than {_MAX_CATEGORIES} "
                                "colours can tell apart; give colors: for the ones to show (the rest are 'other') "
                                "or use graduated:")
    if not values:
        p.add(key + ("field",), f"field {opts['field']!r} is empty in every row")
    lay.rule_opts["values"] = values


def _graduated(p: _Problems, key: tuple, lay: LayerSpec, col, opts: dict) -> None:
    import numpy as np
    import pandas as pd

    vals = pd.to_numeric(col, errors="coerce")
    bad = col.notna() & vals.isna()
    if bad.any():
        first = col[bad].iloc[0]
        p.add(key + ("field",), f"field {opts['field']!r} is not numeric ({int(bad.sum())} value(s) such as "
                                f"{str(first)[:40]!r}); graduated colours need numbers")
        return
    finite = vals[np.isfinite(vals)]
    k = opts.get("classes", 5)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 9:
        p.add(key + ("classes",), f"expected a whole number of classes from 2 to 9, got {k!r}")
        return
    scheme = opts.get("scheme", "quantiles")
    if scheme not in SCHEMES:
        hint = difflib.get_close_matches(str(scheme), list(SCHEMES), n=1)
        p.add(key + ("scheme",), f"unknown scheme {scheme!r}" + (f"; did you mean '{hint[0]}'?" if hint else "")
              + f"; schemes (mapclassify): {', '.join(SCHEMES)}")
        return
    if finite.nunique() < 2:
        p.add(key + ("field",), f"field {opts['field']!r} needs at least two distinct numbers to classify")
        return
    size = opts.get("size")
    if isinstance(size, list) and not (len(size) == 2 and all(isinstance(x, (int, float)) and 0 < x <= 2000
                                                              for x in size) and size[0] <= size[1]):
        p.add(key + ("size",), f"expected a size or [smallest, largest] marker areas (points²), got {size!r}")
    colors = opts.get("colors")
    if colors is not None and not (isinstance(colors, list) and len(colors) >= 2):
        p.add(key + ("colors",), f"expected a list of at least two colours (low → high), got {colors!r}")
    lay.rule_opts.update(classes=k, scheme=scheme)


def _insets(p: _Problems, v) -> list[dict]:
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > 3:
        p.add(("insets",), f"expected a list of at most 3 insets ({{title:, center: [lat, lon], half_width_km:}}), "
                           f"got {v!r}")
        return []
    out = []
    for i, iv in enumerate(v):
        key = ("insets", i)
        if not isinstance(iv, dict):
            p.add(key, f"expected {{title:, center: [lat, lon], half_width_km:}}, got {iv!r}")
            continue
        p.unknown(key, iv, ("title", "center", "half_width_km"))
        title = _text(p, key + ("title",), iv.get("title"), required=True)
        c = iv.get("center")
        if not (isinstance(c, list) and len(c) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                           for x in c) and -90 <= c[0] <= 90 and -180 <= c[1] <= 360):
            p.add(key + ("center",), f"expected [lat, lon] in degrees, got {c!r}")
            continue
        hw = _number(p, key + ("half_width_km",), iv.get("half_width_km"), hi=2000, unit="km")
        if hw is not None:
            out.append({"title": title, "lat": float(c[0]), "lon": float(c[1]), "hw": hw})
    return out


def _labels(p: _Problems, key: tuple, lay: LayerSpec, v) -> None:
    if v is None:
        return
    key = key + ("labels",)
    if isinstance(v, str):
        v = {"field": v}
    if not isinstance(v, dict):
        p.add(key, f"expected a field name or {{field: ..., max: ...}}, got {v!r}")
        return
    p.unknown(key, v, ("field", "max", "size"))
    if lay.frame is None:
        p.add(key, "a raster layer has no labels")
        return
    cols = [c for c in lay.frame.columns if c != lay.frame.geometry.name]
    if v.get("field") not in cols:
        hint = difflib.get_close_matches(str(v.get("field")), cols, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"fields: {', '.join(map(str, cols[:30]))}"
        p.add(key + ("field",), f"no field {v.get('field')!r} in {lay.source} {lay.value!r}; {fix}")
        return
    mx = v.get("max", 50)
    if isinstance(mx, bool) or not isinstance(mx, int) or mx < 0:
        p.add(key + ("max",), f"expected a whole number ≥ 0 (labels placed at most), got {mx!r}")
        return
    if "size" in v:
        _number(p, key + ("size",), v["size"], hi=100)
    lay.labels = {"field": v["field"], "max": mx, "size": v.get("size")}


# --------------------------------------------------------------------------
# the public API
# --------------------------------------------------------------------------
def read_spec(path: str | Path, *, style=None, analysis=None) -> PlateSpec:
    """Read and check a plate file and every layer it names.

    Parameters
    ----------
    path
        The plate file (YAML).
    style
        A style name or YAML file layered over the file's own ``style:``.
    analysis
        The :class:`~geocity.analysis.Analysis` whose corridors, buffers
        and clusters the plate draws (default: one built from the file's
        ``within_km``, ``scores`` and ``basemap``).

    Raises
    ------
    ValidationError
        Every problem of the file at once, each naming its line and key.
    NotFoundError
        The plate file does not exist.
    """
    from .analysis import Analysis
    from .render.static import LANGS

    path = Path(path)
    data, lines = _compose(path)
    if not isinstance(data, dict):
        raise ValidationError(f"plate file {str(path)!r} must hold a mapping (page:, title:, extent:, layers:, ...), "
                              f"not {type(data).__name__}")
    p = _Problems(path, lines)
    p.unknown((), data, _TOP)
    base = path.parent
    lang = data.get("lang", "en")
    if lang not in LANGS:
        p.add(("lang",), f"expected one of {', '.join(LANGS)}, got {lang!r}")
        lang = "en"
    if analysis is None:
        kw: dict[str, Any] = {}  # Analysis parameters: within_km (a number), scores and basemap (paths)
        if "within_km" in data:
            kw["within_km"] = _number(p, ("within_km",), data["within_km"], hi=2000, unit="km") or 100.0
        for k in ("scores", "basemap"):
            if k in data:
                f = base / str(data[k])
                if not isinstance(data[k], str) or not f.is_file():
                    p.add((k,), f"expected the path of an existing file (relative to the plate file), got {data[k]!r}")
                else:
                    kw[k] = f
        try:
            analysis = Analysis(**kw)
            if analysis.scores is not None:
                analysis.scored()
            if analysis.basemap is not None:
                analysis.basemap_layer()
        except (ValidationError, NotFoundError) as exc:
            p.add(("scores",) if "scores" in kw else ("basemap",), str(exc))
            analysis = Analysis()
    elif any(k in data for k in ("within_km", "scores", "basemap")):
        p.add(("within_km",), "given an analysis, the plate file may not set within_km, scores or basemap")
    extent = _extent(p, data.get("extent"), analysis)
    page = _page(p, data.get("page"))
    st = _style(p, data, base, style, page, is_world=extent is not None and extent["kind"] == "world")
    title = _text(p, ("title",), data.get("title"), required=True)
    subtitle = _text(p, ("subtitle",), data.get("subtitle"))
    layers = _layers(p, data.get("layers"), base, analysis)
    credits = data.get("credits", [])
    if isinstance(credits, str):
        credits = [credits]
    if not isinstance(credits, list) or not all(isinstance(c, str) for c in credits):
        p.add(("credits",), f"expected a list of strings, got {credits!r}")
        credits = []
    insets = _insets(p, data.get("insets"))
    flags = {k: _flag(p, (k,), data.get(k)) for k in ("legend", "scalebar", "north_arrow", "graticule")}
    p.raise_if_any()
    assert extent is not None  # _extent recorded a problem with each None, so raise_if_any raised
    return PlateSpec(path=path, lang=lang, style=st, title=title, subtitle=subtitle, extent=extent, layers=layers,
                     credits=credits, analysis=analysis, insets=insets, **flags)


def build_plate(spec: PlateSpec):
    """Draw a checked :class:`PlateSpec` (nothing written): a
    :class:`~geocity.render.static.Plate`."""
    from .render import plate_layers, static

    with static.literal_text():  # the plate file's strings and values are drawn as written
        return plate_layers.draw(spec)


def render_plate(path: str | Path, out: str | Path, *, overwrite: bool = False, style=None, dpi: int | None = None,
                 analysis=None) -> Path:
    """Render a plate file to ``out`` (PNG, PDF or SVG from the extension).

    Everything is checked — the plate file, its layers, the output path and
    format, ``dpi`` — before anything is drawn or written; the file is
    written atomically through :mod:`geocity.export`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from .export import check_writable
    from .render import static

    out = Path(out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in static.FORMATS:
        raise ValidationError(f"output {str(out)!r}: the format follows the extension; use one of "
                              f"{', '.join('.' + f for f in static.FORMATS)}")
    static.check_dpi(dpi)
    check_writable(out, overwrite)
    spec = read_spec(path, style=style, analysis=analysis)
    plate = build_plate(spec)
    return static.save_figure(plate, out, dpi=dpi, overwrite=overwrite, style=spec.style)
