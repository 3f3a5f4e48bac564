"""An ONVIF-only registry camera resolved through `camera.resolve` by both services against a
simulated device: the relay's sources (main and sub) and ingest's fleet (main) pull the URLs
the device hands out, with the device's login as the RTSP login."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from camera.onvif import fill_stream_urls
from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from ingest.fleet import Fleet
from relay.sources import Sources
from sharpeye.registry import parse_registry
from sharpeye.simulate.onvif_peer import OnvifPeer
from tests.camera.onvif.conftest import PASSWORD, USER

pytestmark = pytest.mark.integration

REGISTRY = """\
version: 1
district: {{id: demo, name: Demo District}}
departments:
  - {{id: police, name: Police, kind: police}}
cameras:
  - id: dome
    name: Dome
    department: police
    location: {{lat: 31.82, lon: 117.22}}
    onvif:
      host: 127.0.0.1
      port: {port}
      credentials: {{username: {user}, password_env: T_RESOLVE_ONVIF_PW}}
"""


class _Engine:
    """What the fleet hands its engine, recorded."""

    def __init__(self) -> None:
        self.added: list[StreamSpec] = []
        self.camera_ids: set[str] = set()

    def add(self, spec: StreamSpec) -> None:
        self.added.append(spec)

    def health(self) -> dict[str, Any]:
        return {}


async def test_both_services_resolve_an_onvif_camera_alike(
    onvif_peer: OnvifPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_RESOLVE_ONVIF_PW", PASSWORD)
    port = onvif_peer.devices[0].port
    registry = parse_registry(REGISTRY.format(port=port, user=USER), "camera_registry.yaml")
    main, sub = await fill_stream_urls("127.0.0.1", port, USER, PASSWORD)
    assert sub is not None

    sources = Sources(registry, None)
    got_sub = await sources.resolve("dome", "sub")
    got_main = await sources.resolve("dome", "main")
    assert (got_sub.stream, got_sub.url, got_main.url) == ("sub", sub, main)
    assert (got_main.username, got_main.password) == (USER, PASSWORD)

    engine = _Engine()
    fleet = Fleet(cast(IngestEngine, engine), "node-1", None)
    fleet.apply(registry)
    for _ in range(200):
        if engine.added:
            break
        await asyncio.sleep(0.05)
    [spec] = engine.added
    assert (spec.url, spec.username, spec.password) == (main, USER, PASSWORD)
    assert spec.sampling == registry.camera("dome").analytics.sampling.mode
    fleet.close()
