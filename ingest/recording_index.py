"""The recording index in the store (`sharpeye.store.models.recordings`) and retention.

Rows are queued by the recorder's writer thread and inserted in batches (`flush`, once per
pass): a slow or unreachable database must not hold the disk writes. While the store is
down rows wait, up to MAX_PENDING (then the oldest go, logged: their files stay on disk).

Retention runs on the node that holds the files (`node_id`): each camera's segments older
than its `retain_days` (cameras no longer recorded here: DEFAULT_RETAIN_S), then, while the
node's segments pass its disk budget, the oldest of any camera. Locked segments are never
deleted (nor those an evidence lock names, `sharpeye.store.models.evidence`); a budget
that locked segments alone exceed is logged, not forced. The file goes
before its row: a crash between leaves a row whose file is missing (reported by playback),
never a file the budget cannot see.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, insert, select

from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow

log = logging.getLogger("sharpeye.ingest.recording")

DEFAULT_RETAIN_S = 30 * 86400.0
MAX_PENDING = 10_000
_BATCH = 200
_EMPTY_ROW: dict[str, object] = {
    "ref": None,
    "bytes": 0,
    "frames": 0,
    "codec": None,
    "width": None,
    "height": None,
    "reason": None,
    "locked": False,
}


@dataclass(frozen=True)
class Segment:
    camera_id: str
    start: float
    end: float
    ref: str  # evidence reference: recordings/<camera>/<day>/<start>.mp4
    bytes: int
    frames: int
    codec: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Gap:
    camera_id: str
    start: float
    end: float
    reason: str


class RecordingIndex:
    def __init__(
        self, connect: Callable[[], Engine], node_id: str, budget_bytes: int | None = None
    ) -> None:
        self._connect = connect  # opened at first use: a worker that records nothing never does
        self._engine: Engine | None = None
        self.node_id = node_id
        self.budget_bytes = budget_bytes
        self._pending: deque[dict[str, object]] = deque()
        self._lock = threading.Lock()  # the queue
        self._flushing = threading.Lock()  # one flush at a time (the writer's, a reader's)
        self._failing = False
        self.lost = 0  # rows dropped while the store was down too long

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._connect()
        return self._engine

    def add_segment(self, s: Segment) -> None:
        self._queue(
            kind="segment",
            camera_id=s.camera_id,
            start_at=s.start,
            end_at=s.end,
            ref=s.ref,
            bytes=s.bytes,
            frames=s.frames,
            codec=s.codec,
            width=s.width,
            height=s.height,
        )

    def add_gap(self, g: Gap) -> None:
        if g.end - g.start > 0.001:
            self._queue(
                kind="gap", camera_id=g.camera_id, start_at=g.start, end_at=g.end, reason=g.reason
            )

    def _queue(self, **row: object) -> None:
        # Every row with every column: one executemany takes one set of keys.
        full = {**_EMPTY_ROW, "node_id": self.node_id, **row}
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.lost += 1
                if self.lost % 1000 == 1:
                    log.error("recording index: %d rows lost while the store is down", self.lost)
            self._pending.append(full)

    def flush(self) -> None:
        """Insert what is queued; on failure keep it for the next call (logged once)."""
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            rows = list(self._pending)
        if not rows:
            return
        try:
            with self.engine().begin() as c:
                c.execute(insert(RecordingRow), rows)
        except Exception as exc:
            if not self._failing:
                log.error("recording index: store unreachable, %d rows wait: %s", len(rows), exc)
                self._failing = True
            return
        if self._failing:
            log.warning("recording index: store answers again")
            self._failing = False
        with self._lock:
            for _ in rows:
                self._pending.popleft()

    # -- retention --------------------------------------------------------------------
    def prune(
        self, root: Path, retain_s: Callable[[str], float | None], now: float | None = None
    ) -> int:
        """Delete this node's segments past retention, then past the budget; returns how
        many segments went."""
        now = time.time() if now is None else now
        eng = self.engine()
        t = RecordingRow
        mine = t.node_id == self.node_id
        unlocked = _unlocked()
        removed = 0
        with eng.connect() as c:
            cameras = [r[0] for r in c.execute(select(t.camera_id).where(mine).distinct())]
        for cam in cameras:
            cutoff = now - (retain_s(cam) or DEFAULT_RETAIN_S)
            old = mine & (t.camera_id == cam) & (t.end_at < cutoff) & unlocked
            while True:
                with eng.begin() as c:
                    rows = c.execute(
                        select(t.id, t.ref).where(old).order_by(t.start_at).limit(_BATCH)
                    ).all()
                    removed += _remove(c, root, rows)
                if len(rows) < _BATCH:
                    break
        if self.budget_bytes is not None:
            removed += self._over_budget(eng, root, self.budget_bytes)
        if removed:
            log.info("recording retention: %d segments deleted on %s", removed, self.node_id)
        return removed

    def _over_budget(self, eng: Engine, root: Path, budget: int) -> int:
        t = RecordingRow
        segments = (t.node_id == self.node_id) & (t.kind == "segment")
        removed = 0
        with eng.connect() as c:
            used = select(func.coalesce(func.sum(t.bytes), 0)).where(segments)
            total = int(c.execute(used).scalar_one())
        while total > budget:
            with eng.begin() as c:
                rows = c.execute(
                    select(t.id, t.ref, t.bytes)
                    .where(segments & _unlocked())
                    .order_by(t.start_at)
                    .limit(_BATCH)
                ).all()
                if not rows:
                    log.warning(
                        "recording budget: %d bytes of locked segments pass the budget of %d; "
                        "nothing deleted",
                        total,
                        budget,
                    )
                    return removed
                take = []
                for row in rows:
                    take.append(row)
                    total -= int(row.bytes)
                    if total <= budget:
                        break
                removed += _remove(c, root, take)
        return removed

    def segments(self, camera_id: str, start: float, end: float) -> list[RecordingRow]:
        """The camera's rows (segments and gaps) overlapping [start, end], in time order."""
        from sqlalchemy.orm import Session

        t = RecordingRow
        with Session(self.engine()) as s:
            q = (
                select(t)
                .where(t.camera_id == camera_id, t.end_at >= start, t.start_at <= end)
                .order_by(t.start_at, t.id)
            )
            return list(s.scalars(q))


def _unlocked() -> ColumnElement[bool]:
    """Neither locked in the index nor named by an evidence lock (a case keeps it)."""
    t = RecordingRow
    held = select(EvidenceLockRow.ref)
    return t.locked.is_(False) & (t.ref.is_(None) | t.ref.not_in(held))


def _remove(c: Connection, root: Path, rows: Sequence[Any]) -> int:
    t = RecordingRow
    for row in rows:
        if row.ref:
            path = root / row.ref
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the day's last segment: its folder goes too
                path.parent.rmdir()
    if rows:
        c.execute(delete(t).where(t.id.in_([row.id for row in rows])))
    return sum(1 for row in rows if row.ref)
