"""Analytics hosted by the ingest worker: real fleet → one decode → detector → events in Redis."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import av
import pytest
import redis.asyncio

from ingest.worker import run
from sharpeye.contracts.events import EVENTS_STREAM
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from tests.fixtures_fleet import Fleet
from tests.ingest.test_worker import camera, write_registry

pytestmark = pytest.mark.integration


async def test_worker_raises_intrusion_events_from_the_frames_it_decodes(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet
) -> None:
    pytest.importorskip("onnxruntime")
    fleet = port_and_fleet
    path = tmp_path / "registry.yaml"
    whole_frame = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    write_registry(
        path,
        [
            camera(
                "square",
                fleet.url("/sim/vtest-360p/w0"),
                tags=["intrusion"],
                analytics={
                    "profile": "intrusion",
                    "sampling": {"mode": "fps", "fps": 2},
                    "zones": [{"id": "all", "name": "Whole square", "polygon": whole_frame}],
                },
            )
        ],
    )
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path,
        REDIS_URL=redis_url,
        SHARPEYE_NODE_ID="node-x",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + 60
        events: list[dict[str, object]] = []
        while time.monotonic() < deadline and not events:
            entries = await r.xrange(EVENTS_STREAM)
            events = [json.loads(f["event"]) for _, f in entries]
            events = [e for e in events if e["event_type"] == "intrusion"]
            await asyncio.sleep(0.5)
        assert events, "no intrusion event from the pedestrians of vtest"
        assert events[0]["camera_id"] == "square" and events[0]["zone_id"] == "all"
        health = json.loads(await r.hget("sharpeye:health", "square") or "{}")
        assert health["frames_decoded"] > 0  # the worker's own decode fed the detector
        # Its clip (issue 13): referenced at once, written once the window after it arrived,
        # every picture of the camera (the detector decoded 2 of 25 a second).
        evidence: Any = events[0]["evidence"]
        refs = [e["ref"] for e in evidence if e["kind"] == "clip"]
        assert len(refs) == 1
        clip = settings.data_dir / "evidence" / refs[0]
        while not clip.exists():
            assert time.monotonic() < deadline + 30, f"{refs[0]} never written"
            await asyncio.sleep(0.5)
        with av.open(str(clip)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        # At least the 10 s after (the first event comes soon after the camera connected,
        # so little is held before it).
        assert frames >= 9 * 25
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await r.aclose()


async def test_registry_edits_outside_analytics_keep_the_running_pipeline(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    # A shift edits the registry now and then (names, logins); each edit used to rebuild the
    # whole pipeline, losing tracks and hold timers, so scenes that need time never alarmed.
    pytest.importorskip("onnxruntime")
    fleet = port_and_fleet
    path = tmp_path / "registry.yaml"
    analytics = {"profile": "intrusion", "sampling": {"mode": "fps", "fps": 2}}

    def write(name: str, fps: int) -> None:
        spec = camera("square", fleet.url("/sim/vtest-360p/w0"), tags=["intrusion"])
        spec["name"] = name
        spec["analytics"] = {**analytics, "sampling": {"mode": "fps", "fps": fps}}
        write_registry(path, [spec])

    def builds() -> int:
        return sum("analytics on 1 cameras" in r.getMessage() for r in caplog.records)

    async def until(predicate: object, what: str) -> None:
        deadline = time.monotonic() + 60  # a hang guard
        while not predicate():  # type: ignore[operator]
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.2)

    write("Square", 2)
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path, REDIS_URL=redis_url, SHARPEYE_NODE_ID="node-x"
    )
    caplog.set_level("INFO")
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    try:
        await until(lambda: builds() == 1, "analytics never started")
        write("Square (renamed)", 2)
        await until(
            lambda: any("~1 cameras" in r.getMessage() for r in caplog.records),
            "the rename was not picked up",
        )
        await asyncio.sleep(2)
        assert builds() == 1, "a rename rebuilt the pipeline"
        write("Square (renamed)", 1)  # what analytics reads: rebuilt
        await until(lambda: builds() == 2, "an analytics change was not applied")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
