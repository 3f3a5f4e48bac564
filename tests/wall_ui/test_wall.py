"""The wall in a real browser: tiles play, tours move cameras, alarms pop, the tree scales."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from sharpeye.bus.sealed import bus_key_for, seal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, Alarm, AlarmMessage, AlarmState
from tests.wall_ui.conftest import ARTIFACTS, CAMERAS, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(page: Any, script: str, arg: Any = None, timeout: float = 60.0) -> Any:
    """Poll `script` (a JS function body returning a value) until it returns truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {script}")
        page.wait_for_timeout(250)


def test_sixteen_tiles_play(page: Any, stack: Stack) -> None:
    page.evaluate("window.sharpeye.setLayout('16')")
    page.evaluate(
        "n => { for (let i = 0; i < n; i++) window.sharpeye.assign(i, `cam${i + 1}`); }", CAMERAS
    )
    stats = wait_for(
        page,
        "async () => { const s = await window.sharpeye.stats();"
        " return s.every(t => t.framesDecoded > 0) && s; }",
    )
    assert [t["camera"] for t in stats] == [f"cam{i}" for i in range(1, CAMERAS + 1)]
    assert all(t["framesDecoded"] > 0 and t["state"] == "playing" for t in stats)
    # One upstream per camera, one viewer each.
    assert len(stack.relay.state.manager.sessions) == CAMERAS
    page.wait_for_timeout(1500)  # overlays (fps, delay) refresh once a second
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-16-tiles.png"))


def test_drag_a_camera_from_the_tree_onto_a_tile(page: Any) -> None:
    page.evaluate("window.sharpeye.setLayout('4')")
    page.click("#tree .row.department")
    group = page.locator("#tree .row.group >> nth=0")
    assert group.inner_text() == "▸ Central Square (8)"  # the registry's name, not 'square'
    group.click()
    page.drag_and_drop("#tree .row.camera[data-camera='cam3']", "#wall .tile >> nth=1")
    assert page.evaluate("window.sharpeye.tiles()")[1] == "cam3"
    wait_for(page, "async () => (await window.sharpeye.stats())[1].framesDecoded > 0")


def test_search_finds_a_camera(page: Any) -> None:
    page.fill("#search", "camera 12")
    page.wait_for_selector("#tree .row.camera[data-camera='cam12']")
    assert page.locator("#tree .row.camera").count() == 1


def test_tour_moves_cameras_through_the_tiles(page: Any) -> None:
    page.evaluate("window.sharpeye.setLayout('4')")
    page.evaluate("window.sharpeye.tour.start('group:square', 2)")
    first = page.evaluate("window.sharpeye.tiles()")
    assert first[:3] == ["cam1", "cam2", "cam3"]
    moved = wait_for(
        page,
        "before => { const t = window.sharpeye.tiles(); return t[0] !== before[0] && t; }",
        first,
    )
    assert moved[:3] == ["cam4", "cam5", "cam6"]
    wait_for(page, "async () => (await window.sharpeye.stats())[0].framesDecoded > 0")
    page.evaluate("window.sharpeye.tour.stop()")


def test_alarm_pops_its_camera_into_the_alarm_tile(page: Any, stack: Stack, tmp_path: Path) -> None:
    page.evaluate("window.sharpeye.setLayout('4')")
    wait_for(page, "() => document.getElementById('live-state').classList.contains('online')")
    now = time.time()
    alarm = Alarm(
        id=41,
        rule_id="intrusion",
        event_type="zone_intrusion",
        camera_id="cam7",
        camera_name="Camera 7",
        title="Intrusion at the gate",
        severity="high",
        state=AlarmState.NEW,
        departments=["police"],
        dedupe_key="cam7:intrusion",
        occurred_at=now,
        last_event_at=now,
        created_at=now,
        updated_at=now,
        event_count=1,
        escalation_level=0,
    )
    client = redis.Redis.from_url(stack.redis_url)
    try:
        message = AlarmMessage(change="created", alarm=alarm)
        # As an API publishes it: sealed with the platform's key (the stack's data dir).
        client.publish(ALARMS_CHANNEL, seal(bus_key_for(tmp_path), message.model_dump_json()))
    finally:
        client.close()
    page.wait_for_selector("#alarm-41")
    assert "Intrusion at the gate" in page.inner_text("#alarm-41")
    wait_for(page, "() => window.sharpeye.tiles()[3] === 'cam7'")
    tile = page.locator("#wall .tile >> nth=3")
    assert "alarmed" in (tile.get_attribute("class") or "")
    wait_for(page, "async () => (await window.sharpeye.stats())[3].framesDecoded > 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-alarm.png"))
    assert page.evaluate("window.sharpeye.map.alarmed.has('cam7')")  # ringed on the map
    tile.locator("button.ack").click()
    wait_for(page, "() => !document.querySelector('#wall .tile.alarmed')")
    assert not page.evaluate("window.sharpeye.map.alarmed.has('cam7')")


def test_full_screen_switches_to_the_main_stream_and_back(page: Any) -> None:
    page.evaluate("window.sharpeye.setLayout('4')")
    page.evaluate("window.sharpeye.assign(0, 'cam2')")
    wait_for(page, "async () => (await window.sharpeye.stats())[0].framesDecoded > 0")
    page.dblclick("#wall .tile >> nth=0")
    wait_for(page, "() => document.fullscreenElement !== null")
    wait_for(
        page,
        "async () => { const t = (await window.sharpeye.stats())[0];"
        " return t.stream === 'main' && t.framesDecoded > 0; }",
    )
    page.evaluate("document.exitFullscreen()")
    wait_for(page, "async () => (await window.sharpeye.stats())[0].stream === 'sub'")


def test_saved_layouts_are_kept_per_user(page: Any) -> None:
    page.evaluate("window.sharpeye.setLayout('9')")
    page.evaluate("['cam3', 'cam4'].forEach((id, i) => window.sharpeye.assign(i, id))")
    page.once("dialog", lambda dialog: dialog.accept("gate watch"))
    page.click("#layout-save")
    page.click("#wall-clear")
    assert page.evaluate("window.sharpeye.tiles()")[:2] == [None, None]
    page.select_option("#saved-layouts", "gate watch")
    page.click("#layout-load")
    assert page.evaluate("window.sharpeye.tiles()")[:2] == ["cam3", "cam4"]
    assert page.input_value("#layout-select") == "9"
    saved = page.evaluate("Object.keys(localStorage)")
    assert any(key.endswith(".wall-admin") for key in saved)


def test_custom_grid_layout(page: Any) -> None:
    page.once("dialog", lambda dialog: dialog.accept("2x3"))
    page.select_option("#layout-select", "custom")
    assert page.locator("#wall .tile").count() == 6
    assert page.input_value("#layout-select") == "2x3"
    page.evaluate("window.sharpeye.assign(5, 'cam9')")
    wait_for(page, "async () => (await window.sharpeye.stats())[5].framesDecoded > 0")


def test_a_camera_browsers_cannot_play_says_why_on_its_tile(page: Any) -> None:
    page.evaluate("window.sharpeye.setLayout('4')")
    page.evaluate("window.sharpeye.assign(0, 'hevc-1')")
    wait_for(page, "() => document.querySelector('#wall .tile').dataset.state === 'error'")
    message = page.inner_text("#wall .tile >> nth=0 >> .message")
    assert "H.265" in message and "H.264" in message
