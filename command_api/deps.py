"""Request dependencies: what a route may use, as `Annotated` aliases whose providers raise.

The lifespan (`command_api.app`) builds one `Runtime` per process; routes never touch
`app.state` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import redis.asyncio
from fastapi import Depends, HTTPException, Request, status

from sharpeye.registry import Registry
from sharpeye.settings import Settings


@dataclass
class RegistryHolder:
    """The registry the API serves: the last one that loaded without errors.

    Reloads replace `registry` whole (models are frozen snapshots), so a request that took
    a reference keeps a consistent view while an edit lands.
    """

    path: Path
    registry: Registry
    loaded_at: float
    # Why the newest edit was rejected (file:line: key: message; never a secret), until fixed.
    reload_error: str | None = None


@dataclass
class Runtime:
    """Connections and state owned by the lifespan, shared by every request."""

    settings: Settings
    redis: redis.asyncio.Redis
    registry: RegistryHolder
    # For error messages: the password, if any, is masked.
    redis_url_redacted: str


def get_runtime(request: Request) -> Runtime:
    runtime = getattr(request.app.state, "runtime", None)
    if not isinstance(runtime, Runtime):
        # Only reachable if the app is served without its lifespan (a misconfigured server).
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "API is not started")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_app_settings(runtime: RuntimeDep) -> Settings:
    """The settings the app was created with (not a fresh read of the environment)."""
    return runtime.settings


def get_redis(runtime: RuntimeDep) -> redis.asyncio.Redis:
    return runtime.redis


def get_registry(runtime: RuntimeDep) -> Registry:
    return runtime.registry.registry


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RedisDep = Annotated[redis.asyncio.Redis, Depends(get_redis)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


@dataclass(frozen=True)
class CameraScope:
    """Which cameras the caller may see; `camera_ids` None means every camera."""

    camera_ids: frozenset[str] | None = None
    description: str = "all cameras"

    def allows(self, camera_id: str) -> bool:
        return self.camera_ids is None or camera_id in self.camera_ids


ALL_CAMERAS = CameraScope()


def current_scope() -> CameraScope:
    """The cameras the current caller may see: for now, all of them.

    Placeholder until the departments/permissions issue, which replaces this dependency with
    one that authenticates the caller and returns `Registry.visible_camera_ids(department)`.
    Every route that lists or returns cameras must filter through this scope already, so
    that change is made here alone.
    """
    return ALL_CAMERAS


ScopeDep = Annotated[CameraScope, Depends(current_scope)]
