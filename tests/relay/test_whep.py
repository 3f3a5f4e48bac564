"""WHEP against a real relay and fleet: an aiortc player decodes what the relay passes on."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable

import pytest

from relay.whep_client import WhepRefused, WhepViewer
from tests.fixtures_fleet import Fleet
from tests.relay.fixtures_relay import RelayHandle, eventually

pytestmark = pytest.mark.integration


async def test_frames_arrive_and_decode(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=2, clip="vtest-360p")
    relay = relay_factory(fleet)
    viewer = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await viewer.start()
    try:
        assert await viewer.count_frames(30) >= 30
        # The relay's own send loop (relay.rtp_out) keeps the counts RTCP reports carry.
        (session,) = relay.state.manager.sessions.values()
        (sender,) = session.pc.getSenders()
        assert sender._RTCRtpSender__packet_count >= 30  # type: ignore[attr-defined]
        assert sender._RTCRtpSender__octet_count > 0  # type: ignore[attr-defined]
    finally:
        await viewer.stop()


async def test_late_joiner_starts_from_the_cached_gop(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    first = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await first.start()
    late = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    try:
        # Well into a GOP (50 frames): the next keyframe is far away.
        await first.count_frames(60)
        upstream = relay.upstream("cam1")
        while upstream.frames % 50 < 10:  # not just after a keyframe either
            await first.count_frames(first.frames_decoded + 1)
        await late.start()
        assert await late.count_frames(5) >= 5
        session = next(
            s
            for s in relay.state.manager.sessions.values()
            if s.track is not None
            and s.track.first_frame is not None
            and s.track.subscribed_at is not None
            and s.track.first_frame.received_at < s.track.subscribed_at
        )
        assert session.track.first_frame is not None
        assert session.track.first_frame.keyframe
        assert upstream.opens == 1  # both viewers share one pull
        print(f"late joiner: first frame after {late.time_to_first_frame:.3f} s")
    finally:
        await late.stop()
        await first.stop()


async def test_idle_upstream_closes_and_reopens(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet, SHARPEYE_RELAY_IDLE_S=0.5)
    viewer = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await viewer.start()
    assert await viewer.count_frames(10) >= 10
    upstream = relay.upstream("cam1")
    await viewer.stop()
    await eventually(lambda: upstream.closed)
    assert relay.upstream("cam1") is None
    again = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await again.start()
    try:
        assert await again.count_frames(10) >= 10
        reopened = relay.upstream("cam1")
        assert reopened is not None and reopened is not upstream and reopened.opens == 1
    finally:
        await again.stop()


async def test_camera_that_drops_is_pulled_again_for_its_viewer(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    """The camera's server dies (connection lost) and comes back: same upstream, reopened."""
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    viewer = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await viewer.start()
    try:
        assert await viewer.count_frames(10) >= 10
        upstream = relay.upstream("cam1")
        await asyncio.to_thread(fleet.kill)
        await asyncio.to_thread(fleet.start)
        before = viewer.frames_decoded
        assert await viewer.count_frames(before + 25, timeout=60) >= before + 25
        assert relay.upstream("cam1") is upstream and upstream.opens == 2
    finally:
        await viewer.stop()


@pytest.mark.parametrize(
    ("camera", "token_for", "department", "status"),
    [
        ("cam1", "cam2", "police", 403),  # another camera's token
        ("cam1", "forged", "police", 403),  # a token with its department changed
        ("cam1", None, "police", 401),  # no token at all
        ("cam1", "garbage", "police", 403),
    ],
)
async def test_refused_tokens_play_nothing(
    fleet_factory: Callable[..., Fleet],
    relay_factory: Callable[..., RelayHandle],
    camera: str,
    token_for: str | None,
    department: str,
    status: int,
) -> None:
    fleet = fleet_factory(cameras=2, clip="vtest-360p")
    relay = relay_factory(fleet)
    if token_for == "garbage":
        token: str | None = "v1.e30.bad"
    elif token_for == "forged":
        # An education token for cam1 re-labelled as police: the signature no longer matches.
        sig = relay.token("cam1", "edu").rpartition(".")[2]
        police = relay.token("cam1", "police").split(".")[1]
        token = f"v1.{police}.{sig}"
    else:
        token = relay.token(token_for, department) if token_for else None
    viewer = WhepViewer(relay.whep(camera), token)
    with pytest.raises(WhepRefused) as refused:
        await viewer.start()
    assert refused.value.status == status
    assert not relay.state.manager.sessions
    assert relay.upstream(camera) is None  # nothing was pulled for it


async def test_expired_token_is_refused(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    old = relay.signer.issue("cam1", "police", ttl_s=60, now=time.time() - 3600)
    with pytest.raises(WhepRefused) as refused:
        await WhepViewer(relay.whep("cam1"), old).start()
    assert refused.value.status == 403
    assert "expired" in refused.value.detail


async def test_unreachable_camera_is_a_clear_502(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    with pytest.raises(WhepRefused) as refused:
        await WhepViewer(relay.whep("dead-1"), relay.token("dead-1")).start()
    assert refused.value.status == 502
    assert refused.value.detail == "camera dead-1: unreachable"
    assert not relay.state.manager.sessions


async def test_frozen_viewer_does_not_stall_another(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    """A viewer process frozen (SIGSTOP) then killed: the other viewer keeps playing."""
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relay.whep_client",
        relay.whep("cam1"),
        "--token",
        relay.token("cam1"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    healthy = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"first frame" in line
        proc.send_signal(signal.SIGSTOP)
        await healthy.start()
        # 150 frames = 6 s of video, three GOPs: far more than socket buffers could absorb.
        assert await healthy.count_frames(150, timeout=60) >= 150
        # Every viewer's queue stays within its bound, the frozen one's included (its
        # socket buffers are full by now): a stalled viewer drops frames, memory stays flat.
        sessions = list(relay.state.manager.sessions.values())
        assert len(sessions) == 2
        assert all(
            s.track.subscriber is None or len(s.track.subscriber) <= s.track.capacity
            for s in sessions
        )
        proc.kill()  # vanished: no DELETE ever comes
        await proc.wait()
        before = healthy.frames_decoded
        assert await healthy.count_frames(before + 50, timeout=30) >= before + 50
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await healthy.stop()


async def test_viewer_that_never_connects_is_dropped(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    """An offer whose sender vanished before ICE: the session ends, the camera closes."""
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet, SHARPEYE_RELAY_CONNECT_TIMEOUT_S=1, SHARPEYE_RELAY_IDLE_S=0.5)
    ghost = WhepViewer(relay.whep("cam1"), relay.token("cam1"))
    await ghost.start()
    await ghost.pc.close()  # gone without a DELETE, before connecting
    assert len(relay.state.manager.sessions) == 1
    upstream = relay.upstream("cam1")
    await eventually(lambda: not relay.state.manager.sessions)
    await eventually(lambda: upstream.closed)
