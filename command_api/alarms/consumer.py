"""Reads events from the Redis Stream with a consumer group; an entry is acknowledged
(XACK) only after the alarms it raised are committed to the store.

Crash safety: entries read but not acknowledged stay in the group's pending list. On start
the consumer first re-reads its own pending entries (same consumer name across restarts);
entries pending on another consumer for longer than `claim_idle_ms` (a crashed node) are
taken over with XAUTOCLAIM. A redelivered event is recognised by its `event_id` in the
store, so it never raises a second alarm. Redis going away is waited out with backoff; a
Redis that lost the group (restarted without persistence) gets it created again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.alarms.lifecycle import Change, ingest_events, load_rules
from command_api.alarms.rules import RuleSpec
from command_api.alarms.stream_trim import KEEP_MS, trim_consumed
from command_api.alarms.writes import write_scope
from command_api.registry_holder import RegistryHolder
from sharpeye.backoff import Backoff
from sharpeye.bus.fencing import fenced_out
from sharpeye.contracts.events import EVENTS_STREAM, Event
from sharpeye.store.models import AlarmRuleRow

log = logging.getLogger(__name__)

GROUP = "command-api"
# How often the consumer trims what every group has acknowledged (alarms.stream_trim).
TRIM_EVERY_S = 30.0
Entries = list[tuple[str, dict[str, str]]]


class EventConsumer:
    def __init__(
        self,
        r: redis.asyncio.Redis,
        sessions: sessionmaker[Session],
        registry: RegistryHolder,
        clock: Clock,
        on_changes: Callable[[list[Change]], Awaitable[None]],
        *,
        name: str,
        stream: str = EVENTS_STREAM,
        batch: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        on_stored: Callable[[int, int], None] | None = None,
        trim_every_s: float = TRIM_EVERY_S,
        keep_ms: int = KEEP_MS,
    ) -> None:
        self._r = r
        self._sessions = sessions
        self._registry = registry
        self._clock = clock
        self._on_changes = on_changes
        self.name = name
        self.stream = stream
        self._batch = batch
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        # on_stored(events, malformed) after each committed batch (metrics).
        self._on_stored = on_stored
        self._own_pending = True
        self._next_claim = 0.0
        self._trim_every_s = trim_every_s
        self._keep_ms = keep_ms
        self._next_trim = time.monotonic() + trim_every_s
        self._rules_cache: tuple[tuple[object, ...], list[RuleSpec]] | None = None

    async def ensure_group(self) -> None:
        try:
            # "0": events published before the API first started are alarms too.
            await self._r.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(base_s=0.1, max_s=5.0)
        group_ready = False
        while not stop.is_set():
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                await self.poll()
                backoff.reset()
            except (RedisConnectionError, RedisTimeoutError, OSError) as e:
                # A reply lost with the connection may have handed us entries (now in our
                # pending list) that we never saw: read our own pending list first again.
                self._own_pending = True
                delay = backoff.next_delay()
                log.warning("event stream unavailable (%s); retrying in %.1f s", e, delay)
                await _sleep_or_stop(stop, delay)
            except ResponseError as e:
                if "NOGROUP" in str(e):
                    log.warning("consumer group %s missing (Redis restarted?); recreating", GROUP)
                    group_ready = False
                    self._own_pending = True
                    continue
                log.exception("event stream error; retrying")
                await _sleep_or_stop(stop, backoff.next_delay())
            except Exception:
                # Store down, a bug: the entries stay pending and are read again.
                log.exception("event batch not stored; will retry")
                self._own_pending = True
                await _sleep_or_stop(stop, backoff.next_delay())

    async def poll(self) -> int:
        """One step: own pending entries, claimed ones, or new ones; returns entries handled."""
        if self._own_pending:
            entries = await self._read("0", block=False)
            if entries:
                return await self._handle(entries)
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self._claim_idle_ms / 2000
            claimed = await self._claim()
            if claimed:
                return await self._handle(claimed)
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self._trim_every_s
            removed = await trim_consumed(self._r, self.stream, self._keep_ms)
            if removed:
                log.debug("trimmed %d acknowledged events from %s", removed, self.stream)
        entries = await self._read(">", block=True)
        return await self._handle(entries) if entries else 0

    async def _read(self, start: str, *, block: bool) -> Entries:
        reply: Any = await self._r.xreadgroup(
            GROUP,
            self.name,
            {self.stream: start},
            count=self._batch,
            block=self._block_ms if block else None,
        )
        if not reply:
            return []
        # [[stream, [(id, fields), ...]]]; a deleted entry in the pending list has fields None.
        return [(i, f or {}) for i, f in reply[0][1]]

    async def _claim(self) -> Entries:
        reply: Any = await self._r.xautoclaim(
            self.stream, GROUP, self.name, self._claim_idle_ms, "0-0", count=self._batch
        )
        entries: Entries = [(i, f or {}) for i, f in reply[1]]
        if entries:
            log.warning("claimed %d pending events from a stopped consumer", len(entries))
        return entries

    async def _handle(self, entries: Entries) -> int:
        events: list[Event] = []
        malformed = 0
        for entry_id, fields in entries:
            try:
                events.append(Event.from_stream_fields(fields))
            except ValueError as e:
                # It will never parse: acknowledge it with the batch, but say so loudly.
                malformed += 1
                log.error("malformed event %s on %s dropped: %s", entry_id, self.stream, e)
        events = await self._fence(events)
        changes = await asyncio.to_thread(self._store, events)
        await self._on_changes(changes)
        await self._r.xack(self.stream, GROUP, *[i for i, _ in entries])
        if self._on_stored is not None:
            self._on_stored(len(events), malformed)
        return len(entries)

    async def _fence(self, events: list[Event]) -> list[Event]:
        """Drop events from a worker whose lease on the camera had passed on by the time of
        the event (it stalled or was cut off while another worker took the camera over): the
        new owner reports that camera-time, so the event would be a duplicate or a stale
        view. Acknowledged with the batch, never stored."""
        stamped = [(e.camera_id, e.fence, e.occurred_at) for e in events if e.fence is not None]
        late = await fenced_out(self._r, stamped)
        if not late:
            return events
        for camera_id, fence in sorted({(c, f) for c, f, _ in late}):
            log.warning(
                "refused %d events for camera %s from a worker whose lease (token %d) had "
                "passed to another worker",
                sum(1 for c, f, _ in late if (c, f) == (camera_id, fence)),
                camera_id,
                fence,
            )
        return [e for e in events if (e.camera_id, e.fence, e.occurred_at) not in late]

    def _store(self, events: list[Event]) -> list[Change]:
        if not events:
            return []
        with write_scope(self._sessions) as s:
            return ingest_events(
                s, events, self._registry.registry, self._rules(s), self._clock.now()
            )

    def _rules(self, session: Session) -> list[RuleSpec]:
        # Rules change rarely; re-validating them for every small batch cost more than the
        # batch itself. One cheap query tells whether any rule was added, edited or removed.
        version = tuple(
            session.execute(
                select(func.count(), func.max(AlarmRuleRow.updated_at)).select_from(AlarmRuleRow)
            ).one()
        )
        if self._rules_cache is None or self._rules_cache[0] != version:
            self._rules_cache = (version, load_rules(session))
        return self._rules_cache[1]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
