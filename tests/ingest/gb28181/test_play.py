"""Live video from a GB/T 28181 device: SIPp registers as the device, answers the platform's
INVITE (100, 180, 200 with SDP naming its sending port and the SSRC), takes the ACK and, in
the call, starts a sender streaming real footage as PS over RTP to the offered port (UDP, or
TCP passive with RFC 4571 framing); the service's `GbSource` yields access units that decode
with PyAV and play as fMP4, and its BYE ends the call. A channel that never answers is an
error naming the device and the channel."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
import redis.asyncio

from camera.fmp4 import Fmp4Writer
from camera.gb28181.sip_message import SipRequest, SipResponse
from camera.gb28181.source import GbPlayError, GbSource
from camera.gb28181.transport import Peer
from camera.rtsp.depacketize import AccessUnit
from ingest.gb28181.play import InProcessSignalling
from ingest.gb28181.service import Gb28181Service
from sharpeye.registry.gb28181 import Gb28181Config
from tests.ingest.gb28181.conftest import PASSWORD_ENV, PyDevice, until
from tests.ingest.gb28181.sipp import DEVICE_ID, DOMAIN, PASSWORD, PLATFORM_ID, start_sipp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHANNEL_ID = "34020000001310000001"
CLIP = Path("var/footage/vtest-360p.mkv").resolve()
SENDER = Path(__file__).parents[2] / "camera" / "gb28181" / "ps_sender.py"
ROOT = Path(__file__).parents[3]


def play_config() -> Gb28181Config:
    # A keepalive interval longer than the test: the playing device needs to send none.
    return Gb28181Config.model_validate(
        {
            "platform_id": PLATFORM_ID,
            "listen": {"host": "127.0.0.1", "port": 0},
            "keepalive_interval_s": 60,
            "device_password": {"password_env": PASSWORD_ENV},
            "devices": [{"id": DEVICE_ID, "name": "East NVR"}],
        }
    )


@pytest.fixture
async def play_service(
    bus: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Gb28181Service]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    svc = Gb28181Service(play_config(), bus, timer_f=4.0)
    await svc.start()
    yield svc
    await svc.stop()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read(source: GbSource, frames: int) -> list[AccessUnit]:
    """On a thread, as a reader runs it: open (INVITE), read `frames` units, close (BYE)."""
    units: list[AccessUnit] = []
    source.open()
    try:
        for au in source.units(lambda: False):
            if au is not None:
                units.append(au)
                if len(units) == frames:
                    break
    finally:
        source.close()
    return units


@pytest.mark.parametrize("media", ["udp", "tcp"])
async def test_sipp_device_plays_ps_over_rtp(
    play_service: Gb28181Service, tmp_path: Path, media: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.gb28181.play")
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    sender = f"{sys.executable} {SENDER} --clip {CLIP} --frames 200 --speed 4"
    variables = {
        "hold_ms": "30000",
        "src_port": str(free_udp_port()),
        "mproto": "RTP/AVP" if media == "udp" else "TCP/RTP/AVP",
        "setup": "sendonly" if media == "udp" else "setup:active",
        "mt": media,
        "sender": f"cd {ROOT} && PYTHONPATH={ROOT} {sender}",
    }
    sipp = await start_sipp(
        "play_device.xml", play_service.port, tmp_path, variables=variables, ooc="play_answer.xml"
    )
    try:

        async def registered() -> bool | None:
            session = play_service.sessions.get(DEVICE_ID)
            return True if session is not None and session.catalog_received == 1 else None

        await until(registered, "the device registered with its catalog")
        signalling = InProcessSignalling(play_service.player, asyncio.get_running_loop())
        source = GbSource(
            DEVICE_ID, CHANNEL_ID, signalling, transport="udp" if media == "udp" else "tcp"
        )
        units = await asyncio.to_thread(read, source, 120)

        handle = source.handle
        assert handle is not None
        assert str(handle.answer.ssrc).zfill(10)[:6] == "0" + DOMAIN[3:8]  # y=: live, domain
        assert handle.answer.transport == media
        assert handle.ended.is_set() and play_service.player.dialogs == {}
        byes = [r.getMessage() for r in caplog.records if "BYE to device" in r.getMessage()]
        assert byes == [
            f"gb28181: BYE to device {DEVICE_ID} channel {CHANNEL_ID} "
            "(stream no longer wanted): 200"
        ]  # SIPp took it in the call
        assert len(units) == 120 and source.frames_total == 120
        assert source.keyframes_total >= 2 and source.keyframe_interval_s == pytest.approx(2.0)
        assert source.stream_errors == 0 and source.codec == "h264"

        ctx = av.CodecContext.create("h264", "r")
        pictures = [f for au in units for f in ctx.decode(av.Packet(au.data))]
        assert len(pictures) >= 118 and (pictures[0].width, pictures[0].height) == (640, 360)
        path = tmp_path / "gb.mp4"
        with Fmp4Writer(path, "h264") as writer:
            for au in units:
                writer.write(au)
        with av.open(str(path)) as played:
            assert sum(1 for _ in played.decode(video=0)) == 120
    finally:
        sipp.stop()
        _rc, errors = await sipp.finish(5)
    assert "BYE" not in errors, errors  # the device took our BYE as a call it knew


class SilentDevice(PyDevice):
    """Registers, answers the catalog query, and never answers an INVITE."""

    async def _answer(self, request: SipRequest, peer: Peer) -> SipResponse:
        if request.method == "INVITE":
            await asyncio.sleep(3600)
        return await super()._answer(request, peer)


async def test_silent_channel_is_an_error_naming_it(play_service: Gb28181Service) -> None:
    async with SilentDevice(play_service.port) as device:
        assert (await device.register()).status == 200
        signalling = InProcessSignalling(play_service.player, asyncio.get_running_loop())
        source = GbSource(DEVICE_ID, CHANNEL_ID, signalling, answer_timeout_s=1.5)
        with pytest.raises(GbPlayError) as raised:
            await asyncio.to_thread(source.open)
        assert str(raised.value) == (
            f"device {DEVICE_ID} channel {CHANNEL_ID}: no answer to the INVITE in 1.5 s"
        )
        # Not registered at all: refused before any INVITE.
        other = GbSource("34020000001320000099", CHANNEL_ID, signalling, answer_timeout_s=1)
        with pytest.raises(GbPlayError, match=r"34020000001320000099 .*not registered"):
            await asyncio.to_thread(other.open)
