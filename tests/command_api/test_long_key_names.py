"""An API key may be named with 200 characters; it acts as "key:<name>", and where the store
records who did something (an alarm's history, a grant's or a key's maker, who ended a
session: 64 characters) the name is cut as the audit log cuts it. Written whole it
overflowed those columns on PostgreSQL: the access matrix's operator key got a 500 on
acknowledging an alarm, which stayed unacknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from command_api.audit.bounds import LIMITS, cut
from sharpeye.store.models import AlarmNote, ApiKeyRow, GrantRow, LoginSessionRow
from tests.command_api.harness import Harness, event, harness

pytestmark = pytest.mark.integration

NAME = "machine-" + "n" * 192  # 200 characters, the most a key's name may have
RECORDED = cut(f"key:{NAME}", LIMITS["actor"])


async def _key(api: Harness, roles: list[str]) -> dict[str, str]:
    body = {"name": NAME, "department": "police", "roles": roles}
    r = await api.client.post("/api/auth/api-keys", json=body, headers=await api.login("admin"))
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


async def test_what_a_long_named_key_does_is_recorded(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with harness(tmp_path, redis_url, database_url) as api:
        admin = await _key(api, ["administrator"])
        grant = {"department": "education", "groups": ["port"]}
        r = await api.client.post("/api/grants", json=grant, headers=admin)
        assert r.status_code == 201, r.text
        body = {"name": "made-by-a-key", "department": "police", "roles": ["wall_operator"]}
        r = await api.client.post("/api/auth/api-keys", json=body, headers=admin)
        assert r.status_code == 201, r.text
        r = await api.client.post(f"/api/auth/api-keys/{r.json()['id']}/rotate", headers=admin)
        assert r.status_code == 201, r.text
        await api.login("police-duty")
        with api.runtime.sessions() as s:
            session = s.execute(select(LoginSessionRow.id)).scalars().all()[-1]
        r = await api.client.delete(f"/api/auth/sessions/{session}", headers=admin)
        assert r.status_code == 204, r.text

        rule = {
            "id": "k-fire",
            "name": "Fire at the junction",
            "event_types": ["fire"],
            "cameras": ["junction-east"],
            "departments": ["police"],
        }
        r = await api.client.put("/api/rules/k-fire", json=rule, headers=admin)
        assert r.status_code == 200, r.text
        await api.publish(event("fire", "junction-east", score=0.9))
        operator = await _key(api, ["wall_operator"])
        alarms: list[dict[str, object]] = []
        for _ in range(3000):  # hang guard, not a timing assertion
            alarms = (await api.client.get("/api/alarms", headers=operator)).json()
            if alarms:
                break
            await asyncio.sleep(0.02)
        assert alarms, "no alarm from the event"
        alarm_id = alarms[0]["id"]
        r = await api.client.post(f"/api/alarms/{alarm_id}/ack", json={}, headers=operator)
        assert r.status_code == 200, r.text
        r = await api.client.post(
            f"/api/alarms/{alarm_id}/comments", json={"comment": "seen"}, headers=operator
        )
        assert r.status_code == 200, r.text

        with api.runtime.sessions() as s:
            assert RECORDED in set(s.execute(select(GrantRow.created_by)).scalars())
            assert RECORDED in set(s.execute(select(ApiKeyRow.created_by)).scalars())
            assert RECORDED in set(s.execute(select(LoginSessionRow.revoked_by)).scalars())
            notes = s.execute(select(AlarmNote.actor).where(AlarmNote.alarm_id == alarm_id))
            assert list(notes.scalars()).count(RECORDED) == 2
