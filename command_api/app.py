"""The FastAPI application: one lifespan owns the Redis client and the registry (hot-reloaded)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import redis
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import sharpeye
from command_api.deps import RegistryHolder, Runtime
from command_api.routers import cameras, health, viewer
from sharpeye.bus.connect import connect, redact_url, resolve_redis_url
from sharpeye.registry import (
    Registry,
    RegistryDiff,
    RegistryError,
    RegistryWatcher,
    load_registry,
)
from sharpeye.settings import Settings, get_settings

log = logging.getLogger(__name__)

WALL_UI_DIR = Path(__file__).resolve().parent.parent / "wall_ui"
REGISTRY_POLL_S = 1.0

DESCRIPTION = """
The command centre's API: the camera catalog with live health (from the ingest workers'
reports on Redis). Responses never contain credentials or stream URLs.

Every listing is limited to the caller's scope (for now: all cameras; departments and
permissions come later).
"""

TAGS = [
    {"name": "cameras", "description": "The camera registry with each camera's live health."},
    {"name": "health", "description": "Liveness of this API process."},
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


def _follow(holder: RegistryHolder, poll_s: float) -> RegistryWatcher:
    """A watcher that swaps edits into `holder`, keeping the last good registry on errors."""

    def on_change(registry: Registry, diff: RegistryDiff) -> None:
        holder.registry = registry
        holder.loaded_at = time.time()
        holder.reload_error = None
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


def create_app(
    settings: Settings | None = None, *, registry_poll_s: float = REGISTRY_POLL_S
) -> FastAPI:
    """The API for `settings` (default: the process settings); connections open in lifespan."""
    app_settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder = await asyncio.to_thread(load_initial_registry, app_settings.registry)
        client = await connect(app_settings)
        app.state.runtime = Runtime(
            settings=app_settings,
            redis=client,
            registry=holder,
            redis_url_redacted=redact_url(resolve_redis_url(app_settings)),
        )
        stop_watching = asyncio.Event()
        watcher = asyncio.create_task(
            _follow(holder, registry_poll_s).run(stop_watching), name="registry-watcher"
        )
        log.info(
            "API ready: %d cameras from %s", len(holder.registry.cameras), app_settings.registry
        )
        try:
            yield
        finally:
            stop_watching.set()
            # A reload in progress runs in a thread; do not wait for a big registry to parse.
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await client.aclose()
            del app.state.runtime

    app = FastAPI(
        title="Sharpeye command API",
        summary="Camera catalog and live health for the command centre.",
        description=DESCRIPTION,
        version=sharpeye.__version__,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.add_exception_handler(redis.RedisError, _redis_unavailable)
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(viewer.router)
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
