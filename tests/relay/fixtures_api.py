"""A real command API (uvicorn on its own thread and loop, SQLite, Redis) for tests that
need one beside a real relay: `start_api(tmp_path, registry_text, redis_url)` seeds `USERS`
(an administrator and a wall operator of `police`, a viewer of `edu`) and returns a `LiveApi`
with `.login(user)`, `.call(...)`, `.viewer_token(headers, camera)` and `.audit(action)`."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from command_api.app import create_app
from command_api.auth.passwords import use_cheap_hashing_for_tests
from command_api.auth.roles import Role
from command_api.auth.seed import DemoUser, seed
from command_api.deps import Runtime
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from sharpeye.store.db import session_scope
from sharpeye.store.models.audit import AuditRecord
from tests.fixtures_fleet import free_port

USERS = [
    DemoUser("admin", "admin-pass-1234", "police", (Role.ADMINISTRATOR,)),
    DemoUser("wall", "wall-pass-1234", "police", (Role.WALL_OPERATOR,)),
    DemoUser("teacher", "teacher-pass-1234", "edu", (Role.DEPARTMENT_VIEWER,)),
]


@dataclass
class LiveApi:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    data_dir: Path

    @property
    def runtime(self) -> Runtime:
        runtime = self.app.state.runtime
        assert isinstance(runtime, Runtime)
        return runtime

    async def login(self, username: str) -> dict[str, str]:
        user = next(u for u in USERS if u.username == username)
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as c:
            r = await c.post(
                "/api/auth/login", json={"username": username, "password": user.password}
            )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def call(
        self, method: str, path: str, headers: dict[str, str], **kw: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as c:
            return await c.request(method, path, headers=headers, **kw)

    async def viewer_token(self, headers: dict[str, str], camera: str) -> str:
        r = await self.call("POST", f"/api/cameras/{camera}/viewer-token", headers)
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert isinstance(token, str)
        return token

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    def audit(self, action: str) -> list[AuditRecord]:
        with self.runtime.sessions() as s:
            return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def start_api(
    tmp_path: Path, registry_text: str, redis_url: str, port: int | None = None
) -> LiveApi:
    """The API on `port` (default: a free one), its users seeded; `.stop()` after."""
    use_cheap_hashing_for_tests()
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(registry_text)
    port = port or free_port()
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": registry,
            "SHARPEYE_DATA_DIR": tmp_path / "api-data",
            "REDIS_URL": redis_url,
            "SHARPEYE_API_PORT": port,
        }
    )
    app = create_app(settings, registry_poll_s=0.2, start_services=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve()), name="api-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("API did not start")
        time.sleep(0.02)
    api = LiveApi(f"http://127.0.0.1:{port}", app, server, thread, tmp_path / "api-data")
    with session_scope(api.runtime.sessions) as s:
        seed(s, load_registry(registry), USERS, time.time())
    return api
