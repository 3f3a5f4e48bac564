"""Pytest plugin: a real relay (uvicorn on its own thread and loop) over a real fleet.

- `relay_registry(fleet)`: a registry whose cameras point at the fleet's extra cameras, owned
  by department `police` (group `square`), except `edu-1` of `edu` (`relay_registry_text`:
  its YAML).
- `relay_factory(fleet, **relay_settings)` starts a relay and returns a `RelayHandle` with
  `.whep(camera, stream)`, `.token(camera, department)` and the in-process `.state`.
- `h265_camera`: the port of a minimal RTSP server on 127.0.0.1 that describes an H.265
  stream (the simulated fleet serves H.264 only), enough for the relay to learn the codec
  the way it would from a real camera.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from relay.server import RelayState, create_relay_app
from sharpeye.registry import Registry, parse_registry
from sharpeye.relay_settings import RelaySettings
from sharpeye.settings import Settings
from sharpeye.tokens import TokenSigner
from tests.fixtures_fleet import Fleet, free_port

SECRET = b"test-relay-secret-0123456789"


def relay_registry(fleet: Fleet, cameras: int | None = None) -> Registry:
    return parse_registry(relay_registry_text(fleet, cameras), "relay-test-registry")


def relay_registry_text(fleet: Fleet, cameras: int | None = None) -> str:
    """`relay_registry`'s YAML (for a command API that must serve the same cameras)."""
    n = cameras or fleet.cameras
    lines = [
        "version: 1",
        "district: {id: t, name: Test}",
        "departments:",
        "  - {id: police, name: Police, kind: police}",
        "  - {id: edu, name: Education, kind: education}",
        "groups:",
        "  - {id: square, name: Square, department: police}",
        "cameras:",
    ]
    for i in range(1, n + 1):
        url = fleet.url(f"/sim/{fleet.clip}/cam{i:04d}")
        lines += [
            f"  - id: cam{i}",
            f"    name: Camera {i}",
            "    department: police",
            "    groups: [square]",
            f"    location: {{lat: 31.{800 + i}, lon: 117.{200 + i}}}",
            f"    streams: {{main: '{url}', sub: '{url}'}}",
        ]
    lines += [
        "  - id: edu-1",
        "    name: School gate",
        "    department: edu",
        "    location: {lat: 31.8, lon: 117.2}",
        f"    streams: {{main: '{fleet.url(f'/sim/{fleet.clip}/cam0001')}'}}",
        "  - id: dead-1",
        "    name: Unreachable",
        "    department: police",
        "    location: {lat: 31.8, lon: 117.2}",
        f"    streams: {{main: 'rtsp://127.0.0.1:{free_port()}/nothing'}}",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class RelayHandle:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any
    signer: TokenSigner

    @property
    def state(self) -> RelayState:
        st = self.app.state.relay
        assert isinstance(st, RelayState)
        return st

    def whep(self, camera_id: str, stream: str = "sub") -> str:
        return f"{self.url}/whep/{camera_id}/{stream}"

    def token(self, camera_id: str, department: str = "police") -> str:
        return self.signer.issue(camera_id, department)

    def upstream(self, camera_id: str) -> Any:
        for u in list(self.state.manager.pool.upstreams.values()):
            if u.spec.camera_id == camera_id:
                return u
        return None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def start_relay(
    registry: Registry,
    tmp_dir: Any,
    signer: TokenSigner | None = None,
    *,
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> RelayHandle:
    """A relay on a free port; `overrides` are its SHARPEYE_RELAY_* settings, `settings` the
    node's (REDIS_URL for gb28181:// cameras, say)."""
    port = free_port()
    rs = RelaySettings.model_validate(
        {
            "SHARPEYE_RELAY_PORT": port,
            "SHARPEYE_RELAY_ICE_ADDRESSES": "127.0.0.1",
            # Walls in these tests are served from ports chosen after the relay starts (or
            # from a made-up origin): any origin, set explicitly as a deployment would.
            "SHARPEYE_RELAY_ALLOW_ORIGINS": "*",
            **overrides,
        }
    )
    signer = signer or TokenSigner(SECRET)
    node = Settings.model_validate({"SHARPEYE_DATA_DIR": str(tmp_dir), **(settings or {})})
    app = create_relay_app(node, rs, signer=signer, registry=registry)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, name="relay-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("relay did not start")
        time.sleep(0.02)
    return RelayHandle(f"http://127.0.0.1:{port}", server, thread, app, signer)


@pytest.fixture
def relay_factory(tmp_path: Any) -> Iterator[Callable[..., RelayHandle]]:
    relays: list[RelayHandle] = []

    def make(fleet: Fleet, **overrides: Any) -> RelayHandle:
        relays.append(start_relay(relay_registry(fleet), tmp_path, **overrides))
        return relays[-1]

    yield make
    for r in relays:
        r.stop()


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Poll a condition the relay's thread makes true (its loop's events are not ours)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


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
