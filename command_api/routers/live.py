"""`/api/live`: camera health changes as they happen, for the wall's tiles and tree.

Relays ingest's Redis pub/sub channel `sharpeye:health:changes` (`CameraHealth` JSON on each
state change) as `{"type": "health", ...health}`, only for cameras in the caller's scope.
Alarms have their own socket (`/api/alarms/live`, routed by department); the hub also
understands alarm messages (`{"alarm": {"camera_id": ...}}`) for a deployment that wants
both on one socket, filtered by camera scope.

One Redis subscription per API process (`LiveHub`), fanned out to a bounded queue per
client; a client that falls `QUEUE_SIZE` messages behind is closed (1013) and reconnects,
instead of the process buffering without bound. The client authenticates with its first
message, `{"type": "auth", "token": ...}` (`command_api.auth.socket`; `?token=` still works
for API clients), and is rechecked while connected: a logout, a revoked session or key, or a
deactivated user closes the socket with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis.asyncio
from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from command_api.alarms import metrics
from command_api.audit.reads import audited_socket
from command_api.auth.principal import Principal
from command_api.auth.scope import follow_scope
from command_api.auth.socket import AUTH_REQUIRED, CLOSE_UNAUTHORIZED, first_message_token
from command_api.auth.watch import watch_for
from command_api.deps import (
    CameraScope,
    Runtime,
    get_runtime,
    principal_from_credential,
    scope_for,
)
from sharpeye.bus.health import HEALTH_CHANNEL
from sharpeye.bus.sealed import unseal
from sharpeye.health_text import for_reader

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

ALARMS_CHANNEL = "sharpeye:alarms"
QUEUE_SIZE = 256
CLOSE_TRY_AGAIN = 1013


def camera_of(kind: str, message: dict[str, Any]) -> str | None:
    """The camera a message is about (alarms nest it in `alarm`)."""
    if kind == "alarm":
        alarm = message.get("alarm")
        if isinstance(alarm, dict) and isinstance(alarm.get("camera_id"), str):
            return str(alarm["camera_id"])
    value = message.get("camera_id")
    return value if isinstance(value, str) else None


def _is_admin(scope: CameraScope) -> bool:
    return scope.principal is not None and scope.principal.is_admin


def _health_for(message: dict[str, Any], admin: bool) -> dict[str, Any]:
    """A health report as its reader may see it: errors as their category for operators
    and viewers (the detail names the camera's address and login, which only administrators
    need), scrubbed of any secret for administrators."""
    out = dict(message)
    for key in ("reason", "last_error"):
        value = out.get(key)
        if isinstance(value, str):
            out[key] = for_reader(value, administrator=admin)
    return out


@dataclass(eq=False)
class LiveClient:
    scope: CameraScope
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class LiveHub:
    """The process's subscription to `channels`, running while it has clients."""

    def __init__(
        self,
        r: redis.asyncio.Redis,
        channels: tuple[str, ...] = (HEALTH_CHANNEL,),
        bus_key: bytes | None = None,
    ):
        self._r = r
        self._channels = channels
        # Alarm messages route by the departments inside them: only sealed ones are taken
        # (sharpeye.bus.sealed), and none without a key.
        self._key = bus_key
        self._clients: set[LiveClient] = set()
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def register(self, scope: CameraScope) -> LiveClient:
        client = LiveClient(scope)
        self._clients.add(client)
        if self._task is None or self._task.done():
            self.subscribed.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")
        return client

    async def unregister(self, client: LiveClient) -> None:
        self._clients.discard(client)
        if not self._clients and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def dispatch(self, channel: str, data: str | bytes) -> None:
        kind = "alarm" if channel == ALARMS_CHANNEL else "health"
        if kind == "alarm":
            opened = unseal(self._key, data) if self._key is not None else None
            if opened is None:
                metrics.BUS_REFUSED.inc()
                return
            data = opened
        try:
            message = json.loads(data)
        except ValueError:
            log.error("malformed message on %s ignored", channel)
            return
        if not isinstance(message, dict):
            return
        camera_id = camera_of(kind, message)
        if camera_id is None:
            return
        texts: dict[bool, str] = {}  # per audience (administrator or not), made once
        for client in list(self._clients):
            if not client.scope.allows(camera_id):
                continue
            admin = _is_admin(client.scope)
            out = texts.get(admin)
            if out is None:
                body = _health_for(message, admin) if kind == "health" else message
                out = texts[admin] = json.dumps({"type": kind, **body}, ensure_ascii=False)
            try:
                client.queue.put_nowait(out)
            except asyncio.QueueFull:
                client.overflowed.set()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._channels)
                self.subscribed.set()
                delay = 0.2
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        channel = msg["channel"]
                        if isinstance(channel, bytes):
                            channel = channel.decode()
                        self.dispatch(channel, msg["data"])
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("live hub lost Redis (%s); resubscribing in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


_hubs: weakref.WeakKeyDictionary[redis.asyncio.Redis, LiveHub] = weakref.WeakKeyDictionary()


def hub_for(r: redis.asyncio.Redis) -> LiveHub:
    hub = _hubs.get(r)
    if hub is None:
        hub = _hubs[r] = LiveHub(r)
    return hub


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
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(CLOSE_UNAUTHORIZED, str(exc.detail))
        return
    watch = watch_for(runtime.sessions, runtime.clock, runtime.auth.recheck_s)
    watched = watch.watch(principal)
    hub = hub_for(runtime.redis)
    client = hub.register(scope)

    def rescope(current: CameraScope) -> None:
        client.scope = current

    following = asyncio.create_task(follow_scope(runtime, principal, rescope))
    try:
        await hub.subscribed.wait()
        await websocket.send_text(json.dumps({"type": "hello", "scope": scope.description}))
        receiver = asyncio.create_task(_drain(websocket))
        overflow = asyncio.create_task(client.overflowed.wait())
        ended = asyncio.create_task(watched.ended.wait())
        try:
            while True:
                getter = asyncio.create_task(client.queue.get())
                done, _ = await asyncio.wait(
                    {getter, receiver, overflow, ended}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    if overflow in done:
                        await websocket.close(CLOSE_TRY_AGAIN, "too slow: reconnect")
                    elif ended in done:
                        await websocket.close(CLOSE_UNAUTHORIZED, "session ended: renew or log in")
                    return
                await websocket.send_text(getter.result())
        finally:
            receiver.cancel()
            overflow.cancel()
            ended.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        following.cancel()
        watch.unwatch(watched)
        await hub.unregister(client)


async def _drain(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends; returns when it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
