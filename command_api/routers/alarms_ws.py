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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from command_api.alarms import metrics
from command_api.alarms.hub import AlarmHub, LiveClient
from command_api.audit.reads import audited_socket
from command_api.auth.principal import Principal
from command_api.auth.scope import CameraScope, follow_scope
from command_api.auth.socket import (
    AUTH_REQUIRED,
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    first_message_token,
)
from command_api.auth.watch import Watched, watch_for
from command_api.deps import Runtime, deny, get_runtime, principal_from_credential, scope_for

router = APIRouter(tags=["alarms"])

CLOSE_TRY_AGAIN = 1013


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    # The client may already be gone (it left during the auth wait).
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code, reason)


async def _authorize(
    websocket: WebSocket, runtime: Runtime, token: str | None, department: str | None
) -> Principal | None:
    if not token:
        await _close(websocket, CLOSE_UNAUTHORIZED, AUTH_REQUIRED)
        return None
    try:
        principal = await run_in_threadpool(principal_from_credential, runtime, token)
    except HTTPException as e:
        await _close(websocket, CLOSE_UNAUTHORIZED, str(e.detail))
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
        await _close(websocket, CLOSE_FORBIDDEN, "not your department")
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
    hub: AlarmHub | None = runtime.services.hub if runtime.services is not None else None
    by_message = not token
    if by_message:
        await websocket.accept()
        token = await first_message_token(websocket)
    principal = await _authorize(websocket, runtime, token, department)
    if principal is None:
        return
    if hub is None:
        await _close(websocket, CLOSE_TRY_AGAIN, "live alarms not running")
        return
    if not by_message:
        await websocket.accept()
    admin_all = principal.is_admin and department is None
    # Alarms on cameras outside the caller's scope come without location and evidence.
    scope = await run_in_threadpool(scope_for, runtime, principal)
    sees = None if scope.camera_ids is None else scope.allows
    client = hub.register(department or principal.department, admin_all, sees)
    watch = watch_for(runtime.sessions, runtime.clock, runtime.auth.recheck_s)
    watched = watch.watch(principal)

    def rescope(scope: CameraScope) -> None:
        client.sees_camera = None if scope.camera_ids is None else scope.allows

    following = asyncio.create_task(follow_scope(runtime, principal, rescope))
    metrics.LIVE_CLIENTS.inc()
    try:
        if by_message:
            # Registered first: an alarm raised while the client loads the open ones is
            # queued here, not lost.
            hello = {"kind": "hello", "department": department or principal.department}
            await websocket.send_text(json.dumps(hello))
        await _pump(websocket, client, watched)
    except WebSocketDisconnect:
        pass
    finally:
        following.cancel()
        watch.unwatch(watched)
        hub.unregister(client)
        metrics.LIVE_CLIENTS.dec()


async def _pump(websocket: WebSocket, client: LiveClient, watched: Watched) -> None:
    async def receive() -> None:
        # Clients send nothing we need, but reading notices their disconnect.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    async def send() -> None:
        while True:
            text = await client.queue.get()
            await websocket.send_text(text)

    tasks = [
        asyncio.create_task(receive()),
        asyncio.create_task(send()),
        asyncio.create_task(client.overflowed.wait()),
        asyncio.create_task(watched.ended.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[2] in done:
            await _close(websocket, CLOSE_TRY_AGAIN, "too slow: reconnect and reload")
        elif tasks[3] in done:
            await _close(websocket, CLOSE_UNAUTHORIZED, "session ended: renew or log in")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
