"""The API process's one live hub: alarms and camera health, fanned out to its WebSockets.

One Redis subscription per API process, to both channels (not one per client, nor one per
socket kind): each message is parsed once and its text handed to the bounded queue of every
client that may see it. A client that falls `QUEUE_SIZE` messages behind is flagged
(`overflowed`) and its socket closed with 1013 rather than buffered without bound; it
reconnects and reloads. The sockets themselves (`command_api.live.stream`) are served the
same way whichever endpoint opened them.

Its own package, not `alarms/`: health is not an alarm service, and the hub outlives the
alarm services' on/off switch (`create_app(start_services=False)` still serves both
sockets). It sits below the web layer (routers hand it clients, the lifespan runs it).

Two kinds of message, one client type:
- alarms (`ALARMS_CHANNEL`): routed by the departments inside the message, so only messages
  sealed by an API (`sharpeye.bus.sealed`) are taken; anything else is dropped and counted
  (`sharpeye_bus_messages_refused_total`). A client sees an alarm routed to its department
  (`department` None: every department, administrators only); on a camera outside its
  scope the alarm comes without the camera's details (`withhold_camera`).
- health (`HEALTH_CHANNEL`, ingest's state changes): only for cameras in the client's scope,
  errors as their category for non-administrators (`sharpeye.health_text.for_reader`).

A client takes the kinds it asked for, either bare (an `AlarmMessage`, for
`/api/alarms/live`) or tagged with its kind (`{"type": "health" | "alarm", ...}`, for
`/api/live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio

from command_api.alarms import metrics
from command_api.alarms.withhold import withhold_camera
from command_api.auth.camera_scope import CameraScope
from sharpeye.backoff import Backoff
from sharpeye.bus.health import HEALTH_CHANNEL
from sharpeye.bus.sealed import unseal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, AlarmMessage, alarm_visible_to
from sharpeye.health_text import for_reader

log = logging.getLogger(__name__)

Kind = Literal["alarm", "health"]
KINDS: frozenset[Kind] = frozenset({"alarm", "health"})
QUEUE_SIZE = 256
# A flood of forged messages must not flood the log too: one warning per interval.
REFUSED_LOG_EVERY_S = 60.0


def camera_of(kind: Kind, message: dict[str, Any]) -> str | None:
    """The camera a message is about (alarms nest it in `alarm`)."""
    if kind == "alarm":
        alarm = message.get("alarm")
        if isinstance(alarm, dict) and isinstance(alarm.get("camera_id"), str):
            return str(alarm["camera_id"])
    value = message.get("camera_id")
    return value if isinstance(value, str) else None


def _health_for(message: dict[str, Any], administrator: bool) -> dict[str, Any]:
    """A health report as its reader may see it: errors as their category for operators
    and viewers (the detail names the camera's address and login, which only administrators
    need), scrubbed of any secret for administrators."""
    out = dict(message)
    for key in ("reason", "last_error"):
        value = out.get(key)
        if isinstance(value, str):
            out[key] = for_reader(value, administrator=administrator)
    return out


@dataclass(eq=False)
class LiveClient:
    """One socket's place in the hub."""

    # The cameras it sees; its socket replaces it at every recheck (auth.scope.follow_scope),
    # so a grant removed reaches sockets already open.
    scope: CameraScope
    # Whose alarms it follows; None: every department's (an administrator's whole stream).
    department: str | None
    # Health errors in detail (administrators) or as their category (everyone else).
    administrator: bool
    kinds: frozenset[Kind]
    # `{"type": kind, ...}` (/api/live) or the bare AlarmMessage (/api/alarms/live).
    tagged: bool
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def sees_alarm(self, message: AlarmMessage) -> bool:
        if self.department is None:
            return True
        return alarm_visible_to(message.alarm, self.department)


class LiveHub:
    """The process's subscription to the alarm and health channels; `run` it for the
    process's lifetime (the lifespan does)."""

    def __init__(
        self,
        r: redis.asyncio.Redis,
        bus_key: bytes,
        *,
        alarms_channel: str = ALARMS_CHANNEL,
        health_channel: str = HEALTH_CHANNEL,
        backoff: Backoff | None = None,
    ) -> None:
        self._r = r
        # Alarms route by the departments inside them: only those sealed with it are taken.
        self._key = bus_key
        self._alarms_channel = alarms_channel
        self._health_channel = health_channel
        # The project's reconnect delays (jittered): API replicas that lost Redis together
        # do not resubscribe in step.
        self._backoff = backoff or Backoff(base_s=0.1, max_s=5.0)
        self._clients: set[LiveClient] = set()
        self.refused = 0
        self._refused_logged_at = -REFUSED_LOG_EVERY_S
        self.subscribed = asyncio.Event()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def register(
        self,
        scope: CameraScope,
        *,
        department: str | None,
        administrator: bool,
        kinds: Iterable[Kind] = KINDS,
        tagged: bool = True,
    ) -> LiveClient:
        """A new client's queue; from now on it gets what it may see of `kinds`."""
        wanted = frozenset(kinds)
        if not tagged and wanted != {"alarm"}:
            raise ValueError("only an alarm stream can go untagged (its messages say nothing else)")
        if department is None and not administrator:
            raise ValueError("every department's alarms are for administrators only")
        client = LiveClient(scope, department, administrator, wanted, tagged)
        self._clients.add(client)
        metrics.LIVE_CLIENTS.inc()
        return client

    def unregister(self, client: LiveClient) -> None:
        if client in self._clients:
            self._clients.discard(client)
            metrics.LIVE_CLIENTS.dec()

    def dispatch(self, channel: str, data: str | bytes) -> int:
        """One message as it came off `channel`; returns to how many clients it went."""
        if channel == self._alarms_channel:
            return self._alarm(data)
        return self._health(channel, data)

    def _refuse(self) -> None:
        self.refused += 1
        metrics.BUS_REFUSED.inc()
        now = time.monotonic()
        if now - self._refused_logged_at >= REFUSED_LOG_EVERY_S:
            self._refused_logged_at = now
            log.warning(
                "dropped %d alarm message(s) on %s without a valid seal: a process other "
                "than an API wrote them, or API replicas differ in SHARPEYE_TOKEN_SECRET",
                self.refused,
                self._alarms_channel,
            )

    def _alarm(self, data: str | bytes) -> int:
        text = unseal(self._key, data)
        if text is None:
            self._refuse()
            return 0
        try:
            message = AlarmMessage.model_validate_json(text)
        except ValueError:
            log.error("malformed message on %s ignored", self._alarms_channel)
            return 0
        camera_id = message.alarm.camera_id
        # By whether the camera's details are withheld; each variant and text made once.
        bodies: dict[bool, AlarmMessage] = {False: message}
        texts: dict[tuple[bool, bool], str] = {(False, False): text}  # (withheld, tagged)
        sent = 0
        for client in list(self._clients):
            if "alarm" not in client.kinds or not client.sees_alarm(message):
                continue
            hide = not client.scope.allows(camera_id)
            out = texts.get((hide, client.tagged))
            if out is None:
                body = bodies.get(hide)
                if body is None:
                    alarm = withhold_camera(message.alarm)
                    body = bodies[hide] = message.model_copy(update={"alarm": alarm})
                if client.tagged:
                    out = _tagged("alarm", body.model_dump(mode="json"))
                else:
                    out = body.model_dump_json()
                texts[(hide, client.tagged)] = out
            sent += _offer(client, out)
        return sent

    def _health(self, channel: str, data: str | bytes) -> int:
        try:
            message = json.loads(data)
        except ValueError:
            log.error("malformed message on %s ignored", channel)
            return 0
        if not isinstance(message, dict):
            return 0
        camera_id = camera_of("health", message)
        if camera_id is None:
            return 0
        texts: dict[bool, str] = {}  # per audience (administrator or not), made once
        sent = 0
        for client in list(self._clients):
            if "health" not in client.kinds or not client.scope.allows(camera_id):
                continue
            out = texts.get(client.administrator)
            if out is None:
                body = _health_for(message, client.administrator)
                out = texts[client.administrator] = _tagged("health", body)
            sent += _offer(client, out)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and dispatch until `stop`; resubscribe after Redis is lost."""
        channels = (self._alarms_channel, self._health_channel)
        while not stop.is_set():
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                self.subscribed.set()
                self._backoff.reset()
                while not stop.is_set():
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        channel = msg["channel"]
                        if isinstance(channel, bytes):
                            channel = channel.decode()
                        self.dispatch(channel, msg["data"])
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                delay = self._backoff.next_delay()
                log.warning("live hub lost Redis (%s); resubscribing in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
        self.subscribed.clear()


def _tagged(kind: Kind, body: dict[str, Any]) -> str:
    return json.dumps({"type": kind, **body}, ensure_ascii=False)


def _offer(client: LiveClient, text: str) -> int:
    """Queue `text` for `client`, or flag it too slow (its socket closes with 1013)."""
    try:
        client.queue.put_nowait(text)
    except asyncio.QueueFull:
        client.overflowed.set()
        return 0
    return 1
