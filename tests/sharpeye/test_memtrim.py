"""malloc_trim gives back what a thread's arena holds free (glibc, as on every node).

Run in a fresh interpreter: in a long test process the thread may be handed an arena with
free memory already resident, and nothing would be measured."""

from __future__ import annotations

import subprocess
import sys

SCENARIO = r"""
import ctypes, ctypes.util, threading
from pathlib import Path
from sharpeye.memtrim import trim

def rss_anon_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def fragment():
    # 32 MB in small blocks in this thread's arena; all freed but the last, which pins the
    # arena's top, so glibc's own trimming at free() gives nothing back.
    blocks = [libc.malloc(4000) for _ in range(8000)]
    for b in blocks:
        ctypes.memset(b, 1, 4000)
    for b in blocks[:-1]:
        libc.free(b)

before = rss_anon_kb()
worker = threading.Thread(target=fragment)
worker.start()
worker.join()
held = rss_anon_kb()
assert trim()
print(held - before, held - rss_anon_kb())
"""


def test_free_memory_in_a_threads_arena_goes_back_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    kept, returned = (int(v) for v in out.split())
    assert kept > 20_000  # the free memory stayed resident
    assert returned > 20_000  # and trim gave it back
