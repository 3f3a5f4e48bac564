"""Reads are audited (camera lists and details, alarm reads, PTZ status, viewer tokens, live
sockets' open and close), batched off the request path; over-long audited fields never cost
the record or turn an answer into a 500, on SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets

from command_api.audit.bounds import TRUNCATED_KEY, sha256
from sharpeye.bus.embedded import free_port
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration


async def _audit(api: Harness, **params: str) -> list[dict[str, Any]]:
    admin = await api.login("admin")
    r = await api.client.get("/api/audit", params={"limit": "1000", **params}, headers=admin)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def test_reads_are_audited(tmp_path: Path, redis_url: str) -> None:
    async with harness(tmp_path, redis_url, start_services=False) as api:
        viewer = await api.login("education")
        assert (await api.client.get("/api/cameras?q=gate", headers=viewer)).status_code == 200
        assert (await api.client.get("/api/cameras/school-gate", headers=viewer)).status_code == 200
        assert (await api.client.get("/api/alarms", headers=viewer)).status_code == 200
        assert (await api.client.get("/api/alarms/999", headers=viewer)).status_code == 404
        token = await api.client.post("/api/cameras/school-gate/viewer-token", headers=viewer)
        assert token.status_code == 200
        # Another department's camera: refused, and audited once (by the refusal).
        assert (
            await api.client.get("/api/cameras/fishing-port-quay", headers=viewer)
        ).status_code == 403

        rows = [r for r in await _audit(api) if r["actor"] == "education"]
        # Reads are written in batches, refusals at once: their order in the log is not the
        # order of the requests, so each read is found by what it is, not where it stands.
        by_action = {r["action"]: r for r in rows if r["outcome"] != "denied"}
        listed = by_action["camera.list"]
        assert listed["department"] == "education" and listed["outcome"] == "ok"
        assert listed["detail"]["query"] == {"q": "gate"} and listed["detail"]["count"] >= 1
        assert by_action["camera.read"]["target"] == "camera:school-gate"
        assert by_action["alarm.list"]["outcome"] == "ok"
        assert by_action["alarm.read"]["target"] == "alarm:999"
        assert by_action["alarm.read"]["outcome"] == "error"
        assert by_action["camera.view"]["target"] == "camera:school-gate"
        refused = [r for r in rows if r["target"] == "camera:fishing-port-quay"]
        assert [r["outcome"] for r in refused] == ["denied"]
        admin = await api.login("admin")
        verified = (await api.client.get("/api/audit/verify", headers=admin)).json()
        assert verified["ok"], verified


async def test_sockets_open_and_close_audited(tmp_path: Path, redis_url: str) -> None:
    async with harness(tmp_path, redis_url) as api:
        server = uvicorn.Server(
            uvicorn.Config(api.app, host="127.0.0.1", port=free_port(), lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        try:
            for _ in range(4500):  # hang guard: 90 s
                if server.started:
                    break
                await asyncio.sleep(0.02)
            port = server.config.port
            token = (await api.login("forestry"))["Authorization"].split()[1]
            for path in ("/api/live", "/api/alarms/live"):
                async with websockets.connect(f"ws://127.0.0.1:{port}{path}") as ws:
                    await ws.send(json.dumps({"type": "auth", "token": token}))
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 60))  # hang guard
                    assert hello.get("type", hello.get("kind")) == "hello"

            async def closes() -> list[dict[str, Any]]:
                return await _audit(api, action="socket.close")

            for _ in range(300):  # the close record is made as the handler ends
                if len(await closes()) == 2:
                    break
                await asyncio.sleep(0.1)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 60)
        opened = await _audit(api, action="socket.open")
        closed = await _audit(api, action="socket.close")
        assert sorted(r["target"] for r in opened) == ["/api/alarms/live", "/api/live"]
        assert {r["actor"] for r in opened + closed} == {"forestry"}
        assert sorted(r["detail"]["socket"] for r in closed) == ["alarms.live", "health.live"]


async def test_over_long_fields_recorded_never_a_500(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with harness(tmp_path, redis_url, database_url, start_services=False) as api:
        admin = await api.login("admin")
        name = "n" * 200  # "key:" + 200 characters: over the 64 of the actor column
        keys = {}
        for role in ("department_viewer", "wall_operator"):
            r = await api.client.post(
                "/api/auth/api-keys",
                json={"name": name, "department": "education", "roles": [role]},
                headers=admin,
            )
            assert r.status_code == 201, r.text
            keys[role] = {"X-API-Key": r.json()["key"]}
        # A viewer key may not steer: the refusal is recorded, the answer a 403.
        r = await api.client.post(
            "/api/cameras/school-gate/ptz/stop", headers=keys["department_viewer"]
        )
        assert r.status_code == 403, r.text
        # An operator key steering another department's camera, by a long path.
        r = await api.client.post(
            "/api/cameras/fishing-port-quay/ptz/stop", headers=keys["wall_operator"]
        )
        assert r.status_code == 403, r.text
        long_query = "x" * 5000
        r = await api.client.get(f"/api/cameras?q={long_query}", headers=keys["wall_operator"])
        assert r.status_code in (200, 422), r.text

        rows = [r for r in await _audit(api) if r["actor"].startswith("key:nnn")]
        assert {r["outcome"] for r in rows} >= {"denied"}
        for row in rows:
            assert len(row["actor"]) == 64
            assert row["detail"][TRUNCATED_KEY]["actor"] == sha256("key:" + name)
        verified = (await api.client.get("/api/audit/verify", headers=admin)).json()
        assert verified["ok"], verified
