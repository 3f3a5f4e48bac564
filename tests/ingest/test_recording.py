"""Recording against the real simulated fleet (gst-rtsp-server serving real footage), on both
readers: segments cover the recorded time with no gap over one GOP, each plays (decoded
back with PyAV) and consecutive ones join within a frame; a demux-only camera keeps
recording through its picture diagnoses; a camera that goes away and comes back leaves an
indexed gap with playable segments on both sides; a store that cannot be written and a disk
too slow show in the camera's health while live frames keep flowing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import pytest
from sqlalchemy import Engine, create_engine

from camera.spec import RecordPlan, StreamSpec
from ingest.engine import IngestEngine
from ingest.recorder import Recorder
from ingest.recording_index import RecordingIndex
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow
from tests.fixtures_fleet import Fleet, fleet_serving, stop_and_check
from tests.ingest.health_wait import wait_for

pytestmark = pytest.mark.integration

PATHS = {
    "native": "/sim/vtest-360p/rec-native",
    "ff": "/sim/vtest-360p/rec-ff",
    "off": "/sim/vtest-360p/rec-off",
    "slow": "/sim/vtest-360p/rec-slow",
}
GOP_S = 2.0  # the fleet's GOP: 50 frames at 25 fps
FRAME_S = 0.04
PLAN = RecordPlan(segment_s=4.0, retain_days=1.0)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    f = fleet_serving(tmp_path_factory.mktemp("fleet"), PATHS)
    yield f
    stop_and_check(f)


def _store(path: Path) -> Engine:
    eng = create_engine(f"sqlite:///{path}")
    tables = [RecordingRow.__table__, EvidenceLockRow.__table__]
    RecordingRow.metadata.create_all(eng, tables=tables)  # type: ignore[arg-type]
    return eng


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, RecordingIndex]]:
    base = tmp_path_factory.mktemp("recording")
    eng = _store(base / "index.db")
    yield base / "evidence", RecordingIndex(lambda: eng, "test")
    eng.dispose()


@pytest.fixture(scope="module")
def recorder(store: tuple[Path, RecordingIndex]) -> Iterator[Recorder]:
    root, index = store
    rec = Recorder(root, index, retention_every_s=3600)
    rec.start()
    yield rec
    rec.stop()


@pytest.fixture(scope="module")
def engine(fleet: Fleet, recorder: Recorder) -> Iterator[IngestEngine]:
    # Diagnosis every second: the demux-only camera must keep recording through many.
    with IngestEngine(
        node_id="test", stall_s=2.0, clip_seconds=12.0, diagnose_every_s=1.0, recorder=recorder
    ) as e:
        e.add(
            StreamSpec("native", fleet.url(PATHS["native"]), sampling="keyframes", recording=PLAN)
        )
        e.add(
            StreamSpec(
                "ff", fleet.url(PATHS["ff"]), sampling="keyframes", reader="pyav", recording=PLAN
            )
        )
        e.add(StreamSpec("off", fleet.url(PATHS["off"]), sampling="off", recording=PLAN))
        yield e


def _rows(index: RecordingIndex, camera: str, kind: str = "segment") -> list[RecordingRow]:
    index.flush()
    return [r for r in index.segments(camera, 0.0, 2e9) if r.kind == kind]


def _wait_segments(index: RecordingIndex, camera: str, n: int, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s  # hang guard only
    while len(_rows(index, camera)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_rows(index, camera)) >= n, f"{camera}: fewer than {n} segments"


def _decode(path: Path) -> tuple[int, float]:
    """(frames, seconds from the first picture to the end of the last) of a file."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert frames and frames[0].key_frame
    first, last = frames[0], frames[-1]
    assert first.pts is not None and last.pts is not None and first.time_base is not None
    return len(frames), float((last.pts - first.pts) * first.time_base) + FRAME_S


def _check_plays_and_joins(root: Path, rows: list[RecordingRow]) -> None:
    for row in rows:
        assert row.ref is not None and row.ref.startswith(f"recordings/{row.camera_id}/")
        path = root / row.ref
        frames, span = _decode(path)
        assert frames == row.frames, row.ref  # every picture, and the index says so
        assert row.bytes == path.stat().st_size
        assert abs(span - (row.end_at - row.start_at)) <= 2 * FRAME_S, (span, row)
        assert row.codec == "h264" and (row.width, row.height) == (640, 360)
    for before, after in pairwise(rows):
        # The next segment's first picture follows the previous one's last: within a frame.
        assert abs(after.start_at - before.end_at) <= FRAME_S, (before, after)


@pytest.mark.parametrize("camera", ["native", "ff"])
def test_segments_cover_the_time_play_and_join(
    engine: IngestEngine, store: tuple[Path, RecordingIndex], camera: str
) -> None:
    root, index = store
    _wait_segments(index, camera, 3)
    rows = _rows(index, camera)
    _check_plays_and_joins(root, rows)
    for row in rows[:-1]:
        # Cut at the first keyframe at or after segment_s: one GOP more at most.
        assert PLAN.segment_s - 0.3 <= row.end_at - row.start_at <= PLAN.segment_s + GOP_S
    assert not _rows(index, camera, "gap")
    assert len(list(root.rglob("*.part"))) <= len(PATHS)  # only open segments are aside
    h = engine.health()[camera]
    assert "recording_failed" not in h.quality_issues and h.reason is None


def test_a_demux_only_camera_keeps_recording_through_diagnoses(
    engine: IngestEngine, store: tuple[Path, RecordingIndex]
) -> None:
    root, index = store
    sess = engine._sessions["off"]
    wait_for(engine, "off", lambda h: h.brightness is not None, 30)  # a diagnosis was made
    diagnosed = sess.diagnosis.last
    wait_for(engine, "off", lambda h: sess.diagnosis.last is not diagnosed, 30)  # another one
    assert sess.decoder is None  # still demux only: no frames for analytics
    before = len(_rows(index, "off"))
    _wait_segments(index, "off", before + 2)  # still recording after them
    rows = _rows(index, "off")
    _check_plays_and_joins(root, rows)
    assert not _rows(index, "off", "gap")


def test_a_disk_too_slow_drops_to_a_keyframe_says_so_and_live_goes_on(
    fleet: Fleet, tmp_path: Path
) -> None:
    eng = _store(tmp_path / "index.db")
    index = RecordingIndex(lambda: eng, "slow")
    rec = Recorder(
        tmp_path / "evidence", index, queue_bytes=200_000, on_write=lambda _: time.sleep(0.08)
    )
    rec.start()
    try:
        with IngestEngine(node_id="slow", stall_s=2.0, recorder=rec) as e:
            e.add(StreamSpec("slow", fleet.url(PATHS["slow"]), sampling="off", recording=PLAN))
            h = wait_for(e, "slow", lambda h: "recording_behind" in h.quality_issues, 60)
            assert h.state == "degraded" and "recording falls behind" in (h.reason or "")
            frames = h.frames_total
            wait_for(e, "slow", lambda h: h.frames_total >= frames + 50, 10)  # live goes on
            sink = e._sessions["slow"].recorder
            assert sink is not None and sink.dropped > 0
            assert sink.queued_bytes - sink.taken_bytes <= sink.max_bytes  # the bound held
            deadline = time.monotonic() + 60  # hang guard: recording resumes at a keyframe
            while not _rows(index, "slow", "gap") and time.monotonic() < deadline:
                time.sleep(0.2)
        rec.stop()
        gaps = _rows(index, "slow", "gap")
        assert gaps and {g.reason for g in gaps} == {"writer behind"}
        assert all(g.end_at - g.start_at > FRAME_S for g in gaps)
        for row in _rows(index, "slow"):  # what was written still plays
            _decode(tmp_path / "evidence" / (row.ref or ""))
    finally:
        rec.stop()
        eng.dispose()


def test_an_unwritable_store_shows_in_health_and_live_frames_flow(
    fleet: Fleet, tmp_path: Path
) -> None:
    blocked = tmp_path / "evidence"
    blocked.write_text("a file where the store's folder should be")
    eng = _store(tmp_path / "index.db")
    rec = Recorder(blocked, RecordingIndex(lambda: eng, "blocked"))
    rec.start()
    try:
        with IngestEngine(node_id="blocked", stall_s=2.0, recorder=rec) as e:
            e.add(
                StreamSpec("slow", fleet.url(PATHS["slow"]), sampling="keyframes", recording=PLAN)
            )
            h = wait_for(e, "slow", lambda h: "recording_failed" in h.quality_issues, 30)
            assert h.state == "degraded" and (h.reason or "").startswith("recording stopped: ")
            frames, decoded = h.frames_total, h.frames_decoded
            h = wait_for(e, "slow", lambda h: h.frames_total >= frames + 75, 10)
            wait_for(e, "slow", lambda h: h.frames_decoded > decoded, 10)  # analytics too
            assert rec.failures >= 1 and rec.segments_written == 0
    finally:
        rec.stop()
        eng.dispose()


def test_a_camera_gone_and_back_leaves_a_gap_and_both_sides_play(
    engine: IngestEngine, store: tuple[Path, RecordingIndex], fleet: Fleet
) -> None:
    # Last in this module: it restarts the fleet under every camera.
    root, index = store
    _wait_segments(index, "native", 2)
    fleet.kill()
    time.sleep(3.0)
    fleet.start()
    wait_for(engine, "native", lambda h: h.reconnects >= 1 and h.state == "online", 60)
    deadline = time.monotonic() + 60  # hang guard only
    while not _rows(index, "native", "gap") and time.monotonic() < deadline:
        time.sleep(0.2)
    gaps = _rows(index, "native", "gap")
    assert len(gaps) == 1 and gaps[0].reason == "camera reconnected"
    gap = gaps[0]
    assert gap.end_at - gap.start_at >= 3.0
    _wait_segments(index, "native", len(_rows(index, "native")) + 1)
    rows = _rows(index, "native")
    before = [r for r in rows if r.end_at <= gap.start_at + FRAME_S]
    after = [r for r in rows if r.start_at >= gap.end_at - FRAME_S]
    assert before and after and len(before) + len(after) == len(rows)
    assert abs(before[-1].end_at - gap.start_at) <= FRAME_S
    assert abs(after[0].start_at - gap.end_at) <= FRAME_S
    _check_plays_and_joins(root, before)
    _check_plays_and_joins(root, after)
