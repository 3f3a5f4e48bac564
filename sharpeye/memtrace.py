"""Opt-in memory tracing for a long run: where a process's Python memory grows.

A shift showed the API growing a few MB an hour with nothing in its own counters to say
where. Set `SHARPEYE_TRACEMALLOC_DIR` for a process and it traces allocations (16 frames)
and writes a tracemalloc snapshot there every `SHARPEYE_TRACEMALLOC_EVERY_S` seconds (300);
`python -m sharpeye.memtrace DIR` prints what grew between the first and the last one.
Tracing costs memory and CPU, so it is never on by default and a record's RSS figures are
not taken with it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

DIR_ENV = "SHARPEYE_TRACEMALLOC_DIR"
EVERY_ENV = "SHARPEYE_TRACEMALLOC_EVERY_S"


def start_if_asked(name: str) -> bool:
    """Start tracing and the snapshot thread when DIR_ENV is set; say whether it started."""
    folder = os.environ.get(DIR_ENV)
    if not folder:
        return False
    every = float(os.environ.get(EVERY_ENV, "300"))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(16)

    def dump() -> None:
        n = 0
        while True:
            time.sleep(every)
            snap = tracemalloc.take_snapshot()
            snap.dump(str(out / f"{name}-{os.getpid()}-{n:04d}.snap"))
            n += 1

    threading.Thread(target=dump, name="memtrace", daemon=True).start()
    return True


def growth(first: Path, last: Path, top: int = 25) -> str:
    """What grew from one snapshot to another, by the allocating traceback, largest first."""
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen*"),
    ]
    a = tracemalloc.Snapshot.load(str(first)).filter_traces(ignore)
    b = tracemalloc.Snapshot.load(str(last)).filter_traces(ignore)
    lines = [f"{first.name} -> {last.name}"]
    total = sum(s.size_diff for s in b.compare_to(a, "filename"))
    lines.append(f"total {total / 1e6:+.2f} MB")
    for stat in b.compare_to(a, "traceback")[:top]:
        lines.append(f"{stat.size_diff / 1e3:+9.1f} KB {stat.count_diff:+7d} blocks")
        lines.extend(f"    {line}" for line in stat.traceback.format(limit=8))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    for prefix in sorted({p.name.rsplit("-", 1)[0] for p in folder.glob("*.snap")}):
        snaps = sorted(folder.glob(f"{prefix}-*.snap"))
        if len(snaps) >= 2:
            print(growth(snaps[1] if len(snaps) > 2 else snaps[0], snaps[-1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
