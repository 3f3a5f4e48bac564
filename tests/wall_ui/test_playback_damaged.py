"""Playback plays past damaged recordings, in headless Chromium against a real API: of four
consecutive segments of real footage, the second is cut short on disk (the API lists it
`damaged`: the wall never fetches it, its time is a gap whose reason the timeline shows)
and the third has the size it was indexed with but no movie header (the API cannot tell;
the browser's `error` is reported on the camera's note and timeline and the clock goes on),
and the fourth plays. The API logs the damaged segment once, naming camera and segment."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory
from tests.recording_segments import fragmented_segment, index_segment
from tests.wall_ui.conftest import DemoApi, open_wall
from tests.wall_ui.test_session import FORESTRY
from tests.wall_ui.test_wall import wait_for

CAMERA = "forest-lookout-1"  # forestry's
PLAYBACK = ".playback"
SEGMENT_S = 2.0


def _record(tmp_path: Path, footage: dict[str, Path], first: float) -> list[Path]:
    """Four consecutive 2-s segments from `first`, indexed; returns their files."""
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
            "SHARPEYE_DATA_DIR": tmp_path / "data",
        }
    )
    engine = create_engine_for(settings)
    sessions = session_factory(engine)
    store = tmp_path / "data" / "evidence"
    files = []
    for n in range(4):
        start = first + SEGMENT_S * n
        name = time.strftime("%Y%m%dT%H%M%S", time.gmtime(start))
        ref = f"recordings/{CAMERA}/{name[:8]}/{name}.{n:03d}Z.mp4"
        frames = fragmented_segment(footage["vtest-360p"], store / ref, SEGMENT_S * n, SEGMENT_S)
        index_segment(sessions, CAMERA, ref, start, start + SEGMENT_S, store / ref, frames)
        files.append(store / ref)
    engine.dispose()
    return files


def test_playback_plays_past_damaged_segments(
    demo_api: DemoApi, tmp_path: Path, footage: dict[str, Path]
) -> None:
    first = time.time() - 60
    files = _record(tmp_path, footage, first)
    cut = files[1].read_bytes()
    files[1].write_bytes(cut[: len(cut) // 3])  # cut short: the API lists it damaged
    whole = files[2].read_bytes()
    assert whole.count(b"moov") == 1
    files[2].write_bytes(whole.replace(b"moov", b"free"))  # same size, no movie header
    with open_wall(demo_api.url, *FORESTRY) as page:
        page.evaluate(f"window.sharpeye.assign(0, '{CAMERA}')")
        page.click("#wall .tile[data-index='0']")
        page.click("#wall .tile[data-index='0'] .playback-open")
        page.wait_for_selector(f"{PLAYBACK} .pb-seg")
        segs = page.locator(f"{PLAYBACK} .pb-seg")
        assert segs.count() == 4
        damaged = segs.nth(1)
        assert "pb-bad" in (damaged.get_attribute("class") or "")
        assert "size on disk" in (damaged.get_attribute("title") or "")
        # The last segment shows its pictures, past both damaged ones, in the same video.
        wait_for(
            page,
            """(end) => {
              const p = document.querySelector('.playback');
              const v = p?.querySelector('video');
              return p && p.dataset.segment === '3' && v.readyState >= 2
                && Number(p.dataset.time) > end && v.videoWidth === 640;
            }""",
            first + 3 * SEGMENT_S + 0.2,
            timeout=90,
        )
        # The one the browser could not play: reported, marked, skipped.
        assert "pb-bad" in (segs.nth(2).get_attribute("class") or "")
        note = page.locator(f"{PLAYBACK} .pb-cam-note").text_content() or ""
        assert "cannot be played: skipped" in note, note
    # The API told its log once about the one it found, however many listings.
    lines = [json.loads(x) for x in demo_api.log.read_text().splitlines() if x.startswith("{")]
    warned = [x for x in lines if "is damaged" in str(x.get("message", x.get("msg", "")))]
    assert len(warned) == 1, warned
    ref = files[1].relative_to(tmp_path / "data" / "evidence").as_posix()
    assert f"camera {CAMERA}: recorded segment {ref}" in str(warned[0])
