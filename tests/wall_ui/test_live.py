"""The wall's live socket (/api/live): alarms and health changes, only for cameras in scope."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio

from command_api.deps import CameraScope
from command_api.routers.live import ALARMS_CHANNEL, LiveHub, camera_of
from sharpeye.bus.health import HEALTH_CHANNEL
from sharpeye.bus.sealed import bus_key, seal

pytestmark = pytest.mark.integration


def test_camera_of_each_message_kind() -> None:
    assert camera_of("alarm", {"alarm": {"camera_id": "c1"}}) == "c1"
    assert camera_of("health", {"camera_id": "c2", "state": "online"}) == "c2"
    assert camera_of("alarm", {"alarm": {"title": "no camera"}}) is None


async def test_hub_relays_both_channels_within_scope(redis_url: str) -> None:
    r = redis.asyncio.Redis.from_url(redis_url)
    key = bus_key(b"test secret, sixteen bytes or more")
    hub = LiveHub(r, (ALARMS_CHANNEL, HEALTH_CHANNEL), key)
    mine = hub.register(CameraScope(frozenset({"cam-a"}), "police"))
    everything = hub.register(CameraScope())
    try:
        await asyncio.wait_for(hub.subscribed.wait(), 10)
        alarm = {"change": "created", "alarm": {"id": 1, "camera_id": "cam-b", "title": "x"}}
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
        await hub.unregister(mine)
        await hub.unregister(everything)
        await r.aclose()
