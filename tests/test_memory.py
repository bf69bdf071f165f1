"""glibc heap thresholds around large-array work (:mod:`geocity._memory`)."""

from __future__ import annotations

import threading

from geocity import _memory


class _FakeLibc:
    def __init__(self):
        self.calls: list = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))
        return 1


def test_thresholds_set_once_and_restored_when_the_last_block_ends(monkeypatch):
    """Nested and concurrent blocks (the density thread beside a grid run): set on the first
    entry, restored and trimmed only when the last one ends."""
    libc = _FakeLibc()
    monkeypatch.setattr(_memory, "_glibc", lambda: libc)
    for k in _memory._USER_TUNING:
        monkeypatch.delenv(k, raising=False)
    inside, release = threading.Event(), threading.Event()

    def other():
        with _memory.reuse_freed_memory():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    with _memory.reuse_freed_memory():
        pass
    assert libc.calls == [("mallopt", _memory._M_MMAP_THRESHOLD, 1 << 30)]  # still open in the other thread
    release.set()
    t.join()
    assert libc.calls[1:] == [("mallopt", _memory._M_MMAP_THRESHOLD, _memory._RESTORE_MMAP),
                              ("mallopt", _memory._M_TRIM_THRESHOLD, _memory._RESTORE_TRIM), ("trim", 0)]


def test_a_users_own_heap_tuning_is_left_alone(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(_memory, "_glibc", lambda: libc)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    with _memory.reuse_freed_memory():
        pass
    assert libc.calls == []


def test_off_glibc_nothing_happens(monkeypatch):
    monkeypatch.setattr(_memory, "_glibc", lambda: None)
    with _memory.reuse_freed_memory():
        pass
