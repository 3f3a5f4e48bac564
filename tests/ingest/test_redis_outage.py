"""Redis goes away and comes back: the ingest worker, its leases and its analytics publisher
ride through it (issue 11: no crash path may leave a dead worker).

Each test runs its own redis-server (not the session's), killed with SIGKILL and started
again on the same port without persistence, as a crashed and restarted Redis would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.asyncio

from analytics.results import FrameResult
from ingest.analytics_host import HoldingPublisher
from ingest.leases import Leases, lease_holder, owner_of
from ingest.worker import run
from sharpeye.bus.embedded import EmbeddedRedis, free_port
from sharpeye.bus.fencing import lease_key
from sharpeye.contracts.detections import FrameDetections
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from tests.fixtures_fleet import Fleet
from tests.ingest.test_worker import camera, online, until, write_registry

pytestmark = pytest.mark.integration


class Restartable:
    """A redis-server on a fixed port that a test can kill and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)  # the same across restarts, as the port
        self.server = self._new()

    def _new(self) -> EmbeddedRedis:
        return EmbeddedRedis(
            self.data_dir,
            port=self.port,
            write_url_file=False,
            persist=False,
            password=self.password,
        )

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        assert self.server.pid is not None
        os.kill(self.server.pid, signal.SIGKILL)
        self.server.stop()  # reaps it
        self.server = self._new()


@pytest.fixture
def outage_redis(tmp_path: Path) -> Iterator[Restartable]:
    server = Restartable(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.server.stop()


async def test_worker_keeps_its_camera_through_a_redis_outage(
    tmp_path: Path,
    outage_redis: Restartable,
    port_and_fleet: Fleet,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "registry.yaml"
    url = port_and_fleet.url("/sim/vtest-360p/w3")
    write_registry(path, [camera("o1", url, analytics={"sampling": {"mode": "off"}})])
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path, REDIS_URL=outage_redis.url, SHARPEYE_NODE_ID="node-o"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    r = redis.asyncio.Redis.from_url(outage_redis.url, decode_responses=True)
    try:
        h = await until(r, lambda h: online(h, "o1"), 30)
        before = h["o1"]

        outage_redis.kill()
        await asyncio.sleep(10)  # longer than the lease TTL: our lease is gone with Redis
        assert not task.done(), task.exception() if task.done() else None

        outage_redis.start()  # empty: no lease, no health, no heartbeat
        back = time.time()
        await r.aclose()  # its pooled connection died with the old server
        r = redis.asyncio.Redis.from_url(outage_redis.url, decode_responses=True)
        h = await until(r, lambda h: online(h, "o1") and h["o1"].updated_at > back, 20)
        after = h["o1"]
        # The same RTSP session read through the outage: no reconnect, frames kept counting.
        assert after.reconnects == before.reconnects
        assert after.frames_total > before.frames_total
        holder = await lease_holder(r, "o1")
        assert holder is not None and holder[0] == "node-o"  # the lease was taken back
        assert not task.done()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await r.aclose()

    ours = [rec for rec in caplog.records if rec.name.startswith("sharpeye.ingest")]
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
    down = [rec for rec in ours if "Redis unreachable" in rec.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING, down
    assert "failed" in down[0].getMessage()
    assert len([rec for rec in ours if "Redis answers again" in rec.getMessage()]) == 1


async def test_a_lease_lost_with_redis_is_taken_back_unless_another_worker_has_it(
    outage_redis: Restartable,
) -> None:
    r = redis.asyncio.Redis.from_url(outage_redis.url, decode_responses=True)
    try:
        a = Leases(r, "node-a")
        assert await a.sync(["c1", "c2"]) == {"c1", "c2"}
        await r.flushall()  # what a restarted Redis without persistence looks like
        await r.set(lease_key("c2"), "node-b|1")  # a worker that was quicker
        assert await a.sync(["c1", "c2"]) == {"c1"}
        holder = await lease_holder(r, "c1")
        assert holder is not None and holder[0] == "node-a"
    finally:
        await r.aclose()


async def test_leases_lapse_during_an_outage_only_when_another_worker_could_take_over(
    outage_redis: Restartable,
) -> None:
    r = redis.asyncio.Redis.from_url(outage_redis.url, decode_responses=True)
    try:
        alone = Leases(r, "node-a", ttl_s=0.4)
        assert await alone.sync(["c1", "c2"]) == {"c1", "c2"}
        await asyncio.sleep(0.5)  # past the whole TTL: still nobody to take over
        assert alone.lapse() == {"c1", "c2"}

        await r.flushall()
        a = Leases(r, "node-a", ttl_s=0.4)
        b = Leases(r, "node-b", ttl_s=0.4)
        cams = ["c1", "c2", "c3", "c4", "c5", "c6"]
        ours = {c for c in cams if owner_of(c, ["node-a", "node-b"]) == "node-a"}
        assert ours and ours != set(cams)  # both workers win some of these
        await a.sync(cams)
        await b.sync(cams)
        assert await a.sync(cams) == ours  # two live workers: each leases what it wins
        assert a.lapse() == ours  # just renewed: still ours
        await asyncio.sleep(0.25)  # past half the TTL: b may take it soon, give it up now
        assert a.lapse() == set()
        assert a.held == set()
    finally:
        await r.aclose()


def test_analytics_events_are_held_through_an_outage_and_sent_after(
    outage_redis: Restartable, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = redis.Redis.from_url(outage_redis.url, decode_responses=True)
    publisher = HoldingPublisher(client, max_held=3, retry_every_s=0.0)

    def result(n: int) -> FrameResult:
        now = time.time()
        detections = FrameDetections(camera_id="c1", at=now, width=640, height=360)
        event = Event(event_id=f"e{n}", event_type="intrusion", camera_id="c1", occurred_at=now)
        return FrameResult(detections=detections, events=[event])

    try:
        publisher.publish([result(0)])
        outage_redis.kill()
        for n in range(1, 6):  # five results during the outage, three may be held
            publisher.publish([result(n)])
        assert [r.events[0].event_id for r in publisher.held] == ["e3", "e4", "e5"]
        outage_redis.start()
        publisher.publish([])  # the next batch, with no events of its own
        entries = cast(list[tuple[str, dict[str, str]]], client.xrange(EVENTS_STREAM))
        ids = [Event.from_stream_fields(f).event_id for _, f in entries]
        assert ids == ["e3", "e4", "e5"]  # a fresh Redis: e0 went with the old one
        assert not publisher.held
    finally:
        client.close()
    assert not [rec for rec in caplog.records if rec.exc_info], "a traceback was logged"
    messages = [rec.getMessage() for rec in caplog.records]
    assert len([m for m in messages if "Redis unreachable" in m]) == 1
    assert [m for m in messages if "2 results dropped" in m], messages
