"""What one API process owns (`Runtime`, built by the lifespan in `command_api.app`) and the
audit helpers every part of the API records with.

Below the web layer: `alarms`, `auth` and `audit` use these, and `deps.py` (the request
dependencies the routers take) builds on them, never the other way (tests/test_layers.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis.asyncio
from fastapi import Depends, HTTPException, status
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection

from camera.onvif.ptz_pool import PtzPool
from command_api.alarms.clock import Clock, SystemClock
from command_api.alarms.services import AlarmServices
from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.audit.log import Outcome
from command_api.auth.camera_scope import CameraScope
from command_api.auth.principal import Principal
from command_api.auth.tokens import AuthConfig
from command_api.live.hub import LiveHub
from command_api.registry_holder import RegistryHolder as RegistryHolder
from sharpeye.settings import Settings

# The name refusals were always logged under (log-level settings may name it).
log = logging.getLogger("command_api.deps")


@dataclass
class Runtime:
    """Connections and state owned by the lifespan, shared by every request; built once
    everything in it exists (no field is filled in later)."""

    settings: Settings
    redis: redis.asyncio.Redis
    registry: RegistryHolder
    # For error messages: the password, if any, is masked.
    redis_url_redacted: str
    sessions: sessionmaker[Session]
    auth: AuthConfig
    # The alarm services (consumer, escalation, delivery); started by the lifespan unless
    # `create_app(start_services=False)`, built either way (routes publish through them).
    services: AlarmServices
    # Open ONVIF PTZ sessions, reused across requests (camera.onvif).
    ptz: PtzPool
    # The process's one subscription to alarms and camera health, fanned out to its sockets.
    live: LiveHub
    clock: Clock = field(default_factory=SystemClock)
    # Each department's camera scope as open sockets follow it (auth.scope.follow_scope):
    # department -> (computed at, monotonic; the scope), shared by the department's sockets.
    scope_memo: dict[str, tuple[float, CameraScope]] = field(default_factory=dict)


def get_runtime(request: HTTPConnection) -> Runtime:
    runtime = getattr(request.app.state, "runtime", None)
    if not isinstance(runtime, Runtime):
        # Only reachable if the app is served without its lifespan (a misconfigured server).
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "API is not started")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


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
