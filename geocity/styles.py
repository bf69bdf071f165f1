"""Style sheets: palettes, symbol sizes, line widths, fonts, label rules and
plate furniture, read from YAML in the embedded ``styles/`` folder.

One base style (``styles/base.yaml``) plus per-figure overrides
(``styles/fig-<figure>.yaml``) that name only the keys they change. Every
style is validated on load against :data:`SCHEMA`; a typo in a key or a bad
value raises :class:`~geocity.errors.ValidationError` naming the key, the
file and line, what was expected and (for keys) the closest valid names.

The static renderer (:mod:`geocity.render.static`) and the Leaflet renderer
share these values through the getters at the end of this module
(:func:`region_colors`, :func:`cluster_colors`, :func:`corridor_colors`, ...),
so changing a colour never needs a code change.

Examples
--------
>>> from geocity.styles import load_style, region_colors
>>> style = load_style()
>>> region_colors(style)["Asia"]
'#d1495b'
>>> load_style(overrides={"colors": {"land": "#eeeeee"}})["colors"]["land"]
'#eeeeee'
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from ._data import data_dir
from ._validate import yaml_key_lines
from .errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA",
    "load_style",
    "available_styles",
    "style_path",
    "validate_style",
    "region_colors",
    "region_color",
    "cluster_colors",
    "typology_colors",
    "change_symbols",
    "corridor_colors",
    "sequential_colors",
    "symbol_sizes",
    "line_widths",
    "font_families",
]


# --------------------------------------------------------------------------
# validators
# --------------------------------------------------------------------------
class _V:
    """A leaf validator: ``check(value) -> str | None`` (the problem)."""

    expected = "a value"

    def check(self, value: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError


class _Num(_V):
    def __init__(self, lo: float | None = None, hi: float | None = None, *, integer: bool = False, lo_open=False):
        self.lo, self.hi, self.integer, self.lo_open = lo, hi, integer, lo_open
        kind = "an integer" if integer else "a number"
        rng = []
        if lo is not None:
            rng.append(f"{'>' if lo_open else '>='} {lo}")
        if hi is not None:
            rng.append(f"<= {hi}")
        self.expected = kind + (" " + " and ".join(rng) if rng else "")

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected {self.expected}, got {value!r}"
        if self.integer and not float(value).is_integer():
            return f"expected {self.expected}, got {value!r}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return f"expected {self.expected}, got {value!r}"
        if self.hi is not None and value > self.hi:
            return f"expected {self.expected}, got {value!r}"
        return None


class _Color(_V):
    expected = "a colour (e.g. '#1f77b4' or 'steelblue')"

    def check(self, value):
        from matplotlib.colors import is_color_like

        if not isinstance(value, str) or not is_color_like(value):
            return f"expected {self.expected}, got {value!r}"
        return None


class _Str(_V):
    expected = "a string"

    def check(self, value):
        if not isinstance(value, str) or not value.strip():
            return f"expected a non-empty string, got {value!r}"
        return None


class _Text(_V):
    expected = "a string (may be empty)"

    def check(self, value):
        return None if isinstance(value, str) else f"expected a string, got {value!r}"


class _Bool(_V):
    expected = "true or false"

    def check(self, value):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


class _Choice(_V):
    def __init__(self, *choices):
        self.choices = choices
        self.expected = "one of " + ", ".join(repr(c) for c in choices)

    def check(self, value):
        if value not in self.choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            return f"expected {self.expected}, got {value!r}{extra}"
        return None


class _Marker(_V):
    expected = "a matplotlib marker such as 'o', '^', 'v', 's', '*', 'D'"

    def check(self, value):
        from matplotlib.markers import MarkerStyle

        if not isinstance(value, str) or value not in MarkerStyle.markers:
            return f"expected {self.expected}, got {value!r}"
        return None


class _Crs(_V):
    expected = "a CRS pyproj understands, e.g. 'EPSG:8857'"

    def check(self, value):
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        if not isinstance(value, str):
            return f"expected {self.expected}, got {value!r}"
        try:
            CRS.from_user_input(value)
        except CRSError:
            return f"expected {self.expected}, got {value!r}"
        return None


class _Optional(_V):
    def __init__(self, inner: _V):
        self.inner = inner
        self.expected = inner.expected + " or null"

    def check(self, value):
        return None if value is None else self.inner.check(value)


class _Seq(_V):
    def __init__(self, item: _V, *, length: int | None = None, min_length: int = 1):
        self.item, self.length, self.min_length = item, length, min_length
        n = f"{length} " if length else ""
        self.expected = f"a list of {n}items, each {item.expected}"

    def check(self, value):
        if not isinstance(value, list):
            return f"expected {self.expected}, got {value!r}"
        if self.length is not None and len(value) != self.length:
            return f"expected {self.expected}, got {len(value)} item(s): {value!r}"
        if len(value) < self.min_length:
            return f"expected at least {self.min_length} item(s), got {value!r}"
        for i, v in enumerate(value):
            p = self.item.check(v)
            if p:
                return f"item {i}: {p}"
        return None


class _Map:
    """An open mapping: any key, every value validated by ``value``;
    ``required`` keys must exist after merging."""

    def __init__(self, value, *, required: tuple[str, ...] = ()):
        self.value, self.required = value, required


#: What a style may contain. Dicts are closed (unknown keys are errors),
#: :class:`_Map` is open (any key; e.g. new regions or corridors).
_SIZE = _Num(0, 100, lo_open=True)
_WIDTH = _Num(0, 20)
_FRAC = _Num(0, 1)
_CHANGE = {
    "marker": _Marker(),
    "color": _Color(),
    "label_en": _Str(),
    "label_zh": _Str(),
}
#: The style-sheet schema: section → key → validator (the reference page of the documentation is generated
#: from it). A dict is closed, a :class:`_Map` open.
SCHEMA: dict[str, Any] = {
    "fonts": {
        "family_en": _Str(),
        "family_zh": _Str(),
        "title_size": _SIZE,
        "subtitle_size": _SIZE,
        "title_alt_size": _SIZE,
        "label_size": _SIZE,
        "legend_size": _SIZE,
        "legend_title_size": _SIZE,
        "note_size": _SIZE,
        "graticule_size": _SIZE,
        "bar_label_size": _SIZE,
    },
    "colors": {
        k: _Color()
        for k in (
            "text", "muted_text", "ocean", "land", "land_edge", "sphere_edge", "graticule", "halo",
            "frame", "bar", "bar_highlight", "buffer_fill", "buffer_edge", "inset_frame", "inset_box",
        )
    },
    "palettes": {
        "regions": _Map(_Color(), required=("other",)),
        "clusters": _Seq(_Color(), min_length=2),
        "typology": _Map(_Color(), required=("other",)),
        "change": {"up": _CHANGE, "down": _CHANGE, "same": _CHANGE, "new": _CHANGE},
        "corridors": _Map(_Color(), required=("other",)),
        "sequential": _Seq(_Color(), min_length=2),
    },
    "symbols": {
        "city_size_min": _Num(0, 2000, lo_open=True),
        "city_size_max": _Num(0, 2000, lo_open=True),
        "city_edge_width": _WIDTH,
        "city_edge_color": _Color(),
        "background_city_size": _Num(0, 2000),
        "background_city_color": _Color(),
        "pole_marker": _Marker(),
        "pole_size": _Num(0, 2000, lo_open=True),
        "change_size": _Num(0, 2000, lo_open=True),
        "alpha": _FRAC,
        "member_size": _Num(0, 2000, lo_open=True),
        "member_edge_width": _WIDTH,
        "corridor_member_size": _Num(0, 2000, lo_open=True),
        "corridor_other_size": _Num(0, 2000, lo_open=True),
        "corridor_other_fill": _Color(),
        "corridor_other_edge_width": _WIDTH,
        "score_city_alpha": _FRAC,
    },
    "lines": {
        k: _WIDTH
        for k in (
            "land_edge", "sphere_edge", "graticule", "corridor", "buffer_edge", "cluster_edge",
            "frame", "bar_edge", "link_strong", "link_medium", "link_weak",
        )
    },
    "opacity": {
        k: _FRAC
        for k in (
            "cluster_fill", "corridor_buffer", "corridor_buffers_world", "link_strong", "link_medium", "link_weak",
        )
    },
    "labels": {
        "max_rank": _Num(0, 1000, integer=True),
        "halo_width": _WIDTH,
        "offset_points": _Num(0, 50),
        "padding_points": _Num(0, 50),
        "both_separator": _Text(),
    },
    "furniture": {
        "figure_width_in": _Num(1, 60),
        "figure_height_in": _Num(1, 60),
        "map_box": _Seq(_FRAC, length=4),
        "title_xy": _Seq(_FRAC, length=2),
        "subtitle_gap": _FRAC,
        "title_bilingual": _Bool(),
        "trim_bottom": _Bool(),
        "note_gap": _FRAC,
        "legend_xy": _Seq(_FRAC, length=2),
        "legend_max_rows": _Num(1, 50, integer=True),
        "legend_loc": _Choice(
            "upper left", "upper right", "lower left", "lower right", "center left", "center right",
            "upper center", "lower center", "center", "best",
        ),
        "scalebar_loc": _Choice("upper left", "upper right", "lower left", "lower right", "lower center",
                                "upper center"),
        "scalebar_length_fraction": _Num(0.02, 0.6),
        "scalebar_box_alpha": _FRAC,
        "north_arrow_xy": _Seq(_FRAC, length=2),
        "north_arrow_size": _Num(0.01, 0.3),
        "note_xy": _Seq(_FRAC, length=2),
        "graticule_step_deg": _Num(0.5, 90),
        "graticule_labels": _Bool(),
        "inset_size": _Seq(_Num(0.05, 0.5), length=2),
        "inset_gap": _Num(0, 0.2),
    },
    "projection": {
        "world": _Crs(),
        "regional": _Choice("laea", "aeqd"),
        "world_lat_min": _Optional(_Num(-90, 90)),
        "world_lat_max": _Optional(_Num(-90, 90)),
    },
    "output": {
        "dpi": _Num(10, 2400, integer=True),
        "formats": _Seq(_Choice("png", "pdf", "svg")),
        "pdf_fonttype": _Choice(3, 42),
    },
}


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------
def available_styles() -> list[str]:
    """Names of the embedded styles (``base`` and the per-figure files)."""
    return sorted(p.stem for p in data_dir("styles").glob("*.yaml"))


def style_path(value: str | Path) -> Path:
    """The YAML file of a user's ``--style``: an embedded style's name
    (``"pacific"``, see :func:`available_styles`) or the path of a ``.yaml``
    file. Its keys override the base style (and a figure's own file).

    Raises
    ------
    NotFoundError
        Neither an embedded style nor an existing ``.yaml`` file.
    """
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValidationError(f"style must be an embedded style name or the path of a .yaml file, got {value!r}")
    p = Path(value)
    if p.suffix.lower() in (".yaml", ".yml"):
        if not p.is_file():
            raise NotFoundError(f"style file {str(p)!r} does not exist (or is not a file); give the path of a "
                                f".yaml style or one of the embedded styles: {available_styles()}")
        return p
    if str(value) in available_styles():
        return data_dir("styles") / f"{value}.yaml"
    hint = difflib.get_close_matches(str(value), available_styles(), n=1)
    extra = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise NotFoundError(f"no style named {str(value)!r}{extra}; embedded styles: {available_styles()} "
                        "(or give the path of a .yaml file)")


def _read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Parse a YAML mapping and the line number of every key path."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFoundError(f"cannot read style file {path}: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise ValidationError(f"style file {where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ValidationError(f"style file {path} must hold a mapping of sections (fonts:, colors:, ...), not "
                              f"{type(data).__name__}")
    lines, dups = yaml_key_lines(node)
    if dups:
        raise ValidationError(f"style file {path}: duplicate key(s) {', '.join(dups)}; keep one of each")
    return data, lines


def _merge(base: dict, over: Mapping, origin: dict, src: str, lines: dict, prefix=()) -> dict:
    """Deep-merge ``over`` into a copy of ``base``; lists are replaced.
    ``origin`` records where every key path came from (for messages)."""
    out = dict(base)
    for k, v in over.items():
        path = prefix + (k,)
        line = lines.get(path)
        origin[path] = f"{src}, line {line}" if line else src
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v, origin, src, lines, path)
        else:
            out[k] = copy.deepcopy(v)
    return out


class _Walker:
    """Checks a style against :data:`SCHEMA`, collecting every problem with
    the file and line that set the key (``origin``)."""

    def __init__(self, origin: Mapping[tuple, str]):
        self.origin = origin
        self.problems: list[str] = []

    def where(self, path) -> str:
        for i in range(len(path), 0, -1):
            if path[:i] in self.origin:
                return f" ({self.origin[path[:i]]})"
        return ""

    @staticmethod
    def name(path) -> str:
        return ".".join(str(p) for p in path)

    def walk(self, spec, value, path) -> None:
        if isinstance(spec, dict):
            self._closed(spec, value, path)
        elif isinstance(spec, _Map):
            self._open(spec, value, path)
        else:
            p = spec.check(value)
            if p:
                self.problems.append(f"bad value for '{self.name(path)}'{self.where(path)}: {p}")

    def _closed(self, spec: dict, value, path) -> None:
        name, where = self.name, self.where
        if not isinstance(value, Mapping):
            self.problems.append(f"'{name(path)}' must be a mapping of {sorted(spec)}, got {value!r}{where(path)}")
            return
        for k in value:
            if k not in spec:
                hint = difflib.get_close_matches(str(k), list(spec), n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else f"; valid keys: {', '.join(spec)}"
                self.problems.append(f"unknown style key '{name(path + (k,))}'{where(path + (k,))}{extra}")
        for k, sub in spec.items():
            if k not in value:
                self.problems.append(f"missing style key '{name(path + (k,))}'{where(path)}")
            else:
                self.walk(sub, value[k], path + (k,))

    def _open(self, spec: _Map, value, path) -> None:
        name, where = self.name, self.where
        if not isinstance(value, Mapping):
            self.problems.append(f"'{name(path)}' must be a mapping, got {value!r}{where(path)}")
            return
        for k in spec.required:
            if k not in value:
                self.problems.append(f"missing style key '{name(path + (k,))}'{where(path)}")
        for k, v in value.items():
            self.walk(spec.value, v, path + (str(k),))


def _validate(style: Mapping, origin: Mapping[tuple, str]) -> None:
    w = _Walker(origin)
    w.walk(SCHEMA, style, ())
    problems = w.problems
    lo = style.get("projection", {}).get("world_lat_min")
    hi = style.get("projection", {}).get("world_lat_max")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo >= hi:
        problems.append(f"projection.world_lat_min ({lo}) must be below projection.world_lat_max ({hi})")
    if problems:
        raise ValidationError("invalid style:\n  - " + "\n  - ".join(problems))


def validate_style(style: Mapping) -> None:
    """Raise :class:`ValidationError` listing every problem in ``style``."""
    _validate(style, {})


@lru_cache(maxsize=64)
def _load_file(path: str, mtime: float) -> tuple[dict, dict]:
    return _read_yaml(Path(path))


def _file(path: Path) -> tuple[dict, dict]:
    data, lines = _load_file(str(path), path.stat().st_mtime)
    return copy.deepcopy(data), lines


def load_style(name: str | Path = "base", overrides: Mapping | str | Path | None = None) -> dict:
    """Load a validated style: the base style, a per-figure override, then ``overrides``.

    Parameters
    ----------
    name
        ``"base"``, the name of an embedded per-figure style (e.g.
        ``"fig-2-3"``; see :func:`available_styles`) or the path of a YAML
        file holding overrides of the base style.
    overrides
        A mapping or the path of a YAML file merged last (deep merge; lists
        are replaced). Only keys that exist in the schema are accepted.

    Returns
    -------
    dict
        A fresh nested dict (safe to modify).

    Raises
    ------
    NotFoundError
        Unknown style name (the message lists the valid ones).
    ValidationError
        Unknown key, missing key or bad value, naming the key, the file and
        line where it was set and what was expected.
    """
    folder = data_dir("styles")
    base_path = folder / "base.yaml"
    base, base_lines = _file(base_path)
    origin: dict[tuple, str] = {}
    style = _merge({}, base, origin, str(base_path), base_lines)
    name_path = Path(str(name))
    if str(name) != "base":
        if name_path.suffix in (".yaml", ".yml") and name_path.exists():
            path = name_path
        else:
            path = folder / f"{name}.yaml"
            if not path.exists():
                raise NotFoundError(
                    f"no style named {str(name)!r}; embedded styles: {available_styles()} "
                    "(or give the path of a .yaml file)"
                )
        data, lines = _file(path)
        style = _merge(style, data, origin, str(path), lines)
    if overrides is not None:
        if isinstance(overrides, (str, Path)):
            p = Path(overrides)
            if not p.exists():
                raise NotFoundError(f"style overrides file {p} does not exist")
            data, lines = _file(p)
            style = _merge(style, data, origin, str(p), lines)
        elif isinstance(overrides, Mapping):
            style = _merge(style, overrides, origin, "overrides argument", {})
        else:
            raise ValidationError(
                f"overrides must be a mapping or the path of a YAML file, not {type(overrides).__name__}"
            )
    _validate(style, origin)
    return style


# --------------------------------------------------------------------------
# getters shared by the static and Leaflet renderers
# --------------------------------------------------------------------------
def _style(style: Mapping | str | None) -> Mapping:
    if style is None:
        return load_style()
    if isinstance(style, (str, Path)):
        return load_style(style)
    return style


def region_colors(style: Mapping | str | None = None) -> dict[str, str]:
    """Region (Appendix 3: Asia, Europe, America, Africa, Oceania) → colour;
    key ``"other"`` for anything else."""
    return dict(_style(style)["palettes"]["regions"])


def region_color(region: str | None, style: Mapping | str | None = None) -> str:
    """Colour of one region, falling back to the ``other`` colour."""
    pal = region_colors(style)
    return pal.get(region, pal["other"]) if region is not None else pal["other"]


def cluster_colors(style: Mapping | str | None = None) -> list[str]:
    """Categorical colours for clusters, to be used in turn (cycle)."""
    return list(_style(style)["palettes"]["clusters"])


def typology_colors(style: Mapping | str | None = None) -> dict[str, str]:
    """Cluster typology → colour; key ``"other"`` for unknown typologies."""
    return dict(_style(style)["palettes"]["typology"])


def change_symbols(style: Mapping | str | None = None) -> dict[str, dict]:
    """Ranking change (``up``, ``down``, ``same``, ``new``) → ``{marker, color,
    label_en, label_zh}``."""
    return copy.deepcopy(dict(_style(style)["palettes"]["change"]))


def corridor_colors(style: Mapping | str | None = None) -> dict[str, str]:
    """Corridor (CMREC, CICPEC, CPEC, ...) → colour; key ``"other"``."""
    return dict(_style(style)["palettes"]["corridors"])


def sequential_colors(style: Mapping | str | None = None) -> list[str]:
    """Sequential ramp, low → high."""
    return list(_style(style)["palettes"]["sequential"])


def symbol_sizes(style: Mapping | str | None = None) -> dict[str, Any]:
    """Symbol sizes (marker areas in points²) and symbol colours."""
    return dict(_style(style)["symbols"])


def line_widths(style: Mapping | str | None = None) -> dict[str, float]:
    """Line widths in points."""
    return dict(_style(style)["lines"])


def font_families(style: Mapping | str | None = None) -> dict[str, str]:
    """``{"en": ..., "zh": ...}`` font family names."""
    f = _style(style)["fonts"]
    return {"en": f["family_en"], "zh": f["family_zh"]}
