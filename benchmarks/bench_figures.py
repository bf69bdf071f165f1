"""Benchmark: time to render the whole figure catalogue (not a test).

Usage::

    python benchmarks/bench_figures.py [--lang en,zh] [--format png] [--dpi 300] [--out DIR]

Prints one line per figure and the total wall time; record the total in the
README's performance section.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="en")
    ap.add_argument("--format", default="png")
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from geocity import figures
    from geocity.analysis import Analysis

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="geocity-bench-"))
    analysis = Analysis()  # one analysis for every plate, as `geocity figures all` does
    t_all = time.perf_counter()
    n_files = 0
    for name in figures.list_figures():
        t = time.perf_counter()
        paths = figures.render(name, out, lang=args.lang, formats=args.format, dpi=args.dpi,
                               overwrite=True, analysis=analysis)
        n_files += len(paths)
        print(f"{name:<18} {time.perf_counter() - t:6.2f} s  {len(paths)} file(s)")
    total = time.perf_counter() - t_all
    print(f"total: {len(figures.list_figures())} figures, {n_files} files, {total:.1f} s "
          f"(lang={args.lang}, format={args.format}, dpi={args.dpi}, {os.cpu_count()} CPUs, "
          f"{platform.python_implementation()} {platform.python_version()}) → {out}")


if __name__ == "__main__":
    main()
