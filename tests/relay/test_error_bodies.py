"""What the relay tells a browser: error bodies with the kind of failure and the camera id
only (the address, path, query and login stay in its log), TURN credentials only with a
viewer token, and CORS for the API's own origin unless configured otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import parse_registry
from sharpeye.relay_settings import RelaySettings
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.relay.fixtures_relay import RelayHandle, start_relay

pytestmark = pytest.mark.integration

SECURE = "/secure/vtest-360p/gate"
USER = "cam-operator-x"
QUERY = "channel=1&token=cam-query-secret"
TURN: dict[str, Any] = {
    "SHARPEYE_RELAY_ICE_SERVERS": "stun:stun.example.invalid:3478,turn:turn.example.invalid",
    "SHARPEYE_RELAY_ICE_USERNAME": "turn-user",
    "SHARPEYE_RELAY_ICE_CREDENTIAL": "turn-credential-value",
}


@pytest.fixture
def fleet(tmp_path: Path, footage: object) -> Iterator[Fleet]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    port = free_port()
    registry = tmp_path / "fleet.yaml"
    registry.write_text(
        "version: 1\ndistrict: {id: t, name: T}\n"
        "departments: [{id: police, name: Police, kind: police}]\n"
        "cameras:\n  - {id: gate, name: Gate, department: police, location: "
        f"{{lat: 31.8, lon: 117.2}}, streams: {{main: 'rtsp://127.0.0.1:{port}{SECURE}'}}}}\n"
    )
    f = Fleet(cameras=1, clip="vtest-360p", registry=registry, port=port).start(timeout=90)
    try:
        yield f
    finally:
        stop_and_check(f)


@pytest.fixture
def relay(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RelayHandle, int]]:
    monkeypatch.setenv("SHARPEYE_TEST_WRONG_PASSWORD", "wrong-password-value")
    dead = free_port()
    cams = [
        ("wrong-login", fleet.url(SECURE), True),
        ("wrong-path", fleet.url(f"/sim/nowhere/cam9?{QUERY}"), False),
        ("refused", f"rtsp://127.0.0.1:{dead}/sim/x?{QUERY}", False),
    ]
    lines = [
        "version: 1",
        "district: {id: t, name: T}",
        "departments: [{id: police, name: Police, kind: police}]",
        "cameras:",
    ]
    for camera_id, url, login in cams:
        lines += [
            f"  - id: {camera_id}",
            "    name: Broken",
            "    department: police",
            "    location: {lat: 31.8, lon: 117.2}",
            f"    streams: {{main: '{url}'}}",
        ]
        if login:
            lines.append(
                f"    credentials: {{username: {USER}, password_env: SHARPEYE_TEST_WRONG_PASSWORD}}"
            )
    registry = parse_registry("\n".join(lines) + "\n", "error-bodies")
    handle = start_relay(registry, tmp_path, **TURN)
    try:
        yield handle, dead
    finally:
        handle.stop()


async def test_502_bodies_name_the_failure_not_the_camera_address(
    relay: tuple[RelayHandle, int], fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    handle, dead = relay
    expected = {
        "wrong-login": "login refused",
        "wrong-path": "stream not found",
        "refused": "unreachable",
    }
    leaks = [
        f"127.0.0.1:{fleet.port}",
        f"127.0.0.1:{dead}",
        "/secure/",
        "/sim/",
        "nowhere",
        "channel=1",
        "cam-query-secret",
        USER,
        "wrong-password-value",
    ]
    for camera_id, category in expected.items():
        with pytest.raises(WhepRefused) as refused:
            await WhepViewer(handle.whep(camera_id, "main"), handle.token(camera_id)).start(
                timeout=60
            )
        assert refused.value.status == 502
        assert refused.value.detail == f"camera {camera_id}: {category}"
        for leak in leaks:
            assert leak not in refused.value.detail
    # The relay's own log keeps the detail for whoever fixes the camera, still no secret.
    assert f"127.0.0.1:{fleet.port}{SECURE}" in caplog.text and "401" in caplog.text
    for secret in ("wrong-password-value", "cam-query-secret", USER):
        assert secret not in caplog.text


async def test_turn_credentials_only_with_a_viewer_token(relay: tuple[RelayHandle, int]) -> None:
    handle, _ = relay
    url = handle.whep("refused")
    async with httpx.AsyncClient(timeout=30) as client:
        bare = await client.options(url)
        assert bare.status_code == 204
        assert "stun:stun.example.invalid" in bare.headers["link"]
        assert "turn:" not in bare.headers["link"] and "turn-credential" not in bare.text
        assert "turn-credential-value" not in bare.headers["link"]
        forged = await client.options(url, headers={"Authorization": "Bearer not-a-token"})
        assert "turn:" not in forged.headers["link"]
        other = await client.options(
            url, headers={"Authorization": f"Bearer {handle.token('wrong-path')}"}
        )
        assert "turn:" not in other.headers["link"]  # a token for another camera
        granted = await client.options(
            url, headers={"Authorization": f"Bearer {handle.token('refused')}"}
        )
        link = granted.headers["link"]
        assert "turn:turn.example.invalid" in link and 'credential="turn-credential-value"' in link


def test_cors_defaults_to_the_api_origin() -> None:
    rs = RelaySettings.model_validate({})
    assert rs.allow_origins is None
    local = rs.cors_origins("127.0.0.1", 8080)
    assert "http://127.0.0.1:8080" in local and "http://localhost:8080" in local
    assert "*" not in local
    assert rs.cors_origins("wall.example", 9000) == [
        "http://wall.example:9000",
        "https://wall.example:9000",
    ]
    configured = RelaySettings.model_validate({"SHARPEYE_RELAY_ALLOW_ORIGINS": "*"})
    assert configured.cors_origins("127.0.0.1", 8080) == ["*"]


async def test_cors_preflight_from_another_origin_is_refused_by_default(
    tmp_path: Path,
) -> None:
    registry = parse_registry(
        "version: 1\ndistrict: {id: t, name: T}\n"
        "departments: [{id: police, name: Police, kind: police}]\ncameras: []\n",
        "cors",
    )
    handle = start_relay(registry, tmp_path, SHARPEYE_RELAY_ALLOW_ORIGINS=None)
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def preflight(origin: str) -> httpx.Response:
                return await client.options(
                    handle.whep("cam1"),
                    headers={
                        "Origin": origin,
                        "Access-Control-Request-Method": "POST",
                        "Access-Control-Request-Headers": "authorization, content-type",
                    },
                )

            # The relay's Settings are the defaults: the API on 127.0.0.1:8080.
            wall = await preflight("http://127.0.0.1:8080")
            assert wall.status_code == 200
            assert wall.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
            stranger = await preflight("http://evil.example")
            assert stranger.status_code == 400
            assert "access-control-allow-origin" not in stranger.headers
    finally:
        handle.stop()
