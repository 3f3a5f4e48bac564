"""An API under test: the demo registry, a migrated store, demo users, a manual clock.

Runs the app's real lifespan (Redis client, store, alarm services) behind httpx's ASGI
transport; `login(name)` returns the headers of a user's fresh token.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio
from fastapi import FastAPI

from command_api.alarms.clock import ManualClock
from command_api.alarms.services import AlarmServices, ServiceOptions
from command_api.app import create_app
from command_api.auth.seed import DEMO_USERS, DemoUser, seed
from command_api.delivery.worker import RetryPolicy
from command_api.deps import Runtime
from sharpeye.bus.embedded import free_port
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.registry import load_registry
from sharpeye.settings import Settings
from sharpeye.store.db import session_scope

DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "camera_registry.yaml"
# 2027-01-13 (a Wednesday) 12:00 Asia/Shanghai: daytime, before the Golden Week grant expires.
NOON = 1_799_812_800.0


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    redis: redis.asyncio.Redis
    clock: ManualClock
    users: dict[str, DemoUser] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        runtime = self.app.state.runtime
        assert isinstance(runtime, Runtime)
        return runtime

    @property
    def services(self) -> AlarmServices:
        services = self.runtime.services
        assert isinstance(services, AlarmServices)
        return services

    async def login(self, username: str) -> dict[str, str]:
        user = self.users[username]
        r = await self.client.post(
            "/api/auth/login", json={"username": username, "password": user.password}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def publish(self, event: Event) -> None:
        await self.redis.xadd(EVENTS_STREAM, event.to_stream_fields())  # type: ignore[arg-type]

    async def wait_for(self, predicate: Callable[[], bool], what: str, limit_s: float = 20) -> None:
        """Poll until `predicate()`; the limit is a hang guard, not a timing assertion."""
        for _ in range(int(limit_s / 0.02)):
            if predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"gave up waiting for {what}")


def event(event_type: str, camera_id: str, at: float = NOON, **kw: object) -> Event:
    return Event.model_validate(
        {"event_type": event_type, "camera_id": camera_id, "occurred_at": at, **kw}
    )


@asynccontextmanager
async def harness(
    tmp_path: Path,
    redis_url: str,
    database_url: str | None = None,
    *,
    start_services: bool = True,
    retry: RetryPolicy | None = None,
    users: list[DemoUser] | None = None,
    claim_idle_ms: int = 30_000,
    events_keep_ms: int = 10 * 60 * 1000,
) -> AsyncIterator[Harness]:
    registry = tmp_path / "camera_registry.yaml"
    shutil.copy(DEMO_REGISTRY, registry)
    settings = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": registry,
            "SHARPEYE_DATA_DIR": tmp_path / "data",
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
        }
    )
    clock = ManualClock(NOON)
    options = ServiceOptions(
        consumer_name="test-node",
        escalation_interval_s=3600,  # tests escalate explicitly with the manual clock
        retry=retry or RetryPolicy(base_s=0.02, cap_s=0.2, max_attempts=1000),
        delivery_poll_s=0.05,
        block_ms=50,
        claim_idle_ms=claim_idle_ms,
        events_trim_every_s=0.05,
        events_keep_ms=events_keep_ms,
        evidence_root=tmp_path / "data" / "evidence",
    )
    app = create_app(
        settings,
        registry_poll_s=0.05,
        clock=clock,
        service_options=options,
        start_services=start_services,
    )
    r = redis.asyncio.Redis.from_url(redis_url)
    chosen = DEMO_USERS if users is None else users
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        with session_scope(runtime.sessions) as s:
            seed(s, load_registry(registry), chosen, clock.now())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Harness(app, client, r, clock, {u.username: u for u in chosen})
    await r.aclose()


def start_api(workdir: Path, redis_url: str, port: int, **extra: str) -> subprocess.Popen[bytes]:
    """A real `sharpeye api` on workdir's camera_registry.yaml (SQLite in workdir/data),
    logging to workdir/api.log; cwd is workdir so a developer's `.env` cannot leak in."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SHARPEYE_REGISTRY=str(workdir / "camera_registry.yaml"),
        SHARPEYE_DATA_DIR=str(workdir / "data"),
        SHARPEYE_API_PORT=str(port),
        REDIS_URL=redis_url,
        **extra,
    )
    with (workdir / "api.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "sharpeye.cli", "api"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=log,
        )


@contextmanager
def running_api(workdir: Path, redis_url: str, **extra: str) -> Iterator[int]:
    """`start_api` on a free port, once /healthz answers; yields the port, stops it after."""
    port = free_port()
    proc = start_api(workdir, redis_url, port, **extra)
    try:
        deadline = time.monotonic() + 90  # hang guard, sized for a loaded machine
        while True:
            assert proc.poll() is None, (workdir / "api.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
