"""How much memory the SQLite library holds in this process (page caches of every open
connection, statements, schema), read with `sqlite3_memory_used()`.

Python's tracemalloc does not see it: a shift saw the API's RSS creep a few MB an hour
while its Python heap stayed flat, and each pooled connection may cache up to 2 MB of
pages (SQLite's default `cache_size`). The API exports this as a gauge so such growth can
be told from a leak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sqlite3
from functools import cache


@cache
def _library() -> ctypes.CDLL | None:
    # The library Python's sqlite3 module links (loaded once per process, so its counters
    # are the ones our connections move); None where it is built in statically.
    sqlite3.connect(":memory:").close()
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        lib.sqlite3_memory_highwater.restype = ctypes.c_int64
        lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


def sqlite_memory_used() -> int | None:
    """Bytes the SQLite library has allocated now, or None where it cannot be read."""
    lib = _library()
    return None if lib is None else int(lib.sqlite3_memory_used())
