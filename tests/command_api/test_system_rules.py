"""The platform's own alarm rules (command_api/alarms/system_rules.py) through the real
consumer, store and routes: a camera's recording stopping raises a high alarm for the
department that owns the camera, though no registry rule names the event; a department
that may see the camera (by grant) does not get it; the same fault again merges while the
alarm is open; recording back resolves it; a fault after that is a new alarm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from command_api.alarms.system_rules import RECORDING_FAILED_RULE
from tests.command_api.harness import NOON, Harness, event, harness

pytestmark = pytest.mark.integration

CAMERA = "fishing-port-quay"  # fisheries' own; police sees the port group by grant


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url) as h:
        yield h


async def _alarms(api: Harness, user: str, camera: str = CAMERA) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/alarms", params={"camera_id": camera}, headers=await api.login(user)
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def _until(api: Harness, user: str, check: Any, camera: str = CAMERA) -> list[dict[str, Any]]:
    for _ in range(500):  # hang guard: the consumer stores within a poll or two
        rows = await _alarms(api, user, camera)
        if check(rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(rows)


def _failed(at: float, why: str = "No space left on device") -> Any:
    return event("recording_failed", CAMERA, at=at, severity="high", label=why, node_id="n1")


async def test_a_stopped_recording_alarms_the_owner_and_resolves_when_back(api: Harness) -> None:
    registry = api.runtime.registry.registry
    assert not any("recording_failed" in r.event_types for r in registry.alarm_rules)
    await api.publish(_failed(NOON))
    rows = await _until(api, "fisheries", lambda rows: len(rows) == 1)
    alarm = rows[0]
    assert alarm["rule_id"] == RECORDING_FAILED_RULE
    assert alarm["departments"] == ["fisheries"] and alarm["severity"] == "high"
    assert alarm["state"] == "new" and alarm["event_type"] == "recording_failed"
    assert alarm["title"].startswith("Recording stopped (No space left on device) — ")
    # Police may watch the quay (a grant on the port group) but the fault is not theirs.
    assert await _alarms(api, "police-wall") == []
    r = await api.client.get(f"/api/alarms/{alarm['id']}", headers=await api.login("police-wall"))
    assert r.status_code == 403

    # The same fault again (the worker restarted): one alarm, two events.
    await api.publish(_failed(NOON + 30))
    await _until(api, "fisheries", lambda rows: rows[0]["event_count"] == 2)
    assert len(await _alarms(api, "fisheries")) == 1

    # Recorded again: resolved by the platform, the history saying so.
    resumed = event(
        "recording_resumed", CAMERA, at=NOON + 60, node_id="n1", attributes={"stopped_s": 60.0}
    )
    await api.publish(resumed)
    await _until(api, "fisheries", lambda rows: rows[0]["state"] == "resolved")
    r = await api.client.get(f"/api/alarms/{alarm['id']}", headers=await api.login("fisheries"))
    last = r.json()["history"][-1]
    assert (last["actor"], last["action"]) == ("system", "resolved")
    assert last["comment"] == "recording_resumed on node n1 after 60.0 s"

    # Failing again within the cooldown: a new alarm, not merged into the resolved one.
    await api.publish(_failed(NOON + 120, "Read-only file system"))
    rows = await _until(api, "fisheries", lambda rows: len(rows) == 2)
    assert rows[0]["state"] == "new" and rows[0]["event_count"] == 1
    assert "Read-only file system" in rows[0]["title"]


async def test_a_resume_before_the_fault_leaves_its_alarm_open(api: Harness) -> None:
    # A late "resumed" (from before the fault) must not close a newer fault's alarm.
    await api.publish(_failed(NOON))
    await _until(api, "fisheries", lambda rows: len(rows) == 1)
    await api.publish(event("recording_resumed", CAMERA, at=NOON - 5))
    # A marker after it: once its alarm is stored, the resume was handled.
    await api.publish(event("recording_failed", "forest-lookout-1", at=NOON))
    await _until(api, "forestry", lambda rows: len(rows) == 1, "forest-lookout-1")
    rows = await _alarms(api, "fisheries")
    assert [a["state"] for a in rows] == ["new"]
