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
from command_api.routers import cameras, health
from sharpeye.bus.connect import connect, redact_url, resolve_redis_url
from sharpeye.registry.errors import RegistryError
from sharpeye.registry.loader import load_registry
from sharpeye.settings import Settings, get_settings

log = logging.getLogger(__name__)

WALL_UI_DIR = Path(__file__).resolve().parent.parent / "wall_ui"
REGISTRY_POLL_S = 1.0
# An editor may write a file in several steps; wait for it to stop changing before parsing.
_SETTLE_S = 0.2

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


FileStamp = tuple[int, int, int]


def _stamp(path: Path) -> FileStamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    # Inode too: editors that save by rename can keep mtime and size.
    return (st.st_mtime_ns, st.st_size, st.st_ino)


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


async def watch_registry(holder: RegistryHolder, poll_s: float = REGISTRY_POLL_S) -> None:
    """Reload the registry when its file changes; keep the last good one on a bad edit."""
    seen = _stamp(holder.path)
    while True:
        await asyncio.sleep(poll_s)
        stamp = _stamp(holder.path)
        if stamp == seen:
            continue
        await asyncio.sleep(_SETTLE_S)
        if _stamp(holder.path) != stamp:
            continue  # still being written; look again next round
        # Remember the stamp from before the read: a write during it triggers another reload.
        seen = stamp
        await _reload(holder, stamp)


async def _reload(holder: RegistryHolder, stamp: FileStamp | None) -> None:
    path = holder.path
    if stamp is None:
        holder.reload_error = f"{path}: file is missing; serving the last good registry"
        log.warning("%s", holder.reload_error)
        return
    try:
        # Off the loop: a city's registry takes a while to parse and validate.
        registry = await asyncio.to_thread(load_registry, path)
    except (RegistryError, OSError) as e:
        holder.reload_error = f"{e}\n(serving the registry loaded before this edit)"
        log.warning("registry edit rejected, keeping the last good one:\n%s", e)
        return
    except Exception:
        # A bug in the loader must not end hot reload for the life of the process.
        holder.reload_error = f"{path}: internal error while loading (see the API log)"
        log.exception("registry reload failed unexpectedly")
        return
    holder.registry = registry
    holder.loaded_at = time.time()
    holder.reload_error = None
    log.info("registry reloaded from %s: %d cameras", path, len(registry.cameras))


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
        watcher = asyncio.create_task(
            watch_registry(holder, registry_poll_s), name="registry-watcher"
        )
        log.info(
            "API ready: %d cameras from %s", len(holder.registry.cameras), app_settings.registry
        )
        try:
            yield
        finally:
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
