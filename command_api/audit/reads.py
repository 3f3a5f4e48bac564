"""Reads audited without slowing them: who listed or opened which cameras, alarms, PTZ
status, and when a live socket opened and closed.

Wire a read route with `dependencies=[audited_read("camera.list")]`. The dependency waits
for the route to finish, then queues one record (actor, department, action, target from the
path, the query, the result count) for the process's audit worker (background.py), which
appends queued reads in one transaction every fraction of a second: a read never waits for
the chain's lock. A route that knows its result count says so with `note_count(request, n)`;
camera lists otherwise record how many cameras the caller may see. A 403 is not recorded
here: the refusal is audited where it is decided (`deny`).

Sockets authenticate after they open (first message), so the route's dependency
(`audited_socket("alarms.live")`) only marks the socket; the record is made when the caller
is known (`socket_opened`, from the credential watch every socket registers with) and on
close, with how long it stayed open.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from starlette.websockets import WebSocket

from command_api.audit.background import worker_for
from command_api.audit.log import AuditEntry
from command_api.auth.credentials import PrincipalDep
from command_api.auth.principal import Principal
from command_api.runtime import Runtime, RuntimeDep, entry_for, get_runtime

COUNT_ATTR = "audit_count"
_PATH_TARGETS = (("camera_id", "camera"), ("alarm_id", "alarm"))


def note_count(request: Request, count: int) -> None:
    """Tell the read audit how many items this request returned."""
    setattr(request.state, COUNT_ATTR, count)


def _target(request: Request) -> str:
    for param, kind in _PATH_TARGETS:
        value = request.path_params.get(param)
        if value is not None:
            return f"{kind}:{value}"
    return request.url.path


def record(runtime: Runtime, entry: AuditEntry) -> None:
    """Queue `entry` for the next batched append (does not wait for the store)."""
    worker_for(runtime.sessions, runtime.clock).record(entry)


def audited_read(action: str) -> Any:
    """A route dependency recording each read of the route as `action`."""

    async def audit_read(
        request: Request, runtime: RuntimeDep, principal: PrincipalDep
    ) -> AsyncIterator[None]:
        detail: dict[str, Any] = {}
        if request.query_params:
            detail["query"] = dict(request.query_params)
        try:
            yield
        except HTTPException as e:
            if e.status_code != 403:  # 403: audited by deny() where it was refused
                detail["status"] = e.status_code
                record(runtime, entry_for(principal, action, _target(request), "error", detail))
            raise
        count = getattr(request.state, COUNT_ATTR, None)
        if count is None:
            count = _default_count(request, runtime, principal, action)
        if count is not None:
            detail["count"] = count
        record(runtime, entry_for(principal, action, _target(request), "ok", detail))

    return Depends(audit_read)


def _default_count(
    request: Request, runtime: Runtime, principal: Principal, action: str
) -> int | None:
    if action.endswith(".read") or action.endswith(".status"):
        return 1
    if action == "camera.list":
        # The caller's scope (already computed for the route, cached for 5 s) bounds the
        # list; the route narrows it with filters it may report through note_count.
        from command_api.auth.scope import scope_for

        scope = scope_for(runtime, principal)
        if scope.camera_ids is None:
            return len(runtime.registry.registry.cameras)
        return len(scope.camera_ids)
    return None


@dataclass
class SocketAudit:
    runtime: Runtime
    action: str
    path: str
    principal: Principal | None = None
    opened_at: float = 0.0


_socket: contextvars.ContextVar[SocketAudit | None] = contextvars.ContextVar(
    "audit_socket", default=None
)


def audited_socket(action: str) -> Any:
    """A WebSocket route dependency: `socket.open` / `socket.close` records for `action`."""

    async def audit_socket(websocket: WebSocket) -> AsyncIterator[None]:
        marker = SocketAudit(get_runtime(websocket), action, websocket.url.path)
        token = _socket.set(marker)
        try:
            yield
        finally:
            _socket.reset(token)
            if marker.principal is not None:
                lasted = round(marker.runtime.clock.now() - marker.opened_at, 3)
                detail = {"socket": marker.action, "open_s": lasted}
                entry = entry_for(marker.principal, "socket.close", marker.path, "ok", detail)
                record(marker.runtime, entry)

    return Depends(audit_socket)


def socket_opened(principal: Principal) -> None:
    """The socket in this context is now serving `principal` (called once it is authorized)."""
    marker = _socket.get()
    if marker is None or marker.principal is not None:
        return
    marker.principal = principal
    marker.opened_at = marker.runtime.clock.now()
    detail = {"socket": marker.action}
    record(marker.runtime, entry_for(principal, "socket.open", marker.path, "ok", detail))
