"""The one live hub's fan-out, without Redis: what each kind of client gets of one message
(issue 12: the alarm and health hubs merged; the sockets over it are in test_alarms_ws)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio

from command_api.auth.camera_scope import CameraScope
from command_api.live.hub import QUEUE_SIZE, LiveHub
from sharpeye.bus.health import HEALTH_CHANNEL
from sharpeye.bus.sealed import bus_key, seal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, Alarm, AlarmMessage, AlarmState

KEY = bus_key(b"test secret, sixteen bytes or more")
POLICE = CameraScope(frozenset({"plaza"}), "police")


def _hub() -> LiveHub:
    return LiveHub(redis.asyncio.Redis(), KEY)  # never connects: dispatch is called directly


def _alarm(camera_id: str, departments: list[str]) -> str:
    alarm = Alarm(
        id=7,
        rule_id="fire",
        event_type="fire",
        camera_id=camera_id,
        camera_name="Harbour gate",
        title="Fire — Harbour gate",
        severity="critical",
        state=AlarmState.NEW,
        departments=departments,
        dedupe_key="d",
        occurred_at=0.0,
        last_event_at=0.0,
        created_at=0.0,
        updated_at=0.0,
        event_count=1,
        escalation_level=0,
        lat=30.5,
        lon=114.3,
    )
    return AlarmMessage(change="created", alarm=alarm).model_dump_json()


def _got(queue: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(queue.get_nowait())
    return message


async def test_one_alarm_as_each_client_may_see_it() -> None:
    hub = _hub()
    bare = hub.register(
        POLICE, department="police", administrator=False, kinds={"alarm"}, tagged=False
    )
    tagged = hub.register(POLICE, department="police", administrator=False)
    admin = hub.register(
        CameraScope(), department=None, administrator=True, kinds={"alarm"}, tagged=False
    )
    other = hub.register(POLICE, department="tourism", administrator=False)
    health_only = hub.register(POLICE, department="police", administrator=False, kinds={"health"})
    # Routed to police, on a camera outside the police scope.
    assert hub.dispatch(ALARMS_CHANNEL, seal(KEY, _alarm("harbour", ["police", "fire"]))) == 3
    withheld = _got(bare.queue)
    assert "type" not in withheld  # bare: an AlarmMessage, as /api/alarms/live sends
    AlarmMessage.model_validate(withheld)
    assert withheld["alarm"]["lat"] is None and withheld["alarm"]["camera_name"] == "harbour"
    assert withheld["alarm"]["title"] == "Fire"
    typed = _got(tagged.queue)
    assert typed["type"] == "alarm" and typed["alarm"] == withheld["alarm"]
    whole = _got(admin.queue)["alarm"]
    assert whole["lat"] == 30.5 and whole["camera_name"] == "Harbour gate"
    assert other.queue.empty() and health_only.queue.empty()
    # Unsealed, or sealed with another key: nobody.
    forged = _alarm("harbour", ["police"])
    assert hub.dispatch(ALARMS_CHANNEL, forged) == 0
    assert (
        hub.dispatch(ALARMS_CHANNEL, seal(bus_key(b"another secret, sixteen bytes"), forged)) == 0
    )
    assert hub.refused == 2


async def test_health_by_scope_with_text_per_role() -> None:
    hub = _hub()
    viewer = hub.register(POLICE, department="police", administrator=False)
    admin = hub.register(CameraScope(), department=None, administrator=True)
    alarms_only = hub.register(
        CameraScope(), department=None, administrator=True, kinds={"alarm"}, tagged=False
    )
    error = "rtsp://10.1.2.3:554/live?token=abc: the camera refused the credentials (401)"
    report = {"camera_id": "plaza", "state": "offline", "last_error": error}
    assert hub.dispatch(HEALTH_CHANNEL, json.dumps(report)) == 2
    assert _got(viewer.queue)["last_error"] == "login refused"
    detail = _got(admin.queue)
    assert detail["type"] == "health" and "token=abc" not in detail["last_error"]
    assert alarms_only.queue.empty()
    assert hub.dispatch(HEALTH_CHANNEL, json.dumps(report | {"camera_id": "harbour"})) == 1


async def test_a_client_too_far_behind_is_flagged_not_buffered() -> None:
    hub = _hub()
    slow = hub.register(POLICE, department="police", administrator=False, kinds={"health"})
    report = json.dumps({"camera_id": "plaza", "state": "online"})
    for _ in range(QUEUE_SIZE):
        hub.dispatch(HEALTH_CHANNEL, report)
    assert not slow.overflowed.is_set()
    assert hub.dispatch(HEALTH_CHANNEL, report) == 0
    assert slow.overflowed.is_set() and slow.queue.qsize() == QUEUE_SIZE  # its socket: 1013
    hub.unregister(slow)
    hub.unregister(slow)  # twice is harmless (a socket's cleanup may race its close)
    assert hub.client_count == 0


async def test_register_refuses_what_no_socket_may_ask() -> None:
    hub = _hub()
    with pytest.raises(ValueError, match="untagged"):
        hub.register(POLICE, department="police", administrator=False, tagged=False)
    with pytest.raises(ValueError, match="administrators"):
        hub.register(POLICE, department=None, administrator=False)
    assert hub.client_count == 0
