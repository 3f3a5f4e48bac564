"""A GB/T 28181 channel through the relay, with real peers on 127.0.0.1: SIPp registers as
the device with `sharpeye gb28181` (in-process, consuming play requests from Redis), the
relay serves a registry camera on `gb28181://<device>/<channel>`, and an aiortc viewer over
WHEP decodes what it passes on. The relay's upstream asks the service for its own call (its
own RTP port and lease); the device's sender streams real footage as PS over RTP at 25 fps;
the frames arrive at that rate, timed by the PS PTS, and decode. When the viewer leaves, the
upstream closes and the device gets the BYE (SIPp's own trace shows it, answered 200).
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import pytest

from camera.gb28181.source import GbPlayError
from ingest.gb28181.remote import RemotePlay
from ingest.gb28181.service import Gb28181Service
from relay.gb_pull import GbAccess
from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import load_registry
from tests.fixtures_gb28181 import gb_registry, playing_device
from tests.ingest.gb28181.conftest import until
from tests.relay.fixtures_relay import RelayHandle, eventually, start_relay

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMERA = "east-gate-gb"
FPS = 25


def gb_relay(tmp_path: Path, redis_url: str, **overrides: object) -> RelayHandle:
    registry = tmp_path / "registry.yaml"
    registry.write_text(gb_registry(CAMERA), encoding="utf-8")
    return start_relay(
        load_registry(registry), tmp_path, settings={"REDIS_URL": redis_url}, **overrides
    )


async def test_gb_camera_plays_over_whep_and_its_call_ends_with_the_viewer(
    gb_service: tuple[Gb28181Service, RemotePlay],
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.gb28181.play")
    svc, remote = gb_service
    device = await playing_device(svc, tmp_path / "sipp")
    relay = gb_relay(tmp_path, redis_url, SHARPEYE_RELAY_IDLE_S=1)
    viewer = WhepViewer(relay.whep(CAMERA), relay.token(CAMERA))
    try:
        await viewer.start(timeout=30)
        assert await viewer.count_frames(10, timeout=30) >= 10
        ttff = viewer.time_to_first_frame
        assert ttff is not None
        # The stream's rate, decoded, over a few seconds (the sender keeps real time).
        n0, t0 = viewer.frames_decoded, time.monotonic()
        await viewer.count_frames(n0 + 4 * FPS, timeout=15)
        rate = (viewer.frames_decoded - n0) / (time.monotonic() - t0)
        print(f"GB via relay: first frame {ttff:.2f} s, {rate:.1f} frames/s decoded")
        assert rate == pytest.approx(FPS, rel=0.2), rate

        upstream = relay.upstream(CAMERA)
        assert upstream is not None and upstream.reader == "gb28181"
        assert upstream.codec == "h264" and upstream.keyframes >= 1
        # Timed by the PS PTS: 3600 ticks of the 90 kHz clock a picture at 25 fps.
        pts = [f.pts for f in upstream.gop.snapshot()]
        steps = {b - a for a, b in itertools.pairwise(pts)}
        assert steps <= {3600}, steps
        # The relay's own call, leased like ingest's (the service knows it by the relay's
        # node), one dialog with the device.
        (call,) = remote.calls.values()
        assert call.node_id.startswith("relay-") and len(svc.player.dialogs) == 1

        left_at = time.monotonic()
        await viewer.stop()

        async def hung_up() -> bool | None:
            return True if not remote.calls and not svc.player.dialogs else None

        await until(hung_up, "the relay's BYE after its viewer left", 20)
        print(f"GB via relay: BYE {time.monotonic() - left_at:.1f} s after the viewer left")
        byes = [r.getMessage() for r in caplog.records if "BYE to device" in r.getMessage()]
        assert byes and byes[-1].endswith("(stream no longer wanted): 200"), byes
        await eventually(lambda: device.byes_answered() == 1, 10)  # SIPp's own word
        assert relay.upstream(CAMERA) is None
    finally:
        await viewer.stop()
        relay.stop()
        await device.stop()


async def test_unregistered_device_is_refused_and_no_call_is_left(
    gb_service: tuple[Gb28181Service, RemotePlay], redis_url: str, tmp_path: Path
) -> None:
    """No device registered: the viewer gets a 502 at once (not a black tile that waits),
    the relay's log says why, and the service holds no call."""
    svc, remote = gb_service
    relay = gb_relay(tmp_path, redis_url)
    viewer = WhepViewer(relay.whep(CAMERA), relay.token(CAMERA))
    try:
        started = time.monotonic()
        with pytest.raises(WhepRefused) as refused:
            await viewer.start(timeout=30)
        assert refused.value.status == 502, refused.value
        assert CAMERA in refused.value.detail
        assert time.monotonic() - started < 15
        assert remote.calls == {} and svc.player.dialogs == {}
        assert relay.upstream(CAMERA) is None
    finally:
        relay.stop()


def test_no_redis_is_a_play_error() -> None:
    """A relay whose node has no Redis cannot ask the service: the error says so."""
    access = GbAccess(None, "relay-test")
    with pytest.raises(GbPlayError, match="no way to the GB28181 service"):
        access.signalling()
