"""Request dependencies: what a route may use, as `Annotated` aliases whose providers raise.

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

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio
from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from command_api.alarms.clock import Clock, SystemClock
from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.audit.log import Outcome
from command_api.auth.directory import (
    ApiKeyExpiredError,
    api_key_principal,
    granted_groups,
    user_principal,
    visible_cameras,
)
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.auth.sessions import session_problem
from command_api.auth.tokens import API_KEY_PREFIX, AuthConfig, TokenError, decode_token
from sharpeye.registry import Registry
from sharpeye.settings import Settings
from sharpeye.store.models import LoginSessionRow, UserRow

log = logging.getLogger(__name__)


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
    sessions: sessionmaker[Session]
    auth: AuthConfig
    clock: Clock = field(default_factory=SystemClock)
    # Set by the lifespan: the alarm services (consumer, delivery, live hub) it owns.
    services: Any = None
    # Set by the lifespan: open ONVIF PTZ sessions, reused across requests (ingest.onvif).
    ptz: Any = None


def get_runtime(request: HTTPConnection) -> Runtime:
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


def get_sessions(runtime: RuntimeDep) -> sessionmaker[Session]:
    return runtime.sessions


def get_clock(runtime: RuntimeDep) -> Clock:
    return runtime.clock


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def audit(runtime: Runtime, entry: AuditEntry) -> None:
    """Record `entry` in its own transaction (kept even when the request then fails)."""
    with write_scope(runtime.sessions) as s:
        append(s, entry, runtime.clock.now())


def entry_for(
    principal: Principal | None,
    action: str,
    target: str,
    outcome: Outcome = "ok",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """An audit entry for what `principal` did (None: a scope without a caller)."""
    return AuditEntry(
        actor=principal.actor if principal else "anonymous",
        department=principal.department if principal else "",
        action=action,
        target=target,
        outcome=outcome,
        detail=dict(detail or {}),
    )


def deny(
    runtime: Runtime, principal: Principal | None, action: str, target: str, reason: str
) -> HTTPException:
    """Audit a refused attempt and return the 403 to raise (sync: call it in a thread)."""
    audit(runtime, entry_for(principal, action, target, "denied", {"reason": reason}))
    log.warning(
        "denied %s on %s to %s: %s",
        action,
        target,
        principal.actor if principal else "anonymous",
        reason,
    )
    return HTTPException(status.HTTP_403_FORBIDDEN, reason)


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A machine's API key (sk_...)."
)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def _api_key_caller(runtime: Runtime, key: str) -> Principal:
    with runtime.sessions() as s:
        try:
            principal = api_key_principal(s, key, runtime.clock.now())
        except ApiKeyExpiredError as e:
            row = e.row
            expired = AuditEntry(
                row.name,
                row.department_id,
                "api_key.use",
                f"key:{row.prefix}",
                "denied",
                {"reason": "expired", "expired_at": row.expires_at},
            )
            message = str(e)
        else:
            if principal is None:
                raise _unauthorized("unknown or revoked API key")
            return principal
    audit(runtime, expired)  # after the read session: its own write transaction
    raise _unauthorized(message)


def principal_from_credential(runtime: Runtime, credential: str) -> Principal:
    """The caller behind a bearer token or API key; raises 401. Also used by WebSockets."""
    if credential.startswith(API_KEY_PREFIX):
        return _api_key_caller(runtime, credential)
    with runtime.sessions() as s:
        try:
            now = runtime.clock.now()
            claims = decode_token(runtime.auth, credential, now)
        except TokenError as e:
            raise _unauthorized(str(e)) from None
        # The store, not the token, has the last word: a deactivated user, a changed
        # department or a revoked session (logout) takes effect at once, not at expiry.
        user = s.get(UserRow, claims.user_id)
        if user is None or not user.active:
            raise _unauthorized("user no longer active")
        if claims.session_id is not None:
            problem = session_problem(s.get(LoginSessionRow, claims.session_id), user, now)
            if problem is not None:
                raise _unauthorized(problem)
        return user_principal(user, claims.session_id)


def current_principal(
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        raise _unauthorized("log in (POST /api/auth/login) and send Authorization: Bearer")
    return principal_from_credential(runtime, credential)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


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


@dataclass(frozen=True)
class CameraScope:
    """Which cameras the caller may see; `camera_ids` None means every camera."""

    camera_ids: frozenset[str] | None = None
    description: str = "all cameras"
    principal: Principal | None = None

    def allows(self, camera_id: str) -> bool:
        return self.camera_ids is None or camera_id in self.camera_ids


ALL_CAMERAS = CameraScope()


def scope_for(runtime: Runtime, principal: Principal) -> CameraScope:
    """Cameras `principal` may see: administrators all; others their department's own,
    its groups, and groups granted by the registry or the API (unexpired)."""
    if principal.is_admin:
        return CameraScope(None, "all cameras (administrator)", principal)
    now = runtime.clock.now()
    with runtime.sessions() as s:
        extra = granted_groups(s, principal.department, now)
    ids = _visible(runtime.registry.registry, principal.department, frozenset(extra), now)
    return CameraScope(ids, f"cameras visible to {principal.department}", principal)


_SCOPE_TTL_S = 5.0
_scope_cache: dict[tuple[str, frozenset[str], int], frozenset[str]] = {}
_scope_cache_registry: list[Registry] = []


def _visible(
    registry: Registry, department: str, extra: frozenset[str], now: float
) -> frozenset[str]:
    """`visible_camera_ids` walks every camera (54,000 in a district): reuse the answer for
    a few seconds per department and grant set; a registry reload or a changed API grant
    is a new key, a registry grant's expiry is seen within `_SCOPE_TTL_S`."""
    if not _scope_cache_registry or _scope_cache_registry[0] is not registry:
        _scope_cache.clear()
        _scope_cache_registry[:] = [registry]
    key = (department, extra, int(now // _SCOPE_TTL_S))
    ids = _scope_cache.get(key)
    if ids is None:
        if len(_scope_cache) > 1024:
            _scope_cache.clear()
        ids = frozenset(visible_cameras(registry, department, set(extra), now))
        _scope_cache[key] = ids
    return ids


def current_scope(runtime: RuntimeDep, principal: PrincipalDep) -> CameraScope:
    return scope_for(runtime, principal)


ScopeDep = Annotated[CameraScope, Depends(current_scope)]

# Path ids of stored rows: bounded so a huge number is a 422, not a database overflow.
RowId = Annotated[int, PathParam(ge=1, le=2_147_483_647, description="Row id.")]
