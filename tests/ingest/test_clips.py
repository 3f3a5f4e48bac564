"""Alarm clips from the clip buffer, against the real simulated fleet (gst-rtsp-server with
real footage), on both readers: the event gets its clip's reference at once, the clip covers
the rule's window (± one GOP) and plays (decoded back with PyAV), events close together share
a clip, demux-only cameras keep no buffer, and a disk that cannot be written loses the clip,
not the event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from camera.spec import StreamSpec
from ingest.clips import ClipRecorder
from ingest.engine import IngestEngine
from sharpeye.contracts.events import Event
from sharpeye.registry.alarm_rules import RuleSpec
from tests.fixtures_fleet import Fleet, fleet_serving, stop_and_check
from tests.ingest.health_wait import wait_for

pytestmark = pytest.mark.integration

PATHS = ["/sim/vtest-360p/native", "/sim/vtest-360p/ff", "/sim/vtest-360p/off"]
GOP_S = 2.0  # the fleet's GOP: 50 frames at 25 fps


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    f = fleet_serving(tmp_path_factory.mktemp("fleet"), {p.rsplit("/", 1)[1]: p for p in PATHS})
    yield f
    stop_and_check(f)


@pytest.fixture(scope="module")
def engine(fleet: Fleet) -> Iterator[IngestEngine]:
    with IngestEngine(node_id="test", stall_s=2.0, clip_seconds=12.0) as e:
        e.add(StreamSpec("native", fleet.url(PATHS[0]), sampling="keyframes"))
        e.add(StreamSpec("ff", fleet.url(PATHS[1]), sampling="keyframes", reader="pyav"))
        e.add(StreamSpec("off", fleet.url(PATHS[2]), sampling="off"))
        for cid in ("native", "ff", "off"):
            wait_for(e, cid, lambda h: h.frames_total >= 150, 30)  # 6 s held
        yield e


def _event(camera: str, at: float, kind: str = "fire") -> Event:
    return Event.model_validate(
        {"event_type": kind, "camera_id": camera, "occurred_at": at, "event_id": f"{camera}-{at}"}
    )


def _rule(before: float, after: float) -> RuleSpec:
    return RuleSpec.model_validate(
        {
            "id": "r",
            "name": "fire",
            "event_types": ["fire"],
            "departments": ["forestry"],
            "clip_before_s": before,
            "clip_after_s": after,
        }
    )


def _wait_file(path: Path, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s  # hang guard only
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), f"{path} never written"


def _decoded(path: Path) -> tuple[int, float]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert frames and frames[0].key_frame
    first, last = frames[0], frames[-1]
    assert first.pts is not None and last.pts is not None and first.time_base is not None
    span = float((last.pts - first.pts) * first.time_base)
    return len(frames), span


@pytest.mark.parametrize("camera", ["native", "ff"])
def test_an_event_gets_a_playable_clip_of_its_rules_window(
    engine: IngestEngine, tmp_path: Path, camera: str
) -> None:
    rec = ClipRecorder(engine.clip, tmp_path, rules=lambda: [_rule(3.0, 2.0)])
    try:
        at = time.time() - 1.0
        ev = rec.attach(_event(camera, at))
        clips = [e for e in ev.evidence if e.kind == "clip"]
        assert len(clips) == 1 and clips[0].at == at
        assert clips[0].ref.startswith(f"clips/{camera}/") and clips[0].ref.endswith(".mp4")
        _wait_file(tmp_path / clips[0].ref)
        frames, span = _decoded(tmp_path / clips[0].ref)
        # 5 s asked; the clip starts at the keyframe at or before the window: ≤ 1 GOP more.
        assert 5.0 - 0.2 <= span <= 5.0 + GOP_S + 0.2, span
        assert frames >= int(span * 25) - 1  # every picture, not keyframes only
        assert rec.written == 1 and rec.failed == 0
        # What it covers, beside it for the export's manifest: from the keyframe at or before
        # the window's start to the window's end.
        said = json.loads((tmp_path / clips[0].ref).with_suffix(".json").read_text())
        assert said["end"] == pytest.approx(at + 2.0, abs=0.3)
        assert at - 3.0 - GOP_S - 0.3 <= said["start"] <= at - 3.0 + 0.3
        assert said["frames"] == frames
        assert not list(tmp_path.rglob("*.part"))  # written aside, renamed into place
    finally:
        rec.stop()


def test_events_close_together_share_a_clip(engine: IngestEngine, tmp_path: Path) -> None:
    rec = ClipRecorder(engine.clip, tmp_path, rules=lambda: [_rule(6.0, 6.0)])
    try:
        at = time.time() - 1.0
        first = rec.attach(_event("native", at))
        second = rec.attach(_event("native", at + 1.0))
        far = rec.attach(_event("native", at + 8.0))
        refs = [e.evidence[-1].ref for e in (first, second, far)]
        assert refs[0] == refs[1] != refs[2]
    finally:
        rec.stop()


def test_the_window_is_the_widest_rule_naming_the_event(
    engine: IngestEngine, tmp_path: Path
) -> None:
    rules = [_rule(3.0, 2.0), _rule(8.0, 1.0)]
    rec = ClipRecorder(engine.clip, tmp_path, rules=lambda: rules)
    try:
        assert rec.window(_event("native", 1.0)) == (8.0, 2.0)
        assert rec.window(_event("native", 1.0, kind="crowd")) is None  # no rule: no clip
    finally:
        rec.stop()


def test_demux_only_cameras_keep_no_buffer_and_get_no_clip(
    engine: IngestEngine, tmp_path: Path
) -> None:
    assert engine.clip("off", 0.0, time.time()) is None
    rec = ClipRecorder(engine.clip, tmp_path, rules=lambda: [_rule(2.0, 2.0)])
    try:
        ev = _event("off", time.time())
        assert rec.attach(ev) == ev and rec.skipped == 1
    finally:
        rec.stop()


def test_keyframe_mode_still_decodes_keyframes_only_with_clips(engine: IngestEngine) -> None:
    h = engine.health()["native"]
    assert 1 <= h.frames_decoded <= h.frames_total // 50 + 2


def test_a_disk_that_cannot_be_written_loses_the_clip_not_the_event(
    engine: IngestEngine, tmp_path: Path
) -> None:
    blocked = tmp_path / "evidence"
    blocked.write_text("a file where the store's folder should be")
    rec = ClipRecorder(engine.clip, blocked, rules=lambda: [_rule(1.0, 0.5)], settle_s=0.2)
    try:
        ev = rec.attach(_event("native", time.time() - 1.0))
        assert ev.evidence[-1].kind == "clip"
        deadline = time.monotonic() + 20  # hang guard only
        while rec.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rec.failed == 1 and rec.written == 0
    finally:
        rec.stop()
