"""Playback on the wall (js/playback.js) against a real API: a tile's Playback opens the
camera's recorded timeline (recorded ranges, the gap before them), plays its two
consecutive segments of real footage one after the other in one <video>, every segment
fetched with the session's token (audited as evidence views); an alarm's Footage opens the
time around the alarm, its mark on the timeline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory
from tests.recording_segments import fragmented_segment, index_gap, index_segment
from tests.wall_ui.conftest import DemoApi, open_wall
from tests.wall_ui.test_alarms_at_login import _open_alarms
from tests.wall_ui.test_session import FORESTRY, LIVE, _admin, _fire
from tests.wall_ui.test_wall import wait_for

CAMERA = "forest-lookout-1"  # forestry's
PLAYBACK = ".playback"


def _record(tmp_path: Path, footage: dict[str, Path], first: float) -> list[tuple[str, float]]:
    """Two consecutive 2-s segments from `first`, a reconnect gap of a minute before them;
    returns (ref, start) of each."""
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
            "SHARPEYE_DATA_DIR": tmp_path / "data",
        }
    )
    engine = create_engine_for(settings)
    sessions = session_factory(engine)
    store = tmp_path / "data" / "evidence"
    segments = []
    for n, start in enumerate((first, first + 2.0)):
        name = time.strftime("%Y%m%dT%H%M%S", time.gmtime(start))
        ref = f"recordings/{CAMERA}/{name[:8]}/{name}.{n:03d}Z.mp4"
        frames = fragmented_segment(footage["vtest-360p"], store / ref, 2.0 * n, 2.0)
        index_segment(sessions, CAMERA, ref, start, start + 2.0, store / ref, frames)
        segments.append((ref, start))
    index_gap(sessions, CAMERA, first - 60, first, "reconnect")
    engine.dispose()
    return segments


def _plays_across_the_boundary(page: Any, first: float) -> None:
    # The second segment's picture is showing: past the first one's end, in the same video.
    wait_for(
        page,
        """(end) => {
          const p = document.querySelector('.playback');
          const v = p?.querySelector('video');
          return p && p.dataset.segment === '1' && v.readyState >= 2 && v.currentTime > 0.2
            && Number(p.dataset.time) > end && v.videoWidth === 640;
        }""",
        first + 2.0,
        timeout=60,
    )


def _viewed(api: DemoApi) -> set[str]:
    r = httpx.get(f"{api.url}/api/audit?limit=1000&action=evidence.view", headers=_admin(api))
    assert r.status_code == 200, r.text
    return {a["target"] for a in r.json() if a["actor"] == "forestry" and a["outcome"] == "ok"}


def test_a_tile_plays_its_cameras_recordings_across_segments(
    demo_api: DemoApi, tmp_path: Path, footage: dict[str, Path]
) -> None:
    first = time.time() - 40
    segments = _record(tmp_path, footage, first)
    with open_wall(demo_api.url, *FORESTRY) as page:
        page.evaluate(f"window.sharpeye.assign(0, '{CAMERA}')")
        page.click("#wall .tile[data-index='0']")
        page.click("#wall .tile[data-index='0'] .playback-open")
        page.wait_for_selector(f"{PLAYBACK} .pb-seg")
        assert page.locator(f"{PLAYBACK} .pb-seg").count() == 2
        gap = page.locator(f"{PLAYBACK} .pb-gap")
        assert gap.count() == 1 and "reconnect" in (gap.get_attribute("title") or "")
        _plays_across_the_boundary(page, first)
        # Pause, step a frame: the picture moves by one frame and stays paused.
        page.click(f"{PLAYBACK} .pb-play")
        before, duration = page.evaluate(
            "(() => { const v = document.querySelector('.playback video');"
            " return [v.currentTime, v.duration]; })()"
        )
        page.click(f"{PLAYBACK} .pb-step")
        now, paused = page.evaluate(
            "(() => { const v = document.querySelector('.playback video');"
            " return [v.currentTime, v.paused]; })()"
        )
        assert paused and now == pytest.approx(min(before + 1 / 25, duration), abs=0.01)
        page.select_option(f"{PLAYBACK} .pb-speed", "4")
        assert page.evaluate("document.querySelector('.playback video').playbackRate") == 4
        page.click(f"{PLAYBACK} .pb-close")
        assert page.locator(PLAYBACK).count() == 0
    # Each segment was fetched with the session's token: an audited evidence view.
    deadline = time.monotonic() + 20  # reads are audited in batches
    while not {f"/api/evidence/{ref}" for ref, _ in segments} <= _viewed(demo_api):
        assert time.monotonic() < deadline, _viewed(demo_api)
        time.sleep(0.2)


def test_an_alarm_opens_the_footage_around_it(
    demo_api: DemoApi, tmp_path: Path, footage: dict[str, Path]
) -> None:
    first = time.time() - 40
    _record(tmp_path, footage, first)
    _fire(demo_api, CAMERA, first + 1.0)
    _open_alarms(demo_api, 1)
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        page.wait_for_selector("#wall .tile.alarmed .alarm-bar button.footage")
        page.click("#wall .tile.alarmed .alarm-bar button.footage")
        page.wait_for_selector(f"{PLAYBACK} .pb-alarm")
        assert page.locator(f"{PLAYBACK} .pb-seg").count() == 2
        _plays_across_the_boundary(page, first)
