"""The wall's alarms in a real browser against a real `sharpeye api` on the demo registry:
an operator sees at login the alarms already open for their department; a tile's highlight
follows the set of its camera's unacknowledged alarms across acknowledgement and layout
changes; tours show a short group whole and page through a long one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.wall_ui.conftest import DemoApi, open_wall
from tests.wall_ui.test_session import FORESTRY, LIVE, _admin, _fire
from tests.wall_ui.test_wall import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALARMED = "() => [...document.querySelectorAll('#wall .tile.alarmed')].map(t => t.dataset.camera)"


def _open_alarms(api: DemoApi, count: int) -> list[dict[str, Any]]:
    """The API's open alarms once there are `count` (the consumer stores them as it reads)."""
    admin = _admin(api)
    deadline = time.monotonic() + 30  # hang guard
    while True:
        r = httpx.get(f"{api.url}/api/alarms?open=true", headers=admin)
        if r.status_code == 401:  # the fixture's tokens last 8 s: log in again
            admin = _admin(api)
            continue
        alarms: list[dict[str, Any]] = r.json()
        if len(alarms) >= count or time.monotonic() > deadline:
            return alarms
        time.sleep(0.2)


def test_an_operator_sees_the_alarms_open_before_the_login(demo_api: DemoApi) -> None:
    now = time.time()
    # Two fires far enough apart to be two alarms (beyond the rule's cooldown), on forestry's
    # two lookouts, and a crowd on the plaza that is not forestry's.
    _fire(demo_api, "forest-lookout-1", now - 600)
    _fire(demo_api, "forest-lookout-2", now)
    alarms = _open_alarms(demo_api, 2)
    assert {a["camera_id"] for a in alarms} == {"forest-lookout-1", "forest-lookout-2"}
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        for alarm in alarms:
            page.wait_for_selector(f"#alarm-{alarm['id']}.new")
        assert page.locator("#alarm-list .alarm").count() == 2
        # The newest one on the alarm tile, highlighted.
        wait_for(page, f"() => ({ALARMED})().includes('forest-lookout-2')")


def test_the_highlight_follows_the_open_alarms_across_ack_and_layout(demo_api: DemoApi) -> None:
    now = time.time()
    _fire(demo_api, "forest-lookout-1", now - 600)
    _fire(demo_api, "forest-lookout-1", now)
    first, second = sorted(_open_alarms(demo_api, 2), key=lambda a: a["id"])
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        page.evaluate("window.sharpeye.setLayout('4')")
        page.wait_for_selector(f"#alarm-{second['id']}")
        # The newest alarm on the alarm tile, and the camera also on an ordinary tile.
        wait_for(page, "() => window.sharpeye.tiles()[3] === 'forest-lookout-1'")
        page.evaluate("window.sharpeye.assign(0, 'forest-lookout-1')")
        assert page.evaluate(ALARMED) == ["forest-lookout-1", "forest-lookout-1"]
        assert "+1 more" in page.inner_text("#wall .tile >> nth=3 >> .alarm-bar")
        # Acknowledging one leaves the other: still highlighted, now showing the other.
        page.click(f"#alarm-{second['id']} button.ack")
        page.wait_for_selector(f"#alarm-{second['id']}.acknowledged")
        bar = page.locator("#wall .tile >> nth=3 >> .alarm-bar")
        showing_first = f".alarm-bar:not([hidden])[data-alarm='{first['id']}']"
        wait_for(page, f'() => document.querySelectorAll("{showing_first}").length === 2')
        assert "more" not in bar.inner_text()
        assert page.evaluate(ALARMED) == ["forest-lookout-1", "forest-lookout-1"]
        assert page.evaluate("window.sharpeye.map.alarmed.has('forest-lookout-1')")
        # A layout change keeps it: the alarm moves to the new alarm tile.
        page.evaluate("window.sharpeye.setLayout('9')")
        assert page.evaluate("window.sharpeye.tiles()")[8] == "forest-lookout-1"
        assert page.evaluate(ALARMED) == ["forest-lookout-1", "forest-lookout-1"]
        page.evaluate("window.sharpeye.setLayout('1+5')")
        assert page.evaluate("window.sharpeye.tiles()")[5] == "forest-lookout-1"
        assert "forest-lookout-1" in page.evaluate(ALARMED)
        # Acknowledged on the tile itself: the last open alarm, so the highlight goes.
        page.click("#wall .tile >> nth=5 >> .alarm-bar button.ack")
        wait_for(page, f"() => ({ALARMED})().length === 0")
        assert not page.evaluate("window.sharpeye.map.alarmed.has('forest-lookout-1')")
        state = httpx.get(f"{demo_api.url}/api/alarms/{first['id']}", headers=_admin(demo_api))
        assert state.json()["state"] == "acknowledged"


def test_tours_show_a_short_group_whole_and_page_through_a_long_one(demo_api: DemoApi) -> None:
    with open_wall(demo_api.url, "admin", "admin-demo-pass") as page:
        page.evaluate("window.sharpeye.setLayout('4')")  # three tour tiles + the alarm tile
        page.evaluate(
            "['plaza-north', 'plaza-south', 'school-yard'].forEach((id, i) =>"
            " window.sharpeye.assign(i, id))"
        )
        # Two cameras on three tiles: both shown, the third tile cleared (not left stale).
        page.evaluate("window.sharpeye.tour.start('group:forest', 2)")
        assert page.evaluate("window.sharpeye.tiles()")[:3] == [
            "forest-lookout-1",
            "forest-lookout-2",
            None,
        ]
        assert page.evaluate("window.sharpeye.tour.pages") == 1
        page.wait_for_timeout(2500)  # a step later: the same page, nothing stale
        assert page.evaluate("window.sharpeye.tiles()")[:3] == [
            "forest-lookout-1",
            "forest-lookout-2",
            None,
        ]
        # A department with more cameras than tiles: pages of three, then from the first.
        city = page.evaluate(
            "window.sharpeye.catalog.camerasOf('department:city_management')"
            ".filter(c => c.enabled).map(c => c.id)"
        )
        assert len(city) > 3
        page.evaluate("window.sharpeye.tour.start('department:city_management', 2)")
        pages = [city[i : i + 3] for i in range(0, len(city), 3)]
        expected = [p + [None] * (3 - len(p)) for p in pages] + [pages[0]]
        seen = [page.evaluate("window.sharpeye.tiles()")[:3]]
        while len(seen) < len(expected):
            seen.append(
                wait_for(
                    page,
                    "before => { const t = window.sharpeye.tiles().slice(0, 3);"
                    " return JSON.stringify(t) !== JSON.stringify(before) && t; }",
                    seen[-1],
                    timeout=10,
                )
            )
        assert seen == expected
        # A layout change during the tour re-shows the page on the new tiles at once.
        page.evaluate("window.sharpeye.setLayout('9')")
        tiles = page.evaluate("window.sharpeye.tiles()")
        assert all(t is not None for t in tiles[: min(8, len(city))])
        page.evaluate("window.sharpeye.tour.stop()")


def _fire_with(api: DemoApi, evidence: dict[str, str]) -> None:
    """A forest fire on the bus carrying this evidence reference."""
    import redis

    from sharpeye.contracts.events import EVENTS_STREAM, Event

    event = Event.model_validate(
        {
            "event_type": "fire",
            "camera_id": "forest-lookout-1",
            "occurred_at": time.time(),
            "score": 0.9,
            "evidence": [evidence],
        }
    )
    r = redis.Redis.from_url(api.redis_url)
    try:
        r.xadd(EVENTS_STREAM, event.to_stream_fields())  # type: ignore[arg-type]
    finally:
        r.close()


def test_the_alarm_bar_shows_the_frame_that_raised_the_alarm(
    demo_api: DemoApi, tmp_path: Path
) -> None:
    import cv2
    import numpy as np

    ref = "events/forest-lookout-1/20261207/fire-snap.jpg"
    jpeg = tmp_path / "data" / "evidence" / ref
    jpeg.parent.mkdir(parents=True)
    ok, data = cv2.imencode(".jpg", np.full((90, 160, 3), (0, 80, 255), np.uint8))
    assert ok
    jpeg.write_bytes(data.tobytes())
    _fire_with(demo_api, {"kind": "snapshot", "ref": ref})
    _open_alarms(demo_api, 1)
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        snap = "#wall .tile.alarmed .alarm-bar img.alarm-snap"
        page.wait_for_function(f"document.querySelector('{snap}')?.naturalWidth === 160")
        page.click(snap)
        assert "large" in (page.get_attribute(snap, "class") or "")


def _fragmented_mp4(source: Path, target: Path, seconds: float) -> None:
    """The first seconds of real footage remuxed as the clip writer writes them (fMP4)."""
    import av

    from camera.fmp4 import MOVFLAGS

    target.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": MOVFLAGS}
    with av.open(str(source)) as src, av.open(str(target), "w", "mp4", options=options) as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is None:
                continue
            pts, base = packet.pts, packet.time_base
            if pts is not None and base is not None and float(pts * base) > seconds:
                break
            packet.stream = stream
            out.mux(packet)


def test_the_alarm_bar_plays_the_alarms_clip_once_it_is_written(
    demo_api: DemoApi, tmp_path: Path, footage: dict[str, Path]
) -> None:

    ref = "clips/forest-lookout-1/20261207/fire-clip.mp4"
    clip = tmp_path / "data" / "evidence" / ref
    _fire_with(demo_api, {"kind": "clip", "ref": ref})
    _open_alarms(demo_api, 1)
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        button = "#wall .tile.alarmed .alarm-bar button.clip"
        page.wait_for_selector(button)
        page.click(button)
        # Ingest writes the clip once the window after the event has arrived: until then the
        # wall says so and asks again.
        player = "#wall .tile.alarmed .clip-player"
        page.wait_for_function(
            f"document.querySelector('{player} .clip-note')?.textContent.includes('being written')"
        )
        _fragmented_mp4(footage["vtest-360p"], clip, 3.0)
        page.wait_for_function(
            f"(() => {{ const v = document.querySelector('{player} video');"
            " return v && v.readyState >= 2 && v.videoWidth === 640 && v.currentTime > 0.5; })()",
            timeout=30_000,
        )
        page.click(f"{player} .clip-close")
        assert page.locator(player).count() == 0  # back to live video
