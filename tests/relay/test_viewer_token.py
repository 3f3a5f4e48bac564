"""POST /api/cameras/{id}/viewer-token: the API's half of the viewer token handshake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from command_api.app import create_app
from command_api.auth.principal import Principal
from command_api.deps import CameraScope, current_scope
from sharpeye.settings import Settings
from sharpeye.tokens import TokenError, signer_for

pytestmark = pytest.mark.integration

REGISTRY = """\
version: 1
district: {id: t, name: T}
departments:
  - {id: police, name: Police, kind: police}
  - {id: edu, name: Education, kind: education}
cameras:
  - {id: cam-a, name: A, department: police, location: {lat: 31.8, lon: 117.2},
     streams: {main: "rtsp://127.0.0.1:8554/a", sub: "rtsp://127.0.0.1:8554/a-sub"}}
  - {id: cam-b, name: B, department: edu, location: {lat: 31.8, lon: 117.2},
     streams: {main: "rtsp://127.0.0.1:8554/b"}}
"""


@dataclass
class Api:
    client: httpx.AsyncClient
    data_dir: Path


@pytest.fixture
async def api(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    monkeypatch.setenv("SHARPEYE_RELAY_PUBLIC_URL", "https://relay.example:8443")
    monkeypatch.setenv("SHARPEYE_RELAY_ICE_SERVERS", "stun:stun.example:3478,turn:turn.example")
    monkeypatch.setenv("SHARPEYE_RELAY_ICE_USERNAME", "wall")
    monkeypatch.setenv("SHARPEYE_RELAY_ICE_CREDENTIAL", "turn-secret")
    from sharpeye.relay_settings import get_relay_settings

    get_relay_settings.cache_clear()
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(REGISTRY)
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )
    app = create_app(settings)
    # A caller of department `police` seeing cam-a only (what the departments issue computes).
    caller = Principal(kind="user", id=1, name="alice", department="police", roles=frozenset())
    scope = CameraScope(frozenset({"cam-a"}), "police cameras", caller)
    app.dependency_overrides[current_scope] = lambda: scope
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
        yield Api(c, tmp_path)
    get_relay_settings.cache_clear()


async def test_token_for_a_camera_in_scope(api: Api) -> None:
    response = await api.client.post("/api/cameras/cam-a/viewer-token")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["department"] == "police"
    assert body["whep_url"] == "https://relay.example:8443/whep/cam-a/sub"
    assert body["whep_url_main"] == "https://relay.example:8443/whep/cam-a/main"
    assert body["ice_servers"] == [
        {"urls": "stun:stun.example:3478"},
        {"urls": "turn:turn.example", "username": "wall", "credential": "turn-secret"},
    ]
    # The relay, reading the same node key, accepts it for this camera only.
    signer = signer_for(api.data_dir)
    claims = signer.verify(body["token"], "cam-a")
    assert claims.department == "police"
    # And names whose permission it carries, for the relay's recheck of the playing view.
    assert claims.subject == "user:1"
    with pytest.raises(TokenError):
        signer.verify(body["token"], "cam-b")


@pytest.mark.parametrize(("camera", "status"), [("cam-b", 403), ("no-such-camera", 404)])
async def test_no_token_outside_the_scope(api: Api, camera: str, status: int) -> None:
    response = await api.client.post(f"/api/cameras/{camera}/viewer-token")
    assert response.status_code == status
    assert "token" not in response.json()
