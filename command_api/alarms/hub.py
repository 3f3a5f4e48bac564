"""Live fan-out of alarm messages to WebSocket clients, filtered by permission.

One Redis subscription per API process (not one per client): each message on
`ALARMS_CHANNEL` is parsed once and its JSON text handed to the bounded queue of every
client allowed to see it. A client that falls `QUEUE_SIZE` messages behind is dropped
(its socket closed with 1013) rather than buffered without bound; it reconnects and
reloads GET /api/alarms.

An alarm is routed to departments, not to cameras: a department may be told of an alarm on
a camera it may not watch (a fire rule routed to the fire brigade from the police's
cameras). It keeps the alarm but not what the camera would show it: `withhold_camera`
blanks the location, the evidence and the camera's name for such readers, here and in
GET /api/alarms alike.

Which departments an alarm is for is read from the message itself, so only messages sealed
by an API (`sharpeye.bus.sealed`) are dispatched; anything else on the channel is dropped
and counted (`sharpeye_bus_messages_refused_total`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from command_api.alarms import metrics
from sharpeye.bus.sealed import unseal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, Alarm, AlarmMessage, alarm_visible_to

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
# A flood of forged messages must not flood the log too: one warning per interval.
REFUSED_LOG_EVERY_S = 60.0


def withhold_camera(alarm: Alarm) -> Alarm:
    """`alarm` without what would show its camera: location, evidence (snapshots, clips)
    and the camera's name (also cut from the title, which ends with it); its id stays, so
    the alarm can still be discussed with the department that owns the camera."""
    title = alarm.title.removesuffix(f" — {alarm.camera_name}")
    return alarm.model_copy(
        update={
            "camera_name": alarm.camera_id,
            "title": title,
            "evidence": [],
            "lat": None,
            "lon": None,
        }
    )


@dataclass(eq=False)
class LiveClient:
    department: str
    administrator: bool
    # The client's camera scope (None: every camera); alarms on other cameras go out
    # through `withhold_camera`.
    sees_camera: Callable[[str], bool] | None = None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class AlarmHub:
    def __init__(
        self, r: redis.asyncio.Redis, bus_key: bytes, channel: str = ALARMS_CHANNEL
    ) -> None:
        self._r = r
        self._key = bus_key
        self._channel = channel
        self.refused = 0
        self._refused_logged_at = -REFUSED_LOG_EVERY_S
        self._clients: set[LiveClient] = set()
        self.subscribed = asyncio.Event()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def register(
        self,
        department: str,
        administrator: bool,
        sees_camera: Callable[[str], bool] | None = None,
    ) -> LiveClient:
        client = LiveClient(department, administrator, sees_camera)
        self._clients.add(client)
        return client

    def unregister(self, client: LiveClient) -> None:
        self._clients.discard(client)

    def dispatch_sealed(self, data: str | bytes) -> int:
        """`dispatch` for a message as it came off the bus: only if an API sealed it."""
        text = unseal(self._key, data)
        if text is None:
            self.refused += 1
            metrics.BUS_REFUSED.inc()
            now = time.monotonic()
            if now - self._refused_logged_at >= REFUSED_LOG_EVERY_S:
                self._refused_logged_at = now
                log.warning(
                    "dropped %d alarm message(s) on %s without a valid seal: a process other "
                    "than an API wrote them, or API replicas differ in SHARPEYE_TOKEN_SECRET",
                    self.refused,
                    self._channel,
                )
            return 0
        return self.dispatch(text)

    def dispatch(self, text: str) -> int:
        """Hand one message to every client allowed to see it; returns how many."""
        try:
            message = AlarmMessage.model_validate_json(text)
        except ValueError:
            log.error("malformed message on %s ignored", self._channel)
            return 0
        sent = 0
        withheld: str | None = None  # the message without its camera's details, made once
        for client in list(self._clients):
            if not alarm_visible_to(
                message.alarm, client.department, administrator=client.administrator
            ):
                continue
            out = text
            sees = client.sees_camera
            if sees is not None and not sees(message.alarm.camera_id):
                if withheld is None:
                    alarm = withhold_camera(message.alarm)
                    withheld = message.model_copy(update={"alarm": alarm}).model_dump_json()
                out = withheld
            try:
                client.queue.put_nowait(out)
                sent += 1
            except asyncio.QueueFull:
                client.overflowed.set()
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.1
        while not stop.is_set():
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                delay = 0.1
                while not stop.is_set():
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        self.dispatch_sealed(msg["data"])
            except (RedisConnectionError, RedisTimeoutError, OSError) as e:
                self.subscribed.clear()
                log.warning("live alarm channel unavailable (%s); retrying in %.1f s", e, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
