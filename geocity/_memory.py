"""glibc's heap thresholds, for code that allocates and frees many large
arrays: the grid DBSCAN engine and the main job's density surfaces, for the
length of the work (restored afterwards). Internal.

glibc maps every allocation above its ``mmap`` threshold (at most 32 MiB,
raised dynamically) afresh and returns it to the system when freed, so an
array of the next phase is faulted
in page by page again. On a virtual machine that backs the guest's memory
lazily those first touches are costly (this project's 2-core machine: up to
~1.6 s per GB). With a higher threshold the freed memory stays in the heap
and is reused. Elsewhere than glibc nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

#: glibc's ``mallopt`` parameters.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Values restored after :func:`reuse_freed_memory`: the ceilings glibc's own
#: dynamic thresholds reach in a long-running process.
_RESTORE_MMAP, _RESTORE_TRIM = 32 << 20, 64 << 20


def _glibc():
    """The C library when it is glibc (with ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_lock = threading.Lock()
_depth = [0]  # blocks of :func:`reuse_freed_memory` open in this process (any thread)
#: Environment settings by which a user tunes glibc's heap: then it is left as they set it.
_USER_TUNING = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


@contextlib.contextmanager
def reuse_freed_memory(up_to_bytes: int = 1 << 30) -> Iterator[None]:
    """Within the block, allocations of up to ``up_to_bytes`` come from the
    heap, so memory freed by one phase is reused by the next. When the last
    open block (of any thread) ends, the thresholds are set to the ceilings
    glibc's own dynamic ones reach in a long-running process (32 and 64 MiB;
    glibc no longer adjusts them after that) and the freed memory is
    returned to the system (``malloc_trim``). Nothing is changed when the
    user tunes glibc's heap through the environment, or off glibc."""
    libc = _glibc()
    if libc is None or any(k in os.environ for k in _USER_TUNING):
        yield
        return
    with _lock:
        _depth[0] += 1
        if _depth[0] == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, int(up_to_bytes))
    try:
        yield
    finally:
        with _lock:
            _depth[0] -= 1
            if _depth[0] == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _RESTORE_MMAP)
                libc.mallopt(_M_TRIM_THRESHOLD, _RESTORE_TRIM)
                libc.malloc_trim(0)
