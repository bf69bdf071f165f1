"""The shared threads of :mod:`geocity._threads`."""

from __future__ import annotations

import threading

import pytest

from geocity import _threads


def test_thread_map_keeps_item_order_and_raises_the_first_error():
    out = list(_threads.thread_map(lambda i: i * i, range(50), 3))
    assert out == [i * i for i in range(50)]

    def bad(i):
        if i == 7:
            raise ValueError("item 7")
        return i

    with pytest.raises(ValueError, match="item 7"):
        list(_threads.thread_map(bad, range(20), 2))


def test_thread_map_inside_a_pool_thread_runs_in_that_thread():
    """A caller already on a pool thread (e.g. unit_vectors in a corridor chunk) must not wait on a pool."""
    def outer(i):
        names = list(_threads.thread_map(lambda _: threading.current_thread().name, range(4), 4))
        return set(names) == {threading.current_thread().name}

    assert all(_threads.thread_map(outer, range(6), 2))


def test_n_threads_respects_omp_num_threads_and_the_limit(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.n_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert 1 <= _threads.n_threads(3) <= 3
    assert _threads.n_threads(100) <= _threads.MAX_THREADS
