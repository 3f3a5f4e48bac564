"""Cheap WebRTC viewers for the relay benchmark: many in one process, nothing decoded.

aiortc's receiver would decode and buffer every frame; the viewers here replace its RTP
handler with counters (packets, bytes, frame ends), so one process can hold a hundred
viewers and the CPU measured is the server's. The first viewer may log each frame's arrival
(monotonic time, RTP timestamp, keyframe) for latency matching against a direct RTSP read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from benchmarks.common import rss_mb
from camera.rtsp.depacketize import AccessUnit, Assembler
from camera.rtsp.handshake import open_session
from camera.rtsp.stream import Stream


@dataclass
class FrameLog:
    """(arrival monotonic s, RTP timestamp, keyframe) per completed frame."""

    rows: list[tuple[float, int, bool]] = field(default_factory=list)


def _starts_keyframe(payload: bytes) -> bool:
    if not payload:
        return False
    t = payload[0] & 0x1F
    if t == 28 and len(payload) > 1:
        return bool(payload[1] & 0x80) and (payload[1] & 0x1F) == 5
    if t == 24 and len(payload) > 3:
        return (payload[3] & 0x1F) in (5, 7)
    return t in (5, 7)


class CountingViewer:
    def __init__(self, log: FrameLog | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.log = log
        self._key = False
        self.first_frame_at: float | None = None
        self.session_url: str | None = None  # the WHEP resource (Location), for DELETE

    def _patch(self) -> None:
        async def on_rtp(packet: Any, arrival_time_ms: int) -> None:
            self.packets += 1
            self.bytes += len(packet.payload)
            if _starts_keyframe(packet.payload):
                self._key = True
            if packet.marker:
                self.frames += 1
                now = time.monotonic()
                if self.first_frame_at is None:
                    self.first_frame_at = now
                if self.log is not None:
                    self.log.rows.append((now, packet.timestamp, self._key))
                self._key = False

        for t in self.pc.getTransceivers():
            t.receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign]

    async def whep(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        r = await client.post(
            url,
            content=self.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        self.session_url = str(httpx.URL(url).join(r.headers["location"]))
        await self.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
        self._patch()

    async def answer(self, offer_sdp: str) -> str:
        """Janus offers; the viewer answers (candidates included: no trickle)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for t in self.pc.getTransceivers():
            t.direction = "recvonly"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._patch()
        return str(self.pc.localDescription.sdp)

    async def delete(self, client: httpx.AsyncClient, token: str) -> int:
        """DELETE the WHEP session, as a wall leaving a camera does; the status."""
        assert self.session_url is not None, "whep() first"
        r = await client.delete(self.session_url, headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    async def close(self) -> None:
        await self.pc.close()


class DirectReader:
    """The camera read directly (the relay's own RTSP client, no relay): the latency anchor."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.log = FrameLog()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        session = await asyncio.to_thread(open_session, self.url, None, None, 5.0)
        reader, writer = await asyncio.open_connection(sock=session.sock)

        def emit(au: AccessUnit) -> None:
            self.log.rows.append((time.monotonic(), au.rtp_timestamp, au.keyframe))

        stream = Stream(session, Assembler("h264", emit, keyframes_only=False))
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    return
                stream.feed(data, time.monotonic())
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task


def added_latency_ms(direct: FrameLog, relayed: FrameLog) -> list[float]:
    """Per frame: arrival through the relay minus arrival from the camera, same frame.

    The relay keeps the camera's frame spacing but shifts RTP timestamps by a constant
    (a random origin per viewer); keyframes, two seconds apart, pin that constant down.
    """
    d_keys = [(t, ts) for t, ts, k in direct.rows if k]
    offsets: dict[int, int] = {}
    for t, ts, key in relayed.rows:
        if not key:
            continue
        before = [(t - dt, dts) for dt, dts in d_keys if 0 <= t - dt < 1.0]
        if before:
            _, dts = min(before)
            c = (ts - dts) & 0xFFFFFFFF
            offsets[c] = offsets.get(c, 0) + 1
    if not offsets:
        return []
    c = max(offsets, key=lambda k: offsets[k])
    by_ts = {ts: t for t, ts, _ in direct.rows}
    out = []
    for t, ts, _ in relayed.rows:
        dt = by_ts.get((ts - c) & 0xFFFFFFFF)
        if dt is not None:
            out.append((t - dt) * 1000.0)
    return out


# -- soak: the relay's memory under a few steady viewers ---------------------------------


SIZES = ("subscribers", "queued_frames", "gop_cache_frames", "rtx_history_packets")


async def soak(
    pid: int,
    stats_url: str,
    url: str,
    token: str,
    viewers: int,
    seconds: float,
    after: float,
    rounds: int = 1,
) -> dict[str, Any]:
    """`viewers` CountingViewers for `seconds`, then none for `after`, `rounds` times: the
    relay's RSS and stats sampled every 10 s throughout (a leak shows as RSS growing with the
    bytes sent, or with each round of viewers, and not coming back once they left)."""
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()

    metrics_url = stats_url.replace("/relay/stats", "/metrics")

    async def sample(client: httpx.AsyncClient, phase: str, vs: list[CountingViewer]) -> None:
        stats = (await client.get(stats_url)).json()
        # The relay's bounded structures, where it has /metrics (gauges named in SIZES).
        got = await client.get(metrics_url)
        if got.status_code == 200:
            for line in got.text.splitlines():
                name, _, value = line.partition(" ")
                short = name.removeprefix("sharpeye_relay_")
                if short in SIZES:
                    stats[short] = int(float(value))
        row = {
            "t": round(time.monotonic() - t0, 1),
            "phase": phase,
            "rss_mb": round(rss_mb(pid), 1),
            "received_mb": round(sum(v.bytes for v in vs) / 1e6, 1),
            **stats,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    async with httpx.AsyncClient(timeout=30) as client:
        await sample(client, "idle", [])
        for _ in range(rounds):
            vs = [CountingViewer() for _ in range(viewers)]
            for v in vs:
                await v.whep(client, url, token)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await asyncio.sleep(10)
                await sample(client, "viewing", vs)
            await asyncio.gather(*(v.close() for v in vs))
            end = time.monotonic() + after
            while time.monotonic() < end:
                await asyncio.sleep(10)
                await sample(client, "left", vs)
    return {"viewers": viewers, "rows": rows}


def main() -> None:
    """`python -m benchmarks.relay_load [--viewers 4] [--seconds 240] [--after 80]`: the
    relay (its own process, upstream idle close 60 s) with one simulated camera and N
    viewers, RSS sampled."""
    import argparse
    import tempfile

    from benchmarks.common import SimFleet
    from benchmarks.relay_process import CAMERA, SECRET, RelayProcess
    from relay.ice import use_host_addresses
    from sharpeye.tokens import TokenSigner

    parser = argparse.ArgumentParser(description="relay memory soak")
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--after", type=float, default=80.0)
    parser.add_argument("--rounds", type=int, default=1, help="viewers come and go N times")
    parser.add_argument("--clip", default="vtest-360p")
    args = parser.parse_args()
    use_host_addresses(["127.0.0.1"])
    token = TokenSigner(SECRET.encode()).issue(CAMERA, "bench", ttl_s=3600)
    fleet = SimFleet(1, args.clip)
    try:
        with tempfile.TemporaryDirectory(prefix="relay-soak-") as tmp:
            relay = RelayProcess(Path(tmp), fleet.urls()[0])
            try:
                stats = relay.url.split("/whep/")[0] + "/relay/stats"
                out = asyncio.run(
                    soak(
                        relay.proc.pid,
                        stats,
                        relay.url,
                        token,
                        args.viewers,
                        args.seconds,
                        args.after,
                        args.rounds,
                    )
                )
            finally:
                relay.stop()
    finally:
        fleet.stop()
    first = next(r for r in out["rows"] if r["phase"] == "viewing")
    last = [r for r in out["rows"] if r["phase"] == "viewing"][-1]
    left = [r for r in out["rows"] if r["phase"] == "left"]
    print(
        f"RSS idle {out['rows'][0]['rss_mb']} MB, viewing {first['rss_mb']} -> {last['rss_mb']} MB"
        f" ({last['t'] - first['t']:.0f} s), after leaving {left[-1]['rss_mb'] if left else '-'} MB"
    )


if __name__ == "__main__":
    main()
