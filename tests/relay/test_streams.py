"""Sub stream for wall tiles, main stream for full screen: one upstream each."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.whep_client import WhepViewer
from sharpeye.registry import parse_registry
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.relay.fixtures_relay import RelayHandle, start_relay

pytestmark = pytest.mark.integration

CAMERA = """\
version: 1
district: {{id: t, name: T}}
departments: [{{id: police, name: Police, kind: police}}]
cameras:
  - id: duo
    name: Two streams
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams:
      main: rtsp://127.0.0.1:{port}/sim/vtest-720p/duo
      sub: rtsp://127.0.0.1:{port}/sim/vtest-720p-360p/duo
"""


async def first_height(url: str, token: str) -> int:
    viewer = WhepViewer(url, token)
    await viewer.start()
    try:
        async for frame in viewer.frames():
            return int(frame.height)
    finally:
        await viewer.stop()
    raise AssertionError("no frame")


async def test_sub_for_tiles_main_for_full_screen(footage: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    registry = tmp_path / "registry.yaml"
    registry.write_text(CAMERA.format(port=port))
    fleet = Fleet(cameras=0, registry=registry, port=port).start()
    relay: RelayHandle = start_relay(parse_registry(registry.read_text(), "duo"), tmp_path)
    try:
        token = relay.token("duo")
        sub = await first_height(relay.whep("duo", "sub"), token)
        main = await first_height(relay.whep("duo", "main"), token)
        assert (sub, main) == (360, 720)
        streams = {u.spec.stream for u in relay.state.manager.pool.upstreams.values()}
        assert streams == {"sub", "main"}
    finally:
        relay.stop()
        stop_and_check(fleet)
