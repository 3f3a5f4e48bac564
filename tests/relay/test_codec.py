"""A camera whose stream browsers cannot play (H.265) gets a clear refusal, not a black tile.

The peer is a minimal RTSP server on 127.0.0.1 that describes an H.265 stream (the simulated
fleet serves H.264 only), enough for the relay to learn the codec the way it would from a
real camera.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import parse_registry
from tests.fixtures_fleet import free_port
from tests.relay.fixtures_relay import RelayHandle, start_relay

pytestmark = pytest.mark.integration

H265_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=h265\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=control:track1\r\n"
)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode().split("\r\n")
        method = lines[0].split(" ")[0]
        cseq = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("CSeq"))
        extra, body = "", ""
        if method == "DESCRIBE":
            extra, body = "Content-Type: application/sdp\r\n", H265_SDP
        elif method == "SETUP":
            extra = "Session: 42;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
        writer.write(
            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            f"{body}".encode()
        )
        await writer.drain()


@pytest.fixture
def h265_camera() -> Iterator[int]:
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", port)
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    started.wait(5)
    yield port
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


@pytest.fixture
def relay(h265_camera: int, tmp_path: Path) -> Iterator[RelayHandle]:
    registry = parse_registry(
        "version: 1\ndistrict: {id: t, name: T}\n"
        "departments: [{id: police, name: Police, kind: police}]\n"
        "cameras:\n"
        "  - id: hevc-1\n    name: H.265 camera\n    department: police\n"
        "    location: {lat: 31.8, lon: 117.2}\n"
        f"    streams: {{main: 'rtsp://127.0.0.1:{h265_camera}/live'}}\n",
        "h265-registry",
    )
    handle = start_relay(registry, tmp_path)
    yield handle
    handle.stop()


async def test_h265_camera_is_refused_with_the_reason(relay: RelayHandle) -> None:
    with pytest.raises(WhepRefused) as refused:
        await WhepViewer(relay.whep("hevc-1"), relay.token("hevc-1")).start()
    assert refused.value.status == 422
    assert "H.265" in refused.value.detail and "H.264" in refused.value.detail
    assert not relay.state.manager.sessions
