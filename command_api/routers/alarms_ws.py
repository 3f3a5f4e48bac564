"""WebSocket of live alarms for walls and duty consoles, filtered by permission.

Connect to `/api/alarms/live?token=<access token or API key>` (browsers cannot set headers
on a WebSocket). Each message is an `AlarmMessage` JSON object; a client sees an alarm
when it is routed to its department (administrators see all). Optional `department`
narrows an administrator's stream; anyone else asking for another department is refused
and the attempt audited. Refusals happen before the handshake completes, so clients see
HTTP 403 (the close reason says why). A client too slow to keep up is closed with 1013 and
should reconnect and reload GET /api/alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from command_api.alarms import metrics
from command_api.alarms.hub import AlarmHub, LiveClient
from command_api.auth.principal import Principal
from command_api.deps import Runtime, deny, get_runtime, principal_from_credential

router = APIRouter(tags=["alarms"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013


async def _authorize(
    websocket: WebSocket, runtime: Runtime, token: str | None, department: str | None
) -> Principal | None:
    if not token:
        await websocket.close(CLOSE_UNAUTHORIZED, "token query parameter required")
        return None
    try:
        principal = await run_in_threadpool(principal_from_credential, runtime, token)
    except HTTPException as e:
        await websocket.close(CLOSE_UNAUTHORIZED, str(e.detail))
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
        await websocket.close(CLOSE_FORBIDDEN, "not your department")
        return None
    return principal


@router.websocket("/api/alarms/live")
async def live_alarms(
    websocket: WebSocket,
    token: Annotated[str | None, Query(description="Access token or API key.")] = None,
    department: Annotated[str | None, Query(description="Administrators: one department.")] = None,
) -> None:
    runtime = get_runtime(websocket)
    hub: AlarmHub | None = runtime.services.hub if runtime.services is not None else None
    principal = await _authorize(websocket, runtime, token, department)
    if principal is None:
        return
    if hub is None:
        await websocket.close(CLOSE_TRY_AGAIN, "live alarms not running")
        return
    await websocket.accept()
    admin_all = principal.is_admin and department is None
    client = hub.register(department or principal.department, admin_all)
    metrics.LIVE_CLIENTS.inc()
    try:
        await _pump(websocket, client)
    finally:
        hub.unregister(client)
        metrics.LIVE_CLIENTS.dec()


async def _pump(websocket: WebSocket, client: LiveClient) -> None:
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
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[2] in done:
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_TRY_AGAIN, "too slow: reconnect and reload")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
