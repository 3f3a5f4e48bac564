"""A shift in miniature: viewers watch, leave (DELETE, close, vanish), and nothing stays.

The real relay, a simulated camera and four real aiortc viewers (counting packets, decoding
nothing) for about 20 s: every structure the relay keeps per viewer and per camera stays
within its bound the whole time, the frames alive in the process never outgrow what those
structures hold (issue 11: every frame sent used to be kept for ever), and once the viewers
are gone, whichever way they left, their sessions, peer connections and queues are freed and
the camera's upstream closes.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
import weakref
from collections.abc import Callable

import httpx
import pytest
from aiortc.rtp import RTP_HISTORY_SIZE
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.relay_load import CountingViewer
from relay.gop import MAX_GOP_FRAMES, EncodedFrame
from relay.metrics import Sizes, sizes
from tests.fixtures_fleet import Fleet
from tests.relay.fixtures_relay import RelayHandle, eventually

pytestmark = pytest.mark.integration

VIEWERS = 4
WATCH_S = 20.0
QUEUE = 20


def scrape(relay: RelayHandle) -> dict[str, float]:
    """/metrics as {name{labels}: value} for the relay's own series."""
    text = httpx.get(f"{relay.url}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("sharpeye_relay_"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def live_frames() -> int:
    """EncodedFrames alive in this process: only the relay makes them."""
    return sum(1 for o in gc.get_objects() if type(o) is EncodedFrame)


def check_bounds(sz: Sizes, sessions: int) -> None:
    assert sz.sessions == sessions and sz.upstreams == 1
    assert sz.subscribers <= sessions
    # A primed queue may hold a whole cached GOP beyond its capacity (Subscriber).
    assert sz.queued_frames <= sessions * (QUEUE + MAX_GOP_FRAMES + 1)
    assert sz.gop_frames <= MAX_GOP_FRAMES
    assert sz.rtx_history <= sessions * RTP_HISTORY_SIZE


async def test_viewers_leave_and_the_relay_keeps_nothing(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(
        fleet,
        SHARPEYE_RELAY_IDLE_S=1.0,
        SHARPEYE_RELAY_CONSENT_TIMEOUT_S=3.0,
        SHARPEYE_RELAY_QUEUE_FRAMES=QUEUE,
    )
    url, token = relay.whep("cam1"), relay.token("cam1")
    manager = relay.state.manager
    # One viewer in its own process, killed later: a tab that crashes sends no DELETE.
    ghost = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay.whep_client", url, "--token", token,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    viewers = [CountingViewer() for _ in range(VIEWERS - 1)]
    try:
        assert ghost.stdout is not None
        assert b"first frame" in await asyncio.wait_for(ghost.stdout.readline(), 30)
        async with httpx.AsyncClient(timeout=30) as client:
            for v in viewers:
                await v.whep(client, url, token)
            await eventually(lambda: all(v.frames > 0 for v in viewers), timeout=30)
            held = [
                (weakref.ref(s.pc), weakref.ref(s.track), weakref.ref(s.upstream))
                for s in manager.sessions.values()
            ]
            frames_at_start = manager.counters.frames_in
            peak_live = 0
            deadline = time.monotonic() + WATCH_S
            while time.monotonic() < deadline:
                await asyncio.sleep(2.0)
                before = sizes(manager)
                live = live_frames()
                after = sizes(manager)
                check_bounds(before, VIEWERS)
                # What the relay holds on purpose: the GOP, the queues, each viewer's first
                # frame and the one it is sending; a frame in passage to the queues.
                held_frames = max(before.gop_frames, after.gop_frames) + max(
                    before.queued_frames, after.queued_frames
                )
                assert live <= held_frames + 2 * VIEWERS + 2, (live, before, after)
                peak_live = max(peak_live, live)
            received = manager.counters.frames_in - frames_at_start
            assert received > 3 * peak_live  # the camera sent far more than is alive
            metrics = scrape(relay)
            assert metrics["sharpeye_relay_sessions"] == VIEWERS
            assert metrics["sharpeye_relay_upstreams"] == 1
            assert metrics["sharpeye_relay_rtp_packets_sent_total"] >= received
            assert metrics["sharpeye_relay_rtp_bytes_sent_total"] >= sum(v.bytes for v in viewers)
            assert metrics["sharpeye_relay_upstream_opens_total"] == 1

            # Leaving, three ways: DELETE, closing the connection, vanishing.
            assert await viewers[0].delete(client, token) == 200
            await viewers[0].close()
            await viewers[1].close()  # DTLS close_notify, no DELETE
            ghost.send_signal(signal.SIGKILL)  # nothing at all: ICE consent expires
            await ghost.wait()
            await eventually(lambda: len(manager.sessions) == 1, timeout=20)
            assert await viewers[2].delete(client, token) == 200
            await viewers[2].close()
        await eventually(lambda: not manager.pool.upstreams, timeout=10)
        gone = sizes(manager)
        assert gone == Sizes(0, 0, 0, 0, 0, 0, 0)
        gc.collect()
        assert all(ref() is None for refs in held for ref in refs)
        assert live_frames() == 0
        metrics = scrape(relay)
        assert metrics["sharpeye_relay_sessions"] == 0
        assert metrics["sharpeye_relay_upstreams"] == 0
        assert metrics["sharpeye_relay_sessions_started_total"] == VIEWERS
        assert metrics["sharpeye_relay_sessions_ended_total{reason=delete}"] == 2
        # The closed one and the vanished one (aiortc reports an ICE consent expiry as its
        # transports closing, or as failed): neither sent a DELETE.
        ended = {k: v for k, v in metrics.items() if "sessions_ended_total" in k}
        assert (
            ended["sharpeye_relay_sessions_ended_total{reason=closed}"]
            + ended["sharpeye_relay_sessions_ended_total{reason=failed}"]
            == 2
        ), ended
    finally:
        if ghost.returncode is None:
            ghost.kill()
            await ghost.wait()
        for v in viewers:
            await v.close()
