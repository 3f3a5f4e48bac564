"""A GB/T 28181 channel as an ingest camera, across processes as in production: the
`sharpeye gb28181` service (in-process here, with its Redis request consumer), a SIPp device
that registers and answers each INVITE by starting the test sender (real footage as PS over
RTP, in real time), and an `IngestEngine` whose `gb28181://` camera asks for the INVITE over
Redis (`RedisSignalling`). The camera reaches ONLINE at the footage's 25 fps with keyframes
decoded; the sender ending is a stall (OFFLINE, a reason), the reader INVITEs again and the
camera is back ONLINE; the device unregistering is OFFLINE with "device ... not registered".
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest
import redis
import redis.asyncio
import yaml

from camera.fmp4 import Fmp4Writer
from camera.gb28181.invite import MediaAnswer, MediaOffer, PlayHandle
from camera.gb28181.playing import parameter_sets
from camera.gb28181.signalling import RedisSignalling
from camera.gb28181.source import GbPlayError
from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from ingest.gb28181.remote import RemotePlay, _Call
from ingest.gb28181.service import Gb28181Service
from ingest.worker import run
from sharpeye.bus.gb28181 import lease_key
from sharpeye.bus.health import read_health
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from tests.fixtures_gb28181 import probe_registered
from tests.ingest.gb28181.conftest import until
from tests.ingest.gb28181.sipp import DEVICE_ID, start_sipp
from tests.ingest.gb28181.test_play import (
    CHANNEL_ID,
    CLIP,
    ROOT,
    SENDER,
    free_udp_port,
    play_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMERA = "east-gate-gb"


async def health_until(
    engine: IngestEngine, ok: Callable[[CameraHealth], bool], what: str, within_s: float = 20
) -> CameraHealth:
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    while True:
        h = engine.health()[CAMERA]
        if ok(h):
            return h
        if not seen or seen[-1] != f"{h.state}: {h.reason}":
            seen.append(f"{h.state}: {h.reason}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; states seen: {seen}")
        await asyncio.sleep(0.1)


async def test_gb28181_camera_online_stall_back_and_unregistered(
    gb_service: tuple[Gb28181Service, RemotePlay], redis_url: str, tmp_path: Path
) -> None:
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    svc, remote = gb_service
    sender = f"{sys.executable} {SENDER} --clip {CLIP} --frames 150 --speed 1"
    variables = {
        "hold_ms": "22000",  # then the device unregisters
        "src_port": str(free_udp_port()),
        "mproto": "RTP/AVP",
        "setup": "sendonly",
        "mt": "udp",
        "sender": f"cd {ROOT} && PYTHONPATH={ROOT} {sender}",
    }
    sipp = await start_sipp(
        "play_device.xml", svc.port, tmp_path, variables=variables, ooc="play_answer.xml"
    )
    sync_redis = redis.Redis.from_url(redis_url)
    engine = IngestEngine(
        "node-gb",
        stall_s=3.0,
        connect_timeout_s=5.0,
        backoff_max_s=1.0,
        clip_seconds=6.0,
        gb_signalling=RedisSignalling(sync_redis, "node-gb"),
    )
    try:
        await until(probe_registered(svc), "the device registered")
        engine.start()
        url = f"gb28181://{DEVICE_ID}/{CHANNEL_ID}"
        engine.add(StreamSpec(CAMERA, url, sampling="keyframes", reader="gb28181"))

        first = await health_until(engine, lambda h: h.state is CameraState.ONLINE, "ONLINE")
        t0 = time.monotonic()
        await asyncio.sleep(3.0)
        h = await health_until(engine, lambda h: h.state is CameraState.ONLINE, "ONLINE")
        # The footage's 25 fps over 3 s (health's own rate is over 1 s: a sender catching up
        # after a stall of this loaded machine makes it jump, so it is checked loosely).
        rate = (h.frames_total - first.frames_total) / (time.monotonic() - t0)
        assert rate == pytest.approx(25, rel=0.15) and 10 < h.fps < 40, (rate, h.fps)
        assert h.reader == "gb28181" and h.codec == "h264" and h.bitrate_kbps > 0
        assert h.frames_decoded >= 2 and (h.width, h.height) == (640, 360)
        assert len(svc.player.dialogs) == 1 and len(remote.calls) == 1
        # Alarm clips take the GB camera's units like any camera's, muxable as they are.
        clip = engine.clip(CAMERA, time.time() - 3, time.time())
        assert clip is not None and clip.codec == "h264" and len(clip.parameter_sets) == 2
        assert clip.units and clip.units[0].keyframe
        with Fmp4Writer(tmp_path / "clip.mp4", "h264", clip.parameter_sets) as writer:
            for au in clip.units:
                writer.write(au)
        with av.open(str(tmp_path / "clip.mp4")) as played:
            assert sum(1 for _ in played.decode(video=0)) == len(clip.units)
        call_id = next(iter(remote.calls))
        assert sync_redis.exists(lease_key(call_id))  # the reader keeps its call

        # 150 frames at 25 fps: the sender ends after 6 s, and the camera stalls.
        h = await health_until(engine, lambda h: h.state is CameraState.OFFLINE, "the stall")
        assert h.reason is not None and "no video for" in h.reason, h.reason
        assert f"device {DEVICE_ID} channel {CHANNEL_ID}" in h.reason
        # The reader BYEs the dead call, INVITEs again; the device's new sender plays.
        h = await health_until(
            engine, lambda h: h.state is CameraState.ONLINE and h.reconnects >= 1, "ONLINE again"
        )
        assert call_id not in remote.calls and call_id not in svc.player.dialogs

        # The device unregisters (hold_ms): its call ends for the reader, with why.
        h = await health_until(
            engine,
            lambda h: h.state is CameraState.OFFLINE and "not registered" in (h.reason or ""),
            "OFFLINE: not registered",
            within_s=30,
        )
        assert h.reason is not None and f"device {DEVICE_ID}" in h.reason, h.reason
    finally:
        await asyncio.to_thread(engine.stop)
        sipp.stop()
        await sipp.finish(5)
        sync_redis.close()
    # The engine's stop BYEd any call it still had: none is left on the service.
    await asyncio.sleep(1.5)
    assert svc.player.dialogs == {}


async def test_lapsed_lease_is_hung_up(
    gb_service: tuple[Gb28181Service, RemotePlay], redis_url: str
) -> None:
    """A worker that died stops refreshing: its call is BYEd (here: a dialog-less stand-in,
    so the stop finds nothing to send) and dropped from the remote calls."""
    remote = gb_service[1]
    handle = PlayHandle(
        "call-x", DEVICE_ID, CHANNEL_ID, MediaAnswer("127.0.0.1", 9, "udp", 96, 1, None)
    )
    remote.calls["call-x"] = _Call(handle, "dead-node")
    r = redis.Redis.from_url(redis_url)
    r.set(lease_key("call-x"), "1", px=300)
    await remote.sweep()
    assert "call-x" in remote.calls  # still leased
    await asyncio.sleep(0.5)
    await remote.sweep()
    assert "call-x" not in remote.calls
    r.close()


def test_parameter_sets_from_a_keyframe() -> None:
    sps, pps, sei, idr = b"\x67\x42\x00\x1e", b"\x68\xce\x38\x80", b"\x06\x05\x01", b"\x65\x88\x84"
    unit = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps + b"\x00\x00\x01" + sei
    unit += b"\x00\x00\x01" + idr
    assert parameter_sets(unit, hevc=False) == [sps, pps]
    vps, hsps = b"\x40\x01\x0c", b"\x42\x01\x01"
    assert parameter_sets(b"\x00\x00\x01" + vps + b"\x00\x00\x01" + hsps, hevc=True) == [vps, hsps]


async def test_worker_plays_a_registry_gb28181_camera(
    gb_service: tuple[Gb28181Service, RemotePlay], redis_url: str, tmp_path: Path
) -> None:
    """The ingest worker (`ingest.worker.run`) with a registry camera on a gb28181:// channel:
    its reader asks the SIP service over Redis, and the camera's health on Redis is ONLINE at
    25 fps with keyframes decoded; the worker stopping BYEs the call."""
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    svc, remote = gb_service
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "district": {"id": "t", "name": "Test"},
                "departments": [{"id": "police", "name": "Police", "kind": "police"}],
                "cameras": [
                    {
                        "id": CAMERA,
                        "name": "East gate (GB)",
                        "department": "police",
                        "location": {"lat": 31.8, "lon": 117.2},
                        "streams": {"main": f"gb28181://{DEVICE_ID}/{CHANNEL_ID}"},
                        "analytics": {"sampling": {"mode": "keyframes"}},
                    }
                ],
                "gb28181": play_config().model_dump(mode="json", exclude={"realm"}),
            }
        )
    )
    sender = f"{sys.executable} {SENDER} --clip {CLIP} --frames 400 --speed 1"
    variables = {
        "hold_ms": "25000",
        "src_port": str(free_udp_port()),
        "mproto": "RTP/AVP",
        "setup": "sendonly",
        "mt": "udp",
        "sender": f"cd {ROOT} && PYTHONPATH={ROOT} {sender}",
    }
    sipp = await start_sipp(
        "play_device.xml", svc.port, tmp_path / "sipp", variables=variables, ooc="play_answer.xml"
    )
    settings = Settings(
        SHARPEYE_REGISTRY=registry,
        REDIS_URL=redis_url,
        SHARPEYE_NODE_ID="node-w",
        SHARPEYE_DATA_DIR=tmp_path / "data",
        SHARPEYE_ANALYTICS=False,  # frames decoded are what this shows (no model here)
    )
    stop = asyncio.Event()
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        await until(probe_registered(svc), "the device registered")
        worker = asyncio.create_task(run(settings, load_registry(registry), stop))

        async def playing() -> CameraHealth | None:
            h = (await read_health(r)).get(CAMERA)
            ok = h is not None and h.state is CameraState.ONLINE and h.frames_decoded >= 2
            return h if ok and h is not None and h.fps > 0 else None

        first = await until(playing, "the worker's camera ONLINE with frames decoded", 30)
        await asyncio.sleep(4.0)
        h = await until(playing, "still ONLINE", 10)
        # Between two published reports, by their own times (published about once a second).
        rate = (h.frames_total - first.frames_total) / (h.updated_at - first.updated_at)
        assert rate == pytest.approx(25, rel=0.2), rate
        assert h.reader == "gb28181" and h.node_id == "node-w" and h.width == 640
        assert len(remote.calls) == 1
        stop.set()
        await asyncio.wait_for(worker, 20)

        async def hung_up() -> bool | None:
            return True if not remote.calls and not svc.player.dialogs else None

        await until(hung_up, "the worker's BYE", 10)
    finally:
        stop.set()
        sipp.stop()
        await sipp.finish(5)
        await r.aclose()


async def test_unregistered_device_is_the_cameras_reason(
    gb_service: tuple[Gb28181Service, RemotePlay], redis_url: str
) -> None:
    """No device registered: the service refuses over Redis, naming device and channel, and
    that is why the camera is OFFLINE; no call is left behind."""
    svc, remote = gb_service
    sync_redis = redis.Redis.from_url(redis_url)
    engine = IngestEngine(
        "node-gb", connect_timeout_s=2.0, gb_signalling=RedisSignalling(sync_redis, "node-gb")
    )
    engine.start()
    try:
        url = f"gb28181://{DEVICE_ID}/{CHANNEL_ID}"
        engine.add(StreamSpec(CAMERA, url, sampling="keyframes", reader="gb28181"))
        h = await health_until(engine, lambda h: h.state is CameraState.OFFLINE, "OFFLINE")
        assert h.reason == f"device {DEVICE_ID} channel {CHANNEL_ID}: the device is not registered"
        assert h.reader == "gb28181" and remote.calls == {} and svc.player.dialogs == {}
    finally:
        await asyncio.to_thread(engine.stop)
        sync_redis.close()


def test_no_service_says_so(redis_url: str) -> None:
    """Nobody consumes the requests (`sharpeye gb28181` not running): the error says so."""
    sync_redis = redis.Redis.from_url(redis_url)
    signalling = RedisSignalling(sync_redis, "node-gb")
    with pytest.raises(GbPlayError) as raised:
        signalling.start(DEVICE_ID, CHANNEL_ID, MediaOffer("udp", "127.0.0.1", 9), 0.5)
    assert str(raised.value) == (
        f"device {DEVICE_ID} channel {CHANNEL_ID}: the GB28181 service did not answer in 6 s "
        "(is `sharpeye gb28181` running?)"
    )
    sync_redis.close()
