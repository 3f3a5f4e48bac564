"""The live alarm WebSocket through a real uvicorn server: each client gets the alarms
routed to its department; another department's stream is refused and audited."""

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
from sharpeye.contracts.events import EVENTS_STREAM
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
    with running_api(tmp_path, redis_url) as port:
        yield f"127.0.0.1:{port}"


def _token(base: str, user: str) -> str:
    passwords = {
        "admin": "admin-demo-pass",
        "forestry": "forestry-demo-pass",
        "tourism": "tourism-demo-pass",
        "police-wall": "police-demo-pass",
    }
    r = httpx.post(
        f"http://{base}/api/auth/login", json={"username": user, "password": passwords[user]}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


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
        r.xadd(
            EVENTS_STREAM,
            event("watchlist_face", "plaza-north", at=time.time(), score=0.9).to_stream_fields(),
        )  # type: ignore[arg-type]
        r.xadd(
            EVENTS_STREAM,
            event("fire", "forest-lookout-1", at=time.time(), score=0.9).to_stream_fields(),
        )  # type: ignore[arg-type]
        r.close()
        got_police = [await _next(police), await _next(police)]
        assert {m["alarm"]["rule_id"] for m in got_police} == {"watchlist-face", "forest-fire"}
        fire = await _next(forestry)
        assert fire["change"] == "created" and fire["alarm"]["rule_id"] == "forest-fire"
        # Tourism sees the plaza cameras but the watchlist alarm is routed to police only.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(tourism.recv(), 0.5)


async def test_other_department_stream_refused_and_audited(api: str) -> None:
    token = _token(api, "tourism")
    # Refused before the handshake completes: the server answers HTTP 403.
    for query in (f"token={token}&department=police", "token=forged", ""):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"ws://{api}/api/alarms/live?{query}"):
                pass
        assert refused.value.response.status_code == 403
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
    deadline = time.monotonic() + 20  # hang guard
    while time.monotonic() < deadline:
        text = httpx.get(f"http://{api}/metrics").text
        if 'sharpeye_alarm_changes_total{change="created",rule="forest-fire"} 1.0' in text:
            break
        time.sleep(0.05)
    assert "sharpeye_events_consumed_total 1.0" in text
    assert 'sharpeye_alarm_changes_total{change="created",rule="forest-fire"} 1.0' in text
