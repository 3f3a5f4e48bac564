"""One delivery worker per store: with several API nodes on one PostgreSQL, only the node
holding a session-level advisory lock sends, so order per destination holds and nothing
goes out twice. PostgreSQL releases the lock when that node's connection dies, and
another node takes over on its next try. SQLite (one node) needs no lock."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

# Any constant shared by every node: "shrpeye" in ASCII, as a bigint.
LOCK_KEY = 0x73687270657965


class DeliveryLeader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def is_leader(self) -> bool:
        """True while this process holds the lock (tries to take it when not)."""
        if self._engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the delivery lock's connection; trying again")
                self.release()
        try:
            conn = self._engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            conn.commit()
        except Exception:
            log.exception("could not ask for the delivery lock")
            return False
        if got:
            self._conn = conn
            log.info("this node now runs deliveries")
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None:
            # Unlock first: the server ends a closed session's backend (and frees its lock)
            # a moment after the socket closes, and the next node's try may come before.
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            except Exception:
                log.debug("unlocking the delivery lock failed", exc_info=True)
            # Invalidate, not close: a pooled connection would keep the session, and its lock.
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                log.debug("closing the delivery lock connection failed", exc_info=True)
            self._conn = None
