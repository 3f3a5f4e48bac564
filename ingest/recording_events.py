"""A camera's recording stopping (disk full, read-only, gone) and coming back, as events on
the bus: the command API raises a platform alarm for the department that owns the camera
(`command_api.alarms.system_rules`) and resolves it when recording is back.

One event per failure episode, not per retry: the recorder tries a failing disk again every
few seconds, and the duty desk must hear "recording stopped" once. The recorder's writer
thread reports an episode's start and end here (`stopped` / `resumed`); the worker's loop
sends what is waiting with its other Redis calls (`publish`). Through a Redis outage the
events wait, bounded: an outage that outlasts `max_held` episodes loses the oldest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import redis.asyncio

from sharpeye.contracts.events import EVENTS_STREAM, EVENTS_STREAM_MAXLEN, Event, EventType

log = logging.getLogger("sharpeye.ingest.recorder")

_REASON_CHARS = 200  # Event.label's bound


class RecordingEvents:
    """Episodes reported by the recorder's thread, sent by the worker's loop."""

    def __init__(self, node_id: str, max_held: int = 1000) -> None:
        self.node_id = node_id
        self._held: deque[Event] = deque(maxlen=max_held)
        self._since: dict[str, tuple[float, str]] = {}  # camera -> (stopped at, why)
        self._lock = threading.Lock()

    def report(self, camera_id: str, why: str | None) -> None:
        """The recorder's `on_episode`: stopped (why) or resumed (None)."""
        if why is None:
            self.resumed(camera_id)
        else:
            self.stopped(camera_id, why)

    def stopped(self, camera_id: str, why: str) -> None:
        """The camera's recording stopped (the first failure of an episode)."""
        now = time.time()
        reason = why[:_REASON_CHARS]
        event = Event(
            event_type=EventType.RECORDING_FAILED,
            camera_id=camera_id,
            occurred_at=now,
            severity="high",
            label=reason,
            node_id=self.node_id,
            attributes={"reason": reason},
        )
        with self._lock:
            self._since[camera_id] = (now, reason)
            self._held.append(event)

    def resumed(self, camera_id: str) -> None:
        """The camera is recorded again (the episode's end)."""
        now = time.time()
        with self._lock:
            since, reason = self._since.pop(camera_id, (now, ""))
            self._held.append(
                Event(
                    event_type=EventType.RECORDING_RESUMED,
                    camera_id=camera_id,
                    occurred_at=now,
                    severity="info",
                    node_id=self.node_id,
                    attributes={"stopped_s": round(now - since, 1), "reason": reason},
                )
            )

    @property
    def waiting(self) -> int:
        return len(self._held)

    async def publish(
        self, r: redis.asyncio.Redis, fence_of: Callable[[str], int | None] | None = None
    ) -> int:
        """Send what waits, oldest first; what could not be sent waits for the next call
        (Redis errors propagate to the caller, which logs the outage). Returns events sent."""
        with self._lock:
            batch = list(self._held)
            self._held.clear()
        if not batch:
            return 0
        # Stamped with our lease on the camera as sent: the API refuses events from a
        # worker whose lease had passed on (sharpeye.bus.fencing), as for analytics events.
        stamped = [
            e.model_copy(update={"fence": fence_of(e.camera_id)}) if fence_of else e for e in batch
        ]
        try:
            pipe = r.pipeline(transaction=False)
            for event in stamped:
                pipe.xadd(
                    EVENTS_STREAM,
                    event.to_stream_fields(),  # type: ignore[arg-type]
                    maxlen=EVENTS_STREAM_MAXLEN,
                    approximate=True,
                )
            await pipe.execute()
        except BaseException:
            # Sent again later (event ids are stable: a partial send is stored once).
            with self._lock:
                self._held.extendleft(reversed(batch))
            raise
        for event in batch:
            log.info(
                "camera %s: %s event sent to the command API", event.camera_id, event.event_type
            )
        return len(batch)
