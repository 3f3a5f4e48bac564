"""GET /api/cameras against a real Redis and a real registry file, through the app's lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI

from command_api.app import create_app
from command_api.auth.directory import create_user
from command_api.auth.roles import Role
from sharpeye.bus.connect import redact_url
from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.bus.health import publish_health
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.settings import Settings
from sharpeye.store.db import session_scope

pytestmark = pytest.mark.integration

PASSWORD = "pw-Zq8!secret-value"
USERNAME = "operator-bob"
ONVIF_USER = "onvif-admin-alice"

REGISTRY = """\
version: 1
district: {id: demo, name: Demo District}
departments:
  - {id: police, name: District Police, kind: police}
  - {id: edu, name: Education Bureau, kind: education}
groups:
  - {id: schools, name: School gates, department: edu}
  - {id: square, name: Central square, department: police}
  - {id: harbour, name: Harbour watch, department: police}
cameras:
  - id: cam-square-1
    name: Square north
    department: police
    groups: [square]
    location: {lat: 31.2, lon: 117.3, address: "1 Main St"}
    streams: {main: "rtsp://127.0.0.1:8554/sq1", sub: "rtsp://127.0.0.1:8554/sq1s"}
    credentials: {username: operator-bob, password_env: SHARPEYE_TEST_CAM_PASSWORD}
    tags: [plaza, ptz]
  - id: cam-school-1
    name: School gate east
    department: edu
    groups: [schools]
    location: {lat: 31.21, lon: 117.31}
    onvif:
      host: 127.0.0.1
      port: 8000
      credentials: {username_env: SHARPEYE_TEST_ONVIF_USER, secret: school-cam}
  - id: cam-square-2
    name: Square south
    department: police
    groups: [square]
    location: {lat: 31.2, lon: 117.3}
    streams: {main: "rtsp://127.0.0.1:8554/sq2"}
  - id: cam-off
    name: Old harbour
    department: police
    location: {lat: 31.22, lon: 117.32}
    streams: {main: "rtsp://127.0.0.1:8554/harbour"}
    enabled: false
"""


@dataclass
class Api:
    client: httpx.AsyncClient
    redis: redis.asyncio.Redis
    registry: Path
    app: FastAPI


def _health(camera_id: str, state: CameraState, age_s: float = 0.0, **kw: object) -> CameraHealth:
    fields: dict[str, object] = {
        "camera_id": camera_id,
        "node_id": "node-7",
        "state": state,
        "fps": 14.8,
        "bitrate_kbps": 812.0,
        "keyframe_interval_s": 2.0,
        "last_frame_age_s": 0.2,
        "decode_errors": 1,
        "reconnects": 2,
        "updated_at": time.time() - age_s,
    }
    fields.update(kw)
    return CameraHealth.model_validate(fields)


@pytest.fixture
async def api(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    monkeypatch.setenv("SHARPEYE_TEST_CAM_PASSWORD", PASSWORD)
    monkeypatch.setenv("SHARPEYE_TEST_ONVIF_USER", ONVIF_USER)
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(REGISTRY)
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )
    app = create_app(settings, registry_poll_s=0.05)
    r = redis.asyncio.Redis.from_url(redis_url)
    # ASGITransport does not run the lifespan: run it here, as uvicorn would.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        client.headers.update(await _login_admin(app, client))
        yield Api(client, r, registry, app)
    await r.aclose()


async def _login_admin(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """An administrator (sees every camera) of the test registry's police department."""
    return await _login_as(app, client, "admin", "police", Role.ADMINISTRATOR)


async def _login_as(
    app: FastAPI, client: httpx.AsyncClient, username: str, department: str, role: Role
) -> dict[str, str]:
    with session_scope(app.state.runtime.sessions) as s:
        create_user(
            s,
            username=username,
            password=f"{username}-password",
            department=department,
            roles=[role],
            now=time.time(),
        )
    r = await client.post(
        "/api/auth/login", json={"username": username, "password": f"{username}-password"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _get(api: Api, url: str, **params: str | int) -> httpx.Response:
    response = await api.client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


async def test_lists_registry_cameras_with_health(api: Api) -> None:
    await publish_health(
        api.redis,
        [
            _health("cam-square-1", CameraState.ONLINE),
            _health("cam-square-2", CameraState.DEGRADED, decode_errors=40, reader="pyav"),
        ],
    )
    response = await _get(api, "/api/cameras")
    assert response.headers["X-Total-Count"] == "4"
    by_id = {c["id"]: c for c in response.json()}
    assert list(by_id) == ["cam-square-1", "cam-school-1", "cam-square-2", "cam-off"]

    sq1 = by_id["cam-square-1"]
    assert sq1["name"] == "Square north"
    assert sq1["department"] == "police"
    assert sq1["department_name"] == "District Police"
    assert sq1["groups"] == ["square"]
    assert sq1["location"] == {"lat": 31.2, "lon": 117.3, "address": "1 Main St"}
    assert sq1["tags"] == ["plaza", "ptz"]
    assert sq1["streams"] == ["main", "sub"]
    assert sq1["has_onvif"] is False
    assert sq1["has_credentials"] is True
    h = sq1["health"]
    assert h["state"] == "online"
    assert h["fps"] == 14.8 and h["bitrate_kbps"] == 812.0 and h["keyframe_interval_s"] == 2.0
    assert h["decode_errors"] == 1 and h["reconnects"] == 2 and h["node_id"] == "node-7"
    assert h["last_frame_age_s"] >= 0.2 and h["updated_at"] > 0

    school = by_id["cam-school-1"]
    assert school["streams"] == [] and school["has_onvif"] is True
    assert school["has_credentials"] is True
    assert school["health"]["state"] == "unknown"
    assert school["health"]["fps"] is None
    assert by_id["cam-square-2"]["health"]["state"] == "degraded"
    assert by_id["cam-square-2"]["health"]["reader"] == "pyav"
    assert h["reader"] is None  # a report from a worker that predates the field
    assert by_id["cam-off"]["health"]["state"] == "disabled"
    assert by_id["cam-off"]["has_credentials"] is False


async def test_stale_report_is_offline_with_reason(api: Api) -> None:
    await publish_health(api.redis, [_health("cam-square-1", CameraState.ONLINE, age_s=30)])
    h = (await _get(api, "/api/cameras/cam-square-1")).json()["health"]
    assert h["state"] == "offline"
    assert "node-7" in h["reason"] and "last reported online" in h["reason"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"department": "police"}, ["cam-square-1", "cam-square-2", "cam-off"]),
        ({"group": "schools"}, ["cam-school-1"]),
        ({"state": "online"}, ["cam-square-1"]),
        ({"state": "unknown"}, ["cam-school-1", "cam-square-2"]),
        ({"state": "disabled"}, ["cam-off"]),
        ({"q": "SQUARE"}, ["cam-square-1", "cam-square-2"]),
        ({"q": "ptz"}, ["cam-square-1"]),
        ({"q": "gate"}, ["cam-school-1"]),
        ({"q": "central"}, ["cam-square-1", "cam-square-2"]),  # a group's name
        ({"department": "police", "state": "online"}, ["cam-square-1"]),
        ({"limit": 2}, ["cam-square-1", "cam-school-1"]),
        ({"limit": 2, "offset": 2}, ["cam-square-2", "cam-off"]),
        ({"state": "unknown", "limit": 1, "offset": 1}, ["cam-square-2"]),
    ],
)
async def test_filters(api: Api, params: dict[str, str | int], expected: list[str]) -> None:
    await publish_health(api.redis, [_health("cam-square-1", CameraState.ONLINE)])
    response = await _get(api, "/api/cameras", **params)
    assert [c["id"] for c in response.json()] == expected


async def test_total_count_is_before_pagination(api: Api) -> None:
    response = await _get(api, "/api/cameras", department="police", limit=1)
    assert len(response.json()) == 1
    assert response.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 1001}, "less than or equal to 1000"),
        ({"limit": 0}, "greater than or equal to 1"),
        ({"offset": -1}, "greater than or equal to 0"),
        ({"state": "sleeping"}, "online"),
        ({"department": "fisheries"}, "unknown department 'fisheries'"),
        ({"group": "nope"}, "unknown group 'nope'"),
    ],
)
async def test_bad_queries_are_422(api: Api, params: dict[str, str | int], fragment: str) -> None:
    response = await api.client.get("/api/cameras", params=params)
    assert response.status_code == 422
    assert fragment in response.text


async def test_unknown_camera_404_names_the_id(api: Api) -> None:
    response = await api.client.get("/api/cameras/cam-nowhere")
    assert response.status_code == 404
    assert "cam-nowhere" in response.json()["detail"]


async def test_no_credentials_or_stream_urls_in_any_response(api: Api) -> None:
    await publish_health(api.redis, [_health("cam-square-1", CameraState.ONLINE)])
    bodies = [
        (await api.client.get(url)).text
        for url in (
            "/api/cameras",
            "/api/cameras/cam-square-1",
            "/api/cameras/cam-school-1",
            "/api/cameras?q=operator",
            "/healthz",
            "/openapi.json",
            "/",
        )
    ]
    for body in bodies:
        for secret in (
            PASSWORD,
            USERNAME,
            ONVIF_USER,
            "SHARPEYE_TEST_CAM_PASSWORD",
            "SHARPEYE_TEST_ONVIF_USER",
            "school-cam",
            "rtsp://",
        ):
            assert secret not in body


async def test_search_does_not_match_credentials(api: Api) -> None:
    # A search by user name must not reveal which camera uses that login.
    response = await _get(api, "/api/cameras", q=USERNAME)
    assert response.json() == []


async def test_groups_have_names_and_visible_counts(api: Api) -> None:
    groups = (await _get(api, "/api/groups")).json()
    # Registry order; the harbour group has no camera, so nothing to show in a tree.
    assert groups == [
        {
            "id": "schools",
            "name": "School gates",
            "department": "edu",
            "department_name": "Education Bureau",
            "description": "",
            "cameras": 1,
        },
        {
            "id": "square",
            "name": "Central square",
            "department": "police",
            "department_name": "District Police",
            "description": "",
            "cameras": 2,
        },
    ]


async def test_groups_are_scoped_like_the_cameras(api: Api) -> None:
    edu = await _login_as(api.app, api.client, "edu-wall", "edu", Role.WALL_OPERATOR)
    r = await api.client.get("/api/groups", headers=edu)
    assert r.status_code == 200, r.text
    # Education sees its school camera only: the police square's name is not its business.
    assert [(g["id"], g["name"], g["cameras"]) for g in r.json()] == [
        ("schools", "School gates", 1)
    ]


async def _wait_for(api: Api, url: str, predicate: object, timeout_s: float = 5.0) -> object:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while True:
        body = (await api.client.get(url)).json()
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never matched; last body: {body}")
        await asyncio.sleep(0.05)


async def test_registry_edit_is_picked_up_without_restart(api: Api) -> None:
    edited = REGISTRY.replace("name: Square north", "name: Square north (renamed)") + (
        "  - id: cam-new\n"
        "    name: New camera\n"
        "    department: edu\n"
        "    location: {lat: 31.0, lon: 117.0}\n"
        '    streams: {main: "rtsp://127.0.0.1:8554/new"}\n'
    )
    api.registry.write_text(edited)
    await _wait_for(api, "/api/cameras", lambda body: [c["id"] for c in body][-1] == "cam-new")
    renamed = (await _get(api, "/api/cameras/cam-square-1")).json()
    assert renamed["name"] == "Square north (renamed)"


async def test_invalid_edit_keeps_last_good_registry(api: Api) -> None:
    api.registry.write_text(
        REGISTRY.replace("department: edu\n    groups", "department: nope\n    groups")
    )
    health = await _wait_for(
        api, "/healthz", lambda body: body["registry"]["reload_error"] is not None
    )
    assert isinstance(health, dict)
    error = health["registry"]["reload_error"]
    assert "camera_registry.yaml:" in error and "nope" in error
    # Still serving the last good registry.
    ids = [c["id"] for c in (await _get(api, "/api/cameras")).json()]
    assert ids == ["cam-square-1", "cam-school-1", "cam-square-2", "cam-off"]
    # Fixing the file clears the error.
    api.registry.write_text(REGISTRY.replace("Old harbour", "Old harbour (fixed)"))
    await _wait_for(api, "/healthz", lambda body: body["registry"]["reload_error"] is None)
    assert (await _get(api, "/api/cameras/cam-off")).json()["name"] == "Old harbour (fixed)"


async def test_healthz_reports_district_and_redis(api: Api) -> None:
    body = (await _get(api, "/healthz")).json()
    assert body["status"] == "ok"
    assert body["redis"] == "ok"
    assert body["registry"]["district"] == {"id": "demo", "name": "Demo District"}
    assert body["registry"]["cameras"] == 4


async def test_openapi_documents_the_endpoints(api: Api) -> None:
    spec = (await _get(api, "/openapi.json")).json()
    assert spec["info"]["title"] == "Sharpeye command API"
    assert "/api/cameras" in spec["paths"] and "/api/cameras/{camera_id}" in spec["paths"]
    get = spec["paths"]["/api/cameras"]["get"]
    assert get["summary"] and get["description"]
    assert {p["name"] for p in get["parameters"]} >= {
        "department",
        "group",
        "state",
        "q",
        "limit",
        "offset",
    }
    docs = await _get(api, "/docs")
    assert "swagger" in docs.text.lower()


async def test_wall_page_is_served(api: Api) -> None:
    page = await _get(api, "/")
    assert "<title>Sharpeye</title>" in page.text
    assert (await _get(api, "/app.js")).text.count("/api/cameras") >= 1


async def test_redis_down_is_503_naming_it(tmp_path: Path) -> None:
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(REGISTRY)
    server = EmbeddedRedis(tmp_path / "redis", write_url_file=False)
    url = server.start()
    named = redact_url(url)  # the error names the bus, never its password (redis://:***@…)
    try:
        settings = Settings.model_validate(
            {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": url}
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api") as client,
        ):
            client.headers.update(await _login_admin(app, client))
            server.stop()
            response = await client.get("/api/cameras")
            assert response.status_code == 503
            assert f"no Redis at {named}" in response.json()["detail"]
            assert server.password not in response.text
            health = (await client.get("/healthz")).json()
            assert health["status"] == "ok" and health["redis"].startswith("no Redis at")
    finally:
        server.stop()
