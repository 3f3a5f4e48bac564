"""How an authenticated live socket is served, whichever endpoint opened it.

`/api/alarms/live` and `/api/live` differ only in who may connect and what they ask the hub
for; once the caller is known both are served here: registered with the process's hub
(`Runtime.live`) before the hello (so nothing published while the wall loads is lost),
rescoped at every recheck (a grant removed or a registry edit reaches open sockets), and
closed with one set of codes (`command_api.auth.socket`): 4401 when the session ends while
connected (a logout, a revoked session or key, a deactivated user), 1013 when the client
falls too far behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from command_api.auth.camera_scope import CameraScope
from command_api.auth.principal import Principal
from command_api.auth.scope import follow_scope
from command_api.auth.socket import CLOSE_TRY_AGAIN, CLOSE_UNAUTHORIZED
from command_api.auth.watch import Watched, watch_for
from command_api.live.hub import Kind, LiveClient
from command_api.runtime import Runtime


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    # The client may already be gone (it left during the auth wait).
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code, reason)


async def serve(
    websocket: WebSocket,
    runtime: Runtime,
    principal: Principal,
    scope: CameraScope,
    *,
    department: str | None,
    kinds: Iterable[Kind],
    tagged: bool,
    hello: dict[str, Any] | None,
) -> None:
    """Stream what `principal` may see of `kinds` to the accepted `websocket` until it
    leaves, falls behind or its session ends; `hello` (if any) is sent once the hub is
    subscribed. `department` None: every department's alarms (administrators)."""
    hub = runtime.live
    client = hub.register(
        scope,
        department=department,
        administrator=principal.is_admin,
        kinds=kinds,
        tagged=tagged,
    )
    watch = watch_for(runtime.sessions, runtime.clock, runtime.auth.recheck_s)
    watched = watch.watch(principal)

    def rescope(current: CameraScope) -> None:
        client.scope = current

    following = asyncio.create_task(follow_scope(runtime, principal, rescope))
    try:
        if hello is not None:
            await hub.subscribed.wait()
            await websocket.send_text(json.dumps(hello))
        await _pump(websocket, client, watched)
    except WebSocketDisconnect:
        pass
    finally:
        following.cancel()
        watch.unwatch(watched)
        hub.unregister(client)


async def _pump(websocket: WebSocket, client: LiveClient, watched: Watched) -> None:
    async def receive() -> None:
        # Clients send nothing we need, but reading notices their disconnect.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    async def send() -> None:
        while True:
            await websocket.send_text(await client.queue.get())

    tasks = [
        asyncio.create_task(receive()),
        asyncio.create_task(send()),
        asyncio.create_task(client.overflowed.wait()),
        asyncio.create_task(watched.ended.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[2] in done:
            await close(websocket, CLOSE_TRY_AGAIN, "too slow: reconnect and reload")
        elif tasks[3] in done:
            await close(websocket, CLOSE_UNAUTHORIZED, "session ended: renew or log in")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
