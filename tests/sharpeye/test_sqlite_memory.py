"""sqlite_memory_used reads the counters of the SQLite library our connections use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sharpeye.store.sqlite_memory import sqlite_memory_used


def test_a_connections_page_cache_is_counted(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,)] * 3000)  # ~3 MB of pages
    db.commit()
    before = sqlite_memory_used()
    assert before is not None
    db.execute("PRAGMA cache_size = -4000")
    db.execute("SELECT sum(length(x)) FROM t").fetchone()
    assert sqlite_memory_used() or before + 1_000_000 < 0
    db.close()
    after_close = sqlite_memory_used()
    assert after_close is not None and after_close < before
