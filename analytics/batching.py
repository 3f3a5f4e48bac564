"""Dynamic batching across cameras: up to `max_batch` frames or `max_wait_s`, whichever first.

A batch of B frames costs much less than B single runs on a GPU (and somewhat less on CPU);
waiting for a full batch must not delay a lone camera, hence the deadline. Bounded: when
producers outrun the detector, the oldest frame of the same camera is replaced (live video
wants the newest frame, never a backlog).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Pending(Generic[T]):
    key: str
    item: T
    queued_at: float


class DynamicBatcher(Generic[T]):
    def __init__(self, max_batch: int = 8, max_wait_s: float = 0.05) -> None:
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._items: OrderedDict[str, Pending[T]] = OrderedDict()
        self._cond = threading.Condition()
        self.replaced = 0
        self._closed = False

    def put(self, key: str, item: T) -> None:
        with self._cond:
            if key in self._items:
                self.replaced += 1  # keep-latest per camera
                del self._items[key]
            self._items[key] = Pending(key, item, time.monotonic())
            # Wake the consumer for a full batch, or to start the first item's deadline.
            if len(self._items) >= self.max_batch or len(self._items) == 1:
                self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> list[Pending[T]]:
        """The next batch (oldest first); [] on timeout or when closed and empty."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return []
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return []
                self._cond.wait(left)
            # Wait for a full batch, but never past the oldest item's deadline.
            while len(self._items) < self.max_batch and not self._closed:
                oldest = next(iter(self._items.values())).queued_at
                left = oldest + self.max_wait_s - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch: list[Pending[T]] = []
            while self._items and len(batch) < self.max_batch:
                _, p = self._items.popitem(last=False)
                batch.append(p)
            return batch
