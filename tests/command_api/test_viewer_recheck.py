"""POST /api/cameras/viewer-tokens/check: every way a viewer's right ends is seen by the
relay's recheck of a playing view (issue 17). The real-peer tests (an aiortc viewer cut by
a logout or a removed grant) are in tests/relay/test_revocation.py; here each other way, on
the API alone: an administrator's revocation, a disabled user, a new password, a move to
another department, a revoked API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from command_api.routers.viewer import get_signer
from sharpeye.relay_settings import RECHECK_PATH, RECHECK_PURPOSE
from sharpeye.store.models.audit import AuditRecord
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

CAMERA = "school-gate"  # education's own camera in the demo registry


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


async def _check(api: Harness, token: str) -> list[dict[str, Any]]:
    signer = get_signer(api.runtime.settings)
    auth = {"Authorization": f"Bearer {signer.issue_service(RECHECK_PURPOSE)}"}
    r = await api.client.post(RECHECK_PATH, json={"tokens": [token]}, headers=auth)
    assert r.status_code == 200, r.text
    refused: list[dict[str, Any]] = r.json()["refused"]
    return refused


async def _token(api: Harness, headers: dict[str, str]) -> str:
    r = await api.client.post(f"/api/cameras/{CAMERA}/viewer-token", headers=headers)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def _user_id(api: Harness, admin: dict[str, str], username: str) -> int:
    users = (await api.client.get("/api/users", headers=admin)).json()
    return int(next(u["id"] for u in users if u["username"] == username))


async def _revoke_session(api: Harness, admin: dict[str, str], viewer: dict[str, str]) -> None:
    sessions = (await api.client.get("/api/auth/sessions", headers=admin)).json()
    mine = next(s for s in sessions if s["user"] == "education" and s["revoked_at"] is None)
    r = await api.client.delete(f"/api/auth/sessions/{mine['id']}", headers=admin)
    assert r.status_code == 204, r.text


async def _patch(api: Harness, admin: dict[str, str], body: dict[str, Any]) -> None:
    user_id = await _user_id(api, admin, "education")
    r = await api.client.patch(f"/api/users/{user_id}", json=body, headers=admin)
    assert r.status_code == 200, r.text


async def _disable(api: Harness, admin: dict[str, str], viewer: dict[str, str]) -> None:
    await _patch(api, admin, {"active": False})


async def _new_password(api: Harness, admin: dict[str, str], viewer: dict[str, str]) -> None:
    await _patch(api, admin, {"password": "another-pass-5678"})


async def _move(api: Harness, admin: dict[str, str], viewer: dict[str, str]) -> None:
    await _patch(api, admin, {"department": "police"})


Change = Callable[[Harness, dict[str, str], dict[str, str]], Awaitable[None]]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_revoke_session, "session ended"),
        (_disable, "no longer active"),
        (_new_password, "session ended"),
        (_move, "another department"),
    ],
    ids=["admin-revokes-session", "user-disabled", "new-password", "moved-department"],
)
async def test_a_users_right_ending_refuses_the_playing_view(
    api: Harness, change: Change, reason: str
) -> None:
    admin = await api.login("admin")
    viewer = await api.login("education")
    token = await _token(api, viewer)
    assert await _check(api, token) == []
    await change(api, admin, viewer)
    (refused,) = await _check(api, token)
    assert refused["index"] == 0
    assert reason in refused["reason"]
    with api.runtime.sessions() as s:
        query = select(AuditRecord).where(AuditRecord.action == "camera.view.ended")
        (entry,) = s.scalars(query)
    assert (entry.actor, entry.target, entry.outcome) == ("education", f"camera:{CAMERA}", "denied")


async def test_a_revoked_api_key_refuses_the_playing_view(api: Harness) -> None:
    admin = await api.login("admin")
    body = {"name": "kiosk", "department": "education", "roles": ["department_viewer"]}
    r = await api.client.post("/api/auth/api-keys", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    token = await _token(api, {"X-API-Key": created["key"]})
    assert await _check(api, token) == []
    r = await api.client.delete(f"/api/auth/api-keys/{created['id']}", headers=admin)
    assert r.status_code == 204, r.text
    (refused,) = await _check(api, token)
    assert refused["reason"] == "API key revoked"
