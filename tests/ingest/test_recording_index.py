"""The recording index and its retention, on SQLite and PostgreSQL at the migrations' head:
rows go in as segments close (and wait while the store is down), a camera's segments past
its retain_days go, a tiny disk budget removes the oldest first, and nothing locked (in the
index or by an evidence lock) is ever deleted, nor another node's files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, update
from sqlalchemy.orm import Session

from ingest.recording_index import Gap, RecordingIndex, Segment
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, upgrade_database
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": database_url}
    )
    upgrade_database(settings)
    eng = create_engine_for(settings)
    try:
        yield eng
    finally:
        eng.dispose()


def _segment(root: Path, camera: str, start: float, size: int = 1000) -> Segment:
    day = time.strftime("%Y%m%d", time.gmtime(start))
    ref = f"recordings/{camera}/{day}/{int(start)}.mp4"
    (root / ref).parent.mkdir(parents=True, exist_ok=True)
    (root / ref).write_bytes(b"\0" * size)
    return Segment(camera, start, start + 60.0, ref, size, 1500, "h264", 1280, 720)


def _refs(store: Engine, node: str = "a") -> list[str]:
    with Session(store) as s:
        rows = s.query(RecordingRow).filter_by(node_id=node, kind="segment")
        return [r.ref or "" for r in rows.order_by(RecordingRow.start_at)]


def _lock(store: Engine, ref: str) -> None:
    with Session(store) as s, s.begin():
        s.execute(update(RecordingRow).where(RecordingRow.ref == ref).values(locked=True))


def test_rows_are_indexed_with_their_gaps(store: Engine, tmp_path: Path) -> None:
    index = RecordingIndex(lambda: store, "a")
    first = _segment(tmp_path, "gate", NOW)
    index.add_segment(first)
    index.add_gap(Gap("gate", NOW + 60.0, NOW + 75.0, "camera reconnected"))
    index.add_gap(Gap("gate", NOW + 75.0, NOW + 75.0, "camera reconnected"))  # empty: none
    index.add_segment(_segment(tmp_path, "gate", NOW + 75.0))
    index.flush()
    rows = index.segments("gate", NOW - 1, NOW + 200)
    assert [(r.kind, r.start_at, r.end_at, r.reason) for r in rows] == [
        ("segment", NOW, NOW + 60.0, None),
        ("gap", NOW + 60.0, NOW + 75.0, "camera reconnected"),
        ("segment", NOW + 75.0, NOW + 135.0, None),
    ]
    r = rows[0]
    assert (r.ref, r.bytes, r.frames, r.codec, r.width, r.height, r.locked, r.node_id) == (
        first.ref,
        1000,
        1500,
        "h264",
        1280,
        720,
        False,
        "a",
    )
    assert index.segments("gate", NOW + 61, NOW + 70)[0].kind == "gap"  # overlap query


def test_rows_wait_while_the_store_is_down(store: Engine, tmp_path: Path) -> None:
    down = create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")  # cannot open
    engines = [down]
    index = RecordingIndex(lambda: engines[-1], "a")
    index.add_segment(_segment(tmp_path, "gate", NOW))
    index.flush()  # fails, logged, kept
    index._engine = store  # the store answers again
    index.flush()
    assert _refs(store) == [
        f"recordings/gate/{time.strftime('%Y%m%d', time.gmtime(NOW))}/{int(NOW)}.mp4"
    ]


def test_a_tiny_budget_removes_the_oldest_never_a_locked_one(store: Engine, tmp_path: Path) -> None:
    index = RecordingIndex(lambda: store, "a", budget_bytes=3500)
    segs = [_segment(tmp_path, "gate" if i % 2 else "yard", NOW + i * 60.0) for i in range(6)]
    for s in segs:
        index.add_segment(s)
    other = RecordingIndex(lambda: store, "b")  # another node's file: not ours to delete
    theirs = _segment(tmp_path, "quay", NOW - DAY)
    other.add_segment(theirs)
    index.flush()
    other.flush()
    _lock(store, segs[0].ref)  # the oldest is evidence
    with Session(store) as db, db.begin():  # and the third is named by a case's evidence lock
        db.add(
            EvidenceLockRow(
                ref=segs[2].ref,
                camera_id="gate",
                case="case-1",
                reason="r",
                locked_by="u",
                locked_at=NOW,
            )
        )
    removed = index.prune(tmp_path, lambda _cam: 365 * DAY, now=NOW + 600)
    # 6000 bytes, budget 3500: the oldest unlocked go (1, then 3, then 4), locked ones stay.
    kept = [segs[i].ref for i in (0, 2, 5)]
    assert removed == 3 and _refs(store) == kept
    assert [s.ref for s in segs if (tmp_path / s.ref).exists()] == kept
    assert _refs(store, "b") == [theirs.ref] and (tmp_path / theirs.ref).exists()
    # Locked segments alone past the budget: nothing more is deleted.
    index.budget_bytes = 500
    assert index.prune(tmp_path, lambda _cam: 365 * DAY, now=NOW + 600) == 1
    assert _refs(store) == [segs[0].ref, segs[2].ref]


def test_each_camera_keeps_its_retain_days(store: Engine, tmp_path: Path) -> None:
    index = RecordingIndex(lambda: store, "a")
    old_gate = _segment(tmp_path, "gate", NOW - 3 * DAY)
    old_yard = _segment(tmp_path, "yard", NOW - 3 * DAY)
    locked = _segment(tmp_path, "gate", NOW - 3 * DAY + 60)
    fresh = _segment(tmp_path, "gate", NOW - 3600)
    for s in (old_gate, old_yard, locked, fresh):
        index.add_segment(s)
    index.add_gap(Gap("gate", NOW - 3 * DAY + 120, NOW - 3 * DAY + 130, "camera reconnected"))
    index.flush()
    _lock(store, locked.ref)
    days = {"gate": 2 * DAY, "yard": 7 * DAY}
    assert index.prune(tmp_path, days.get, now=NOW) == 1
    assert _refs(store) == [old_yard.ref, locked.ref, fresh.ref]
    assert not (tmp_path / old_gate.ref).exists() and (tmp_path / locked.ref).exists()
    gate = index.segments("gate", 0, 2 * NOW)
    assert [r.kind for r in gate] == ["segment", "segment"]  # the old gap went too
