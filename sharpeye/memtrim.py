"""Give freed heap memory back to the system now and then (glibc's `malloc_trim`).

A 2-hour shift saw the API's RSS creep a few MB an hour with its Python heap flat
(tracemalloc) and SQLite's memory flat (sharpeye_sqlite_memory_bytes). `malloc_info` taken
from the running process named the rest: glibc keeps one arena per thread that allocates
(the thread pool running store queries, argon2, the face scan), and the arenas that grew held
almost only *free* memory (1.46-1.54 MB free in arenas of 1.52-1.66 MB): fragmentation
that glibc gives back from an arena's top only. `malloc_trim(0)` returns the free pages inside every
arena (`madvise`), so a long-lived process's RSS tracks what it uses. Once a minute costs
a few milliseconds; elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from functools import cache

log = logging.getLogger(__name__)

EVERY_S = 60.0


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return libc


def trim() -> bool:
    """Return free heap pages to the system now; False where malloc_trim is not there."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def start(every_s: float = EVERY_S) -> bool:
    """Trim every `every_s` seconds on a daemon thread; False (and nothing started) where
    there is nothing to call."""
    if _libc() is None:
        return False

    def loop() -> None:
        while True:
            time.sleep(every_s)
            trim()

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()
    return True
