"""The demo district end to end: the simulated fleet serves the composed scenes, the ingest
worker decodes them and runs analytics, and every scene's event reaches the Redis bus in
a form the registry's alarm rules turn into an alarm (fire, crowd, intrusion, line
crossing, watchlist plate); the junction's plates land in the sightings store for search;
each scene camera's wall tile (sub stream) shows its own scene at 360p."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import redis.asyncio
import yaml

from analytics.store import find_by_plate
from ingest.worker import run
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.registry import Registry, load_registry
from sharpeye.settings import Settings
from sharpeye.simulate.fleet import registry_mounts, scene_clips
from sharpeye.store.db import create_engine_for
from tests.fixtures_fleet import DATA_DIR, REPO, Fleet, free_port, stop_and_check

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENE_CAMERAS = ("forest-lookout-1", "plaza-north", "school-gate", "junction-east")
# (camera, event type) -> the registry rule that must turn it into an alarm.
EXPECTED = {
    ("forest-lookout-1", "fire"): "forest-fire",
    ("plaza-north", "crowd"): "plaza-crowd",
    ("school-gate", "intrusion"): "school-gate-no-entry",
    ("junction-east", "line_crossing"): "junction-stop-line",
    ("junction-east", "watchlist_plate"): "watchlist-plate",
}
DEADLINE_S = 150  # the scenes loop every 20 s; fire needs 5 looks, the crowd 10 s to gather


@pytest.fixture(scope="module")
def demo_fleet(
    tmp_path_factory: pytest.TempPathFactory, footage: dict[str, Path]
) -> Iterator[tuple[Path, Fleet]]:
    """The demo registry's scene cameras (no ONVIF devices) on a fleet of a free port."""
    if "synthetic-junction-360p" not in scene_clips(DATA_DIR):
        pytest.fail("demo scenes missing or outdated: run `make scenes`")
    port = free_port()
    doc: dict[str, Any] = yaml.safe_load((REPO / "camera_registry.yaml").read_text("utf-8"))
    doc["cameras"] = [
        {k: v for k, v in c.items() if k != "onvif"}
        for c in doc["cameras"]
        if c["id"] in SCENE_CAMERAS
    ]
    text = yaml.safe_dump(doc, allow_unicode=True).replace("127.0.0.1:8554/", f"127.0.0.1:{port}/")
    path = tmp_path_factory.mktemp("demo") / "camera_registry.yaml"
    path.write_text(text, encoding="utf-8")
    fleet = Fleet(cameras=0, registry=path, port=port).start()
    yield path, fleet
    stop_and_check(fleet)


def test_every_scene_cameras_sub_stream_is_its_own_scene_at_360p(
    demo_fleet: tuple[Path, Fleet],
) -> None:
    path, fleet = demo_fleet
    mounts = registry_mounts(path, fleet.port, extra_clips=scene_clips(DATA_DIR))
    reg = load_registry(path)
    for cam in reg.cameras:
        assert cam.streams is not None and cam.streams.sub is not None
        main = mounts["/" + cam.streams.main.split("/", 3)[3]]
        sub = mounts["/" + cam.streams.sub.split("/", 3)[3]]
        # Same source, smaller picture: a scene's sub is that scene, vtest's is vtest.
        assert sub.rsplit("-", 1)[0] == main.rsplit("-", 1)[0] and sub.endswith("-360p"), cam.id
    fire_sub = next(c for c in reg.cameras if c.id == "forest-lookout-1").streams
    assert fire_sub is not None and fire_sub.sub is not None
    with av.open(fire_sub.sub, options={"rtsp_transport": "tcp"}, timeout=10) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (640, 360)


async def test_each_scene_raises_its_alarm_event_on_the_bus(
    demo_fleet: tuple[Path, Fleet], redis_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    path, _ = demo_fleet
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(DATA_DIR / "models")  # provisioned by `make models`
    settings = Settings(
        SHARPEYE_REGISTRY=path,
        SHARPEYE_DATA_DIR=data,
        REDIS_URL=redis_url,
        SHARPEYE_NODE_ID="demo-node",
    )
    reg = load_registry(path)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, reg, stop))
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    alarmed: dict[tuple[str, str], Event] = {}
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and set(alarmed) != set(EXPECTED):
            await asyncio.sleep(1)
            for _, fields in await r.xrange(EVENTS_STREAM) or []:
                e = Event.model_validate(json.loads((fields or {})["event"]))
                key = (e.camera_id, e.event_type)
                if key in EXPECTED and _rule_matches(reg, EXPECTED[key], e):
                    alarmed.setdefault(key, e)
        assert not task.done(), "the ingest worker stopped"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)  # ends tracks: their sightings are published
        await r.aclose()
    assert set(alarmed) == set(EXPECTED), f"no alarm event for {set(EXPECTED) - set(alarmed)}"
    assert alarmed[("junction-east", "watchlist_plate")].label == "皖S12345"
    # A plate search finds the junction's vehicles (sightings stored by the worker).
    engine = create_engine_for(settings)
    try:
        hits = find_by_plate(engine, "皖S12345", 0, time.time() + 60)
    finally:
        engine.dispose()
    assert hits and {h.camera_id for h in hits} == {"junction-east"}


def _rule_matches(reg: Registry, rule_id: str, event: Event) -> bool:
    rule = next(r for r in reg.alarm_rules if r.id == rule_id)
    cam = next(c for c in reg.cameras if c.id == event.camera_id)
    return rule.matches(event, cam)
