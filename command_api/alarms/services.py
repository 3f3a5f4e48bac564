"""The alarm services one API process runs, started and stopped by the app's lifespan:
the event consumer, the escalation clock and the delivery worker. Walls hear of alarms
through `publish` (sealed, on `ALARMS_CHANNEL`) and the process's live hub
(`command_api.live`), which the lifespan runs whether or not these do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.evidence import prune_evidence
from analytics.store import prune_sightings
from command_api.alarms import metrics
from command_api.alarms.clock import Clock
from command_api.alarms.consumer import TRIM_EVERY_S, EventConsumer
from command_api.alarms.lifecycle import Change, escalate_due, prune_seen_events
from command_api.alarms.stream_trim import KEEP_MS
from command_api.alarms.writes import write_scope
from command_api.delivery.leader import DeliveryLeader
from command_api.delivery.senders import Senders
from command_api.delivery.worker import DeliveryWorker, RetryPolicy
from command_api.registry_holder import RegistryHolder
from sharpeye.bus.sealed import seal
from sharpeye.contracts.alarms import ALARMS_CHANNEL, AlarmMessage
from sharpeye.store.models import EvidenceLockRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    consumer_name: str = "node-1"
    escalation_interval_s: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delivery_poll_s: float = 1.0
    claim_idle_ms: int = 30_000
    block_ms: int = 1000
    # Acknowledged events are trimmed from the stream this often, past this history.
    events_trim_every_s: float = TRIM_EVERY_S
    events_keep_ms: int = KEEP_MS
    # Sightings older than this are deleted, a batch at a time, every `retention_every_s`.
    sightings_keep_s: float = 90 * 86400.0
    retention_every_s: float = 60.0
    # This node's evidence store (snapshots), pruned by whole days with the sightings.
    evidence_root: Path | None = None


class AlarmServices:
    def __init__(
        self,
        r: redis.asyncio.Redis,
        sessions: sessionmaker[Session],
        registry: RegistryHolder,
        clock: Clock,
        bus_key: bytes,
        options: ServiceOptions | None = None,
    ) -> None:
        self.options = options or ServiceOptions()
        self._r = r
        self._bus_key = bus_key
        self._sessions = sessions
        self._clock = clock
        self.senders = Senders()
        self.delivery = DeliveryWorker(
            sessions,
            clock,
            self.senders,
            self.options.retry,
            poll_s=self.options.delivery_poll_s,
            on_result=metrics.delivery_result,
            leader=DeliveryLeader(sessions.kw["bind"]) if sessions.kw.get("bind") else None,
        )
        self.consumer = EventConsumer(
            r,
            sessions,
            registry,
            clock,
            self.publish,
            name=self.options.consumer_name,
            claim_idle_ms=self.options.claim_idle_ms,
            block_ms=self.options.block_ms,
            on_stored=metrics.events_stored,
            trim_every_s=self.options.events_trim_every_s,
            keep_ms=self.options.events_keep_ms,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Set when the retention loop's first pass (at start) has ended: whoever writes old
        # data on purpose (tests, a restore) waits for it rather than race that pass.
        self.retention_started = asyncio.Event()

    async def publish(self, changes: list[Change]) -> None:
        """After commit: tell walls (pub/sub) and the delivery worker."""
        if not changes:
            return
        self.delivery.wake()
        pipe = self._r.pipeline(transaction=False)
        for change in changes:
            metrics.alarm_change(change.alarm.rule_id, change.change)
            message = AlarmMessage(change=change.change, alarm=change.alarm)
            # Sealed: hubs route by the departments inside, so they take only what an API wrote.
            pipe.publish(ALARMS_CHANNEL, seal(self._bus_key, message.model_dump_json()))
        try:
            await pipe.execute()
        except (redis.RedisError, OSError) as e:
            # Stored and queued for delivery already; walls reload on reconnect.
            log.warning("live push of %d alarm changes failed: %s", len(changes), e)

    async def escalate_once(self) -> list[Change]:
        def work() -> list[Change]:
            with write_scope(self._sessions) as s:
                changes = escalate_due(s, self._clock.now())
                prune_seen_events(s, self._clock.now())
                return changes

        changes = await asyncio.to_thread(work)
        await self.publish(changes)
        return changes

    async def prune_once(self) -> int:
        """Delete the sightings past their retention (bounded batches); returns how many."""
        engine = self._sessions.kw["bind"]
        before = self._clock.now() - self.options.sightings_keep_s

        def work() -> int:
            total = 0
            while (n := prune_sightings(engine, before)) > 0:
                total += n
                if n < 5000:
                    break
            if self.options.evidence_root is not None:  # the snapshots they point at
                with self._sessions() as s:  # kept for a case: not pruned
                    locked = set(s.execute(select(EvidenceLockRow.ref)).scalars())
                files = prune_evidence(self.options.evidence_root, before, locked)
                if files:
                    log.info(
                        "retention: %d evidence files from before %s deleted",
                        files,
                        time.strftime("%Y-%m-%d", time.gmtime(before)),
                    )
            return total

        removed = await asyncio.to_thread(work)
        if removed:
            log.info(
                "retention: %d sightings older than %.0f days deleted",
                removed,
                self.options.sightings_keep_s / 86400,
            )
        return removed

    async def _retention_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.prune_once()
            except Exception:
                log.exception("sightings retention pass failed; retrying")
            self.retention_started.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.options.retention_every_s)

    async def _escalation_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.escalate_once()
            except Exception:
                log.exception("escalation pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.options.escalation_interval_s)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.consumer.run(self._stop), name="event-consumer"),
            asyncio.create_task(self._escalation_loop(), name="escalation"),
            asyncio.create_task(self.delivery.run(self._stop), name="delivery"),
            asyncio.create_task(self._retention_loop(), name="sightings-retention"),
        ]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.senders.aclose()
        if self.delivery.leader is not None:
            self.delivery.leader.release()
