"""Events on the stream → alarms: the routing matrix, dedupe, lifecycle, escalation with a
manual clock, and department scope on alarms (refused and audited)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sharpeye.bus.fencing import fence_key
from sharpeye.contracts.events import Event
from tests.command_api.harness import NOON, Harness, event, harness

pytestmark = pytest.mark.integration

HOUR = 3600.0


@pytest.fixture
async def api(tmp_path: Path, redis_url: str, database_url: str) -> AsyncIterator[Harness]:
    # The whole pipeline on SQLite and on PostgreSQL.
    async with harness(tmp_path, redis_url, database_url) as h:
        yield h


async def _alarms(api: Harness, user: str, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get("/api/alarms", params=params, headers=await api.login(user))
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def _stored(api: Harness, n: int) -> list[dict[str, Any]]:
    """Wait until the consumer has stored `n` alarms (seen by the administrator)."""
    headers = await api.login("admin")
    for _ in range(1000):  # a hang guard, not a timing assertion
        rows: list[dict[str, Any]] = (await api.client.get("/api/alarms", headers=headers)).json()
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(rows)} alarms stored, expected {n}")


async def test_routing_matrix(api: Harness) -> None:
    night = NOON + 10 * HOUR  # 22:00 local
    cases = [
        (event("fire", "forest-lookout-1", score=0.9), "forest-fire", {"forestry", "police"}),
        (event("crowd", "scenic-lakeside", value=80), "scenic-crowd", {"tourism", "police"}),
        (
            event("intrusion", "school-gate", at=night, zone_id="after-hours"),
            "school-intrusion-after-hours",
            {"education", "police"},
        ),
        # The gate's no-entry lane is armed at every hour (the demo's daytime intrusion).
        (
            event("intrusion", "school-gate", zone_id="gate-lane"),
            "school-gate-no-entry",
            {"education", "police"},
        ),
        (event("crowd", "plaza-north", value=12), "plaza-crowd", {"city_management", "police"}),
        (
            event("boat_departure", "fishing-port-quay", at=night),
            "port-night-departure",
            {"fisheries"},
        ),
        (event("watchlist_face", "plaza-north", score=0.8), "watchlist-face", {"police"}),
    ]
    ignored = [
        event("intrusion", "school-gate", zone_id="after-hours"),  # noon: school hours
        event("boat_departure", "fishing-port-quay"),  # daytime departure
        event("crowd", "scenic-lakeside", value=10),  # under the threshold
        event("fire", "forest-lookout-1", score=0.2),  # not confident
        event("crowd", "plaza-north", value=3),  # under the plaza's threshold
        event("fire", "no-such-camera"),  # unknown camera
    ]
    for e in ignored + [c[0] for c in cases]:
        await api.publish(e)
    alarms = await _stored(api, len(cases))
    assert len(alarms) == len(cases)
    by_rule = {a["rule_id"]: a for a in alarms}
    for e, rule, departments in cases:
        assert set(by_rule[rule]["departments"]) == departments
        assert by_rule[rule]["camera_id"] == e.camera_id
    assert by_rule["forest-fire"]["severity"] == "critical"
    visible = {
        user: {a["rule_id"] for a in await _alarms(api, user)}
        for user in ("forestry", "tourism", "education", "fisheries", "police-wall")
    }
    assert visible == {
        "forestry": {"forest-fire"},
        "tourism": {"scenic-crowd"},
        "education": {"school-intrusion-after-hours", "school-gate-no-entry"},
        "fisheries": {"port-night-departure"},
        "police-wall": {
            "forest-fire",
            "scenic-crowd",
            "school-intrusion-after-hours",
            "school-gate-no-entry",
            "plaza-crowd",
            "watchlist-face",
        },
    }


async def test_dedupe_within_cooldown_and_redelivery(api: Harness) -> None:
    first = event("fire", "forest-lookout-1", evidence=[{"kind": "snapshot", "ref": "s/1.jpg"}])
    await api.publish(first)
    await api.publish(first)  # the same event id again (a producer retry)
    await api.publish(
        event(
            "fire",
            "forest-lookout-1",
            at=NOON + 60,
            evidence=[{"kind": "snapshot", "ref": "s/2.jpg"}],
        )
    )
    await api.publish(event("smoke", "forest-lookout-1", at=NOON + 90))  # other dedupe key
    await api.publish(event("fire", "forest-lookout-1", at=NOON + 1000))  # after the cooldown
    alarms = await _stored(api, 3)
    fire = sorted((a for a in alarms if a["event_type"] == "fire"), key=lambda a: a["id"])
    assert len(fire) == 2
    assert fire[0]["event_count"] == 2
    assert [e["ref"] for e in fire[0]["evidence"]] == ["s/1.jpg", "s/2.jpg"]
    assert fire[1]["event_count"] == 1


async def test_lifecycle_with_comments_and_audit(api: Harness) -> None:
    await api.publish(event("fire", "forest-lookout-2", score=0.9))
    (alarm,) = await _stored(api, 1)
    forestry = await api.login("forestry")
    url = f"/api/alarms/{alarm['id']}"
    r = await api.client.post(f"{url}/ack", json={"comment": "crew on the way"}, headers=forestry)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = await api.client.post(f"{url}/ack", json={}, headers=forestry)
    assert r.status_code == 409 and "acknowledged" in r.json()["detail"]
    await api.client.post(f"{url}/comments", json={"comment": "smoke visible"}, headers=forestry)
    r = await api.client.post(f"{url}/resolve", json={"comment": "put out"}, headers=forestry)
    assert r.json()["state"] == "resolved"
    detail = (await api.client.get(url, headers=forestry)).json()
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [
        ("created", "system"),
        ("acknowledged", "forestry"),
        ("commented", "forestry"),
        ("resolved", "forestry"),
    ]
    audit = (
        await api.client.get(
            "/api/audit", params={"action": "alarm.ack"}, headers=await api.login("admin")
        )
    ).json()
    assert audit[0]["actor"] == "forestry" and audit[0]["detail"] == {"comment": "crew on the way"}


async def test_other_departments_alarm_is_refused_and_audited(api: Harness) -> None:
    await api.publish(event("watchlist_face", "plaza-north", score=0.9))
    (alarm,) = await _stored(api, 1)
    tourism = await api.login("tourism")
    url = f"/api/alarms/{alarm['id']}"
    assert (await api.client.get(url, headers=tourism)).status_code == 403
    assert (await api.client.post(f"{url}/ack", json={}, headers=tourism)).status_code == 403
    assert (await api.client.get("/api/alarms/999999", headers=tourism)).status_code == 404
    # A viewer of the right department may read but not act.
    viewer = await api.login("education")
    assert (await api.client.post(f"{url}/ack", json={}, headers=viewer)).status_code == 403
    denied = (
        await api.client.get(
            "/api/audit", params={"outcome": "denied"}, headers=await api.login("admin")
        )
    ).json()
    assert {(d["actor"], d["action"]) for d in denied} >= {
        ("tourism", "alarm.read"),
        ("tourism", "alarm.ack"),
    }


async def test_escalation_after_t_with_manual_clock(api: Harness) -> None:
    await api.publish(event("fire", "forest-lookout-1", score=0.9))  # escalates after 120 s
    await api.publish(event("crowd", "scenic-lakeside", value=99))  # after 300 s
    alarms = await _stored(api, 2)
    fire = next(a for a in alarms if a["rule_id"] == "forest-fire")
    crowd = next(a for a in alarms if a["rule_id"] == "scenic-crowd")
    api.clock.advance(119)
    assert await api.services.escalate_once() == []
    api.clock.advance(2)
    (step,) = await api.services.escalate_once()
    assert (step.alarm.id, step.alarm.escalation_level) == (fire["id"], 1)
    # Acknowledging stops the clock for the crowd alarm; fire goes on to the head.
    await api.client.post(
        f"/api/alarms/{crowd['id']}/ack", json={}, headers=await api.login("tourism")
    )
    api.clock.advance(1000)
    (step,) = await api.services.escalate_once()
    assert (step.alarm.id, step.alarm.escalation_level) == (fire["id"], 2)
    api.clock.advance(10_000)
    assert await api.services.escalate_once() == []  # level 2 is the last
    history = (
        await api.client.get(f"/api/alarms/{fire['id']}", headers=await api.login("forestry"))
    ).json()["history"]
    assert [h["comment"] for h in history if h["action"] == "escalated"] == [
        "level 1: duty officer",
        "level 2: department head",
    ]


async def test_rule_through_the_api_routes_new_events(api: Harness) -> None:
    admin = await api.login("admin")
    rule = {
        "id": "canteen-smoke",
        "name": "Smoke in a school canteen",
        "event_types": ["smoke"],
        "groups": ["canteens"],
        "severity": "high",
        "departments": ["food_safety", "education"],
        "escalate_after_s": 60,
    }
    bad = await api.client.put(
        "/api/rules/canteen-smoke", json={**rule, "departments": ["nobody"]}, headers=admin
    )
    assert bad.status_code == 422 and "unknown department 'nobody'" in bad.text
    bad = await api.client.put(
        "/api/rules/canteen-smoke", json={**rule, "timezone": "Mars/Base"}, headers=admin
    )
    assert bad.status_code == 422 and "Mars/Base" in bad.text
    r = await api.client.put("/api/rules/canteen-smoke", json=rule, headers=admin)
    assert r.status_code == 200, r.text
    await api.publish(event("smoke", "canteen-kitchen"))
    (alarm,) = await _stored(api, 1)
    assert alarm["rule_id"] == "canteen-smoke" and alarm["departments"] == [
        "food_safety",
        "education",
    ]
    viewer = await api.login("education")
    assert (
        await api.client.put("/api/rules/canteen-smoke", json=rule, headers=viewer)
    ).status_code == 403
    audit = (
        await api.client.get("/api/audit", params={"action": "rule.create"}, headers=admin)
    ).json()
    assert audit[0]["target"] == "canteen-smoke"


async def test_seen_event_ids_are_pruned_after_a_week(api: Harness) -> None:
    from sqlalchemy import func, select

    from sharpeye.store.models import SeenEvent

    await api.publish(event("fire", "forest-lookout-1", score=0.9))
    await _stored(api, 1)

    def seen() -> int:
        with api.runtime.sessions() as s:
            return int(s.execute(select(func.count()).select_from(SeenEvent)).scalar_one())

    assert seen() == 1
    api.clock.advance(6 * 86400)
    await api.services.escalate_once()
    assert seen() == 1
    api.clock.advance(2 * 86400)
    await api.services.escalate_once()
    assert seen() == 0


async def test_events_from_a_worker_whose_lease_passed_on_are_refused(api: Harness) -> None:
    # Worker a leased the camera under token 4; worker b took it over under token 5 at
    # NOON + 100 (Redis's clock, as the lease script records it).
    await api.redis.hset(fence_key("forest-lookout-1"), mapping={"at:5": int((NOON + 100) * 1000)})

    def fire(fence: int, at: float, key: str) -> Event:
        return event("fire", "forest-lookout-1", at=at, score=0.9, dedupe_key=key, fence=fence)

    await api.publish(fire(4, NOON + 50, "a-before"))  # a's view while it held the lease
    await api.publish(fire(4, NOON + 200, "a-after"))  # a, frozen past its lease, wakes up
    await api.publish(fire(5, NOON + 200, "b-after"))  # the new owner's view of that time
    await api.publish(event("smoke", "forest-lookout-1", at=NOON + 300))  # unfenced: as before
    # In stream order: had a's late event been stored, it would be among the first three.
    alarms = await _stored(api, 3)
    keys = {a["dedupe_key"] for a in await _alarms(api, "admin")}
    assert keys == {"a-before", "b-after", "smoke:forest-lookout-1:"}, alarms
