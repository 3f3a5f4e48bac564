"""Write transactions that take turns inside one process.

SQLite allows one writer at a time; when two connections of this process collide, the
loser sleeps in SQLite's busy handler (1, 2, 5 ... 100 ms steps), which at 200 alarms/s
turned milliseconds into seconds. Taking an in-process lock first makes writers queue
without sleeping. PostgreSQL gets no lock: it handles concurrent writers itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy.orm import Session, sessionmaker

from sharpeye.store.db import session_scope

_sqlite_writer = threading.Lock()


@contextmanager
def write_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Like `session_scope` (commit on success, roll back on error), one writer at a time
    on SQLite."""
    bind = sessions.kw.get("bind")
    sqlite = bind is not None and bind.dialect.name == "sqlite"
    with _sqlite_writer if sqlite else nullcontext(), session_scope(sessions) as session:
        yield session
