"""malloc_trim gives back what a thread's arena holds free (glibc, as on every node)."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from pathlib import Path

import pytest

from sharpeye.memtrim import trim


def _rss_anon_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_free_memory_in_a_threads_arena_goes_back_to_the_system() -> None:
    name = ctypes.util.find_library("c")
    if name is None:
        pytest.skip("no C library to allocate with")
    libc = ctypes.CDLL(name)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def fragment() -> None:
        # 32 MB in small blocks in this thread's arena; everything freed but the last block,
        # which pins the arena's top, so glibc's own trimming at free() gives nothing back.
        blocks = [libc.malloc(4000) for _ in range(8000)]
        for b in blocks:
            ctypes.memset(b, 1, 4000)
        for b in blocks[:-1]:
            libc.free(b)

    worker = threading.Thread(target=fragment)
    before = _rss_anon_kb()
    worker.start()
    worker.join()
    held = _rss_anon_kb()
    assert held - before > 20_000  # the free memory is still resident
    assert trim()
    assert held - _rss_anon_kb() > 20_000  # and given back
