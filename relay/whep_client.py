"""A small WHEP player in aiortc: for tests, benchmarks and checking a relay from a shell.

`WhepViewer.start()` posts a recvonly H.264 offer (all candidates gathered: the relay takes
no trickle ICE); `frames()` then yields decoded video frames with their arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from relay.ice import use_host_addresses


class WhepRefused(Exception):  # noqa: N818  (a refusal, not a programming error)
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"WHEP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass
class WhepViewer:
    url: str
    token: str | None
    started_at: float = 0.0
    first_frame_at: float | None = None
    frames_decoded: int = 0
    session_url: str | None = None
    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    _track: asyncio.Future[MediaStreamTrack] | None = None

    async def start(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        self.started_at = time.monotonic()
        loop = asyncio.get_running_loop()
        self._track = loop.create_future()
        track_future = self._track

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and not track_future.done():
                track_future.set_result(track)

        self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        headers = {"Content-Type": "application/sdp"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(
                self.url, content=self.pc.localDescription.sdp, headers=headers
            )
        if resp.status_code != 201:
            await self.pc.close()
            try:
                detail = str(resp.json().get("detail"))
            except ValueError:
                detail = resp.text
            raise WhepRefused(resp.status_code, detail)
        self.session_url = str(httpx.URL(self.url).join(resp.headers["location"]))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=resp.text, type="answer"))

    async def frames(self) -> AsyncIterator[av.VideoFrame]:
        assert self._track is not None, "start() first"
        track = await self._track
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.first_frame_at is None:
                self.first_frame_at = time.monotonic()
            self.frames_decoded += 1
            assert isinstance(frame, av.VideoFrame)
            yield frame

    async def count_frames(self, n: int, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """Decode until `n` frames arrived or `timeout`; the number decoded."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for _ in self.frames():
                    if self.frames_decoded >= n:
                        break
        return self.frames_decoded

    @property
    def time_to_first_frame(self) -> float | None:
        if self.first_frame_at is None:
            return None
        return self.first_frame_at - self.started_at

    async def stop(self, delete: bool = True) -> None:
        if delete and self.session_url is not None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await client.delete(self.session_url, headers=headers)
        await self.pc.close()


async def _play(url: str, token: str | None, frames: int) -> int:
    viewer = WhepViewer(url, token)
    await viewer.start()
    try:
        async for _ in viewer.frames():
            if viewer.frames_decoded == 1:
                print(f"first frame after {viewer.time_to_first_frame:.3f} s", flush=True)
            if frames and viewer.frames_decoded >= frames:
                break
    finally:
        await viewer.stop()
    print(f"{viewer.frames_decoded} frames decoded", flush=True)
    return 0


def main() -> None:
    """`python -m relay.whep_client URL [--token T] [--frames N]`: play and count frames."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("--token", default=None)
    parser.add_argument("--frames", type=int, default=0, help="stop after N (0: never)")
    parser.add_argument(
        "--ice-addresses", default="127.0.0.1", help="local ICE addresses, comma-separated"
    )
    args = parser.parse_args()
    use_host_addresses([a for a in args.ice_addresses.split(",") if a])
    raise SystemExit(asyncio.run(_play(args.url, args.token, args.frames)))


if __name__ == "__main__":
    main()
