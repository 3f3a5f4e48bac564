"""Alarm rules from the registry file: stored at start, kept equal to the file on every edit,
read-only through the API, every change audited; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sharpeye.store.models import AuditRecord
from tests.command_api.harness import Harness, event, harness

DEMO_RULE_IDS = {
    "forest-fire",
    "scenic-crowd",
    "school-intrusion-after-hours",
    "port-night-departure",
    "watchlist-face",
}
NEW_RULE = """\
  - id: canteen-smoke
    name: Smoke in a school canteen
    event_types: [smoke]
    groups: [canteens]
    severity: high
    departments: [education]
"""


@pytest.fixture
async def api(tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, database_url) as h:
        yield h


async def _rules(api: Harness) -> dict[str, dict[str, Any]]:
    r = await api.client.get("/api/rules", headers=await api.login("admin"))
    assert r.status_code == 200, r.text
    return {rule["id"]: rule for rule in r.json()}


def _actions(api: Harness) -> list[tuple[str, str, str]]:
    with api.runtime.sessions() as s:
        rows = s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars()
        return [(r.actor, r.action, r.target) for r in rows if r.action.startswith("rule.")]


async def test_registry_rules_are_stored_at_start_and_read_only(api: Harness) -> None:
    rules = await _rules(api)
    assert set(rules) >= DEMO_RULE_IDS
    assert {rules[i]["source"] for i in DEMO_RULE_IDS} == {"registry"}
    assert rules["forest-fire"]["departments"] == ["forestry", "police"]
    assert ("registry", "rule.registry.create", "forest-fire") in _actions(api)

    admin = await api.login("admin")
    body = {**rules["forest-fire"], "cooldown_s": 1}
    del body["source"]
    r = await api.client.put("/api/rules/forest-fire", json=body, headers=admin)
    assert r.status_code == 409 and "camera registry" in r.json()["detail"], r.text
    r = await api.client.delete("/api/rules/forest-fire", headers=admin)
    assert r.status_code == 409
    assert (await _rules(api))["forest-fire"]["cooldown_s"] == 120

    # Rules of the API's own sit beside them and stay editable.
    mine = {"id": "night-loiter", "name": "Loitering", "event_types": ["loitering"]}
    mine["departments"] = ["police"]
    r = await api.client.put("/api/rules/night-loiter", json=mine, headers=admin)
    assert r.status_code == 200, r.text
    assert (await _rules(api))["night-loiter"]["source"] == "api"
    assert (await api.client.delete("/api/rules/night-loiter", headers=admin)).status_code == 204


async def test_a_registry_edit_creates_updates_and_deletes_rules(
    api: Harness, tmp_path: Path
) -> None:
    admin = await api.login("admin")
    # An administrator's rule under an id the file will use: the file takes it over.
    taken = {"id": "canteen-smoke", "name": "Mine", "event_types": ["smoke"]}
    taken["departments"] = ["police"]
    r = await api.client.put("/api/rules/canteen-smoke", json=taken, headers=admin)
    assert r.status_code == 200, r.text

    registry = tmp_path / "camera_registry.yaml"
    text = registry.read_text()
    text = text.replace("    cooldown_s: 120\n", "    cooldown_s: 30\n", 1)
    start = text.index("  - id: scenic-crowd\n")
    end = text.index("  - id: school-intrusion-after-hours\n")
    text = text[:start] + NEW_RULE + text[end:]
    registry.write_text(text)

    latest: dict[str, dict[str, Any]] = {}

    async def synced() -> bool:
        nonlocal latest
        latest = await _rules(api)
        return "scenic-crowd" not in latest and latest["canteen-smoke"]["source"] == "registry"

    for _ in range(500):  # hang guard
        if await synced():
            break
        await asyncio.sleep(0.02)
    assert "scenic-crowd" not in latest
    assert latest["forest-fire"]["cooldown_s"] == 30
    assert latest["canteen-smoke"]["departments"] == ["education"]
    actions = _actions(api)
    assert ("registry", "rule.registry.delete", "scenic-crowd") in actions
    assert ("registry", "rule.registry.update", "forest-fire") in actions
    assert ("registry", "rule.registry.update", "canteen-smoke") in actions

    # The new rule routes at once: smoke at the canteen goes to education.
    await api.publish(event("smoke", "canteen-kitchen", score=0.9))
    await api.wait_for(lambda: _alarm_rules(api) == ["canteen-smoke"], "canteen alarm")


def _alarm_rules(api: Harness) -> list[str]:
    from sharpeye.store.models import AlarmRow

    with api.runtime.sessions() as s:
        return [a.rule_id for a in s.execute(select(AlarmRow)).scalars()]


async def test_an_invalid_rule_edit_keeps_the_last_good_rules(api: Harness, tmp_path: Path) -> None:
    registry = tmp_path / "camera_registry.yaml"
    before = await _rules(api)
    registry.write_text(registry.read_text().replace("[forestry, police]", "[forestry, polce]"))
    holder = api.runtime.registry
    await api.wait_for(lambda: holder.reload_error is not None, "the edit to be refused")
    assert holder.reload_error is not None and "unknown department 'polce'" in holder.reload_error
    assert await _rules(api) == before
