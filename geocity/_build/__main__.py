"""``python -m geocity._build [--out DIR]``: rebuild the embedded layers.

Each build module exposes ``build(out_dir: Path) -> list[Path]``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from .._data import data_dir

STEPS = [
    "geocity._build.report",   # cities, gdci_2022, bri_2022, dimension_ranks
    "geocity._build.basemap",  # Natural Earth countries
    "geocity._build.corridors",  # corridor waypoints
]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m geocity._build")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the layers/ folder)")
    ap.add_argument("--only", action="append", default=None, help="run only this step (module tail)")
    args = ap.parse_args(argv)
    out = args.out or data_dir("layers")
    out.mkdir(parents=True, exist_ok=True)
    for name in STEPS:
        if args.only and name.rsplit(".", 1)[-1] not in args.only:
            continue
        mod = importlib.import_module(name)
        for p in mod.build(out):
            print(f"wrote {p}")


if __name__ == "__main__":
    main()
