"""Outputs of the pipeline onto the bus and into the store.

Events go to `sharpeye:events` (the command API's consumer group turns them into alarms);
sightings to `sharpeye:sightings` and the `sightings` table. Publishing is at least once:
a Redis error is retried by the caller's next batch, and repeats are harmless (event ids
and sighting ids are stable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import redis
from sqlalchemy import Engine

from analytics.cloned_plate import cloned_plate_events
from analytics.results import FrameResult
from analytics.store import store_sightings
from sharpeye.bus.fencing import Write, fenced_out_sync
from sharpeye.contracts.events import EVENTS_STREAM, EVENTS_STREAM_MAXLEN, Event
from sharpeye.contracts.sightings import (
    SIGHTINGS_STREAM,
    SIGHTINGS_STREAM_RETENTION_S,
    Sighting,
)
from sharpeye.registry import Camera

log = logging.getLogger(__name__)


class Publisher:
    """`engine`, if given, must be migrated to head (`upgrade_database`): it holds sightings."""

    def __init__(
        self,
        client: redis.Redis,
        engine: Engine | None = None,
        fence_of: Callable[[str], int | None] | None = None,
        cameras: Callable[[], Mapping[str, Camera]] | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        # The whole registry's cameras (their locations), for the cloned-plate check: the
        # plate's other sighting may be on a camera another worker reads.
        self.cameras = cameras
        # The lease token a camera's events are stamped with (ingest's leases), looked up at
        # send time: events held through an outage carry the token of the lease they are
        # sent under, and the API refuses them if that lease had passed on by their time.
        self.fence_of = fence_of
        self.events = 0
        self.sightings = 0

    def publish(self, results: Sequence[FrameResult], extra: Sequence[Sighting] = ()) -> None:
        events: list[Event] = [self._fenced(e) for r in results for e in r.events]
        sightings: list[Sighting] = [s for r in results for s in r.sightings] + list(extra)
        if not events and not sightings:
            return
        if self.fence_of is not None:
            events, sightings = self._drop_late(events, sightings)
        pipe = self.client.pipeline(transaction=False)
        # Stream ids are milliseconds of Redis's clock; ours is close enough for a 15-min cut.
        oldest = f"{int((time.time() - SIGHTINGS_STREAM_RETENTION_S) * 1000)}-0"
        for e in events:
            pipe.xadd(
                EVENTS_STREAM,
                cast(Any, e.to_stream_fields()),
                maxlen=EVENTS_STREAM_MAXLEN,
                approximate=True,
            )
        for s in sightings:
            pipe.xadd(
                SIGHTINGS_STREAM,
                cast(Any, s.to_stream_fields()),
                minid=oldest,
                approximate=True,
            )
        pipe.execute()
        if self.engine is not None:
            store_sightings(self.engine, sightings)
            if self.cameras is not None:
                events += self._publish_clones(sightings, self.cameras())
        self.events += len(events)
        self.sightings += len(sightings)

    def _publish_clones(
        self, sightings: list[Sighting], cameras: Mapping[str, Camera]
    ) -> list[Event]:
        """Raise the cloned-plate events these stored sightings give (analytics.cloned_plate)."""
        assert self.engine is not None
        clones = [self._fenced(e) for e in cloned_plate_events(self.engine, sightings, cameras)]
        if clones:
            pipe = self.client.pipeline(transaction=False)
            for e in clones:
                fields = cast(Any, e.to_stream_fields())
                pipe.xadd(EVENTS_STREAM, fields, maxlen=EVENTS_STREAM_MAXLEN, approximate=True)
            pipe.execute()
        return clones

    def _drop_late(
        self, events: list[Event], sightings: list[Sighting]
    ) -> tuple[list[Event], list[Sighting]]:
        """Leave out what this worker saw after its lease on the camera passed to another
        worker (it stalled or was cut off meanwhile): the new owner reports that time. The
        store has no fence of its own, so sightings are checked here, against Redis's record
        of the handover; events are checked again where they land (the alarm consumer)."""
        assert self.fence_of is not None
        # Keyed by identity: events hold lists and dicts, so they are not hashable.
        writes: dict[int, Write] = {}
        for e in events:
            if e.fence is not None:
                writes[id(e)] = (e.camera_id, e.fence, e.occurred_at)
        for s in sightings:
            if (token := self.fence_of(s.camera_id)) is not None:
                writes[id(s)] = (s.camera_id, token, s.last_seen)  # any look after: not ours
        late = fenced_out_sync(self.client, writes.values())
        if not late:
            return events, sightings
        kept_events = [e for e in events if writes.get(id(e)) not in late]
        kept_sightings = [s for s in sightings if writes.get(id(s)) not in late]
        log.warning(
            "not publishing %d events and %d sightings of cameras %s: this worker's lease on "
            "them passed to another worker",
            len(events) - len(kept_events),
            len(sightings) - len(kept_sightings),
            ", ".join(sorted({w[0] for w in late})),
        )
        return kept_events, kept_sightings

    def _fenced(self, event: Event) -> Event:
        token = self.fence_of(event.camera_id) if self.fence_of is not None else None
        return event if token is None else event.model_copy(update={"fence": token})
