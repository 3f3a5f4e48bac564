"""The live alarm WebSocket through a real uvicorn server: each client gets the alarms
routed to its department; another department's stream is refused and audited; the token
comes in the first message (not the URL); a logout, a revoked session or a deactivated user
closes the sockets (alarms and health) while they are open."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from command_api.auth.seed import seed_demo
from sharpeye.bus.sealed import seal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, Alarm, AlarmMessage, AlarmState
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.settings import Settings
from tests.command_api.harness import DEMO_REGISTRY, NOON, event, running_api

pytestmark = pytest.mark.integration


@pytest.fixture
def api(tmp_path: Path, redis_url: str) -> Iterator[str]:
    shutil.copy(DEMO_REGISTRY, tmp_path / "camera_registry.yaml")
    seed_demo(
        Settings.model_validate(
            {
                "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
                "SHARPEYE_DATA_DIR": tmp_path / "data",
            }
        )
    )
    # A quick recheck: sockets of a user deactivated elsewhere close within it.
    with running_api(tmp_path, redis_url, SHARPEYE_SESSION_RECHECK_S="0.5") as port:
        yield f"127.0.0.1:{port}"


PASSWORDS = {
    "admin": "admin-demo-pass",
    "forestry": "forestry-demo-pass",
    "tourism": "tourism-demo-pass",
    "police-wall": "police-demo-pass",
}


def _login(base: str, user: str) -> dict[str, Any]:
    r = httpx.post(
        f"http://{base}/api/auth/login", json={"username": user, "password": PASSWORDS[user]}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _token(base: str, user: str) -> str:
    return str(_login(base, user)["access_token"])


async def _authed(base: str, path: str, token: str) -> Any:
    """A socket that authenticated the way the wall does: token in the first message."""
    ws = await websockets.connect(f"ws://{base}{path}")
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


async def _closed_with(ws: Any) -> int | None:
    """Read until the server closes; its close code (hang guard: 20 s)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 20)
    return closed.value.rcvd.code if closed.value.rcvd else None


def _publish(r: redis.Redis, ev: Event) -> None:
    r.xadd(EVENTS_STREAM, ev.to_stream_fields())  # type: ignore[arg-type]


async def _next(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 20))  # hang guard
    return message


async def test_clients_get_only_their_departments_alarms(api: str, redis_url: str) -> None:
    url = f"ws://{api}/api/alarms/live?token="
    async with (
        websockets.connect(url + _token(api, "forestry")) as forestry,
        websockets.connect(url + _token(api, "tourism")) as tourism,
        websockets.connect(url + _token(api, "police-wall")) as police,
    ):
        r = redis.Redis.from_url(redis_url)
        # Wait until the hub has subscribed: an alarm published before would be missed.
        for _ in range(200):
            if r.pubsub_numsub("sharpeye:alarms")[0][1] >= 1:
                break
            await asyncio.sleep(0.05)
        _publish(r, event("watchlist_face", "plaza-north", at=time.time(), score=0.9))
        _publish(r, event("fire", "forest-lookout-1", at=time.time(), score=0.9))
        r.close()
        got_police = [await _next(police), await _next(police)]
        assert {m["alarm"]["rule_id"] for m in got_police} == {"watchlist-face", "forest-fire"}
        fire = await _next(forestry)
        assert fire["change"] == "created" and fire["alarm"]["rule_id"] == "forest-fire"
        # Tourism sees the plaza cameras but the watchlist alarm is routed to police only.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(tourism.recv(), 0.5)


async def test_a_forged_alarm_on_the_bus_reaches_no_wall(api: str, redis_url: str) -> None:
    """Anything holding the Redis password could publish an alarm routed to any department:
    hubs take only messages an API sealed with the platform's key."""
    url = f"ws://{api}/api/alarms/live?token="
    async with websockets.connect(url + _token(api, "forestry")) as forestry:
        r = redis.Redis.from_url(redis_url)
        for _ in range(200):
            if r.pubsub_numsub(ALARMS_CHANNEL)[0][1] >= 1:
                break
            await asyncio.sleep(0.05)
        now = time.time()
        forged = AlarmMessage(
            change="created",
            alarm=Alarm(
                id=999_999,
                rule_id="forest-fire",
                event_type="fire",
                camera_id="forest-lookout-1",
                camera_name="Forest lookout 1",
                title="Evacuate the valley",
                severity="critical",
                state=AlarmState.NEW,
                departments=["forestry"],
                dedupe_key="forged",
                occurred_at=now,
                last_event_at=now,
                created_at=now,
                updated_at=now,
                event_count=1,
                escalation_level=0,
            ),
        ).model_dump_json()
        r.publish(ALARMS_CHANNEL, forged)  # unsealed
        r.publish(ALARMS_CHANNEL, seal(b"a key that is not the platform's", forged))
        r.publish(ALARMS_CHANNEL, "s1." + "0" * 64 + "." + forged)
        _publish(r, event("fire", "forest-lookout-1", at=now, score=0.9))
        r.close()
        first = await _next(forestry)
        assert first["alarm"]["rule_id"] == "forest-fire"
        assert first["alarm"]["id"] != 999_999 and first["alarm"]["title"] != "Evacuate the valley"
    text = (await asyncio.to_thread(httpx.get, f"http://{api}/metrics")).text
    assert "sharpeye_bus_messages_refused_total 3.0" in text


async def test_a_grant_removed_reaches_an_open_socket(
    api: str, redis_url: str, tmp_path: Path
) -> None:
    """Police see the forest cameras through a registry grant; once the edit removes it, an
    alarm routed to police on a forest camera comes to the socket opened before the edit
    without the camera's location and evidence, as it would to a new one."""
    token = _token(api, "police-wall")
    async with websockets.connect(f"ws://{api}/api/alarms/live?token={token}") as police:
        r = redis.Redis.from_url(redis_url)
        for _ in range(200):
            if r.pubsub_numsub(ALARMS_CHANNEL)[0][1] >= 1:
                break
            await asyncio.sleep(0.05)
        _publish(r, event("fire", "forest-lookout-1", at=time.time(), score=0.9))
        before = (await _next(police))["alarm"]
        assert before["camera_id"] == "forest-lookout-1" and before["lat"] is not None
        registry = tmp_path / "camera_registry.yaml"
        granted = "groups: [plaza, scenic-spots, schools, port, forest, traffic, canteens]"
        text = registry.read_text()
        assert granted in text
        registry.write_text(text.replace(granted, granted.replace(" forest,", "")))

        def forest_hidden() -> bool:
            cams = httpx.get(
                f"http://{api}/api/cameras", headers={"Authorization": f"Bearer {token}"}
            )
            return "forest-lookout-2" not in {c["id"] for c in cams.json()}

        deadline = time.monotonic() + 30  # hang guard: the API polls the file
        while not await asyncio.to_thread(forest_hidden):
            assert time.monotonic() < deadline, "registry edit not applied"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # the socket's recheck is 0.5 s here
        _publish(r, event("fire", "forest-lookout-2", at=time.time(), score=0.9))
        r.close()
        after = (await _next(police))["alarm"]
        assert after["camera_id"] == "forest-lookout-2"
        assert after["lat"] is None and after["lon"] is None and after["evidence"] == []


async def test_other_department_stream_refused_and_audited(api: str) -> None:
    token = _token(api, "tourism")
    # Refused before the handshake completes: the server answers HTTP 403.
    for query in (f"token={token}&department=police", "token=forged"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{api}/api/alarms/live?{query}"):
                pass
        assert refused.value.response.status_code == 403
    # The token in the first message instead: refused with a close code.
    async with websockets.connect(f"ws://{api}/api/alarms/live?department=police") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert await _closed_with(ws) == 4403
    for first in (json.dumps({"type": "auth", "token": "forged"}), "hello", json.dumps([1])):
        async with websockets.connect(f"ws://{api}/api/alarms/live") as ws:
            await ws.send(first)
            assert await _closed_with(ws) == 4401
    admin = {"Authorization": f"Bearer {_token(api, 'admin')}"}
    audit = f"http://{api}/api/audit"
    response = await asyncio.to_thread(
        httpx.get, audit, params={"outcome": "denied"}, headers=admin
    )
    denied = response.json()
    assert any(d["actor"] == "tourism" and d["action"] == "alarms.live" for d in denied)


def test_metrics_count_alarms(api: str, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.xadd(EVENTS_STREAM, event("fire", "forest-lookout-2", at=NOON, score=0.9).to_stream_fields())  # type: ignore[arg-type]
    r.close()
    wanted = (
        "sharpeye_events_consumed_total 1.0",
        'sharpeye_alarm_changes_total{change="created",rule="forest-fire"} 1.0',
    )
    deadline = time.monotonic() + 20  # hang guard
    while time.monotonic() < deadline:
        # Both: the alarm's change is counted when published, the event after its ack, a
        # moment later (the fresh machine looked between the two).
        text = httpx.get(f"http://{api}/metrics").text
        if all(w in text for w in wanted):
            break
        time.sleep(0.05)
    assert "sharpeye_events_consumed_total 1.0" in text
    assert 'sharpeye_alarm_changes_total{change="created",rule="forest-fire"} 1.0' in text


async def test_token_in_the_first_message_then_hello_then_alarms(api: str, redis_url: str) -> None:
    forestry = await _authed(api, "/api/alarms/live", _token(api, "forestry"))
    health = await _authed(api, "/api/live", _token(api, "forestry"))
    try:
        assert await _next(forestry) == {"kind": "hello", "department": "forestry"}
        assert (await _next(health))["type"] == "hello"
        r = redis.Redis.from_url(redis_url)
        _publish(r, event("fire", "forest-lookout-1", at=time.time(), score=0.9))
        r.close()
        fire = await _next(forestry)
        assert fire["change"] == "created" and fire["alarm"]["camera_id"] == "forest-lookout-1"
        # What the wall loads after hello: the open alarms of its department, this one too.
        headers = {"Authorization": f"Bearer {_token(api, 'forestry')}"}
        url = f"http://{api}/api/alarms?open=true"
        listed = (await asyncio.to_thread(httpx.get, url, headers=headers)).json()
        assert [a["id"] for a in listed] == [fire["alarm"]["id"]]
    finally:
        await forestry.close()
        await health.close()


async def test_logout_closes_the_sessions_sockets(api: str) -> None:
    wall = _login(api, "forestry")
    other = _login(api, "forestry")  # the same user's second wall stays connected
    alarms = await _authed(api, "/api/alarms/live", wall["access_token"])
    health = await _authed(api, "/api/live", wall["access_token"])
    keeps = await _authed(api, "/api/alarms/live", other["access_token"])
    try:
        for ws in (alarms, health, keeps):
            await _next(ws)  # hello: authenticated and registered
        headers = {"Authorization": f"Bearer {wall['access_token']}"}
        r = await asyncio.to_thread(httpx.post, f"http://{api}/api/auth/logout", headers=headers)
        assert r.status_code == 204
        assert await _closed_with(alarms) == 4401
        assert await _closed_with(health) == 4401
        refresh = {"refresh_token": wall["refresh_token"]}
        r = await asyncio.to_thread(httpx.post, f"http://{api}/api/auth/refresh", json=refresh)
        assert r.status_code == 401
        # A fresh connection with the old token is refused too.
        again = await _authed(api, "/api/alarms/live", wall["access_token"])
        assert await _closed_with(again) == 4401
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(keeps.recv(), 1.5)  # still open, nothing to say
    finally:
        await keeps.close()


async def test_deactivating_a_user_closes_their_sockets(api: str) -> None:
    wall = _login(api, "tourism")
    # Opened with ?token= (an API client): rechecked all the same.
    alarms = await websockets.connect(f"ws://{api}/api/alarms/live?token={wall['access_token']}")
    health = await _authed(api, "/api/live", wall["access_token"])
    await _next(health)
    admin = {"Authorization": f"Bearer {_token(api, 'admin')}"}
    async with httpx.AsyncClient(base_url=f"http://{api}", headers=admin) as http:
        users = (await http.get("/api/users")).json()
        tourism_id = next(u["id"] for u in users if u["username"] == "tourism")
        r = await http.patch(f"/api/users/{tourism_id}", json={"active": False})
        assert r.status_code == 200
    # Another process's change: seen at the next recheck (0.5 s here).
    assert await _closed_with(alarms) == 4401
    assert await _closed_with(health) == 4401
