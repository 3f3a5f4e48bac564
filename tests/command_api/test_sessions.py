"""Login sessions: short access tokens renewed for a shift, and ended by logout, by an
administrator, by deactivation or at the session's absolute end (on the API's clock)."""

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


async def _login(api: Harness, username: str) -> dict[str, Any]:
    password = api.users[username].password
    r = await api.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _refresh(api: Harness, body: dict[str, Any]) -> Any:
    return await api.client.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _me(api: Harness, body: dict[str, Any]) -> int:
    return (await api.client.get("/api/auth/me", headers=_bearer(body))).status_code


async def test_a_shift_renews_past_the_token_lifetime_until_the_session_ends(
    api: Harness,
) -> None:
    auth = api.runtime.auth
    login = await _login(api, "forestry")
    assert login["expires_in"] == auth.token_ttl_s
    assert login["session_expires_at"] == api.clock.now() + auth.session_max_s
    current = login
    # A whole session, renewed at two thirds of each token's life as the wall does.
    renewals = 0
    while api.clock.now() + auth.token_ttl_s < login["session_expires_at"]:
        api.clock.advance(auth.token_ttl_s * 2 / 3)
        r = await _refresh(api, login)
        assert r.status_code == 200, r.text
        current = r.json()
        assert current["user"]["name"] == "forestry"
        assert current["refresh_token"] == login["refresh_token"]
        renewals += 1
    assert renewals >= auth.session_max_s // auth.token_ttl_s
    assert await _me(api, current) == 200
    # The last token is cut at the session's end, and the session cannot be renewed past it.
    api.clock.advance(login["session_expires_at"] - api.clock.now())
    assert await _me(api, current) == 401
    r = await _refresh(api, login)
    assert r.status_code == 401 and "maximum length" in r.json()["detail"]


async def test_an_expired_access_token_is_renewed_without_the_password(api: Harness) -> None:
    login = await _login(api, "tourism")
    api.clock.advance(api.runtime.auth.token_ttl_s + 1)
    assert await _me(api, login) == 401
    r = await _refresh(api, login)
    assert r.status_code == 200
    assert await _me(api, r.json()) == 200


async def test_logout_ends_renewal_and_the_tokens_already_issued(api: Harness) -> None:
    login = await _login(api, "forestry")
    other = await _login(api, "forestry")  # the same user on a second wall
    r = await api.client.post("/api/auth/logout", headers=_bearer(login))
    assert r.status_code == 204
    assert await _me(api, login) == 401
    assert (await _refresh(api, login)).status_code == 401
    # Only that session ended.
    assert await _me(api, other) == 200
    assert (await _refresh(api, other)).status_code == 200
    admin = _bearer(await _login(api, "admin"))
    audit = (await api.client.get("/api/audit", params={"action": "logout"}, headers=admin)).json()
    assert [e["actor"] for e in audit] == ["forestry"]


async def test_an_administrator_revokes_a_session(api: Harness) -> None:
    wall = await _login(api, "fisheries")
    admin = _bearer(await _login(api, "admin"))
    sessions = (await api.client.get("/api/auth/sessions", headers=admin)).json()
    mine = [s for s in sessions if s["user"] == "fisheries"]
    assert len(mine) == 1 and mine[0]["revoked_at"] is None
    assert wall["refresh_token"].startswith(mine[0]["id"] + ".")
    r = await api.client.delete(f"/api/auth/sessions/{mine[0]['id']}", headers=admin)
    assert r.status_code == 204
    assert await _me(api, wall) == 401
    refused = await _refresh(api, wall)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    listed = (await api.client.get("/api/auth/sessions", headers=admin)).json()
    assert next(s for s in listed if s["id"] == mine[0]["id"])["revoked_by"] == "admin"
    missing = await api.client.delete("/api/auth/sessions/nope", headers=admin)
    assert missing.status_code == 404
    # Not for anyone else.
    r = await api.client.get("/api/auth/sessions", headers=_bearer(wall))
    assert r.status_code == 401
    r = await api.client.get("/api/auth/sessions", headers=_bearer(await _login(api, "tourism")))
    assert r.status_code == 403


async def test_a_deactivated_user_cannot_renew(api: Harness) -> None:
    wall = await _login(api, "tourism")
    admin = _bearer(await _login(api, "admin"))
    users = (await api.client.get("/api/users", headers=admin)).json()
    tourism_id = next(u["id"] for u in users if u["username"] == "tourism")
    await api.client.patch(f"/api/users/{tourism_id}", json={"active": False}, headers=admin)
    refused = await _refresh(api, wall)
    assert refused.status_code == 401 and "no longer active" in refused.json()["detail"]


@pytest.mark.parametrize("token", ["", "nonsense", "a" * 32 + ".wrong-secret"])
async def test_a_forged_renewal_is_refused(api: Harness, token: str) -> None:
    wall = await _login(api, "tourism")
    forged = token or wall["refresh_token"].split(".")[0] + ".not-the-secret"
    r = await api.client.post("/api/auth/refresh", json={"refresh_token": forged})
    assert r.status_code == 401 and r.json()["detail"] == "unknown session: log in again"
