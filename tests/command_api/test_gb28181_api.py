"""`GET /api/gb28181/devices` against real peers on 127.0.0.1: SIPp as a GB/T 28181 device
registers (Digest) to `sharpeye gb28181` running as its own process on the tests' Redis,
answers its Catalog, DeviceInfo and DeviceStatus queries (GB2312 bodies with GBK names, as
Dahua and Hikvision send them) and keeps alive; the API (its real lifespan, harness.py)
reads what the service stored.

Shown: the device's info and status fields, its keepalive age growing and reset by the next
keepalive, channels with the registry cameras they play as, an on-demand query answered
again, a channel played by a relay's call listed as a stream open (holder, since) and gone
after its BYE, the CLI's table of the same within 100 columns; never a password or Digest
material; each department sees only the channels of its own cameras, another's device is a
404, administrators see all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from camera.gb28181.invite import MediaOffer
from camera.gb28181.signalling import RedisSignalling
from tests.command_api.harness import Harness, harness
from tests.ingest.gb28181.conftest import PASSWORD_ENV, until
from tests.ingest.gb28181.sipp import DEVICE_ID, PASSWORD, PLATFORM_ID, Sipp, free_port, start_sipp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EAST, SOUTH = "34020000001310000001", "34020000001310000002"
DEVICE = f"/api/gb28181/devices/{DEVICE_ID}"
# What no answer may hold: the device's password, and any trace of the Digest exchange.
SECRETS = (PASSWORD, "nonce", "Digest", "response=", PASSWORD_ENV)


@dataclass
class World:
    api: Harness
    sip_port: int
    env: dict[str, str]
    service: asyncio.subprocess.Process
    logs: Path

    async def get(self, user: str, path: str = "/api/gb28181/devices") -> httpx.Response:
        r = await self.api.client.get(path, headers=await self.api.login(user))
        for secret in SECRETS:
            assert secret not in r.text, f"{secret!r} in the answer to {user}: {r.text}"
        return r

    async def device(self, user: str = "admin") -> dict[str, Any]:
        r = await self.get(user, DEVICE)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def _registry(path: Path, sip_port: int) -> None:
    """The demo registry with a gb28181: section (the SIPp device allowed, 5 s keepalives)
    and the device's two channels as cameras of two departments: police and fisheries."""
    registry = yaml.safe_load(path.read_text(encoding="utf-8"))
    registry["gb28181"] = {
        "platform_id": PLATFORM_ID,
        "listen": {"host": "127.0.0.1", "port": sip_port},
        "keepalive_interval_s": 5,
        "device_password": {"password_env": PASSWORD_ENV},
        "devices": [{"id": DEVICE_ID, "name": "东门 NVR"}],
    }
    for camera_id, department, channel in (
        ("gb-east-gate", "police", EAST),
        ("gb-south-car-park", "fisheries", SOUTH),
    ):
        registry["cameras"].append(
            {
                "id": camera_id,
                "name": f"{camera_id} (GB)",
                "department": department,
                "location": {"lat": 31.8, "lon": 117.2},
                "streams": {"main": f"gb28181://{DEVICE_ID}/{channel}"},
            }
        )
    path.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")


async def _serving(service: asyncio.subprocess.Process) -> None:
    """Until `sharpeye gb28181` says it serves (its log line), or fail with its output."""
    assert service.stdout is not None
    seen: list[str] = []
    while True:
        line = (await service.stdout.readline()).decode(errors="replace")
        if not line:
            raise AssertionError("sharpeye gb28181 exited:\n" + "".join(seen))
        seen.append(line)
        if "serving" in line:
            return


@pytest.fixture
async def world(tmp_path: Path, redis_url: str) -> AsyncIterator[World]:
    async with harness(tmp_path, redis_url, start_services=False) as api:
        registry = tmp_path / "camera_registry.yaml"
        sip_port = free_port()
        _registry(registry, sip_port)
        holder = api.runtime.registry
        await api.wait_for(
            lambda: "gb-east-gate" in holder.registry.cameras_by_id, "the GB registry", 60
        )
        env = os.environ | {
            "REDIS_URL": redis_url,
            "SHARPEYE_REGISTRY": str(registry),
            "SHARPEYE_DATA_DIR": str(tmp_path / "data"),
            "SHARPEYE_LOG_FORMAT": "text",
            PASSWORD_ENV: PASSWORD,
        }
        service = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sharpeye.cli",
            "gb28181",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await asyncio.wait_for(_serving(service), 90)  # a hang guard on a loaded machine
            yield World(api, sip_port, env, service, tmp_path / "sipp")
        finally:
            if service.returncode is None:
                service.terminate()
            await asyncio.wait_for(service.wait(), 30)


async def _sipp(world: World, scenario: str, **options: Any) -> Sipp:
    return await start_sipp(scenario, world.sip_port, world.logs, **options)


def _status_cli(world: World) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sharpeye.cli", "gb28181", "status"],
        env=world.env | {"COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_device_info_keepalive_age_and_scope(world: World) -> None:
    # Keepalives 3 s apart for as long as the test runs (the service's interval is 5 s).
    sipp = await _sipp(
        world,
        "keepalive_device.xml",
        ooc="catalog.xml",
        variables={"ka_gap_ms": "3000"},
        timeout_s=240,
    )
    try:

        async def answered() -> dict[str, Any] | None:
            r = await world.get("admin", DEVICE)
            if r.status_code != 200:
                return None
            body: dict[str, Any] = r.json()
            done = body["info"] and body["status"] and body["catalog_received"] == 2
            return body if done else None

        device = await until(answered, "the device with its catalog, info and status", 60)
        assert (device["name"], device["state"], device["transport"]) == (
            "东门 NVR",
            "online",
            "UDP",
        )
        assert device["address"].startswith("127.0.0.1:")
        info = device["info"]
        assert (info["manufacturer"], info["model"], info["channels"]) == (
            "Dahua",
            "DH-NVR4208-8P-4KS2",
            2,
        )
        assert (info["device_name"], info["firmware"]) == (
            "东门硬盘录像机·堃",
            "4.001.0000000.2.R,build:2022-03-15",
        )
        status = device["status"]
        assert (status["online"], status["status_ok"], status["encode"], status["record"]) == (
            True,
            True,
            True,
            False,
        )
        assert [(a["alarm_id"], a["duty"]) for a in status["alarms"]] == [
            ("34020000001340000001", "OFFDUTY"),
            ("34020000001340000002", "ALARM"),
        ]
        assert {
            c["channel_id"]: (c["name"], c["status"], c["camera_id"]) for c in device["channels"]
        } == {
            EAST: ("东门入口·堃", "ON", "gb-east-gate"),
            SOUTH: ("南停车场镕", "OFF", "gb-south-car-park"),
        }
        assert device["streams"] == []

        # The keepalive age grows between keepalives (two reads 1 s apart with no keepalive
        # between them), and the next keepalive resets it.
        async def kept_alive() -> bool | None:
            return True if (await world.device())["last_keepalive"] is not None else None

        await until(kept_alive, "the first keepalive", 15)
        for _ in range(3):
            first = await world.device()
            await asyncio.sleep(1.0)
            peak = await world.device()
            if peak["last_keepalive"] == first["last_keepalive"]:
                break
        assert peak["last_keepalive"] == first["last_keepalive"], "keepalives 3 s apart"
        assert peak["keepalive_age_s"] >= first["keepalive_age_s"] + 0.9

        async def next_keepalive() -> dict[str, Any] | None:
            now = await world.device()
            return now if now["last_keepalive"] > peak["last_keepalive"] else None

        fresh = await until(next_keepalive, "the next keepalive", 15)
        assert fresh["keepalive_age_s"] < peak["keepalive_age_s"]

        # On demand: the service asks again, and the answers are newer.
        asked = await world.api.client.post(
            DEVICE + "/query", headers=await world.api.login("admin")
        )
        assert asked.status_code == 202, asked.text
        before = status["received_at"]

        async def requeried() -> dict[str, Any] | None:
            now = await world.device()
            return now if now["status"]["received_at"] > before else None

        await until(requeried, "the DeviceStatus answer to the on-demand query", 20)
        refused = await world.api.client.post(
            DEVICE + "/query", headers=await world.api.login("fisheries")
        )
        assert refused.status_code == 403

        # Fisheries sees the device through its car park camera: that channel only, without
        # where the device is or its alarm inputs.
        r = await world.get("fisheries")
        assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
        (theirs,) = r.json()
        assert [c["camera_id"] for c in theirs["channels"]] == ["gb-south-car-park"]
        assert (theirs["address"], theirs["transport"]) == (None, None)
        assert theirs["status"]["alarms"] == [] and theirs["info"]["model"] == "DH-NVR4208-8P-4KS2"
        assert (await world.get("fisheries", DEVICE)).json()["channels"] == theirs["channels"]
        # Police sees the east gate's; tourism nothing, and the device is as if absent.
        police = (await world.get("police-wall")).json()
        assert [c["channel_id"] for c in police[0]["channels"]] == [EAST]
        assert (await world.get("tourism")).json() == []
        assert (await world.get("tourism", DEVICE)).status_code == 404
        assert (
            await world.get("admin", "/api/gb28181/devices/34020000001320000009")
        ).status_code == 404

        shown = await asyncio.to_thread(_status_cli, world)
        assert max(len(line) for line in shown.splitlines()) <= 100
        for text in (
            DEVICE_ID,
            "东门 NVR",
            "Dahua DH-NVR4208-8P-4KS2",
            "alarms 1/2",
            "gb-east-gate",
        ):
            assert text in shown, shown
        assert PASSWORD not in shown
    finally:
        sipp.stop()


async def test_a_channel_playing_is_a_stream_open(world: World, redis_url: str) -> None:
    # The device answers the INVITE; no video needed to hold the call, so no sender runs.
    sipp = await _sipp(
        world,
        "play_device.xml",
        ooc="play_answer.xml",
        variables={
            "hold_ms": "90000",
            "src_port": str(free_port()),
            "mproto": "RTP/AVP",
            "setup": "sendonly",
            "mt": "udp",
            "sender": "true",
        },
        timeout_s=150,
    )
    sync = redis.Redis.from_url(redis_url)
    signalling = RedisSignalling(sync, "relay-test-0", role="relay")
    try:

        async def registered() -> dict[str, Any] | None:
            r = await world.get("admin", DEVICE)
            body: dict[str, Any] | None = r.json() if r.status_code == 200 else None
            return body if body and body["info"] and body["status"] else None

        device = await until(registered, "the device registered with its info", 60)
        assert (device["info"]["manufacturer"], device["info"]["device_name"]) == (
            "Hikvision",
            "东门枪机镕",
        )
        assert device["status"]["record"] is True and device["status"]["alarms"] == []
        offer = MediaOffer("udp", "127.0.0.1", free_port())
        opened = time.time()
        handle = await asyncio.to_thread(signalling.start, DEVICE_ID, EAST, offer, 15)

        async def keep() -> None:  # as the relay's reader does while it plays
            while True:
                await asyncio.to_thread(signalling.keep, handle)
                await asyncio.sleep(1.0)

        keeper = asyncio.create_task(keep())
        try:
            device = await world.device()
            (stream,) = device["streams"]
            assert (stream["channel_id"], stream["node_id"], stream["role"]) == (
                EAST,
                "relay-test-0",
                "relay",
            )
            assert opened - 1 <= stream["since"] <= time.time() and stream["open_s"] >= 0
            (east,) = device["channels"]
            assert east["streams"] == [stream]
            # Police (the east gate is theirs) sees it; fisheries sees the device (its car
            # park is on it) but neither the channel nor its stream.
            (police,) = (await world.get("police-wall")).json()
            assert [s["node_id"] for s in police["streams"]] == ["relay-test-0"]
            (fisheries,) = (await world.get("fisheries")).json()
            assert (fisheries["channels"], fisheries["streams"]) == ([], [])
            shown = await asyncio.to_thread(_status_cli, world)
            assert "relay relay-test-0" in shown and "streams 1" in shown, shown
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await asyncio.to_thread(signalling.stop, handle)

        async def closed() -> bool | None:
            return True if (await world.device())["streams"] == [] else None

        await until(closed, "the stream gone after the BYE", 20)
    finally:
        sync.close()
        sipp.stop()
