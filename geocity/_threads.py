"""Threads for array work that releases the GIL (NumPy ufuncs, SciPy's
KD-tree, PROJ): how many to use, and one pool shared by every caller
(:func:`geocity.geodesy.unit_vectors`, the corridor chunks of
:func:`geocity.corridors.members`, the transforms of projected density
grids). Internal.

Work split over threads must give the same bytes as in one thread: callers
split into pieces that are each computed on their own (no reduction across
pieces) and put the results back in order.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: No caller gets more threads than this.
MAX_THREADS: int = 8
_PREFIX = "geocity-worker"
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def n_threads(limit: int = MAX_THREADS) -> int:
    """Threads worth using: the CPUs this process may run on, at most
    ``OMP_NUM_THREADS`` when set, at most ``limit`` (and :data:`MAX_THREADS`)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        n = min(n, int(env))
    return max(1, min(n, int(limit), MAX_THREADS))


def _after_fork() -> None:
    """A forked child has none of the parent's threads: it starts its own pools (and lock,
    which a thread of the parent may have held at the fork)."""
    global _lock
    _pools.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def thread_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """``fn`` of each item, yielded in item order as they are done, on a
    shared pool of ``threads`` threads (one pool per thread count, kept for
    the process); in the calling thread when ``threads <= 1`` or when called
    from a thread of a pool (no nested waiting on a pool)."""
    items = list(items)
    threads = max(1, min(int(threads), MAX_THREADS, len(items)))
    if threads == 1 or threading.current_thread().name.startswith(_PREFIX):
        return map(fn, items)
    with _lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=_PREFIX)
    return pool.map(fn, items)
