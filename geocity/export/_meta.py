"""Provenance records (``.meta.json``) of geocity.export."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import platform
from collections.abc import Mapping
from importlib import metadata as _im
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import ValidationError
from ._files import _meta_path, _suffix, atomic_path, atomic_set

log = logging.getLogger("geocity.export")

# --------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in ("geopandas", "shapely", "pyproj", "pyogrio", "numpy", "pandas", "scipy", "numba"):
        try:
            out[dist] = _im.version(dist)
        except _im.PackageNotFoundError:  # pragma: no cover - numba is optional, the rest are dependencies
            out[dist] = "not installed"
    try:
        import pyogrio

        out["GDAL"] = pyogrio.__gdal_version_string__
    except Exception:  # pragma: no cover
        out["GDAL"] = "unknown"
    try:
        import pyproj

        out["PROJ"] = pyproj.proj_version_str
    except Exception:  # pragma: no cover
        out["PROJ"] = "unknown"
    return out


def _jsonable(obj: Any) -> Any:
    """Convert parameters to plain JSON values, deterministically."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_jsonable(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            return str(obj)
        return obj
    if isinstance(obj, (_dt.date, _dt.datetime, pd.Timestamp)):
        return obj.isoformat()
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _metadata_record(output_name: str, params: Mapping | None, inputs: Iterable, extra: Mapping | None) -> str:
    import geocity

    in_list = []
    missing = []
    for p in inputs or ():
        q = Path(p)
        if not q.is_file():
            missing.append(str(p))
            continue
        in_list.append({"path": os.fspath(p), "sha256": _sha256(q), "bytes": q.stat().st_size})
    if missing:
        raise ValidationError(
            f"metadata inputs not found: {', '.join(missing)}; pass existing files in inputs="
        )
    record: dict[str, Any] = {
        "output": output_name,
        "geocity_version": geocity.__version__,
        "python": platform.python_version(),
        "libraries": _versions(),
        "params": _jsonable(dict(params or {})),
        "inputs": in_list,
    }
    if extra:
        record["extra"] = _jsonable(dict(extra))
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_metadata(
    path: str | os.PathLike,
    *,
    params: Mapping,
    inputs: Iterable[str | os.PathLike] = (),
    extra: Mapping | None = None,
) -> Path:
    """Write the provenance record ``<path>.meta.json`` next to an output.

    The record holds the output's file name, the geocity, Python and library
    versions (geopandas, shapely, pyproj, pyogrio, numpy, pandas, GDAL, PROJ),
    the parameters, and the SHA-256 and size of each input file. Keys are
    sorted and indented by 2; there is no timestamp unless one is passed in
    ``extra``, so the same run gives the same bytes.

    The record follows its output: it is (atomically) replaced whenever it is
    written — the overwrite policy is applied to the output itself.

    Parameters
    ----------
    path
        The output the record describes (need not exist yet).
    params
        Parameters of the run (JSON-able values; paths, numpy scalars,
        tuples and sets are converted).
    inputs
        Input files to checksum. They must exist.
    extra
        Anything else to record (e.g. ``{"score_source": "rank-proxy"}``).

    Returns
    -------
    pathlib.Path
        The record's path.
    """
    path = Path(path)
    text = _metadata_record(path.name, params, inputs, extra)
    meta = _meta_path(path)
    with atomic_path(meta, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    if _suffix(path) in (".tif", ".tiff") and path.is_file():  # the full record as QGIS metadata too
        from ..qgis_style import sidecar_files, write_raster_sidecars

        qmd = sidecar_files(path)[1]
        with atomic_set([qmd], overwrite=True, metadata=False) as staging:
            write_raster_sidecars(path, dest=staging.path(qmd).parent, record=json.loads(text), qml=False)
    return meta
