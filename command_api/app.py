"""The FastAPI application: one lifespan owns the Redis client and the registry (hot-reloaded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import redis
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

import sharpeye
from camera.onvif.ptz_pool import PtzPool
from command_api.alarms.clock import Clock, SystemClock
from command_api.alarms.registry_rules import sync_registry_rules
from command_api.alarms.services import AlarmServices, ServiceOptions
from command_api.alarms.writes import write_scope
from command_api.audit.background import start_worker as start_audit_worker
from command_api.audit.background import stop_worker as stop_audit_worker
from command_api.audit.keys import load_key, use_key
from command_api.auth.directory import sync_departments
from command_api.auth.seed import BOOTSTRAP_ENV, bootstrap_admin
from command_api.auth.tokens import load_auth_config
from command_api.deps import RegistryHolder, Runtime
from command_api.docs import mount_docs
from command_api.face_probe import shutdown_probe_pool
from command_api.limits import BodyLimit, max_body_bytes
from command_api.live.hub import LiveHub
from command_api.nul import RefuseNul, nul_in_text
from command_api.routers import (
    alarms,
    alarms_ws,
    audit,
    auth,
    cameras,
    cluster,
    deliveries,
    departments,
    evidence,
    evidence_export,
    evidence_locks,
    gb28181,
    grants,
    groups,
    health,
    live,
    metrics,
    password,
    ptz,
    recordings,
    rules,
    sightings,
    users,
    viewer,
)
from command_api.routers.ptz import DEVICE_TIMEOUT_S as PTZ_DEVICE_TIMEOUT_S
from sharpeye.bus.connect import connect, redact_url, resolve_redis_url
from sharpeye.bus.sealed import bus_key_for
from sharpeye.registry import (
    Registry,
    RegistryDiff,
    RegistryError,
    RegistryWatcher,
    load_registry,
)
from sharpeye.settings import Settings, get_settings
from sharpeye.store.db import create_engine_for, session_factory, session_scope, upgrade_database

log = logging.getLogger(__name__)

WALL_UI_DIR = Path(__file__).resolve().parent.parent / "wall_ui"
REGISTRY_POLL_S = 1.0

DESCRIPTION = """
The command centre's API: the camera catalog with live health (from the ingest workers'
reports on Redis), alarms with their rules, routing, lifecycle and delivery, users,
departments, grants and the audit log. Responses never contain credentials or stream URLs.

Log in with POST /api/auth/login and send `Authorization: Bearer <access_token>` (machines:
`X-API-Key`). Every answer is limited to the caller's department: its own cameras, its
groups, and groups granted to it (unexpired); alarms routed to it. Administrators see all.
"""

TAGS = [
    {"name": "cameras", "description": "The camera registry with each camera's live health."},
    {"name": "health", "description": "Liveness of this API process."},
    {"name": "auth", "description": "Login, tokens, API keys."},
    {"name": "users", "description": "Users, their department and roles (administrators)."},
    {"name": "departments", "description": "Departments (seeded from the registry)."},
    {"name": "grants", "description": "Camera groups shared with other departments."},
    {"name": "rules", "description": "Alarm rules: events to alarms, routed to departments."},
    {"name": "alarms", "description": "Alarms: list, acknowledge, resolve, comment; live."},
    {"name": "deliveries", "description": "Destinations (duty phones, webhooks), outbox."},
    {"name": "audit", "description": "Append-only, hash-chained audit log (administrators)."},
]


class ApiStartupError(RuntimeError):
    """The API cannot start: the message names the file or peer and what to do."""


def load_initial_registry(path: Path) -> RegistryHolder:
    """The registry at startup; unlike a reload, errors here stop the API."""
    try:
        registry = load_registry(path)
    except FileNotFoundError:
        raise ApiStartupError(
            f"registry file {path} not found: set SHARPEYE_REGISTRY to the camera registry"
        ) from None
    except OSError as e:
        raise ApiStartupError(f"registry file {path} cannot be read: {e}") from None
    except RegistryError as e:
        raise ApiStartupError(f"registry {path} has errors:\n{e}") from None
    return RegistryHolder(path=path, registry=registry, loaded_at=time.time())


def _follow(
    holder: RegistryHolder, poll_s: float, on_reload: Callable[[Registry], None] | None = None
) -> RegistryWatcher:
    """A watcher that swaps edits into `holder`, keeping the last good registry on errors."""

    def on_change(registry: Registry, diff: RegistryDiff) -> None:
        holder.registry = registry
        holder.loaded_at = time.time()
        holder.reload_error = None
        if on_reload is not None:
            on_reload(registry)
        log.info(
            "registry reloaded from %s: %d cameras (%d added, %d removed, %d changed)",
            holder.path,
            len(registry.cameras),
            len(diff.added),
            len(diff.removed),
            len(diff.changed),
        )

    def on_error(error: RegistryError) -> None:
        holder.reload_error = f"{error}\n(serving the registry loaded before this edit)"
        log.warning("registry edit rejected, keeping the last good one:\n%s", error)

    return RegistryWatcher(
        holder.path, on_change, on_error, interval=poll_s, initial=holder.registry
    )


def _open_store(settings: Settings, holder: RegistryHolder, clock: Clock) -> Any:
    """Migrate the store to head, then store the registry's departments and alarm rules."""
    upgrade_database(settings)
    engine = create_engine_for(settings)
    # Bound before the first append below: registry rule changes are audited.
    use_key(engine, load_key(settings.data_dir))
    sessions = session_factory(engine)
    with session_scope(sessions) as s:
        sync_departments(s, holder.registry, clock.now())
        sync_registry_rules(s, holder.registry, clock.now())
        try:
            created = bootstrap_admin(
                s, holder.registry, os.environ.get(BOOTSTRAP_ENV), clock.now()
            )
        except ValueError as e:
            raise ApiStartupError(str(e)) from None
        if created:
            log.info("created the first administrator %r from %s", created, BOOTSTRAP_ENV)
    return engine, sessions


def _sync(sessions: Any, registry: Registry, clock: Clock) -> None:
    """A department added to the registry can get users and grants at once, and the
    registry's alarm rules apply from the next event on."""
    try:
        with write_scope(sessions) as s:
            sync_departments(s, registry, clock.now())
            sync_registry_rules(s, registry, clock.now())
    except Exception:
        log.exception("reloaded registry's departments and rules not stored; retried on next edit")


def create_app(
    settings: Settings | None = None,
    *,
    registry_poll_s: float = REGISTRY_POLL_S,
    clock: Clock | None = None,
    service_options: ServiceOptions | None = None,
    start_services: bool = True,
) -> FastAPI:
    """The API for `settings` (default: the process settings); connections open in lifespan.

    `clock` (default: system time) drives tokens and escalation; tests pass a manual one.
    `start_services` False leaves the event consumer, escalation and delivery loops off.
    """
    app_settings = settings or get_settings()
    app_clock = clock or SystemClock()
    options = service_options or ServiceOptions(
        consumer_name=app_settings.node_id,
        sightings_keep_s=app_settings.sightings_retention_days * 86400,
        evidence_root=app_settings.data_dir / "evidence",
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder = await asyncio.to_thread(load_initial_registry, app_settings.registry)
        client = await connect(app_settings)
        engine, sessions = await asyncio.to_thread(_open_store, app_settings, holder, app_clock)
        key = await asyncio.to_thread(bus_key_for, app_settings.data_dir)
        services = AlarmServices(client, sessions, holder, app_clock, key, options)
        runtime = Runtime(
            settings=app_settings,
            redis=client,
            registry=holder,
            redis_url_redacted=redact_url(resolve_redis_url(app_settings)),
            sessions=sessions,
            auth=load_auth_config(app_settings.data_dir),
            services=services,
            ptz=PtzPool(timeout=PTZ_DEVICE_TIMEOUT_S),
            live=LiveHub(client, key),
            clock=app_clock,
        )
        start_audit_worker(sessions, app_clock, app_settings.data_dir)
        app.state.runtime = runtime
        if start_services:
            services.start()
        stopping = asyncio.Event()
        # Not an alarm service: the sockets need it with `start_services` off too.
        live_hub = asyncio.create_task(runtime.live.run(stopping), name="live-hub")
        watcher = asyncio.create_task(
            _follow(holder, registry_poll_s, lambda r: _sync(sessions, r, app_clock)).run(stopping),
            name="registry-watcher",
        )
        log.info(
            "API ready: %d cameras from %s", len(holder.registry.cameras), app_settings.registry
        )
        try:
            yield
        finally:
            stopping.set()
            # A reload in progress runs in a thread; do not wait for a big registry to parse.
            watcher.cancel()
            live_hub.cancel()
            for task in (watcher, live_hub):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.stop()
            await runtime.ptz.close()
            shutdown_probe_pool()
            await asyncio.to_thread(stop_audit_worker, sessions)  # queued reads written
            await client.aclose()
            engine.dispose()
            del app.state.runtime

    app = FastAPI(
        title="Sharpeye command API",
        summary="Camera catalog and live health for the command centre.",
        description=DESCRIPTION,
        version=sharpeye.__version__,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # The default pages load their assets from a CDN: mount_docs serves them locally.
        docs_url=None,
        redoc_url=None,
    )
    mount_docs(app)
    # A NUL in the path, query or JSON body is refused before routing (PostgreSQL text
    # cannot hold it).
    app.add_middleware(RefuseNul)
    # Outermost of ours: an oversized body is refused before auth or parsing touch it.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes())
    app.add_exception_handler(redis.RedisError, _redis_unavailable)
    app.add_exception_handler(DataError, nul_in_text)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(auth.router)
    app.include_router(password.router)
    app.include_router(cameras.router)
    app.include_router(recordings.router)
    app.include_router(groups.router)
    app.include_router(alarms_ws.router)
    app.include_router(alarms.router)
    app.include_router(rules.router)
    app.include_router(users.router)
    app.include_router(departments.router)
    app.include_router(grants.router)
    app.include_router(deliveries.router)
    app.include_router(cluster.router)
    app.include_router(gb28181.router)
    # Before evidence: its `/api/evidence/{ref:path}` would otherwise take these paths.
    app.include_router(evidence_export.router)
    app.include_router(evidence_locks.router)
    app.include_router(evidence.router)
    app.include_router(audit.router)
    app.include_router(sightings.router)
    app.include_router(viewer.router)
    app.include_router(ptz.router)
    app.include_router(live.router)
    # Last: the static mount at "/" would otherwise shadow the API routes.
    if WALL_UI_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WALL_UI_DIR, html=True), name="wall_ui")
    else:
        log.warning("wall UI not served: %s is missing (API only)", WALL_UI_DIR)
    return app


async def _redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    runtime = getattr(request.app.state, "runtime", None)
    where = runtime.redis_url_redacted if isinstance(runtime, Runtime) else "?"
    log.warning("health bus unavailable at %s: %s", where, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"health bus unavailable: no Redis at {where}: {exc}"},
    )
