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


async def test_users_change_their_own_password_with_the_current_one(api: Harness) -> None:
    """Self-service: the current password is asked for, the user's other sessions end
    (whoever held the old one), this one goes on, and both outcomes are audited."""
    here, elsewhere = await _session(api, "police-wall"), await _session(api, "police-wall")
    old = api.users["police-wall"].password
    url = "/api/auth/password"
    body = {"current_password": old, "new_password": "a-brand-new-pass"}
    wrong = await api.client.post(
        url, json={**body, "current_password": "not-it"}, headers=here["headers"]
    )
    assert wrong.status_code == 401 and await _alive(api, elsewhere)
    same = await api.client.post(url, json={**body, "new_password": old}, headers=here["headers"])
    assert same.status_code == 422
    short = await api.client.post(
        url, json={**body, "new_password": "short"}, headers=here["headers"]
    )
    assert short.status_code == 422
    assert (await api.client.post(url, json=body)).status_code == 401  # not logged in
    r = await api.client.post(url, json=body, headers=here["headers"])
    assert r.status_code == 204, r.text
    assert await _alive(api, here) and not await _alive(api, elsewhere)
    login = {"username": "police-wall", "password": old}
    assert (await api.client.post("/api/auth/login", json=login)).status_code == 401
    login["password"] = "a-brand-new-pass"
    assert (await api.client.post("/api/auth/login", json=login)).status_code == 200
    admin = await _session(api, "admin")
    audit = await api.client.get(
        "/api/audit", params={"action": "user.password"}, headers=admin["headers"]
    )
    rows = audit.json()
    assert [(a["outcome"], a["actor"]) for a in rows] == [
        ("ok", "police-wall"),
        ("denied", "police-wall"),
    ]
    assert rows[0]["detail"]["sessions_ended"] == 1
    assert old not in audit.text and "a-brand-new-pass" not in audit.text


async def test_guessing_the_current_password_is_throttled_like_a_login(api: Harness) -> None:
    """A wall left logged in must not let someone try passwords until one fits."""
    here = await _session(api, "forestry")
    body = {"current_password": "guess", "new_password": "a-brand-new-pass"}
    codes = [
        (
            await api.client.post("/api/auth/password", json=body, headers=here["headers"])
        ).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[-1] == 429, codes


async def test_an_api_key_has_no_password_to_change(api: Harness) -> None:
    admin = await _session(api, "admin")
    key = await api.client.post(
        "/api/auth/api-keys",
        json={"name": "gateway", "department": "fisheries", "roles": ["department_viewer"]},
        headers=admin["headers"],
    )
    r = await api.client.post(
        "/api/auth/password",
        json={"current_password": "x", "new_password": "a-brand-new-pass"},
        headers={"X-API-Key": key.json()["key"]},
    )
    assert r.status_code == 403
