"""Evidence locks through the API against real Redis and the real app: an investigator locks
a clip of their department's camera for a case, the retention pass keeps it while its day's
other files go, another department cannot lock it, and an administrator's release lets it go
at the next pass; each step audited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sharpeye.store.models import AuditRecord
from tests.command_api.harness import NOON, Harness, harness

pytestmark = pytest.mark.integration

DAY = 86400.0


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url) as h:
        # The retention pass at start would delete the 100-day-old clips written below if
        # it ran after them (it did, on CI's slower machine: the lock answered 404).
        await asyncio.wait_for(h.services.retention_started.wait(), 30)
        yield h


def _clip(api: Harness, camera: str, name: str) -> str:
    day = time.strftime("%Y%m%d", time.gmtime(NOON - 100 * DAY))
    ref = f"clips/{camera}/{day}/{name}.mp4"
    path = api.runtime.settings.data_dir / "evidence" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return ref


def _actions(api: Harness) -> list[tuple[str, str]]:
    with api.runtime.sessions() as s:
        rows = s.execute(select(AuditRecord.action, AuditRecord.outcome)).all()
    return [(a, o) for a, o in rows if a.startswith("evidence.")]


async def test_a_locked_clip_outlives_retention_until_released(api: Harness) -> None:
    kept = _clip(api, "forest-lookout-1", "fire-1")
    gone = _clip(api, "forest-lookout-1", "fire-2")
    body = {"ref": kept, "case": "F-2026-0042", "reason": "arson inquiry"}
    admin = await api.login("admin")
    r = await api.client.post("/api/evidence/locks", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["camera_id"] == "forest-lookout-1" and r.json()["case"] == "F-2026-0042"
    listed = (await api.client.get("/api/evidence/locks", headers=admin)).json()
    assert [x["ref"] for x in listed] == [kept]
    await api.services.prune_once()
    root = api.runtime.settings.data_dir / "evidence"
    assert (root / kept).exists() and not (root / gone).exists()
    r = await api.client.delete(f"/api/evidence/locks/{kept}", headers=admin)
    assert r.status_code == 204
    await api.services.prune_once()
    assert not (root / kept).exists()
    assert ("evidence.lock", "ok") in _actions(api)
    assert ("evidence.unlock", "ok") in _actions(api)


async def test_only_searchers_lock_and_only_administrators_release(api: Harness) -> None:
    # Another department's camera is the access matrix's (fisheries' investigator on
    # education's camera); here the roles.
    ref = _clip(api, "forest-lookout-1", "fire-3")
    body = {"ref": ref, "case": "F-2026-0043", "reason": "for the file"}
    forestry = await api.login("forestry")  # a wall operator
    r = await api.client.post("/api/evidence/locks", json=body, headers=forestry)
    assert r.status_code == 403
    investigator = await api.login("police-wall")
    r = await api.client.post("/api/evidence/locks", json=body, headers=investigator)
    assert r.status_code == 201
    again = {**body, "case": "F-2026-0099"}  # a second case: the first lock is answered
    r = await api.client.post("/api/evidence/locks", json=again, headers=investigator)
    assert r.status_code == 201 and r.json()["case"] == "F-2026-0043"
    r = await api.client.delete(f"/api/evidence/locks/{ref}", headers=investigator)
    assert r.status_code == 403
    r = await api.client.delete(
        "/api/evidence/locks/clips/x/20260101/none.mp4", headers=investigator
    )
    assert r.status_code == 403
    assert ("evidence.lock", "ok") in _actions(api)
