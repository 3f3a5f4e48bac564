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

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.delivery.senders import DeliveryError, Senders, Target
from sharpeye.store.db import session_scope
from sharpeye.store.models import DestinationRow, OutboxItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    cap_s: float = 60.0
    max_attempts: int = 50

    def delay(self, attempts: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1)))


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
        backoff: Backoff | None = None,
        poll_s: float = 1.0,
        batch: int = 100,
        on_result: Any = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._senders = senders
        self._backoff = backoff or Backoff()
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()
        # Called as on_result(kind, ok, seconds since the item was created) for metrics.
        self._on_result = on_result

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
        work = await asyncio.to_thread(self._due_work)
        results = await asyncio.gather(*(self._drain(t, items) for t, items in work))
        return sum(results)

    def _due_work(self) -> list[tuple[Target, list[_Item]]]:
        now = self._clock.now()
        with self._sessions() as s:
            heads = s.execute(
                select(OutboxItem.destination_id, func.min(OutboxItem.id))
                .where(OutboxItem.state == "pending")
                .group_by(OutboxItem.destination_id)
            ).all()
            work = []
            for dest_id, first_id in heads:
                first = s.get(OutboxItem, first_id)
                if first is None or first.next_attempt_at > now:
                    continue
                dest = s.get(DestinationRow, dest_id)
                if dest is None:
                    continue
                rows = s.execute(
                    select(OutboxItem)
                    .where(OutboxItem.destination_id == dest_id, OutboxItem.state == "pending")
                    .order_by(OutboxItem.id)
                    .limit(self._batch)
                ).scalars()
                items = [
                    _Item(r.id, r.idempotency_key, r.payload, r.attempts, r.created_at)
                    for r in rows
                ]
                work.append((Target(dest.id, dest.kind, dest.url, dest.secret), items))
            return work

    async def _drain(self, target: Target, items: list[_Item]) -> int:
        delivered = 0
        for item in items:
            try:
                await self._senders.send(target, item.payload, item.key)
            except DeliveryError as e:
                await asyncio.to_thread(self._failed, item, str(e))
                self._report(target.kind, False, item)
                return delivered
            except Exception as e:  # a sender bug must not stop other destinations
                log.exception("sender for %s crashed", target.id)
                await asyncio.to_thread(self._failed, item, f"internal error: {type(e).__name__}")
                return delivered
            await asyncio.to_thread(self._delivered, item)
            self._report(target.kind, True, item)
            delivered += 1
        return delivered

    def _report(self, kind: str, ok: bool, item: _Item) -> None:
        if self._on_result is not None:
            self._on_result(kind, ok, self._clock.now() - item.created_at)

    def _delivered(self, item: _Item) -> None:
        with session_scope(self._sessions) as s:
            row = s.get(OutboxItem, item.id)
            if row is not None:
                row.state = "delivered"
                row.attempts += 1
                row.delivered_at = self._clock.now()
                row.last_error = None

    def _failed(self, item: _Item, error: str) -> None:
        with session_scope(self._sessions) as s:
            row = s.get(OutboxItem, item.id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error
            if row.attempts >= self._backoff.max_attempts:
                row.state = "failed"
                log.error(
                    "delivery %s gave up after %d attempts: %s",
                    row.idempotency_key,
                    row.attempts,
                    error,
                )
            else:
                row.next_attempt_at = self._clock.now() + self._backoff.delay(row.attempts)
                log.warning(
                    "delivery %s attempt %d failed: %s", row.idempotency_key, row.attempts, error
                )
