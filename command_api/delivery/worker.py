"""The delivery worker: sends outbox items, in order per destination, until each lands.

Per destination only the oldest pending item is tried; a later one waits until it is
delivered, so a duty phone never sees "resolved" before "fire". Failures back off
exponentially (capped); after `max_attempts` the item is marked failed — shown by
GET /api/deliveries and retryable — and the destination moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.alarms.writes import write_scope
from command_api.delivery.leader import DeliveryLeader
from command_api.delivery.senders import DeliveryError, Senders, Target
from sharpeye.backoff import Backoff
from sharpeye.store.models import DestinationRow, OutboxItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed delivery is retried: the platform's backoff curve (jittered, so a receiver
    back from an outage is not hit by its whole backlog at once), up to `max_attempts`."""

    base_s: float = 1.0
    cap_s: float = 60.0
    max_attempts: int = 50

    def delay(self, attempts: int) -> float:
        return Backoff(base_s=self.base_s, max_s=self.cap_s).delay_after(attempts)


@dataclass(frozen=True)
class _Item:
    id: int
    key: str
    payload: dict[str, Any]
    attempts: int
    created_at: float


class DeliveryWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        senders: Senders,
        retry: RetryPolicy | None = None,
        poll_s: float = 1.0,
        batch: int = 100,
        on_result: Any = None,
        leader: DeliveryLeader | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._senders = senders
        self._retry = retry or RetryPolicy()
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()
        # Called as on_result(kind, ok, seconds since the item was created) for metrics.
        self._on_result = on_result
        self._leader = leader

    @property
    def leader(self) -> DeliveryLeader | None:
        return self._leader

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                # The store may be briefly unavailable; the outbox keeps everything.
                log.exception("delivery pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def run_once(self) -> int:
        """One pass over every destination with due items; returns how many were delivered."""
        if self._leader is not None and not await asyncio.to_thread(self._leader.is_leader):
            return 0
        work = await asyncio.to_thread(self._due_work)
        results = await asyncio.gather(*(self._drain(t, items) for t, items in work))
        return sum(results)

    def _due_work(self) -> list[tuple[Target, list[_Item]]]:
        now = self._clock.now()
        pending = OutboxItem.state == "pending"
        with self._sessions() as s:
            heads = s.execute(
                select(OutboxItem.destination_id, func.min(OutboxItem.id))
                .where(pending)
                .group_by(OutboxItem.destination_id)
            ).all()
            if not heads:
                return []
            # A destination is due when its oldest pending item is: order is per destination.
            due_heads = set(
                s.execute(
                    select(OutboxItem.destination_id).where(
                        OutboxItem.id.in_([first for _, first in heads]),
                        OutboxItem.next_attempt_at <= now,
                    )
                ).scalars()
            )
            if not due_heads:
                return []
            targets = {
                d.id: Target(d.id, d.kind, d.url, d.secret)
                for d in s.execute(
                    select(DestinationRow).where(DestinationRow.id.in_(due_heads))
                ).scalars()
            }
            work = []
            for dest_id in sorted(targets):
                rows = s.execute(
                    select(
                        OutboxItem.id,
                        OutboxItem.idempotency_key,
                        OutboxItem.payload,
                        OutboxItem.attempts,
                        OutboxItem.created_at,
                    )
                    .where(OutboxItem.destination_id == dest_id, pending)
                    .order_by(OutboxItem.id)
                    .limit(self._batch)
                ).all()
                work.append((targets[dest_id], [_Item(*row) for row in rows]))
            return work

    async def _drain(self, target: Target, items: list[_Item]) -> int:
        """Send in order until one fails; record the outcomes in one transaction.

        A crash between a send and its record means that item is sent again after restart
        (at least once): receivers drop repeats by the idempotency key.
        """
        delivered: list[_Item] = []
        failed: tuple[_Item, str] | None = None
        for item in items:
            try:
                await self._senders.send(target, item.payload, item.key)
            except DeliveryError as e:
                failed = (item, str(e))
            except Exception as e:  # a sender bug must not stop other destinations
                log.exception("sender for %s crashed", target.id)
                failed = (item, f"internal error: {type(e).__name__}")
            if failed is not None:
                self._report(target.kind, False, item)
                break
            delivered.append(item)
            self._report(target.kind, True, item)
        await asyncio.to_thread(self._record, delivered, failed)
        return len(delivered)

    def _report(self, kind: str, ok: bool, item: _Item) -> None:
        if self._on_result is not None:
            self._on_result(kind, ok, self._clock.now() - item.created_at)

    def _record(self, delivered: list[_Item], failed: tuple[_Item, str] | None) -> None:
        now = self._clock.now()
        with write_scope(self._sessions) as s:
            if delivered:
                s.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_([item.id for item in delivered]))
                    .values(
                        state="delivered",
                        delivered_at=now,
                        last_error=None,
                        attempts=OutboxItem.attempts + 1,
                    )
                )
            if failed is None:
                return
            item, error = failed
            row = s.get(OutboxItem, item.id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error
            if row.attempts >= self._retry.max_attempts:
                row.state = "failed"
                log.error(
                    "delivery %s gave up after %d attempts: %s",
                    row.idempotency_key,
                    row.attempts,
                    error,
                )
            else:
                row.next_attempt_at = now + self._retry.delay(row.attempts)
                log.warning(
                    "delivery %s attempt %d failed: %s", row.idempotency_key, row.attempts, error
                )
