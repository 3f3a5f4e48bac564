"""`/api/live`: camera health changes as they happen, for the wall's tiles and tree.

Relays ingest's state changes (`sharpeye:health:changes`, `CameraHealth` JSON) as
`{"type": "health", ...health}`, only for cameras in the caller's scope, with errors as
their category for anyone but administrators. Alarms have their own socket
(`/api/alarms/live`, routed by department); both are served by the process's one live hub
(`command_api.live`), which can also put alarms on this socket (tagged `"alarm"`) for a
deployment that wants one socket.

The client authenticates with its first message, `{"type": "auth", "token": ...}`
(`command_api.auth.socket`; `?token=` still works for API clients), gets
`{"type": "hello", "scope": ...}` once the hub is subscribed, and is rechecked while
connected: a logout, a revoked session or key, or a deactivated user closes the socket with
4401; a client too slow to keep up is closed with 1013 and reconnects.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_socket
from command_api.auth.principal import Principal
from command_api.auth.socket import AUTH_REQUIRED, CLOSE_UNAUTHORIZED, first_message_token
from command_api.deps import (
    CameraScope,
    Runtime,
    get_runtime,
    principal_from_credential,
    scope_for,
)
from command_api.live.stream import close, serve

router = APIRouter(tags=["live"])


async def _scope(runtime: Runtime, token: str | None) -> tuple[Principal, CameraScope]:
    """The caller whose access token (or API key) this is, and its scope; HTTPException 401."""
    if not token:
        raise HTTPException(401, AUTH_REQUIRED)
    principal = await run_in_threadpool(principal_from_credential, runtime, token)
    return principal, await run_in_threadpool(scope_for, runtime, principal)


@router.websocket("/api/live", dependencies=[audited_socket("health.live")])
async def live(
    websocket: WebSocket,
    token: Annotated[
        str | None, Query(description="API clients: access token or API key (browsers: no).")
    ] = None,
) -> None:
    runtime = get_runtime(websocket)  # type: ignore[arg-type,unused-ignore]
    await websocket.accept()
    if not token:
        token = await first_message_token(websocket)
    try:
        principal, scope = await _scope(runtime, token)
    except HTTPException as exc:
        await close(websocket, CLOSE_UNAUTHORIZED, str(exc.detail))
        return
    await serve(
        websocket,
        runtime,
        principal,
        scope,
        department=principal.department,
        kinds={"health"},
        tagged=True,
        hello={"type": "hello", "scope": scope.description},
    )
