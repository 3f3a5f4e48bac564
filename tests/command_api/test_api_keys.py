"""API keys end: 90 days by default (a year at most), refused with 401 once expired
(audited), rotated with an overlap in which both keys work; listed with expiry, never the key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.command_api.harness import NOON, Harness, harness

pytestmark = pytest.mark.integration

DAY = 86400.0


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


async def _new_key(api: Harness, admin: dict[str, str], **extra: Any) -> Any:
    body = {"name": "port-gateway", "department": "fisheries", "roles": ["department_viewer"]}
    return await api.client.post("/api/auth/api-keys", json={**body, **extra}, headers=admin)


async def _me(api: Harness, key: str) -> Any:
    return await api.client.get("/api/auth/me", headers={"X-API-Key": key})


async def test_a_key_expires_after_its_lifetime_and_says_so(api: Harness) -> None:
    admin = await api.login("admin")
    r = await _new_key(api, admin)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert r.json()["expires_at"] == NOON + 90 * DAY
    assert (await _new_key(api, admin, expires_in_days=366)).status_code == 422
    short = (await _new_key(api, admin, expires_in_days=7)).json()
    assert short["expires_at"] == NOON + 7 * DAY
    api.clock.advance(90 * DAY - 1)
    assert (await _me(api, key)).status_code == 200
    api.clock.advance(1)
    admin = await api.login("admin")
    refused = await _me(api, key)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    audit = await api.client.get("/api/audit", params={"action": "api_key.use"}, headers=admin)
    [entry] = audit.json()
    assert entry["outcome"] == "denied" and entry["target"] == f"key:{r.json()['prefix']}"
    assert key not in audit.text
    # A machine that goes on with its expired key writes one record a minute, not one a
    # request; the next record counts what it folded in.
    for _ in range(50):
        assert (await _me(api, key)).status_code == 401
    audit = await api.client.get("/api/audit", params={"action": "api_key.use"}, headers=admin)
    assert len(audit.json()) == 1
    api.clock.advance(60)
    assert (await _me(api, key)).status_code == 401
    audit = await api.client.get("/api/audit", params={"action": "api_key.use"}, headers=admin)
    newest = audit.json()[0]
    assert len(audit.json()) == 2 and newest["detail"]["repeats"] == 50


async def test_rotation_gives_a_new_key_and_the_old_one_an_overlap(api: Harness) -> None:
    admin = await api.login("admin")
    old = (await _new_key(api, admin)).json()
    r = await api.client.post(f"/api/auth/api-keys/{old['id']}/rotate", headers=admin)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["key"] != old["key"] and new["name"] == old["name"]
    assert new["expires_at"] == NOON + 90 * DAY
    listed = {
        k["id"]: k for k in (await api.client.get("/api/auth/api-keys", headers=admin)).json()
    }
    assert listed[old["id"]]["expires_at"] == NOON + DAY
    assert listed[old["id"]]["replaced_by"] == new["id"]
    assert old["key"] not in str(listed) and new["key"] not in str(listed)
    again = await api.client.post(f"/api/auth/api-keys/{old['id']}/rotate", headers=admin)
    assert again.status_code == 409
    api.clock.advance(DAY - 60)
    assert (await _me(api, old["key"])).status_code == 200  # the overlap: both work
    assert (await _me(api, new["key"])).status_code == 200
    api.clock.advance(60)
    assert (await _me(api, old["key"])).status_code == 401
    assert (await _me(api, new["key"])).status_code == 200


async def test_rotation_with_a_chosen_overlap_and_lifetime(api: Harness) -> None:
    admin = await api.login("admin")
    old = (await _new_key(api, admin)).json()
    r = await api.client.post(
        f"/api/auth/api-keys/{old['id']}/rotate",
        json={"overlap_hours": 0, "expires_in_days": 30},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["expires_at"] == NOON + 30 * DAY
    assert (await _me(api, old["key"])).status_code == 401
    assert (
        await api.client.post("/api/auth/api-keys/999/rotate", headers=admin)
    ).status_code == 404


def test_keys_from_before_expiry_get_the_default_lifetime_at_upgrade(tmp_path: Path) -> None:
    import time

    from sqlalchemy import text

    from sharpeye.settings import Settings
    from sharpeye.store.db import create_engine_for, upgrade_database

    settings = Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": None})
    upgrade_database(settings, "f4b7c2d9e1a3")  # the revision before key expiry
    engine = create_engine_for(settings)
    try:
        with engine.begin() as c:
            c.execute(
                text("INSERT INTO departments VALUES ('police', 'Police', 'police', 'api', 0)")
            )
            c.execute(
                text(
                    "INSERT INTO api_keys (prefix, key_sha256, name, department_id, roles,"
                    " created_by, created_at) VALUES ('abc', 'x', 'old', 'police', '[]', 'a', 0)"
                )
            )
        before = time.time()
        upgrade_database(settings)
        with engine.connect() as c:
            expires_at = c.execute(text("SELECT expires_at FROM api_keys")).scalar_one()
    finally:
        engine.dispose()
    assert before + 90 * DAY <= expires_at <= time.time() + 90 * DAY
