"""A recording disk failing under a running ingest worker, end to end with real peers: a real
RTSP camera of the simulated fleet recorded by `ingest.worker.run` into a store that stops
being writable mid-run (its recordings folder moved away and a file put in its place: no
privileges needed), the event on real Redis, the command API's alarm services storing the
alarm. The department owning the camera gets one high alarm (one event for the whole
failure, though the disk is tried every half second), another department that may watch
the camera does not; live frames keep flowing; when the folder is back recording resumes
and the alarm is resolved by the platform. And a disk that really fills (a 1 MB tmpfs, where
the test may mount one): recording stops once with "No space left on device", live frames
flow, and it resumes when room is made."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis.asyncio
import yaml
from sqlalchemy import create_engine

import ingest.recorder
from camera.spec import RecordPlan, StreamSpec
from command_api.alarms.system_rules import RECORDING_FAILED_RULE
from ingest.engine import IngestEngine
from ingest.recorder import Recorder
from ingest.recording_index import RecordingIndex
from ingest.worker import run
from sharpeye.bus.health import read_health
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.recordings import RecordingRow
from tests.command_api.harness import Harness, harness
from tests.fixtures_fleet import Fleet
from tests.ingest.health_wait import wait_for

pytestmark = pytest.mark.integration

CAMERA = "fishing-port-quay"  # fisheries' in the API's (demo) registry; police has a grant
NODE = "node-rec"
T = TypeVar("T")


def _registry(path: Path, url: str) -> None:
    doc = {
        "version": 1,
        "district": {"id": "t", "name": "Test"},
        "departments": [{"id": "fisheries", "name": "Fisheries", "kind": "fisheries"}],
        "cameras": [
            {
                "id": CAMERA,
                "name": "Quay",
                "department": "fisheries",
                "location": {"lat": 31.8, "lon": 117.2},
                "streams": {"main": url},
                "analytics": {"sampling": {"mode": "off"}},
                "recording": {"segment_s": 2.0, "retain_days": 1.0},
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc))


async def _until(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    deadline = time.monotonic() + 60  # hang guard, sized for a loaded machine
    while True:
        value = await probe()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"{what}: {value}"
        await asyncio.sleep(0.2)


async def test_a_failing_disk_alarms_the_owning_department_once_and_resolves(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.recorder, "RETRY_S", 0.5)  # many retries in a short test
    path = tmp_path / "registry.yaml"
    _registry(path, port_and_fleet.url("/sim/vtest-360p/w3"))
    data = tmp_path / "ingest"
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": path,
            "SHARPEYE_DATA_DIR": data,
            "REDIS_URL": redis_url,
            "DATABASE_URL": None,
            "SHARPEYE_NODE_ID": NODE,
        }
    )
    recordings = data / "evidence" / "recordings"
    away = data / "evidence" / "recordings.away"
    r = redis.asyncio.Redis.from_url(redis_url)
    stop = asyncio.Event()
    (tmp_path / "api").mkdir()
    async with harness(tmp_path / "api", redis_url) as api:
        task = asyncio.create_task(run(settings, load_registry(path), stop))
        try:
            await _until(_segments(recordings), bool, "a first segment recorded")
            recordings.rename(away)  # the disk "goes": the open segment cannot be put in place
            recordings.write_text("not a folder")  # and no new one can be opened

            rows = await _until(_alarms(api, "fisheries"), bool, "the alarm")
            (alarm,) = rows
            assert alarm["rule_id"] == RECORDING_FAILED_RULE and alarm["state"] == "new"
            assert alarm["departments"] == ["fisheries"] and alarm["severity"] == "high"
            assert alarm["title"].startswith("Recording stopped (")
            assert await _alarms(api, "police-wall")() == []  # may watch it, not its fault

            # Live video goes on, the camera's health says why it is not recorded.
            h = (await read_health(r))[CAMERA]
            assert h.state == "degraded" and "recording_failed" in h.quality_issues
            assert (h.reason or "").startswith("recording stopped: ")
            frames = h.frames_total
            await _until(
                lambda: read_health(r),
                lambda h: h[CAMERA].frames_total >= frames + 50,
                "live frames while the disk fails",
            )
            await asyncio.sleep(3.0)  # ~6 more retries of the disk
            assert await _failed_events(r) == 1  # one event for the episode, not per retry
            rows = await _alarms(api, "fisheries")()
            assert len(rows) == 1 and rows[0]["event_count"] == 1

            recordings.unlink()  # the disk is back
            away.rename(recordings)
            await _until(
                _alarms(api, "fisheries"),
                lambda rows: rows[0]["state"] == "resolved",
                "the alarm resolved",
            )
            h = (await read_health(r))[CAMERA]
            assert "recording_failed" not in h.quality_issues
            written = len(await _segments(recordings)())
            await _until(_segments(recordings), lambda s: len(s) > written, "recording again")
            assert await _failed_events(r) == 1
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
            await r.aclose()


def _segments(recordings: Path) -> Callable[[], Awaitable[list[Path]]]:
    def listed() -> list[Path]:
        return list(recordings.rglob("*.mp4")) if recordings.is_dir() else []

    async def probe() -> list[Path]:
        return await asyncio.to_thread(listed)

    return probe


def _alarms(api: Harness, user: str) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def probe() -> list[dict[str, Any]]:
        got = await api.client.get(
            "/api/alarms", params={"camera_id": CAMERA}, headers=await api.login(user)
        )
        assert got.status_code == 200, got.text
        rows: list[dict[str, Any]] = got.json()
        return rows

    return probe


async def _failed_events(r: redis.asyncio.Redis) -> int:
    entries: Any = await r.xrange(EVENTS_STREAM)
    events = [Event.from_stream_fields(fields) for _, fields in entries]
    return sum(
        1
        for e in events
        if e.event_type == "recording_failed" and e.camera_id == CAMERA and e.node_id == NODE
    )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (mounting needs root: skipped elsewhere; the test above needs none)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_stops_recording_once_and_resumes_with_room(
    tiny_disk: Path, tmp_path: Path, port_and_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest.recorder, "RETRY_S", 0.5)
    episodes: list[tuple[str, str | None]] = []
    eng = create_engine(f"sqlite:///{tmp_path / 'index.db'}")  # not on the tiny disk
    tables = [RecordingRow.__table__, EvidenceLockRow.__table__]
    RecordingRow.metadata.create_all(eng, tables=tables)  # type: ignore[arg-type]
    rec = Recorder(
        tiny_disk,
        RecordingIndex(lambda: eng, "full"),
        retention_every_s=3600,
        on_episode=lambda camera, why: episodes.append((camera, why)),
    )
    rec.start()
    plan = RecordPlan(segment_s=2.0, retain_days=1.0)
    try:
        with IngestEngine(node_id="full", stall_s=2.0, recorder=rec) as e:
            url = port_and_fleet.url("/sim/vtest-360p/w2")
            e.add(StreamSpec("full", url, sampling="keyframes", recording=plan))
            h = wait_for(e, "full", lambda h: "recording_failed" in h.quality_issues, 90)
            assert h.reason == "recording stopped: No space left on device"
            frames, decoded = h.frames_total, h.frames_decoded
            wait_for(e, "full", lambda h: h.frames_total >= frames + 75, 15)  # live goes on
            wait_for(e, "full", lambda h: h.frames_decoded > decoded, 15)  # analytics too
            time.sleep(3.0)  # ~6 retries of the full disk
            assert episodes == [("full", "No space left on device")]
            assert rec.failures > 1  # tried again and again, told once
            for segment in tiny_disk.rglob("*.mp4"):  # an operator makes room
                segment.unlink()
            wait_for(e, "full", lambda h: "recording_failed" not in h.quality_issues, 60)
            assert episodes[:2] == [("full", "No space left on device"), ("full", None)]
            # It fills again later: each episode told once, stopped and back in turn.
            assert all((a[1] is None) != (b[1] is None) for a, b in pairwise(episodes))
    finally:
        rec.stop()
        eng.dispose()
