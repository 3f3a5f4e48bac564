"""The API process's audit worker: batched read audits and periodic anchors, one thread.

Reads (camera lists, alarm reads, socket opens) are many and must not each wait for the
chain's lock: `record` queues the entry and returns; the worker appends what is queued in
one transaction every `flush_s` (or sooner when `batch` are waiting). `flush()` writes what
is queued now (the audit query does it first, so an administrator sees every read made
before); `close()` flushes and stops (the API's lifespan end). A failed write is kept and
retried, bounded at `max_pending` (then the oldest reads are dropped, counted and logged).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.audit.anchors import anchor_dir, anchor_interval_s, export_anchor, prune_anchors
from command_api.audit.log import AuditEntry, append_many
from sharpeye.store.db import session_scope

log = logging.getLogger(__name__)


class AuditWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        data_dir: Path | None,
        *,
        flush_s: float = 0.25,
        batch: int = 500,
        max_pending: int = 100_000,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._anchors = anchor_dir(data_dir) if data_dir is not None else None
        self._interval_s = anchor_interval_s()
        self._flush_s = flush_s
        self._batch = batch
        self._pending: deque[tuple[AuditEntry, float]] = deque(maxlen=max_pending)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._stopped = False
        self._last_anchor = clock.now()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="audit-worker", daemon=True)
        self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        with self._cond:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append((entry, self._clock.now()))
            if len(self._pending) >= self._batch:
                self._cond.notify()

    def flush(self) -> None:
        """Append everything queued so far (raises if the store refuses)."""
        with self._write_lock:
            with self._cond:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return
            try:
                with session_scope(self._sessions) as s:
                    append_many(s, batch)
            except Exception:
                with self._cond:
                    self._pending.extendleft(reversed(batch))
                raise

    def anchor(self) -> None:
        if self._anchors is None:
            return
        now = self._clock.now()
        export_anchor(self._sessions, self._anchors, now)
        prune_anchors(self._anchors, now)

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopped:
                    self._cond.wait(self._flush_s)
                stopped = self._stopped
            try:
                self.flush()
                if self._clock.now() - self._last_anchor >= self._interval_s:
                    self._last_anchor = self._clock.now()
                    self.anchor()
            except Exception:
                # A store hiccup: the batch stays queued and is retried next tick.
                log.exception("audit worker: write failed; retrying")
            if self.dropped:
                log.error("audit worker: %d read records dropped (queue full)", self.dropped)
                self.dropped = 0
            if stopped:
                return


_workers: weakref.WeakKeyDictionary[sessionmaker[Session], AuditWorker] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def start_worker(sessions: sessionmaker[Session], clock: Clock, data_dir: Path) -> AuditWorker:
    """The lifespan's worker for the store behind `sessions` (anchors into data_dir's dir)."""
    with _lock:
        worker = _workers[sessions] = AuditWorker(sessions, clock, data_dir)
    return worker


def worker_for(sessions: sessionmaker[Session], clock: Clock) -> AuditWorker:
    """The worker for `sessions`, started without anchors if the lifespan started none."""
    with _lock:
        worker = _workers.get(sessions)
        if worker is None:
            worker = _workers[sessions] = AuditWorker(sessions, clock, None)
        return worker


def stop_worker(sessions: sessionmaker[Session]) -> None:
    with _lock:
        worker = _workers.pop(sessions, None)
    if worker is not None:
        worker.close()
