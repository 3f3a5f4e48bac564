"""The wall's live socket (/api/live): alarms and health changes, only for cameras in scope."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio

from command_api.deps import CameraScope
from command_api.live.hub import LiveHub, camera_of
from sharpeye.bus.health import HEALTH_CHANNEL
from sharpeye.bus.sealed import bus_key, seal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, Alarm, AlarmMessage, AlarmState

pytestmark = pytest.mark.integration


def test_camera_of_each_message_kind() -> None:
    assert camera_of("alarm", {"alarm": {"camera_id": "c1"}}) == "c1"
    assert camera_of("health", {"camera_id": "c2", "state": "online"}) == "c2"
    assert camera_of("alarm", {"alarm": {"title": "no camera"}}) is None


async def test_hub_relays_both_channels_within_scope(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url)
    key = bus_key(b"test secret, sixteen bytes or more")
    hub = LiveHub(r, key)
    stop = asyncio.Event()
    running = asyncio.create_task(hub.run(stop))
    mine = hub.register(
        CameraScope(frozenset({"cam-a"}), "police"), department="police", administrator=False
    )
    everything = hub.register(CameraScope(), department=None, administrator=True)
    try:
        await asyncio.wait_for(hub.subscribed.wait(), 10)
        # The one hub checks alarms as /api/alarms/live always did: a whole AlarmMessage.
        alarm = _alarm(camera_id="cam-b", title="x", departments=["fire"])
        await r.publish(ALARMS_CHANNEL, json.dumps(alarm))  # unsealed: dropped
        await r.publish(ALARMS_CHANNEL, seal(key, json.dumps(alarm)))
        await r.publish(ALARMS_CHANNEL, seal(key, "not json"))
        await r.publish(HEALTH_CHANNEL, json.dumps({"camera_id": "cam-a", "state": "offline"}))
        first = json.loads(await asyncio.wait_for(everything.queue.get(), 10))
        second = json.loads(await asyncio.wait_for(everything.queue.get(), 10))
        assert (first["type"], first["alarm"]["camera_id"]) == ("alarm", "cam-b")
        assert (second["type"], second["camera_id"]) == ("health", "cam-a")
        # The scoped client got the health change of its camera, not the other alarm.
        only = json.loads(await asyncio.wait_for(mine.queue.get(), 10))
        assert (only["type"], only["camera_id"]) == ("health", "cam-a")
        assert mine.queue.empty()
    finally:
        hub.unregister(mine)
        hub.unregister(everything)
        stop.set()
        await running
        await r.aclose()


def _alarm(**fields: object) -> dict[str, object]:
    alarm = Alarm.model_validate(
        {
            "id": 1,
            "rule_id": "r",
            "event_type": "fire",
            "camera_name": "B",
            "severity": "critical",
            "state": AlarmState.NEW,
            "dedupe_key": "d",
            "occurred_at": 0.0,
            "last_event_at": 0.0,
            "created_at": 0.0,
            "updated_at": 0.0,
            "event_count": 1,
            "escalation_level": 0,
            **fields,
        }
    )
    return AlarmMessage(change="created", alarm=alarm).model_dump(mode="json")
