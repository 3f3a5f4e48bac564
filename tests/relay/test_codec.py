"""A camera whose stream browsers cannot play (H.265) gets a clear refusal, not a black tile.

The peer is a minimal RTSP server on 127.0.0.1 that describes an H.265 stream (the simulated
fleet serves H.264 only), enough for the relay to learn the codec the way it would from a
real camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import parse_registry
from tests.relay.fixtures_relay import RelayHandle, start_relay

pytestmark = pytest.mark.integration


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
