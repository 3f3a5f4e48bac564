"""Pytest plugin: a GB/T 28181 device playing real footage, for every service's tests that
play it (ingest, the relay, the wall).

- `gb_service`: `sharpeye gb28181`'s registrar and player in-process on a free port of
  127.0.0.1, on the tests' Redis, with its Redis play-request consumer (`RemotePlay`), as
  ingest workers and relays reach it in production;
- `playing_device(svc, logs, frames=, hold_s=)`: SIPp registering as the device (Digest),
  answering each INVITE by starting the PS-over-RTP sender on the offered port (the
  footage at its own 25 fps), and each BYE with a 200; SIPp's own trace of every message
  it sent and received is `PlayingDevice.messages()`;
- `gb_registry(camera_id)`: registry YAML with that camera on the device's channel.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio
import yaml

from ingest.gb28181.remote import RemotePlay
from ingest.gb28181.service import Gb28181Service
from tests.ingest.gb28181.conftest import PASSWORD_ENV, until
from tests.ingest.gb28181.sipp import DEVICE_ID, PASSWORD, Sipp, start_sipp
from tests.ingest.gb28181.test_play import (
    CHANNEL_ID,
    CLIP,
    ROOT,
    SENDER,
    free_udp_port,
    play_config,
)

GB_URL = f"gb28181://{DEVICE_ID}/{CHANNEL_ID}"


@pytest.fixture
async def gb_service(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Gb28181Service, RemotePlay]]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    r = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    svc = Gb28181Service(play_config(), r, timer_f=4.0)
    await svc.start()
    remote = RemotePlay(svc.player, r)
    task = asyncio.create_task(remote.run())
    yield svc, remote
    task.cancel()
    await svc.stop()
    await r.aclose()


def probe_registered(svc: Gb28181Service) -> Callable[[], Awaitable[bool | None]]:
    async def probe() -> bool | None:
        return True if DEVICE_ID in svc.sessions else None

    return probe


@dataclass
class PlayingDevice:
    sipp: Sipp
    logs: Path

    def messages(self) -> str:
        """SIPp's trace of what it sent and received (`-trace_msg`), so far."""
        path = self.logs / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def byes_answered(self) -> int:
        """BYEs SIPp received from the platform and answered 200 (its own trace's word)."""
        text = self.messages()
        received = len(re.findall(r"^BYE sip:", text, re.MULTILINE))
        answered = len(re.findall(r"^CSeq: *\d+ BYE", text, re.MULTILINE | re.IGNORECASE))
        # Each BYE's CSeq line appears twice: in the request and in our 200 to it.
        return min(received, answered // 2)

    async def stop(self) -> None:
        self.sipp.stop()
        await self.sipp.finish(5)


async def playing_device(
    svc: Gb28181Service, logs: Path, *, frames: int = 1500, hold_s: float = 120
) -> PlayingDevice:
    """SIPp as the device, registered (waited for); each INVITE streams `frames` of the
    footage in real time; it unregisters after `hold_s`."""
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    sender = f"{sys.executable} {SENDER} --clip {CLIP} --frames {frames} --speed 1"
    variables = {
        "hold_ms": str(int(hold_s * 1000)),
        "src_port": str(free_udp_port()),
        "mproto": "RTP/AVP",
        "setup": "sendonly",
        "mt": "udp",
        "sender": f"cd {ROOT} && PYTHONPATH={ROOT} {sender}",
    }
    sipp = await start_sipp(
        "play_device.xml",
        svc.port,
        logs,
        variables=variables,
        ooc="play_answer.xml",
        timeout_s=int(hold_s) + 30,
        trace_messages=True,
    )
    device = PlayingDevice(sipp, logs)
    try:
        await until(probe_registered(svc), "the device registered", 30)
    except BaseException:
        await device.stop()
        raise
    return device


def gb_registry(camera_id: str, department: str = "police", sip_port: int = 0) -> str:
    """A registry of one camera on the device's channel (the device in `gb28181.devices`),
    the service listening on `sip_port` when it runs as `sharpeye gb28181`."""
    gb = play_config().model_dump(mode="json", exclude={"realm"})
    gb["listen"]["port"] = sip_port
    return yaml.safe_dump(
        {
            "version": 1,
            "district": {"id": "t", "name": "Test"},
            "departments": [{"id": department, "name": "Police", "kind": "police"}],
            "cameras": [
                {
                    "id": camera_id,
                    "name": "East gate (GB)",
                    "department": department,
                    "location": {"lat": 31.8, "lon": 117.2},
                    "streams": {"main": GB_URL},
                }
            ],
            "gb28181": gb,
        },
        allow_unicode=True,
    )
