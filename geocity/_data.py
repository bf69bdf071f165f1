"""Locate the embedded data folders (``layers/``, ``styles/``).

They sit at the top of the repository and are mapped into the wheel as
``geocity._layers`` and ``geocity._styles`` (see ``setup.cfg``). This module
is the one place that resolves them, whether geocity runs from a source
checkout, an editable install or a wheel.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import NotFoundError

_KINDS = {"layers": "geocity._layers", "styles": "geocity._styles"}


def data_dir(kind: str) -> Path:
    """Return the folder holding the embedded ``layers`` or ``styles``.

    Parameters
    ----------
    kind
        ``"layers"`` or ``"styles"``.

    Returns
    -------
    pathlib.Path
        An existing folder. ``$GEOCITY_LAYERS`` / ``$GEOCITY_STYLES`` override.
    """
    if kind not in _KINDS:
        raise NotFoundError(f"unknown data kind {kind!r}; expected one of {sorted(_KINDS)}")
    env = os.environ.get(f"GEOCITY_{kind.upper()}")
    if env:
        return Path(env)
    # source checkout or editable install: the folder beside the package
    root = Path(__file__).resolve().parent.parent
    if (root / "setup.cfg").is_file() and (root / kind).is_dir():
        return root / kind
    spec = importlib.util.find_spec(_KINDS[kind])
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    raise NotFoundError(
        f"cannot find geocity's embedded {kind}/ folder; reinstall geocity "
        f"or set GEOCITY_{kind.upper()} to its location"
    )


def data_path(kind: str, name: str) -> Path:
    """Path of one embedded file, with an error listing what exists."""
    folder = data_dir(kind)
    p = folder / name
    if not p.exists():
        have = sorted(q.name for q in folder.iterdir() if not q.name.startswith("_"))
        raise NotFoundError(f"no file {name!r} in geocity's {kind}/ folder ({folder}); have: {have}")
    return p
