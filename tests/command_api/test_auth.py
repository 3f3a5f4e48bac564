"""Login, tokens, API keys, roles, and department scope on every endpoint (audited)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from command_api.auth.roles import Role
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


async def _audit(api: Harness, **params: str) -> list[dict[str, object]]:
    r = await api.client.get("/api/audit", params=params, headers=await api.login("admin"))
    assert r.status_code == 200, r.text
    rows: list[dict[str, object]] = r.json()
    return rows


async def test_login_me_and_audit(api: Harness) -> None:
    headers = await api.login("forestry")
    me = (await api.client.get("/api/auth/me", headers=headers)).json()
    assert me == {
        "kind": "user",
        "name": "forestry",
        "department": "forestry",
        "roles": ["wall_operator"],
    }
    bad = await api.client.post(
        "/api/auth/login", json={"username": "forestry", "password": "nope"}
    )
    assert bad.status_code == 401
    logins = await _audit(api, action="login")
    assert [(e["actor"], e["outcome"]) for e in reversed(logins)][:2] == [
        ("forestry", "ok"),
        ("forestry", "denied"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"X-API-Key": "sk_nothing_here"},
        {"Authorization": "Basic eA=="},
    ],
)
async def test_unauthenticated_is_401(api: Harness, headers: dict[str, str]) -> None:
    r = await api.client.get("/api/cameras", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_token_expires_with_the_clock(api: Harness) -> None:
    headers = await api.login("tourism")
    assert (await api.client.get("/api/auth/me", headers=headers)).status_code == 200
    api.clock.advance(api.runtime.auth.token_ttl_s + 1)
    r = await api.client.get("/api/auth/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_deactivated_user_loses_access_at_once(api: Harness) -> None:
    admin = await api.login("admin")
    headers = await api.login("tourism")
    users = (await api.client.get("/api/users", headers=admin)).json()
    tourism_id = next(u["id"] for u in users if u["username"] == "tourism")
    r = await api.client.patch(f"/api/users/{tourism_id}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await api.client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_scope_per_department(api: Harness) -> None:
    def ids(body: list[dict[str, object]]) -> set[object]:
        return {c["id"] for c in body}

    fisheries = (await api.client.get("/api/cameras", headers=await api.login("fisheries"))).json()
    assert ids(fisheries) == {"fishing-port-quay", "fishing-port-mouth"}
    tourism = (await api.client.get("/api/cameras", headers=await api.login("tourism"))).json()
    assert ids(tourism) == {"scenic-lakeside", "plaza-north", "plaza-south"}
    police = (await api.client.get("/api/cameras", headers=await api.login("police-wall"))).json()
    assert len(police) == 13


async def test_cross_department_camera_is_403_and_audited(api: Harness) -> None:
    headers = await api.login("fisheries")
    r = await api.client.get("/api/cameras/police-station-gate", headers=headers)
    assert r.status_code == 403
    assert (await api.client.get("/api/cameras/no-such-camera", headers=headers)).status_code == 404
    denied = await _audit(api, outcome="denied")
    assert any(
        e["actor"] == "fisheries" and e["target"] == "camera:police-station-gate" for e in denied
    )


async def test_grant_with_expiry_changes_scope_and_is_audited(api: Harness) -> None:
    admin = await api.login("admin")
    fisheries = await api.login("fisheries")
    assert (
        await api.client.get("/api/cameras/forest-lookout-1", headers=fisheries)
    ).status_code == 403
    expires = api.clock.now() + 3600
    r = await api.client.post(
        "/api/grants",
        json={
            "department": "fisheries",
            "groups": ["forest"],
            "expires_at": f"{_iso(expires)}",
            "note": "drill",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert (
        await api.client.get("/api/cameras/forest-lookout-1", headers=fisheries)
    ).status_code == 200
    api.clock.advance(3601)
    fisheries = await api.login("fisheries")
    assert (
        await api.client.get("/api/cameras/forest-lookout-1", headers=fisheries)
    ).status_code == 403
    grants = await _audit(api, action="grant.create")
    assert grants[0]["detail"]["groups"] == ["forest"]  # type: ignore[index]


async def test_registry_grant_expiry_follows_the_clock(api: Harness) -> None:
    city = await api.client.post(
        "/api/users",
        json={
            "username": "city",
            "password": "city-pass-123",
            "department": "city_management",
            "roles": ["department_viewer"],
        },
        headers=await api.login("admin"),
    )
    assert city.status_code == 201, city.text
    api.users["city"] = type(api.users["admin"])(
        "city", "city-pass-123", "city_management", (Role.DEPARTMENT_VIEWER,)
    )
    headers = await api.login("city")
    assert (
        await api.client.get("/api/cameras/scenic-lakeside", headers=headers)
    ).status_code == 200
    api.clock.set(1_823_443_200.0)  # 2027-10-13: the Golden Week grant has expired
    headers = await api.login("city")
    assert (
        await api.client.get("/api/cameras/scenic-lakeside", headers=headers)
    ).status_code == 403


async def test_roles_are_enforced_and_audited(api: Harness) -> None:
    viewer = await api.login("education")
    r = await api.client.post(
        "/api/grants", json={"department": "education", "groups": ["forest"]}, headers=viewer
    )
    assert r.status_code == 403
    assert (await api.client.get("/api/audit", headers=viewer)).status_code == 403
    denied = await _audit(api, outcome="denied", actor="education")
    assert {e["action"] for e in denied} == {"POST /api/grants", "GET /api/audit"}


async def test_api_key_for_a_machine(api: Harness) -> None:
    admin = await api.login("admin")
    r = await api.client.post(
        "/api/auth/api-keys",
        json={"name": "port-gateway", "department": "fisheries", "roles": ["department_viewer"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    me = (await api.client.get("/api/auth/me", headers={"X-API-Key": key})).json()
    assert me["kind"] == "api_key" and me["department"] == "fisheries"
    bearer = await api.client.get("/api/cameras", headers={"Authorization": f"Bearer {key}"})
    assert {c["id"] for c in bearer.json()} == {"fishing-port-quay", "fishing-port-mouth"}
    listed = (await api.client.get("/api/auth/api-keys", headers=admin)).json()
    assert "key" not in listed[0] and key not in str(listed)
    assert (
        await api.client.delete(f"/api/auth/api-keys/{key_id}", headers=admin)
    ).status_code == 204
    assert (await api.client.get("/api/auth/me", headers={"X-API-Key": key})).status_code == 401


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


async def test_department_added_to_the_registry_appears_without_restart(
    api: Harness, tmp_path: Path
) -> None:
    import asyncio

    registry = tmp_path / "camera_registry.yaml"
    text = registry.read_text()
    anchor = "  - {id: food_safety,"
    line = "  - {id: transport, name: Transport Bureau, kind: transport}\n"
    registry.write_text(text.replace(anchor, line + anchor, 1))
    headers = await api.login("tourism")
    for _ in range(500):  # hang guard
        departments = (await api.client.get("/api/departments", headers=headers)).json()
        if any(d["id"] == "transport" for d in departments):
            break
        await asyncio.sleep(0.02)
    assert {
        "id": "transport",
        "name": "Transport Bureau",
        "kind": "transport",
        "source": "registry",
    } in departments


async def test_require_camera_audits_allowed_use_and_refusal(api: Harness) -> None:
    from fastapi import HTTPException

    from command_api.auth.directory import user_principal
    from command_api.auth.guard import require_camera
    from command_api.deps import scope_for
    from sharpeye.store.models import UserRow

    with api.runtime.sessions() as s:
        from sqlalchemy import select

        user = s.execute(select(UserRow).where(UserRow.username == "tourism")).scalar_one()
        principal = user_principal(user)
    scope = scope_for(api.runtime, principal)
    registry = api.runtime.registry.registry
    camera = await require_camera(
        api.runtime,
        registry,
        scope,
        "scenic-lakeside",
        "viewer_token",
        audit_allowed=True,
        detail={"ttl_s": 300},
    )
    assert camera.id == "scenic-lakeside"
    with pytest.raises(HTTPException) as refused:
        await require_camera(api.runtime, registry, scope, "police-station-gate", "viewer_token")
    assert refused.value.status_code == 403
    records = await _audit(api, action="viewer_token")
    assert [(r["target"], r["outcome"]) for r in records] == [
        ("camera:police-station-gate", "denied"),
        ("camera:scenic-lakeside", "ok"),
    ]
    assert records[1]["detail"] == {"ttl_s": 300}
