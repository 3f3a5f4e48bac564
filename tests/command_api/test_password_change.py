"""A new password ends the user's other sessions: whoever held the old one is logged out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


async def _session(api: Harness, user: str) -> dict[str, Any]:
    password = api.users[user].password
    r = await api.client.post("/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    return body


async def _alive(api: Harness, session: dict[str, Any]) -> bool:
    me = await api.client.get("/api/auth/me", headers=session["headers"])
    renewed = await api.client.post(
        "/api/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert me.status_code == renewed.status_code, (me.text, renewed.text)
    return me.status_code == 200


async def _user_id(api: Harness, admin: dict[str, Any], name: str) -> int:
    users = (await api.client.get("/api/users", headers=admin["headers"])).json()
    return int(next(u["id"] for u in users if u["username"] == name))


async def test_a_new_password_ends_the_users_sessions(api: Harness) -> None:
    admin = await _session(api, "admin")
    walls = [await _session(api, "police-wall"), await _session(api, "police-wall")]
    other = await _session(api, "forestry")
    uid = await _user_id(api, admin, "police-wall")
    # Another change (display name) ends nothing.
    r = await api.client.patch(
        f"/api/users/{uid}", json={"display_name": "Wall 1"}, headers=admin["headers"]
    )
    assert r.status_code == 200 and all([await _alive(api, w) for w in walls])
    r = await api.client.patch(
        f"/api/users/{uid}", json={"password": "a-new-password"}, headers=admin["headers"]
    )
    assert r.status_code == 200, r.text
    assert [await _alive(api, w) for w in walls] == [False, False]
    assert await _alive(api, other) and await _alive(api, admin)
    audit = await api.client.get(
        "/api/audit", params={"action": "user.update"}, headers=admin["headers"]
    )
    assert audit.json()[0]["detail"] == {"password": "changed", "sessions_ended": 2}


async def test_changing_ones_own_password_keeps_the_session_doing_it(api: Harness) -> None:
    here, elsewhere = await _session(api, "admin"), await _session(api, "admin")
    uid = await _user_id(api, here, "admin")
    r = await api.client.patch(
        f"/api/users/{uid}", json={"password": "a-new-admin-pass"}, headers=here["headers"]
    )
    assert r.status_code == 200, r.text
    assert await _alive(api, here)
    assert not await _alive(api, elsewhere)
