"""Several cameras in the wall's playback on one clock (js/playback_sync.js), and a search
hit's one click to its footage, in headless Chromium against a real API.

The footage is recorded once for the module from two cameras of the real simulated fleet
(gst-rtsp-server serving real footage) by ingest's own engine and recorder, the second
camera started two segments after the first: the first one's opening seconds are a gap of
the second. Each test's API gets a copy of those segments and their index rows."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from analytics.store import store_sightings
from camera.spec import RecordPlan, StreamSpec
from ingest.engine import IngestEngine
from ingest.recorder import Recorder
from ingest.recording_index import RecordingIndex
from sharpeye.contracts.sightings import Sighting
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow
from tests.fixtures_fleet import fleet_serving, stop_and_check
from tests.recording_segments import index_segment
from tests.wall_ui.conftest import ARTIFACTS, DemoApi, open_wall
from tests.wall_ui.test_session import FORESTRY
from tests.wall_ui.test_wall import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST, SECOND = "forest-lookout-1", "forest-lookout-2"  # both forestry's
PATHS = {FIRST: "/sim/vtest-360p/pb-first", SECOND: "/sim/vtest-360p/pb-second"}
PLAN = RecordPlan(segment_s=4.0, retain_days=1.0)
PLAYBACK = ".playback"
IN_SYNC_S = 0.5

# Each camera in the view: the wall-clock time of its picture, read at one instant, and
# whether its frames move (the decoder's frame count, counted afresh in each segment's
# video, and the video's position).
CAMERAS = """() => {
  const p = window.sharpeye.playback();
  if (!p) return null;
  return p.cameras.map((c) => ({
    camera: c.camera,
    wall: c.wallTime(),
    playing: c.isPlaying(),
    paused: c.video.paused,
    position: c.video.currentTime,
    frames: c.video.getVideoPlaybackQuality().totalVideoFrames,
    segment: c.current,
    rate: c.video.playbackRate,
    gap: c.inGap,
    corrections: c.corrections,
  }));
}"""
BOTH_PLAYING = """() => {
  const p = window.sharpeye.playback();
  return p && p.cameras.length === 2 && p.cameras.every((c) => c.isPlaying());
}"""


@dataclass
class Recorded:
    evidence: Path
    segments: list[tuple[str, str, float, float, int]]  # camera, ref, start, end, frames

    def span(self, camera: str) -> tuple[float, float]:
        mine = [s for s in self.segments if s[0] == camera]
        return mine[0][2], mine[-1][3]


def _segments(index: RecordingIndex, camera: str) -> list[RecordingRow]:
    index.flush()
    return [r for r in index.segments(camera, 0.0, 2e9) if r.kind == "segment"]


def _wait_segments(index: RecordingIndex, camera: str, n: int) -> None:
    deadline = time.monotonic() + 120  # hang guard only
    while len(_segments(index, camera)) < n:
        assert time.monotonic() < deadline, f"{camera}: fewer than {n} segments"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Recorded]:
    base = tmp_path_factory.mktemp("pbsync")
    fleet = fleet_serving(base, PATHS)
    db = create_engine(f"sqlite:///{base / 'index.db'}")
    tables = [RecordingRow.__table__, EvidenceLockRow.__table__]
    RecordingRow.metadata.create_all(db, tables=tables)  # type: ignore[arg-type]
    index = RecordingIndex(lambda: db, "test")
    recorder = Recorder(base / "evidence", index, retention_every_s=3600)
    recorder.start()
    try:
        with IngestEngine(node_id="test", stall_s=2.0, recorder=recorder) as engine:
            for camera in (FIRST, SECOND):
                spec = StreamSpec(camera, fleet.url(PATHS[camera]), sampling="off", recording=PLAN)
                engine.add(spec)
                # The second camera starts two segments later: a gap of its own there.
                _wait_segments(index, camera, 2 if camera == FIRST else 6)
            for camera in (FIRST, SECOND):
                engine.remove(camera)
    finally:
        recorder.stop()  # closes (and indexes) the open segments
        stop_and_check(fleet)
    rows = [r for camera in (FIRST, SECOND) for r in _segments(index, camera)]
    db.dispose()
    assert all(r.ref for r in rows)
    yield Recorded(
        base / "evidence",
        [(r.camera_id, str(r.ref), r.start_at, r.end_at, r.frames) for r in rows],
    )


def _serve(recorded: Recorded, tmp_path: Path) -> Settings:
    """The recorded segments in the demo API's evidence store and index."""
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
            "SHARPEYE_DATA_DIR": tmp_path / "data",
        }
    )
    store = tmp_path / "data" / "evidence"
    shutil.copytree(recorded.evidence / "recordings", store / "recordings", dirs_exist_ok=True)
    engine = create_engine_for(settings)
    sessions = session_factory(engine)
    for camera, ref, start, end, frames in recorded.segments:
        index_segment(sessions, camera, ref, start, end, store / ref, frames)
    engine.dispose()
    return settings


def _open_first_from_its_tile(page: Any) -> None:
    page.evaluate(f"window.sharpeye.assign(0, '{FIRST}')")
    page.click("#wall .tile[data-index='0']")
    page.click("#wall .tile[data-index='0'] .playback-open")
    page.wait_for_selector(f"{PLAYBACK} .pb-track[data-camera='{FIRST}'] .pb-seg")


def _add_second(page: Any) -> None:
    # The view's list offers the cameras the wall knows (forestry's: the catalog's).
    page.select_option(f"{PLAYBACK} .pb-add", SECOND)
    page.wait_for_selector(f"{PLAYBACK} .pb-track[data-camera='{SECOND}'] .pb-seg")
    assert page.locator(f"{PLAYBACK} video").count() == 2
    assert page.get_attribute(PLAYBACK, "data-cameras") == f"{FIRST},{SECOND}"


def _seek(page: Any, t: float) -> None:
    """What a click on a timeline calls, at a time more exact than one pixel (~6 s) gives."""
    page.evaluate("(t) => window.sharpeye.playback().seek(t)", t)


def _cameras(page: Any) -> list[dict[str, Any]]:
    cameras: list[dict[str, Any]] = page.evaluate(CAMERAS)
    return cameras


def _plays_in_sync(page: Any, seconds: float = 3.0) -> list[dict[str, Any]]:
    """Both pictures move (position and decoded frames) and, sampled together, stay within
    IN_SYNC_S of each other; returns the first sample."""
    wait_for(page, BOTH_PLAYING, timeout=60)
    first = _cameras(page)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sample = _cameras(page)
        a, b = (c["wall"] for c in sample)
        if all(c["playing"] for c in sample):  # not while one switches segments
            assert abs(a - b) <= IN_SYNC_S, sample
        page.wait_for_timeout(300)
    last = _cameras(page)
    for before, after in zip(first, last, strict=True):
        assert _moved(before, after), (before, after)
    return first


def _moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The picture moved on: more frames decoded and a later position in the same segment,
    or a later segment."""
    if after["segment"] == before["segment"]:
        return bool(after["frames"] > before["frames"] and after["position"] > before["position"])
    return bool(after["segment"] > before["segment"] and after["wall"] > before["wall"])


def test_two_recorded_cameras_play_on_one_clock(
    demo_api: DemoApi, tmp_path: Path, recorded: Recorded
) -> None:
    _serve(recorded, tmp_path)
    start2, end2 = recorded.span(SECOND)
    with open_wall(demo_api.url, *FORESTRY) as page:
        _open_first_from_its_tile(page)
        _add_second(page)
        # A click on the second camera's timeline, in the middle of its recording: both go.
        window = page.evaluate(
            "(() => { const p = window.sharpeye.playback(); return [p.start, p.end]; })()"
        )
        timeline = page.locator(f"{PLAYBACK} .pb-track[data-camera='{SECOND}'] .pb-timeline")
        box = timeline.bounding_box()
        middle = (start2 + end2) / 2
        x = (middle - window[0]) / (window[1] - window[0]) * box["width"]
        timeline.click(position={"x": x, "y": box["height"] / 2})
        pixel_s = (window[1] - window[0]) / box["width"]
        wait_for(
            page,
            "([t, d]) => Math.abs(document.querySelector('.playback').dataset.seek - t) < d",
            [middle, pixel_s + 1],
        )
        _plays_in_sync(page, 2.0)
        # One seek moves both: their pictures agree and both advance.
        _seek(page, start2 + 4)
        first = _plays_in_sync(page)
        assert all(start2 + 4 - 0.1 <= c["wall"] <= start2 + 8 for c in first), first
        # 2×: both videos, still together.
        page.select_option(f"{PLAYBACK} .pb-speed", "2")
        assert [c["rate"] for c in _cameras(page)] == [2, 2]
        _plays_in_sync(page, 2.0)
        # Pause: both stop on the same picture; a frame on moves both by one frame.
        page.click(f"{PLAYBACK} .pb-play")
        wait_for(
            page,
            "() => { const [a, b] = window.sharpeye.playback().cameras;"
            " return a.video.paused && b.video.paused && !b.video.seeking"
            " && Math.abs(a.wallTime() - b.wallTime()) < 0.02; }",
        )
        before = _cameras(page)
        page.click(f"{PLAYBACK} .pb-step")
        wait_for(page, "() => window.sharpeye.playback().cameras.every((c) => !c.video.seeking)")
        after = _cameras(page)
        for b, a in zip(before, after, strict=True):
            assert a["paused"] and a["wall"] == pytest.approx(b["wall"] + 1 / 25, abs=0.01)
        # Playing again, the second picture pushed 2 s off the clock is brought back.
        page.select_option(f"{PLAYBACK} .pb-speed", "1")
        _seek(page, start2 + 4)
        page.click(f"{PLAYBACK} .pb-play")
        wait_for(page, BOTH_PLAYING, timeout=60)
        corrections = sum(c["corrections"] for c in _cameras(page))
        page.evaluate("window.sharpeye.playback().cameras[1].video.currentTime += 2")
        wait_for(
            page,
            """(n) => { const cs = window.sharpeye.playback().cameras;
              const [a, b] = cs.map((c) => c.wallTime());
              return cs.reduce((s, c) => s + c.corrections, 0) > n && cs.every((c) => c.isPlaying())
                && Math.abs(a - b) < 0.3; }""",
            corrections,
            timeout=30,
        )
        _plays_in_sync(page, 2.0)


def test_a_gap_on_one_camera_says_not_recorded_while_the_other_plays(
    demo_api: DemoApi, tmp_path: Path, recorded: Recorded
) -> None:
    _serve(recorded, tmp_path)
    start1, _ = recorded.span(FIRST)
    start2, _ = recorded.span(SECOND)
    assert start2 - start1 > 5  # the second camera's recording began two segments later
    gap = f"{PLAYBACK} .pb-camera[data-camera='{SECOND}']"
    with open_wall(demo_api.url, *FORESTRY) as page:
        _open_first_from_its_tile(page)
        _add_second(page)
        _seek(page, start2 - 4)
        wait_for(page, f"() => document.querySelector(\"{gap}\").classList.contains('in-gap')")
        assert page.is_visible(f"{gap} .pb-gapnote")
        assert page.inner_text(f"{gap} .pb-gapnote").startswith("not recorded")
        assert page.is_hidden(f"{gap} video")
        # Meanwhile the first camera plays: its position and decoded frames move on.
        wait_for(page, "() => window.sharpeye.playback().cameras[0].isPlaying()", timeout=60)
        one, two = _cameras(page)
        page.wait_for_timeout(1000)
        one_later, two_later = _cameras(page)
        assert two["gap"] and two_later["gap"] and two_later["paused"]
        assert _moved(one, one_later) and one_later["wall"] > one["wall"] + 0.3
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playback-sync-gap.png"))
        # The clock reaches the second camera's recording: it finds its segment and joins.
        wait_for(page, BOTH_PLAYING, timeout=60)
        assert page.is_hidden(f"{gap} .pb-gapnote")
        _plays_in_sync(page, 2.0)


def test_a_search_hit_opens_its_footage(
    demo_api: DemoApi, tmp_path: Path, recorded: Recorded
) -> None:
    settings = _serve(recorded, tmp_path)
    start1, end1 = recorded.span(FIRST)
    seen = start1 + 6
    engine = create_engine_for(settings)
    store_sightings(engine, [_sighting(FIRST, seen)])
    engine.dispose()
    with open_wall(demo_api.url, "admin", "admin-demo-pass") as page:
        page.click("#tabs [data-tab=search]")
        page.select_option("#sr-kind", "plate")
        page.fill("#sr-case", "HF-2026-0077")
        page.fill("#sr-text", "皖S·12345")
        page.click("#sr-form button[type=submit]")
        page.wait_for_selector("#sr-results .hit .footage")
        tiles = page.evaluate("window.sharpeye.tiles()")
        page.click("#sr-results .hit .footage")
        page.wait_for_selector(f"{PLAYBACK} .pb-track[data-camera='{FIRST}'] .pb-seg")
        assert page.evaluate("window.sharpeye.tiles()") == tiles  # not the row's click
        assert page.get_attribute(PLAYBACK, "data-cameras") == FIRST
        assert page.locator(f"{PLAYBACK} .pb-mark").count() == 1  # where it was seen
        # Playing from just before the sighting: the picture there, moving.
        wait_for(page, "() => window.sharpeye.playback().cameras[0].isPlaying()", timeout=60)
        assert float(page.get_attribute(PLAYBACK, "data-seek") or 0) == pytest.approx(
            seen - 3, abs=0.01
        )
        (camera,) = _cameras(page)
        assert seen - 3 - 0.1 <= camera["wall"] <= min(end1, seen + 3), (camera, seen)
        page.wait_for_timeout(1000)
        (later,) = _cameras(page)
        assert _moved(camera, later) and later["wall"] > camera["wall"] + 0.3


def _sighting(camera: str, at: float) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": camera,
            "track_id": 7,
            "class_name": "car",
            "first_seen": at,
            "last_seen": at + 4,
            "score": 0.82,
            "box": {"x1": 0.1, "y1": 0.4, "x2": 0.4, "y2": 0.8},
            "plate": "皖S12345",
            "plate_score": 0.93,
        }
    )
