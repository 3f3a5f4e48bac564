"""Retry delays, one curve for the whole platform: exponential with full jitter, so a
restarted site, a recovered webhook receiver or Redis coming back is not stampeded by
everything that waited for it at once.

Used by the camera readers (ingest, relay), the live hub, the alarm consumer, the delivery
worker (whose attempt count lives in the outbox row, hence `delay_after`), `sharpeye up`'s
supervisor and the simulated fleet's publisher restarts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    base_s: float = 0.5
    max_s: float = 15.0
    factor: float = 2.0
    attempts: int = 0

    def delay_after(self, failures: int, rng: random.Random | None = None) -> float:
        """The delay after `failures` consecutive failures (≥ 1), for counts kept elsewhere."""
        ceiling = min(self.max_s, self.base_s * self.factor ** max(0, failures - 1))
        r = rng or random
        # "Full jitter" (never below base): spreads the retries of many callers over time.
        return r.uniform(self.base_s, max(self.base_s, ceiling))

    def next_delay(self, rng: random.Random | None = None) -> float:
        """Count one more failure and return the delay before the next try."""
        self.attempts += 1
        return self.delay_after(self.attempts, rng)

    def reset(self) -> None:
        self.attempts = 0
