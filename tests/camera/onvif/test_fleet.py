"""End to end with the simulated fleet: a registry camera that is ONVIF-only is served by
`sharpeye simulate` (RTSP + ONVIF device); the client finds its streams and they decode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from camera.onvif import fill_stream_urls
from sharpeye.simulate.footage import clip_paths
from tests.camera.onvif.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]

REGISTRY = """
cameras:
  - id: cam-onvif-e2e
    onvif:
      host: 127.0.0.1
      port: {port}
      credentials: {{username: admin, password_env: T_E2E_ONVIF_PASSWORD}}
"""


def _first_frame_size(url: str) -> tuple[int, int]:
    options = {"rtsp_transport": "tcp", "analyzeduration": "500000", "timeout": "5000000"}
    with av.open(url, options=options, timeout=5) as container:
        for frame in container.decode(video=0):
            return int(frame.width), int(frame.height)
    raise AssertionError(f"no frame decoded from {url}")


async def test_onvif_only_registry_camera_plays_through_the_fleet(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = clip_paths(REPO / "var")
    if not (paths["vtest-720p"].exists() and paths["vtest-360p"].exists()):
        pytest.skip("footage not prepared (run `sharpeye footage`); encoding it here is too slow")
    try:
        fleet_factory: Callable[..., Any] = request.getfixturevalue("fleet_factory")
    except pytest.FixtureLookupError:
        pytest.skip("the fleet fixture (tests/fixtures_fleet.py) is not available")
    port = free_port()
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY.format(port=port), encoding="utf-8")
    monkeypatch.setenv("T_E2E_ONVIF_PASSWORD", "e2e-pw")
    fleet = fleet_factory(cameras=0, registry=registry)

    main, sub = await fill_stream_urls("127.0.0.1", port, "admin", "e2e-pw", timeout=10)
    assert main == f"rtsp://127.0.0.1:{fleet.port}/sim/vtest-720p/cam-onvif-e2e"
    assert sub == f"rtsp://127.0.0.1:{fleet.port}/sim/vtest-360p/cam-onvif-e2e"
    assert _first_frame_size(main) == (1280, 720)
    assert _first_frame_size(sub) == (640, 360)
