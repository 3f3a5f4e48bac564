"""The ingest worker end to end: registry → real fleet → health in real Redis, live edits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
import yaml

from ingest.leases import owner_of
from ingest.worker import run
from sharpeye.bus.health import read_health
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from tests.fixtures_fleet import Fleet

pytestmark = pytest.mark.integration


def camera(cid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid.title(),
        "department": "police",
        "location": {"lat": 31.8, "lon": 117.2},
        "streams": {"main": url},
        **extra,
    }


def write_registry(path: Path, cameras: list[dict[str, Any]]) -> None:
    doc = {
        "version": 1,
        "district": {"id": "t", "name": "Test"},
        "departments": [{"id": "police", "name": "Police", "kind": "police"}],
        "cameras": cameras,
        # An alarm rule for intrusions (their events get clips: ingest cuts them only for
        # event types a rule names).
        "alarm_rules": [
            {
                "id": "intrusion",
                "name": "Intrusion",
                "event_types": ["intrusion"],
                "departments": ["police"],
            }
        ],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, allow_unicode=True))
    tmp.replace(path)  # atomic, as an editor's save would be


@pytest.fixture
async def worker(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet
) -> AsyncIterator[tuple[Path, Fleet, redis.asyncio.Redis]]:
    fleet = port_and_fleet
    path = tmp_path / "registry.yaml"
    write_registry(
        path,
        [
            camera("w0", fleet.url("/sim/vtest-360p/w0"), analytics={"sampling": {"mode": "off"}}),
            camera(
                "w1",
                fleet.url("/sim/vtest-360p/w1"),
                analytics={"sampling": {"mode": "fps", "fps": 2}},
            ),
        ],
    )
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path, REDIS_URL=redis_url, SHARPEYE_NODE_ID="node-t"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield path, fleet, r
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await r.aclose()


async def until(
    r: redis.asyncio.Redis, pred: Callable[[dict[str, CameraHealth]], bool], within: float
) -> dict[str, CameraHealth]:
    deadline = time.monotonic() + within
    health = await read_health(r)
    while time.monotonic() < deadline:
        health = await read_health(r)
        if pred(health):
            return health
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached in {within} s: {health}")


def online(h: dict[str, CameraHealth], *ids: str) -> bool:
    return all(i in h and h[i].state == CameraState.ONLINE for i in ids)


async def test_health_published_and_registry_edits_applied_live(
    worker: tuple[Path, Fleet, redis.asyncio.Redis],
) -> None:
    path, fleet, r = worker
    h = await until(r, lambda h: online(h, "w0", "w1"), 30)
    assert h["w0"].node_id == "node-t"
    assert h["w0"].frames_decoded == 0  # no analytics asked: nothing decoded
    h = await until(r, lambda h: h["w1"].frames_decoded > 0, 15)
    before = h["w0"].frames_total

    # Add a camera, remove one: applied without restarting the worker.
    write_registry(
        path,
        [
            camera("w0", fleet.url("/sim/vtest-360p/w0"), analytics={"sampling": {"mode": "off"}}),
            camera("w2", fleet.url("/sim/vtest-360p/w2")),
        ],
    )
    h = await until(r, lambda h: online(h, "w0", "w2") and "w1" not in h, 30)
    # Unchanged cameras are not disturbed: the same session, frames counted since the start.
    assert h["w0"].reconnects == 0 and h["w0"].frames_total > before

    # An invalid edit is refused; the cameras keep running on the last good registry.
    path.write_text(path.read_text().replace("department: police", "department: nobody", 1))
    await asyncio.sleep(3)
    h = await until(r, lambda h: online(h, "w0", "w2"), 5)
    assert "w1" not in h


async def test_disabled_and_unresolvable_cameras_are_reported_not_fatal(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = port_and_fleet
    monkeypatch.delenv("NO_SUCH_PASSWORD_VAR", raising=False)
    path = tmp_path / "registry.yaml"
    write_registry(
        path,
        [
            camera("ok", fleet.url("/sim/vtest-360p/w3")),
            camera("off", fleet.url("/sim/vtest-360p/w3"), enabled=False),
            camera(
                "nosecret",
                fleet.url("/sim/vtest-360p/w3"),
                credentials={"username": "u", "password_env": "NO_SUCH_PASSWORD_VAR"},
            ),
        ],
    )
    settings = Settings(SHARPEYE_REGISTRY=path, REDIS_URL=redis_url)  # type: ignore[call-arg]
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        h = await until(r, lambda h: online(h, "ok") and "nosecret" in h and "off" in h, 30)
        assert h["off"].state == CameraState.DISABLED
        assert h["nosecret"].state == CameraState.OFFLINE
        assert "NO_SUCH_PASSWORD_VAR" in (h["nosecret"].last_error or "")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await r.aclose()
    # On shutdown the worker marks its cameras offline at once.
    r = redis.asyncio.Redis.from_url(redis_url)
    h = await read_health(r)
    await r.aclose()
    assert h["ok"].state == CameraState.OFFLINE


async def spawn_worker(registry: Path, redis_url: str, node_id: str) -> asyncio.subprocess.Process:
    """A `sharpeye ingest` worker in its own process (to be killed or frozen by the test)."""
    env = {
        **os.environ,
        "SHARPEYE_REGISTRY": str(registry),
        "REDIS_URL": redis_url,
        "SHARPEYE_NODE_ID": node_id,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sharpeye.cli",
        "ingest",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_two_workers_share_the_fleet_and_take_over_from_a_killed_one(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet
) -> None:
    fleet = port_and_fleet
    path = tmp_path / "registry.yaml"
    write_registry(path, [camera(f"s{i}", fleet.url(f"/sim/vtest-360p/w{i}")) for i in range(4)])
    node_a = await spawn_worker(path, redis_url, "node-a")
    r = redis.asyncio.Redis.from_url(redis_url)
    ids = [f"s{i}" for i in range(4)]
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path, REDIS_URL=redis_url, SHARPEYE_NODE_ID="node-b"
    )
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        await until(r, lambda h: online(h, *ids), 40)  # node-a alone holds all four
        task = asyncio.create_task(run(settings, load_registry(path), stop))
        # Each camera goes to its rendezvous winner (here 3 and 1: hashing evens out over
        # many cameras, tests/ingest/test_leases.py measures 400).
        winners = {i: owner_of(i, ["node-a", "node-b"]) for i in ids}
        assert set(winners.values()) == {"node-a", "node-b"}
        h = await until(
            r,
            lambda h: online(h, *ids) and all(h[i].node_id == winners[i] for i in ids),
            40,
        )
        assert all(h[i].fence is not None for i in ids)  # reports carry their lease token
        node_a.kill()  # a crash: no lease released, no last health report
        await node_a.wait()
        await until(r, lambda h: online(h, *ids) and all(h[i].node_id == "node-b" for i in ids), 40)
    finally:
        if node_a.returncode is None:
            node_a.kill()
            await node_a.wait()
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 15)
        await r.aclose()


async def test_a_frozen_worker_never_overwrites_the_new_owner(
    tmp_path: Path, redis_url: str, port_and_fleet: Fleet
) -> None:
    """node-a is frozen (SIGSTOP) past its leases: node-b takes its cameras under higher
    fencing tokens. Resumed, node-a never gets a report about them stored under its old
    token; it takes back the cameras it wins under new tokens (a rendezvous rebalance)."""
    fleet = port_and_fleet
    path = tmp_path / "registry.yaml"
    ids = [f"f{i}" for i in range(4)]
    off = {"sampling": {"mode": "off"}}
    urls = [fleet.url(f"/sim/vtest-360p/w{n}") for n in range(4)]  # the fleet's mounts
    write_registry(path, [camera(i, u, analytics=off) for i, u in zip(ids, urls, strict=True)])
    winners = {i: owner_of(i, ["node-a", "node-b"]) for i in ids}
    a_wins = [i for i in ids if winners[i] == "node-a"]
    assert a_wins and len(a_wins) < len(ids)
    node_a = await spawn_worker(path, redis_url, "node-a")
    settings = Settings(  # type: ignore[call-arg]
        SHARPEYE_REGISTRY=path, REDIS_URL=redis_url, SHARPEYE_NODE_ID="node-b"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, load_registry(path), stop))
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        settled = lambda h: online(h, *ids) and all(h[i].node_id == winners[i] for i in ids)  # noqa: E731
        h = await until(r, settled, 60)
        before = {i: h[i].fence for i in a_wins}
        node_a.send_signal(signal.SIGSTOP)
        h = await until(r, lambda h: all(h[i].node_id == "node-b" for i in a_wins), 40)
        taken = {i: h[i].fence for i in a_wins}
        assert all((taken[i] or 0) > (before[i] or 0) for i in a_wins), (before, taken)
        node_a.send_signal(signal.SIGCONT)
        # Watch every stored report until node-a has its cameras back: the token per camera
        # never goes down (no report from node-a's old leases lands after node-b's).
        highest = dict(taken)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            h = await read_health(r)
            for i in a_wins:
                assert (h[i].fence or 0) >= (highest[i] or 0), (i, h[i], highest[i])
                highest[i] = h[i].fence
            if all(h[i].node_id == "node-a" and online(h, i) for i in a_wins):
                break
            await asyncio.sleep(0.05)
        assert all(h[i].node_id == "node-a" for i in a_wins), h
        assert all((h[i].fence or 0) > (taken[i] or 0) for i in a_wins)  # taken back anew
    finally:
        if node_a.returncode is None:
            node_a.send_signal(signal.SIGCONT)
            node_a.kill()
            await node_a.wait()
        stop.set()
        await asyncio.wait_for(task, 15)
        await r.aclose()
