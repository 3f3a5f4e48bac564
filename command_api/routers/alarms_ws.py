"""WebSocket of live alarms for walls and duty consoles, filtered by permission.

Connect to `/api/alarms/live` and send `{"type": "auth", "token": "<access token or API
key>"}` first (`command_api.auth.socket`): the server answers `{"kind": "hello"}` once the
client is subscribed, then the client should load the open alarms (GET /api/alarms?open=true)
and follow. API clients may pass `?token=` instead (no hello then; refusals happen before the
handshake, so they see HTTP 403). Each message is an `AlarmMessage` JSON object; a client
sees an alarm when it is routed to its department (administrators see all). Optional
`department` narrows an administrator's stream; anyone else asking for another department
is refused (4403) and the attempt audited. The caller is rechecked while connected: a
logout, a revoked session or key, or a deactivated user closes the socket with 4401, and a
changed grant changes which alarms come with their camera's location and evidence. A client
too slow to keep up is closed with 1013 and should reconnect and reload GET /api/alarms.

Served by the process's one live hub (`command_api.live`), as `/api/live` is: this module
only decides who may connect and to which department's alarms.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_socket
from command_api.auth.principal import Principal
from command_api.auth.socket import (
    AUTH_REQUIRED,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    first_message_token,
)
from command_api.deps import Runtime, deny, get_runtime, principal_from_credential, scope_for
from command_api.live.stream import close, serve

router = APIRouter(tags=["alarms"])


async def _authorize(
    websocket: WebSocket, runtime: Runtime, token: str | None, department: str | None
) -> Principal | None:
    if not token:
        await close(websocket, CLOSE_UNAUTHORIZED, AUTH_REQUIRED)
        return None
    try:
        principal = await run_in_threadpool(principal_from_credential, runtime, token)
    except HTTPException as e:
        await close(websocket, CLOSE_UNAUTHORIZED, str(e.detail))
        return None
    if department is not None and department != principal.department and not principal.is_admin:
        await run_in_threadpool(
            deny,
            runtime,
            principal,
            "alarms.live",
            f"department:{department}",
            "live alarms of another department",
        )
        await close(websocket, CLOSE_FORBIDDEN, "not your department")
        return None
    return principal


@router.websocket("/api/alarms/live", dependencies=[audited_socket("alarms.live")])
async def live_alarms(
    websocket: WebSocket,
    token: Annotated[
        str | None, Query(description="API clients: access token or API key (browsers: no).")
    ] = None,
    department: Annotated[str | None, Query(description="Administrators: one department.")] = None,
) -> None:
    runtime = get_runtime(websocket)
    by_message = not token
    if by_message:
        await websocket.accept()
        token = await first_message_token(websocket)
    principal = await _authorize(websocket, runtime, token, department)
    if principal is None:
        return
    if not by_message:
        await websocket.accept()
    # Alarms on cameras outside the caller's scope come without location and evidence.
    scope = await run_in_threadpool(scope_for, runtime, principal)
    follows = department or principal.department
    await serve(
        websocket,
        runtime,
        principal,
        scope,
        # An administrator who names no department follows them all.
        department=None if principal.is_admin and department is None else follows,
        kinds={"alarm"},
        tagged=False,
        # The wall's handshake; API clients (?token=) connect without one (see above).
        hello={"kind": "hello", "department": follows} if by_message else None,
    )
