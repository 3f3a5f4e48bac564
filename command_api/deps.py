"""Request dependencies: what a route may use, as `Annotated` aliases whose providers raise.

The web layer: routers take these; the domain packages (`alarms`, `auth`, `audit`) never
import this module (tests/test_layers.py). What they share with it lives below and is
re-exported here for the routers: the process's `Runtime` and the audit helpers
(`command_api.runtime`), the caller (`command_api.auth.credentials`), the camera scope
(`command_api.auth.scope`).

The lifespan (`command_api.app`) builds one `Runtime` per process; routes never touch
`app.state` directly.

Identity for every router:
- `PrincipalDep`: the caller (401 without a valid bearer token or `X-API-Key`).
- `ScopeDep`: the cameras the caller may see (`scope.allows(id)`, `scope.principal`).
- `AdminDep` / `require(Role.X, ...)`: role checks that audit refusals (403).
- `deny(runtime, principal, action, target, reason)`: audits a refused attempt and returns
  the 403 to raise (synchronous: from async code call it with `run_in_threadpool`).
- `audit(runtime, AuditEntry(...))`: records an action (a token issued, a search) in its own
  transaction. WebSockets authenticate with `principal_from_credential(runtime, token)`.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis.asyncio
from fastapi import Depends, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.auth.credentials import PrincipalDep as PrincipalDep
from command_api.auth.credentials import _api_key as _api_key
from command_api.auth.credentials import _bearer as _bearer
from command_api.auth.credentials import current_principal as current_principal
from command_api.auth.credentials import principal_from_credential as principal_from_credential
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.auth.scope import ALL_CAMERAS as ALL_CAMERAS
from command_api.auth.scope import CameraScope as CameraScope
from command_api.auth.scope import scope_for as scope_for
from command_api.registry_holder import RegistryHolder as RegistryHolder
from command_api.runtime import Runtime as Runtime
from command_api.runtime import RuntimeDep as RuntimeDep
from command_api.runtime import audit as audit
from command_api.runtime import deny as deny
from command_api.runtime import entry_for as entry_for
from command_api.runtime import get_runtime as get_runtime
from sharpeye.registry import Registry
from sharpeye.settings import Settings


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


def get_sessions(runtime: RuntimeDep) -> sessionmaker[Session]:
    return runtime.sessions


def get_clock(runtime: RuntimeDep) -> Clock:
    return runtime.clock


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def require(*roles: Role) -> Any:
    """A dependency that passes callers holding one of `roles` and audits the others."""
    allowed = frozenset(roles)

    def check(request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> Principal:
        if not principal.has_any(allowed):
            raise deny(
                runtime,
                principal,
                f"{request.method} {request.scope.get('route_path', request.url.path)}",
                request.url.path,
                f"needs role {' or '.join(sorted(allowed))}",
            )
        return principal

    return Depends(check)


AdminDep = Annotated[Principal, require(Role.ADMINISTRATOR)]


def current_scope(runtime: RuntimeDep, principal: PrincipalDep) -> CameraScope:
    return scope_for(runtime, principal)


ScopeDep = Annotated[CameraScope, Depends(current_scope)]

# Path ids of stored rows: bounded so a huge number is a 422, not a database overflow.
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647, description="Row id.")]
