"""What each role and department may read: camera error texts (category for operators,
scrubbed detail for administrators), /healthz, alarm rules, alarms on cameras outside the
caller's scope (REST and the live socket's hub). The demo registry: tourism does not see
the junction's cameras, police sees them all."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from camera.rtsp.errors import RtspError
from camera.rtsp.handshake import open_session
from command_api.auth.principal import Principal
from command_api.deps import scope_for
from sharpeye.bus.health import publish_health
from sharpeye.contracts.health import CameraHealth, CameraState
from tests.command_api.harness import Harness, event, harness
from tests.fixtures_fleet import Fleet, free_port, stop_and_check

pytestmark = pytest.mark.integration

QUERY = "channel=1&token=cam-query-secret"


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url) as h:
        yield h


SECURE = "/secure/vtest-360p/gate"  # a camera behind a login


@pytest.fixture
def fleet(tmp_path: Path, footage: object) -> Iterator[Fleet]:
    """The simulated fleet serving one login-protected camera (mounted from a registry)."""
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    port = free_port()
    registry = tmp_path / "fleet.yaml"
    registry.write_text(
        "version: 1\ndistrict: {id: t, name: T}\n"
        "departments: [{id: police, name: Police, kind: police}]\n"
        "cameras:\n  - {id: gate, name: Gate, department: police, "
        f"location: {{lat: 31.8, lon: 117.2}}, streams: {{main: 'rtsp://127.0.0.1:{port}{SECURE}'}}}}\n"
    )
    f = Fleet(cameras=1, clip="vtest-360p", registry=registry, port=port).start(timeout=90)
    try:
        yield f
    finally:
        stop_and_check(f)


def _error_of(url: str, user: str | None = None, password: str | None = None) -> str:
    """The error the native RTSP client reports for a real failing camera."""
    try:
        open_session(url, user, password, timeout=30).sock.close()
    except RtspError as exc:
        return str(exc)
    raise AssertionError(f"{url} did not fail")


async def test_camera_errors_are_categories_for_operators_detail_for_admins(
    api: Harness, fleet: Fleet
) -> None:
    secure = SECURE
    dead = free_port()
    errors = {
        # A wrong password on the login-protected mount.
        "plaza-north": _error_of(fleet.url(secure), "cam-operator-x", "wrong-password"),
        # A path the server does not serve.
        "plaza-south": _error_of(fleet.url(f"/sim/nowhere/cam9?{QUERY}")),
        # A port nothing listens on.
        "scenic-lakeside": _error_of(f"rtsp://127.0.0.1:{dead}/sim/x?{QUERY}"),
    }
    await publish_health(
        api.redis,
        [
            CameraHealth(
                camera_id=camera_id,
                node_id="node-1",
                state=CameraState.OFFLINE,
                last_error=error,
                reason=error,
                updated_at=time.time(),
            )
            for camera_id, error in errors.items()
        ],
    )
    categories = {
        "plaza-north": "login refused",
        "plaza-south": "stream not found",
        "scenic-lakeside": "unreachable",
    }
    secrets = ["cam-operator-x", "wrong-password", "cam-query-secret", "channel=1"]
    where = [
        f"127.0.0.1:{fleet.port}",
        f"127.0.0.1:{dead}",
        "/sim/",
        "/secure/",
        "nowhere",
        "vtest-360p",
    ]

    tourism = await api.login("tourism")
    r = await api.client.get("/api/cameras", headers=tourism)
    assert r.status_code == 200, r.text
    seen = {c["id"]: c["health"] for c in r.json() if c["id"] in categories}
    assert set(seen) == set(categories)
    for camera_id, health in seen.items():
        assert health["reason"] == categories[camera_id], health
        assert health["last_error"] == categories[camera_id], health
    text = r.text
    for fragment in secrets + where:
        assert fragment not in text, fragment

    admin = await api.login("admin")
    r = await api.client.get("/api/cameras/plaza-north", headers=admin)
    health = r.json()["health"]
    # The administrator fixes cameras: the address and the answer, no login or query.
    assert f"127.0.0.1:{fleet.port}{secure}" in health["last_error"]
    assert "401" in health["last_error"]
    r = await api.client.get("/api/cameras", headers=admin)
    for fragment in secrets:
        assert fragment not in r.text, fragment


async def test_live_health_is_scrubbed_per_role(api: Harness) -> None:
    hub = api.runtime.live
    admin = _principal(api, "admin")
    tourism = _principal(api, "tourism")
    mine = hub.register(
        await asyncio.to_thread(scope_for, api.runtime, tourism),
        department="tourism",
        administrator=False,
        kinds={"health"},
    )
    everything = hub.register(
        await asyncio.to_thread(scope_for, api.runtime, admin),
        department=None,
        administrator=True,
        kinds={"health"},
    )
    try:
        error = (
            "rtsp://10.1.2.3:554/Streaming/101?token=abc: the camera refused the credentials (401)"
        )
        hub.dispatch(
            "sharpeye:health",
            json.dumps({"camera_id": "plaza-north", "state": "offline", "last_error": error}),
        )
        plain = json.loads(mine.queue.get_nowait())
        detail = json.loads(everything.queue.get_nowait())
        assert plain["last_error"] == "login refused"
        assert detail["last_error"] == (
            "rtsp://10.1.2.3:554/Streaming/101: the camera refused the credentials (401)"
        )
    finally:
        hub.unregister(mine)
        hub.unregister(everything)


def _principal(api: Harness, username: str) -> Principal:
    from command_api.auth.directory import user_principal
    from sharpeye.store.models import UserRow

    with api.runtime.sessions() as s:
        row = s.query(UserRow).filter_by(username=username).one()
        return user_principal(row, None)


async def test_healthz_answers_probes_status_only(api: Harness) -> None:
    bare = await api.client.get("/healthz")
    assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    viewer = await api.client.get("/healthz", headers=await api.login("tourism"))
    assert viewer.json() == {"status": "ok"}
    bad = await api.client.get("/healthz", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 200 and bad.json() == {"status": "ok"}
    admin = (await api.client.get("/healthz", headers=await api.login("admin"))).json()
    assert admin["redis"] == "ok" and admin["registry"]["path"].endswith(".yaml")
    assert admin["registry"]["reload_error"] is None


async def test_rules_are_scoped_to_the_department_and_its_cameras(api: Harness) -> None:
    admin = await api.login("admin")
    rule = {
        "id": "mixed-fire",
        "name": "Fire at the junction or the lake",
        "event_types": ["fire"],
        "cameras": ["junction-east", "scenic-lakeside"],
        "departments": ["tourism"],
    }
    assert (await api.client.put("/api/rules/mixed-fire", json=rule, headers=admin)).is_success
    everything = (await api.client.get("/api/rules", headers=admin)).json()
    tourism = await api.login("tourism")
    mine = (await api.client.get("/api/rules", headers=tourism)).json()
    assert {r["id"] for r in mine} < {r["id"] for r in everything}
    assert all("tourism" in r["departments"] for r in mine)
    mixed = next(r for r in mine if r["id"] == "mixed-fire")
    assert mixed["cameras"] == ["scenic-lakeside"] and mixed["cameras_withheld"] == 1
    # Another department's rule is not there for them (404, not a 403 confirming the id).
    other = next(r["id"] for r in everything if "tourism" not in r["departments"])
    assert (await api.client.get(f"/api/rules/{other}", headers=tourism)).status_code == 404
    got = (await api.client.get(f"/api/rules/{other}", headers=admin)).json()
    assert got["id"] == other


async def _alarm(api: Harness, user: str) -> dict[str, Any]:
    headers = await api.login(user)
    for _ in range(1000):  # a hang guard, not a timing assertion
        rows: list[dict[str, Any]] = (await api.client.get("/api/alarms", headers=headers)).json()
        if rows:
            return rows[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no alarm for {user}")


async def test_alarm_on_a_camera_outside_the_scope_keeps_no_location_or_evidence(
    api: Harness,
) -> None:
    admin = await api.login("admin")
    rule = {
        "id": "junction-fire",
        "name": "Junction fire",
        "event_types": ["fire"],
        "cameras": ["junction-east"],
        "departments": ["tourism", "police"],
    }
    assert (await api.client.put("/api/rules/junction-fire", json=rule, headers=admin)).is_success
    hub = api.runtime.live
    tourism_scope = await asyncio.to_thread(scope_for, api.runtime, _principal(api, "tourism"))
    police_scope = await asyncio.to_thread(scope_for, api.runtime, _principal(api, "police-wall"))
    assert not tourism_scope.allows("junction-east") and police_scope.allows("junction-east")
    # As /api/alarms/live registers them.
    tourism_live = hub.register(
        tourism_scope, department="tourism", administrator=False, kinds={"alarm"}, tagged=False
    )
    police_live = hub.register(
        police_scope, department="police", administrator=False, kinds={"alarm"}, tagged=False
    )
    try:
        evidence = [{"kind": "snapshot", "ref": "snapshots/junction-east/1.jpg"}]
        await api.publish(event("fire", "junction-east", score=0.9, evidence=evidence))

        police = await _alarm(api, "police-wall")
        assert police["camera_name"] != "junction-east" and police["lat"] is not None
        assert police["evidence"] and police["camera_name"] in police["title"]

        tourism = await _alarm(api, "tourism")
        assert tourism["id"] == police["id"] and tourism["rule_id"] == "junction-fire"
        assert tourism["camera_id"] == "junction-east"
        assert tourism["camera_name"] == "junction-east"  # the id, not the name
        assert tourism["lat"] is None and tourism["lon"] is None
        assert tourism["evidence"] == []
        assert police["camera_name"] not in tourism["title"]
        detail = await api.client.get(
            f"/api/alarms/{tourism['id']}", headers=await api.login("tourism")
        )
        assert detail.json()["lat"] is None and detail.json()["evidence"] == []
        ack = await api.client.post(
            f"/api/alarms/{tourism['id']}/ack", json={}, headers=await api.login("tourism")
        )
        assert ack.status_code == 200 and ack.json()["evidence"] == []

        live_t = json.loads(await asyncio.wait_for(tourism_live.queue.get(), 60))["alarm"]
        live_p = json.loads(await asyncio.wait_for(police_live.queue.get(), 60))["alarm"]
        assert live_t["lat"] is None and live_t["evidence"] == []
        assert live_t["camera_name"] == "junction-east"
        assert live_p["lat"] == police["lat"] and live_p["evidence"] == police["evidence"]
    finally:
        hub.unregister(tourism_live)
        hub.unregister(police_live)
